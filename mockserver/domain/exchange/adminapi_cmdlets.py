"""The cmdlets behind the Exchange Online Admin API v2.0 endpoints that InvokeCommand did not have yet:
Get-AcceptedDomain, Get-DistributionGroupMember, Get-DynamicDistributionGroupMember and
Get-/Add-/Set-/Remove-MailboxFolderPermission (learn.microsoft.com/exchange/reference/admin-api-endpoints-*).
They are ordinary registry cmdlets, so InvokeCommand, $batch and Exchange RBAC see them too.

Folder permissions live on the mailbox record (``Mailbox.folder_permissions``: only the entries that differ from
a new mailbox's defaults), so snapshots and the durable store carry them. Distribution groups are not modelled:
every group identity is not found, which is what the real service answers for a tenant without groups."""

from __future__ import annotations

from . import errors as exo_errors
from .cmdlets import Param, register_cmdlet
from .identity_resolution import find_mailboxes, find_users, resolve_mailbox
from .mailboxes import MAILBOX_TYPES
from .objects import guid

STORE_TASKS = "Microsoft.Exchange.Management.StoreTasks"
#: MailboxFolderAccessRight members (Add-MailboxFolderPermission reference): roles, then individual rights.
ACCESS_RIGHTS = (
    "None",
    "Owner",
    "PublishingEditor",
    "Editor",
    "PublishingAuthor",
    "Author",
    "NonEditingAuthor",
    "Reviewer",
    "Contributor",
    "AvailabilityOnly",
    "LimitedDetails",
    "ReadItems",
    "CreateItems",
    "EditOwnedItems",
    "DeleteOwnedItems",
    "EditAllItems",
    "DeleteAllItems",
    "CreateSubfolders",
    "FolderOwner",
    "FolderContact",
    "FolderVisible",
)
SHARING_FLAGS = ("None", "Delegate", "CanViewPrivateItems")
#: Well-known folders addressable as ``<mailbox>:\<folder>`` (the mailbox root is ``<mailbox>`` alone).
WELL_KNOWN_FOLDERS = (
    "Calendar",
    "Contacts",
    "Inbox",
    "Sent Items",
    "Deleted Items",
    "Drafts",
    "Outbox",
    "Tasks",
    "Notes",
    "Journal",
    "Junk Email",
    "Archive",
)
ROOT_FOLDER = "Top of Information Store"
DEFAULT_USER, ANONYMOUS_USER = "Default", "Anonymous"


# ----------------------------------------------------------------------------------------- accepted domains
def accepted_domain_object(tenant) -> dict:
    """Get-AcceptedDomain output for the tenant's initial (and only modelled) domain."""
    return {
        "Name": tenant.domain,
        "DomainName": tenant.domain,
        "DomainType": "Authoritative",
        "Default": True,
        "InitialDomain": True,
        "MatchSubDomains": False,
        "AddressBookEnabled": True,
        "Identity": tenant.domain,
        "Id": tenant.domain,
        "IsValid": True,
        "Guid": guid(tenant.id),
    }


def get_accepted_domain(ctx, params):
    """Get-AcceptedDomain: the tenant's accepted domains (the mock models the initial *.onmicrosoft.com one)."""
    tenant = ctx.tenant
    found = [accepted_domain_object(tenant)]
    identity = params.get("Identity")
    if identity is not None:
        key = str(identity).strip().lower()
        found = [d for d in found if key in (d["Name"].lower(), d["DomainName"].lower(), str(d["Guid"]))]
        if not found:
            raise exo_errors.object_not_found(tenant, identity)
    return _result_size(found, params, ctx)


# ---------------------------------------------------------------------------------------------- group members
def get_group_member(ctx, params):
    """Get-DistributionGroupMember / Get-DynamicDistributionGroupMember: no distribution groups are modelled, so
    every identity is the real ManagementObjectNotFound (a mailbox is not a group either)."""
    raise exo_errors.object_not_found(ctx.tenant, params["Identity"])


# --------------------------------------------------------------------------------------- folder permissions
def _split_folder_identity(tenant, identity: str):
    """(mailbox, canonical folder name) of ``<mailbox>:\\<folder>`` or ``<mailbox>`` (the root folder)."""
    text = str(identity).strip()
    mailbox_part, sep, folder_part = text.partition(":\\")
    mbx = resolve_mailbox(tenant, mailbox_part, types=MAILBOX_TYPES)
    if not sep:
        return mbx, ROOT_FOLDER
    wanted = folder_part.strip("\\").lower()
    for name in WELL_KNOWN_FOLDERS:
        if name.lower() == wanted:
            return mbx, name
    # The folder-identity form of ManagementObjectNotFound (no server name: folders are not AD objects).
    raise exo_errors.NotFound(
        f"The operation couldn't be performed because '{text}' couldn't be found.",
        exception_type=exo_errors.NOT_FOUND_TYPE,
        err_id="",
        category="Context",
        note="folder not-found text: closest real shape, no public source for the exact text",
    )


