"""Recipient and user cmdlets: Get-Recipient, Get-User, Set-User (identity attributes, AD-mastered while the
user is synced), plus the domain helpers that create cloud-only mailboxes and mail users."""

from __future__ import annotations

from ..entra.directory import EntraUser
from ..errors import InvalidArgument
from . import errors as exo_errors
from . import rules
from .cmdlets import Param, register_cmdlet
from .identity_resolution import check_unique, find_mailboxes, find_users, mailbox_of, resolve_user
from .mailbox_cmdlets import LIST_PARAMS, RECIPIENT_TYPE_DETAILS, RTD_TYPE, apply_list_params
from .mailboxes import Mailbox
from .objects import recipient_object, user_object


# ------------------------------------------------------------------------------------------- Get-Recipient
def get_recipient(ctx, params):
    """Get-Recipient: mail-enabled recipients (mailboxes and mail users), live ones only."""
    tenant = ctx.tenant
    if params.get("Identity") is not None:
        boxes = find_mailboxes(tenant, params["Identity"])
        if not boxes:
            raise exo_errors.object_not_found(tenant, params["Identity"])
        check_unique(tenant, params["Identity"], boxes)
    else:
        boxes = [m for m in tenant.mailboxes if not m.is_soft_deleted]
    objects = [recipient_object(tenant, m) for m in boxes]
    if params.get("RecipientType"):
        wanted = set(params["RecipientType"])
        objects = [o for o in objects if o["RecipientType"] in wanted]
    filterable = set(objects[0]) if objects else {"RecipientTypeDetails", "Alias", "PrimarySmtpAddress"}
    return apply_list_params(objects, params, ctx, filterable=filterable)


# ------------------------------------------------------------------------------------------------ Get-User
def get_user(ctx, params):
    """Get-User: every live Entra user, with identity attributes read from Entra (joined to its recipient)."""
    tenant = ctx.tenant
    owners = {m.external_directory_object_id: m for m in tenant.mailboxes if not m.is_soft_deleted}
    if params.get("Identity") is not None:
        users = find_users(tenant, params["Identity"])
        if not users:
            raise exo_errors.object_not_found(tenant, params["Identity"])
        check_unique(tenant, params["Identity"], users)
    else:
        users = [u for u in tenant.users if u.deleted_date_time is None]
    objects = [user_object(tenant, u, owners.get(u.id)) for u in users]
    filterable = set(objects[0]) if objects else {"RecipientTypeDetails", "UserPrincipalName", "IsDirSynced"}
    return apply_list_params(objects, params, ctx, filterable=filterable)


# ------------------------------------------------------------------------------------------------ Set-User
#: Set-User parameter -> EntraUser field it writes.
USER_FIELDS = {
    "DisplayName": "display_name",
    "FirstName": "given_name",
    "LastName": "surname",
    "Title": "job_title",
    "Department": "department",
}


def set_user(ctx, params):
    """Set-User: identity attributes, refused with the write-scope error while the user is synced from AD
    (whatever IsExchangeCloudManaged says), written to Entra ID otherwise."""
    tenant = ctx.tenant
    user = resolve_user(tenant, params["Identity"])
    mbx = mailbox_of(tenant, user)
    name = mbx.name if mbx is not None else user.user_principal_name.split("@", 1)[0]
    ctx.target = name
    ctx.authorize_target(mbx if mbx is not None else user)
    given = [n for n in params if n in USER_FIELDS]
    if given and rules.identity_mastered_on_prem(tenant, user=user):
        raise exo_errors.write_scope_synced("Set-User", given, name, noun="user")
    changes = {}
    for param in given:
        value = params[param]
        if param == "DisplayName" and not (value or "").strip():
            raise exo_errors.data_validation("The DisplayName value can't be empty.")
        value = value if value not in ("",) else None
        old = getattr(user, USER_FIELDS[param])
        if old != value:
            changes[param] = {"old": old, "new": value}
            setattr(user, USER_FIELDS[param], value)
    if changes:
        tenant.users.touch(user.id)
        if "DisplayName" in changes and mbx is not None:
            mbx.display_name = changes["DisplayName"]["new"]
            mbx.when_changed = tenant.clock.now()
            tenant.mailboxes.touch(mbx.guid)
    ctx.changes = changes
    if not changes:
        ctx.warn(rules.no_change_warning(name))
    return []


