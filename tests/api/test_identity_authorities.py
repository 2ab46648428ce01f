"""The multi-tenant authorities through the Flask test client: ``/common`` and ``/organizations`` resolve the
tenant from the user (password: the UPN's domain; device code: the tenant the user approves in), serve OpenID
metadata with the ``{tenantid}`` issuer, refuse client credentials (AADSTS50059); ``/consumers`` refuses the
mock's work apps (AADSTS90130)."""

from __future__ import annotations

import jwt
import pytest

from hybridsoa.mock.domain.entra.login import DEVICE_CODE_GRANT
from hybridsoa.mock.domain.entra.tokens import verify_access_token

GRAPH = "https://graph.microsoft.com/.default"
BASE = "https://login.microsoftonline.com"


@pytest.fixture
def tenants(make_tenant):
    """Two tenants seeded alike, so the same client id exists in both (as a multi-tenant app would)."""
    return make_tenant(name="northwind", seed=11, mailboxes=2), make_tenant(name="fabrikam", seed=11, mailboxes=2)


def _error(response, status, error, code):
    body = response.get_json()
    assert response.status_code == status, body
    assert body["error"] == error and body["error_codes"] == [code], body
    assert body["error_description"].startswith(f"AADSTS{code}: ")
    return body


def _claims(token):
    return jwt.decode(token, options={"verify_signature": False})


@pytest.mark.parametrize("authority", ["common", "organizations"])
def test_openid_configuration_has_the_tenantid_placeholder(client, tenants, authority):
    response = client.get(f"/{authority}/v2.0/.well-known/openid-configuration", base_url=BASE)
    assert response.status_code == 200
    config = response.get_json()
    assert config["issuer"] == f"{BASE}/{{tenantid}}/v2.0"
    assert config["token_endpoint"] == f"{BASE}/{authority}/oauth2/v2.0/token"
    assert config["device_authorization_endpoint"] == f"{BASE}/{authority}/oauth2/v2.0/devicecode"
    assert config["jwks_uri"] == f"{BASE}/{authority}/discovery/v2.0/keys"
    assert config["tenant_region_scope"] is None
    keys = client.get(f"/{authority}/discovery/v2.0/keys").get_json()["keys"]
    assert {k["kid"] for k in keys} == {t.signing_kid for t in tenants}
    assert {k["issuer"] for k in keys} == {f"{BASE}/{{tenantid}}/v2.0"}


def test_consumers_metadata_names_the_microsoft_account_tenant(client):
    config = client.get("/consumers/v2.0/.well-known/openid-configuration", base_url=BASE).get_json()
    assert config["issuer"] == f"{BASE}/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0"


@pytest.mark.parametrize("authority", ["common", "organizations", "Organizations"])
def test_password_grant_resolves_the_tenant_from_the_upn(client, tenants, authority):
    for tenant in tenants:
        app, user = tenant.app_by_name("automation"), tenant.user_by_upn(f"exchangeadmin@{tenant.domain}")
        response = client.post(
            f"/{authority}/oauth2/v2.0/token",
            base_url=BASE,
            data={
                "grant_type": "password",
                "client_id": app.app_id,
                "username": user.user_principal_name,
                "password": user.password,
                "scope": f"{GRAPH} openid profile offline_access",
            },
        )
        body = response.get_json()
        assert response.status_code == 200, body
        assert verify_access_token(tenant, body["access_token"], "graph").object_id == user.id
        id_token = _claims(body["id_token"])
        assert (id_token["tid"], id_token["iss"]) == (tenant.id, f"{BASE}/{tenant.id}/v2.0")
        # The refresh token is redeemed on the same authority, in the same tenant.
        refreshed = client.post(
            f"/{authority}/oauth2/v2.0/token",
            base_url=BASE,
            data={
                "grant_type": "refresh_token",
                "client_id": app.app_id,
                "refresh_token": body["refresh_token"],
                "scope": GRAPH,
            },
        )
        assert refreshed.status_code == 200
        assert _claims(refreshed.get_json()["access_token"])["tid"] == tenant.id


def test_password_grant_errors_on_organizations(client, tenants):
    tenant = tenants[0]
    app = tenant.app_by_name("automation")
    form = {"grant_type": "password", "client_id": app.app_id, "scope": GRAPH}
    unknown = client.post(
        "/organizations/oauth2/v2.0/token", data=dict(form, username="someone@nowhere.example", password="x")
    )
    assert "nowhere.example directory" in _error(unknown, 400, "invalid_grant", 50034)["error_description"]
    wrong = client.post(
        "/organizations/oauth2/v2.0/token", data=dict(form, username=f"globaladmin@{tenant.domain}", password="wrong")
    )
    _error(wrong, 400, "invalid_grant", 50126)
    _error(
        client.post("/organizations/oauth2/v2.0/token", data=dict(form, password="x")), 400, "invalid_request", 900144
    )
    _error(client.post("/common/oauth2/v2.0/token", data={"client_id": app.app_id}), 400, "invalid_request", 900144)
    _error(client.post("/common/oauth2/v2.0/token", data={"grant_type": "nope"}), 400, "unsupported_grant_type", 70003)
    _error(
        client.post("/common/oauth2/v2.0/token", data={"grant_type": "refresh_token", "refresh_token": "x.y"}),
        400,
        "invalid_grant",
        9002313,
    )
    _error(client.get("/common/oauth2/v2.0/token"), 400, "invalid_request", 900561)


