"""Revert to on-prem authority (``Set-Mailbox -IsExchangeCloudManaged $false``) without losing cloud edits.

After the flag goes back to ``$false`` the next Entra Connect cycle overwrites the mailbox's Exchange attributes
with the AD values; there is no merge. With ``reconcile=True`` the cloud values are first copied to the AD user
(and read back) so that cycle changes nothing; an item whose reconcile fails is not flipped. Without reconcile the
result lists, per mailbox, what the next cycle will overwrite."""

from __future__ import annotations

from collections.abc import Iterable

from ..errors import HybridSoaError
from ..onprem import ATTRIBUTE_MAP, OnPremDirectory, to_ad_value
from .drift import diff_mailbox
from .enable import RunResult, run_toggle
from .plan import Plan


class ReconcileError(HybridSoaError):
    """The cloud values could not be copied to (or confirmed in) the on-prem directory."""


def revert(
    exchange, onprem: OnPremDirectory | None, identities: Plan | Iterable[str], *, reconcile: bool = True, **kwargs
) -> RunResult:
    """Flip the mailboxes back to on-prem authority, reconciling AD first (see the module docstring).

    Each record carries ``differences`` (cloud vs AD before the flip) and either ``reconciled`` (AD attributes
    written) or ``overwriteWarnings`` (what the next cycle will overwrite)."""
    if onprem is None and reconcile:
        raise ReconcileError("reconcile needs an on-prem directory (the mock's, or pass reconcile=False)")
    index = onprem.index() if onprem is not None else {}

    def pre_change(mailbox: dict) -> dict:
        ad = onprem.find_for_mailbox(mailbox, index) if onprem is not None else None
        if ad is None:
            if reconcile:
                raise ReconcileError("no on-prem AD user found for this mailbox; nothing to reconcile into")
            return {
                "overwriteWarnings": [
                    "on-prem object unknown: the next sync cycle will overwrite every "
                    "Exchange attribute with whatever AD holds"
                ]
            }
        diffs = diff_mailbox(mailbox, ad)
        if not reconcile:
            return {
                "differences": diffs,
                "overwriteWarnings": [
                    f"{d['attribute']}: cloud value {d['cloud']!r} will be replaced by on-prem {d['adAttribute']} "
                    f"{d['onprem']!r} at the next sync cycle"
                    for d in diffs
                ],
            }
        if not diffs:
            return {"differences": [], "reconciled": []}
        sam = ad.get("sAMAccountName")
        changes = {d["adAttribute"]: to_ad_value(d["attribute"], mailbox.get(d["attribute"])) for d in diffs}
        onprem.update_user(sam, changes)
        fresh = onprem.get_user(sam) or {}
        left = diff_mailbox(mailbox, fresh)
        if left:
            raise ReconcileError("on-prem directory did not take " + ", ".join(f"{d['adAttribute']}" for d in left))
        return {"differences": diffs, "reconciled": sorted(changes), "samAccountName": sam}

    kwargs.setdefault("check_eligibility", False)
    return run_toggle(exchange, identities, target=False, operation="revert", pre_change=pre_change, **kwargs)


__all__ = ["ATTRIBUTE_MAP", "ReconcileError", "revert"]
