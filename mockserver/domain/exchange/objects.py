"""Cmdlet output objects with the real property names (Get-Mailbox, Get-Recipient, Get-User,
Get-OrganizationConfig). Values are JSON-native, ``uuid.UUID`` or ``datetime``; the wire layer adds the
``@odata.type``/``@data.type`` annotations."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from ..entra.licensing import has_exchange_plan
from .identity_resolution import owner_of, user_name
from .naming import tenant_constants, tenant_partition
from .rules import is_dir_synced

ZERO_GUID = uuid.UUID(int=0)
EXCHANGE_VERSION = "0.20 (15.0.0.0)"
ADMIN_DISPLAY_VERSION = "Version 15.20 (Build 8632.20)"
#: RecipientTypeDetails -> RecipientType.
RECIPIENT_TYPE = {
    "UserMailbox": "UserMailbox",
    "SharedMailbox": "UserMailbox",
    "RoomMailbox": "UserMailbox",
    "EquipmentMailbox": "UserMailbox",
    "MailUser": "MailUser",
    "User": "User",
}


def when(ts: float | None) -> datetime | None:
    """Tenant epoch seconds as an aware UTC datetime (rendered as System.DateTime)."""
    return None if ts is None else datetime.fromtimestamp(ts, tz=UTC)


def guid(text: str | None) -> uuid.UUID | None:
    """A GUID string as ``uuid.UUID`` (rendered with System.Guid annotations)."""
    if not text:
        return None
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


def legacy_exchange_dn(mbx) -> str:
    """LegacyExchangeDN of a cloud recipient (``.../cn=Recipients/cn=<ExchangeGuid hex>-<alias>``)."""
    return (
        f"/o=ExchangeLabs/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/"
        f"cn={mbx.exchange_guid.replace('-', '')}-{mbx.alias}"
    )


def distinguished_name(tenant, name: str) -> str:
    """Exchange Online DN of a recipient."""
    return f"CN={name}{tenant_constants(tenant)['dn_suffix']}"


def _attr(value):
    return "" if value is None else value


def mailbox_object(tenant, mbx) -> dict:
    """Get-Mailbox output for one recipient."""
    owner = owner_of(tenant, mbx)
    rtd = mbx.recipient_type_details
    synced = is_dir_synced(tenant, mbx)
    consts = tenant_constants(tenant)
    obj = {
        "Database": consts["database"],
        "ExchangeGuid": guid(mbx.exchange_guid),
        "ArchiveGuid": ZERO_GUID,
        "ArchiveStatus": "None",
        "LitigationHoldEnabled": False,
        "RetentionPolicy": "Default MRM Policy",
        "ForwardingAddress": None,
        "ForwardingSmtpAddress": None,
        "DeliverToMailboxAndForward": False,
        "IsMailboxEnabled": True,
        "ProhibitSendQuota": "99 GB (106,300,440,576 bytes)",
        "ProhibitSendReceiveQuota": "100 GB (107,374,182,400 bytes)",
        "IssueWarningQuota": "98 GB (105,226,698,752 bytes)",
        "IsResource": rtd in ("RoomMailbox", "EquipmentMailbox"),
        "IsShared": rtd == "SharedMailbox",
        "ResourceType": {"RoomMailbox": "Room", "EquipmentMailbox": "Equipment"}.get(rtd),
        "UserPrincipalName": mbx.user_principal_name,
        "WindowsLiveID": mbx.user_principal_name,
        "MicrosoftOnlineServicesID": mbx.user_principal_name,
        "RemoteRecipientType": "Migrated" if mbx.is_dir_synced else "None",
        "ImmutableId": mbx.immutable_id or "",
        "UsageLocation": (owner.usage_location if owner else None) or "",
        "IsSoftDeletedByRemove": mbx.is_soft_deleted,
        "IsSoftDeletedByDisable": False,
        "IsInactiveMailbox": False,
        "WhenSoftDeleted": when(mbx.when_soft_deleted),
        "AccountDisabled": bool(owner is not None and not owner.account_enabled),
        "IsDirSynced": synced,
        "IsExchangeCloudManaged": bool(mbx.is_exchange_cloud_managed),
        "Alias": mbx.alias,
        "OrganizationalUnit": consts["ou"],
    }
    for i in range(1, 16):
        obj[f"CustomAttribute{i}"] = _attr(mbx.custom_attributes[i - 1])
    for i in range(1, 6):
        obj[f"ExtensionCustomAttribute{i}"] = list(mbx.extension_custom_attributes[i - 1])
    obj.update(
        {
            "DisplayName": mbx.display_name,
            "EmailAddresses": list(mbx.email_addresses),
            "GrantSendOnBehalfTo": list(mbx.grant_send_on_behalf_to),
            "ExternalDirectoryObjectId": mbx.external_directory_object_id or "",
            "HiddenFromAddressListsEnabled": bool(mbx.hidden_from_address_lists_enabled),
            "LegacyExchangeDN": legacy_exchange_dn(mbx),
            "MaxSendSize": "35 MB (36,700,160 bytes)",
            "MaxReceiveSize": "36 MB (37,748,736 bytes)",
            "EmailAddressPolicyEnabled": False,
            "PrimarySmtpAddress": mbx.primary_smtp_address,
            "RecipientType": RECIPIENT_TYPE.get(rtd, "UserMailbox"),
            "RecipientTypeDetails": rtd,
            "WindowsEmailAddress": mbx.primary_smtp_address,
        }
    )
    obj.update(_base(tenant, mbx.name, mbx.guid, mbx.when_created, mbx.when_changed))
    return obj


#: Get-Mailbox properties a filter may read without building the whole object: each is the same expression
#: mailbox_object uses (tests/unit/test_linear_evaluators.py checks both agree on every seeded mailbox).
_CHEAP_MAILBOX_PROPERTIES = {
    "Name": lambda m: m.name,
    "Identity": lambda m: m.name,
    "Id": lambda m: m.name,
    "Alias": lambda m: m.alias,
    "DisplayName": lambda m: m.display_name,
    "PrimarySmtpAddress": lambda m: m.primary_smtp_address,
    "WindowsEmailAddress": lambda m: m.primary_smtp_address,
    "UserPrincipalName": lambda m: m.user_principal_name,
    "WindowsLiveID": lambda m: m.user_principal_name,
    "MicrosoftOnlineServicesID": lambda m: m.user_principal_name,
    "RecipientTypeDetails": lambda m: m.recipient_type_details,
    "EmailAddresses": lambda m: list(m.email_addresses),
    "ExternalDirectoryObjectId": lambda m: m.external_directory_object_id or "",
    "IsExchangeCloudManaged": lambda m: bool(m.is_exchange_cloud_managed),
    "ImmutableId": lambda m: m.immutable_id or "",
    **{f"CustomAttribute{i}": (lambda n: lambda m: _attr(m.custom_attributes[n - 1]))(i) for i in range(1, 16)},
}


def mailbox_filter_view(names) -> Callable[[Any], dict] | None:
    """A function giving just the ``names`` properties of a mailbox's Get-Mailbox output (for evaluating a
    ``-Filter`` before building whole objects), or None when one of them needs the whole object."""
    getters = []
    for name in names:
        get = _CHEAP_MAILBOX_PROPERTIES.get(name)
        if get is None:
            return None
        getters.append((name, get))
    return lambda mbx: {name: get(mbx) for name, get in getters}


def recipient_object(tenant, mbx) -> dict:
    """Get-Recipient output for one recipient (a lighter projection of the mailbox)."""
    full = mailbox_object(tenant, mbx)
    keep = (
        "Alias",
        "DisplayName",
        "EmailAddresses",
        "ExternalDirectoryObjectId",
        "HiddenFromAddressListsEnabled",
        "IsDirSynced",
        "PrimarySmtpAddress",
        "RecipientType",
        "RecipientTypeDetails",
        "WindowsLiveID",
        "ExchangeGuid",
        "ArchiveGuid",
        "OrganizationalUnit",
    )
    obj = {k: full[k] for k in keep}
    obj["IsExchangeCloudManaged"] = full["IsExchangeCloudManaged"]
    # Get-Recipient's ExternalEmailAddress: the routing address of a mail user, empty for mailboxes.
    obj["ExternalEmailAddress"] = mbx.external_email_address if mbx.recipient_type_details == "MailUser" else None
    for i in range(1, 16):
        obj[f"CustomAttribute{i}"] = full[f"CustomAttribute{i}"]
    for i in range(1, 6):
        obj[f"ExtensionCustomAttribute{i}"] = full[f"ExtensionCustomAttribute{i}"]
    obj.update(_base(tenant, mbx.name, mbx.guid, mbx.when_created, mbx.when_changed))
    return obj


def user_object(tenant, user, mbx=None) -> dict:
    """Get-User output for one Entra user, joined to its recipient when it has one."""
    rtd = mbx.recipient_type_details if mbx is not None else "User"
    name = user_name(user, mbx)
    obj = {
        "IsDirSynced": bool(user.on_premises_sync_enabled) and not user.is_cloud_managed,
        "AccountDisabled": not user.account_enabled,
        "UserPrincipalName": user.user_principal_name,
        "MicrosoftOnlineServicesID": user.user_principal_name,
        "WindowsEmailAddress": (mbx.primary_smtp_address if mbx is not None else user.mail) or "",
        "FirstName": user.given_name or "",
        "LastName": user.surname or "",
        "Initials": "",
        "DisplayName": user.display_name,
        "Title": user.job_title or "",
        "Department": user.department or "",
        "Company": user.extra.get("companyName") or "",
        "Office": "",
        "Manager": None,
        "UsageLocation": user.usage_location or "",
        "ExternalDirectoryObjectId": user.id,
        "ImmutableId": user.on_premises_immutable_id or "",
        "RecipientType": RECIPIENT_TYPE.get(rtd, "UserMailbox"),
        "RecipientTypeDetails": rtd,
        # An Exchange Online plan is assigned (false for unlicensed shared/room mailboxes and de-licensed users).
        "SKUAssigned": has_exchange_plan(user),
    }
    obj.update(
        _base(
            tenant,
            name,
            mbx.guid if mbx is not None else user.id,
            user.created_date_time,
            max(
                user.created_date_time,
                user.on_premises_last_sync_date_time or 0,
                mbx.when_changed if mbx is not None else 0,
            ),
        )
    )
    return obj


def org_config_object(tenant) -> dict:
    """Get-OrganizationConfig output; the tenant-level default reads back as
    BlockExchangeProvisioningFromOnPremEnabled."""
    cfg = tenant.org_config
    cloud_default = bool(cfg.get("ExchangeAttributesCloudManagedByDefault"))
    obj = {
        "DisplayName": tenant.name,
        "Name": tenant.domain,
        "IsDehydrated": False,
        "IsDirSyncRunning": bool(tenant.sync.settings.get("enabled", True)),
        "BlockExchangeProvisioningFromOnPremEnabled": cloud_default,
        # MailTips settings with the defaults the Admin API's OrganizationConfig page documents.
        "MailTipsAllTipsEnabled": True,
        "MailTipsExternalRecipientsTipsEnabled": False,
        "MailTipsLargeAudienceThreshold": 25,
        "OrganizationId": f"{tenant_partition(tenant)}/Microsoft Exchange Hosted Organizations/{tenant.domain} - "
        f"{tenant_partition(tenant)}/ConfigurationUnits/{tenant.domain}/Configuration",
        "AdminDisplayVersion": ADMIN_DISPLAY_VERSION,
        "ExternalDirectoryOrganizationId": guid(tenant.id),
        "Identity": tenant.domain,
        "Id": tenant.domain,
        "IsValid": True,
        "ExchangeVersion": EXCHANGE_VERSION,
        "Guid": guid(tenant.id),
        "WhenChanged": when(cfg.get("WhenChanged") or tenant.clock.now()),
    }
    return obj


def _base(tenant, name: str, object_guid: str, created: float, changed: float) -> dict:
    consts = tenant_constants(tenant)
    changed_at, created_at, object_id = when(changed), when(created), guid(object_guid)
    return {
        "Identity": name,
        "Id": name,
        "IsValid": True,
        "ExchangeVersion": EXCHANGE_VERSION,
        "Name": name,
        "DistinguishedName": "CN=" + name.replace(",", "\\,") + consts["dn_suffix"],
        "ObjectClass": ["top", "person", "organizationalPerson", "user"],
        "WhenChanged": changed_at,
        "WhenCreated": created_at,
        "WhenChangedUTC": changed_at,
        "WhenCreatedUTC": created_at,
        "ExchangeObjectId": object_id,
        "OrganizationalUnitRoot": consts["domain"],
        "Guid": object_id,
        "OriginatingServer": consts["server"],
    }
