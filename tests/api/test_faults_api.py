"""Faults and throttling through the Flask app: each API answers in its own error shape, before dispatch."""

from __future__ import annotations

import pytest


@pytest.fixture
def contoso(client):
    """A tenant created over the control plane (frozen clock) and its credentials."""
    rv = client.post("/_mock/tenants", json={"name": "contoso", "seed": 42, "frozenClock": True, "mailboxes": 8})
    assert rv.status_code == 201
    return rv.get_json()


def _app(creds, name="automation"):
    return next(a for a in creds["apps"] if a["name"] == name)


def _graph_token(client, creds, app="automation"):
    a = _app(creds, app)
    rv = client.post(
        f"/{creds['tenantId']}/oauth2/v2.0/token",
        data={
            "client_id": a["clientId"],
            "client_secret": a["clientSecret"],
            "grant_type": "client_credentials",
            "scope": "https://graph.microsoft.com/.default",
        },
    )
    assert rv.status_code == 200, rv.get_json()
    return {"Authorization": f"Bearer {rv.get_json()['access_token']}"}


def _cloud_user(client, creds, headers):
    rv = client.get(f"/v1.0/users/globaladmin@{creds['domain']}", headers=headers)
    assert rv.status_code == 200
    return rv.get_json()["id"]


def _invoke(client, creds, headers, cmdlet, **params):
    return client.post(
        f"/adminapi/beta/{creds['tenantId']}/InvokeCommand",
        headers=headers,
        json={"CmdletInput": {"CmdletName": cmdlet, "Parameters": params}},
    )


def test_faults_are_off_by_default(client, contoso):
    rv = client.get("/_mock/tenants/contoso/faults")
    assert rv.get_json() == {"rules": [], "throttling": {"exchange": None, "graph": None, "identity": None}}


def test_graph_throttle_429_changes_nothing(client, contoso, registry):
    headers = _graph_token(client, contoso)
    uid = _cloud_user(client, contoso, headers)
    assert (
        client.post(
            "/_mock/tenants/contoso/faults", json={"throttle": {"api": "graph", "rate": 0.1, "burst": 1}}
        ).status_code
        == 201
    )
    assert client.patch(f"/v1.0/users/{uid}", json={"jobTitle": "one"}, headers=headers).status_code == 204
    audit_before = len(registry.get("contoso").audit.records)
    rv = client.patch(f"/v1.0/users/{uid}", json={"jobTitle": "two"}, headers=headers)
    assert rv.status_code == 429
    assert rv.headers["Retry-After"] == "10"
    body = rv.get_json()["error"]
    assert body["code"] == "TooManyRequests"
    assert set(body["innerError"]) == {"date", "request-id", "client-request-id"}
    tenant = registry.get("contoso")
    assert tenant.users.get(uid).job_title == "one"
    assert len(tenant.audit.records) == audit_before
    # Ten seconds of tenant time later one token is back.
    tenant.advance(10 / 60)
    assert client.patch(f"/v1.0/users/{uid}", json={"jobTitle": "three"}, headers=headers).status_code == 204


def test_graph_buckets_are_per_app(client, contoso):
    automation, reader = _graph_token(client, contoso), _graph_token(client, contoso, "graph-reader")
    client.post("/_mock/tenants/contoso/faults", json={"throttle": {"api": "graph", "rate": 1, "burst": 1}})
    assert client.get("/v1.0/users?$top=1", headers=automation).status_code == 200
    assert client.get("/v1.0/users?$top=1", headers=automation).status_code == 429
    assert client.get("/v1.0/users?$top=1", headers=reader).status_code == 200


def test_exchange_throttle_headers_and_429_shape(client, contoso, auth_header, registry):
    headers = auth_header(registry.get("contoso"), "exchange")
    client.post("/_mock/tenants/contoso/faults", json={"throttle": {"api": "exchange", "rate": 0.5, "burst": 2}})
    first = _invoke(client, contoso, headers, "Get-Mailbox", ResultSize=1)
    assert first.headers["Rate-Limit-Limit"] == "2"
    assert first.headers["Rate-Limit-Remaining"] == "1"
    assert first.headers["Rate-Limit-Reset"].endswith("Z")
    _invoke(client, contoso, headers, "Get-Mailbox", ResultSize=1)
    rv = _invoke(client, contoso, headers, "Set-Mailbox", Identity="x", IsExchangeCloudManaged=True)
    assert rv.status_code == 429
    assert rv.headers["Retry-After"] == "2"
    assert rv.headers["Rate-Limit-Remaining"] == "0"
    error = rv.get_json()["error"]
    assert error["code"] == "TooManyRequests"
    assert error["details"][0]["message"].count("|") == 2


def test_exchange_fault_matches_cmdlet_and_expires(client, contoso, auth_header, registry):
    headers = auth_header(registry.get("contoso"), "exchange")
    rule = client.post(
        "/_mock/tenants/contoso/faults", json={"api": "exchange", "cmdlet": "Set-*", "status": 503, "count": 2}
    ).get_json()
    assert rule["id"] and rule["count"] == 2
    assert _invoke(client, contoso, headers, "Get-Mailbox", ResultSize=1).status_code != 503
    for _ in range(2):
        rv = _invoke(client, contoso, headers, "Set-Mailbox", Identity="nobody", IsExchangeCloudManaged=True)
        assert rv.status_code == 503
        assert rv.headers["Retry-After"] == "5"
        error = rv.get_json()["error"]
        assert error["code"] == "ServiceUnavailable" and error["message"] == "Error executing cmdlet"
        assert error["details"][0]["message"].split("|")[1].endswith("ServerUnavailableException")
    assert (
        _invoke(client, contoso, headers, "Set-Mailbox", Identity="nobody", IsExchangeCloudManaged=True).status_code
        != 503
    )
    assert client.get("/_mock/tenants/contoso/faults").get_json()["rules"] == []


