"""Snapshots over HTTP: GET the whole tenant, PUT it back in place (tokens stay valid) or into a new tenant."""

from __future__ import annotations

import gc

import pytest


@pytest.fixture
def contoso(client):
    rv = client.post("/_mock/tenants", json={"name": "contoso", "seed": 42, "frozenClock": True, "mailboxes": 10})
    return rv.get_json()


def _graph(client, creds):
    a = creds["apps"][0]
    rv = client.post(
        f"/{creds['tenantId']}/oauth2/v2.0/token",
        data={
            "client_id": a["clientId"],
            "client_secret": a["clientSecret"],
            "grant_type": "client_credentials",
            "scope": "https://graph.microsoft.com/.default",
        },
    )
    return {"Authorization": f"Bearer {rv.get_json()['access_token']}"}


def _job(client, headers, upn):
    return client.get(f"/v1.0/users/{upn}?$select=jobTitle", headers=headers).get_json()["jobTitle"]


def test_restore_in_place_rolls_back_and_keeps_tokens_valid(client, contoso):
    headers = _graph(client, contoso)
    upn = f"helpdesk@{contoso['domain']}"
    client.patch(f"/v1.0/users/{upn}", json={"jobTitle": "before"}, headers=headers)
    doc = client.get("/_mock/tenants/contoso/snapshot").get_json()
    assert doc["format"] == "hybridsoa.tenant-snapshot" and doc["version"] == 1
    client.patch(f"/v1.0/users/{upn}", json={"jobTitle": "after"}, headers=headers)
    rv = client.put("/_mock/tenants/contoso/snapshot", json=doc)
    assert rv.status_code == 200 and rv.get_json()["tenantId"] == contoso["tenantId"]
    assert _job(client, headers, upn) == "before"  # the token minted before the restore still works
    assert client.get("/_mock/tenants/contoso/snapshot").get_json()["collections"] == doc["collections"]


def test_restore_into_a_new_tenant(client, contoso):
    headers = _graph(client, contoso)
    client.patch(f"/v1.0/users/helpdesk@{contoso['domain']}", json={"jobTitle": "cloned"}, headers=headers)
    doc = client.get("/_mock/tenants/contoso/snapshot").get_json()
    rv = client.put("/_mock/tenants/fabrikam/snapshot", json=doc)
    assert rv.status_code == 201
    clone = rv.get_json()
    assert clone["name"] == "fabrikam" and clone["tenantId"] != contoso["tenantId"]
    assert clone["counts"] == client.get("/_mock/tenants/contoso").get_json()["counts"]
    creds = client.get("/_mock/tenants/fabrikam/credentials").get_json()
    clone_headers = _graph(client, creds)
    assert _job(client, clone_headers, "helpdesk@fabrikam.onmicrosoft.com") == "cloned"
    guid = "0d7d9a41-0000-4000-8000-00000000abcd"
    rv = client.put(f"/_mock/tenants/{guid}/snapshot?name=northwind", json=doc)
    assert rv.status_code == 201 and rv.get_json()["tenantId"] == guid and rv.get_json()["name"] == "northwind"


@pytest.mark.parametrize("body", [None, [], {"format": "x"}, {"format": "hybridsoa.tenant-snapshot", "version": 7}])
def test_bad_documents_are_400_and_change_nothing(client, contoso, body):
    before = client.get("/_mock/tenants/contoso/snapshot").get_json()
    if body is None:
        rv = client.put("/_mock/tenants/contoso/snapshot", data="not json", content_type="application/json")
    else:
        rv = client.put("/_mock/tenants/contoso/snapshot", json=body)
    assert rv.status_code == 400
    assert "error" in rv.get_json()
    assert client.get("/_mock/tenants/contoso/snapshot").get_json()["collections"] == before["collections"]


def test_bad_names_and_unknown_tenants(client, contoso):
    doc = client.get("/_mock/tenants/contoso/snapshot").get_json()
    assert client.put("/_mock/tenants/Bad_Name!/snapshot", json=doc).status_code == 400
    assert client.get("/_mock/tenants/nope/snapshot").status_code == 404


def test_a_big_body_restores_through_the_gradual_parser(client, contoso, monkeypatch):
    from hybridsoa.mock.domain import bounds

    calls = []
    real = bounds.loads_gradually
    monkeypatch.setattr(bounds, "GRADUAL_FROM", 100)  # every snapshot body counts as big
    # Recorded per parse: whether automatic collections ran meanwhile (a big restore holds them off).
    monkeypatch.setattr(bounds, "loads_gradually", lambda text: calls.append(gc.isenabled()) or real(text))
    doc = client.get("/_mock/tenants/contoso/snapshot").get_json()
    calls.clear()  # the test's own parse of the response above
    rv = client.put("/_mock/tenants/contoso/snapshot", json=doc)
    assert rv.status_code == 200 and calls == [False]
    assert gc.isenabled()  # back on once the tenant is built
    assert client.get("/_mock/tenants/contoso/snapshot").get_json()["collections"] == doc["collections"]
    parsed = len(calls)
    assert client.put("/_mock/tenants/fabrikam/snapshot", json=doc).status_code == 201 and len(calls) > parsed
    bad = client.put("/_mock/tenants/contoso/snapshot", data="[" + " " * 200, content_type="application/json")
    assert bad.status_code == 400 and bad.get_json()["error"]["code"] == "InvalidJson"
