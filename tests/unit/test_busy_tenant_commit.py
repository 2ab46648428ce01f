"""Big tenants never block other tenants' durable writes (issue 21): while one thread holds a tenant's lock for
long (a reset or an in-place snapshot PUT of a big tenant rebuilds under it) and that tenant has a change
pending, another tenant's write still becomes durable and answers. Ordered with events only: the holder lets go
of the lock once the other tenant's write is durable, so on a store that waits for the held lock the write is
still waiting when the holder gives up (the guard below only bounds how long such a failure takes)."""

from __future__ import annotations

import json
import threading

import pytest

from hybridsoa.mock.domain import snapshot
from hybridsoa.mock.domain.tenant import TenantRegistry
from hybridsoa.mock.store import open_store

#: Seconds the holder keeps the lock when nothing lets it go: only reached when the test fails.
GUARD = 20


class WatchedLock:
    """A tenant's RLock that reports a thread starting to wait for it (``waiting`` is set before it blocks)."""

    def __init__(self, lock):
        self._lock = lock
        self.waiting = threading.Event()

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        if blocking and self._lock.acquire(blocking=False):
            return True
        if blocking:
            self.waiting.set()
        return self._lock.acquire(blocking, timeout)

    def release(self) -> None:
        self._lock.release()

    __enter__ = acquire

    def __exit__(self, *exc) -> None:
        self._lock.release()


def _set_cloud_managed(tenant, value: bool) -> str:
    # What a Set-Mailbox -IsExchangeCloudManaged request does to the tenant (under its lock, as requests are).
    mbx = next(m for m in tenant.mailboxes if m.recipient_type_details == "UserMailbox")
    mbx.is_exchange_cloud_managed = value
    tenant.mailboxes.touch(mbx.guid)
    return mbx.guid


def _stored_cloud_managed(store, tenant, guid: str) -> bool:
    with store.lock:
        (data,) = store.db.execute(
            "SELECT data FROM objects WHERE tenant_id=? AND collection='mailboxes' AND key=?", (tenant.id, guid)
        ).fetchone()
    return json.loads(data)["is_exchange_cloud_managed"] is True


class Holder(threading.Thread):
    """Holds a tenant's lock (as a long reset would) until ``let_go`` is set or the guard runs out."""

    def __init__(self, tenant):
        super().__init__(daemon=True)
        self.tenant = tenant
        self.holding = threading.Event()
        self.let_go = threading.Event()
        self.released = threading.Event()

    def run(self) -> None:
        with self.tenant.lock:
            self.holding.set()
            self.let_go.wait(2 * GUARD)  # outlives every wait of the test for the other side
        self.released.set()


def _durable_write(store, tenant, value: bool, result: dict) -> threading.Thread:
    # One write request: change under the tenant's lock, take a ticket, then wait for it without the lock.
    def run():
        with tenant.lock:
            result["guid"] = _set_cloud_managed(tenant, value)
            ticket = store.request_done(tenant)
        store.wait_durable(ticket)
        result["durable"] = True

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.fixture
def full_store(tmp_path):
    registry = TenantRegistry(seed=1)
    store = open_store(registry, str(tmp_path), snapshot, "full")
    busy = registry.create("busy", mailboxes=4, seed=3, frozen_clock=True)
    other = registry.create("other", mailboxes=4, seed=5, frozen_clock=True)
    busy.lock = WatchedLock(busy.lock)
    yield registry, store, busy, other
    store.close()


@pytest.mark.parametrize("busy_waiter", [True, False], ids=["its-request-waits", "nobody-waits-on-it"])
def test_a_write_to_another_tenant_is_durable_while_a_tenant_with_a_pending_change_is_held(full_store, busy_waiter):
    registry, store, busy, other = full_store
    busy_result: dict = {}
    with busy.lock:
        busy_result["guid"] = _set_cloud_managed(busy, True)
        busy_ticket = store.request_done(busy)
    holder = Holder(busy)
    holder.start()
    assert holder.holding.wait(GUARD)
    if busy_waiter:
        # The busy tenant's request ended just before its lock was taken for long; it waits for its commit.
        busy_wait = threading.Thread(target=lambda: busy_result.update(done=store.wait_durable(busy_ticket) or True))
        busy_wait.start()
        assert busy.lock.waiting.wait(GUARD)  # that request waits for the held lock (a leader or itself)
    other_result: dict = {}
    writer = _durable_write(store, other, True, other_result)
    writer.join(GUARD)
    durable_while_held = other_result.get("durable", False) and not holder.released.is_set()
    holder.let_go.set()
    holder.join()
    writer.join()
    assert durable_while_held, "the other tenant's write waited for the busy tenant's lock"
    assert _stored_cloud_managed(store, other, other_result["guid"])
    if busy_waiter:
        busy_wait.join()
        assert busy_result["done"]
    else:
        store.wait_durable(busy_ticket)  # its own request: answered once the lock is free and its change is in
    assert _stored_cloud_managed(store, busy, busy_result["guid"])


