"""The SQLite durable store: what a flush writes comes back identical after reopening, in one transaction."""

from __future__ import annotations

import sqlite3

import pytest

from hybridsoa.mock.domain import snapshot
from hybridsoa.mock.domain.tenant import TenantRegistry
from hybridsoa.mock.store import open_store


def _reopen(data_dir):
    registry = TenantRegistry(seed=1234)
    store = open_store(registry, str(data_dir), snapshot)
    return registry, store


def _toggle(tenant, index=0, value=True):
    with tenant.lock:
        mbx = [m for m in tenant.mailboxes if m.recipient_type_details == "UserMailbox"][index]
        mbx.is_exchange_cloud_managed = value
        tenant.mailboxes.touch(mbx.guid)
        tenant.add_audit_record(
            "exchange",
            "Set-Mailbox",
            None,
            target=mbx.guid,
            changes={"IsExchangeCloudManaged": {"old": not value, "new": value}},
        )
        return mbx.guid


@pytest.fixture
def stored(tmp_path):
    registry, store = _reopen(tmp_path)
    tenant = registry.create("contoso", seed=42, frozen_clock=True, mailboxes=12)
    yield tmp_path, registry, store, tenant
    store.abandon()


def test_created_tenant_is_stored_whole(stored):
    data_dir, registry, store, tenant = stored
    registry2, store2 = _reopen(data_dir)
    assert snapshot.dump_tenant(registry2.get("contoso")) == snapshot.dump_tenant(tenant)
    store2.abandon()


def test_flush_persists_changes_and_skips_when_nothing_changed(stored):
    data_dir, registry, store, tenant = stored
    guid = _toggle(tenant)
    with tenant.lock:
        tenant.advance(45)  # a scheduled cycle runs: sync history and clock change too
        assert store.flush(tenant) is True
        assert store.flush(tenant) is False
    registry2, store2 = _reopen(data_dir)
    again = registry2.get("contoso")
    assert again.mailboxes.get(guid).is_exchange_cloud_managed is True
    assert [r.operation for r in again.audit.records][-1:] == ["Set-Mailbox"]
    assert snapshot.dump_tenant(again) == snapshot.dump_tenant(tenant)
    store2.abandon()


def test_unflushed_changes_are_not_on_disk(stored):
    data_dir, registry, store, tenant = stored
    guid = _toggle(tenant)
    registry2, store2 = _reopen(data_dir)
    assert registry2.get("contoso").mailboxes.get(guid).is_exchange_cloud_managed is False
    store2.abandon()


def test_deletes_are_tombstones(stored):
    data_dir, registry, store, tenant = stored
    with tenant.lock:
        sam = tenant.ad_users.keys()[0]
        tenant.ad_users.delete(sam)
        store.flush(tenant)
    registry2, store2 = _reopen(data_dir)
    again = registry2.get("contoso")
    assert sam not in again.ad_users
    assert sam in again.ad_users.changed_since(0)
    store2.abandon()


def test_failed_flush_writes_nothing_and_retries(tmp_path, monkeypatch):
    # Group commit (synchronous=full): a failed SQLite commit is not acknowledged and is retried.
    data_dir = tmp_path
    registry = TenantRegistry(seed=1234)
    store = open_store(registry, str(data_dir), snapshot, "full")
    tenant = registry.create("contoso", seed=42, frozen_clock=True, mailboxes=12)
    guid = _toggle(tenant)
    real = store._commit

    def boom():
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(store, "_commit", boom)
    with pytest.raises(sqlite3.OperationalError), tenant.lock:
        store.flush(tenant)
    monkeypatch.setattr(store, "_commit", real)
    registry2, store2 = _reopen(data_dir)
    assert registry2.get("contoso").mailboxes.get(guid).is_exchange_cloud_managed is False
    store2.abandon()
    with tenant.lock:
        assert store.flush(tenant) is True
    registry3, store3 = _reopen(data_dir)
    assert registry3.get("contoso").mailboxes.get(guid).is_exchange_cloud_managed is True
    store3.abandon()


