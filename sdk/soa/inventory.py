"""Inventory of mailboxes for the Exchange-attribute SOA switch: the report every admin script starts with
(``Get-Mailbox -ResultSize Unlimited | ? IsDirSynced | Select ...,IsExchangeCloudManaged``), plus eligibility
and the reason when a mailbox is not eligible; CSV/JSON export."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass
from typing import Any

#: RecipientTypeDetails that can become cloud-managed (user, shared, room and equipment mailboxes).
ELIGIBLE_TYPES = ("UserMailbox", "SharedMailbox", "RoomMailbox", "EquipmentMailbox")


def eligibility(mailbox: dict) -> tuple[bool, str]:
    """Whether ``Set-Mailbox -IsExchangeCloudManaged`` applies to this recipient, and why not when it does not."""
    rtd = mailbox.get("RecipientTypeDetails") or ""
    if rtd not in ELIGIBLE_TYPES:
        return False, f"recipient type {rtd or 'unknown'} is not supported (user, shared, room, equipment only)"
    if not _true(mailbox.get("IsDirSynced")):
        return False, "not directory-synchronized: a cloud-only mailbox is already managed in the cloud"
    return True, ""


#: Inventory classes (issue 18): what each recipient is with respect to the Exchange-attribute SOA switch.
ELIGIBLE, CLOUD_MANAGED, NOT_SYNCED = "eligible", "already-cloud-managed", "not-synced"
ONPREM_MAILBOX, NOT_PROVISIONED, MAIL_USER = "on-prem-mailbox", "not-provisioned", "mail-user"
NO_MAILBOX, UNSUPPORTED = "no-mailbox", "unsupported-type"
_ZERO_GUID = "00000000-0000-0000-0000-000000000000"


def classify(recipient: dict) -> tuple[str, str]:
    """(class, reason) of a Get-Mailbox / Get-MailUser / Get-User object: eligible, already cloud-managed, not
    synced (cloud-only), on-premises mailbox, remote mailbox not provisioned (no Exchange Online licence yet), mail
    user, synced user without a mailbox, or a type the switch does not cover."""
    rtd = recipient.get("RecipientTypeDetails") or ""
    synced = _true(recipient.get("IsDirSynced"))
    if rtd in ELIGIBLE_TYPES:
        if not synced:
            return NOT_SYNCED, "not directory-synchronized: a cloud-only mailbox is already managed in the cloud"
        if _true(recipient.get("IsExchangeCloudManaged")):
            return CLOUD_MANAGED, "IsExchangeCloudManaged is already true"
        return ELIGIBLE, ""
    if rtd == "MailUser":
        target = str(recipient.get("ExternalEmailAddress") or "").lower()
        if ".mail.onmicrosoft.com" in target:
            return NOT_PROVISIONED, (
                "a remote mailbox without its Exchange Online mailbox: assign an Exchange Online licence first"
            )
        if synced and str(recipient.get("ExchangeGuid") or _ZERO_GUID) != _ZERO_GUID:
            return (
                ONPREM_MAILBOX,
                "the mailbox is on the on-premises Exchange servers (move it to Exchange Online first)",
            )
        return MAIL_USER, "a mail user has no Exchange Online mailbox"
    if rtd == "User":
        return NO_MAILBOX, "a user without Exchange attributes or mailbox (cloud-first: licence it to get one)"
    return UNSUPPORTED, f"recipient type {rtd or 'unknown'} is not supported (user, shared, room, equipment only)"


def _true(value) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


@dataclass
class InventoryRow:
    """One mailbox in the inventory report."""

    Identity: str
    DisplayName: str
    PrimarySmtpAddress: str
    UserPrincipalName: str
    RecipientTypeDetails: str
    IsDirSynced: bool
    IsExchangeCloudManaged: bool
    Eligible: bool
    Reason: str
    ExternalDirectoryObjectId: str | None = None
    #: The recipient's class (classify): eligible, already-cloud-managed, not-synced, on-prem-mailbox, ...
    Class: str = ""

    @classmethod
    def from_mailbox(cls, mbx: dict) -> InventoryRow:
        """Build a row from a Get-Mailbox (or Get-MailUser / Get-User) object."""
        ok, reason = eligibility(mbx)
        klass, why = classify(mbx)
        reason = reason or (why if klass != ELIGIBLE and klass != CLOUD_MANAGED else reason)
        return cls(
            Identity=str(mbx.get("Guid") or mbx.get("Identity") or ""),
            DisplayName=mbx.get("DisplayName") or "",
            PrimarySmtpAddress=mbx.get("PrimarySmtpAddress") or "",
            UserPrincipalName=mbx.get("UserPrincipalName") or "",
            RecipientTypeDetails=mbx.get("RecipientTypeDetails") or "",
            IsDirSynced=_true(mbx.get("IsDirSynced")),
            IsExchangeCloudManaged=_true(mbx.get("IsExchangeCloudManaged")),
            Eligible=ok,
            Reason=reason,
            ExternalDirectoryObjectId=mbx.get("ExternalDirectoryObjectId"),
            Class=klass,
        )


def inventory(
    exchange, *, filter: str | None = None, include_mail_users: bool = False, include_users: bool = False
) -> list[InventoryRow]:
    """Every mailbox (optionally narrowed by an OPATH ``filter``) with type, IsDirSynced, IsExchangeCloudManaged,
    eligibility and class. ``include_mail_users`` also lists mail users (on-premises mailboxes, unprovisioned
    remote mailboxes, mail users: never eligible); ``include_users`` the synced users with no recipient."""
    rows = [InventoryRow.from_mailbox(m) for m in exchange.iter_mailboxes(filter=filter)]
    if include_mail_users:
        from ..errors import ApiError

        try:
            for mu in exchange.get_mail_users():
                mu.setdefault("RecipientTypeDetails", "MailUser")
                rows.append(InventoryRow.from_mailbox(mu))
        except ApiError:
            pass  # Get-MailUser not available to this caller: the mailbox inventory still stands.
    if include_users:
        from ..errors import ApiError

        try:
            for user in exchange.iter_invoke("Get-User", ResultSize="Unlimited", RecipientTypeDetails=["User"]):
                if _true(user.get("IsDirSynced")):
                    rows.append(InventoryRow.from_mailbox(user))
        except ApiError:
            pass
    return rows


def summarize(rows: list[InventoryRow]) -> dict:
    """Counts: total, eligible, already cloud-managed, eligible and still AD-managed, by type, ineligible reasons."""
    out: dict[str, Any] = {
        "total": len(rows),
        "eligible": 0,
        "cloudManaged": 0,
        "toEnable": 0,
        "byType": {},
        "ineligible": {},
        "byClass": {},
    }
    for r in rows:
        out["byClass"][r.Class] = out["byClass"].get(r.Class, 0) + 1
        out["byType"][r.RecipientTypeDetails] = out["byType"].get(r.RecipientTypeDetails, 0) + 1
        if r.IsExchangeCloudManaged:
            out["cloudManaged"] += 1
        if r.Eligible:
            out["eligible"] += 1
            if not r.IsExchangeCloudManaged:
                out["toEnable"] += 1
        else:
            out["ineligible"][r.Reason] = out["ineligible"].get(r.Reason, 0) + 1
    return out


FIELDS = list(InventoryRow.__dataclass_fields__)


def to_csv(rows: list[InventoryRow]) -> str:
    """The inventory as CSV text (header + one line per mailbox)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=FIELDS)
    writer.writeheader()
    for r in rows:
        writer.writerow(asdict(r))
    return buf.getvalue()


def to_json(rows: list[InventoryRow]) -> str:
    """The inventory as a JSON array."""
    return json.dumps([asdict(r) for r in rows], indent=2)
