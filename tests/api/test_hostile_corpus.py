"""Issue 21: a fixed garbage corpus (every case of the issue's list 4, each emulated route with hostile bodies and
path values) and hypothesis-generated filters. Every answer is below 500 in its API's error shape, and no request
leaves a traceback (or any ERROR record) in the log: a client's mistake is not the server's error."""

from __future__ import annotations

import base64
import json
import logging
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hybridsoa.mock.domain import bounds

FUZZ = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

DEEP_JSON = "[" * 10_000 + "]" * 10_000
DEEP_OBJECT = '{"a":' * 10_000 + "1" + "}" * 10_000
PARENS_300 = "(" * 300 + "Name -eq 'x'" + ")" * 300
CHAIN_1000 = " -or ".join(f"Name -eq 'n{i}'" for i in range(1000))


@pytest.fixture
def world(make_tenant, client, auth_header):
    tenant = make_tenant(name="hostile", seed=21, mailboxes=6)
    return tenant, client, auth_header


@pytest.fixture
def quiet_log(caplog):
    """Fails the test if anything logged an ERROR (the app logs unexpected exceptions with their traceback)."""
    caplog.set_level(logging.WARNING)
    yield caplog
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not errors, [f"{r.name}: {r.getMessage()}" for r in errors[:3]]


def invoke(client, tenant, auth_header, cmdlet, params=None, **kwargs):
    """POST one cmdlet to InvokeCommand."""
    return client.post(
        f"/adminapi/beta/{tenant.id}/InvokeCommand",
        headers={**auth_header(tenant, "exchange"), **kwargs.pop("headers", {})},
        json={"CmdletInput": {"CmdletName": cmdlet, "Parameters": params or {}}},
        **kwargs,
    )


def exchange_message(resp) -> str:
    body = resp.get_json()
    assert isinstance(body, dict) and body["error"]["code"] == "BadRequest", resp.get_data(as_text=True)[:300]
    return body["error"]["details"][0]["message"]


# ------------------------------------------------------------------------- the list 4, case by case
@pytest.mark.parametrize("text", [PARENS_300, CHAIN_1000, "-not " * 500 + "Name -eq 'x'"])
def test_deep_or_long_exchange_filters_answer_the_filter_binding_400(world, quiet_log, text):
    tenant, client, auth_header = world
    for cmdlet in ("Get-Mailbox", "Get-Recipient", "Get-User"):
        resp = invoke(client, tenant, auth_header, cmdlet, {"Filter": text})
        if text is CHAIN_1000:  # a long flat chain is legal OPATH: it is evaluated, not refused
            assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
            continue
        assert resp.status_code == 400, resp.get_data(as_text=True)[:300]
        message = exchange_message(resp)
        assert "|Cannot bind parameter 'Filter' to the target." in message
        assert "Invalid filter syntax." in message and "at position" in message
        assert len(message) < 4 * bounds.MAX_ECHO  # the filter is echoed, bounded


def test_deep_recipient_restriction_filter_answers_the_validation_400(world, quiet_log):
    tenant, client, auth_header = world
    resp = invoke(
        client, tenant, auth_header, "New-ManagementScope", {"Name": "deep", "RecipientRestrictionFilter": PARENS_300}
    )
    assert resp.status_code == 400, resp.get_data(as_text=True)[:300]
    assert "Invalid filter syntax." in exchange_message(resp)
    chain = invoke(
        client, tenant, auth_header, "New-ManagementScope", {"Name": "long", "RecipientRestrictionFilter": CHAIN_1000}
    )
    assert chain.status_code == 200, chain.get_data(as_text=True)[:300]


@pytest.mark.parametrize(
    "expr", ["(" * 300 + "displayName eq 'x'" + ")" * 300, "not " * 500 + "accountEnabled eq true"]
)
def test_deep_graph_filter_is_an_invalid_filter_clause(world, quiet_log, expr):
    tenant, client, auth_header = world
    resp = client.get("/v1.0/users", query_string={"$filter": expr}, headers=auth_header(tenant, "graph"))
    assert resp.status_code == 400
    error = resp.get_json()["error"]
    assert error["code"] == "BadRequest" and error["message"].startswith("Invalid filter clause: Syntax error")
    assert len(error["message"]) < 4 * bounds.MAX_ECHO


