"""Exchange Online recipients: mailboxes of synced users (remote mailboxes seen from the cloud),
cloud-only mailboxes and mail users, with Exchange's own property vocabulary."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..entra.directory import Record
from ..memory import EMPTY_LIST

#: RecipientTypeDetails whose mailboxes can have their Exchange attributes' SOA moved to the cloud.
ELIGIBLE_TYPES = ("UserMailbox", "SharedMailbox", "RoomMailbox", "EquipmentMailbox")
MAILBOX_TYPES = ELIGIBLE_TYPES
RECIPIENT_TYPES = ELIGIBLE_TYPES + ("MailUser",)


@dataclass(slots=True)
class Mailbox(Record):
    """An Exchange Online recipient (Get-Mailbox / Get-Recipient object); MailUser for mail users."""

    guid: str
    exchange_guid: str
    #: Entra object id of the owning user (Exchange's ExternalDirectoryObjectId).
    external_directory_object_id: str
    name: str
    alias: str
    display_name: str
    user_principal_name: str
    primary_smtp_address: str
    #: proxy addresses with their prefixes: "SMTP:" primary, "smtp:" secondary, "X500:"...
    email_addresses: list[str] = field(default_factory=list)
    recipient_type_details: str = "UserMailbox"
    is_dir_synced: bool = False
    is_exchange_cloud_managed: bool = False
    #: CustomAttribute1..15 (index 0 = CustomAttribute1); "" / None mean empty.
    custom_attributes: list[str | None] = field(default_factory=lambda: [None] * 15)
    #: ExtensionCustomAttribute1..5, multi-valued.
    extension_custom_attributes: list[list[str]] = field(default_factory=lambda: [EMPTY_LIST] * 5)
    hidden_from_address_lists_enabled: bool = False
    grant_send_on_behalf_to: list[str] = field(default_factory=lambda: EMPTY_LIST)
    immutable_id: str | None = None
    when_created: float = 0.0
    when_changed: float = 0.0
    #: Soft-deleted at (tenant epoch seconds) or None when live.
    when_soft_deleted: float | None = None
    #: MailUser's ExternalEmailAddress (``SMTP:...``): where mail for it is routed (on-premises or outside).
    external_email_address: str | None = None
    #: When the owner's Exchange Online plan was removed (the mailbox is disabled until re-licensed or removed
    #: at the end of the grace period); None while licensed or for mailboxes that need no licence.
    unlicensed_since: float | None = None
    #: Mailbox folder permissions that differ from a new mailbox's ({folder: [entry, ...]}); None: all default.
    folder_permissions: dict | None = None

    @property
    def is_mailbox(self) -> bool:
        """True for mailboxes, False for mail users."""
        return self.recipient_type_details in MAILBOX_TYPES

    @property
    def is_soft_deleted(self) -> bool:
        """Whether the mailbox sits in the soft-deleted container."""
        return self.when_soft_deleted is not None
