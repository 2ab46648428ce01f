"""Real clients against the mock over real TLS sockets: MSAL (confidential with secret and certificate,
public by username/password and device code), azure-identity, Entra's errors, and the REQUESTS_CA_BUNDLE trap."""

from __future__ import annotations

import contextlib
import io
import json
import warnings

import certifi
import jwt
import msal
import pytest
import requests

from hybridsoa.mock.server import msal_snippet
from hybridsoa.mock.tls import CaPinnedSession

pytestmark = pytest.mark.e2e

GRAPH = ["https://graph.microsoft.com/.default"]
EXCHANGE = ["https://outlook.office365.com/.default"]
ERROR_KEYS = {"error", "error_description", "error_codes", "timestamp", "trace_id", "correlation_id", "error_uri"}


def _app(tenant, name="automation"):
    return next(a for a in tenant["apps"] if a["name"] == name)


def _user(tenant, name="globaladmin"):
    return next(u for u in tenant["users"] if u["userPrincipalName"].split("@")[0] == name)


def _authority(tenant):
    return f"{tenant['url']}/{tenant['tenantId']}"


def _claims(token):
    return jwt.decode(token, options={"verify_signature": False})


@pytest.fixture
def ca_bundle_env(monkeypatch):
    """The environment our machines and CI have: both variables point at a public CA bundle."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())
    monkeypatch.setenv("CURL_CA_BUNDLE", certifi.where())


@pytest.fixture
def no_ca_bundle_env(monkeypatch):
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)


class RecordingSession(CaPinnedSession):
    """Pinned session that keeps the form bodies it posts (to look at MSAL's client assertions)."""

    def __init__(self, ca, origin):
        super().__init__(ca, origin=origin)
        self.posted: list[dict] = []

    def post(self, url, data=None, **kwargs):
        if isinstance(data, dict):
            self.posted.append(dict(data))
        return super().post(url, data=data, **kwargs)


def test_the_trap_verify_alone_is_overridden_by_requests_ca_bundle(tenant, ca_bundle_env):
    app = _app(tenant)
    with pytest.raises(requests.exceptions.SSLError):
        msal.ConfidentialClientApplication(
            app["clientId"],
            client_credential=app["clientSecret"],
            authority=_authority(tenant),
            instance_discovery=False,
            verify=tenant["ca"],
        )


def test_confidential_client_with_secret_and_verify(tenant, no_ca_bundle_env):
    app = _app(tenant)
    client = msal.ConfidentialClientApplication(
        app["clientId"],
        client_credential=app["clientSecret"],
        authority=_authority(tenant),
        instance_discovery=False,
        verify=tenant["ca"],
    )
    result = client.acquire_token_for_client(scopes=EXCHANGE)
    assert "access_token" in result, result
    claims = _claims(result["access_token"])
    assert claims["aud"] == "https://outlook.office365.com" and claims["tid"] == tenant["tenantId"]
    assert "Exchange.ManageAsApp" in claims["roles"] and claims["appid"] == app["clientId"]


def test_confidential_client_with_secret_and_pinned_http_client(tenant, mock_session, ca_bundle_env):
    app = _app(tenant, "graph-reader")
    client = msal.ConfidentialClientApplication(
        app["clientId"],
        client_credential=app["clientSecret"],
        authority=_authority(tenant),
        instance_discovery=False,
        http_client=mock_session,
    )
    result = client.acquire_token_for_client(scopes=GRAPH)
    assert _claims(result["access_token"])["roles"] == ["User.Read.All"]


@pytest.mark.parametrize(
    "credential,alg,header",
    [
        (lambda a: {"private_key": a["privateKeyPem"], "thumbprint": a["thumbprint"]}, "RS256", "x5t"),
        (lambda a: {"private_key": a["privateKeyPem"], "public_certificate": a["certificatePem"]}, "PS256", "x5t#S256"),
    ],
)
def test_confidential_client_with_certificate(tenant, ca_bundle_env, credential, alg, header):
    app = _app(tenant)
    session = RecordingSession(tenant["ca"], tenant["url"])
    client = msal.ConfidentialClientApplication(
        app["clientId"],
        client_credential=credential(app),
        authority=_authority(tenant),
        instance_discovery=False,
        http_client=session,
    )
    result = client.acquire_token_for_client(scopes=GRAPH)
    assert "access_token" in result, result
    assertion = next(p["client_assertion"] for p in session.posted if "client_assertion" in p)
    assert jwt.get_unverified_header(assertion)["alg"] == alg and header in jwt.get_unverified_header(assertion)
    assert _claims(result["access_token"])["oid"] == app["servicePrincipalId"]


def test_certificate_of_another_app_is_refused(tenant, mock_session):
    app, other = _app(tenant), _app(tenant, "graph-reader")
    client = msal.ConfidentialClientApplication(
        app["clientId"],
        client_credential={"private_key": other["privateKeyPem"], "thumbprint": other["thumbprint"]},
        authority=_authority(tenant),
        instance_discovery=False,
        http_client=mock_session,
    )
    result = client.acquire_token_for_client(scopes=GRAPH)
    assert result["error"] == "invalid_client" and result["error_codes"] == [700027]


@pytest.mark.filterwarnings("ignore:This API has been deprecated:DeprecationWarning")
def test_public_client_username_password_then_silent_for_exchange(tenant, ca_bundle_env):
    app, user = _app(tenant), _user(tenant, "exchangeadmin")
    client = msal.PublicClientApplication(
        app["clientId"],
        authority=_authority(tenant),
        instance_discovery=False,
        http_client=CaPinnedSession(tenant["ca"], origin=tenant["url"]),
    )
    result = client.acquire_token_by_username_password(user["userPrincipalName"], user["password"], scopes=GRAPH)
    assert "access_token" in result, result
    claims = _claims(result["access_token"])
    assert claims["upn"] == user["userPrincipalName"] and "scp" in claims
    assert "29232cdf-9323-42fd-ade2-1d097af3e4de" in claims["wids"]
    accounts = client.get_accounts()
    assert [a["username"] for a in accounts] == [user["userPrincipalName"]]
    silent = client.acquire_token_silent(EXCHANGE, account=accounts[0])
    assert _claims(silent["access_token"])["aud"] == "https://outlook.office365.com"


@pytest.mark.filterwarnings("ignore:This API has been deprecated:DeprecationWarning")
def test_public_client_wrong_password_is_invalid_grant(tenant, mock_session):
    app, user = _app(tenant), _user(tenant)
    client = msal.PublicClientApplication(
        app["clientId"], authority=_authority(tenant), instance_discovery=False, http_client=mock_session
    )
    result = client.acquire_token_by_username_password(user["userPrincipalName"], "not-it", scopes=GRAPH)
    assert result["error"] == "invalid_grant" and result["error_codes"] == [50126]


def test_public_client_device_code(tenant, mock_session, ca_bundle_env):
    app, user = _app(tenant), _user(tenant, "hybridadmin")
    client = msal.PublicClientApplication(
        app["clientId"], authority=_authority(tenant), instance_discovery=False, http_client=mock_session
    )
    flow = client.initiate_device_flow(scopes=GRAPH)
    assert flow["user_code"] in flow["message"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MSAL warns that we poll sooner than `interval`; the clock is ours
        pending = client.acquire_token_by_device_flow(flow, exit_condition=lambda _flow: True)
        assert pending["error"] == "authorization_pending" and pending["error_codes"] == [70016]
        approved = mock_session.post(
            f"{tenant['url']}/_mock/tenants/{tenant['tenantId']}/devicecodes/{flow['user_code']}/approve",
            json={"userPrincipalName": user["userPrincipalName"]},
        )
        assert approved.status_code == 200
        result = client.acquire_token_by_device_flow(flow, exit_condition=lambda _flow: True)
    assert "access_token" in result, result
    assert _claims(result["access_token"])["upn"] == user["userPrincipalName"]
    assert result["id_token_claims"]["preferred_username"] == user["userPrincipalName"]


def test_azure_identity_client_secret_credential(tenant, ca_bundle_env):
    from azure.identity import ClientSecretCredential

    app = _app(tenant)
    credential = ClientSecretCredential(
        tenant["tenantId"],
        app["clientId"],
        app["clientSecret"],
        authority=tenant["url"],
        disable_instance_discovery=True,
        connection_verify=tenant["ca"],
    )
    token = credential.get_token("https://graph.microsoft.com/.default")
    claims = _claims(token.token)
    assert claims["aud"] == "https://graph.microsoft.com" and claims["appid"] == app["clientId"]
    assert token.expires_on > 0


def test_azure_identity_certificate_credential(tenant, ca_bundle_env):
    from azure.identity import CertificateCredential

    app = _app(tenant)
    pem = (app["privateKeyPem"] + app["certificatePem"]).encode()
    credential = CertificateCredential(
        tenant["tenantId"],
        app["clientId"],
        certificate_data=pem,
        authority=tenant["url"],
        disable_instance_discovery=True,
        connection_verify=tenant["ca"],
    )
    assert _claims(credential.get_token("https://outlook.office365.com/.default").token)["tid"] == tenant["tenantId"]


def test_tokens_verify_against_the_published_jwks(tenant, mock_session):
    app = _app(tenant)
    config = mock_session.get(f"{_authority(tenant)}/v2.0/.well-known/openid-configuration").json()
    keys = mock_session.get(config["jwks_uri"]).json()["keys"]
    token = mock_session.post(
        config["token_endpoint"],
        data={
            "grant_type": "client_credentials",
            "client_id": app["clientId"],
            "client_secret": app["clientSecret"],
            "scope": GRAPH[0],
        },
    ).json()["access_token"]
    key = jwt.PyJWK(next(k for k in keys if k["kid"] == jwt.get_unverified_header(token)["kid"])).key
    claims = jwt.decode(
        token,
        key,
        algorithms=["RS256"],
        audience="https://graph.microsoft.com",
        options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
    )
    assert claims["tid"] == tenant["tenantId"]


@pytest.mark.parametrize(
    "case,status,error,code",
    [
        ("bad_secret", 401, "invalid_client", 7000215),
        ("unknown_app", 400, "unauthorized_client", 700016),
        ("missing_scope", 400, "invalid_request", 900144),
        ("wrong_password", 400, "invalid_grant", 50126),
    ],
)
def test_entra_errors_over_tls(tenant, mock_session, case, status, error, code):
    app, user = _app(tenant), _user(tenant)
    forms = {
        "bad_secret": {
            "grant_type": "client_credentials",
            "client_id": app["clientId"],
            "client_secret": "wrong",
            "scope": GRAPH[0],
        },
        "unknown_app": {
            "grant_type": "client_credentials",
            "client_id": "9f9f9f9f-0000-4000-8000-000000000000",
            "client_secret": "x",
            "scope": GRAPH[0],
        },
        "missing_scope": {
            "grant_type": "client_credentials",
            "client_id": app["clientId"],
            "client_secret": app["clientSecret"],
        },
        "wrong_password": {
            "grant_type": "password",
            "client_id": app["clientId"],
            "username": user["userPrincipalName"],
            "password": "wrong",
            "scope": GRAPH[0],
        },
    }
    response = mock_session.post(f"{_authority(tenant)}/oauth2/v2.0/token", data=forms[case])
    body = response.json()
    assert response.status_code == status and set(body) == ERROR_KEYS
    assert body["error"] == error and body["error_codes"] == [code]
    assert body["error_description"].startswith(f"AADSTS{code}: ") and body["trace_id"] in body["error_description"]


def test_msal_reports_entra_errors_unchanged(tenant, mock_session):
    app = _app(tenant)
    client = msal.ConfidentialClientApplication(
        app["clientId"],
        client_credential="wrong-secret",
        authority=_authority(tenant),
        instance_discovery=False,
        http_client=mock_session,
    )
    result = client.acquire_token_for_client(scopes=GRAPH)
    assert result["error"] == "invalid_client" and result["error_codes"] == [7000215]


def test_the_printed_snippet_works_with_the_ca_bundle_variables_set(tenant, ca_bundle_env):
    app = _app(tenant)
    code = msal_snippet(tenant["url"], tenant["ca"], tenant["tenantId"], app["clientId"], app["clientSecret"])
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "<snippet>", "exec"), {"__name__": "snippet"})  # noqa: S102 -- our own snippet
    assert out.getvalue().startswith("eyJ"), out.getvalue()


def test_tenant_fixture_shape(tenant, mock_server):
    assert tenant["url"] == mock_server.url and tenant["ca"] == mock_server.ca_path
    assert mock_server.registry.find(tenant["tenantId"]) is not None
    assert json.loads(json.dumps(tenant))["domain"].endswith(".onmicrosoft.com")


@pytest.mark.mock_tenant(profile="preview", mailboxes=3)
def test_tenant_fixture_takes_options_from_the_marker(tenant, mock_server):
    live = mock_server.registry.get(tenant["tenantId"])
    assert tenant["profile"] == "preview" and len(live.ad_users) == 3 and live.clock.frozen


def test_tenant_factory_tenants_are_deleted_afterwards(tenant_factory, mock_server):
    made = tenant_factory(name="short-lived", mailboxes=0)
    assert mock_server.registry.find(made["tenantId"]) is not None
    tenant_factory.cleanup()
    assert mock_server.registry.find(made["tenantId"]) is None
