"""Fault injection and throttling rules per tenant (stub: the faults issue fills this in)."""
from __future__ import annotations


class FaultState:
    """One tenant's fault rules and token buckets."""

    def __init__(self, tenant):
        self.tenant = tenant

    def check(self, api: str, *, method: str = "POST", path: str = "", cmdlet: str | None = None,
              caller=None):
        """Return a fault decision for this request, or None to let it through."""
        return None

    def to_dict(self) -> dict:
        """Serializable state."""
        return {}

    def load(self, data: dict) -> None:
        """Restore from :meth:`to_dict` output."""
