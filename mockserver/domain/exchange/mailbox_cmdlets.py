"""Mailbox cmdlets: Get-Mailbox, Set-Mailbox (with the hybrid SOA rules and IsExchangeCloudManaged) and
Undo-SoftDeletedMailbox."""

from __future__ import annotations

import re

from .. import soa_attributes as soa
from ..connect import lifecycle
from . import errors as exo_errors
from . import rules
from .cmdlets import MultiValuedEdit, Param, register_cmdlet
from .identity_resolution import check_unique, find_mailboxes, owner_of, resolve_mailbox
from .mailboxes import MAILBOX_TYPES
from .objects import mailbox_filter_view, mailbox_object
from .opath import compile_filter

RTD_TYPE = "Microsoft.Exchange.Data.Directory.Recipient.RecipientTypeDetails"
#: Every RecipientTypeDetails member the mock knows (the real enum is much longer; these are what it holds).
RECIPIENT_TYPE_DETAILS = (
    "UserMailbox",
    "SharedMailbox",
    "RoomMailbox",
    "EquipmentMailbox",
    "MailUser",
    "User",
    "LinkedMailbox",
    "SchedulingMailbox",
    "TeamMailbox",
    "GroupMailbox",
    "DiscoveryMailbox",
    "MailContact",
    "MailUniversalDistributionGroup",
    "MailUniversalSecurityGroup",
    "DynamicDistributionGroup",
    "GuestMailUser",
)
#: Set-Mailbox -Type (ConvertibleMailboxSubType) -> RecipientTypeDetails.
TYPE_TO_RTD = {
    "Regular": "UserMailbox",
    "Shared": "SharedMailbox",
    "Room": "RoomMailbox",
    "Equipment": "EquipmentMailbox",
}
TYPE_MEMBERS = ("Regular", "Room", "Equipment", "Shared", "Workspace")
_ALIAS_RE = re.compile(r"^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~.]{1,64}$")
_SMTP_RE = re.compile(r"^[^@\s:]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")

LIST_PARAMS = [
    Param(
        "Identity",
        "Identity",
        position=0,
        group="Identity",
        type_name="Microsoft.Exchange.Configuration.Tasks.MailboxIdParameter",
    ),
    Param("Filter", "String", group="AnrSet"),
    Param("RecipientTypeDetails", "Enum", enum=RECIPIENT_TYPE_DETAILS, multi=True, type_name=RTD_TYPE),
    Param("ResultSize", "Unlimited"),
]


def apply_list_params(objects: list[dict], params: dict, ctx, *, filterable: set[str]) -> list[dict]:
    """-Filter, -RecipientTypeDetails and -ResultSize over output objects, as the Get- cmdlets apply them."""
    if params.get("Filter") not in (None, ""):
        predicate = compile_filter(params["Filter"], filterable)
        objects = [o for o in objects if predicate(o)]
    if params.get("RecipientTypeDetails"):
        wanted = set(params["RecipientTypeDetails"])
        objects = [o for o in objects if o.get("RecipientTypeDetails") in wanted]
    size = params.get("ResultSize", "default")
    if isinstance(size, int) and len(objects) > size:
        objects = objects[:size]
        ctx.warn(
            "There are more results available than are currently displayed. To view them, increase the value "
            "for the ResultSize parameter."
        )
    return objects


# ---------------------------------------------------------------------------------------------- Get-Mailbox
def get_mailbox(ctx, params):
    """Get-Mailbox: one mailbox by -Identity, or a filtered list (-SoftDeletedMailbox for the soft-deleted ones)."""
    tenant = ctx.tenant
    soft = bool(params.get("SoftDeletedMailbox"))
    if params.get("Identity") is not None:
        boxes = find_mailboxes(tenant, params["Identity"], soft_deleted=soft, types=MAILBOX_TYPES)
        if not boxes:
            raise exo_errors.object_not_found(tenant, params["Identity"])
        check_unique(tenant, params["Identity"], boxes)
    else:
        boxes = [m for m in tenant.mailboxes if m.is_soft_deleted == soft and m.recipient_type_details in MAILBOX_TYPES]
    if params.get("Filter") not in (None, "") and len(boxes) > 1:
        # A filter reading only plain mailbox fields is decided before the output objects are built: on a large
        # tenant building every object costs far more than the filter (same answer, issue 21).
        predicate = compile_filter(params["Filter"], set(mailbox_object_keys(tenant)))
        view = mailbox_filter_view(predicate.properties)
        if view is not None:
            boxes = [m for m in boxes if predicate(view(m))]
            params = {k: v for k, v in params.items() if k != "Filter"}
    objects = [mailbox_object(tenant, m) for m in boxes]
    filterable = set(objects[0]) if objects else set(mailbox_object_keys(tenant))
    objects = apply_list_params(objects, params, ctx, filterable=filterable)
    if params.get("IncludeGrantSendOnBehalfToWithDisplayNames"):
        objects = [_with_delegate_names(tenant, o) for o in objects]
    return objects


