"""Snapshots over HTTP: GET the whole tenant, PUT it back in place (tokens stay valid) or into a new tenant."""

from __future__ import annotations

import gc
import json

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


def test_a_big_body_restores_through_the_streamed_parser(client, contoso, monkeypatch):
    from hybridsoa.mock.domain import bounds

    calls = []
    real = bounds.load_stream
    monkeypatch.setattr(bounds, "GRADUAL_FROM", 100)  # every snapshot body counts as big
    # Recorded per parse: whether automatic collections ran meanwhile (a big restore holds them off).
    monkeypatch.setattr(bounds, "load_stream", lambda stream: calls.append(gc.isenabled()) or real(stream))
    doc = client.get("/_mock/tenants/contoso/snapshot").get_json()
    rv = client.put("/_mock/tenants/contoso/snapshot", json=doc)
    assert rv.status_code == 200 and calls == [False]
    assert gc.isenabled()  # back on once the tenant is built
    assert client.get("/_mock/tenants/contoso/snapshot").get_json()["collections"] == doc["collections"]
    parsed = len(calls)
    assert client.put("/_mock/tenants/fabrikam/snapshot", json=doc).status_code == 201 and len(calls) > parsed
    bad = client.put("/_mock/tenants/contoso/snapshot", data="[" + " " * 200, content_type="application/json")
    assert bad.status_code == 400 and bad.get_json()["error"]["code"] == "InvalidJson"


def _busy(client, headers, upn):
    # Changes that touch rows, settings and the audit log, so the document has something of every kind.
    client.patch(f"/v1.0/users/{upn}", json={"jobTitle": "caf\u00e9 \ud83d\ude00 \u2028"}, headers=headers)
    client.post("/_mock/tenants/contoso/clock/advance", json={"minutes": 5})


def test_get_then_put_round_trips_the_document_byte_for_byte(client, contoso):
    _busy(client, _graph(client, contoso), f"helpdesk@{contoso['domain']}")
    first = client.get("/_mock/tenants/contoso/snapshot")
    assert first.status_code == 200 and first.mimetype == "application/json"
    assert first.content_length == len(first.data)
    assert (
        client.put("/_mock/tenants/contoso/snapshot", data=first.data, content_type="application/json").status_code
        == 200
    )
    assert client.get("/_mock/tenants/contoso/snapshot").data == first.data
    # And into a new tenant: the copy's own snapshot restores it again, unchanged.
    assert (
        client.put("/_mock/tenants/copy/snapshot", data=first.data, content_type="application/json").status_code == 201
    )
    copy = client.get("/_mock/tenants/copy/snapshot").data
    assert client.put("/_mock/tenants/copy/snapshot", data=copy, content_type="application/json").status_code == 200
    assert client.get("/_mock/tenants/copy/snapshot").data == copy


def test_the_streamed_document_is_what_jsonify_sent(app, client, contoso):
    from hybridsoa.mock.domain import snapshot

    _busy(client, _graph(client, contoso), f"helpdesk@{contoso['domain']}")
    streamed = client.get("/_mock/tenants/contoso/snapshot").data
    tenant = app.extensions["hybridsoa"].find("contoso")
    with app.test_request_context(), tenant.lock:
        before = app.json.response(snapshot.dump_tenant(tenant)).get_data()  # the old route: one jsonify
    assert streamed == before


def _padded(doc: dict, size: int) -> bytes:
    # A valid snapshot made bigger with whitespace (cheap to build, and the parser still reads every byte).
    data = json.dumps(doc, separators=(",", ":")).encode()
    return data[:-1] + b" " * (size - len(data)) + b"}"


def test_a_body_over_32_mb_is_taken_on_the_snapshot_route_only(client, contoso):
    doc = client.get("/_mock/tenants/contoso/snapshot").get_json()
    body = _padded(doc, 33 * 1024 * 1024)
    rv = client.put("/_mock/tenants/big-copy/snapshot", data=body, content_type="application/json")
    assert (
        rv.status_code == 201 and rv.get_json()["counts"] == client.get("/_mock/tenants/contoso").get_json()["counts"]
    )
    other = client.post("/_mock/tenants", data=body, content_type="application/json")
    assert other.status_code == 413
    assert other.get_json() == {
        "error": {"code": "RequestEntityTooLarge", "message": other.get_json()["error"]["message"]}
    }
    assert "big" not in json.dumps(client.get("/_mock/tenants").get_json()).replace("big-copy", "")


def test_the_snapshot_bound_is_configurable_and_refused_in_the_same_shape(app, client, contoso, monkeypatch):
    doc = client.get("/_mock/tenants/contoso/snapshot").get_json()
    monkeypatch.setitem(app.config, "SNAPSHOT_MAX_CONTENT_LENGTH", 4096)
    body = _padded(doc, max(8192, len(json.dumps(doc)) + 1))
    rv = client.put("/_mock/tenants/contoso/snapshot", data=body, content_type="application/json")
    other = client.post("/_mock/tenants", data=b" " * (33 * 1024 * 1024), content_type="application/json")
    assert rv.status_code == other.status_code == 413
    assert rv.get_json()["error"]["code"] == other.get_json()["error"]["code"] == "RequestEntityTooLarge"
    assert set(rv.get_json()["error"]) == set(other.get_json()["error"]) == {"code", "message"}
    # Nothing changed, and the tenant still answers.
    assert client.get("/_mock/tenants/contoso/snapshot").get_json()["collections"] == doc["collections"]


def test_an_in_place_put_lets_the_tenant_lock_go_while_it_parses(app, client, contoso, monkeypatch):
    import threading

    from hybridsoa.mock.domain import bounds

    tenant = app.extensions["hybridsoa"].find("contoso")
    real, free = bounds.load_stream, []

    def parse(stream):
        # Another thread (another request to this tenant) can take the lock while the body is parsed.
        def other():
            if tenant.lock.acquire(blocking=False):
                free.append(True)
                tenant.lock.release()
            else:
                free.append(False)

        worker = threading.Thread(target=other)
        worker.start()
        worker.join()
        return real(stream)

    doc = client.get("/_mock/tenants/contoso/snapshot").get_json()
    monkeypatch.setattr(bounds, "load_stream", parse)
    assert client.put("/_mock/tenants/contoso/snapshot", json=doc).status_code == 200
    assert free == [True]
    new = app.extensions["hybridsoa"].find("contoso")
    assert new is not tenant and tenant.deleted and not new.deleted


def test_big_uploads_past_their_slots_get_503_and_retry_after(app, client, contoso, monkeypatch):
    from hybridsoa.mock.api.control import snapshot as route

    data = client.get("/_mock/tenants/contoso/snapshot").data
    # Bodies over MAX_CONTENT_LENGTH are the ones the body gate leaves to the route (a small bound here).
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 1000)
    held = [route._big_uploads.acquire(blocking=False) for _ in range(route.BIG_UPLOADS)]
    try:
        assert all(held)
        busy = client.put("/_mock/tenants/busy/snapshot", data=data, content_type="application/json")
        assert busy.status_code == 503 and busy.headers["Retry-After"] == "1"
        assert busy.get_json()["error"]["code"] == "ServiceUnavailable"
    finally:
        for _ in held:
            route._big_uploads.release()
    done = client.put("/_mock/tenants/busy/snapshot", data=data, content_type="application/json")
    assert done.status_code == 201
    # Every slot is free again once the body has arrived (a later upload does not find them taken).
    assert all(route._big_uploads.acquire(blocking=False) for _ in range(route.BIG_UPLOADS))
    for _ in range(route.BIG_UPLOADS):
        route._big_uploads.release()
