"""SDK transport and Exchange client against real-shaped answers through a requests-level fake (no sockets, no
sleeping): envelope and headers, paging by POST, error triples, Retry-After, and the no-replay rule."""

from __future__ import annotations

import json

import pytest

from hybridsoa.sdk.errors import (
    AuthenticationFailed,
    InvalidParameter,
    NotFound,
    PermissionDenied,
    SyncedObjectError,
    Throttled,
    Transient,
)
from hybridsoa.sdk.testing import FakeExchange, exchange_error, fake_clients, fake_mailboxes, make_response

SYNCED_TEXT = (
    "The operation on mailbox \"User 1\" failed because it's out of the current user's write scope. "
    "The action 'Set-Mailbox', 'EmailAddresses', can't be performed on the object 'User 1' because the "
    "object is being synchronized from your on-premises organization. This action should be performed "
    "on the object in your on-premises organization."
)


def test_invoke_sends_the_cmdletinput_envelope_and_module_headers():
    svc = FakeExchange(fake_mailboxes(1))
    exo, _g, _t, adapter = fake_clients(svc)
    exo.set_mailbox("user0000", CustomAttribute2="x", HiddenFromAddressListsEnabled=True)
    req = adapter.requests[-1]
    assert req.method == "POST"
    assert req.url == "https://fake.test/adminapi/beta/contoso.onmicrosoft.com/InvokeCommand"
    assert json.loads(req.body) == {
        "CmdletInput": {
            "CmdletName": "Set-Mailbox",
            "Parameters": {"Identity": "user0000", "CustomAttribute2": "x", "HiddenFromAddressListsEnabled": True},
        }
    }
    assert req.headers["Authorization"] == "Bearer test-token"
    assert req.headers["X-AnchorMailbox"] == (
        "APP:SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}@contoso.onmicrosoft.com"
    )
    assert req.headers["Prefer"] == "odata.maxpagesize=1000"
    assert req.headers["client-request-id"]
    # verify= is forced on every request so REQUESTS_CA_BUNDLE cannot replace the pinned CA.
    assert adapter.send_kwargs[-1]["verify"] == "/fake/ca.pem"


def test_hashtable_parameters_are_typed_generic_hashtable():
    svc = FakeExchange(fake_mailboxes(1))
    exo, *_ = fake_clients(svc)
    exo.invoke("Set-Mailbox", Identity="user0000", EmailAddresses={"Add": ["smtp:a@contoso.com"]})
    assert svc.calls[-1][1]["EmailAddresses"] == {
        "@odata.type": "#Exchange.GenericHashTable",
        "Add": ["smtp:a@contoso.com"],
    }


def test_paging_posts_the_same_body_to_next_link_lazily():
    svc = FakeExchange(fake_mailboxes(7))
    exo, _g, _t, adapter = fake_clients(svc)
    exo.page_size = 3
    it = exo.iter_mailboxes(select=["Guid", "IsExchangeCloudManaged"])
    first = next(it)
    assert len(adapter.requests) == 1  # lazy: one page fetched so far
    rest = list(it)
    assert len([first] + rest) == 7
    assert len(adapter.requests) == 3
    assert "$select=Guid,IsExchangeCloudManaged" in adapter.requests[0].url
    assert all(r.method == "POST" for r in adapter.requests)
    assert {r.body for r in adapter.requests} == {adapter.requests[0].body}
    assert "$skiptoken=3" in adapter.requests[1].url
    assert not any("@" in k for k in first)  # OData annotations removed by the typed helper


def test_not_found_error_triple_is_parsed():
    exo, *_ = fake_clients(FakeExchange(fake_mailboxes(1)))
    with pytest.raises(NotFound) as info:
        exo.get_mailbox("nobody")
    err = info.value
    assert err.status == 404 and err.code == "NotFound" and err.error_id == "Ex6F9304"
    assert err.exception_type.endswith("ManagementObjectNotFoundException")
    assert "couldn't be found" in err.message and "|" not in err.message


def test_synced_object_write_scope_error_is_typed():
    svc = FakeExchange(fake_mailboxes(1))
    svc.fail_next(
        "Set-Mailbox", 400, exchange_error(400, SYNCED_TEXT, exception_type="System.InvalidOperationException")
    )
    exo, *_ = fake_clients(svc)
    with pytest.raises(SyncedObjectError) as info:
        exo.set_mailbox("user0000", EmailAddresses=["SMTP:x@contoso.com"])
    assert "being synchronized from your on-premises organization" in str(info.value)


