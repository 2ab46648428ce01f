"""Deletes, restores and purges across AD, Entra and Exchange on the tenant clock: soft delete whatever the
mailbox flag, 30-day retention, DeletingCloudOnlyObjectNotAllowed, the accidental-delete threshold, forward
sync delay, snapshot round trip of the engine."""

from __future__ import annotations

import pytest

from hybridsoa.mock.domain.connect import lifecycle
from hybridsoa.mock.domain.connect.sync import SyncEngine
from hybridsoa.mock.domain.errors import NotFound
from hybridsoa.mock.domain.onprem import ad_admin

from .test_sync_rules import ad_of_type, cloud_manage, cycle, mailbox_of, user_of


def test_ad_delete_soft_deletes_user_and_cloud_managed_mailbox(domain_tenant):
    t = domain_tenant
    ad = ad_of_type(t)
    user, mbx = user_of(t, ad), mailbox_of(t, ad)
    cloud_manage(t, mbx)
    cycle(t)
    t.advance(3)
    ad_admin.delete_ad_user(t, ad.sam_account_name)
    run = cycle(t)
    assert run["deletes"] == 1 and run["status"] == "success"
    assert user.deleted_date_time == t.clock.now() and mbx.when_soft_deleted == t.clock.now()
    assert cycle(t)["deletes"] == 0


def test_out_of_scope_move_deletes_and_moving_back_restores(domain_tenant):
    t = domain_tenant
    ad = ad_of_type(t)
    user, mbx = user_of(t, ad), mailbox_of(t, ad)
    ad_admin.move_ad_user(t, ad.sam_account_name, "OU=Disabled,DC=contoso,DC=local")
    assert cycle(t)["deletes"] == 1 and user.deleted_date_time is not None and mbx.is_soft_deleted
    ad_admin.move_ad_user(t, ad.sam_account_name, "OU=Users,OU=Corp,DC=contoso,DC=local")
    run = cycle(t)
    assert run["adds"] == 1 and user.deleted_date_time is None and not mbx.is_soft_deleted
    assert user_of(t, ad).id == user.id and user.on_premises_sync_enabled is True


def test_retention_purges_after_thirty_days_on_the_clock(domain_tenant):
    t = domain_tenant
    ad = ad_of_type(t)
    user, mbx = user_of(t, ad), mailbox_of(t, ad)
    ad_admin.delete_ad_user(t, ad.sam_account_name)
    cycle(t)
    t.advance(29 * 24 * 60)
    assert user.id in t.users and mbx.guid in t.mailboxes
    t.advance(24 * 60)
    assert user.id not in t.users and mbx.guid not in t.mailboxes
    with pytest.raises(NotFound):
        lifecycle.restore_user(t, user.id)


def test_cloud_restore_while_ad_object_gone_gives_deleting_cloud_only_error(domain_tenant):
    t = domain_tenant
    ad = ad_of_type(t)
    anchor = ad.consistency_guid
    user, mbx = user_of(t, ad), mailbox_of(t, ad)
    ad_admin.delete_ad_user(t, ad.sam_account_name)
    cycle(t)
    restored = lifecycle.restore_user(t, user.id)
    assert restored is user and user.deleted_date_time is None and not mbx.is_soft_deleted
    assert user.on_premises_sync_enabled is False  # Entra now treats it as a cloud object
    for _ in range(2):  # reported at every cycle until fixed on-premises
        run = cycle(t)
        assert run["status"] == "completed-export-errors"
        [err] = run["errors"]
        assert err["errorType"] == "DeletingCloudOnlyObjectNotAllowed" and err["userId"] == user.id
    # The fix: bring the AD object back with the same anchor so it hard-matches.
    ad_admin.create_ad_user(
        t, {"sAMAccountName": ad.sam_account_name, "displayName": "Back Again", "mS-DS-ConsistencyGuid": anchor}
    )
    run = cycle(t)
    assert run["errorCount"] == 0 and user.on_premises_sync_enabled is True and user.display_name == "Back Again"
    assert cycle(t)["status"] == "success"