def _with_delegate_names(tenant, obj: dict) -> dict:
    """-IncludeGrantSendOnBehalfToWithDisplayNames: the delegates' display names next to their identities."""
    names = []
    for delegate in obj.get("GrantSendOnBehalfTo") or []:
        found = find_mailboxes(tenant, delegate)
        names.append(found[0].display_name or found[0].name if len(found) == 1 else delegate)
    return {**obj, "GrantSendOnBehalfToWithDisplayNames": names}


_KEYS_CACHE: list[str] = []


def mailbox_object_keys(tenant) -> list[str]:
    """Property names of Get-Mailbox output (for -Filter validation on an empty tenant)."""
    if not _KEYS_CACHE:
        from .mailboxes import Mailbox

        probe = Mailbox(
            guid="00000000-0000-0000-0000-000000000001",
            exchange_guid="00000000-0000-0000-0000-000000000002",
            external_directory_object_id="",
            name="probe",
            alias="probe",
            display_name="probe",
            user_principal_name="probe@probe",
            primary_smtp_address="probe@probe",
        )
        _KEYS_CACHE.extend(mailbox_object(tenant, probe))
    return list(_KEYS_CACHE)


# ---------------------------------------------------------------------------------------------- Set-Mailbox
def set_mailbox(ctx, params):
    """Set-Mailbox: Exchange attributes, identity attributes and the IsExchangeCloudManaged SOA switch,
    under the hybrid write rules; all-or-nothing."""
    tenant = ctx.tenant
    identity = params["Identity"]
    try:
        mbx = resolve_mailbox(tenant, identity, types=MAILBOX_TYPES)
    except exo_errors.NotFound:
        others = find_mailboxes(tenant, identity)
        if len(others) == 1 and "IsExchangeCloudManaged" in params:
            ctx.target = others[0].name
            raise rules.mail_user_not_eligible(others[0]) from None
        raise
    ctx.target = mbx.name
    ctx.authorize_target(mbx)
    given = [n for n in params if n not in ("Identity", "Confirm", "Force")]

    flag = params.get("IsExchangeCloudManaged")
    toggle = rules.ALLOW
    if flag is not None:
        rules.check_toggle_eligible(tenant, mbx)
        toggle = rules.toggle_decision(tenant, ctx.caller)
        if toggle == rules.DENY:
            raise rules.toggle_denied()
    effective_flag = flag if (flag is not None and toggle == rules.ALLOW) else mbx.is_exchange_cloud_managed
    blocked = rules.blocked_params(tenant, mbx, given, cloud_managed=effective_flag)
    if blocked:
        raise exo_errors.write_scope_synced("Set-Mailbox", blocked, mbx.name)

    new = _planned_values(tenant, mbx, params)
    if flag is not None and toggle == rules.ALLOW:
        new["IsExchangeCloudManaged"] = flag
    changes = {}
    for k, v in new.items():
        old = _current(mbx, k)
        if old != v:
            changes[k] = {"old": old, "new": v}
    for prop, change in changes.items():
        _assign(tenant, mbx, prop, change["new"])
    if changes:
        mbx.when_changed = tenant.clock.now()
        tenant.mailboxes.touch(mbx.guid)
        if not changes.keys().isdisjoint(_MIRRORED):
            # Allowed edits of these mean Exchange Online is their authority: the directory follows at once.
            rules.mirror_to_entra(tenant, mbx)
    ctx.changes = changes
    if not changes and toggle != rules.SILENT:
        ctx.warn(rules.no_change_warning(mbx.name))
    return []


def _current(mbx, prop: str):
    if prop == "IsExchangeCloudManaged":  # the bulk toggle: first, and without building the table below
        return bool(mbx.is_exchange_cloud_managed)
    if prop.startswith("CustomAttribute"):
        return mbx.custom_attributes[int(prop[15:]) - 1] or None
    if prop.startswith("ExtensionCustomAttribute"):
        return list(mbx.extension_custom_attributes[int(prop[24:]) - 1])
    return {
        "IsExchangeCloudManaged": lambda: bool(mbx.is_exchange_cloud_managed),
        "EmailAddresses": lambda: list(mbx.email_addresses),
        "PrimarySmtpAddress": lambda: mbx.primary_smtp_address,
        "HiddenFromAddressListsEnabled": lambda: bool(mbx.hidden_from_address_lists_enabled),
        "Alias": lambda: mbx.alias,
        "DisplayName": lambda: mbx.display_name,
        "Name": lambda: mbx.name,
        "GrantSendOnBehalfTo": lambda: list(mbx.grant_send_on_behalf_to),
        "RecipientTypeDetails": lambda: mbx.recipient_type_details,
    }[prop]()


