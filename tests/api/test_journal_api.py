"""The request journal over HTTP: every emulated-API request recorded, secrets redacted, filters and counts."""

from __future__ import annotations

import json

import pytest


@pytest.fixture
def contoso(client):
    rv = client.post("/_mock/tenants", json={"name": "contoso", "seed": 42, "frozenClock": True, "mailboxes": 6})
    return rv.get_json()


def _token(client, creds, scope="https://graph.microsoft.com/.default"):
    a = creds["apps"][0]
    rv = client.post(
        "/contoso/oauth2/v2.0/token",
        data={
            "client_id": a["clientId"],
            "client_secret": a["clientSecret"],
            "grant_type": "client_credentials",
            "scope": scope,
        },
    )
    return rv.get_json()["access_token"]


def test_each_api_is_journaled_with_caller_and_secrets_redacted(client, contoso):
    token = _token(client, contoso)
    client.get(
        "/v1.0/users?$top=2&$select=id", headers={"Authorization": f"Bearer {token}", "client-request-id": "corr-1"}
    )
    exo = _token(client, contoso, "https://outlook.office365.com/.default")
    client.post(
        "/adminapi/beta/contoso.onmicrosoft.com/InvokeCommand",
        headers={"Authorization": f"Bearer {exo}"},
        json={"CmdletInput": {"CmdletName": "New-Mailbox", "Parameters": {"Name": "x", "Password": "Secret-1!"}}},
    )
    body = client.get("/_mock/tenants/contoso/requests").get_json()
    text = json.dumps(body)
    assert contoso["apps"][0]["clientSecret"] not in text
    assert token not in text and exo not in text and "Secret-1!" not in text
    ident, graph, _, exchange = body["value"]
    assert ident["api"] == "identity" and ident["parameters"]["client_secret"] == "***"
    assert ident["caller"]["appId"] == contoso["apps"][0]["clientId"] and ident["status"] == 200
    assert graph["api"] == "graph" and graph["method"] == "GET" and graph["path"] == "/v1.0/users"
    assert graph["query"] == {"$top": "2", "$select": "id"}
    assert graph["caller"]["appId"] == contoso["apps"][0]["clientId"] and graph["clientRequestId"] == "corr-1"
    assert exchange["api"] == "exchange" and exchange["cmdlet"] == "New-Mailbox"
    assert exchange["parameters"] == {"Name": "x", "Password": "***"}
    assert exchange["time"] == "2026-01-05T09:00:00Z" and exchange["durationMs"] >= 0
    assert body["count"] == 4 and body["counts"]["byApi"] == {"identity": 2, "graph": 1, "exchange": 1}


def test_control_plane_calls_are_not_journaled(client, contoso):
    client.get("/_mock/tenants/contoso/faults")
    assert client.get("/_mock/tenants/contoso/requests").get_json()["total"] == 0


def test_filters(client, contoso, registry):
    token = _token(client, contoso)
    headers = {"Authorization": f"Bearer {token}"}
    client.get("/v1.0/organization", headers=headers)
    registry.get("contoso").advance(5)
    client.get("/v1.0/users/nobody@nowhere", headers=headers)
    client.get("/v1.0/users?$top=1", headers=headers)

    def q(query):
        rv = client.get(f"/_mock/tenants/contoso/requests?{query}")
        assert rv.status_code == 200, rv.get_json()
        return rv.get_json()

    assert q("api=identity")["count"] == 1
    assert [e["status"] for e in q("api=graph&status=4xx")["value"]] == [404]
    assert q("status=200,404")["count"] == 4
    since = q("since=2026-01-05T09:04:00Z")
    assert since["count"] == 2 and since["counts"]["byStatus"] == {"404": 1, "200": 1}
    limited = q("api=graph&limit=1")
    assert limited["count"] == 3 and [e["path"] for e in limited["value"]] == ["/v1.0/users"]
    assert q("method=GET&path=organization")["count"] == 1


def test_cmdlet_filter(client, contoso, auth_header, registry):
    headers = auth_header(registry.get("contoso"), "exchange")
    for name in ("Get-Mailbox", "Set-Mailbox", "Get-Mailbox"):
        client.post(
            "/adminapi/beta/contoso/InvokeCommand",
            headers=headers,
            json={"CmdletInput": {"CmdletName": name, "Parameters": {}}},
        )
    body = client.get("/_mock/tenants/contoso/requests?cmdlet=get-mailbox").get_json()
    assert body["count"] == 2 and body["counts"]["byCmdlet"] == {"Get-Mailbox": 2}


@pytest.mark.parametrize("query", ["api=smtp", "status=abc", "since=yesterday", "limit=0", "limit=x"])
def test_bad_filters_are_400(client, contoso, query):
    rv = client.get(f"/_mock/tenants/contoso/requests?{query}")
    assert rv.status_code == 400 and rv.get_json()["error"]["code"] == "ValidationError"


def test_clear_and_resize(client, contoso):
    for _ in range(5):
        client.get("/contoso/v2.0/.well-known/openid-configuration")
    rv = client.patch("/_mock/tenants/contoso/requests", json={"limit": 3})
    assert rv.get_json() == {"limit": 3, "total": 3}
    client.get("/contoso/v2.0/.well-known/openid-configuration")
    body = client.get("/_mock/tenants/contoso/requests").get_json()
    assert body["total"] == 3 and body["dropped"] == 1
    assert client.patch("/_mock/tenants/contoso/requests", json={"limit": 0}).status_code == 400
    assert client.delete("/_mock/tenants/contoso/requests").status_code == 204
    assert client.get("/_mock/tenants/contoso/requests").get_json()["total"] == 0
    assert client.get("/_mock/tenants/nope/requests").status_code == 404


@pytest.mark.parametrize("claims", [{"tid": ["x"], "appid": 5}, {"tid": 7, "upn": {"a": 1}}, {"appid": None}])
def test_forged_tokens_with_junk_claims_are_answered_not_crashed(client, contoso, claims):
    import jwt

    forged = jwt.encode(claims, "not-the-tenant-key-but-long-enough-for-hs256", algorithm="HS256")
    headers = {"Authorization": f"Bearer {forged}"}
    assert client.get("/v1.0/users", headers=headers).status_code == 401
    rv = client.post("/adminapi/beta/contoso/InvokeCommand", headers=headers, data=b"\xff\xfe not json")
    assert rv.status_code in (400, 401)
    assert client.get("/_mock/tenants/contoso/requests?api=exchange").get_json()["count"] == 1