# ---------------------------------------------------------------------------------- cloud recipients (seeding)
def new_cloud_mailbox(
    tenant,
    alias: str,
    *,
    display_name: str | None = None,
    recipient_type_details: str = "UserMailbox",
    user: EntraUser | None = None,
) -> Mailbox:
    """Create a cloud-only recipient (mailbox or, with ``recipient_type_details="MailUser"``, a mail user)
    with its Entra user, as New-Mailbox / licensing a cloud user would. Call with the tenant lock held."""
    now = tenant.clock.now()
    upn = f"{alias}@{tenant.domain}"
    display_name = display_name or alias
    if user is None:
        user = EntraUser(
            id=tenant.ids.guid(),
            user_principal_name=upn,
            display_name=display_name,
            mail=upn,
            mail_nickname=alias,
            proxy_addresses=[f"SMTP:{upn}"],
            usage_location="US",
            created_date_time=now,
        )
        tenant.users.put(user.id, user)
    mbx = Mailbox(
        guid=tenant.ids.guid(),
        exchange_guid=tenant.ids.guid(),
        external_directory_object_id=user.id,
        name=alias,
        alias=alias,
        display_name=display_name,
        user_principal_name=user.user_principal_name,
        primary_smtp_address=upn,
        email_addresses=[f"SMTP:{upn}"],
        recipient_type_details=recipient_type_details,
        is_dir_synced=False,
        when_created=now,
        when_changed=now,
    )
    tenant.mailboxes.put(mbx.guid, mbx)
    return mbx


def new_mail_user(tenant, alias: str, external_address: str, *, display_name: str | None = None) -> Mailbox:
    """Create a cloud-only mail user (no Exchange Online mailbox, mail routed to ``external_address``)."""
    mbx = new_cloud_mailbox(tenant, alias, display_name=display_name, recipient_type_details="MailUser")
    mbx.email_addresses.append(f"smtp:{external_address}")
    tenant.mailboxes.touch(mbx.guid)
    rules.mirror_to_entra(tenant, mbx)  # the external address is one of the user's proxyAddresses in Graph too
    return mbx


def seed_cloud_recipients(tenant, options: dict | None) -> list[Mailbox]:
    """Tenant creation option ``{"cloudMailboxes": N, "mailUsers": M}``: N cloud-only mailboxes (every fourth
    one shared) and M mail users, next to the synced mailboxes Entra Connect brings in."""
    options = options or {}
    counts = {}
    for key in ("cloudMailboxes", "mailUsers"):
        value = options.get(key, 0)
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 10_000:
            raise InvalidArgument(f"options.{key} must be an integer from 0 to 10000")
        counts[key] = value
    taken = {m.alias.lower() for m in tenant.mailboxes}
    created = []
    for i in range(1, counts["cloudMailboxes"] + 1):
        alias = _free_alias(f"cloud{i}", taken)
        kind = "SharedMailbox" if i % 4 == 0 else "UserMailbox"
        created.append(
            new_cloud_mailbox(
                tenant,
                alias,
                display_name=f"Cloud {'Shared' if i % 4 == 0 else 'User'} {i}",
                recipient_type_details=kind,
            )
        )
    for i in range(1, counts["mailUsers"] + 1):
        alias = _free_alias(f"mailuser{i}", taken)
        created.append(new_mail_user(tenant, alias, f"{alias}@partner.example", display_name=f"Mail User {i}"))
    return created


def _free_alias(base: str, taken: set[str]) -> str:
    alias, n = base, 1
    while alias.lower() in taken:
        n += 1
        alias = f"{base}-{n}"
    taken.add(alias.lower())
    return alias


register_cmdlet(
    "Get-Recipient",
    get_recipient,
    LIST_PARAMS
    + [
        Param(
            "RecipientType",
            "Enum",
            multi=True,
            enum=(
                "UserMailbox",
                "MailUser",
                "User",
                "MailContact",
                "MailUniversalDistributionGroup",
                "MailUniversalSecurityGroup",
                "DynamicDistributionGroup",
            ),
            type_name="Microsoft.Exchange.Data.Directory.Recipient.RecipientType",
        )
    ],
    writes=False,
    noun="Recipient",
    cacheable=True,
    description="Mail-enabled recipients.",
)
register_cmdlet(
    "Get-User",
    get_user,
    [
        Param(
            "Identity",
            "Identity",
            position=0,
            group="Identity",
            type_name="Microsoft.Exchange.Configuration.Tasks.UserIdParameter",
        ),
        Param("Filter", "String", group="AnrSet"),
        Param("RecipientTypeDetails", "Enum", enum=RECIPIENT_TYPE_DETAILS, multi=True, type_name=RTD_TYPE),
        Param("ResultSize", "Unlimited"),
    ],
    writes=False,
    noun="User",
    cacheable=True,
    description="Users with their identity attributes.",
)
register_cmdlet(
    "Set-User",
    set_user,
    [
        Param(
            "Identity",
            "Identity",
            required=True,
            position=0,
            type_name="Microsoft.Exchange.Configuration.Tasks.UserIdParameter",
        )
    ]
    + [Param(name, "String") for name in USER_FIELDS]
    + [Param("Confirm", "Switch", no_op=True), Param("Force", "Switch", no_op=True)],
    writes=True,
    noun="User",
    rbac_neutral=True,
    description="Edits identity attributes of a user.",
)