def test_graph_or_chain_over_15_clauses_is_refused_unless_advanced(world, quiet_log):
    tenant, client, auth_header = world
    upns = [u.user_principal_name for u in tenant.users][:3]
    chain = " or ".join(f"userPrincipalName eq '{u}'" for u in upns + [f"n{i}@x.com" for i in range(997)])
    headers = auth_header(tenant, "graph")
    resp = client.get("/v1.0/users", query_string={"$filter": chain}, headers=headers)
    assert resp.status_code == 400
    assert resp.get_json()["error"] == {
        **resp.get_json()["error"],
        "code": "Request_UnsupportedQuery",
        "message": "Too many child clauses specified in search filter expression "
        "containing 'OR' operators: 1000. Max allowed: 15.",
    }
    listed = "userPrincipalName in (" + ",".join(f"'u{i}@x.com'" for i in range(16)) + ")"
    assert client.get("/v1.0/users", query_string={"$filter": listed}, headers=headers).status_code == 400
    ok = client.get(
        "/v1.0/users",
        query_string={"$filter": chain, "$count": "true"},
        headers={**headers, "ConsistencyLevel": "eventual"},
    )
    assert ok.status_code == 200, ok.get_data(as_text=True)[:300]
    assert sorted(u["userPrincipalName"] for u in ok.get_json()["value"]) == sorted(upns)
    fifteen = " or ".join(f"userPrincipalName eq '{u}'" for u in upns + [f"n{i}@x.com" for i in range(12)])
    assert client.get("/v1.0/users", query_string={"$filter": fifteen}, headers=headers).status_code == 200


def _deep_body_routes(tenant):
    user = next(iter(tenant.users)).id
    return [
        ("PATCH", f"/v1.0/users/{user}", "graph"),
        ("POST", "/v1.0/$batch", "graph"),
        ("POST", f"/adminapi/beta/{tenant.id}/$batch", "exchange"),
        ("POST", f"/adminapi/beta/{tenant.id}/InvokeCommand", "exchange"),
        ("POST", "/_mock/tenants", None),
        ("PATCH", f"/_mock/tenants/{tenant.id}/settings", None),
        ("PUT", f"/_mock/tenants/{tenant.id}/snapshot", None),
    ]


@pytest.mark.parametrize("doc", [DEEP_JSON, DEEP_OBJECT, '{"a": ' + "[" * 65 + "]" * 65 + "}"])
def test_deeply_nested_json_bodies_are_malformed_bodies(world, quiet_log, doc):
    tenant, client, auth_header = world
    for method, path, api in _deep_body_routes(tenant):
        headers = auth_header(tenant, api) if api else {}
        resp = client.open(path, method=method, data=doc, content_type="application/json", headers=headers)
        assert resp.status_code == 400, (path, resp.status_code, resp.get_data(as_text=True)[:300])
        assert isinstance(resp.get_json()["error"], dict), path


def test_the_bounds_helpers():
    assert bounds.json_depth(bounds.loads("[" * 64 + "]" * 64)) == 64
    with pytest.raises(bounds.TooDeep):
        bounds.loads("[" * 65 + "]" * 65)
    with pytest.raises(bounds.TooDeep):
        bounds.loads(DEEP_JSON)
    with pytest.raises(ValueError):
        bounds.loads('{"s": Infinity}')
    assert bounds.clip("x" * 5) == "x" * 5 and bounds.clip("x" * 2000) == "x" * bounds.MAX_ECHO + "..."
    assert bounds.parse_int(" 42 ") == 42 and bounds.parse_int("9" * 19) is None
    assert bounds.parse_int("-1") is None and bounds.parse_int("²") is None and bounds.parse_int("") is None


@pytest.mark.parametrize("method", [7, ["POST"], {"m": "POST"}, True, None, ""])
def test_exchange_batch_item_with_a_non_string_method(world, quiet_log, method):
    tenant, client, auth_header = world
    item = {
        "id": "1",
        "method": method,
        "url": "InvokeCommand",
        "body": {"CmdletInput": {"CmdletName": "Get-Mailbox", "Parameters": {}}},
    }
    resp = client.post(
        f"/adminapi/beta/{tenant.id}/$batch", json={"requests": [item]}, headers=auth_header(tenant, "exchange")
    )
    assert resp.status_code == 200
    sub = resp.get_json()["responses"][0]
    # No method (None, "") means POST, as a batch item may omit it; anything else that is not "POST" is refused.
    assert sub["status"] == (200 if method in (None, "") else 400), sub


