"""Seeding a new tenant: the admin identities every test signs in with, and a faker-generated on-prem AD
(remote user, shared, room and equipment mailboxes) brought to the cloud by an initial Entra Connect cycle."""

from __future__ import annotations

import sys
from typing import Any

from .entra import keys, roles
from .entra.directory import Application, EntraUser
from .memory import EMPTY_LIST, SharedList
from .onprem.ad import (
    ONPREM_EQUIPMENT_MAILBOX,
    ONPREM_MAIL_USER,
    ONPREM_ROOM_MAILBOX,
    ONPREM_SHARED_MAILBOX,
    ONPREM_USER_MAILBOX,
    REMOTE_EQUIPMENT_MAILBOX,
    REMOTE_ROOM_MAILBOX,
    REMOTE_SHARED_MAILBOX,
    REMOTE_USER_MAILBOX,
    ADUser,
    consistency_guid_for,
)

#: name -> (app roles, directory roles)
SEED_APPS = {
    "automation": (
        [
            "Exchange.ManageAsApp",
            "Exchange.ManageAsAppV2",
            "User.ReadWrite.All",
            "Directory.Read.All",
            "User-OnPremisesSyncBehavior.ReadWrite.All",
            "RoleManagement.ReadWrite.Directory",
            "OnPremDirectorySynchronization.ReadWrite.All",
        ],
        [roles.EXCHANGE_ADMINISTRATOR],
    ),
    "graph-reader": (["User.Read.All"], []),
    "exchange-approle-only": (["Exchange.ManageAsApp"], []),
}

#: user name -> directory roles
SEED_USERS = {
    "globaladmin": [roles.GLOBAL_ADMINISTRATOR],
    "exchangeadmin": [roles.EXCHANGE_ADMINISTRATOR],
    "hybridadmin": [roles.HYBRID_IDENTITY_ADMINISTRATOR],
    "helpdesk": [roles.HELPDESK_ADMINISTRATOR],
    "globalreader": [roles.GLOBAL_READER],
    "user": [],
}

#: AD type code, share of a tenant's mailboxes (every type appears once first, then these ratios).
TYPE_MIX = (
    (REMOTE_USER_MAILBOX, 0.80),
    (REMOTE_SHARED_MAILBOX, 0.10),
    (REMOTE_ROOM_MAILBOX, 0.06),
    (REMOTE_EQUIPMENT_MAILBOX, 0.04),
)
TYPE_OU = {
    REMOTE_USER_MAILBOX: "Users",
    REMOTE_SHARED_MAILBOX: "Shared",
    REMOTE_ROOM_MAILBOX: "Resources",
    REMOTE_EQUIPMENT_MAILBOX: "Resources",
}
#: msExchRecipientDisplayType of remote mailboxes by type (low confidence; see docs/fidelity.md).
DISPLAY_TYPE = {
    REMOTE_USER_MAILBOX: -2147483642,
    REMOTE_SHARED_MAILBOX: -2147483642,
    REMOTE_ROOM_MAILBOX: -2147481850,
    REMOTE_EQUIPMENT_MAILBOX: -2147481594,
}
#: msExchRecipientDisplayType of on-premises mailboxes: ACL-able user mailbox, shared (MailboxUser), room, equipment.
ONPREM_DISPLAY_TYPE = {
    ONPREM_USER_MAILBOX: 1073741824,
    ONPREM_SHARED_MAILBOX: 0,
    ONPREM_ROOM_MAILBOX: 7,
    ONPREM_EQUIPMENT_MAILBOX: 8,
}
#: msExchRemoteRecipientType of migrated remote mailboxes: Migrated (4), plus Room (32), Equipment (64), Shared (96).
REMOTE_RECIPIENT_TYPE = {
    REMOTE_USER_MAILBOX: 4,
    REMOTE_ROOM_MAILBOX: 36,
    REMOTE_EQUIPMENT_MAILBOX: 68,
    REMOTE_SHARED_MAILBOX: 100,
}
#: Every new AD user's attributes in their order, with the values that do not vary per user (new_ad_user).
_AD_ATTRIBUTES: dict[str, Any] = {
    "cn": None,
    "sAMAccountName": None,
    "userPrincipalName": None,
    "displayName": None,
    "givenName": None,
    "sn": None,
    "department": None,
    "title": None,
    "mail": None,
    "mailNickname": None,
    "proxyAddresses": None,
    "msExchHideFromAddressLists": False,
    "msExchRecipientTypeDetails": None,
    "msExchRecipientDisplayType": None,
    "msExchRemoteRecipientType": None,
    "msExchMailboxGuid": None,
    "targetAddress": None,
    "publicDelegates": EMPTY_LIST,
    # Interned names (as sync_rules looks them up): dict lookups match them by identity.
    **{sys.intern(f"extensionAttribute{i}"): None for i in range(1, 16)},
    **{sys.intern(f"msExchExtensionCustomAttribute{i}"): EMPTY_LIST for i in range(1, 6)},
}
DEPARTMENTS = ("Finance", "Sales", "Engineering", "Marketing", "Legal", "Operations", "HR", "Support")


