"""Shared fixtures. The HTTPS server and the per-test ``tenant`` come from our own pytest plugin
(``hybridsoa.mock.pytest_plugin``); the fixtures here are for domain and Flask-test-client tests."""

from __future__ import annotations

import pytest

from hybridsoa.mock.app import create_app
from hybridsoa.mock.domain.entra.tokens import issue_access_token
from hybridsoa.mock.domain.tenant import TenantRegistry


@pytest.fixture
def registry():
    """A fresh, empty tenant registry (deterministic seed)."""
    return TenantRegistry(seed=1234)


@pytest.fixture
def make_tenant(registry):
    """Factory: create a tenant with a frozen clock (tests move time with ``tenant.advance``). Its mailboxes are
    the uniform seed (every one a synced, licensed remote mailbox) the tests written before the realistic mix
    (issue 18) count on; pass ``options={"mix": "realistic"}`` for the default tenant a user gets."""

    def _make(**kwargs):
        kwargs.setdefault("frozen_clock", True)
        kwargs.setdefault("mailboxes", 25)
        kwargs["options"] = {"mix": "uniform", **(kwargs.get("options") or {})}
        return registry.create(**kwargs)

    return _make


@pytest.fixture
def domain_tenant(make_tenant):
    """A seeded tenant (25 mailboxes of all four types, initial sync done), frozen clock."""
    return make_tenant(name="contoso", seed=42)


@pytest.fixture(scope="session")
def _shared_app():
    # Building Flask's URL map compiles every rule (~0.5 s per app), which dominated the API suite's time.
    return create_app(TenantRegistry(seed=0))


@pytest.fixture
def app(registry, _shared_app):
    """The Flask app over the test registry (one app object per session; each test gets its own registry)."""
    _shared_app.extensions["hybridsoa"] = registry
    return _shared_app


@pytest.fixture
def client(app):
    """Flask test client."""
    return app.test_client()


@pytest.fixture
def set_mailbox():
    """``Set-Mailbox -IsExchangeCloudManaged`` through a test client (InvokeCommand):
    ``set_mailbox(client, tenant_id, headers, identity, value)`` returns the response."""

    def _set(client, tenant_id, headers, identity, value):
        return client.post(
            f"/adminapi/beta/{tenant_id}/InvokeCommand",
            headers=headers,
            json={
                "CmdletInput": {
                    "CmdletName": "Set-Mailbox",
                    "Parameters": {"Identity": identity, "IsExchangeCloudManaged": value},
                }
            },
        )

    return _set


@pytest.fixture
def auth_header():
    """Factory: ``Authorization`` header with a token minted by the domain (no HTTP token call).

    ``auth_header(tenant, "exchange", app="automation")`` for app-only,
    ``auth_header(tenant, "graph", user="globaladmin")`` for delegated (the seeded public-client app is used).
    """

    def _make(tenant, api: str, *, app: str = "automation", user: str | None = None, scopes=None):
        application = tenant.app_by_name(app)
        principal = (
            tenant.user_by_upn(f"{user}@{tenant.domain}")
            if user and "@" not in user
            else (tenant.user_by_upn(user) if user else None)
        )
        token, _ = issue_access_token(tenant, api, app=application, user=principal, scopes=scopes)
        return {"Authorization": f"Bearer {token}"}

    return _make