def _defaults(folder: str) -> list[dict]:
    first = ["AvailabilityOnly"] if folder == "Calendar" else ["None"]
    return [
        {"Key": DEFAULT_USER.lower(), "User": DEFAULT_USER, "AccessRights": first, "SharingPermissionFlags": None},
        {
            "Key": ANONYMOUS_USER.lower(),
            "User": ANONYMOUS_USER,
            "AccessRights": ["None"],
            "SharingPermissionFlags": None,
        },
    ]


def _entries(mbx, folder: str) -> list[dict]:
    stored = (mbx.folder_permissions or {}).get(folder)
    return [dict(e) for e in stored] if stored is not None else _defaults(folder)


def _store(tenant, mbx, folder: str, entries: list[dict]) -> None:
    perms = dict(mbx.folder_permissions or {})
    perms[folder] = entries
    mbx.folder_permissions = perms
    mbx.when_changed = tenant.clock.now()
    tenant.mailboxes.touch(mbx.guid)


def _principal(tenant, user: str) -> tuple[str, str]:
    """(key, display name) of a -User value: Default, Anonymous, or a recipient or user of the tenant."""
    text = str(user).strip()
    if text.lower() in (DEFAULT_USER.lower(), ANONYMOUS_USER.lower()):
        return text.lower(), text.capitalize()
    boxes = [m for m in find_mailboxes(tenant, text) if not m.is_soft_deleted]
    if len(boxes) == 1:
        return boxes[0].guid.lower(), boxes[0].display_name or boxes[0].name
    users = find_users(tenant, text)
    if len(boxes) > 1 or len(users) > 1:
        raise exo_errors.object_ambiguous(text)
    if len(users) == 1:
        return users[0].id.lower(), users[0].display_name or users[0].user_principal_name
    raise exo_errors.object_not_found(tenant, text)


def _folder_object(mbx, folder: str, entry: dict) -> dict:
    identity = mbx.primary_smtp_address if folder == ROOT_FOLDER else f"{mbx.primary_smtp_address}:\\{folder}"
    return {
        "FolderName": folder,
        "User": entry["User"],
        "AccessRights": list(entry["AccessRights"]),
        "SharingPermissionFlags": entry.get("SharingPermissionFlags"),
        "Identity": identity,
        "IsValid": True,
        "ObjectState": "Unchanged",
    }


def _existing_entry(text: str) -> exo_errors.InvalidArgument:
    return exo_errors.InvalidArgument(
        f"An existing permission entry was found for user: {text}.",
        exception_type=f"{STORE_TASKS}.UserAlreadyExistsInPermissionEntryException",
        err_id="",
        category="Context",
    )


def _no_entry(text: str) -> exo_errors.InvalidArgument:
    return exo_errors.InvalidArgument(
        f"There is no existing permission entry found for user: {text}.",
        exception_type=f"{STORE_TASKS}.UserNotFoundInPermissionEntryException",
        err_id="",
        category="Context",
    )


def get_folder_permission(ctx, params):
    """Get-MailboxFolderPermission: the folder's permission entries (Default and Anonymous always listed)."""
    mbx, folder = _split_folder_identity(ctx.tenant, params["Identity"])
    entries = _entries(mbx, folder)
    if params.get("User") is not None:
        key, display = _principal(ctx.tenant, params["User"])
        entries = [e for e in entries if e["Key"] == key]
        if not entries:
            raise _no_entry(display)
    return _result_size([_folder_object(mbx, folder, e) for e in entries], params, ctx)


def _folder_write_target(ctx, params):
    """The mailbox, folder, principal key/display and current entries a folder-permission write addresses, with
    the caller's write scope checked on the mailbox (Add/Set/Remove-MailboxFolderPermission share it)."""
    mbx, folder = _split_folder_identity(ctx.tenant, params["Identity"])
    ctx.target = mbx.name
    ctx.authorize_target(mbx)
    key, display = _principal(ctx.tenant, params["User"])
    return mbx, folder, key, display, _entries(mbx, folder)


def add_folder_permission(ctx, params):
    """Add-MailboxFolderPermission: a new entry for a user that has none on the folder."""
    tenant = ctx.tenant
    mbx, folder, key, display, entries = _folder_write_target(ctx, params)
    if any(e["Key"] == key for e in entries):
        raise _existing_entry(display)
    entry = {
        "Key": key,
        "User": display,
        "AccessRights": list(params["AccessRights"]),
        "SharingPermissionFlags": params.get("SharingPermissionFlags"),
    }
    _store(tenant, mbx, folder, entries + [entry])
    ctx.changes = {f"{folder}:{display}": {"old": None, "new": entry["AccessRights"]}}
    return [_folder_object(mbx, folder, entry)]