@pytest.mark.parametrize(
    "payload",
    [
        {"s": float("inf"), "q": "x"},
        {"s": 10**5000, "q": "x"},
        {"s": 1.5, "q": "x"},
        {"s": -1, "q": "x"},
        {"s": "7", "q": "x"},
        [1],
        "x",
    ],
)
def test_exchange_skiptoken_with_junk_numbers(world, quiet_log, payload):
    tenant, client, auth_header = world
    text = (
        json.dumps(payload)
        if not (isinstance(payload, dict) and isinstance(payload["s"], int) and payload["s"] > 10**100)
        else '{"s": ' + "9" * 5000 + ', "q": "x"}'
    )
    token = base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")
    resp = invoke(client, tenant, auth_header, "Get-Mailbox", query_string={"$skiptoken": token})
    assert resp.status_code == 400
    assert "$skiptoken is invalid" in exchange_message(resp)


def test_graph_skiptoken_with_junk_numbers(world, quiet_log):
    tenant, client, auth_header = world
    for text in ('{"o": Infinity}', '{"o": ' + "9" * 5000 + "}", '{"o": 1e400}', '{"o": 2.5}'):
        token = "RFNwd" + base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")
        resp = client.get("/v1.0/users", query_string={"$skiptoken": token}, headers=auth_header(tenant, "graph"))
        assert resp.status_code == 400, text
        assert resp.get_json()["error"]["code"] == "Directory_ExpiredPageToken"


@pytest.mark.parametrize("prefer", ["odata.maxpagesize=" + "9" * 4300, "odata.maxpagesize=" + "0" * 5000 + "2"])
def test_exchange_maxpagesize_with_thousands_of_digits(world, quiet_log, prefer):
    tenant, client, auth_header = world
    resp = invoke(client, tenant, auth_header, "Get-Mailbox", headers={"Prefer": prefer})
    assert resp.status_code == 200
    assert len(resp.get_json()["value"]) == 6  # thousands of digits are "more than the maximum page"


def test_graph_top_with_thousands_of_digits(world, quiet_log):
    tenant, client, auth_header = world
    resp = client.get("/v1.0/users", query_string={"$top": "9" * 5000}, headers=auth_header(tenant, "graph"))
    assert resp.status_code == 400
    error = resp.get_json()["error"]
    assert error["code"] == "Request_UnsupportedQuery" and len(error["message"]) < 4 * bounds.MAX_ECHO


def test_a_journalled_lone_surrogate_does_not_break_the_dashboard(world, quiet_log):
    tenant, client, auth_header = world
    raw = b'{"CmdletInput": {"CmdletName": "Get-Mailbox", "Parameters": {"Identity": "zz\\ud800zz"}}}'
    resp = client.post(
        f"/adminapi/beta/{tenant.id}/InvokeCommand",
        data=raw,
        content_type="application/json",
        headers=auth_header(tenant, "exchange"),
    )
    assert resp.status_code == 404
    page = client.get(f"/tenants/{tenant.id}/requests")
    assert page.status_code == 200
    assert b"zz\\ud800zz" in page.get_data()  # shown as its escape
    assert client.get(f"/_mock/tenants/{tenant.id}/requests").status_code == 200


def test_a_huge_cmdlet_name_is_not_echoed_into_a_huge_header(world, quiet_log):
    tenant, client, auth_header = world
    resp = invoke(client, tenant, auth_header, "Get-" + "X" * 70_000)
    assert resp.status_code == 403
    header = resp.headers["x-ms-diagnostics"]
    assert len(header) < 4 * bounds.MAX_ECHO and "is not recognized" in header
    entry = client.get(f"/_mock/tenants/{tenant.id}/requests").get_json()
    entries = entry["value"] if isinstance(entry, dict) else entry
    assert all(len(e.get("cmdlet") or "") <= 2048 + 3 for e in entries)


def test_a_huge_client_request_id_is_not_echoed_whole(world, quiet_log):
    tenant, client, auth_header = world
    resp = client.get("/v1.0/users", headers={**auth_header(tenant, "graph"), "client-request-id": "c" * 20_000})
    assert resp.status_code == 200
    assert len(resp.headers["client-request-id"]) <= bounds.MAX_ECHO + 3


# ------------------------------------------------------------------------------------ every route, hostile
def _routes(app):
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if rule.endpoint == "static":
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            yield rule, method


HOSTILE_SEGMENTS = ["%00", "x" * 5000, "%ud800", "..%2F..", "*" * 200, "'", "%E2%80%AE", "null"]
HOSTILE_BODIES = [
    DEEP_JSON,
    DEEP_OBJECT,
    '{"a": NaN}',
    '"' + "\\ud800" * 10 + '"',
    "{" * 5,
    "[]",
    json.dumps({"x" * 70_000: 1}),
    json.dumps([{"Filter": PARENS_300}] * 3),
]


