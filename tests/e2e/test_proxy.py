"""Zero code changes: unmodified clients with their defaults (login.microsoftonline.com, graph.microsoft.com,
outlook.office365.com) reach the mock through its HTTPS proxy with nothing but HTTPS_PROXY and a CA bundle in
REQUESTS_CA_BUNDLE/SSL_CERT_FILE: MSAL (secret, certificate, username/password with user-realm discovery, device
code), azure-identity, msgraph-sdk, raw requests to the Exchange admin API, the SDK and CLI with cloud "global",
and the pytest plugin's --hybridsoa-proxy. Tenants, faults and the journal are the direct port's. Other hosts,
plain HTTP and garbage are refused by the proxy, never forwarded and never a 5xx."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import ssl
import subprocess
import sys
import textwrap
import warnings

import certifi
import jwt
import msal
import pytest
import requests

from hybridsoa.mock.pytest_plugin import MockTenantFactory, proxy_environment

pytestmark = pytest.mark.e2e

GRAPH = ["https://graph.microsoft.com/.default"]
EXCHANGE = ["https://outlook.office365.com/.default"]
LOGIN = "https://login.microsoftonline.com"


def _app(tenant, name="automation"):
    return next(a for a in tenant["apps"] if a["name"] == name)


def _user(tenant, name="globaladmin"):
    return next(u for u in tenant["users"] if u["userPrincipalName"].split("@")[0] == name)


def _claims(token):
    return jwt.decode(token, options={"verify_signature": False})


@pytest.fixture(scope="module")
def tenant(mock_server, mock_session):
    """One tenant for this module's read-mostly tests (creating one per test would dominate their time)."""
    factory = MockTenantFactory(mock_server, mock_session)
    try:
        yield factory()
    finally:
        factory.cleanup()


@pytest.fixture
def proxied(monkeypatch, mock_proxy):
    """The whole configuration a user makes: the proxy and the CA bundle in the environment, nothing else."""
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    for name, value in proxy_environment(mock_proxy).items():
        monkeypatch.setenv(name, value)
    return mock_proxy


@pytest.fixture
def seen(monkeypatch, mock_server):
    """(Host, path) of every request the app receives during the test."""
    calls: list[tuple[str, str]] = []
    inner = mock_server.app.wsgi_app

    def spy(environ, start_response):
        calls.append((environ.get("HTTP_HOST", ""), environ["PATH_INFO"]))
        return inner(environ, start_response)

    monkeypatch.setattr(mock_server.app, "wsgi_app", spy)
    return calls


# ------------------------------------------------------------------------------------------------ MSAL
def test_msal_client_secret_with_the_default_authority(tenant, proxied, seen):
    app = _app(tenant)
    client = msal.ConfidentialClientApplication(
        app["clientId"], client_credential=app["clientSecret"], authority=f"{LOGIN}/{tenant['tenantId']}"
    )
    result = client.acquire_token_for_client(scopes=GRAPH)
    assert "access_token" in result, result
    assert _claims(result["access_token"])["tid"] == tenant["tenantId"]
    assert ("login.microsoftonline.com", f"/{tenant['tenantId']}/v2.0/.well-known/openid-configuration") in seen
    assert ("login.microsoftonline.com", f"/{tenant['tenantId']}/oauth2/v2.0/token") in seen


def test_msal_certificate_with_the_default_authority(tenant, proxied):
    app = _app(tenant)
    client = msal.ConfidentialClientApplication(
        app["clientId"],
        client_credential={"private_key": app["privateKeyPem"], "thumbprint": app["thumbprint"]},
        authority=f"{LOGIN}/{tenant['tenantId']}",
    )
    result = client.acquire_token_for_client(scopes=EXCHANGE)
    assert "access_token" in result, result
    assert _claims(result["access_token"])["aud"] == "https://outlook.office365.com"