@pytest.mark.parametrize(
    "status,code",
    [(500, "generalException"), (502, "badGateway"), (503, "serviceNotAvailable"), (504, "gatewayTimeout")],
)
def test_graph_fault_statuses(client, contoso, status, code):
    headers = _graph_token(client, contoso)
    client.post(
        "/_mock/tenants/contoso/faults", json={"api": "graph", "path": "/users*", "method": "GET", "status": status}
    )
    rv = client.get("/v1.0/users", headers=headers)
    assert rv.status_code == status and rv.get_json()["error"]["code"] == code
    assert client.get("/v1.0/organization", headers=headers).status_code == 200


def test_identity_throttle_client_credentials_and_password(client, contoso):
    a = _app(contoso)
    client.post("/_mock/tenants/contoso/faults", json={"throttle": {"api": "identity", "rate": 0.01, "burst": 1}})
    form = {
        "client_id": a["clientId"],
        "client_secret": a["clientSecret"],
        "grant_type": "client_credentials",
        "scope": "https://graph.microsoft.com/.default",
    }
    assert client.post("/contoso/oauth2/v2.0/token", data=form).status_code == 200
    rv = client.post("/contoso/oauth2/v2.0/token", data=form)
    assert rv.status_code == 429 and rv.headers["Retry-After"] == "100"
    body = rv.get_json()
    assert body["error"] == "temporarily_unavailable" and body["error_codes"] == [50196]
    # Discovery documents are never throttled.
    assert client.get("/contoso/v2.0/.well-known/openid-configuration").status_code == 200
    user = contoso["users"][0]
    rv = client.post(
        "/contoso/oauth2/v2.0/token",
        data={
            "client_id": a["clientId"],
            "grant_type": "password",
            "username": user["userPrincipalName"],
            "password": user["password"],
            "scope": "https://graph.microsoft.com/.default",
        },
    )
    assert rv.status_code == 400
    assert rv.get_json()["error"] == "invalid_grant" and "AADSTS50196" in rv.get_json()["error_description"]


def test_identity_fault_5xx(client, contoso):
    a = _app(contoso)
    client.post("/_mock/tenants/contoso/faults", json={"api": "identity", "status": 500, "app": "automation"})
    rv = client.post(
        "/contoso/oauth2/v2.0/token",
        data={
            "client_id": a["clientId"],
            "client_secret": a["clientSecret"],
            "grant_type": "client_credentials",
            "scope": "https://graph.microsoft.com/.default",
        },
    )
    assert rv.status_code == 500
    assert rv.get_json()["error"] == "server_error" and rv.get_json()["error_codes"] == [90033]


def test_latency_rule_is_journaled(client, contoso):
    headers = _graph_token(client, contoso)
    client.post("/_mock/tenants/contoso/faults", json={"api": "graph", "latencyMs": [1, 3]})
    assert client.get("/v1.0/organization", headers=headers).status_code == 200
    entry = client.get("/_mock/tenants/contoso/requests?api=graph").get_json()["value"][-1]
    assert entry["fault"]["kind"] == "latency" and 1 <= entry["fault"]["latencyMs"] <= 3


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"status": 418},
        {"latencyMs": [9, 1]},
        {"api": "smtp", "status": 500},
        {"throttle": {"api": "graph", "rate": 0, "burst": 1}},
        {"probability": 2},
    ],
)
def test_bad_fault_bodies_are_400_and_change_nothing(client, contoso, body):
    rv = client.post("/_mock/tenants/contoso/faults", json=body)
    assert rv.status_code == 400 and rv.get_json()["error"]["code"] in ("ValidationError", "InvalidArgument")
    assert client.get("/_mock/tenants/contoso/faults").get_json()["rules"] == []


def test_delete_rule_throttle_and_all(client, contoso):
    rule = client.post("/_mock/tenants/contoso/faults", json={"status": 500}).get_json()
    client.post("/_mock/tenants/contoso/faults", json={"throttle": {"api": "exchange", "rate": 1, "burst": 1}})
    assert client.delete(f"/_mock/tenants/contoso/faults/{rule['id']}").status_code == 204
    assert client.delete(f"/_mock/tenants/contoso/faults/{rule['id']}").status_code == 404
    assert client.delete("/_mock/tenants/contoso/faults/throttling/exchange").status_code == 204
    assert client.delete("/_mock/tenants/contoso/faults/throttling/smtp").status_code == 400
    client.post("/_mock/tenants/contoso/faults", json={"status": 500})
    assert client.delete("/_mock/tenants/contoso/faults").status_code == 204
    assert client.get("/_mock/tenants/contoso/faults").get_json()["rules"] == []
    assert client.get("/_mock/tenants/nope/faults").status_code == 404
