"""Mail-user cmdlets: Get-MailUser (synced on-premises mailboxes and mail users, unlicensed remote mailboxes and
cloud mail users, with ExternalEmailAddress) and Set-MailUser with the parameters that matter for the Exchange
attributes' SOA: a synced mail user's Exchange attributes are mastered on-premises (IsExchangeCloudManaged covers
mailboxes only), so they are refused with the write-scope error; a cloud mail user takes them."""

from __future__ import annotations

from . import errors as exo_errors
from . import rules
from .cmdlets import Param, register_cmdlet
from .identity_resolution import check_unique, find_mailboxes, resolve_mailbox
from .mailbox_cmdlets import LIST_PARAMS, apply_list_params
from .objects import mailbox_object

MAIL_USER_TYPES = ("MailUser",)
#: Get-MailUser properties on top of the recipient properties (ExternalEmailAddress is the mail user's own).
_DROP = (
    "Database",
    "ArchiveStatus",
    "RetentionPolicy",
    "ForwardingAddress",
    "ForwardingSmtpAddress",
    "DeliverToMailboxAndForward",
    "ProhibitSendQuota",
    "ProhibitSendReceiveQuota",
    "IssueWarningQuota",
    "IsResource",
    "IsShared",
    "ResourceType",
    "IsMailboxEnabled",
    "LitigationHoldEnabled",
)


def mail_user_object(tenant, mbx) -> dict:
    """Get-MailUser output for one mail user."""
    obj = {k: v for k, v in mailbox_object(tenant, mbx).items() if k not in _DROP}
    obj["ExternalEmailAddress"] = mbx.external_email_address or ""
    obj["RecipientTypeDetails"] = "MailUser"
    obj["RecipientType"] = "MailUser"
    return obj


def get_mail_user(ctx, params):
    """Get-MailUser: one mail user by -Identity, or a filtered list."""
    tenant = ctx.tenant
    if params.get("Identity") is not None:
        found = find_mailboxes(tenant, params["Identity"], types=MAIL_USER_TYPES)
        if not found:
            raise exo_errors.object_not_found(tenant, params["Identity"])
        check_unique(tenant, params["Identity"], found)
    else:
        found = [m for m in tenant.mailboxes if not m.is_soft_deleted and m.recipient_type_details == "MailUser"]
    objects = [mail_user_object(tenant, m) for m in found]
    filterable = set(objects[0]) if objects else {"ExternalEmailAddress", "Alias", "PrimarySmtpAddress"}
    return apply_list_params(objects, params, ctx, filterable=filterable)


#: Set-MailUser parameter -> Mailbox field (the Exchange attributes whose SOA the hybrid rules decide).
_FIELDS = {
    "ExternalEmailAddress": "external_email_address",
    "HiddenFromAddressListsEnabled": "hidden_from_address_lists_enabled",
}


def set_mail_user(ctx, params):
    """Set-MailUser: refused with the write-scope error while the mail user is synced from AD (its Exchange
    attributes are mastered on-premises); written otherwise."""
    tenant = ctx.tenant
    mbx = resolve_mailbox(tenant, params["Identity"], types=MAIL_USER_TYPES)
    ctx.target = mbx.name
    ctx.authorize_target(mbx)
    given = [n for n in params if n not in ("Identity", "Confirm", "Force")]
    if given and rules.is_dir_synced(tenant, mbx):
        raise exo_errors.write_scope_synced("Set-MailUser", given, mbx.name, noun="mail user")
    changes = {}
    for name in given:
        value = params[name]
        if name.startswith("CustomAttribute"):
            index = int(name[len("CustomAttribute") :]) - 1
            old = mbx.custom_attributes[index]
            if old != (value or None):
                attrs = list(mbx.custom_attributes)
                attrs[index] = value or None
                mbx.custom_attributes = attrs
                changes[name] = {"old": old, "new": value or None}
            continue
        field = _FIELDS[name]
        if name == "ExternalEmailAddress":
            text = str(value or "")
            if "@" not in text:
                raise exo_errors.data_validation(
                    f'The value "{text}" of property "ExternalEmailAddress" isn\'t a valid proxy address.'
                )
            value = text if ":" in text else f"SMTP:{text}"
        old = getattr(mbx, field)
        if old != value:
            setattr(mbx, field, value)
            changes[name] = {"old": old, "new": value}
    if changes:
        mbx.when_changed = tenant.clock.now()
        tenant.mailboxes.touch(mbx.guid)
    ctx.changes = changes
    if not changes:
        ctx.warn(rules.no_change_warning(mbx.name))
    return []


register_cmdlet(
    "Get-MailUser",
    get_mail_user,
    list(LIST_PARAMS[:2]) + [LIST_PARAMS[3]],
    writes=False,
    noun="MailUser",
    cacheable=True,
    description="Mail users (no Exchange Online mailbox).",
)
register_cmdlet(
    "Set-MailUser",
    set_mail_user,
    [
        Param(
            "Identity",
            "Identity",
            required=True,
            position=0,
            type_name="Microsoft.Exchange.Configuration.Tasks.MailUserIdParameter",
        ),
        Param("ExternalEmailAddress", "String"),
        Param("HiddenFromAddressListsEnabled", "Boolean"),
    ]
    + [Param(f"CustomAttribute{i}", "String") for i in range(1, 16)]
    + [Param("Confirm", "Switch", no_op=True), Param("Force", "Switch", no_op=True)],
    writes=True,
    noun="MailUser",
    rbac_neutral=True,
    description="Edits a mail user.",
)