def ad_base_dn(tenant) -> str:
    """The on-prem forest's root DN (``DC=<name>,DC=local``)."""
    return f"DC={tenant.name.replace('-', '')},DC=local"


def default_ous(tenant) -> dict[str, str]:
    """The seeded OUs: Users, Shared, Resources inside the sync scope (``OU=Corp``), Disabled outside it."""
    base = ad_base_dn(tenant)
    return {
        "Corp": f"OU=Corp,{base}",
        "Users": f"OU=Users,OU=Corp,{base}",
        "Shared": f"OU=Shared,OU=Corp,{base}",
        "Resources": f"OU=Resources,OU=Corp,{base}",
        "Disabled": f"OU=Disabled,{base}",
    }


def seed_tenant(tenant, *, freeze: bool = False) -> None:
    """Seed identities, then on-prem AD with ``spec.mailboxes`` mail-enabled users, then run an Initial cycle.
    ``freeze``: the registry will freeze this tenant out of the cyclic GC (see ``memory.bulk_allocation``)."""
    from .memory import bulk_allocation

    seed_identities(tenant)
    # Not yet published: the registry's hooks persist a new tenant whole, so no per-key dirty marks are kept.
    with (
        bulk_allocation(tenant.spec.mailboxes, freeze=freeze),
        tenant.ad_users.untracked(),
        tenant.users.untracked(),
        tenant.mailboxes.untracked(),
    ):
        seed_onprem(tenant, tenant.spec.mailboxes, realistic=True)
        tenant.sync.run_cycle("Initial", scheduled=False)
        finish_mix(tenant)


def seed_identities(tenant) -> None:
    """The apps and admin users of DESIGN.md, with real role template ids; deterministic under the seed."""
    now = tenant.clock.now()
    for name, (app_roles, dir_roles) in SEED_APPS.items():
        private_pem = keys.private_key_pem(f"app:{tenant.id}:{name}")
        cert = keys.self_signed_certificate(private_pem, f"{name}.{tenant.domain}", now)
        sha1, sha256 = keys.thumbprints(cert)
        app = tenant.add_app(
            Application(
                name=name,
                app_id=tenant.ids.guid(),
                object_id=tenant.ids.guid(),
                service_principal_id=tenant.ids.guid(),
                client_secret=tenant.ids.secret(40),
                certificate_pem=cert,
                private_key_pem=private_pem,
                thumbprint=sha1,
                thumbprint_sha256=sha256,
                app_roles=list(app_roles),
                created_date_time=now,
            )
        )
        for role in dir_roles:
            tenant.assign_role(app.service_principal_id, role)
    for name, dir_roles in SEED_USERS.items():
        user = EntraUser(
            id=tenant.ids.guid(),
            user_principal_name=f"{name}@{tenant.domain}",
            display_name=name.capitalize() if name == "user" else f"{name} (seeded)",
            mail_nickname=name,
            password=f"Pw-{tenant.ids.secret(14)}1!",
            usage_location="US",
            created_date_time=now,
        )
        tenant.users.put(user.id, user)
        for role in dir_roles:
            tenant.assign_role(user.id, role)


def _types_for(count: int, rng) -> list[int]:
    first = [code for code, _ in TYPE_MIX][:count]
    rest = rng.choices([c for c, _ in TYPE_MIX], weights=[w for _, w in TYPE_MIX], k=max(0, count - len(first)))
    return first + rest