def _assign(tenant, mbx, prop: str, value) -> None:
    if prop.startswith("CustomAttribute"):
        mbx.custom_attributes[int(prop[15:]) - 1] = value
    elif prop.startswith("ExtensionCustomAttribute"):
        mbx.extension_custom_attributes[int(prop[24:]) - 1] = list(value)
    elif prop == "IsExchangeCloudManaged":
        mbx.is_exchange_cloud_managed = bool(value)
    elif prop == "EmailAddresses":
        mbx.email_addresses = list(value)
    elif prop == "PrimarySmtpAddress":
        mbx.primary_smtp_address = value
    elif prop == "HiddenFromAddressListsEnabled":
        mbx.hidden_from_address_lists_enabled = bool(value)
    elif prop == "Alias":
        mbx.alias = value
    elif prop == "Name":
        mbx.name = value
    elif prop == "DisplayName":
        mbx.display_name = value
        owner = owner_of(tenant, mbx)
        if owner is not None and owner.display_name != value:
            # Exchange writes identity edits through to Entra ID (only reachable when the user is cloud-mastered).
            owner.display_name = value
            tenant.users.touch(owner.id)
    elif prop == "GrantSendOnBehalfTo":
        mbx.grant_send_on_behalf_to = list(value)
    elif prop == "RecipientTypeDetails":
        mbx.recipient_type_details = value


#: Get-Mailbox properties Exchange Online may write through to the Entra user (rules.mirror_to_entra decides).
_MIRRORED = frozenset(a.name for a in soa.ENTRA_MIRRORED + soa.CLOUD_USER_MIRRORED)
_CUSTOM_ATTRIBUTES = tuple(f"CustomAttribute{i}" for i in range(1, 16))
_EXTENSION_ATTRIBUTES = tuple(f"ExtensionCustomAttribute{i}" for i in range(1, 6))


def _planned_values(tenant, mbx, params) -> dict:
    """Validate every requested value and compute the new property values without touching the mailbox."""
    new: dict = {}
    if params.keys().isdisjoint(_PLANNED_PARAMS):  # e.g. the bulk toggle: only the addresses left to look at
        return _with_addresses(new, tenant, mbx, params)
    for name in _CUSTOM_ATTRIBUTES:
        if name in params:
            value = params[name]
            if value is not None and len(value) > 1024:
                raise exo_errors.data_validation(
                    f"The length of the property is too long. The maximum length is "
                    f"1024 and the length of the value provided is {len(value)}."
                )
            new[name] = value or None
    for i, name in enumerate(_EXTENSION_ATTRIBUTES, start=1):
        if name in params:
            values = params[name].apply(mbx.extension_custom_attributes[i - 1])
            if len(values) > 1300:
                raise exo_errors.data_validation("ExtensionCustomAttribute can hold at most 1300 values.")
            new[name] = values
    if "HiddenFromAddressListsEnabled" in params:
        new["HiddenFromAddressListsEnabled"] = bool(params["HiddenFromAddressListsEnabled"])
    if "Alias" in params:
        alias = params["Alias"] or ""
        if not _ALIAS_RE.match(alias) or alias.startswith(".") or alias.endswith(".") or ".." in alias:
            raise exo_errors.data_validation(
                f"Alias \"{alias}\" contains characters that aren't allowed or isn't a valid SMTP local part."
            )
        new["Alias"] = alias
    for name in ("DisplayName", "Name"):
        if name in params:
            value = (params[name] or "").strip()
            if not value or len(value) > 256:
                raise exo_errors.data_validation(f"The {name} value must be 1 to 256 characters long.")
            new[name] = value
    if "Type" in params:
        if params["Type"] not in TYPE_TO_RTD:
            raise exo_errors.task_invalid(
                f"Converting '{mbx.name}' to {params['Type']} isn't supported for this mailbox."
            )
        new["RecipientTypeDetails"] = TYPE_TO_RTD[params["Type"]]
    if "GrantSendOnBehalfTo" in params:
        edit: MultiValuedEdit = params["GrantSendOnBehalfTo"]
        resolved = MultiValuedEdit(
            replace=None if edit.replace is None else [resolve_mailbox(tenant, v).name for v in edit.replace],
            add=[resolve_mailbox(tenant, v).name for v in edit.add],
            remove=[resolve_mailbox(tenant, v).name for v in edit.remove],
        )
        new["GrantSendOnBehalfTo"] = resolved.apply(mbx.grant_send_on_behalf_to)
    return _with_addresses(new, tenant, mbx, params)


