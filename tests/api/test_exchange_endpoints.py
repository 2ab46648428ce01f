"""The Exchange request pipeline (mockserver/api/exchange/endpoints.py) is the one path of InvokeCommand and $batch:
Flask's router knows the resources but no view serves them. Its answers are exact and deterministic under a seed;
it journals and throttles each request once, takes read or write from the cmdlet's registration, keeps the rate
window in the tenant, and fails in the app's own error shapes."""

from __future__ import annotations

import pytest

from hybridsoa.mock.api.body_gate import BodyGate
from hybridsoa.mock.api.entra.graph.paths import GraphSlashes
from hybridsoa.mock.api.exchange import endpoints, invoke
from hybridsoa.mock.api.middleware import DurableAck
from hybridsoa.mock.app import create_app
from hybridsoa.mock.domain.exchange import cmdlets
from hybridsoa.mock.domain.exchange.cmdlets import register_cmdlet
from hybridsoa.mock.domain.tenant import TenantRegistry
from hybridsoa.mock.store.commands import CommandCapture

#: A fixed tenant clock, so an independently built twin of the tenant answers byte for byte alike.
CLOCK = 1_800_000_000.0


@pytest.fixture
def tenant(make_tenant):
    return make_tenant(name="contoso", seed=42, mailboxes=12, clock_start=CLOCK)


@pytest.fixture
def h(tenant, auth_header):
    return auth_header(tenant, "exchange")


@pytest.fixture
def twin():
    """A second app over its own registry holding the same tenant (same name, seed and clock)."""
    registry = TenantRegistry(seed=1234)
    registry.create(
        name="contoso", seed=42, mailboxes=12, clock_start=CLOCK, frozen_clock=True, options={"mix": "uniform"}
    )
    return create_app(registry).test_client()


def _same(a, b):
    assert a.status == b.status
    assert a.get_data() == b.get_data()
    assert list(a.headers.items()) == list(b.headers.items())


def _alias(tenant):
    return next(m.alias for m in tenant.mailboxes if m.is_dir_synced and m.recipient_type_details == "UserMailbox")


@pytest.mark.parametrize(
    "case",
    ["toggle", "read", "unknown-cmdlet", "bad-json", "no-token", "batch", "bad-batch", "unknown-tenant", "paged"],
)
def test_the_pipeline_answers_exactly_and_deterministically(client, twin, tenant, h, case):
    alias = _alias(tenant)
    path = f"/adminapi/beta/{tenant.id}/InvokeCommand"
    kwargs = {"headers": h}
    if case == "toggle":
        # Set then unset, on each path: both start from and end in the same state.
        calls = [
            {
                "json": {
                    "CmdletInput": {
                        "CmdletName": "Set-Mailbox",
                        "Parameters": {"Identity": alias, "IsExchangeCloudManaged": value},
                    }
                }
            }
            for value in (True, False)
        ]
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
        calls = [
            {
                "json": {
                    "requests": [
                        {
                            "id": "1",
                            "method": "POST",
                            "url": "/InvokeCommand",
                            "body": {"CmdletInput": {"CmdletName": "Get-Mailbox", "Parameters": {"Identity": alias}}},
                        }
                    ]
                }
            }
        ]
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
    # The tenant and its twin run the whole sequence (the same token signs in to both: same id, same key).
    ours = [client.post(path, **call, **kwargs) for call in calls]
    theirs = [twin.post(path, **call, **kwargs) for call in calls]
    expected = {
        "toggle": 200,
        "read": 200,
        "unknown-cmdlet": 403,
        "bad-json": 400,
        "no-token": 401,
        "batch": 200,
        "bad-batch": 400,
        "unknown-tenant": 404,
        "paged": 200,
    }[case]
    for a, b in zip(ours, theirs, strict=True):
        assert a.status_code == expected, a.get_data(as_text=True)
        _same(a, b)
    if case == "paged":
        assert len(ours[0].get_json()["value"]) == 5 and "$skiptoken=" in ours[0].get_json()["@odata.nextLink"]