def test_undo_soft_deleted_mailbox_restores_owner_too(domain_tenant):
    t = domain_tenant
    ad = ad_of_type(t)
    user, mbx = user_of(t, ad), mailbox_of(t, ad)
    ad_admin.move_ad_user(t, ad.sam_account_name, "OU=Disabled,DC=contoso,DC=local")
    cycle(t)
    assert lifecycle.restore_mailbox(t, mbx) is mbx
    assert not mbx.is_soft_deleted and user.deleted_date_time is None
    assert cycle(t)["errors"][0]["errorType"] == "DeletingCloudOnlyObjectNotAllowed"


def test_purge_user_removes_soft_deleted_mailbox(domain_tenant):
    t = domain_tenant
    ad = ad_of_type(t)
    user, mbx = user_of(t, ad), mailbox_of(t, ad)
    ad_admin.delete_ad_user(t, ad.sam_account_name)
    cycle(t)
    lifecycle.purge_user(t, user.id)
    assert user.id not in t.users and mbx.guid not in t.mailboxes
    with pytest.raises(NotFound):
        lifecycle.purge_user(t, user.id)


def test_deletion_threshold_stops_export_and_applies_nothing(domain_tenant):
    t = domain_tenant
    t.sync.update_settings({"deletionThreshold": 3})
    victims = list(t.ad_users)[:4]
    users = [user_of(t, a) for a in victims]
    keep = list(t.ad_users)[5]
    ad_admin.update_ad_user(t, keep.sam_account_name, {"title": "Held back"})
    for a in victims:
        ad_admin.delete_ad_user(t, a.sam_account_name)
    run = cycle(t)
    assert run["status"] == "stopped-deletion-threshold-exceeded" and run["pendingDeletes"] == 4
    assert run["deletes"] == 0 and run["eventId"] == 116 and "exceeded the current threshold of 3" in run["message"]
    assert all(u.deleted_date_time is None for u in users) and user_of(t, keep).job_title != "Held back"
    t.advance(30)  # the scheduler hits the same wall
    assert t.sync.history[-1]["status"] == "stopped-deletion-threshold-exceeded"
    t.sync.update_settings({"deletionThreshold": 500})
    run = cycle(t)
    assert run["status"] == "success" and run["deletes"] == 4 and run["updates"] == 1
    assert all(u.deleted_date_time is not None for u in users) and user_of(t, keep).job_title == "Held back"


def test_threshold_disabled_with_null(domain_tenant):
    t = domain_tenant
    t.sync.update_settings({"deletionThreshold": None})
    for a in list(t.ad_users)[:3]:
        ad_admin.delete_ad_user(t, a.sam_account_name)
    assert cycle(t)["deletes"] == 3


def test_forward_sync_delay_holds_exchange_changes(domain_tenant):
    t = domain_tenant
    t.settings["forwardSyncDelayMinutes"] = 60
    ad = ad_of_type(t)
    user, mbx = user_of(t, ad), mailbox_of(t, ad)
    ad_admin.update_ad_user(t, ad.sam_account_name, {"displayName": "Later", "extensionAttribute4": "E4"})
    newbie = ad_admin.create_ad_user(t, {"sAMAccountName": "latecomer", "displayName": "Late Comer"})
    cycle(t)
    assert user.display_name == "Later"  # Entra sees it at once
    assert mbx.display_name != "Later" and mbx.custom_attributes[3] is None and mailbox_of(t, newbie) is None
    assert t.sync.describe()["forwardSyncPending"] == 2
    t.advance(59)
    assert mbx.display_name != "Later"
    t.advance(1)
    assert mbx.display_name == "Later" and mbx.custom_attributes[3] == "E4"
    assert mailbox_of(t, newbie) is not None and mailbox_of(t, newbie).display_name == "Late Comer"


