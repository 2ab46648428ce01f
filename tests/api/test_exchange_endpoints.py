"""The Exchange WSGI endpoints (mockserver/api/exchange/endpoints.py) answer InvokeCommand and $batch before Flask
routes them: they must answer exactly as the Flask routes do, journal and throttle the same way, and fail in the
app's own error shapes."""
from __future__ import annotations

import pytest
from werkzeug.test import Client

from mockserver.api.exchange import endpoints, invoke

#: Headers that differ between any two calls (a counter-derived id, the remaining budget of the window).
VOLATILE = {"request-id", "rate-limit-remaining"}


@pytest.fixture
def tenant(make_tenant):
    return make_tenant(name="contoso", seed=42, mailboxes=12)


@pytest.fixture
def h(tenant, auth_header):
    return auth_header(tenant, "exchange")


@pytest.fixture
def flask_only(app):
    """A client for the Flask app's own WSGI callable (routing through the blueprint, not the endpoints)."""
    # The durable-ack layer (group commit) is outermost; the endpoints sit right under it.
    fast = app.wsgi_app.wsgi_app
    assert isinstance(fast, endpoints.ExchangeEndpoints)
    return Client(fast.flask_wsgi)


def _same(a, b):
    assert a.status == b.status
    assert a.get_data() == b.get_data()
    strip = lambda r: [(k, v) for k, v in r.headers.items() if k.lower() not in VOLATILE]  # noqa: E731
    assert strip(a) == strip(b)


def _alias(tenant):
    return next(m.alias for m in tenant.mailboxes if m.is_dir_synced and m.recipient_type_details == "UserMailbox")


@pytest.mark.parametrize("case", ["toggle", "read", "unknown-cmdlet", "bad-json", "no-token", "batch", "bad-batch",
                                  "unknown-tenant", "paged"])
def test_endpoints_answer_like_the_flask_routes(client, flask_only, tenant, h, case):
    alias = _alias(tenant)
    path = f"/adminapi/beta/{tenant.id}/InvokeCommand"
    kwargs = {"headers": h}
    if case == "toggle":
        # Set then unset, on each path: both start from and end in the same state.
        calls = [{"json": {"CmdletInput": {"CmdletName": "Set-Mailbox", "Parameters": {
            "Identity": alias, "IsExchangeCloudManaged": value}}}} for value in (True, False)]
    elif case == "read":
        calls = [{"json": {"CmdletInput": {"CmdletName": "Get-Mailbox", "Parameters": {"Identity": alias}}}}]
    elif case == "unknown-cmdlet":
        calls = [{"json": {"CmdletInput": {"CmdletName": "Get-Nothing"}}}]
    elif case == "bad-json":
        calls = [{"data": b"{not json", "content_type": "application/json"}]
    elif case == "no-token":
        kwargs = {}
        calls = [{"json": {"CmdletInput": {"CmdletName": "Get-Mailbox"}}}]
    elif case == "batch":
        path = f"/adminapi/beta/{tenant.id}/$batch"
        calls = [{"json": {"requests": [{"id": "1", "method": "POST", "url": "/InvokeCommand", "body": {
            "CmdletInput": {"CmdletName": "Get-Mailbox", "Parameters": {"Identity": alias}}}}]}}]
    elif case == "bad-batch":
        path = f"/AdminApi/beta/{tenant.id}/$batch"
        calls = [{"json": {"requests": "nope"}}]
    elif case == "unknown-tenant":
        path = "/adminapi/beta/nowhere.example/invokecommand"
        calls = [{"json": {"CmdletInput": {"CmdletName": "Get-Mailbox"}}}]
    else:
        path += "?$select=Alias"
        kwargs = {"headers": {**h, "Prefer": "odata.maxpagesize=5"}}
        calls = [{"json": {"CmdletInput": {"CmdletName": "Get-Mailbox"}}}]
    # Each path runs the whole sequence in turn (a toggle sequence ends where it started).
    ours = [client.post(path, **call, **kwargs) for call in calls]
    theirs = [flask_only.post(path, **call, **kwargs) for call in calls]
    for a, b in zip(ours, theirs, strict=True):
        _same(a, b)