@pytest.mark.parametrize("authority", ["common", "organizations"])
def test_client_credentials_need_a_tenant(client, tenants, authority):
    app = tenants[0].app_by_name("automation")
    response = client.post(
        f"/{authority}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": app.app_id,
            "client_secret": app.client_secret,
            "scope": GRAPH,
        },
    )
    body = _error(response, 400, "invalid_request", 50059)
    assert "No tenant-identifying information" in body["error_description"]


def test_consumers_refuses_work_apps(client, tenants):
    app = tenants[0].app_by_name("automation")
    for path in ("token", "devicecode"):
        response = client.post(
            f"/consumers/oauth2/v2.0/{path}",
            data={
                "grant_type": "password",
                "client_id": app.app_id,
                "username": f"globaladmin@{tenants[0].domain}",
                "password": "x",
                "scope": GRAPH,
            },
        )
        body = _error(response, 400, "invalid_request", 90130)
        assert (
            f"Application '{app.app_id}' (automation) is not supported over the /common or /consumers"
            in body["error_description"]
        )
    unknown = client.post(
        "/consumers/oauth2/v2.0/token",
        data={"grant_type": "password", "client_id": "11111111-1111-4111-8111-111111111111"},
    )
    _error(unknown, 400, "unauthorized_client", 700016)


@pytest.mark.parametrize("signs_in", [0, 1])
def test_device_code_on_organizations_goes_to_the_tenant_the_user_signs_in_to(client, tenants, signs_in):
    tenant = tenants[signs_in]
    app = tenant.app_by_name("automation")
    started = client.post(
        "/organizations/oauth2/v2.0/devicecode",
        base_url=BASE,
        data={"client_id": app.app_id, "scope": f"{GRAPH} openid offline_access"},
    ).get_json()
    assert started["verification_uri"] == f"{BASE}/devicelogin"
    poll = {"grant_type": DEVICE_CODE_GRANT, "client_id": app.app_id, "device_code": started["device_code"]}
    _error(client.post("/organizations/oauth2/v2.0/token", data=poll), 400, "authorization_pending", 70016)
    user = tenant.user_by_upn(f"helpdesk@{tenant.domain}")
    signed_in = client.post(
        "/devicelogin",
        data={"user_code": started["user_code"], "username": user.user_principal_name, "password": user.password},
    )
    assert signed_in.status_code == 200 and b"Signed in" in signed_in.data
    body = client.post("/organizations/oauth2/v2.0/token", base_url=BASE, data=poll).get_json()
    assert verify_access_token(tenant, body["access_token"], "graph").object_id == user.id
    assert _claims(body["id_token"])["iss"] == f"{BASE}/{tenant.id}/v2.0"
    _error(client.post("/organizations/oauth2/v2.0/token", data=poll), 400, "invalid_grant", 70000)


def test_device_code_on_common_approved_on_the_control_plane(client, tenants):
    tenant = tenants[1]
    app = tenant.app_by_name("automation")
    started = client.post("/common/oauth2/v2.0/devicecode", data={"client_id": app.app_id, "scope": GRAPH}).get_json()
    approved = client.post(
        f"/_mock/tenants/{tenant.id}/devicecodes/{started['user_code']}/approve",
        json={"userPrincipalName": f"exchangeadmin@{tenant.domain}"},
    )
    assert approved.status_code == 200
    body = client.post(
        "/common/oauth2/v2.0/token",
        data={"grant_type": DEVICE_CODE_GRANT, "client_id": app.app_id, "device_code": started["device_code"]},
    ).get_json()
    assert _claims(body["access_token"])["tid"] == tenant.id


def test_device_code_errors_on_organizations(client, tenants):
    _error(client.post("/organizations/oauth2/v2.0/devicecode", data={"scope": GRAPH}), 400, "invalid_request", 900144)
    unknown = client.post(
        "/organizations/oauth2/v2.0/devicecode",
        data={"client_id": "11111111-1111-4111-8111-111111111111", "scope": GRAPH},
    )
    _error(unknown, 400, "unauthorized_client", 700016)
    _error(
        client.post("/organizations/oauth2/v2.0/token", data={"grant_type": DEVICE_CODE_GRANT, "device_code": "nope"}),
        400,
        "invalid_grant",
        70000,
    )


@pytest.mark.parametrize(
    "form",
    [
        {"grant_type": "password", "username": "@@@", "password": "x"},
        {"grant_type": "password", "username": "a@" + "b" * 5000, "password": "x"},
        {"grant_type": "refresh_token", "refresh_token": "e30.e30."},  # a JWT with no tid
        {"grant_type": "refresh_token", "refresh_token": "\u00e9" * 300},
        {"grant_type": "urn:ietf:params:oauth:grant-type:device_code", "device_code": "D" * 10000},
        {"grant_type": "client_credentials"},
    ],
)
def test_hostile_forms_on_organizations_are_4xx(client, tenants, form):
    response = client.post("/organizations/oauth2/v2.0/token", data=form)
    assert 400 <= response.status_code < 500 and response.get_json()["error_codes"]