def test_unknown_parameter_and_empty_403_are_typed():
    svc = FakeExchange(fake_mailboxes(1))
    svc.fail_next(
        "Set-Mailbox",
        400,
        exchange_error(
            400,
            "A parameter cannot be found that matches parameter name 'Bogus'.",
            exception_type="System.Management.Automation.ParameterBindingException",
        ),
    )
    svc.fail_next("Get-Thing", 403, b"\x00", {"x-ms-diagnostics": '2000003;reason="RBAC denied"'})
    exo, *_ = fake_clients(svc)
    with pytest.raises(InvalidParameter):
        exo.set_mailbox("user0000", Bogus=1)
    with pytest.raises(PermissionDenied) as info:
        exo.invoke("Get-Thing")
    assert "RBAC denied" in str(info.value)


def test_429_waits_exactly_retry_after_then_succeeds():
    svc = FakeExchange(fake_mailboxes(1))
    svc.fail_next(
        "Set-Mailbox",
        429,
        {"error": {"code": "TooManyRequests", "message": "throttled"}},
        {"Retry-After": "7"},
        times=2,
    )
    sleeps: list = []
    exo, _g, transport, _a = fake_clients(svc, sleeps=sleeps)
    exo.set_cloud_managed("user0000", True)
    assert sleeps == [7.0, 7.0]
    assert [c[0] for c in svc.calls].count("Set-Mailbox") == 3
    assert svc.mailboxes["00000000-0000-4000-8000-000000000000"]["IsExchangeCloudManaged"] is True
    assert transport.stats["throttled"] == 2


def test_throttling_past_the_budget_raises_throttled_with_retry_after():
    from hybridsoa.sdk.transport import RetryPolicy

    svc = FakeExchange(fake_mailboxes(1))
    svc.fail_next(
        "Get-Mailbox",
        429,
        {"error": {"code": "TooManyRequests", "message": "slow down"}},
        {"Retry-After": "3"},
        times=5,
    )
    sleeps: list = []
    exo, *_ = fake_clients(svc, sleeps=sleeps, retry=RetryPolicy(max_attempts=3))
    with pytest.raises(Throttled) as info:
        exo.get_mailbox("user0000")
    assert info.value.retry_after == 3.0 and sleeps == [3.0, 3.0]


def test_non_idempotent_cmdlet_is_not_replayed_after_a_500():
    svc = FakeExchange(fake_mailboxes(1))
    svc.fail_next("Set-Mailbox", 500, exchange_error(500, "Internal error", exception_type="System.Exception"))
    sleeps: list = []
    exo, *_ = fake_clients(svc, sleeps=sleeps)
    with pytest.raises(Transient):
        exo.set_cloud_managed("user0000", True)
    assert [c[0] for c in svc.calls] == ["Set-Mailbox"]
    assert sleeps == []


def test_read_cmdlet_is_replayed_after_a_503_with_backoff():
    svc = FakeExchange(fake_mailboxes(1))
    svc.fail_next("Get-Mailbox", 503, b"", times=2)
    sleeps: list = []
    exo, *_ = fake_clients(svc, sleeps=sleeps)
    assert exo.get_mailbox("user0000")["Alias"] == "user0000"
    assert sleeps == [1.0, 2.0]  # exponential back-off when no Retry-After


def test_503_with_retry_after_is_a_throttle_even_for_set():
    svc = FakeExchange(fake_mailboxes(1))
    svc.fail_next("Set-Mailbox", 503, b"", {"Retry-After": "2"})
    sleeps: list = []
    exo, *_ = fake_clients(svc, sleeps=sleeps)
    exo.set_cloud_managed("user0000", True)
    assert sleeps == [2.0]


def test_401_refreshes_the_token_once():
    svc = FakeExchange(fake_mailboxes(1))
    svc.fail_next("Get-Mailbox", 401, {"error": {"code": "InvalidAuthenticationToken", "message": "expired"}})
    exo, *_ = fake_clients(svc)
    exo.get_mailbox("user0000")
    assert exo.tokens.refreshes == 1
    svc.fail_next("Get-Mailbox", 401, {"error": {"code": "InvalidAuthenticationToken", "message": "no"}}, times=2)
    with pytest.raises(AuthenticationFailed):
        exo.get_mailbox("user0000")


