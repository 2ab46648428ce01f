"""Big tenants never block other tenants (issue 21): a deleted tenant is freed a slice at a time, letting other
threads run between slices, and without a full collection over the big tenants still alive. Structural checks
only (no timings): how much is freed between two pauses, and which collections run."""

import gc
import itertools
import sqlite3
import threading
import weakref

import pytest

from hybridsoa.mock.domain import memory
from hybridsoa.mock.domain import tenant as tenant_mod
from hybridsoa.mock.domain.tenant import TenantRegistry

CHUNK = 100


def _entries(tenant) -> int:
    return sum(len(c) for c in vars(tenant).values() if hasattr(c, "take_dirty"))


@pytest.fixture
def frozen_registry(monkeypatch):
    monkeypatch.setattr(tenant_mod, "FREEZE_THRESHOLD", 10)
    unfreeze, collect = gc.unfreeze, gc.collect  # the tests below replace them
    unfreeze()
    yield TenantRegistry(seed=1)
    unfreeze()
    collect()


def test_dismantle_frees_a_slice_at_a_time_and_leaves_shared_values_alone():
    reg = TenantRegistry(seed=1)
    tenant = reg.create("big", mailboxes=600, seed=3)
    shared = memory.EMPTY_LIST
    seen = [_entries(tenant)]
    assert seen[0] > 1200
    slices = memory.dismantle(tenant, lock=tenant.lock, chunk=CHUNK, pause=lambda: seen.append(_entries(tenant)))
    assert slices == len(seen) - 1 >= seen[0] // CHUNK
    assert all(0 <= before - after <= CHUNK for before, after in itertools.pairwise(seen))
    assert len(tenant.mailboxes) == len(tenant.ad_users) == len(tenant.users) == 0  # small ones go with the tenant
    assert shared == [] and memory.EMPTY_LIST is shared  # a value other tenants share is never emptied


def test_a_shared_container_is_not_emptied():
    class Holder:
        pass

    Holder.__module__ = memory.__name__  # looked inside, as the mock's own objects are
    outside = list(range(1000))
    holder = Holder()
    holder.mine, holder.theirs = list(range(1000)), outside
    memory.dismantle(holder, chunk=CHUNK, pause=lambda: None)
    assert holder.mine == [] and len(outside) == 1000


def test_deleting_a_big_tenant_runs_no_full_collection_while_another_is_frozen(frozen_registry, monkeypatch):
    reg = frozen_registry
    keep = reg.create("keep", mailboxes=300, seed=3)
    counts = keep.summary()["counts"]
    before = gc.get_freeze_count()
    reg.create("big", mailboxes=600, seed=4)
    added = gc.get_freeze_count() - before
    assert added > 5000

    def no_full_collection(*args, **kwargs):
        raise AssertionError("a full collection walks every frozen big tenant: a pause for all")

    monkeypatch.setattr(gc, "collect", no_full_collection)
    monkeypatch.setattr(gc, "unfreeze", no_full_collection)
    reg.delete("big")
    # Freed by reference counting as it was taken apart: next to nothing of it is left in the frozen generation.
    assert gc.get_freeze_count() - before < added // 20
    assert reg.get("keep") is keep and keep.summary()["counts"] == counts  # nothing shared was emptied


def test_creating_a_second_big_tenant_runs_no_full_collection(frozen_registry, monkeypatch):
    reg = frozen_registry
    reg.create("first", mailboxes=300, seed=3)

    def no_full_collection(*args, **kwargs):
        raise AssertionError("a full collection walks every frozen big tenant: a pause for all")

    monkeypatch.setattr(gc, "collect", no_full_collection)
    monkeypatch.setattr(gc, "unfreeze", no_full_collection)
    seeded = len(reg.create("second", mailboxes=300, seed=4).mailboxes)
    assert len(reg.reset("second").mailboxes) == seeded


class _Cycle:
    """What a request served meanwhile leaves behind: an object that refers to itself (Werkzeug's route matcher
    makes one closure cycle per request), freed only by a collection."""

    def __init__(self):
        self.me = self