#: The realistic mix of a hybrid tenant's recipients (issue 18), by share; every kind appears once first.
#: remoteLicensed: synced remote user mailbox with an E3 licence; remoteCloudManaged: the same, already moved to
#: IsExchangeCloudManaged; remoteUnlicensed: remote mailbox never licensed (a MailUser in the cloud);
#: onpremMailbox: mailbox still on the Exchange servers; mailUser: on-prem mail user; shared/room/equipment: remote
#: resource mailboxes; noMailbox: synced user without Exchange attributes; cloudOnly: cloud-only licensed mailbox.
REALISTIC_MIX = {
    "remoteLicensed": 0.50,
    "remoteCloudManaged": 0.08,
    "remoteUnlicensed": 0.05,
    "onpremMailbox": 0.10,
    "mailUser": 0.04,
    "shared": 0.08,
    "room": 0.05,
    "equipment": 0.03,
    "noMailbox": 0.03,
    "cloudOnly": 0.04,
}
#: Mix kind -> the AD msExchRecipientTypeDetails it is created with (None: no Exchange attributes).
MIX_AD_TYPE = {
    "remoteLicensed": REMOTE_USER_MAILBOX,
    "remoteCloudManaged": REMOTE_USER_MAILBOX,
    "remoteUnlicensed": REMOTE_USER_MAILBOX,
    "onpremMailbox": ONPREM_USER_MAILBOX,
    "mailUser": ONPREM_MAIL_USER,
    "shared": REMOTE_SHARED_MAILBOX,
    "room": REMOTE_ROOM_MAILBOX,
    "equipment": REMOTE_EQUIPMENT_MAILBOX,
    "noMailbox": None,
}


def mix_option(tenant) -> dict[str, float] | None:
    """``options.mix`` of the tenant: None for ``"uniform"`` (every mailbox a synced, licensed remote mailbox of
    the four types, the pre-issue-18 seed), else the kinds' weights (``"realistic"`` or absent: REALISTIC_MIX;
    an object: those weights, kinds not named get 0)."""
    from .errors import InvalidArgument

    value = (tenant.spec.options or {}).get("mix", "realistic")
    if value == "uniform":
        return None
    if value == "realistic":
        return dict(REALISTIC_MIX)
    if not isinstance(value, dict) or not value:
        raise InvalidArgument(
            f'options.mix must be "realistic", "uniform" or an object of kind weights ({", ".join(REALISTIC_MIX)})'
        )
    for kind, weight in value.items():
        if kind not in REALISTIC_MIX:
            raise InvalidArgument(f"options.mix: unknown kind '{kind}' (known: {', '.join(REALISTIC_MIX)})")
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 <= weight <= 1_000_000:
            raise InvalidArgument(f"options.mix.{kind} must be a number from 0 to 1000000")
    if not any(value.values()):
        raise InvalidArgument("options.mix needs at least one kind with a positive weight")
    return {kind: float(value.get(kind, 0)) for kind in REALISTIC_MIX}


def _kinds_for(count: int, weights: dict[str, float], rng) -> list[str]:
    present = [k for k, w in weights.items() if w > 0]
    first = present[:count]
    rest = rng.choices(present, weights=[weights[k] for k in present], k=max(0, count - len(first)))
    return first + rest


def _name_pools():
    """Faker's en_US first/last names (with their weights) and job titles, loaded once and drawn with the tenant's
    RNG, because Faker's own per-call sampling is too slow for 100,000-user tenants."""
    global _POOLS
    if _POOLS is None:
        from faker.providers.job.en_US import Provider as JobProvider
        from faker.providers.person.en_US import Provider as PersonProvider

        def weighted(table):
            names, cum, total = [], [], 0.0
            for name, weight in table.items():
                total += weight
                names.append(name)
                cum.append(total)
            return names, cum

        firsts = {**PersonProvider.first_names_female, **PersonProvider.first_names_male}
        _POOLS = (weighted(firsts), weighted(PersonProvider.last_names), list(JobProvider.jobs))
    return _POOLS


_POOLS = None


