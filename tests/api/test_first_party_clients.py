"""Microsoft's first-party public clients (Azure CLI, Microsoft Graph Command Line Tools, Exchange Online
PowerShell) sign in to every tenant without a registration, through the Flask test client: device code and
password grants on a tenant and on /organizations, refresh tokens, delegated scopes as for any public client;
secrets and client credentials are refused as for a public client; the tenant's app list does not hold them."""

from __future__ import annotations

import jwt
import pytest

from hybridsoa.mock.domain.entra.first_party import FIRST_PARTY_PUBLIC_CLIENTS
from hybridsoa.mock.domain.entra.login import DEVICE_CODE_GRANT
from hybridsoa.mock.domain.entra.tokens import verify_access_token

GRAPH = "https://graph.microsoft.com/.default"
EXCHANGE = "https://outlook.office365.com/.default"
BASE = "https://login.microsoftonline.com"
CLIENT_IDS = sorted(FIRST_PARTY_PUBLIC_CLIENTS)


@pytest.fixture
def tenants(make_tenant):
    return make_tenant(name="northwind", seed=21, mailboxes=1), make_tenant(name="fabrikam", seed=22, mailboxes=1)


def _claims(token):
    return jwt.decode(token, options={"verify_signature": False})


def _error(response, status, code):
    body = response.get_json()
    assert response.status_code == status, body
    assert body["error_codes"] == [code], body
    return body


@pytest.mark.parametrize("client_id", CLIENT_IDS)
@pytest.mark.parametrize("where", ["tenant", "organizations"])
def test_device_code_with_a_first_party_client(client, tenants, client_id, where):
    tenant = tenants[1]
    authority = tenant.id if where == "tenant" else "organizations"
    started = client.post(
        f"/{authority}/oauth2/v2.0/devicecode",
        base_url=BASE,
        data={"client_id": client_id, "scope": f"{GRAPH} openid profile offline_access"},
    )
    assert started.status_code == 200, started.get_json()
    flow = started.get_json()
    poll = {"grant_type": DEVICE_CODE_GRANT, "client_id": client_id, "device_code": flow["device_code"]}
    _error(client.post(f"/{authority}/oauth2/v2.0/token", data=poll), 400, 70016)
    user = tenant.user_by_upn(f"exchangeadmin@{tenant.domain}")
    approved = client.post(
        f"/_mock/tenants/{tenant.id}/devicecodes/{flow['user_code']}/approve",
        json={"userPrincipalName": user.user_principal_name},
    )
    assert approved.status_code == 200, approved.get_json()
    body = client.post(f"/{authority}/oauth2/v2.0/token", base_url=BASE, data=poll).get_json()
    caller = verify_access_token(tenant, body["access_token"], "graph")
    assert (caller.object_id, caller.app_id) == (user.id, client_id)
    claims = _claims(body["access_token"])
    assert claims["tid"] == tenant.id and claims["scp"]
    assert _claims(body["id_token"])["aud"] == client_id
    refreshed = client.post(
        f"/{authority}/oauth2/v2.0/token",
        data={
            "grant_type": "refresh_token",
            "client_id": client_id,
            "refresh_token": body["refresh_token"],
            "scope": EXCHANGE,
        },
    )
    assert refreshed.status_code == 200, refreshed.get_json()
    assert verify_access_token(tenant, refreshed.get_json()["access_token"], "exchange").object_id == user.id


@pytest.mark.parametrize("client_id", CLIENT_IDS)
@pytest.mark.parametrize("where", ["tenant", "organizations"])
def test_password_grant_with_a_first_party_client(client, tenants, client_id, where):
    tenant = tenants[0]
    authority = tenant.id if where == "tenant" else "organizations"
    user = tenant.user_by_upn(f"globaladmin@{tenant.domain}")
    response = client.post(
        f"/{authority}/oauth2/v2.0/token",
        base_url=BASE,
        data={
            "grant_type": "password",
            "client_id": client_id.upper(),
            "username": user.user_principal_name,
            "password": user.password,
            "scope": GRAPH,
        },
    )
    body = response.get_json()
    assert response.status_code == 200, body
    caller = verify_access_token(tenant, body["access_token"], "graph")
    assert (caller.object_id, caller.app_id) == (user.id, client_id)


def test_delegated_scopes_are_those_of_the_seeded_public_app(client, tenants):
    """The first-party client's token carries the same delegated scopes as the tenant's own app would get."""
    tenant = tenants[0]
    user = tenant.user_by_upn(f"globaladmin@{tenant.domain}")
    scopes = {}
    for client_id in (CLIENT_IDS[0], tenant.app_by_name("automation").app_id):
        body = client.post(
            f"/{tenant.id}/oauth2/v2.0/token",
            data={
                "grant_type": "password",
                "client_id": client_id,
                "username": user.user_principal_name,
                "password": user.password,
                "scope": GRAPH,
            },
        ).get_json()
        scopes[client_id] = (_claims(body["access_token"])["scp"], body["scope"])
    assert scopes[CLIENT_IDS[0]] == scopes[tenant.app_by_name("automation").app_id]


@pytest.mark.parametrize("client_id", CLIENT_IDS)
def test_a_first_party_client_is_public(client, tenants, client_id):
    tenant = tenants[0]
    user = tenant.user_by_upn(f"globaladmin@{tenant.domain}")
    # Client credentials without a credential: what every client without one gets (AADSTS7000218).
    _error(
        client.post(
            f"/{tenant.id}/oauth2/v2.0/token",
            data={"grant_type": "client_credentials", "client_id": client_id, "scope": GRAPH},
        ),
        401,
        7000218,
    )
    # A secret (even an empty-looking guess) or an assertion from a public client: AADSTS700025.
    for extra in (
        {"client_secret": "guess"},
        {
            "client_assertion": "a.b.c",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        },
    ):
        _error(
            client.post(
                f"/{tenant.id}/oauth2/v2.0/token",
                data=dict({"grant_type": "client_credentials", "client_id": client_id, "scope": GRAPH}, **extra),
            ),
            401,
            700025,
        )
        _error(
            client.post(
                f"/{tenant.id}/oauth2/v2.0/token",
                data=dict(
                    {
                        "grant_type": "password",
                        "client_id": client_id,
                        "username": user.user_principal_name,
                        "password": user.password,
                        "scope": GRAPH,
                    },
                    **extra,
                ),
            ),
            401,
            700025,
        )


def test_the_tenants_apps_do_not_list_first_party_clients(client, tenants):
    """They are a lookup fallback, not registrations: the control plane's list of apps stays the seeded one."""
    tenant = tenants[0]
    described = client.get(f"/_mock/tenants/{tenant.id}/credentials")
    assert described.status_code == 200, described.get_json()
    app_ids = {a["clientId"] for a in described.get_json()["apps"]}
    assert client.get(f"/_mock/tenants/{tenant.id}").get_json()["counts"]["apps"] == len(app_ids)
    assert tenant.app_by_name("automation").app_id in app_ids and not app_ids & set(CLIENT_IDS)
    assert not {a.app_id for a in tenant.apps} & set(CLIENT_IDS)


def test_an_unknown_client_id_is_still_700016(client, tenants):
    _error(
        client.post(
            f"/{tenants[0].id}/oauth2/v2.0/devicecode",
            data={"client_id": "04b07795-8ddb-461a-bbee-02f9e1bf7b47", "scope": GRAPH},
        ),
        400,
        700016,
    )