def test_graph_errors_and_batch_chunks_of_twenty():
    seen = []

    def handler(request):
        if request.url.endswith("/$batch"):
            reqs = json.loads(request.body)["requests"]
            seen.append(len(reqs))
            responses = []
            for r in reqs:
                if r["id"] == "3" and seen.count(len(reqs)) == 1 and len(seen) == 1:
                    responses.append({"id": r["id"], "status": 429, "headers": {"Retry-After": "4"}, "body": {}})
                else:
                    responses.append({"id": r["id"], "status": 200, "body": {"id": r["url"]}})
            return make_response(request, 200, {"responses": list(reversed(responses))})
        if "/users/synced" in request.url:
            return make_response(
                request,
                400,
                {
                    "error": {
                        "code": "Request_BadRequest",
                        "message": "Unable to update the specified properties for on-premises "
                        "mastered Directory Sync objects or objects currently undergoing migration.",
                        "innerError": {"date": "2026-01-01T00:00:00", "request-id": "r", "client-request-id": "c"},
                    }
                },
            )
        return make_response(request, 404, {"error": {"code": "Request_ResourceNotFound", "message": "nope"}})

    sleeps: list = []
    _e, graph, *_ = fake_clients(handler, sleeps=sleeps)
    out = graph.batch([{"url": f"/users/{i}"} for i in range(45)])
    assert seen == [20, 20, 5, 1]  # chunks of 20, then the throttled item alone
    assert sleeps == [4.0]
    assert [o["body"]["id"] for o in out] == [f"/users/{i}" for i in range(45)]
    with pytest.raises(SyncedObjectError):
        graph.update_user("synced", department="x")
    with pytest.raises(NotFound):
        graph.get_user("missing")


def test_connection_errors_replay_only_what_never_reached_the_service():
    import requests
    from urllib3.exceptions import MaxRetryError, NewConnectionError

    svc = FakeExchange(fake_mailboxes(1))
    plan = []

    def handler(request):
        if plan:
            raise plan.pop(0)
        return svc(request)

    sleeps: list = []
    exo, *_ = fake_clients(handler, sleeps=sleeps)
    refused = requests.ConnectionError(MaxRetryError(None, "/", NewConnectionError(None, "refused")))
    plan.append(refused)
    exo.set_cloud_managed("user0000", True)  # refused connection: replayed even for Set-
    assert sleeps == [1.0] and [c[0] for c in svc.calls] == ["Set-Mailbox"]
    plan.append(requests.exceptions.ReadTimeout("read timed out"))
    with pytest.raises(Transient):  # may have executed: a Set- is not replayed
        exo.set_cloud_managed("user0000", False)
    plan.append(requests.exceptions.ReadTimeout("read timed out"))
    assert exo.get_mailbox("user0000")["Alias"] == "user0000"  # a Get- is


def test_401_claims_challenge_reaches_auth_decoded_and_is_retried_once():
    """A CAE challenge (401 insufficient_claims) re-acquires with its claims, then retries once."""
    import base64 as _b64

    import requests
    import requests.adapters

    from hybridsoa.sdk.transport import Transport, claims_challenge

    claims = '{"access_token":{"nbf":{"essential":true,"value":"1767603660"}}}'
    header = (
        'Bearer realm="", error="insufficient_claims", claims="'
        + _b64.b64encode(claims.encode()).decode().rstrip("=")
        + '"'
    )
    assert claims_challenge(header) == claims
    assert claims_challenge('Bearer error="invalid_token"') is None
    seen = []

    class _Adapter(requests.adapters.BaseAdapter):
        def send(self, request, **kw):
            seen.append(request.headers["Authorization"])
            resp = requests.Response()
            resp.status_code = 401 if len(seen) == 1 else 200
            if len(seen) == 1:
                resp.headers["WWW-Authenticate"] = header
            resp._content, resp.request, resp.url = b"{}", request, request.url
            return resp

        def close(self):
            pass

    session = requests.Session()
    session.mount("https://", _Adapter())
    calls = []

    def auth(force=False, claims_json=None):
        calls.append((force, claims_json))
        return f"t{len(calls)}"

    resp = Transport(session=session, sleep=lambda s: None).send("POST", "https://x/y", auth=auth)
    assert resp.status_code == 200
    assert calls == [(False, None), (True, claims)] and seen == ["Bearer t1", "Bearer t2"]
