"""Exchange Online RBAC: role groups, management roles and entries, assignments, scopes (stub: the RBAC issue
fills this in)."""
from __future__ import annotations


class ExchangeRbac:
    """One tenant's Exchange RBAC state."""

    def __init__(self, tenant):
        self.tenant = tenant

    def to_dict(self) -> dict:
        """Serializable state."""
        return {}

    def load(self, data: dict) -> None:
        """Restore from :meth:`to_dict` output."""
