"""pytest plugin shipped with hybridsoa (entry point ``pytest11``): one in-process HTTPS mock server per test
session and a fresh tenant per test, created and deleted over the control plane.

Fixtures:
- ``mock_server`` (session): ``.url``, ``.ca_path``, ``.registry``, ``.app`` of a threaded HTTPS server on a
  free loopback port, with its CA in a temporary directory; ``.ldap`` is its LDAP listener (``.ldap.url``,
  LDAPS and StartTLS), also named in every tenant's ``onprem.ldapUrl``.
- ``mock_session`` (session): a ``requests.Session`` that passes ``verify=<ca>`` on every request, so
  ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` cannot override it. Use it (or ``CaPinnedSession``) as MSAL's
  ``http_client``.
- ``tenant`` (function): the ``POST /_mock/tenants`` answer plus ``url`` and ``ca``; frozen clock by default.
  Options with ``@pytest.mark.mock_tenant(profile="preview", mailboxes=5, ...)`` (the JSON body's keys).
- ``tenant_factory`` (function): call it with body keys to create more tenants; all are deleted afterwards.
"""
from __future__ import annotations

import pytest

from .tls import CaPinnedSession


class MockTenantFactory:
    """Creates tenants over HTTP and deletes them at teardown (what ``tenant``/``tenant_factory`` use)."""

    def __init__(self, server, session):
        self.server, self.session = server, session
        self.created: list[str] = []

    def __call__(self, **body) -> dict:
        """``POST /_mock/tenants`` with ``body`` (``frozenClock`` defaults to true); returns the answer with
        ``url`` and ``ca`` added."""
        body.setdefault("frozenClock", True)
        response = self.session.post(f"{self.server.url}/_mock/tenants", json=body, timeout=300)
        if response.status_code != 201:
            raise AssertionError(f"creating a mock tenant failed: {response.status_code} {response.text}")
        answer = response.json()
        self.created.append(answer["tenantId"])
        answer["url"] = self.server.url
        answer["ca"] = self.server.ca_path
        return answer

    def cleanup(self) -> None:
        """Delete every tenant this factory created (already-deleted ones are fine)."""
        for tenant_id in self.created:
            self.session.delete(f"{self.server.url}/_mock/tenants/{tenant_id}", timeout=60)
        self.created.clear()


def pytest_configure(config):
    """Register the plugin's marker."""
    config.addinivalue_line("markers", "mock_tenant(**body): options for the hybridsoa `tenant` fixture "
                                       "(POST /_mock/tenants body keys, e.g. profile='preview', mailboxes=5)")


@pytest.fixture(scope="session")
def mock_server(tmp_path_factory):
    """A hybridsoa mock server over real TLS in this process, shared by the whole session."""
    from .api.onprem.ldap import start_ldap_listener
    from .domain.tenant import TenantRegistry
    from .server import InProcessServer
    server = InProcessServer(TenantRegistry(seed=20260105), data_dir=tmp_path_factory.mktemp("hybridsoa-tls"))
    server.start()
    # Every tenant's AD over LDAP too (credentials' onprem.ldapUrl), in this process like the HTTP server.
    server.ldap = start_ldap_listener(server.registry, server.host, 0, server.tls.ssl_context())
    try:
        yield server
    finally:
        server.ldap.stop()
        server.stop()


@pytest.fixture(scope="session")
def mock_session(mock_server):
    """A requests session pinned to the mock's CA on every request (immune to REQUESTS_CA_BUNDLE)."""
    session = CaPinnedSession(mock_server.ca_path, origin=mock_server.url)
    try:
        yield session
    finally:
        session.close()


@pytest.fixture
def tenant_factory(mock_server, mock_session):
    """Factory of fresh tenants on the shared server; everything it made is deleted after the test."""
    factory = MockTenantFactory(mock_server, mock_session)
    try:
        yield factory
    finally:
        factory.cleanup()


@pytest.fixture
def tenant(request, tenant_factory):
    """A fresh tenant (frozen clock) for this test: the ``POST /_mock/tenants`` answer plus ``url`` and ``ca``."""
    marker = request.node.get_closest_marker("mock_tenant")
    body = dict(marker.kwargs) if marker else {}
    return tenant_factory(**body)