@pytest.mark.filterwarnings("ignore:This API has been deprecated:DeprecationWarning")
def test_msal_username_password_discovers_the_user_realm(tenant, proxied, seen):
    app, user = _app(tenant), _user(tenant, "exchangeadmin")
    client = msal.PublicClientApplication(app["clientId"], authority=f"{LOGIN}/{tenant['tenantId']}")
    result = client.acquire_token_by_username_password(user["userPrincipalName"], user["password"], scopes=GRAPH)
    assert "access_token" in result, result
    assert _claims(result["access_token"])["upn"] == user["userPrincipalName"]
    # The call that goes nowhere on the direct port (MSAL drops the authority's port for it).
    assert ("login.microsoftonline.com", f"/common/userrealm/{user['userPrincipalName']}") in seen


def test_msal_device_code(tenant, proxied, mock_session):
    app, user = _app(tenant), _user(tenant, "hybridadmin")
    client = msal.PublicClientApplication(app["clientId"], authority=f"{LOGIN}/{tenant['tenantId']}")
    flow = client.initiate_device_flow(scopes=GRAPH)
    assert flow["user_code"] in flow["message"]
    approved = mock_session.post(
        f"{tenant['url']}/_mock/tenants/{tenant['tenantId']}/devicecodes/{flow['user_code']}/approve",
        json={"userPrincipalName": user["userPrincipalName"]},
    )
    assert approved.status_code == 200
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MSAL warns that we poll sooner than `interval`; the code is approved
        result = client.acquire_token_by_device_flow(flow, exit_condition=lambda _flow: True)
    assert _claims(result["access_token"])["upn"] == user["userPrincipalName"]


@pytest.mark.filterwarnings("ignore:This API has been deprecated:DeprecationWarning")
@pytest.mark.parametrize("authority", ["organizations", "common"])
def test_msal_username_password_on_a_multi_tenant_authority(tenant, proxied, seen, authority):
    app, user = _app(tenant), _user(tenant, "exchangeadmin")
    client = msal.PublicClientApplication(app["clientId"], authority=f"{LOGIN}/{authority}")
    result = client.acquire_token_by_username_password(user["userPrincipalName"], user["password"], scopes=GRAPH)
    assert "access_token" in result, result
    claims = _claims(result["access_token"])
    assert (claims["tid"], claims["upn"]) == (tenant["tenantId"], user["userPrincipalName"])
    assert result["id_token_claims"]["iss"] == f"{LOGIN}/{tenant['tenantId']}/v2.0"
    assert ("login.microsoftonline.com", f"/{authority}/oauth2/v2.0/token") in seen


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_azure_identity_username_password_defaults_to_organizations(tenant, proxied, seen):
    from azure.identity import UsernamePasswordCredential

    app, user = _app(tenant), _user(tenant, "exchangeadmin")
    credential = UsernamePasswordCredential(app["clientId"], user["userPrincipalName"], user["password"])
    claims = _claims(credential.get_token(GRAPH[0]).token)
    assert (claims["tid"], claims["upn"]) == (tenant["tenantId"], user["userPrincipalName"])
    assert ("login.microsoftonline.com", "/organizations/oauth2/v2.0/token") in seen


def test_azure_identity_device_code_defaults_to_organizations(tenant, proxied, seen, mock_session):
    from azure.identity import DeviceCodeCredential

    app, user = _app(tenant), _user(tenant, "hybridadmin")

    def approve(verification_uri, user_code, _expires_on):
        # The user signs in at the verification page; the control plane stands in for them.
        assert verification_uri == f"{LOGIN}/devicelogin"
        answer = mock_session.post(
            f"{tenant['url']}/_mock/tenants/{tenant['tenantId']}/devicecodes/{user_code}/approve",
            json={"userPrincipalName": user["userPrincipalName"]},
        )
        assert answer.status_code == 200, answer.text

    credential = DeviceCodeCredential(client_id=app["clientId"], prompt_callback=approve)
    claims = _claims(credential.get_token(GRAPH[0]).token)
    assert (claims["tid"], claims["upn"]) == (tenant["tenantId"], user["userPrincipalName"])
    assert ("login.microsoftonline.com", "/organizations/oauth2/v2.0/devicecode") in seen