def test_a_tenants_own_writes_reach_disk_in_order_around_a_busy_lock(full_store):
    # Two writes to the busy tenant, the second after the long hold: its answer comes after the first's changes
    # are in, and the stored value is the second's.
    registry, store, busy, other = full_store
    with busy.lock:
        guid = _set_cloud_managed(busy, True)
        first = store.request_done(busy)
    holder = Holder(busy)
    holder.start()
    assert holder.holding.wait(GUARD)
    other_result: dict = {}
    _durable_write(store, other, True, other_result).join(GUARD)  # a leader finds the busy tenant held
    assert other_result.get("durable")
    holder.let_go.set()
    holder.join()
    second_result: dict = {}
    _durable_write(store, busy, False, second_result).join()
    assert second_result["guid"] == guid and second_result["durable"]
    store.wait_durable(first)
    assert not _stored_cloud_managed(store, busy, guid)
    assert not store._open and not store._pending and not store._waiters


def test_a_failed_group_commit_answers_its_requests_with_the_error_and_retries(full_store, monkeypatch):
    import sqlite3

    registry, store, busy, other = full_store
    real = store._commit

    def boom():
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(store, "_commit", boom)
    with other.lock:
        guid = _set_cloud_managed(other, True)
        ticket = store.request_done(other)
    with pytest.raises(sqlite3.OperationalError):
        store.wait_durable(ticket)
    monkeypatch.setattr(store, "_commit", real)
    result: dict = {}
    _durable_write(store, other, True, result).join()
    assert result["durable"] and _stored_cloud_managed(store, other, guid)  # the undone change went in again


def test_the_redo_logs_applier_skips_a_held_tenant(tmp_path):
    # synchronous=normal: the background applier collects reads' journal entries under each tenant's lock; a
    # held tenant is left for the next round, so the other tenants' records still reach SQLite.
    registry = TenantRegistry(seed=1)
    store = open_store(registry, str(tmp_path), snapshot)
    try:
        busy = registry.create("busy", mailboxes=4, seed=3, frozen_clock=True)
        other = registry.create("other", mailboxes=4, seed=5, frozen_clock=True)
        with store._cond:  # the background applier stops: this test runs its rounds itself
            store._closing = True
            store._cond.notify_all()
        store._committer.join()
        store._closing = False
        with busy.lock:
            busy.journal.add({"api": "graph", "method": "GET", "path": "/users", "status": 200})
            assert store.request_done(busy, thorough=False) == 0  # a read: its journal entry is queued
        with other.lock:
            guid = _set_cloud_managed(other, True)
            assert store.request_done(other) == 0  # in the redo log: durable, applied in the background
        holder = Holder(busy)
        holder.start()
        assert holder.holding.wait(GUARD)
        applied = {}
        drain = threading.Thread(target=lambda: applied.update(n=store._drain(reads=True, wait=False)), daemon=True)
        drain.start()
        drain.join(GUARD)
        done_while_held = "n" in applied and not holder.released.is_set()
        holder.let_go.set()
        holder.join()
        drain.join()
        assert done_while_held
        assert _stored_cloud_managed(store, other, guid)
        assert busy.id in store._pending  # left for the next round
        store._drain(reads=True)
        assert busy.id not in store._pending
        with store.lock:
            rows = store.db.execute("SELECT COUNT(*) FROM journal WHERE tenant_id=?", (busy.id,)).fetchone()[0]
        assert rows >= 1
    finally:
        store.close()