def test_flask_knows_the_resources_but_no_view_serves_them(app):
    rules = {
        (r.rule, r.endpoint)
        for r in app.url_map.iter_rules()
        if r.endpoint in ("exchange.invoke_command", "exchange.batch")
    }
    assert ("/adminapi/beta/<tenant_key>/InvokeCommand", "exchange.invoke_command") in rules
    assert ("/adminapi/beta/<tenant_key>/$batch", "exchange.batch") in rules
    assert "exchange.invoke_command" not in app.view_functions and "exchange.batch" not in app.view_functions
    # The body gate (bodies read before any lock) is outermost, then Graph's path reading (before routing), then
    # the durable-ack layer (group commit); the pipeline sits right under them.
    assert isinstance(app.wsgi_app, BodyGate) and isinstance(app.wsgi_app.wsgi_app, GraphSlashes)
    assert isinstance(app.wsgi_app.wsgi_app.wsgi_app, DurableAck)
    assert isinstance(app.wsgi_app.wsgi_app.wsgi_app.wsgi_app, endpoints.ExchangeEndpoints)


def test_the_request_is_journalled_once(client, tenant, h):
    body = {"CmdletInput": {"CmdletName": "Get-Mailbox", "Parameters": {"Identity": _alias(tenant)}}}
    before = len(tenant.journal.entries)
    client.post(f"/adminapi/beta/{tenant.id}/InvokeCommand", json=body, headers={**h, "client-request-id": "abc"})
    assert len(tenant.journal.entries) == before + 1
    entry = list(tenant.journal.entries)[-1]
    assert entry["api"] == "exchange" and entry["cmdlet"] == "Get-Mailbox" and entry["status"] == 200
    assert entry["clientRequestId"] == "abc" and entry["caller"]["appId"]


def test_throttled_request_is_refused_and_changes_nothing(client, tenant, h):
    alias = _alias(tenant)
    client.post("/_mock/tenants/contoso/faults", json={"throttle": {"api": "exchange", "rate": 0.001, "burst": 1}})
    body = {
        "CmdletInput": {"CmdletName": "Set-Mailbox", "Parameters": {"Identity": alias, "IsExchangeCloudManaged": True}}
    }
    first = client.post(f"/adminapi/beta/{tenant.id}/InvokeCommand", json=body, headers=h)
    assert first.status_code == 200 and first.headers["Rate-Limit-Remaining"] == "0"
    body["CmdletInput"]["Parameters"]["IsExchangeCloudManaged"] = False
    refused = [client.post(f"/adminapi/beta/{tenant.id}/InvokeCommand", json=body, headers=h) for _ in range(2)]
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
        rv = client.post(
            f"/adminapi/beta/{tenant.id}/InvokeCommand",
            headers=h,
            json={"CmdletInput": {"CmdletName": "Get-Mailbox", "Parameters": {"Filter": "x" * 200}}},
        )
    finally:
        app.config["MAX_CONTENT_LENGTH"] = limit
    assert rv.status_code == 413
    assert rv.get_json()["error"]["code"] == "RequestEntityTooLarge"


@pytest.mark.parametrize("where, error", [("handler", RuntimeError), ("after", OSError)])
def test_an_internal_failure_answers_500_json_and_releases_the_lock(client, tenant, h, monkeypatch, where, error):
    from hybridsoa.mock.api import middleware

    def broken(*_args, **_kwargs):
        raise error("boom")

    # In the handler, or after it (journal, durable flush: a full disk, say).
    if where == "handler":
        monkeypatch.setattr(invoke, "answer_invoke", broken)
    else:
        monkeypatch.setattr(middleware, "finish", broken)
    rv = client.post(
        f"/adminapi/beta/{tenant.id}/InvokeCommand", headers=h, json={"CmdletInput": {"CmdletName": "Get-Mailbox"}}
    )
    assert rv.status_code == 500
    assert rv.get_json() == {
        "error": {"code": "InternalServerError", "message": f"The mock hit an internal error ({error.__name__})."}
    }
    if where == "handler":
        assert list(tenant.journal.entries)[-1]["status"] == 500
    # The tenant lock was released: another thread can take it at once.
    assert tenant.lock.acquire(blocking=False)
    tenant.lock.release()


