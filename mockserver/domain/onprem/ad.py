"""On-premises Active Directory: user objects keyed by sAMAccountName, with attributes stored under their
LDAP names so control-plane edits, Entra Connect and write-back all speak AD's own vocabulary."""

from __future__ import annotations

import base64
import binascii
import struct
import uuid
from dataclasses import dataclass, field

from .. import soa_attributes as soa
from ..entra.directory import Record

#: msExchRecipientTypeDetails values of remote (cloud) mailboxes as stored in on-prem AD.
REMOTE_USER_MAILBOX = 2147483648
REMOTE_ROOM_MAILBOX = 8589934592
REMOTE_EQUIPMENT_MAILBOX = 17179869184
REMOTE_SHARED_MAILBOX = 34359738368

#: AD recipient type details -> Exchange Online RecipientTypeDetails of the cloud mailbox.
REMOTE_TYPE_TO_EXO = {
    REMOTE_USER_MAILBOX: "UserMailbox",
    REMOTE_SHARED_MAILBOX: "SharedMailbox",
    REMOTE_ROOM_MAILBOX: "RoomMailbox",
    REMOTE_EQUIPMENT_MAILBOX: "EquipmentMailbox",
}
EXO_TO_REMOTE_TYPE = {v: k for k, v in REMOTE_TYPE_TO_EXO.items()}

#: msExchRecipientTypeDetails of mailboxes hosted on the on-premises Exchange servers, and of mail users.
ONPREM_USER_MAILBOX = 1
ONPREM_SHARED_MAILBOX = 4
ONPREM_ROOM_MAILBOX = 16
ONPREM_EQUIPMENT_MAILBOX = 32
ONPREM_MAIL_USER = 128
#: On-premises mailbox types -> the RecipientTypeDetails of the same mailbox on-premises (for inventories).
ONPREM_MAILBOX_TYPES = {
    ONPREM_USER_MAILBOX: "UserMailbox",
    ONPREM_SHARED_MAILBOX: "SharedMailbox",
    ONPREM_ROOM_MAILBOX: "RoomMailbox",
    ONPREM_EQUIPMENT_MAILBOX: "EquipmentMailbox",
}
#: The cloud mailbox type -> the on-premises mailbox type a completed outbound move stamps.
EXO_TO_ONPREM_TYPE = {v: k for k, v in ONPREM_MAILBOX_TYPES.items()}


def recipient_kind(attrs: dict) -> str:
    """How Exchange Online sees an AD user, from its Exchange attributes: ``remote`` (a remote mailbox: a cloud
    mailbox once provisioned), ``onprem`` (a mailbox on the on-premises servers: a MailUser in the cloud),
    ``mailuser`` (a mail user: a MailUser), ``none`` (no Exchange attributes: a User only)."""
    rtd = attrs.get("msExchRecipientTypeDetails")
    if rtd in REMOTE_TYPE_TO_EXO:
        return "remote"
    if rtd in ONPREM_MAILBOX_TYPES:
        return "onprem"
    if rtd == ONPREM_MAIL_USER or (not rtd and attrs.get("targetAddress")):
        return "mailuser"
    return "none"


#: Identity attributes: they always flow AD -> Entra and are never cloud-editable while synced.
IDENTITY_ATTRIBUTES = (
    "userPrincipalName",
    "displayName",
    "givenName",
    "sn",
    "department",
    "title",
    "company",
    "manager",
    "telephoneNumber",
    "physicalDeliveryOfficeName",
)

#: Exchange attributes (their SOA moves to the cloud with IsExchangeCloudManaged), the 24 attributes Cloud Sync
#: writes back for cloud-managed mailboxes, and the multi-valued ones: all from the SOA attribute table.
EXCHANGE_ATTRIBUTES = soa.AD_EXCHANGE_ATTRIBUTES
WRITEBACK_ATTRIBUTES = soa.AD_WRITEBACK_ATTRIBUTES
MULTI_VALUED = soa.AD_MULTI_VALUED


_GUID_FIELDS_BE = struct.Struct(">IHH8s")
_GUID_FIELDS_LE = struct.Struct("<IHH8s")


def consistency_guid_for(object_guid: str) -> str:
    """ms-DS-ConsistencyGuid as Entra Connect exports it (base64 of the objectGUID bytes) = onPremisesImmutableId."""
    # The canonical form (every GUID the mock makes) skips uuid.UUID, which seeding would call once per AD user;
    # any other form goes through uuid.UUID and its parsing rules and errors.
    if len(object_guid) == 36 and object_guid[8] == object_guid[13] == object_guid[18] == object_guid[23] == "-":
        try:
            b = bytes.fromhex(object_guid.replace("-", ""))
        except ValueError:
            b = b""
        if len(b) == 16:
            # bytes_le: the first three fields little-endian (one unpack/pack instead of slices and joins).
            return binascii.b2a_base64(_GUID_FIELDS_LE.pack(*_GUID_FIELDS_BE.unpack(b)), newline=False).decode()
    return base64.b64encode(uuid.UUID(object_guid).bytes_le).decode()


@dataclass(slots=True)
class ADUser(Record):
    """An on-premises AD user. ``attrs`` holds LDAP-named attributes (``displayName``, ``proxyAddresses``...)."""

    sam_account_name: str
    object_guid: str
    ou: str
    attrs: dict = field(default_factory=dict)
    when_created: float = 0.0
    when_changed: float = 0.0

    @property
    def distinguished_name(self) -> str:
        """``CN=<cn>,<ou>`` as AD builds it."""
        cn = self.attrs.get("cn") or self.attrs.get("displayName") or self.sam_account_name
        return f"CN={cn},{self.ou}"

    @property
    def consistency_guid(self) -> str:
        """The source anchor (``mS-DS-ConsistencyGuid``), defaulting to the objectGUID as modern installs do."""
        return self.attrs.get("mS-DS-ConsistencyGuid") or consistency_guid_for(self.object_guid)

    def get(self, name: str, default=None):
        """Attribute value by LDAP name."""
        return self.attrs.get(name, default)