def test_every_route_survives_the_hostile_corpus(world, quiet_log, app):
    tenant, client, auth_header = world
    headers = {"exchange": auth_header(tenant, "exchange"), "graph": auth_header(tenant, "graph")}
    checked = 0
    for rule, method in _routes(app):
        api = (
            "graph"
            if rule.rule.startswith(("/v1.0", "/beta"))
            else ("exchange" if rule.rule.lower().startswith("/adminapi") else None)
        )
        for i, segment in enumerate(HOSTILE_SEGMENTS[:3]):
            tenant_key = tenant.id if i == 0 else segment
            path = re.sub(
                r"<(?:[^:>]+:)?([^>]+)>",
                lambda m: tenant_key if m.group(1) in ("t", "tenant_key") else segment,  # noqa: B023
                rule.rule,
            )  # (re.sub calls the lambda right here, in this iteration)
            body = HOSTILE_BODIES[(checked + i) % len(HOSTILE_BODIES)]
            kwargs = {"data": body, "content_type": "application/json"} if method in ("POST", "PUT", "PATCH") else {}
            resp = client.open(path, method=method, headers=headers.get(api, {}), **kwargs)
            checked += 1
            documented_501 = api == "graph" or (resp.get_json() or {}).get("error") == "not_implemented"
            if resp.status_code == 501 and documented_501:
                continue  # documented not-emulated answers (docs/coverage.md): Graph fallback, interactive sign-in
            assert resp.status_code < 500, (method, path, resp.status_code, resp.get_data(as_text=True)[:300])
            if resp.status_code == 405:
                assert "Allow" in resp.headers, (method, path)
            for name, value in resp.headers.items():
                assert len(value) < 8 * bounds.MAX_ECHO, (method, path, name)
    assert checked > 300


def test_every_405_names_the_allowed_methods(client):
    for method, path in (
        ("DELETE", "/_mock/health"),
        ("PUT", "/_mock/tenants"),
        ("GET", "/v1.0/$batch"),
        ("PUT", "/adminapi/v1.0/x/InvokeCommand"),
    ):
        resp = client.open(path, method=method)
        if resp.status_code == 405:
            assert "Allow" in resp.headers, (method, path)
    resp = client.delete("/_mock/tenants")
    assert resp.status_code == 405 and set(resp.headers["Allow"].split(", ")) >= {"GET", "POST"}


def test_every_route_answers_a_method_it_lacks_with_allow(world, app):
    tenant, client, _ = world
    answered = 0
    for rule in app.url_map.iter_rules():
        path = re.sub(
            r"<(?:[^:>]+:)?([^>]+)>", lambda m: tenant.id if m.group(1) in ("t", "tenant_key") else "x", rule.rule
        )
        for method in sorted({"GET", "POST", "PUT", "PATCH", "DELETE"} - set(rule.methods or ())):
            resp = client.open(path, method=method)
            if resp.status_code == 405:  # (another rule may serve that method at the same path)
                answered += 1
                assert resp.headers.get("Allow"), (method, path)
    assert answered > 300


# ------------------------------------------------------------------------------------- generated filters
OPATH_TOKENS = st.sampled_from(
    [
        "(",
        ")",
        "-and",
        "-or",
        "-not",
        "-eq",
        "-ne",
        "-like",
        "-notlike",
        "Name",
        "Alias",
        "'a*'",
        "'*'",
        '"x"',
        "$true",
        "$null",
        "Shoe",
        "'",
        "{",
        "}",
        "*" * 50,
        "-",
        "''",
    ]
)
ODATA_TOKENS = st.sampled_from(
    [
        "(",
        ")",
        "and",
        "or",
        "not",
        "eq",
        "ne",
        "in",
        "displayName",
        "accountEnabled",
        "'a'",
        "true",
        "null",
        "startswith(",
        ",",
        "any(",
        "a:",
        "a/b",
        "'",
        "1",
        "-1",
        "assignedLicenses/any(x:x/skuId eq 1)",
        "2020-01-01T00:00:00Z",
    ]
)


@FUZZ
@given(tokens=st.lists(OPATH_TOKENS, max_size=25), cmdlet=st.sampled_from(["Get-Mailbox", "Get-Recipient", "Get-User"]))
def test_generated_opath_filters_never_5xx(world, tokens, cmdlet):
    tenant, client, auth_header = world
    resp = invoke(client, tenant, auth_header, cmdlet, {"Filter": " ".join(tokens)})
    assert resp.status_code in (200, 400), resp.get_data(as_text=True)[:300]
    if resp.status_code == 400:
        assert "Cannot bind parameter 'Filter'" in exchange_message(resp) or "Filter" in exchange_message(resp)


