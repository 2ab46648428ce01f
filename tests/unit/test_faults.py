"""Fault rules and token buckets (domain only): matching, probability under the seed, expiry, tenant-clock refill."""

from __future__ import annotations

import pytest

from hybridsoa.mock.domain.errors import InvalidArgument, NotFound


def _outcomes(tenant, n, **kw):
    out = []
    for _ in range(n):
        d = tenant.faults.check(**kw)
        out.append(None if d is None else (d.kind, d.status))
    return out


def test_throttling_is_off_by_default(domain_tenant):
    assert _outcomes(domain_tenant, 50, api="exchange", app_id="a") == [None] * 50


def test_token_bucket_allows_burst_then_429_and_refills_on_the_tenant_clock(domain_tenant):
    t = domain_tenant
    t.faults.set_throttle("exchange", rate=0.5, burst=3)
    kinds = [t.faults.check("exchange", app_id="app-1").kind for _ in range(4)]
    assert kinds == ["ok", "ok", "ok", "throttle"]
    refused = t.faults.check("exchange", app_id="app-1")
    assert refused.status == 429 and refused.retry_after == 2
    assert refused.rate_headers["Rate-Limit-Limit"] == "3"
    assert refused.rate_headers["Rate-Limit-Remaining"] == "0"
    # Another app has its own bucket; another api is not throttled at all.
    assert t.faults.check("exchange", app_id="app-2").kind == "ok"
    assert t.faults.check("graph", app_id="app-1") is None
    t.advance(2 / 60)  # two seconds of tenant time = one token at 0.5/s
    assert t.faults.check("exchange", app_id="app-1").kind == "ok"
    assert t.faults.check("exchange", app_id="app-1").kind == "throttle"


def test_remaining_header_counts_down(domain_tenant):
    t = domain_tenant
    t.faults.set_throttle("exchange", rate=1, burst=5)
    remaining = [t.faults.check("exchange", app_id="x").rate_headers["Rate-Limit-Remaining"] for _ in range(3)]
    assert remaining == ["4", "3", "2"]


def test_rule_matches_cmdlet_glob_method_app_and_user(domain_tenant):
    t = domain_tenant
    automation = t.app_by_name("automation")
    rule = t.faults.add_rule({"api": "exchange", "cmdlet": "set-*", "status": 503, "app": "automation"})
    assert t.faults.check("exchange", cmdlet="Get-Mailbox", app_id=automation.app_id) is None
    assert t.faults.check("exchange", cmdlet="Set-Mailbox", app_id="someone-else") is None
    hit = t.faults.check("exchange", cmdlet="Set-Mailbox", app_id=automation.app_id)
    assert (hit.kind, hit.status, hit.rule_id, hit.retry_after) == ("fault", 503, rule.id, 5)
    t.faults.add_rule(
        {
            "api": "graph",
            "path": "/users/*",
            "method": "PATCH",
            "status": 500,
            "user": "helpdesk@contoso.onmicrosoft.com",
        }
    )
    assert t.faults.check("graph", method="GET", path="/users/1", user="helpdesk@contoso.onmicrosoft.com") is None
    assert t.faults.check("graph", method="PATCH", path="/users/1", user="other@x") is None
    assert (
        t.faults.check("graph", method="PATCH", path="/users/1", user="HELPDESK@contoso.onmicrosoft.com").status == 500
    )


def test_count_expires_the_rule(domain_tenant):
    t = domain_tenant
    t.faults.add_rule({"api": "graph", "status": 502, "count": 2})
    assert _outcomes(t, 3, api="graph") == [("fault", 502), ("fault", 502), None]
    assert t.faults.rules == []


def test_probability_is_deterministic_under_the_seed(make_tenant):
    made = []

    def draws(seed):
        made.append(seed)
        t = make_tenant(name=f"p{len(made)}", seed=seed, mailboxes=0)
        t.faults.add_rule({"api": "exchange", "status": 500, "probability": 0.3})
        return _outcomes(t, 200, api="exchange")

    a, b, c = draws(7), draws(7), draws(8)
    assert a == b
    assert a != c
    assert 30 < sum(1 for x in a if x) < 90  # roughly 30% of 200


def test_latency_rule_delays_without_rejecting(domain_tenant):
    t = domain_tenant
    t.faults.add_rule({"api": "exchange", "latencyMs": [100, 200]})
    d = t.faults.check("exchange", cmdlet="Get-Mailbox")
    assert d.kind == "latency" and not d.rejects and 100 <= d.latency_ms <= 200


def test_throttled_request_spends_no_fault_count(domain_tenant):
    t = domain_tenant
    t.faults.set_throttle("exchange", rate=1, burst=1)
    t.faults.add_rule({"api": "exchange", "status": 500, "count": 1})
    assert t.faults.check("exchange", app_id="a").status == 500
    assert t.faults.check("exchange", app_id="a").status == 429
    t.faults.clear()
    assert t.faults.check("exchange", app_id="a") is None


@pytest.mark.parametrize(
    "spec",
    [
        {},
        {"status": 404},
        {"latencyMs": [5, 1]},
        {"api": "smtp", "status": 500},
        {"latencyMs": "x"},
        {"status": 500, "probability": 1.5},
        {"status": 500, "count": 0},
    ],
)
def test_bad_rules_are_refused(domain_tenant, spec):
    with pytest.raises(InvalidArgument):
        domain_tenant.faults.add_rule(spec)
    assert domain_tenant.faults.rules == []


def test_remove_and_round_trip(domain_tenant):
    t = domain_tenant
    rule = t.faults.add_rule({"status": 504, "count": 3})
    t.faults.set_throttle("graph", 2, 4)
    t.faults.check("graph", app_id="a")
    state = t.faults.to_dict()
    t.faults.clear()
    t.faults.load(state)
    assert t.faults.describe()["rules"][0]["id"] == rule.id
    assert t.faults.describe()["throttling"]["graph"] == {"api": "graph", "rate": 2.0, "burst": 4}
    t.faults.remove_rule(rule.id)
    with pytest.raises(NotFound):
        t.faults.remove_rule(rule.id)
