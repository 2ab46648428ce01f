"""Drift report: for cloud-managed mailboxes, attribute-by-attribute differences between Exchange Online (now the
source of authority) and the on-premises directory (which keeps being edited by on-prem tools and goes stale)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from ..errors import NotFound
from ..onprem import ATTRIBUTE_MAP, OnPremDirectory, normalize
from .inventory import _true


def diff_mailbox(mailbox: dict, ad_user: dict) -> list[dict]:
    """Differences between a mailbox's Exchange attributes and its AD user's mapped attributes."""
    out = []
    for attr, ad_attr in ATTRIBUTE_MAP.items():
        if attr not in mailbox:
            continue
        cloud, onprem = mailbox.get(attr), ad_user.get(ad_attr)
        if normalize(attr, cloud) != normalize(attr, onprem):
            out.append({"attribute": attr, "adAttribute": ad_attr, "cloud": cloud, "onprem": onprem})
    return out


@dataclass
class DriftReport:
    """Per-mailbox differences (only mailboxes with drift or without an on-prem object are listed)."""

    items: list[dict] = field(default_factory=list)
    checked: int = 0

    @property
    def drifted(self) -> int:
        """How many mailboxes differ from AD."""
        return sum(1 for i in self.items if i.get("differences"))

    @property
    def exit_code(self) -> int:
        """0 without drift, 1 with drift."""
        return 1 if self.items else 0

    def rows(self) -> list[dict]:
        """One flat row per differing attribute (CSV export)."""
        out = []
        for it in self.items:
            for d in it.get("differences") or [{"attribute": "", "adAttribute": "", "cloud": "", "onprem": ""}]:
                out.append(
                    {
                        "Identity": it["identity"],
                        "DisplayName": it.get("displayName") or "",
                        "SamAccountName": it.get("samAccountName") or "",
                        "Status": it["status"],
                        "Attribute": d["attribute"],
                        "AdAttribute": d["adAttribute"],
                        "Cloud": _text(d["cloud"]),
                        "OnPrem": _text(d["onprem"]),
                    }
                )
        return out

    def to_dict(self) -> dict:
        """JSON form."""
        return {"checked": self.checked, "drifted": self.drifted, "items": self.items}


def _text(value) -> str:
    if isinstance(value, (list, tuple)):
        return ";".join(str(v) for v in value)
    return "" if value is None else str(value)


def drift(exchange, onprem: OnPremDirectory, identities: Iterable[str] | None = None) -> DriftReport:
    """Compare every cloud-managed mailbox (or the given ones) with the on-prem directory."""
    if identities is None:
        mailboxes = [m for m in exchange.iter_mailboxes() if _true(m.get("IsExchangeCloudManaged"))]
    else:
        mailboxes = []
        for ident in identities:
            try:
                mailboxes.append(exchange.get_mailbox(ident))
            except NotFound:
                continue
    index = onprem.index()
    report = DriftReport(checked=len(mailboxes))
    for mbx in mailboxes:
        ident = mbx.get("Guid") or mbx.get("Identity")
        ad = onprem.find_for_mailbox(mbx, index)
        if ad is None:
            report.items.append(
                {"identity": ident, "displayName": mbx.get("DisplayName"), "status": "no_onprem_object"}
            )
            continue
        diffs = diff_mailbox(mbx, ad)
        if diffs:
            report.items.append(
                {
                    "identity": ident,
                    "displayName": mbx.get("DisplayName"),
                    "samAccountName": ad.get("sAMAccountName"),
                    "status": "drift",
                    "differences": diffs,
                }
            )
    return report