def test_both_paths_journal_the_request(client, flask_only, tenant, h):
    body = {"CmdletInput": {"CmdletName": "Get-Mailbox", "Parameters": {"Identity": _alias(tenant)}}}
    for c in (client, flask_only):
        c.post(f"/adminapi/beta/{tenant.id}/InvokeCommand", json=body, headers={**h, "client-request-id": "abc"})
    a, b = list(tenant.journal.entries)[-2:]
    for entry in (a, b):
        assert entry["api"] == "exchange" and entry["cmdlet"] == "Get-Mailbox" and entry["status"] == 200
        assert entry["clientRequestId"] == "abc" and entry["caller"]["appId"]
    assert b["seq"] == a["seq"] + 1


def test_throttled_request_is_refused_alike_and_changes_nothing(client, flask_only, tenant, h):
    alias = _alias(tenant)
    client.post("/_mock/tenants/contoso/faults", json={"throttle": {"api": "exchange", "rate": 0.001, "burst": 1}})
    body = {"CmdletInput": {"CmdletName": "Set-Mailbox", "Parameters": {"Identity": alias,
                                                                         "IsExchangeCloudManaged": True}}}
    first = client.post(f"/adminapi/beta/{tenant.id}/InvokeCommand", json=body, headers=h)
    assert first.status_code == 200 and first.headers["Rate-Limit-Remaining"] == "0"
    body["CmdletInput"]["Parameters"]["IsExchangeCloudManaged"] = False
    refused = [c.post(f"/adminapi/beta/{tenant.id}/InvokeCommand", json=body, headers=h) for c in (client, flask_only)]
    for rv in refused:
        assert rv.status_code == 429 and rv.headers["Retry-After"]
        assert rv.get_json()["error"]["code"] == "TooManyRequests"
    assert refused[0].get_json() == refused[1].get_json()
    assert next(m for m in tenant.mailboxes if m.alias == alias).is_exchange_cloud_managed is True
    assert [e["status"] for e in list(tenant.journal.entries)[-2:]] == [429, 429]


def test_other_methods_and_paths_fall_through_to_flask(client, tenant, h):
    assert client.get(f"/adminapi/beta/{tenant.id}/InvokeCommand", headers=h).status_code == 405
    assert client.post(f"/adminapi/beta/{tenant.id}/InvokeCommand/", json={}, headers=h).status_code == 404
    assert client.post(f"/adminapi/v1.0/{tenant.id}/InvokeCommand", json={}, headers=h).status_code == 405


def test_body_over_the_size_limit_is_413_in_the_app_shape(app, client, tenant, h):
    limit = app.config["MAX_CONTENT_LENGTH"]
    app.config["MAX_CONTENT_LENGTH"] = 64
    try:
        rv = client.post(f"/adminapi/beta/{tenant.id}/InvokeCommand", headers=h,
                         json={"CmdletInput": {"CmdletName": "Get-Mailbox", "Parameters": {"Filter": "x" * 200}}})
    finally:
        app.config["MAX_CONTENT_LENGTH"] = limit
    assert rv.status_code == 413
    assert rv.get_json()["error"]["code"] == "RequestEntityTooLarge"


@pytest.mark.parametrize("where, error", [("handler", RuntimeError), ("after", OSError)])
def test_an_internal_failure_answers_500_json_and_releases_the_lock(client, tenant, h, monkeypatch, where, error):
    from mockserver.api import middleware

    def broken(*_args, **_kwargs):
        raise error("boom")

    # In the handler, or after it (journal, durable flush: a full disk, say).
    if where == "handler":
        monkeypatch.setattr(invoke, "answer_invoke", broken)
    else:
        monkeypatch.setattr(middleware, "finish", broken)
    rv = client.post(f"/adminapi/beta/{tenant.id}/InvokeCommand", headers=h,
                     json={"CmdletInput": {"CmdletName": "Get-Mailbox"}})
    assert rv.status_code == 500
    assert rv.get_json() == {"error": {"code": "InternalServerError",
                                       "message": f"The mock hit an internal error ({error.__name__})."}}
    if where == "handler":
        assert list(tenant.journal.entries)[-1]["status"] == 500
    # The tenant lock was released: another thread can take it at once.
    assert tenant.lock.acquire(blocking=False)
    tenant.lock.release()
