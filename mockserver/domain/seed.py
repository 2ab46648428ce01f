"""Seeding a new tenant: the admin identities every test signs in with, and a faker-generated on-prem AD
(remote user, shared, room and equipment mailboxes) brought to the cloud by an initial Entra Connect cycle."""
from __future__ import annotations

from faker import Faker

from . import keys, roles
from .directory import Application, EntraUser
from .onprem import (ADUser, REMOTE_EQUIPMENT_MAILBOX, REMOTE_ROOM_MAILBOX, REMOTE_SHARED_MAILBOX,
                     REMOTE_USER_MAILBOX)

#: name -> (app roles, directory roles)
SEED_APPS = {
    "automation": (["Exchange.ManageAsApp", "User.ReadWrite.All", "Directory.Read.All",
                    "User-OnPremisesSyncBehavior.ReadWrite.All", "RoleManagement.ReadWrite.Directory"],
                   [roles.EXCHANGE_ADMINISTRATOR]),
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
TYPE_MIX = ((REMOTE_USER_MAILBOX, 0.80), (REMOTE_SHARED_MAILBOX, 0.10), (REMOTE_ROOM_MAILBOX, 0.06),
            (REMOTE_EQUIPMENT_MAILBOX, 0.04))
TYPE_OU = {REMOTE_USER_MAILBOX: "Users", REMOTE_SHARED_MAILBOX: "Shared", REMOTE_ROOM_MAILBOX: "Resources",
           REMOTE_EQUIPMENT_MAILBOX: "Resources"}
#: msExchRecipientDisplayType of remote mailboxes by type (low confidence; see docs/fidelity.md).
DISPLAY_TYPE = {REMOTE_USER_MAILBOX: -2147483642, REMOTE_SHARED_MAILBOX: -2147483642,
                REMOTE_ROOM_MAILBOX: -2147481850, REMOTE_EQUIPMENT_MAILBOX: -2147481594}
DEPARTMENTS = ("Finance", "Sales", "Engineering", "Marketing", "Legal", "Operations", "HR", "Support")


def ad_base_dn(tenant) -> str:
    """The on-prem forest's root DN (``DC=<name>,DC=local``)."""
    return f"DC={tenant.name.replace('-', '')},DC=local"


def default_ous(tenant) -> dict[str, str]:
    """The seeded OUs: Users, Shared, Resources inside the sync scope (``OU=Corp``), Disabled outside it."""
    base = ad_base_dn(tenant)
    return {"Corp": f"OU=Corp,{base}", "Users": f"OU=Users,OU=Corp,{base}", "Shared": f"OU=Shared,OU=Corp,{base}",
            "Resources": f"OU=Resources,OU=Corp,{base}", "Disabled": f"OU=Disabled,{base}"}


def seed_tenant(tenant) -> None:
    """Seed identities, then on-prem AD with ``spec.mailboxes`` mail-enabled users, then run an Initial cycle."""
    seed_identities(tenant)
    seed_onprem(tenant, tenant.spec.mailboxes)
    tenant.sync.run_cycle("Initial", scheduled=False)


def seed_identities(tenant) -> None:
    """The apps and admin users of DESIGN.md, with real role template ids; deterministic under the seed."""
    now = tenant.clock.now()
    for name, (app_roles, dir_roles) in SEED_APPS.items():
        private_pem = keys.private_key_pem(f"app:{tenant.id}:{name}")
        cert = keys.self_signed_certificate(private_pem, f"{name}.{tenant.domain}", now)
        sha1, sha256 = keys.thumbprints(cert)
        app = tenant.add_app(Application(
            name=name, app_id=tenant.ids.guid(), object_id=tenant.ids.guid(),
            service_principal_id=tenant.ids.guid(), client_secret=tenant.ids.secret(40),
            certificate_pem=cert, private_key_pem=private_pem, thumbprint=sha1, thumbprint_sha256=sha256,
            app_roles=list(app_roles), created_date_time=now))
        for role in dir_roles:
            tenant.assign_role(app.service_principal_id, role)
    for name, dir_roles in SEED_USERS.items():
        user = EntraUser(id=tenant.ids.guid(), user_principal_name=f"{name}@{tenant.domain}",
                         display_name=name.capitalize() if name == "user" else f"{name} (seeded)",
                         mail_nickname=name, password=f"Pw-{tenant.ids.secret(14)}1!", usage_location="US",
                         created_date_time=now)
        tenant.users.put(user.id, user)
        for role in dir_roles:
            tenant.assign_role(user.id, role)


def _types_for(count: int, rng) -> list[int]:
    first = [code for code, _ in TYPE_MIX][: count]
    rest = rng.choices([c for c, _ in TYPE_MIX], weights=[w for _, w in TYPE_MIX], k=max(0, count - len(first)))
    return first + rest


def seed_onprem(tenant, count: int) -> list[ADUser]:
    """Create ``count`` faker-generated, mail-enabled AD users (all four remote mailbox types when count >= 4)."""
    fake = Faker("en_US")
    fake.seed_instance(tenant.seed)
    ous = default_ous(tenant)
    tenant.sync.settings.setdefault("ouScope", [ous["Corp"]])
    now = tenant.clock.now()
    created = []
    taken = {u.sam_account_name.lower() for u in tenant.ad_users}
    first_names, last_names = fake.first_name, fake.last_name
    rng = tenant.ids.rng
    for kind in _types_for(count, rng):
        if kind == REMOTE_USER_MAILBOX:
            given, sn = first_names(), last_names()
            display = f"{given} {sn}"
            base = f"{given[0]}{sn}".lower()
        else:
            label = {REMOTE_SHARED_MAILBOX: "Shared", REMOTE_ROOM_MAILBOX: "Room",
                     REMOTE_EQUIPMENT_MAILBOX: "Equipment"}[kind]
            word = last_names()
            given, sn = None, None
            display = f"{label} {word}"
            base = f"{label[:2]}-{word}".lower()
        base = "".join(ch for ch in base if ch.isalnum() or ch == "-")[:16] or "user"
        sam, n = base, 1
        while sam in taken:
            n += 1
            sam = f"{base}{n}"
        taken.add(sam)
        created.append(new_ad_user(tenant, sam, display=display, given=given, sn=sn, kind=kind,
                                   ou=ous[TYPE_OU[kind]], department=rng.choice(DEPARTMENTS) if given else None,
                                   title=fake.job()[:64] if given and rng.random() < 0.5 else None, now=now))
    return created


def new_ad_user(tenant, sam: str, *, display: str, given: str | None = None, sn: str | None = None,
                kind: int = REMOTE_USER_MAILBOX, ou: str | None = None, department: str | None = None,
                title: str | None = None, now: float | None = None, extra: dict | None = None) -> ADUser:
    """Create one mail-enabled AD user (a remote mailbox) with the attributes Exchange hybrid stamps."""
    now = tenant.clock.now() if now is None else now
    ou = ou or default_ous(tenant)["Users"]
    upn = f"{sam}@{tenant.domain}"
    attrs = {
        "cn": display, "sAMAccountName": sam, "userPrincipalName": upn, "displayName": display,
        "givenName": given, "sn": sn, "department": department, "title": title,
        "mail": upn, "mailNickname": sam,
        "proxyAddresses": [f"SMTP:{upn}", f"smtp:{sam}@{tenant.name}.mail.onmicrosoft.com"],
        "msExchHideFromAddressLists": False,
        "msExchRecipientTypeDetails": kind,
        "msExchRecipientDisplayType": DISPLAY_TYPE.get(kind, -2147483642),
        "msExchRemoteRecipientType": 4 if kind == REMOTE_USER_MAILBOX else 100,
        "msExchMailboxGuid": tenant.ids.guid(),
        "targetAddress": f"SMTP:{sam}@{tenant.name}.mail.onmicrosoft.com",
        "publicDelegates": [],
    }
    for i in range(1, 16):
        attrs[f"extensionAttribute{i}"] = None
    for i in range(1, 6):
        attrs[f"msExchExtensionCustomAttribute{i}"] = []
    if department:
        attrs["extensionAttribute1"] = department.upper()[:3] + "-" + str(tenant.ids.rng.randrange(100, 999))
    attrs.update(extra or {})
    user = ADUser(sam_account_name=sam, object_guid=tenant.ids.guid(), ou=ou, attrs=attrs,
                  when_created=now, when_changed=now)
    tenant.ad_users.put(sam.lower(), user)
    return user