def test_forward_sync_delay_also_applies_to_mailbox_soft_delete(domain_tenant):
    t = domain_tenant
    t.settings["forwardSyncDelayMinutes"] = 15
    ad = ad_of_type(t)
    user, mbx = user_of(t, ad), mailbox_of(t, ad)
    ad_admin.delete_ad_user(t, ad.sam_account_name)
    cycle(t)
    assert user.deleted_date_time is not None and not mbx.is_soft_deleted
    t.advance(15)
    assert mbx.is_soft_deleted


def test_engine_snapshot_round_trip_keeps_settings_history_and_queue(domain_tenant):
    t = domain_tenant
    t.settings["forwardSyncDelayMinutes"] = 10
    t.sync.update_settings({"intervalMinutes": 45, "deletionThreshold": 7})
    ad = ad_of_type(t)
    ad_admin.update_ad_user(t, ad.sam_account_name, {"extensionAttribute6": "queued"})
    cycle(t)
    state = t.sync.to_dict()
    import json

    state = json.loads(json.dumps(state))  # snapshots are JSON
    fresh = SyncEngine(t)
    fresh.load(state)
    t.sync = fresh
    assert fresh.settings["intervalMinutes"] == 45 and fresh.settings["deletionThreshold"] == 7
    assert [r["id"] for r in fresh.history] == [r["id"] for r in state["history"]]
    t.advance(10)
    assert mailbox_of(t, ad).custom_attributes[5] == "queued"
    ad_admin.update_ad_user(t, ad.sam_account_name, {"title": "After restore"})
    run = cycle(t)
    assert run["updates"] == 1 and user_of(t, ad).job_title == "After restore"
    run = cycle(t)
    assert run["updates"] == 0 and run["deletes"] == 0


def test_whole_tenant_snapshot_keeps_connect_state(domain_tenant):
    from hybridsoa.mock.domain import snapshot

    t = domain_tenant
    t.sync.update_settings({"deletionThreshold": 9, "writeback": {"enabled": True}})
    ad = ad_of_type(t)
    user = user_of(t, ad)
    ad_admin.delete_ad_user(t, ad.sam_account_name)
    cycle(t)
    lifecycle.restore_user(t, user.id)
    doc = snapshot.dump_tenant(t)
    copy_ = snapshot.restore_tenant(doc, name="contoso-copy")
    assert copy_.sync.settings["deletionThreshold"] == 9
    assert [r["id"] for r in copy_.sync.history] == [r["id"] for r in t.sync.history]
    run = copy_.sync.run_cycle("Delta")
    assert run["errors"][0]["errorType"] == "DeletingCloudOnlyObjectNotAllowed"
    assert run["updates"] == 0 and run["adds"] == 0 and run["deletes"] == 0
    copy_.advance(20)
    assert copy_.sync.history[-1]["policyType"] == "Writeback"


def test_per_request_catch_up_purges_deletions_made_between_looks(domain_tenant):
    # A running clock, as a served tenant has: the timers run from the per-request catch-up, which does not read
    # the change logs on every call. A deletion made between two looks must still be purged when its retention ends.
    from hybridsoa.mock.domain.clock import TenantClock

    t = domain_tenant
    t.sync.settings["enabled"] = False  # nothing else scheduled
    real = [0.0]
    t.clock = TenantClock(t.clock.now(), real=lambda: real[0])
    day = 24 * 3600
    t.catch_up()
    real[0] += 10 * day
    t.catch_up()
    mbx = next(m for m in t.mailboxes if not m.is_soft_deleted)
    lifecycle.soft_delete_mailbox_now(t, mbx)  # deleted on day 10
    real[0] += 25 * day
    t.catch_up()
    assert mbx.guid in t.mailboxes  # day 35: retention not over
    real[0] += 6 * day
    t.catch_up()
    assert mbx.guid not in t.mailboxes  # day 41: purged
