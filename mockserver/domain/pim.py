"""Privileged Identity Management for directory roles: eligibility and assignment schedule requests
(stub: the Graph issue fills this in)."""
from __future__ import annotations


class PimState:
    """One tenant's PIM schedule requests and schedules."""

    def __init__(self, tenant):
        self.tenant = tenant

    def to_dict(self) -> dict:
        """Serializable state."""
        return {}

    def load(self, data: dict) -> None:
        """Restore from :meth:`to_dict` output."""
