"""Core domain: tenants, clock timers, change-tracking collections, tokens."""

import pytest

from hybridsoa.mock.domain.clock import TenantClock, run_timers_until
from hybridsoa.mock.domain.entra.tokens import issue_access_token, verify_access_token
from hybridsoa.mock.domain.errors import Unauthenticated
from hybridsoa.mock.store.collection import Collection


def test_tenant_is_deterministic_under_seed(registry):
    a = registry.create("alpha", seed=7, frozen_clock=True)
    other = type(registry)(seed=99).create("alpha", seed=7, frozen_clock=True)
    assert a.id == other.id
    assert [m.alias for m in a.mailboxes] == [m.alias for m in other.mailboxes]
    assert a.credentials()["apps"][0]["clientSecret"] == other.credentials()["apps"][0]["clientSecret"]


def test_collection_changed_since_tracks_updates_and_deletes():
    c = Collection("x")
    c.put("a", 1)
    c.put("b", 2)
    mark = c.current_seq()
    c.touch("a")
    c.delete("b")
    assert sorted(c.changed_since(mark)) == ["a", "b"]
    assert c.changed_since(c.current_seq()) == []


def test_timers_run_in_order_on_advance():
    clock = TenantClock(1000.0, frozen=True)
    ran = []

    class Every:
        def __init__(self, name, period):
            self.name, self.period, self.at = name, period, 1000.0 + period

        def next_due(self):
            return self.at

        def run_due(self, now):
            ran.append((self.name, now))
            self.at += self.period

    run_timers_until(clock, [Every("a", 30), Every("b", 20)], 1000.0 + 60)
    assert ran == [("b", 1020.0), ("a", 1030.0), ("b", 1040.0), ("a", 1060.0), ("b", 1060.0)]
    assert clock.now() == 1060.0


def test_token_expires_on_tenant_clock(domain_tenant):
    app = domain_tenant.app_by_name("automation")
    token, lifetime = issue_access_token(domain_tenant, "exchange", app=app)
    assert verify_access_token(domain_tenant, token, "exchange").is_app
    with pytest.raises(Unauthenticated):
        verify_access_token(domain_tenant, token, "graph")
    domain_tenant.advance(lifetime / 60 + 1)
    with pytest.raises(Unauthenticated):
        verify_access_token(domain_tenant, token, "exchange")
