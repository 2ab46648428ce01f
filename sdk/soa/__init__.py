"""SOA workflows for ``IsExchangeCloudManaged``: inventory, preflight, plan, enable/disable, verify, drift, revert."""

from .checkpoint import Backup, Checkpoint
from .drift import DriftReport, drift
from .enable import AdaptiveRate, RunResult, disable, enable, run_toggle
from .inventory import InventoryRow, eligibility, inventory, summarize
from .plan import Plan, plan, read_identities_csv
from .preflight import PreflightReport, preflight
from .revert import ReconcileError, revert
from .verify import VerifyReport, capture_baseline, verify

__all__ = [
    "AdaptiveRate",
    "Backup",
    "Checkpoint",
    "DriftReport",
    "InventoryRow",
    "Plan",
    "PreflightReport",
    "ReconcileError",
    "RunResult",
    "VerifyReport",
    "capture_baseline",
    "disable",
    "drift",
    "eligibility",
    "enable",
    "inventory",
    "plan",
    "preflight",
    "read_identities_csv",
    "revert",
    "run_toggle",
    "summarize",
    "verify",
]