@FUZZ
@given(tokens=st.lists(ODATA_TOKENS, max_size=25), eventual=st.booleans())
def test_generated_odata_filters_never_5xx(world, tokens, eventual):
    tenant, client, auth_header = world
    headers = auth_header(tenant, "graph")
    query = {"$filter": " ".join(tokens)}
    if eventual:
        headers["ConsistencyLevel"] = "eventual"
        query["$count"] = "true"
    resp = client.get("/v1.0/users", query_string=query, headers=headers)
    assert resp.status_code in (200, 400), resp.get_data(as_text=True)[:300]
    if resp.status_code == 400:
        assert resp.get_json()["error"]["code"] in ("BadRequest", "Request_UnsupportedQuery", "Request_BadRequest")


@pytest.mark.parametrize("start", ["0082-03-21T08:51:19-05:01", "1949-12-31T00:00:00Z", "9999-12-31T23:59:59z"])
def test_a_clock_start_no_certificate_can_carry_is_refused(client, quiet_log, start):
    resp = client.post("/_mock/tenants", json={"clockStart": start, "mailboxes": 0})
    assert resp.status_code == 400, resp.get_data(as_text=True)[:300]
    assert "clockStart" in resp.get_json()["error"]["details"]
    assert client.post("/_mock/tenants", json={"clockStart": "2001-02-03t04:05:06z", "mailboxes": 0}).status_code == 201


@pytest.mark.parametrize(
    "query",
    [
        "/requests?limit={n}",
        "/requests?status={n}",
        "/requests?status={n}xx",
        "/audit?limit={n}",
        "/sync/cycles?top={n}",
        "/onprem/users?top={n}",
    ],
)
def test_control_plane_numbers_with_thousands_of_digits(world, quiet_log, query):
    tenant, client, _ = world
    resp = client.get(f"/_mock/tenants/{tenant.id}" + query.format(n="9" * 5000))
    assert resp.status_code in (200, 400), resp.get_data(as_text=True)[:300]
    if resp.status_code == 400:
        assert len(resp.get_json()["error"]["message"]) < 4 * bounds.MAX_ECHO
    assert client.get(f"/tenants/{tenant.id}/requests?status={'9' * 5000}&page={'9' * 5000}").status_code == 200


# ------------------------------------------------------------------------------- Graph $batch item oddities
ODD_GRAPH_ITEMS = [
    {"url": "/users/\ud800"},
    {"url": "/users?$filter=displayName eq '\ud800'"},
    {"url": "/users/\u202e\U0001f600"},
    {"url": "/users?$top=1&x=\udfff\ud800"},
    {"url": "/users", "headers": {"X-Odd": "\ud800"}},
    {"url": "/users", "headers": {"X-Odd": "\u202e\U0001f600"}},
    {"url": "/users", "headers": {"X-Odd": "a\r\nX-Injected: 1"}},
    {"url": "/users", "headers": {"Bad Name:": "v"}},
    {"url": "/users", "headers": {"": "v"}},
    {"method": "PATCH", "url": "/users/x", "headers": {"Content-Type": "application/json"}, "body": "\ud800"},
    {"method": "PATCH", "url": "/users/x", "headers": {"Content-Type": "application/json"}, "body": '{"a": "\ud800"}'},
    {"method": "PATCH", "url": "/users/x", "headers": {"Content-Type": "text/plain\ud800"}, "body": {"a": 1}},
]


@pytest.mark.parametrize("odd", ODD_GRAPH_ITEMS, ids=range(len(ODD_GRAPH_ITEMS)))
def test_graph_batch_items_with_odd_text_answer_inside_the_batch(world, quiet_log, odd):
    tenant, client, auth_header = world
    item = {"id": "1", "method": "GET", **odd}
    # Sent as raw JSON: the lone surrogates travel as their \\u escapes, as a client's JSON encoder writes them.
    raw = json.dumps({"requests": [item]})
    resp = client.post("/v1.0/$batch", data=raw, content_type="application/json", headers=auth_header(tenant, "graph"))
    if any("\n" in k + v for k, v in odd.get("headers", {}).items()):  # a header line smuggled in: refused
        assert resp.status_code == 400 and "Invalid headers" in resp.get_json()["error"]["message"]
        return
    assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
    sub = resp.get_json()["responses"][0]
    assert sub["status"] < 500, sub  # each answers as Graph answers that text (a lone surrogate reads as U+FFFD)