def test_azure_identity_device_code_with_its_default_client_id(tenant, proxied, seen, mock_session):
    """``DeviceCodeCredential`` with no client id or tenant (only the prompt callback that stands in for the user):
    /organizations and the Azure CLI's first-party client id, which Entra knows in every tenant."""
    from azure.identity import DeviceCodeCredential

    user = _user(tenant, "exchangeadmin")

    def approve(verification_uri, user_code, _expires_on):
        answer = mock_session.post(
            f"{tenant['url']}/_mock/tenants/{tenant['tenantId']}/devicecodes/{user_code}/approve",
            json={"userPrincipalName": user["userPrincipalName"]},
        )
        assert answer.status_code == 200, answer.text

    credential = DeviceCodeCredential(prompt_callback=approve)
    claims = _claims(credential.get_token(EXCHANGE[0]).token)
    assert (claims["tid"], claims["upn"]) == (tenant["tenantId"], user["userPrincipalName"])
    assert claims["appid"] == "04b07795-8ddb-461a-bbee-02f9e1bf7b46"
    assert ("login.microsoftonline.com", "/organizations/oauth2/v2.0/devicecode") in seen


@pytest.mark.filterwarnings("ignore:Using /common or /organizations authority:DeprecationWarning")
def test_msal_client_credentials_on_organizations_is_refused_as_entra_does(tenant, proxied):
    app = _app(tenant)
    client = msal.ConfidentialClientApplication(
        app["clientId"], client_credential=app["clientSecret"], authority=f"{LOGIN}/organizations"
    )
    result = client.acquire_token_for_client(scopes=GRAPH)
    assert result.get("error_codes") == [50059], result


def test_instance_discovery_answers_as_entra_does(proxied, tenant):
    ask = f"{LOGIN}/common/discovery/instance?api-version=1.1&authorization_endpoint="
    known = requests.get(ask + f"{LOGIN}/{tenant['tenantId']}/oauth2/v2.0/authorize", timeout=30)
    assert known.status_code == 200
    body = known.json()
    assert body["tenant_discovery_endpoint"] == f"{LOGIN}/{tenant['tenantId']}/v2.0/.well-known/openid-configuration"
    assert "login.windows.net" in body["metadata"][0]["aliases"]
    unknown = requests.get(ask + "https://login.example.com/common/oauth2/v2.0/authorize", timeout=30)
    assert unknown.status_code == 400 and unknown.json()["error"] == "invalid_instance"
    assert unknown.json()["error_codes"] == [50049]


# ------------------------------------------------------------------------------------ azure-identity, Graph
def test_azure_identity_credentials_with_their_defaults(tenant, proxied):
    from azure.identity import CertificateCredential, ClientSecretCredential

    app = _app(tenant)
    secret = ClientSecretCredential(tenant["tenantId"], app["clientId"], app["clientSecret"])
    assert _claims(secret.get_token(GRAPH[0]).token)["aud"] == "https://graph.microsoft.com"
    cert = CertificateCredential(
        tenant["tenantId"], app["clientId"], certificate_data=(app["privateKeyPem"] + app["certificatePem"]).encode()
    )
    assert _claims(cert.get_token(EXCHANGE[0]).token)["tid"] == tenant["tenantId"]


def test_msgraph_sdk_with_its_default_base_url(tenant, proxied):
    from azure.identity import ClientSecretCredential
    from msgraph import GraphServiceClient

    app = _app(tenant)
    client = GraphServiceClient(ClientSecretCredential(tenant["tenantId"], app["clientId"], app["clientSecret"]))

    users = asyncio.run(client.users.get())
    assert {u.user_principal_name for u in users.value} >= {u["userPrincipalName"] for u in tenant["users"]}