@pytest.mark.parametrize("how", ["create", "reset"])
def test_other_requests_garbage_is_freed_while_a_big_tenant_is_written(frozen_registry, how):
    reg = frozen_registry
    seen: dict = {}

    def a_request_meanwhile(tenant):
        # Runs where the durable store writes the whole tenant (after the freeze), as requests to other tenants
        # are served during a big create or reset.
        generations: list[int] = []

        def watch(phase, info):
            if phase == "start":
                generations.append(info["generation"])

        gc.callbacks.append(watch)
        try:
            left = [weakref.ref(_Cycle()) for _ in range(5000)]
        finally:
            gc.callbacks.remove(watch)
        alive = sum(ref() is not None for ref in left[:4000])
        seen.update(held=memory.full_collections_held(), generations=generations, alive=alive)

    if how == "reset":
        big = reg.create("big", mailboxes=30, seed=3)
        reg.on_tenant_created.append(a_request_meanwhile)
        assert reg.reset("big") is not big and gc.get_freeze_count() > 0
    else:
        reg.on_tenant_created.append(a_request_meanwhile)
        reg.create("big", mailboxes=30, seed=3)
    assert seen["held"] and 2 not in seen["generations"]  # no full collection over the growing heap
    # Young collections went on: the garbage was freed as it came, not left for one collection that walks all
    # of it in one GIL hold at the end (379 ms for 110,800 objects at the end of a 200,000-mailbox create).
    assert seen["generations"] and seen["alive"] == 0
    assert not memory.full_collections_held()  # the collector's thresholds are back


def test_the_last_big_tenant_deleted_gives_the_frozen_generation_back(frozen_registry):
    reg = frozen_registry
    reg.create("big", mailboxes=300, seed=3)
    assert gc.get_freeze_count() > 0
    reg.delete("big")
    assert gc.get_freeze_count() == 0


def test_a_replaced_tenant_is_marked_so_waiting_requests_look_again(frozen_registry):
    reg = frozen_registry
    old = reg.create("big", mailboxes=300, seed=3)
    new = reg.reset("big")
    assert old.deleted and not new.deleted and reg.get("big") is new
    assert len(old.mailboxes) == 0  # taken apart, not left for one cascade


def test_a_whole_tenant_is_written_and_deleted_in_bounded_transactions(tmp_path, monkeypatch):
    from hybridsoa.mock.domain import snapshot
    from hybridsoa.mock.store import durable, open_store

    monkeypatch.setattr(durable, "CHUNK_ROWS", 100)
    reg = TenantRegistry(seed=1)
    store = open_store(reg, str(tmp_path), snapshot)
    try:
        before = store.commits
        tenant = reg.create("big", mailboxes=300, seed=3)
        rows = len(tenant.mailboxes) + len(tenant.ad_users) + len(tenant.users)
        # One transaction per 100 rows (other tenants' commits run in between), never one for the whole tenant.
        assert store.commits - before >= rows // 100
        before = store.commits
        reg.delete("big")
        assert store.commits - before >= rows // 100
    finally:
        store.close()


def test_a_commit_collected_just_before_a_delete_writes_no_rows_after_it(tmp_path):
    from hybridsoa.mock.domain import snapshot
    from hybridsoa.mock.store import open_store

    reg = TenantRegistry(seed=1)
    store = open_store(reg, str(tmp_path), snapshot)
    try:
        tenant = reg.create("gone", mailboxes=5, seed=3)
        real_collect = store._collect

        deleting = []

        def collect_then_delete(t, thorough, *rest):
            plan = real_collect(t, thorough, *rest)
            if t is tenant and not deleting:
                # A DELETE from another request lands between this commit's collect and its write. In its own
                # thread, as in the server: run inside the collect it would take the store's drain lock while
                # this thread holds the redo log's, the opposite order of the background apply (a deadlock
                # whenever that apply starts in between).
                removed = threading.Event()
                reg.on_tenant_deleted.insert(0, lambda _t: removed.set())  # runs once the registry dropped it
                deleting.append(threading.Thread(target=reg.delete, args=("gone",)))
                deleting[0].start()
                assert removed.wait(timeout=30)  # its rows go once this commit lets go of the redo log
            return plan

        store._collect = collect_then_delete
        with tenant.lock:
            tenant.mailboxes.touch(next(iter(tenant.mailboxes.keys())))
            ticket = store.request_done(tenant)
        store.wait_durable(ticket)
        deleting[0].join()
        with store.lock:
            left = [
                store.db.execute(f"SELECT COUNT(*) FROM {table} WHERE tenant_id=?", (tenant.id,)).fetchone()[0]
                for table in ("objects", "blobs", "audit", "journal")
            ]
        assert left == [0, 0, 0, 0]  # the delete is the truth: no orphan rows written after it
    finally:
        store.close()