def seed_onprem(tenant, count: int, *, realistic: bool = False) -> list[ADUser]:
    """Create ``count`` faker-generated AD users: remote mailboxes of the four types (all four when count >= 4),
    or, with ``realistic``, the tenant's recipient mix (``options.mix``; see REALISTIC_MIX)."""
    ous = default_ous(tenant)
    if not tenant.sync.settings.get("ouScope"):
        tenant.sync.settings["ouScope"] = [ous["Corp"]]
    now = tenant.clock.now()
    created = []
    taken = {u.sam_account_name.lower() for u in tenant.ad_users}
    suffix: dict[str, int] = {}
    (first_pool, first_cum), (last_pool, last_cum), jobs = _name_pools()
    rng = tenant.ids.rng
    weights = mix_option(tenant) if realistic else None
    mix = _kinds_for(count, weights, rng) if weights else None
    kinds = [MIX_AD_TYPE.get(k, REMOTE_USER_MAILBOX) for k in mix] if mix else _types_for(count, rng)
    firsts = rng.choices(first_pool, cum_weights=first_cum, k=count)
    lasts = rng.choices(last_pool, cum_weights=last_cum, k=count)
    labels = {REMOTE_SHARED_MAILBOX: "Shared", REMOTE_ROOM_MAILBOX: "Room", REMOTE_EQUIPMENT_MAILBOX: "Equipment"}
    cns: set[str] = set()
    tenant.seed_mix = {}
    for i, kind in enumerate(kinds):
        if kind not in labels:
            given, sn = firsts[i], lasts[i]
            display = f"{given} {sn}"
            base = f"{given[0]}{sn}".lower()
        else:
            label, word = labels[kind], lasts[i]
            given, sn = None, None
            display = f"{label} {word}"
            base = f"{label[:2]}-{word}".lower()
        if not base.replace("-", "").isalnum():  # faker names are nearly always clean already
            base = "".join(ch for ch in base if ch.isalnum() or ch == "-")
        base = base[:16] or "user"
        sam, n = base, suffix.get(base, 1)
        while sam in taken:
            n += 1
            sam = f"{base}{n}"
        suffix[base] = n
        taken.add(sam)
        # cn is unique in the seeded forest (Exchange Online's Name comes from it): a repeated name gets the
        # account name after it, as admins disambiguate cn in one OU.
        # The uniform seed names every object after its account (cn = sAMAccountName, as many forests do), so
        # its Exchange Online Names are the aliases the tests written before issue 18 use.
        cn = sam if not mix else display if display.lower() not in cns else f"{display} ({sam})"
        cns.add(cn.lower())
        mix_kind = mix[i] if mix else "uniform"
        if mix_kind == "cloudOnly":
            tenant.seed_mix[sam] = (mix_kind, display)
            continue  # made in the cloud after the initial cycle (seed_cloud_only)
        created.append(
            new_ad_user(
                tenant,
                sam,
                display=display,
                given=given,
                sn=sn,
                kind=kind,
                ou=ous[TYPE_OU.get(kind, "Users")],
                department=rng.choice(DEPARTMENTS) if given else None,
                title=rng.choice(jobs)[:64] if given and rng.random() < 0.5 else None,
                now=now,
                extra={"cn": cn} if cn != display else None,
            )
        )
        if mix:
            tenant.seed_mix[sam] = (mix_kind, display)
            if mix_kind == "remoteUnlicensed":
                tenant.sync.unlicensed_seed.add(sam)
    return created


def finish_mix(tenant) -> None:
    """After the seed's Initial cycle: flip the mix's already-cloud-managed mailboxes and create its cloud-only
    ones (a licensed cloud user with a mailbox each)."""
    from .entra.licensing import license_user
    from .exchange.recipient_cmdlets import new_cloud_mailbox

    mix = tenant.seed_mix
    tenant.sync.unlicensed_seed.clear()
    if not mix:
        return
    index = tenant.sync.index
    index.refresh()
    shared: dict = {}
    # Each user's live recipient, found once (``mailbox_of`` scans every mailbox: quadratic over a big seed).
    owned: dict = {}
    for mbx in tenant.mailboxes:
        if mbx.external_directory_object_id and not mbx.is_soft_deleted:
            owned.setdefault(mbx.external_directory_object_id, mbx)
    for sam, (kind, display) in mix.items():
        if kind == "remoteCloudManaged":
            ad = tenant.ad_users.get(sam)
            user = index.user_for_anchor(ad.consistency_guid) if ad is not None else None
            mbx = owned.get(user.id) if user is not None else None
            if mbx is not None and mbx.is_mailbox:
                mbx.is_exchange_cloud_managed = True
        elif kind == "cloudOnly":
            mbx = new_cloud_mailbox(tenant, sam, display_name=display)
            license_user(tenant, tenant.users.get(mbx.external_directory_object_id), shared=shared)
    tenant.seed_mix = {}