def test_raw_requests_to_the_exchange_admin_api(tenant, proxied):
    app = _app(tenant)
    token = msal.ConfidentialClientApplication(
        app["clientId"], client_credential=app["clientSecret"], authority=f"{LOGIN}/{tenant['tenantId']}"
    ).acquire_token_for_client(scopes=EXCHANGE)["access_token"]
    answer = requests.post(
        f"https://outlook.office365.com/adminapi/beta/{tenant['tenantId']}/InvokeCommand",
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
        json={"CmdletInput": {"CmdletName": "Get-Mailbox", "Parameters": {"ResultSize": 3}}},
    )
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["value"]) == 3


# ------------------------------------------------------------------------------------------ SDK and CLI
def test_sdk_with_cloud_global(tenant, proxied):
    from hybridsoa.sdk.config import Settings, connect

    app = _app(tenant)
    conn = connect(
        Settings(
            cloud="global", tenant=tenant["tenantId"], client_id=app["clientId"], client_secret=app["clientSecret"]
        )
    )
    try:
        assert conn.exchange.get_organization_config()["Identity"]
        assert conn.graph.get_organization()["id"] == tenant["tenantId"]
    finally:
        conn.close()


def test_sdk_username_password_with_no_client_id_uses_the_exchange_module_client(tenant, proxied):
    """The SDK's delegated default is the Exchange Online PowerShell module's first-party public client."""
    from hybridsoa.sdk.config import Settings, connect

    user = _user(tenant, "exchangeadmin")
    conn = connect(
        Settings(
            cloud="global", tenant=tenant["tenantId"], username=user["userPrincipalName"], password=user["password"]
        )
    )
    try:
        assert conn.exchange.get_organization_config()["Identity"]
        claims = conn.tokens.claims("exchange")
        assert (claims["appid"], claims["upn"]) == ("fb78d390-0c51-40cd-8e17-fdbfab77341b", user["userPrincipalName"])
    finally:
        conn.close()


