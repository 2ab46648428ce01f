"""login.microsoftonline.com endpoints through the Flask test client: discovery, JWKS, token errors in
Entra's shape, device code, user realm and the device login page."""

from __future__ import annotations

import pytest

from hybridsoa.mock.domain.entra.login import DEVICE_CODE_GRANT
from hybridsoa.mock.domain.entra.tokens import verify_access_token

ERROR_KEYS = {"error", "error_description", "error_codes", "timestamp", "trace_id", "correlation_id", "error_uri"}
GRAPH = "https://graph.microsoft.com/.default"


@pytest.fixture
def tenant(make_tenant):
    return make_tenant(name="northwind", seed=11, mailboxes=2)


def _token(client, tenant, **form):
    return client.post(f"/{tenant.id}/oauth2/v2.0/token", data=form)


def _assert_entra_error(response, status, error, code):
    body = response.get_json()
    assert response.status_code == status, body
    assert set(body) == ERROR_KEYS
    assert body["error"] == error and body["error_codes"] == [code]
    assert body["error_description"].startswith(f"AADSTS{code}: ")
    assert response.headers["Cache-Control"].startswith("no-store")
    return body


@pytest.mark.parametrize("key", ["id", "domain"])
def test_openid_configuration_by_tenant_id_or_domain(client, tenant, key):
    response = client.get(
        f"/{getattr(tenant, key)}/v2.0/.well-known/openid-configuration", base_url="https://127.0.0.1:8443"
    )
    assert response.status_code == 200
    config = response.get_json()
    assert config["token_endpoint"] == f"https://127.0.0.1:8443/{tenant.id}/oauth2/v2.0/token"
    assert config["authorization_endpoint"].startswith("https://127.0.0.1:8443/")
    assert "max-age=86400" in response.headers["Cache-Control"]


def test_unknown_tenant_in_discovery_is_aadsts90002(client):
    response = client.get("/nowhere.onmicrosoft.com/v2.0/.well-known/openid-configuration")
    body = _assert_entra_error(response, 400, "invalid_tenant", 90002)
    assert "Tenant 'nowhere.onmicrosoft.com' not found" in body["error_description"]


def test_unknown_tenant_at_token_endpoint(client):
    response = client.post("/00000000-0000-4000-8000-000000000000/oauth2/v2.0/token", data={"grant_type": "x"})
    _assert_entra_error(response, 400, "invalid_request", 90002)


def test_jwks_serves_the_signing_key(client, tenant):
    response = client.get(f"/{tenant.id}/discovery/v2.0/keys")
    keys = response.get_json()["keys"]
    assert response.status_code == 200 and keys[0]["kid"] == tenant.signing_kid and keys[0]["kty"] == "RSA"


def test_client_credentials_over_http(client, tenant):
    app = tenant.app_by_name("automation")
    response = _token(
        client,
        tenant,
        grant_type="client_credentials",
        client_id=app.app_id,
        client_secret=app.client_secret,
        scope=GRAPH,
    )
    body = response.get_json()
    assert response.status_code == 200 and response.headers["Cache-Control"].startswith("no-store")
    assert verify_access_token(tenant, body["access_token"], "graph").app_id == app.app_id


def test_client_secret_basic_is_accepted(client, tenant):
    app = tenant.app_by_name("graph-reader")
    response = client.post(
        f"/{tenant.domain}/oauth2/v2.0/token",
        data={"grant_type": "client_credentials", "scope": GRAPH},
        auth=(app.app_id, app.client_secret),
    )
    assert response.status_code == 200