def _pragmas(store) -> tuple[int, int]:
    with store.lock:
        return (
            store.db.execute("PRAGMA wal_autocheckpoint").fetchone()[0],
            store.db.execute("PRAGMA cache_size").fetchone()[0],
        )


def test_a_whole_tenant_write_and_delete_checkpoint_outside_the_store_lock(tmp_path, monkeypatch):
    from hybridsoa.mock.domain import snapshot
    from hybridsoa.mock.store import bulk, durable, open_store

    monkeypatch.setattr(durable, "CHUNK_ROWS", 100)
    monkeypatch.setattr(bulk, "BULK_CHECKPOINT_ROWS", 300)
    reg = TenantRegistry(seed=1)
    store = open_store(reg, str(tmp_path), snapshot)
    try:
        settings = _pragmas(store)
        assert settings[0] > 0  # SQLite's automatic checkpoint is on outside bulk operations
        seen = []
        real_checkpoint = store._checkpoint

        def checkpoint():
            # Never under the store lock (other tenants' commits take it meanwhile), never inside a commit.
            assert not store.lock._is_owned()
            seen.append(_pragmas(store))
            real_checkpoint()

        store._checkpoint = checkpoint
        tenant = reg.create("big", mailboxes=300, seed=3)
        rows = len(tenant.mailboxes) + len(tenant.ad_users) + len(tenant.users)
        # One checkpoint per 300 rows written, and one when the write is done (with the settings back by then).
        assert len(seen) >= rows // 300 + 1
        assert all(s == (0, -bulk.BULK_CACHE_KIB) for s in seen[:-1]) and seen[-1] == settings
        assert _pragmas(store) == settings
        seen.clear()
        reg.delete("big")
        assert len(seen) >= rows // 300 + 1 and seen[-1] == settings
        assert _pragmas(store) == settings
        with store.lock:
            assert store.db.execute("SELECT COUNT(*) FROM objects WHERE tenant_id=?", (tenant.id,)).fetchone()[0] == 0
    finally:
        store.close()


def test_overlapping_bulk_operations_restore_the_settings_once_the_last_ends(tmp_path):
    from hybridsoa.mock.domain import snapshot
    from hybridsoa.mock.store import open_store

    reg = TenantRegistry(seed=1)
    store = open_store(reg, str(tmp_path), snapshot)
    try:
        settings = _pragmas(store)
        with store._bulk():
            with store._bulk():  # a delete of one tenant while another is written
                assert _pragmas(store)[0] == 0
            assert _pragmas(store)[0] == 0  # the first is still running
        assert _pragmas(store) == settings
    finally:
        store.close()


def test_a_failed_checkpoint_is_not_the_bulk_operations_failure(tmp_path, caplog):
    from hybridsoa.mock.domain import snapshot
    from hybridsoa.mock.store import open_store

    reg = TenantRegistry(seed=1)
    store = open_store(reg, str(tmp_path), snapshot)
    try:

        class Broken:
            def execute(self, sql):
                raise sqlite3.OperationalError("disk I/O error")

            def close(self):
                pass

        store._checkpointer = Broken()
        reg.create("small", mailboxes=3, seed=3)  # written whole; its checkpoint fails and is logged
        reg.delete("small")
        assert "checkpoint" in caplog.text
        with store.lock:
            assert store.db.execute("SELECT COUNT(*) FROM tenants").fetchone()[0] == 0
    finally:
        store.close()