@pytest.mark.parametrize("synchronous", ["full", "normal"])
def test_health_answers_while_a_dirty_tenant_is_held(tmp_path, synchronous):
    # A request naming no tenant waits for every tenant with unsaved changes (it may have changed them); health
    # changes none, so it answers while such a tenant's lock is held for long.
    from hybridsoa.mock.app import create_app

    registry = TenantRegistry(seed=1)
    store = open_store(registry, str(tmp_path), snapshot, synchronous)
    try:
        busy = registry.create("busy", mailboxes=4, seed=3, frozen_clock=True)
        client = create_app(registry).test_client()
        with busy.lock:
            _set_cloud_managed(busy, True)  # not collected yet: the holder below is still working on it
        holder = Holder(busy)
        holder.start()
        assert holder.holding.wait(GUARD)
        answered = {}
        probe = threading.Thread(target=lambda: answered.update(r=client.get("/_mock/health")), daemon=True)
        probe.start()
        probe.join(GUARD)
        while_held = "r" in answered and not holder.released.is_set()
        holder.let_go.set()
        holder.join()
        probe.join()
        assert while_held and answered["r"].status_code == 200
    finally:
        store.close()


def test_a_flush_commits_after_changes_collected_before_it(full_store):
    # An LDAP write flushes under the tenant's lock; a change of the same tenant a request collected earlier
    # (waiting for the next group) goes in first, so the older row is never written over the newer one.
    registry, store, busy, other = full_store
    with busy.lock:
        guid = _set_cloud_managed(busy, True)
        ticket = store.request_done(busy)
        with store._cond:
            entry = store._pending.pop(busy.id)  # what a request collecting its busy tenant does
        store._take(entry)
        assert [e for _plan, e in store._collected] == [entry]
        _set_cloud_managed(busy, False)
        assert store.flush(busy) is True
    store.wait_durable(ticket)
    assert not _stored_cloud_managed(store, busy, guid)
    assert not store._collected and not store._open


def test_a_write_is_answered_while_another_tenant_with_a_pending_change_is_reset(tmp_path, monkeypatch):
    # The served path end to end (middleware, DurableAck): a reset rebuilds under the old tenant's lock (held here
    # until the other tenant's write has been answered); that tenant's last change is still pending.
    from hybridsoa.mock.app import create_app
    from hybridsoa.mock.domain.entra.tokens import issue_access_token

    registry = TenantRegistry(seed=1)
    store = open_store(registry, str(tmp_path), snapshot, "full")
    try:
        busy = registry.create("busy", mailboxes=4, seed=3, frozen_clock=True)
        other = registry.create("other", mailboxes=4, seed=5, frozen_clock=True)
        client = create_app(registry).test_client()
        token, _ = issue_access_token(other, "exchange", app=other.app_by_name("automation"))
        alias = next(m.alias for m in other.mailboxes if m.recipient_type_details == "UserMailbox")
        building, let_go = threading.Event(), threading.Event()
        real_build = TenantRegistry._build

        def slow_build(self, spec):
            if spec.name == "busy":
                building.set()
                let_go.wait(2 * GUARD)
            return real_build(self, spec)

        monkeypatch.setattr(TenantRegistry, "_build", slow_build)
        with busy.lock:
            _set_cloud_managed(busy, True)
            store.request_done(busy)  # its request ended just before the reset: the change is pending
        reset = threading.Thread(target=lambda: client.post("/_mock/tenants/busy/reset"), daemon=True)
        reset.start()
        assert building.wait(GUARD)
        answered: dict = {}

        def toggle():
            answered["r"] = client.post(
                f"/adminapi/beta/{other.id}/InvokeCommand",
                headers={"Authorization": "Bearer " + token},
                json={
                    "CmdletInput": {
                        "CmdletName": "Set-Mailbox",
                        "Parameters": {"Identity": alias, "IsExchangeCloudManaged": True},
                    }
                },
            )

        writer = threading.Thread(target=toggle, daemon=True)
        writer.start()
        writer.join(GUARD)
        during_reset = "r" in answered and not let_go.is_set()
        let_go.set()
        reset.join()
        writer.join()
        assert during_reset, "the write waited for the reset of another tenant"
        assert answered["r"].status_code == 200
        guid = next(m.guid for m in other.mailboxes if m.alias == alias)
        assert _stored_cloud_managed(store, other, guid)
    finally:
        store.close()