def test_bad_secret_401_with_correlation_id_echoed(client, tenant):
    app = tenant.app_by_name("automation")
    correlation = "0b5c4a0e-2b7f-4c3e-9d1a-7e6f5a4b3c2d"
    response = client.post(
        f"/{tenant.id}/oauth2/v2.0/token",
        data={"grant_type": "client_credentials", "client_id": app.app_id, "client_secret": "x", "scope": GRAPH},
        headers={"client-request-id": correlation},
    )
    body = _assert_entra_error(response, 401, "invalid_client", 7000215)
    assert body["correlation_id"] == correlation and f"Correlation ID: {correlation}" in body["error_description"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_unknown_app_400(client, tenant):
    response = _token(
        client,
        tenant,
        grant_type="client_credentials",
        client_id="11111111-1111-4111-8111-111111111111",
        client_secret="x",
        scope=GRAPH,
    )
    _assert_entra_error(response, 400, "unauthorized_client", 700016)


def test_missing_scope_400(client, tenant):
    app = tenant.app_by_name("automation")
    response = _token(
        client, tenant, grant_type="client_credentials", client_id=app.app_id, client_secret=app.client_secret
    )
    _assert_entra_error(response, 400, "invalid_request", 900144)


def test_wrong_password_400(client, tenant):
    app = tenant.app_by_name("automation")
    response = _token(
        client,
        tenant,
        grant_type="password",
        client_id=app.app_id,
        username=f"globaladmin@{tenant.domain}",
        password="wrong",
        scope=GRAPH,
    )
    _assert_entra_error(response, 400, "invalid_grant", 50126)


def test_json_body_is_not_a_token_request(client, tenant):
    response = client.post(f"/{tenant.id}/oauth2/v2.0/token", json={"grant_type": "client_credentials"})
    _assert_entra_error(response, 400, "invalid_request", 900144)


def test_get_on_token_endpoint_is_refused(client, tenant):
    _assert_entra_error(client.get(f"/{tenant.id}/oauth2/v2.0/token"), 400, "invalid_request", 900561)


def test_errors_leave_the_tenant_unchanged(client, tenant):
    before = (len(tenant.users), len(tenant.apps), len(tenant.role_assignments))
    for form in ({"grant_type": "password", "username": "a", "password": "b"}, {"grant_type": "nope"}, {}):
        assert _token(client, tenant, **form).status_code in (400, 401)
    assert (len(tenant.users), len(tenant.apps), len(tenant.role_assignments)) == before


def test_device_code_endpoint_and_polling(client, tenant):
    app = tenant.app_by_name("automation")
    started = client.post(
        f"/{tenant.id}/oauth2/v2.0/devicecode",
        data={"client_id": app.app_id, "scope": f"{GRAPH} offline_access"},
        base_url="https://localhost:9443",
    ).get_json()
    assert started["verification_uri"] == "https://localhost:9443/devicelogin"
    poll = {"grant_type": DEVICE_CODE_GRANT, "client_id": app.app_id, "device_code": started["device_code"]}
    _assert_entra_error(_token(client, tenant, **poll), 400, "authorization_pending", 70016)
    approved = client.post(
        f"/_mock/tenants/{tenant.id}/devicecodes/{started['user_code']}/approve",
        json={"userPrincipalName": f"exchangeadmin@{tenant.domain}"},
    )
    assert approved.status_code == 200 and approved.get_json()["status"] == "approved"
    response = _token(client, tenant, **poll)
    assert response.status_code == 200 and "refresh_token" in response.get_json()


def test_device_code_endpoint_errors(client, tenant):
    _assert_entra_error(
        client.post(f"/{tenant.id}/oauth2/v2.0/devicecode", data={"scope": GRAPH}), 400, "invalid_request", 900144
    )
    _assert_entra_error(
        client.post(
            f"/{tenant.id}/oauth2/v2.0/devicecode", data={"client_id": tenant.app_by_name("automation").app_id}
        ),
        400,
        "invalid_request",
        900144,
    )


def test_user_realm(client, tenant):
    body = client.get(f"/common/userrealm/user@{tenant.domain}?api-version=1.0").get_json()
    assert body["account_type"] == "Managed" and body["domain_name"] == tenant.domain


def test_device_login_page_approves_with_a_password(client, tenant):
    app = tenant.app_by_name("automation")
    started = client.post(
        f"/{tenant.id}/oauth2/v2.0/devicecode", data={"client_id": app.app_id, "scope": GRAPH}
    ).get_json()
    assert client.get("/devicelogin").status_code == 200
    user = tenant.user_by_upn(f"helpdesk@{tenant.domain}")
    wrong = client.post(
        "/devicelogin",
        data={"user_code": started["user_code"], "username": user.user_principal_name, "password": "nope"},
    )
    assert wrong.status_code == 400
    right = client.post(
        "/devicelogin",
        data={
            "user_code": started["user_code"].lower(),
            "username": user.user_principal_name,
            "password": user.password,
        },
    )
    assert right.status_code == 200 and b"Signed in" in right.data
    token = _token(
        client, tenant, grant_type=DEVICE_CODE_GRANT, client_id=app.app_id, device_code=started["device_code"]
    ).get_json()
    assert verify_access_token(tenant, token["access_token"], "graph").object_id == user.id


def test_interactive_sign_in_is_a_well_formed_501(client, tenant):
    response = client.get(f"/{tenant.id}/oauth2/v2.0/authorize?client_id=x&response_type=code")
    assert response.status_code == 501 and response.get_json()["error"] == "not_implemented"
