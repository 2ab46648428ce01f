"""Post-sync verification: every mailbox a run made cloud-managed still holds its cloud values after the next
Entra Connect cycle (no overwrite from AD) and is still cloud-managed."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import ApiError, NotFound
from ..onprem import normalize
from .checkpoint import ALREADY, CHANGED, Checkpoint
from .enable import RunResult, snapshot

OK, OVERWRITTEN, FLAG_LOST, MISSING, ERROR = "ok", "overwritten", "flag_lost", "not_found", "error"


@dataclass
class VerifyReport:
    """Per-mailbox verification outcome."""

    items: list[dict] = field(default_factory=list)

    @property
    def counts(self) -> dict:
        """Outcome counts."""
        out: dict = {}
        for it in self.items:
            out[it["status"]] = out.get(it["status"], 0) + 1
        return dict(sorted(out.items()))

    @property
    def exit_code(self) -> int:
        """0 when every mailbox kept its values, 1 otherwise."""
        return 0 if all(i["status"] == OK for i in self.items) else 1

    def to_dict(self) -> dict:
        """JSON form."""
        return {"counts": self.counts, "items": self.items}


def baseline_from(run: RunResult | Checkpoint | str) -> dict[str, dict]:
    """identity -> expected state, from a run result, a checkpoint, or a checkpoint path: the read-back values of
    items the run changed or found already in the target state (enable runs only)."""
    if isinstance(run, str):
        run = Checkpoint.load(run)
    if isinstance(run, Checkpoint):
        records, target = list(run.done.values()), run.header.get("target")
    else:
        records, target = run.records, run.target
    if target is not True:
        return {}
    return {r["identity"]: r["after"] for r in records if r.get("status") in (CHANGED, ALREADY) and r.get("after")}


def capture_baseline(exchange, identities) -> dict[str, dict]:
    """identity -> current state, to verify against after later cloud edits (``verify --capture``)."""
    out = {}
    for ident in identities:
        try:
            out[ident] = snapshot(exchange.get_mailbox(ident))
        except NotFound:
            continue
    return out


def verify(
    run: RunResult | Checkpoint | str | None, exchange, *, baseline: dict[str, dict] | None = None
) -> VerifyReport:
    """Compare each mailbox's current flag and Exchange attributes with the expected state."""
    if baseline is not None:
        expected = baseline
    elif run is not None:
        expected = baseline_from(run)
    else:
        raise ValueError("verify needs a run result, a checkpoint (or its path) or a baseline")
    report = VerifyReport()
    for ident, want in expected.items():
        try:
            mbx = exchange.get_mailbox(ident)
        except NotFound:
            report.items.append({"identity": ident, "status": MISSING})
            continue
        except ApiError as exc:
            report.items.append({"identity": ident, "status": ERROR, "error": str(exc)})
            continue
        now = snapshot(mbx)
        diffs = [
            {"attribute": k, "expected": v, "actual": now.get(k)}
            for k, v in want.items()
            if k != "IsExchangeCloudManaged" and k in now and normalize(k, v) != normalize(k, now.get(k))
        ]
        if not now["IsExchangeCloudManaged"]:
            status = FLAG_LOST
        elif diffs:
            status = OVERWRITTEN
        else:
            status = OK
        item = {"identity": ident, "status": status, "displayName": mbx.get("DisplayName")}
        if diffs:
            item["differences"] = diffs
        report.items.append(item)
    return report