def _with_addresses(new: dict, tenant, mbx, params) -> dict:
    addresses, primary = _planned_addresses(tenant, mbx, params)
    if addresses is not None:
        new["EmailAddresses"] = addresses
        new["PrimarySmtpAddress"] = primary
    return new


#: The parameters _planned_values reads before the address ones.
_PLANNED_PARAMS = frozenset(
    _CUSTOM_ATTRIBUTES
    + _EXTENSION_ATTRIBUTES
    + ("HiddenFromAddressListsEnabled", "Alias", "DisplayName", "Name", "Type", "GrantSendOnBehalfTo")
)


def _normalize_proxy(text: str) -> str:
    text = text.strip()
    prefix, sep, rest = text.partition(":")
    if not sep or "@" in prefix:
        prefix, rest = "smtp", text
    if prefix.lower() == "smtp":
        if not _SMTP_RE.match(rest):
            raise exo_errors.data_validation(
                f'The proxy address "{text}" is invalid: "{rest}" isn\'t a valid SMTP address.'
            )
        return ("SMTP:" if prefix == "SMTP" else "smtp:") + rest
    if not prefix or not rest:
        raise exo_errors.data_validation(f'The proxy address "{text}" is invalid.')
    return f"{prefix}:{rest}"


def _planned_addresses(tenant, mbx, params):
    """New EmailAddresses and primary SMTP address, or (None, None) when no address parameter was given."""
    wanted_primary = params.get("PrimarySmtpAddress") or params.get("WindowsEmailAddress")
    if "EmailAddresses" not in params and not wanted_primary:
        return None, None
    current = list(mbx.email_addresses)
    if "EmailAddresses" in params:
        edit: MultiValuedEdit = params["EmailAddresses"]
        normalized = MultiValuedEdit(
            replace=None if edit.replace is None else [_normalize_proxy(v) for v in edit.replace],
            add=[_normalize_proxy(v) for v in edit.add],
            remove=[_normalize_proxy(v) for v in edit.remove],
        )
        new_primaries = [a for a in (normalized.replace or normalized.add) if a.startswith("SMTP:")]
        if normalized.replace is None and new_primaries:
            current = ["smtp:" + a[5:] if a.startswith("SMTP:") else a for a in current]
        current = normalized.apply(current)
    if wanted_primary:
        address = _normalize_proxy(wanted_primary)[5:]
        current = [
            "smtp:" + a[5:] if a.startswith("SMTP:") else a for a in current if a.lower() != "smtp:" + address.lower()
        ]
        current.insert(0, "SMTP:" + address)
    primaries = [a for a in current if a.startswith("SMTP:")]
    if len(primaries) > 1:
        raise exo_errors.data_validation("The e-mail address list contains more than one primary SMTP address.")
    if not primaries:
        smtp = [a for a in current if a.lower().startswith("smtp:")]
        if not smtp:
            raise exo_errors.data_validation("The primary SMTP address can't be removed; the mailbox must keep one.")
        current = ["SMTP:" + a[5:] if a == smtp[0] else a for a in current]
        primaries = ["SMTP:" + smtp[0][5:]]
    _check_unique(tenant, mbx, current)
    return current, primaries[0][5:]


def _check_unique(tenant, mbx, addresses: list[str]) -> None:
    """Refuse SMTP addresses another live recipient already holds (Exchange's proxy address uniqueness)."""
    had = {a.lower() for a in mbx.email_addresses}
    added = [a for a in addresses if a.lower().startswith("smtp:") and a.lower() not in had]
    if not added:
        return
    index = tenant.sync.index
    index.refresh()
    for address in added:
        for key in sorted(index.mailboxes_by_addr.get(address[5:].lower(), ())):
            other = tenant.mailboxes.get(key)
            if other is not None and other.guid != mbx.guid:
                raise _address_taken(address, other)


def _address_taken(address: str, other):
    return exo_errors.data_validation(
        f'The proxy address "{address}" is already being used by the proxy addresses or LegacyExchangeDN of '
        f'"{other.name}". Please choose another proxy address.'
    )