def set_folder_permission(ctx, params):
    """Set-MailboxFolderPermission: replace the access rights of an existing entry (Default/Anonymous too)."""
    tenant = ctx.tenant
    mbx, folder, key, display, entries = _folder_write_target(ctx, params)
    entry = next((e for e in entries if e["Key"] == key), None)
    if entry is None:
        raise _no_entry(display)
    old = list(entry["AccessRights"])
    entry["AccessRights"] = list(params["AccessRights"])
    if "SharingPermissionFlags" in params:
        entry["SharingPermissionFlags"] = params["SharingPermissionFlags"]
    _store(tenant, mbx, folder, entries)
    if old != entry["AccessRights"]:
        ctx.changes = {f"{folder}:{display}": {"old": old, "new": entry["AccessRights"]}}
    return []


def remove_folder_permission(ctx, params):
    """Remove-MailboxFolderPermission: remove every right of a user on the folder."""
    tenant = ctx.tenant
    mbx, folder, key, display, entries = _folder_write_target(ctx, params)
    if key in (DEFAULT_USER.lower(), ANONYMOUS_USER.lower()):
        raise exo_errors.task_invalid(
            f"The permission entry for user '{display}' can't be removed. Use Set-MailboxFolderPermission to change "
            f"its access rights.",
            "",
            note="no public source for this refusal: text is hybridsoa's",
        )
    kept = [e for e in entries if e["Key"] != key]
    if len(kept) == len(entries):
        raise _no_entry(display)
    _store(tenant, mbx, folder, kept)
    removed = next(e for e in entries if e["Key"] == key)
    ctx.changes = {f"{folder}:{display}": {"old": removed["AccessRights"], "new": None}}
    return []


def _result_size(objects: list[dict], params, ctx) -> list[dict]:
    size = params.get("ResultSize", "default")
    if isinstance(size, int) and len(objects) > size:
        ctx.warn(
            "There are more results available than are currently displayed. To view them, increase the value "
            "for the ResultSize parameter."
        )
        return objects[:size]
    return objects


_FOLDER_ID = "Microsoft.Exchange.Configuration.Tasks.MailboxFolderIdParameter"
_FOLDER_USER = "Microsoft.Exchange.Configuration.Tasks.MailboxFolderUserIdParameter"
_RIGHTS = f"{STORE_TASKS}.MailboxFolderAccessRight[]"
_FLAGS = f"{STORE_TASKS}.MailboxFolderPermissionFlags"


def _folder_params(*, rights: bool) -> list[Param]:
    out = [
        Param("Identity", "Identity", required=True, position=0, type_name=_FOLDER_ID),
        Param("User", "String", required=True, type_name=_FOLDER_USER),
    ]
    if rights:
        out += [
            Param("AccessRights", "Enum", enum=ACCESS_RIGHTS, multi=True, required=True, type_name=_RIGHTS),
            Param("SharingPermissionFlags", "Enum", enum=SHARING_FLAGS, type_name=_FLAGS),
            Param("SendNotificationToUser", "Boolean", no_op=True),
        ]
    else:
        out += [Param("SendNotificationToUser", "Boolean", no_op=True)]
    return out + [Param("Confirm", "Switch", no_op=True)]


register_cmdlet(
    "Get-AcceptedDomain",
    get_accepted_domain,
    [
        Param(
            "Identity",
            "Identity",
            position=0,
            type_name="Microsoft.Exchange.Configuration.Tasks.AcceptedDomainIdParameter",
        ),
        Param("ResultSize", "Unlimited"),
    ],
    writes=False,
    noun="AcceptedDomain",
    description="The tenant's accepted domains.",
)
for _name, _id_type in (
    ("Get-DistributionGroupMember", "DistributionGroupMemberIdParameter"),
    ("Get-DynamicDistributionGroupMember", "DynamicGroupIdParameter"),
):
    register_cmdlet(
        _name,
        get_group_member,
        [
            Param(
                "Identity",
                "Identity",
                required=True,
                position=0,
                type_name=f"Microsoft.Exchange.Configuration.Tasks.{_id_type}",
            ),
            Param("ResultSize", "Unlimited"),
        ],
        writes=False,
        description="Members of a (dynamic) distribution group: none are modelled.",
    )
register_cmdlet(
    "Get-MailboxFolderPermission",
    get_folder_permission,
    [
        Param("Identity", "Identity", required=True, position=0, type_name=_FOLDER_ID),
        Param("User", "String", type_name=_FOLDER_USER),
        Param("ResultSize", "Unlimited"),
    ],
    writes=False,
    noun="MailboxFolderPermission",
    description="Permission entries of a mailbox folder.",
)
register_cmdlet(
    "Add-MailboxFolderPermission",
    add_folder_permission,
    _folder_params(rights=True),
    writes=True,
    noun="MailboxFolderPermission",
    rbac_neutral=True,
    description="Grants a user rights on a folder.",
)
register_cmdlet(
    "Set-MailboxFolderPermission",
    set_folder_permission,
    _folder_params(rights=True),
    writes=True,
    noun="MailboxFolderPermission",
    rbac_neutral=True,
    description="Changes a user's folder rights.",
)
register_cmdlet(
    "Remove-MailboxFolderPermission",
    remove_folder_permission,
    _folder_params(rights=False),
    writes=True,
    noun="MailboxFolderPermission",
    rbac_neutral=True,
    description="Removes a user's rights on a folder.",
)
