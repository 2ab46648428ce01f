"""Helpers every blueprint shares: the registry, tenant lookup from the URL, bearer-token extraction."""

from __future__ import annotations

from flask import current_app, request

from ..domain.tenant import Tenant, TenantRegistry
from . import tenant_hold


def registry() -> TenantRegistry:
    """The tenant registry of the running app."""
    return current_app.extensions["hybridsoa"]


def find_tenant_running_due_cycles(key: str) -> Tenant | None:
    """Tenant by id, domain or name, with its clock caught up (due sync cycles run first); None if unknown. Its
    lock is held for the rest of the request (``middleware.begin`` took it when the request names the tenant)."""
    tenant = registry().find(key)
    if tenant is not None:
        tenant_hold.hold(request.environ, tenant)
        tenant.catch_up()
    return tenant


def bearer_token(environ: dict | None = None) -> str | None:
    """The token of an ``Authorization: Bearer ...`` header (of ``environ``, else the current request), or None."""
    header = (environ if environ is not None else request.environ).get("HTTP_AUTHORIZATION", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()