def test_a_failed_redo_log_append_writes_nothing(stored, monkeypatch):
    # synchronous=normal: a write is durable once the redo log holds it; applying it to SQLite can fail and retry.
    data_dir, registry, store, tenant = stored
    guid = _toggle(tenant)

    def full(data):
        raise OSError(28, "No space left on device")

    real_append = store.redo.append
    monkeypatch.setattr(store.redo, "append", full)
    with pytest.raises(OSError), tenant.lock:
        store.flush(tenant)
    monkeypatch.setattr(store.redo, "append", real_append)
    registry2, store2 = _reopen(data_dir)
    assert registry2.get("contoso").mailboxes.get(guid).is_exchange_cloud_managed is False
    store2.close()


def test_a_write_in_the_redo_log_survives_a_failed_sqlite_commit(stored, monkeypatch):
    data_dir, registry, store, tenant = stored
    guid = _toggle(tenant)

    def boom():
        raise sqlite3.OperationalError("disk I/O error")

    real_commit = store._commit
    monkeypatch.setattr(store, "_commit", boom)
    with pytest.raises(sqlite3.OperationalError), tenant.lock:
        store.flush(tenant)  # logged, not applied
    with store._cond:  # the process "dies" here: its background thread applies nothing more
        store._closing = True
        store._cond.notify_all()
    store._committer.join()
    monkeypatch.setattr(store, "_commit", real_commit)
    registry3, store3 = _reopen(data_dir)  # replays the redo log
    assert registry3.get("contoso").mailboxes.get(guid).is_exchange_cloud_managed is True
    assert snapshot.dump_tenant(registry3.get("contoso")) == snapshot.dump_tenant(tenant)
    store3.close()


def test_delete_and_reset_hooks(stored):
    data_dir, registry, store, tenant = stored
    other = registry.create("fabrikam", seed=7, frozen_clock=True, mailboxes=4)
    guid = _toggle(tenant)
    with tenant.lock:
        store.flush(tenant)
    registry.reset("contoso")
    registry.delete("fabrikam")
    registry2, store2 = _reopen(data_dir)
    assert [t.name for t in registry2.list()] == ["contoso"]
    assert registry2.get("contoso").mailboxes.get(guid).is_exchange_cloud_managed is False
    assert other.id not in registry2.tenants
    store2.abandon()


def test_registry_counter_survives_so_generated_names_do_not_collide(stored):
    data_dir, registry, store, tenant = stored
    first = registry.create(frozen_clock=True, mailboxes=0)
    registry2, store2 = _reopen(data_dir)
    second = registry2.create(frozen_clock=True, mailboxes=0)
    assert second.name != first.name
    store2.abandon()


def test_running_clock_resumes_in_real_time(tmp_path):
    registry, store = _reopen(tmp_path)
    tenant = registry.create("live", seed=3, mailboxes=0)
    before = tenant.clock.now()
    store.abandon()
    registry2, store2 = _reopen(tmp_path)
    assert registry2.get("live").clock.now() >= before
    assert registry2.get("live").clock.frozen is False
    store2.abandon()


def test_read_flush_skips_unchanged_state_but_catches_what_moved(stored):
    data_dir, registry, store, tenant = stored
    with tenant.lock:
        assert store.flush(tenant, thorough=False) is False
        tenant.settings["profile"] = "strict"  # a write request: compared thoroughly
        assert store.flush(tenant) is True
        tenant.advance(31)  # timers during a read: RNG and clock moved
        assert store.flush(tenant, thorough=False) is True
    registry2, store2 = _reopen(data_dir)
    again = registry2.get("contoso")
    assert again.settings["profile"] == "strict"
    assert again.sync.history == tenant.sync.history
    store2.abandon()


def test_data_dir_is_private_and_database_files_are_owner_only(tmp_path):
    import stat

    from hybridsoa.mock.domain.tenant import TenantRegistry

    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o755)
    (data_dir / "hybridsoa.sqlite3").touch(mode=0o644)
    registry = TenantRegistry(seed=1)
    store = open_store(registry, str(data_dir), snapshot)
    registry.create("perm", mailboxes=2, seed=1)
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    for name in ("hybridsoa.sqlite3", "hybridsoa.sqlite3-wal", "hybridsoa.sqlite3-shm"):
        assert stat.S_IMODE((data_dir / name).stat().st_mode) == 0o600, name
    store.close()


