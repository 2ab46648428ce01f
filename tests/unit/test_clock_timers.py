"""The tenant clock drives every subsystem in time order: Connect cycles, write-back runs, forward-sync
deliveries and purges interleave exactly as their due times say."""

from __future__ import annotations

import pytest

from hybridsoa.mock.domain.clock import iso
from hybridsoa.mock.domain.errors import InvalidArgument
from hybridsoa.mock.domain.onprem import ad_admin

from .test_sync_rules import ad_of_type, mailbox_of


def test_cycles_and_writeback_interleave_in_time_order(domain_tenant):
    t = domain_tenant
    start = t.clock.now()
    t.sync.update_settings({"writeback": {"enabled": True, "intervalMinutes": 20}})
    t.advance(60)
    runs = [(r["policyType"], r["startDateTime"]) for r in t.sync.history[1:]]
    minutes = lambda m: iso(start + m * 60)  # noqa: E731
    assert runs == [
        ("Writeback", minutes(20)),
        ("Delta", minutes(30)),
        ("Writeback", minutes(40)),
        ("Delta", minutes(60)),
        ("Writeback", minutes(60)),
    ]


def test_forward_delivery_lands_between_cycles(domain_tenant):
    t = domain_tenant
    t.settings["forwardSyncDelayMinutes"] = 45
    ad = ad_of_type(t)
    mbx = mailbox_of(t, ad)
    ad_admin.update_ad_user(t, ad.sam_account_name, {"extensionAttribute8": "x"})
    t.advance(30)  # scheduled cycle at +30 queues the delivery for +75
    t.advance(44)
    assert mbx.custom_attributes[7] is None
    t.advance(1)
    assert mbx.custom_attributes[7] == "x" and mbx.when_changed == t.clock.now()


def test_clock_never_moves_backwards_and_rejects_negative_advance(domain_tenant):
    t = domain_tenant
    now = t.clock.now()
    with pytest.raises(InvalidArgument):
        t.advance(-1)
    assert t.clock.now() == now
    t.advance(0)
    assert t.clock.now() == now


def test_timer_reports_next_due_across_subsystems(domain_tenant):
    t = domain_tenant
    assert t.sync.next_due() == t.sync.next_cycle_at
    t.settings["forwardSyncDelayMinutes"] = 5
    ad = ad_of_type(t)
    ad_admin.update_ad_user(t, ad.sam_account_name, {"extensionAttribute3": "soon"})
    t.sync.run_cycle("Delta")
    assert t.sync.next_due() == t.clock.now() + 300


def test_scheduled_cycles_run_as_real_time_passes(domain_tenant):
    from hybridsoa.mock.domain.clock import TenantClock

    t = domain_tenant
    real = [1000.0]
    t.clock = TenantClock(t.clock.now(), real=lambda: real[0])  # a running clock over a fake wall clock
    start = t.clock.now()
    ad = ad_of_type(t)
    ad_admin.update_ad_user(t, ad.sam_account_name, {"extensionAttribute12": "live"})
    real[0] += 29 * 60
    t.catch_up()  # what every request does first
    assert len(t.sync.history) == 1
    real[0] += 60
    t.catch_up()
    assert t.sync.history[-1]["trigger"] == "Scheduler" and t.sync.history[-1]["startDateTime"] == iso(start + 1800)
    assert mailbox_of(t, ad).custom_attributes[11] == "live"


def test_a_failing_scheduled_cycle_is_recorded_and_does_not_block_the_clock(domain_tenant, monkeypatch):
    t = domain_tenant

    def broken(*_a, **_k):
        raise RuntimeError("boom")

    monkeypatch.setattr(t.sync, "run_cycle", broken)
    t.advance(61)
    failed = [r for r in t.sync.history if r["status"] == "failed"]
    assert len(failed) == 2 and failed[0]["message"] == "RuntimeError: boom"
    assert t.sync.next_cycle_at == t.clock.now() + 29 * 60