def test_cli_with_cloud_global(tenant, proxied):
    app = _app(tenant)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HYBRIDSOA_")}
    env.update(
        HYBRIDSOA_CLOUD="global",
        HYBRIDSOA_TENANT=tenant["tenantId"],
        HYBRIDSOA_CLIENT_ID=app["clientId"],
        HYBRIDSOA_CLIENT_SECRET=app["clientSecret"],
    )
    run = subprocess.run(
        [sys.executable, "-m", "hybridsoa.sdk", "preflight", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["ok"] is True


@pytest.mark.slow  # a second pytest process: interpreter, plugins, its own mock server
def test_the_plugin_option_runs_the_fixtures_clients_through_the_proxy(tmp_path):
    (tmp_path / "test_inner.py").write_text(
        textwrap.dedent("""
        import os
        from hybridsoa.sdk import connect_mock

        def test_inner(tenant, mock_proxy):
            assert tenant["cloud"] == "global" and os.environ["HTTPS_PROXY"] == mock_proxy.url
            conn = connect_mock(tenant["url"], tenant["ca"], tenant)
            assert conn.cloud.name == "global"
            assert conn.graph.get_organization()["id"] == tenant["tenantId"]
            seen = mock_proxy.served
            assert conn.exchange.get_organization_config()["Identity"]
            assert mock_proxy.served > seen
    """)
    )
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--hybridsoa-proxy",
            str(tmp_path / "test_inner.py"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "1 passed" in run.stdout


# ------------------------------------------------------------------------------------- one process, shared
def test_journal_and_faults_are_the_direct_ports(tenant_factory, proxied, mock_session):
    tenant = tenant_factory()
    base = f"{tenant['url']}/_mock/tenants/{tenant['tenantId']}"
    rule = mock_session.post(f"{base}/faults", json={"api": "graph", "status": 503, "count": 1, "retryAfter": 0})
    assert rule.status_code in (200, 201), rule.text
    app = _app(tenant)
    token = msal.ConfidentialClientApplication(
        app["clientId"], client_credential=app["clientSecret"], authority=f"{LOGIN}/{tenant['tenantId']}"
    ).acquire_token_for_client(scopes=GRAPH)["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    first = requests.get("https://graph.microsoft.com/v1.0/organization", headers=headers, timeout=30)
    second = requests.get("https://graph.microsoft.com/v1.0/organization", headers=headers, timeout=30)
    assert (first.status_code, second.status_code) == (503, 200)
    journal = mock_session.get(f"{base}/requests", params={"api": "graph", "path": "/v1.0/organization"}).json()
    assert [e["status"] for e in journal["value"]] == [503, 200]


# --------------------------------------------------------------------------------------------- refusals
def _raw(proxy, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=30) as sock:
        sock.sendall(data)
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)


def test_connect_to_another_host_is_403_naming_it(mock_proxy):
    answer = _raw(mock_proxy, b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 403 ") and b"example.com" in head.split(b"\r\n")[0]
    assert b"example.com" in body and b"Nothing is forwarded to the internet" in body


def test_requests_names_the_refused_host(proxied):
    with pytest.raises(requests.exceptions.ProxyError, match=r"403.*example\.com"):
        requests.get("https://example.com/", timeout=30)


def test_connect_to_an_emulated_host_on_another_port_is_403(mock_proxy):
    answer = _raw(mock_proxy, b"CONNECT graph.microsoft.com:8443 HTTP/1.1\r\nHost: graph.microsoft.com\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 403 ") and b"port 443 only" in answer


def test_plain_http_proxy_requests_are_refused(mock_proxy):
    answer = requests.get("http://graph.microsoft.com/v1.0/users", proxies={"http": mock_proxy.url}, timeout=30)
    assert answer.status_code == 403 and "plain-HTTP proxy requests are refused" in answer.text
    origin = _raw(mock_proxy, b"GET /v1.0/users HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert origin.startswith(b"HTTP/1.1 400 ")


@pytest.mark.parametrize(
    "data,status",
    [
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64, b"400"),  # TLS sent to the proxy port
        (b"GARBAGE\r\n\r\n", b"400"),
        (b"CONNECT graph.microsoft.com HTTP/1.1\r\nHost: x\r\n\r\n", b"400"),
        (b"CONNECT graph.microsoft.com:443 HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 200_000 + b"\r\n\r\n", b"431"),
        (b"CONNECT graph.microsoft.com:443 HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n", b"400"),
    ],
)
def test_garbage_is_a_4xx_never_a_5xx(mock_proxy, data, status):
    answer = _raw(mock_proxy, data)
    assert answer.split(b" ", 2)[1] == status, answer[:200]


def test_a_request_for_another_host_inside_a_tunnel_is_421(proxied):
    answer = requests.get("https://graph.microsoft.com/v1.0/organization", headers={"Host": "example.com"}, timeout=30)
    assert answer.status_code == 421 and "example.com" in answer.text


def test_a_client_that_does_not_trust_the_ca_fails_the_handshake_and_the_proxy_goes_on(proxied):
    with pytest.raises(requests.exceptions.SSLError):
        requests.get("https://graph.microsoft.com/v1.0/organization", verify=certifi.where(), timeout=30)
    assert requests.get(f"{LOGIN}/common/discovery/instance", timeout=30).status_code == 400


def test_the_proxy_speaks_tls_with_the_microsoft_names(mock_proxy):
    context = ssl.create_default_context(cafile=mock_proxy.ca_bundle)
    with socket.create_connection(("127.0.0.1", mock_proxy.port), timeout=30) as sock:
        sock.sendall(b"CONNECT outlook.office365.com:443 HTTP/1.1\r\nHost: outlook.office365.com:443\r\n\r\n")
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(1)
        assert head.startswith(b"HTTP/1.1 200 ")
        with context.wrap_socket(sock, server_hostname="outlook.office365.com") as tls:
            assert tls.version() in ("TLSv1.2", "TLSv1.3") and tls.selected_alpn_protocol() in (None, "http/1.1")


# ------------------------------------------------------------------------------------------ as users serve it
@pytest.mark.slow  # a real `hybridsoa-mock serve` (granian worker process)
def test_serve_with_proxy_port_shares_the_direct_ports_tenants(tmp_path, monkeypatch):
    from hybridsoa.mock.server import DEMO_TENANT_ID
    from tests.e2e.test_identity_serve import Served
    from tests.e2e.wire import free_port

    port, proxy_port = free_port(), free_port()
    served = Served("--port", str(port), "--proxy-port", str(proxy_port), "--data-dir", str(tmp_path))
    try:
        assert served.field("HTTPS proxy").startswith(f"http://127.0.0.1:{proxy_port} ")
        bundle = served.field("CA bundle").split()[0]
        assert bundle == str((tmp_path / "ca-bundle.pem").resolve())
        assert (
            f"export HTTPS_PROXY=http://127.0.0.1:{proxy_port} REQUESTS_CA_BUNDLE={bundle} "
            f"SSL_CERT_FILE={bundle}" in "\n".join(served.banner)
        )
        creds = requests.get(
            f"https://127.0.0.1:{port}/_mock/tenants/{DEMO_TENANT_ID}/credentials",
            verify=str(tmp_path / "ca.pem"),
            timeout=30,
        ).json()
        monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
        for name, value in {
            "HTTPS_PROXY": f"http://127.0.0.1:{proxy_port}",
            "REQUESTS_CA_BUNDLE": bundle,
            "NO_PROXY": "127.0.0.1",
        }.items():
            monkeypatch.setenv(name, value)
            monkeypatch.setenv(name.lower(), value)
        app = next(a for a in creds["apps"] if a["name"] == "automation")
        result = msal.ConfidentialClientApplication(
            app["clientId"], client_credential=app["clientSecret"], authority=f"{LOGIN}/{DEMO_TENANT_ID}"
        ).acquire_token_for_client(scopes=GRAPH)
        org = requests.get(
            "https://graph.microsoft.com/v1.0/organization",
            timeout=30,
            headers={"Authorization": f"Bearer {result['access_token']}"},
        )
        assert org.status_code == 200 and org.json()["value"][0]["id"] == DEMO_TENANT_ID
        refused = _raw(type("P", (), {"port": proxy_port})(), b"CONNECT example.com:443 HTTP/1.1\r\n\r\n")
        assert refused.startswith(b"HTTP/1.1 403 ") and b"example.com" in refused
    finally:
        served.stop()


# --------------------------------------------------------------------------------------- hostile connections
def _tunnel_open(proxy) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", proxy.port), timeout=30)
    sock.sendall(b"CONNECT graph.microsoft.com:443 HTTP/1.1\r\nHost: graph.microsoft.com:443\r\n\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 200 ")
    return sock


def test_stalled_and_reset_handshakes_do_not_stop_the_proxy(proxied):
    stalled = _tunnel_open(proxied)  # never starts TLS
    reset = _tunnel_open(proxied)
    reset.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")  # half a ClientHello, then a reset
    reset.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    reset.close()
    try:
        assert requests.get(f"{LOGIN}/common/discovery/instance", timeout=30).status_code == 400
    finally:
        stalled.close()


def test_connections_beyond_the_bound_get_503(mock_server):
    from hybridsoa.mock.proxy import ProxyServer, proxy_hosts
    from hybridsoa.mock.tls import ensure_proxy_tls

    proxy = ProxyServer(
        mock_server.app, ensure_proxy_tls(mock_server.tls.ca.parent, proxy_hosts()), max_connections=2
    ).start()
    held = [socket.create_connection(("127.0.0.1", proxy.port), timeout=30) for _ in range(2)]
    try:
        # The refusal comes at accept, before any byte is read: this client reads it without sending (bytes
        # sent into a socket the proxy has already closed would reset the connection).
        answer = _raw(proxy, b"")
        assert answer.startswith(b"HTTP/1.1 503 ") and b"Retry-After: 1" in answer
    finally:
        for sock in held:
            sock.close()
        proxy.stop()
