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
- ``mock_proxy`` (session): the mock's HTTPS proxy for the real Microsoft host names (``serve --proxy-port``)
  on a free port, same app and tenants: ``.url`` for ``HTTPS_PROXY``, ``.ca_bundle`` for
  ``REQUESTS_CA_BUNDLE``/``SSL_CERT_FILE``; ``proxy_environment(proxy)`` is that environment as a dict.

Option ``--hybridsoa-proxy``: the fixtures' clients go through the proxy, as unmodified code would. The session
gets ``HTTPS_PROXY``, ``REQUESTS_CA_BUNDLE``, ``SSL_CERT_FILE`` (and ``NO_PROXY`` for the loopback control
plane), and every ``tenant`` answer says ``cloud: "global"`` (plus ``proxy`` and ``caBundle``), so
``hybridsoa.sdk.connect_mock`` connects with the real global cloud's endpoints.
"""

from __future__ import annotations

import os

import pytest

from .tls import CaPinnedSession

PROXY_OPTION = "--hybridsoa-proxy"


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
        proxy = getattr(self.server, "proxy", None)
        if proxy is not None and getattr(self.server, "proxy_mode", False):
            answer.update(cloud="global", proxy=proxy.url, caBundle=proxy.ca_bundle)
        return answer

    def cleanup(self) -> None:
        """Delete every tenant this factory created (already-deleted ones are fine)."""
        for tenant_id in self.created:
            self.session.delete(f"{self.server.url}/_mock/tenants/{tenant_id}", timeout=60)
        self.created.clear()


def pytest_addoption(parser):
    """``--hybridsoa-proxy``: run the fixtures' clients through the mock's HTTPS proxy."""
    group = parser.getgroup("hybridsoa")
    group.addoption(
        PROXY_OPTION,
        action="store_true",
        default=False,
        help="run the hybridsoa fixtures' clients through the mock's HTTPS proxy: HTTPS_PROXY and "
        "REQUESTS_CA_BUNDLE/SSL_CERT_FILE are set and tenants use the real global cloud's URLs",
    )


def proxy_environment(proxy) -> dict:
    """The environment variables that send unmodified clients to the mock through ``proxy`` (a ``mock_proxy``):
    the proxy for https, the CA bundle, and the loopback control plane left direct."""
    loopback = "127.0.0.1,localhost,::1"
    no_proxy = ",".join(v for v in (os.environ.get("NO_PROXY") or os.environ.get("no_proxy"), loopback) if v)
    return {
        "HTTPS_PROXY": proxy.url,
        "https_proxy": proxy.url,
        "REQUESTS_CA_BUNDLE": proxy.ca_bundle,
        "SSL_CERT_FILE": proxy.ca_bundle,
        "NO_PROXY": no_proxy,
        "no_proxy": no_proxy,
    }


def pytest_configure(config):
    """Register the plugin's marker."""
    config.addinivalue_line(
        "markers",
        "mock_tenant(**body): options for the hybridsoa `tenant` fixture "
        "(POST /_mock/tenants body keys, e.g. profile='preview', mailboxes=5)",
    )


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
def mock_proxy(mock_server):
    """The mock's HTTPS proxy (CONNECT to the real Microsoft host names) on a free loopback port, into the same
    app: ``.url`` (``HTTPS_PROXY``) and ``.ca_bundle`` (local CA plus public roots)."""
    from .proxy import ProxyServer, proxy_hosts
    from .tls import ensure_ca_bundle, ensure_proxy_tls

    data_dir = mock_server.tls.ca.parent
    proxy = ProxyServer(mock_server.app, ensure_proxy_tls(data_dir, proxy_hosts()), mock_server.host, 0)
    proxy.ca_bundle = str(ensure_ca_bundle(data_dir))
    proxy.start()
    mock_server.proxy = proxy
    try:
        yield proxy
    finally:
        mock_server.proxy = None
        proxy.stop()


@pytest.fixture(scope="session", autouse=True)
def _hybridsoa_proxy_mode(request):
    """With ``--hybridsoa-proxy``: the proxy's environment for the whole session and tenants in cloud global."""
    if not request.config.getoption(PROXY_OPTION, default=False):
        yield
        return
    proxy = request.getfixturevalue("mock_proxy")
    server = request.getfixturevalue("mock_server")
    patch = pytest.MonkeyPatch()
    for name, value in proxy_environment(proxy).items():
        patch.setenv(name, value)
    server.proxy_mode = True
    try:
        yield
    finally:
        server.proxy_mode = False
        patch.undo()


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