def test_request_journal_survives_a_restart_bounded(tmp_path):
    from hybridsoa.mock.app import create_app
    from hybridsoa.mock.domain.tenant import TenantRegistry

    registry = TenantRegistry(seed=1)
    store = open_store(registry, str(tmp_path), snapshot)
    tenant = registry.create("journaled", mailboxes=2, seed=1, frozen_clock=True)
    tenant.journal.resize(5)
    client = create_app(registry).test_client()
    for _ in range(8):
        assert client.get(f"/_mock/tenants/{tenant.id}/clock").status_code == 200
        client.post(f"/adminapi/beta/{tenant.id}/InvokeCommand", json={})
    store.close()
    reopened = TenantRegistry(seed=1)
    again = open_store(reopened, str(tmp_path), snapshot)
    kept = reopened.get("journaled").journal
    assert [e["seq"] for e in kept.entries] == [e["seq"] for e in tenant.journal.entries]
    assert len(kept.entries) == 5
    assert kept.add({"api": "exchange"})["seq"] == tenant.journal.entries[-1]["seq"] + 1
    again.close()


def test_a_restart_reads_only_the_index_and_loads_each_tenant_on_first_use(tmp_path):
    from hybridsoa.mock.app import create_app
    from hybridsoa.mock.domain.errors import Conflict

    registry, store = _reopen(tmp_path)
    first = registry.create("first", seed=1, frozen_clock=True, mailboxes=3)
    second = registry.create("second", seed=2, frozen_clock=True, mailboxes=3)
    third = registry.create("third", seed=3, frozen_clock=True, mailboxes=3)
    guid = _toggle(second)
    with second.lock:
        store.flush(second)
    store.close()
    reopened, again = _reopen(tmp_path)
    assert reopened.tenants == {} and reopened.count() == 3
    assert create_app(reopened).test_client().get("/_mock/health").get_json()["tenants"] == 3
    assert reopened.tenants == {}  # health loads nothing
    with pytest.raises(Conflict):
        reopened.create("third", seed=9)  # a name taken by a tenant not loaded yet
    loaded = reopened.get(second.domain)
    assert list(reopened.tenants) == [second.id]
    assert loaded.mailboxes.get(guid).is_exchange_cloud_managed is True
    assert snapshot.dump_tenant(loaded) == snapshot.dump_tenant(second)
    assert reopened.get(second.id) is loaded  # loaded once
    newcomer = reopened.create("fourth", seed=4, frozen_clock=True, mailboxes=1)
    # Listing loads the rest; creation order is kept, with tenants created since the restart last.
    assert [t.name for t in reopened.list()] == ["first", "second", "third", "fourth"]
    assert reopened.count() == 4 and not reopened.unloaded
    assert snapshot.dump_tenant(reopened.get("first")) == snapshot.dump_tenant(first)
    assert snapshot.dump_tenant(reopened.get("third")) == snapshot.dump_tenant(third)
    assert newcomer.id in reopened.tenants
    again.close()


def test_deleting_a_tenant_never_loaded_removes_it_from_disk(tmp_path):
    registry, store = _reopen(tmp_path)
    registry.create("gone", seed=1, frozen_clock=True, mailboxes=2)
    store.close()
    reopened, again = _reopen(tmp_path)
    reopened.delete("gone")
    assert reopened.count() == 0
    again.close()
    last, store3 = _reopen(tmp_path)
    assert last.count() == 0 and last.find("gone") is None
    assert store3.db.execute("SELECT COUNT(*) FROM objects").fetchone()[0] == 0
    store3.close()