def new_ad_user(
    tenant,
    sam: str,
    *,
    display: str,
    given: str | None = None,
    sn: str | None = None,
    kind: int = REMOTE_USER_MAILBOX,
    ou: str | None = None,
    department: str | None = None,
    title: str | None = None,
    now: float | None = None,
    extra: dict | None = None,
) -> ADUser:
    """Create one mail-enabled AD user (a remote mailbox) with the attributes Exchange hybrid stamps."""
    now = tenant.clock.now() if now is None else now
    ou = ou or default_ous(tenant)["Users"]
    upn = f"{sam}@{tenant.domain}"
    routing = f"{sam}@{tenant.name}.mail.onmicrosoft.com"
    # A copy of the template, not a dict literal: same keys in the same order, built once per seeded mailbox.
    attrs = _AD_ATTRIBUTES.copy()
    attrs["cn"] = attrs["displayName"] = display
    attrs["sAMAccountName"] = attrs["mailNickname"] = sam
    attrs["userPrincipalName"] = attrs["mail"] = upn
    attrs["givenName"] = given
    attrs["sn"] = sn
    attrs["department"] = department
    attrs["title"] = title
    if kind in DISPLAY_TYPE:  # a remote mailbox (Enable-RemoteMailbox / a migrated mailbox)
        attrs["proxyAddresses"] = SharedList.of((f"SMTP:{upn}", "smtp:" + routing))
        attrs["msExchRecipientTypeDetails"] = kind
        attrs["msExchRecipientDisplayType"] = DISPLAY_TYPE[kind]
        attrs["msExchRemoteRecipientType"] = REMOTE_RECIPIENT_TYPE[kind]
        attrs["msExchMailboxGuid"] = tenant.ids.guid()
        attrs["targetAddress"] = "SMTP:" + routing
    elif kind in ONPREM_DISPLAY_TYPE:  # a mailbox on the on-premises servers (New-Mailbox)
        attrs["proxyAddresses"] = SharedList.of((f"SMTP:{upn}", "smtp:" + routing))
        attrs["msExchRecipientTypeDetails"] = kind
        attrs["msExchRecipientDisplayType"] = ONPREM_DISPLAY_TYPE[kind]
        attrs["msExchMailboxGuid"] = tenant.ids.guid()
    elif kind == ONPREM_MAIL_USER:  # a mail user (New-MailUser): mail goes to an outside address
        attrs["proxyAddresses"] = SharedList.of((f"SMTP:{upn}",))
        attrs["msExchRecipientTypeDetails"] = kind
        attrs["msExchRecipientDisplayType"] = 6
        attrs["targetAddress"] = f"SMTP:{sam}@partner.example"
    else:  # no Exchange attributes at all (a plain AD user; the cloud-first flow starts here)
        attrs["mail"] = attrs["mailNickname"] = None
        attrs["proxyAddresses"] = EMPTY_LIST
    if department:
        attrs["extensionAttribute1"] = department.upper()[:3] + "-" + str(tenant.ids.rng.randrange(100, 999))
    if extra:
        attrs.update(extra)
    object_guid = tenant.ids.guid()
    # Modern Connect installs stamp mS-DS-ConsistencyGuid from objectGUID on first export; stamping it at
    # creation gives the same value and keeps the source anchor a plain attribute read.
    attrs.setdefault("mS-DS-ConsistencyGuid", consistency_guid_for(object_guid))
    user = ADUser(sam_account_name=sam, object_guid=object_guid, ou=ou, attrs=attrs, when_created=now, when_changed=now)
    key = sam.lower()
    tenant.ad_users.put(sam if key == sam else key, user)  # seeded names are lower case: one string, not two
    return user