def _mailboxes_alive() -> int:
    from hybridsoa.mock.domain.exchange.mailboxes import Mailbox

    return sum(1 for o in gc.get_objects() if type(o) is Mailbox)


def test_a_served_tenant_loaded_after_a_restart_is_freed_by_reference_counting(tmp_path, monkeypatch):
    """The way ``serve --data-dir`` runs it (durable store, lazy load on first use, the request pipeline): a
    deleted big tenant's records go as it is taken apart, none is left for a full collection to find."""
    from hybridsoa.mock.server import ServeOptions, build

    monkeypatch.setattr(tenant_mod, "FREEZE_THRESHOLD", 100)  # "big" is frozen, "other" is not
    options = ServeOptions(data_dir=str(tmp_path), tls=False, demo=False)
    app, _, _ = build(options)
    client = app.test_client()
    assert client.post("/_mock/tenants", json={"name": "other", "mailboxes": 5}).status_code == 201
    assert client.post("/_mock/tenants", json={"name": "big", "mailboxes": 300}).status_code == 201
    app.extensions["hybridsoa_store"].close()
    del app, client
    unfreeze, collect = gc.unfreeze, gc.collect
    unfreeze()
    collect()
    app, registry, _ = build(options)  # the restart: both tenants recovered, loaded on first use
    store = app.extensions["hybridsoa_store"]
    try:
        client = app.test_client()
        assert client.get("/_mock/tenants/other").status_code == 200
        gc.disable()  # no automatic collection either: what goes, goes by reference counting
        try:
            before = _mailboxes_alive()
            assert client.get("/_mock/tenants/big").get_json()["counts"]["mailboxes"] > 250
            assert gc.get_freeze_count() > 0  # frozen as a big tenant, as in the server

            left_for_the_collector = []

            def counting_collect(*args, **kwargs):
                left_for_the_collector.append(_mailboxes_alive())
                return collect(*args, **kwargs)

            monkeypatch.setattr(gc, "collect", counting_collect)
            assert client.delete("/_mock/tenants/big").status_code == 204
            monkeypatch.setattr(gc, "collect", collect)
            unfreeze()  # moves what is left into the collector's lists (frees nothing) so it can be counted
            # Every mailbox went by reference counting before any collection ran (one runs, for other garbage).
            assert left_for_the_collector == [before] and _mailboxes_alive() == before
            assert client.get("/_mock/tenants/other").status_code == 200
        finally:
            gc.enable()
    finally:
        store.close()
        unfreeze()
        collect()


def test_deleting_a_big_tenant_hands_the_freed_heap_back_and_a_small_one_does_not(frozen_registry, monkeypatch):
    reg = frozen_registry
    trims = []
    monkeypatch.setattr(tenant_mod, "give_back_memory", lambda collect=True: trims.append(collect))
    monkeypatch.setattr(tenant_mod, "FREEZE_THRESHOLD", 100)
    reg.create("small", mailboxes=5, seed=3)
    reg.create("big", mailboxes=300, seed=4)
    reg.delete("small")
    assert trims == []
    reg.delete("big")
    assert trims == [False]  # after its objects went by reference counting: no full collection for it


def test_garbage_frozen_along_with_a_big_tenant_is_freed_when_it_is_deleted(frozen_registry):
    """Requests answered while a big tenant loads leave cyclic garbage (Werkzeug's route matcher makes one cycle
    per request) that is frozen with the tenant; it pins the memory the tenant used until it is collected."""
    import weakref

    class Cycle:
        pass

    reg = frozen_registry
    gc.disable()
    try:
        garbage = Cycle()
        garbage.me = garbage
        alive = weakref.ref(garbage)
        del garbage
        reg.create("big", mailboxes=300, seed=3)  # frozen: the garbage with it
        assert alive() is not None
        reg.delete("big")
        assert alive() is None and gc.get_freeze_count() == 0
    finally:
        gc.enable()