def test_rows_of_a_whole_tenant_write_cut_short_are_swept_on_restart(tmp_path):
    registry, store = _reopen(tmp_path)
    kept = registry.create("kept", seed=1, frozen_clock=True, mailboxes=2)
    store.close()
    # What a kill -9 in the middle of writing a new tenant leaves: its marker and some rows, no tenants row.
    db = sqlite3.connect(str(tmp_path / "hybridsoa.sqlite3"), isolation_level=None)
    db.execute("INSERT INTO meta (name, data) VALUES ('writing:half', '')")
    db.execute(
        "INSERT INTO objects (tenant_id, collection, key, seq, cls, data) VALUES ('half', 'x', 'k', 1, NULL, '{}')"
    )
    db.close()
    reopened, again = _reopen(tmp_path)
    assert again.db.execute("SELECT COUNT(*) FROM objects WHERE tenant_id='half'").fetchone()[0] == 0
    assert again.db.execute("SELECT COUNT(*) FROM meta WHERE name LIKE 'writing:%'").fetchone()[0] == 0
    assert [t.id for t in reopened.list()] == [kept.id]
    again.close()


def test_synchronous_normal_by_default_and_full_on_request(tmp_path):
    registry = TenantRegistry(seed=1)
    store = open_store(registry, str(tmp_path / "a"), snapshot)
    assert store.db.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL: survives kill -9 (WAL in the OS cache)
    store.close()
    store = open_store(TenantRegistry(seed=1), str(tmp_path / "b"), snapshot, "full")
    assert store.db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL: an fsync per group commit
    store.close()
    with pytest.raises(ValueError):
        open_store(TenantRegistry(seed=1), str(tmp_path / "c"), snapshot, "off")


def test_serve_takes_the_synchronous_option():
    from hybridsoa.mock import cli

    args = cli._parser().parse_args(["serve", "--synchronous", "full"])
    assert args.synchronous == "full"
    assert cli._parser().parse_args(["serve"]).synchronous == "normal"
    with pytest.raises(SystemExit):
        cli._parser().parse_args(["serve", "--synchronous", "off"])


def test_a_value_changing_only_between_1_true_and_1_0_is_written(stored):
    # Comparing parsed blobs by value saw 1 == True == 1.0 and skipped the write: the type must survive a restart.
    data_dir, registry, store, tenant = stored
    for value in (1, True, 1.0):
        with tenant.lock:
            tenant.sync.settings["probe"] = value
            tenant.settings["probe"] = value
            assert store.flush(tenant) is True
        registry2, store2 = _reopen(data_dir)
        again = registry2.get("contoso")
        assert type(again.sync.settings["probe"]) is type(value)
        assert type(again.settings["probe"]) is type(value)
        store2.abandon()


def test_rng_signature_and_stored_rng_match_getstate():
    import json
    import random

    from hybridsoa.mock.store.files import ids_blob
    from hybridsoa.mock.store.signals import ids_text, rng_signature

    rng = random.Random(7)
    for draws in (0, 1, 155, 156, 700):
        for _ in range(draws):
            rng.getrandbits(128)
        rng.gauss(0, 1)
        state = rng.getstate()
        assert json.loads(ids_text(7, rng, rng_signature(rng))) == ids_blob(7, state)
        before = rng_signature(rng)
        rng.random()
        assert rng_signature(rng) != before