class _Recorder:
    """A stand-in durable store: records what the pipeline tells it at the end of each request."""

    def __init__(self):
        self.thorough: list[bool] = []
        self.blobs: list[bool] = []
        self.commands: list[bool] = []

    def command_capture(self):
        return CommandCapture(self)

    def marks(self, tenant):
        return ()

    def request_done(self, tenant, *, thorough: bool = True, blobs: bool = True, command=None) -> int:
        self.thorough.append(thorough)
        self.blobs.append(blobs)
        self.commands.append(command is not None)
        return 0

    def wait_durable(self, ticket: int) -> None:
        pass


def test_read_or_write_comes_from_the_cmdlet_registration(client, registry, tenant, h, monkeypatch):
    # A cmdlet whose verb reads as a read but is registered as a write: the store must compare everything.
    register_cmdlet("Get-MockWrite", lambda ctx, params: [], [], writes=True)
    store = _Recorder()
    monkeypatch.setattr(registry, "store", store)
    url = f"/adminapi/beta/{tenant.id}/InvokeCommand"
    alias = _alias(tenant)
    try:
        calls = [
            ("Get-Mailbox", {"Identity": alias}),
            ("Set-Mailbox", {"Identity": alias, "CustomAttribute1": "x"}),
            ("Get-MockWrite", {}),
            ("Get-Nothing", {}),
        ]
        statuses = [
            client.post(url, json={"CmdletInput": {"CmdletName": name, "Parameters": params}}, headers=h).status_code
            for name, params in calls
        ]
        assert all(code < 500 for code in statuses), statuses  # the capture runs the call like the plain path
        batch = {
            "requests": [
                {
                    "id": "1",
                    "method": "POST",
                    "url": "/InvokeCommand",
                    "body": {"CmdletInput": {"CmdletName": name, "Parameters": params}},
                }
                for name, params in calls[:2]
            ]
        }
        client.post(f"/adminapi/beta/{tenant.id}/$batch", json=batch, headers=h)
        batch["requests"] = batch["requests"][:1]
        client.post(f"/adminapi/beta/{tenant.id}/$batch", json=batch, headers=h)
    finally:
        cmdlets._REGISTRY.pop("get-mockwrite", None)
    # Reads (and a name that runs nothing) skip the thorough compare; writes, by registration, do not.
    assert store.thorough == [False, True, True, False, True, False]
    # Only a lone Set-Mailbox (registered rows_only) skips the state blobs; a $batch holding it does not.
    assert store.blobs == [True, False, True, True, True, True]
    # The same lone call is the only one offered to the command log (store/commands.py).
    assert store.commands == [False, True, False, False, False, False]


def test_the_rate_window_lives_in_the_tenant_and_reset_or_delete_drops_it(client, registry, make_tenant, auth_header):
    tenant = make_tenant(name="fabrikam", seed=7, mailboxes=3, clock_start=CLOCK)
    body = {"CmdletInput": {"CmdletName": "Get-OrganizationConfig"}}

    def call(t):
        rv = client.post(f"/adminapi/beta/{t.id}/InvokeCommand", json=body, headers=auth_header(t, "exchange"))
        assert rv.status_code == 200
        return rv.headers["request-id"], rv.headers["Rate-Limit-Remaining"]

    first = [call(tenant), call(tenant)]
    assert [r for _, r in first] == ["29999", "29998"]
    assert client.post(f"/_mock/tenants/{tenant.id}/reset").status_code == 200
    fresh = registry.get(tenant.id)
    assert fresh is not tenant and fresh.exchange_rate_window is not tenant.exchange_rate_window
    assert call(fresh) == first[0]  # a new window and request-id stream, as on a new tenant
    # The Exchange names output objects repeat are the tenant's too (no module-level cache outlives it).
    listed = client.post(
        f"/adminapi/beta/{fresh.id}/InvokeCommand",
        headers=auth_header(fresh, "exchange"),
        json={"CmdletInput": {"CmdletName": "Get-Mailbox"}},
    )
    assert listed.status_code == 200 and fresh.exchange_names is not None
    assert listed.get_json()["value"][0]["DistinguishedName"].endswith(fresh.exchange_names["dn_suffix"])
    assert client.delete(f"/_mock/tenants/{tenant.id}").status_code in (200, 204)
    again = make_tenant(name="fabrikam", seed=7, mailboxes=3, clock_start=CLOCK)
    assert again.id == tenant.id
    assert call(again) == first[0]