# -------------------------------------------------------------------------------------- Undo-SoftDeletedMailbox
def undo_soft_deleted_mailbox(ctx, params):
    """Undo-SoftDeletedMailbox: bring a soft-deleted mailbox (and its soft-deleted Entra user) back."""
    tenant = ctx.tenant
    mbx = resolve_mailbox(tenant, params["SoftDeletedObject"], soft_deleted=True)
    ctx.target = mbx.name
    ctx.authorize_target(mbx)
    owner = owner_of(tenant, mbx)
    owner_deleted = owner is not None and owner.deleted_date_time is not None
    old_deleted = mbx.when_soft_deleted
    lifecycle.restore_mailbox(tenant, mbx)
    changes = {"WhenSoftDeleted": {"old": old_deleted, "new": None}}
    if owner_deleted and owner.deleted_date_time is None:
        changes["User.DeletedDateTime"] = {"old": old_deleted, "new": None}
    if params.get("WindowsLiveID") and params["WindowsLiveID"].lower() != (mbx.user_principal_name or "").lower():
        changes["UserPrincipalName"] = {"old": mbx.user_principal_name, "new": params["WindowsLiveID"]}
        mbx.user_principal_name = params["WindowsLiveID"]
        tenant.mailboxes.touch(mbx.guid)
    ctx.changes = changes
    return [mailbox_object(tenant, mbx)]


SET_MAILBOX_PARAMS = (
    [
        Param(
            "Identity",
            "Identity",
            required=True,
            position=0,
            type_name="Microsoft.Exchange.Configuration.Tasks.MailboxIdParameter",
        ),
        Param(
            "IsExchangeCloudManaged",
            "Boolean",
            description="Moves the SOA of the mailbox's Exchange attributes to Exchange Online (or back).",
        ),
        Param("EmailAddresses", "MultiValued", type_name="Microsoft.Exchange.Data.ProxyAddressCollection"),
        Param("PrimarySmtpAddress", "String", type_name="Microsoft.Exchange.Data.SmtpAddress"),
        Param("WindowsEmailAddress", "String", type_name="Microsoft.Exchange.Data.SmtpAddress"),
        Param("HiddenFromAddressListsEnabled", "Boolean"),
        Param("Alias", "String"),
        Param("DisplayName", "String"),
        Param("Name", "String"),
        Param(
            "GrantSendOnBehalfTo",
            "MultiValued",
            type_name="Microsoft.Exchange.Data.MultiValuedProperty`1[Microsoft.Exchange.Configuration.Tasks."
            "ModernGroupOrRecipientWithAdUserIdParameter`1[Microsoft.Exchange.Configuration.Tasks."
            "RecipientIdParameter]]",
        ),
        Param(
            "Type",
            "Enum",
            enum=TYPE_MEMBERS,
            type_name="Microsoft.Exchange.Management.RecipientTasks.ConvertibleMailboxSubType",
        ),
    ]
    + [Param(f"CustomAttribute{i}", "String") for i in range(1, 16)]
    + [Param(f"ExtensionCustomAttribute{i}", "MultiValued") for i in range(1, 6)]
    + [Param("Confirm", "Switch", no_op=True), Param("Force", "Switch", no_op=True)]
)

register_cmdlet(
    "Get-Mailbox",
    get_mailbox,
    LIST_PARAMS
    + [Param("SoftDeletedMailbox", "Switch"), Param("IncludeGrantSendOnBehalfToWithDisplayNames", "Switch")],
    writes=False,
    noun="Mailbox",
    cacheable=True,
    description="Mailboxes (user, shared, room, equipment) of the tenant.",
)
register_cmdlet(
    "Set-Mailbox",
    set_mailbox,
    SET_MAILBOX_PARAMS,
    writes=True,
    noun="Mailbox",
    rbac_neutral=True,
    rows_only=True,
    description="Edits a mailbox under the hybrid write rules.",
)
register_cmdlet(
    "Undo-SoftDeletedMailbox",
    undo_soft_deleted_mailbox,
    [
        Param(
            "SoftDeletedObject",
            "Identity",
            required=True,
            position=0,
            type_name="Microsoft.Exchange.Configuration.Tasks.MailboxIdParameter",
        ),
        Param("WindowsLiveID", "String", type_name="Microsoft.Exchange.Data.WindowsLiveId"),
        Param("Password", "SecureString", no_op=True),
        Param("Confirm", "Switch", no_op=True),
    ],
    writes=True,
    noun="Mailbox",
    description="Restores a soft-deleted mailbox.",
)