def test_cmdlets_declared_rows_only_change_no_state_blob(tmp_path):
    # register_cmdlet(rows_only=True) lets the durable store skip fingerprinting subsystems and settings: check the
    # claim for every such cmdlet with edits that succeed and ones that are refused.
    from werkzeug.test import Client

    from hybridsoa.mock.app import create_app
    from hybridsoa.mock.domain.entra.tokens import issue_access_token
    from hybridsoa.mock.domain.exchange.cmdlets import _REGISTRY

    registry, store = _reopen(tmp_path)
    client = Client(create_app(registry))
    tenant = registry.create("contoso", seed=42, frozen_clock=True, mailboxes=12)
    token, _ = issue_access_token(tenant, "exchange", app=tenant.app_by_name("automation"))
    assert sorted(s.name for s in _REGISTRY.values() if s.rows_only) == ["Set-Mailbox"]
    alias = next(m.alias for m in tenant.mailboxes if m.recipient_type_details == "UserMailbox")
    edits = [
        {"IsExchangeCloudManaged": True},
        {"IsExchangeCloudManaged": False, "CustomAttribute3": "x"},
        {"DisplayName": "Renamed", "HiddenFromAddressListsEnabled": True},
        {"EmailAddresses": {"add": ["smtp:extra@contoso.onmicrosoft.com"]}},
        {"ExtensionCustomAttribute2": ["a", "b"]},
        {"PrimarySmtpAddress": "nobody@elsewhere.example"},
        {"Identity": "no-such-mailbox", "IsExchangeCloudManaged": True},
    ]
    statuses = []
    for params in edits:
        body = {"CmdletInput": {"CmdletName": "Set-Mailbox", "Parameters": {"Identity": alias, **params}}}
        answer = client.post(
            f"/adminapi/beta/{tenant.id}/InvokeCommand", json=body, headers={"Authorization": "Bearer " + token}
        )
        statuses.append(answer.status_code)
        with tenant.lock:
            # ``ids:pos``: a call logged as a command leaves even the RNG position to the round.
            assert set(store._changed_blobs(tenant)) <= {"ids", "ids:pos", "clock"}, params
    assert statuses[0] == 200 and statuses.count(200) >= 3 and statuses[-1] != 200  # edits and refusals both
    store._drain(reads=True)  # the background round: it writes what the commands changed
    assert tenant.mailboxes.dirty == set() and tenant.audit.dirty == []
    store.close()


def test_rng_position_and_words_survive_a_restart_across_twists(stored):
    # Between twists of the generator only its position is written (``ids:pos``); a restart must continue exactly.
    data_dir, registry, store, tenant = stored
    for rounds in (1, 150, 160, 500):
        with tenant.lock:
            for _ in range(rounds):
                tenant.ids.guid()
            tenant.mailboxes.touch(tenant.mailboxes.keys()[0])
            assert store.flush(tenant, thorough=False) is True
        registry2, store2 = _reopen(data_dir)
        assert registry2.get("contoso").ids.getstate() == tenant.ids.getstate()
        store2.abandon()


def test_a_round_of_requests_is_stored_as_one_audit_row_and_one_journal_row(tmp_path):
    # The redo log's apply writes each tenant's audit records and journal entries of a round as one row each;
    # a restart reads them back whole and in order, and the journal stays bounded to its ring across rounds.
    registry, store = _reopen(tmp_path)
    tenant = registry.create("chunked", mailboxes=4, seed=5, frozen_clock=True)
    store._stop_background()  # the rounds below are the only applies
    tenant.journal.resize(7)
    with store.lock:
        audit_before = store.db.execute("SELECT COUNT(*) FROM audit").fetchone()[0]
    for round_ in range(4):
        for i in range(5):
            with tenant.lock:
                _toggle(tenant, i % 2, value=bool((round_ + i) % 2))
                tenant.journal.add({"api": "exchange", "cmdlet": "Set-Mailbox", "round": round_, "i": i})
                store.request_done(tenant, thorough=True, blobs=False)
        assert store._drain(reads=True) == 5
    with store.lock:
        audit_rows = store.db.execute("SELECT COUNT(*) FROM audit").fetchone()[0] - audit_before
        journal_rows = store.db.execute("SELECT COUNT(*) FROM journal WHERE tenant_id=?", (tenant.id,)).fetchone()[0]
    assert audit_rows == 4  # 20 records
    assert journal_rows <= 2  # the newest round, and the one whose newest entries are still in the ring
    expected_audit = snapshot.dump_tenant(tenant)["audit"]
    expected_journal = list(tenant.journal.entries)
    store.close()
    registry2, store2 = _reopen(tmp_path)
    again = registry2.get("chunked")
    assert snapshot.dump_tenant(again)["audit"] == expected_audit
    assert [e["seq"] for e in again.journal.entries] == [e["seq"] for e in expected_journal]
    assert [(e["round"], e["i"]) for e in again.journal.entries] == [(e["round"], e["i"]) for e in expected_journal]
    assert len(again.journal.entries) == 7
    store2.close()
