"""Leader-based group commit for the durable store (``serve --data-dir --synchronous full``): the first request
waiting for its changes to be durable commits every pending tenant's changes in one transaction itself; requests
ending meanwhile wait for that leader, which wakes them (or hands the lead to the next) when its commit is done.

Durability is per tenant: a request's ticket is durable once the change set of its own tenant that covers it is
committed, not once every earlier ticket is. A leader never waits for a tenant's lock: a tenant whose lock is
held (a reset or an in-place snapshot PUT rebuilds a big tenant under it for tens of seconds) is marked busy and
left out of the group, and one of the requests waiting on that tenant takes the lock itself, holding nothing any
other tenant needs, then collects the tenant's changes for the next group. Change sets are committed in the
order they were collected, so a tenant's writes reach disk in their order."""

from __future__ import annotations

import threading
from typing import Any

_allocate_lock = threading.Lock
#: Failures kept for tickets nobody has asked about yet (a response that never started): the newest this many.
FAILED_KEPT = 10_000


class _Entry:
    """One tenant's changes not collected yet: the tickets of the requests they belong to, and ``busy`` once a
    leader found the tenant's lock held (one of those requests then collects them)."""

    __slots__ = ("busy", "tenant", "thorough", "tickets")

    def __init__(self, tenant, thorough: bool, tickets: list[int]):
        self.tenant = tenant
        self.thorough = thorough
        self.tickets = tickets
        self.busy = False


class GroupCommit:
    """The waiting side of :class:`~.durable.DurableStore`'s group commit (the collect/apply/commit steps are the
    store's). The redo log (``synchronous=normal``) shares ``_pending`` for the journal entries of reads."""

    # Defined by DurableStore.
    lock: Any
    _collect: Any
    _apply: Any
    _transaction: Any
    _done: Any
    _undo: Any

    def _start_group_commit(self) -> None:
        self._cond = threading.Condition()
        #: tenant id -> its changes not collected yet (requests take tickets, a leader collects and commits).
        self._pending: dict[str, _Entry] = {}
        self._requested = 0
        #: ticket -> how many change sets holding it are not committed yet (several for a request naming no
        #: tenant); a ticket not in here is durable.
        self._open: dict[int, int] = {}
        self._failed: dict[int, BaseException] = {}
        #: (change plan, or None for nothing to write, or the exception collecting it raised; its entry), in the
        #: order collected: the next commit writes them in this order (guarded by ``self.lock``).
        self._collected: list[tuple[Any, _Entry]] = []
        self._closing = False
        #: a request is committing (the leader); ``_nudged``: pending work nobody waits for (read journals).
        self._leading = False
        self._nudged = False
        self._creating: set[str] = set()
        #: ticket -> lock held until that ticket is durable or its holder has something to do (lead, collect a
        #: busy tenant): one bare lock per waiting request (threading.Event costs a Condition per wait and wake).
        self._waiters: dict[int, threading.Lock] = {}

    def _queue(self, tenant, thorough: bool, ticket: int | None) -> None:
        # Under self._cond, from request_done (under the tenant's lock): the tenant's next collect covers this.
        entry = self._pending.get(tenant.id)
        if entry is None or entry.tenant is not tenant:
            # A replaced tenant's tickets ride with its successor: the old one's changes are moot (the registry
            # hooks wrote the new one whole), its requests are answered when the new one's changes are in.
            tickets = [] if entry is None else list(entry.tickets)
            entry = self._pending[tenant.id] = _Entry(tenant, thorough, tickets)
        elif thorough:
            entry.thorough = True
        if ticket is not None:
            entry.tickets.append(ticket)
            self._open[ticket] = self._open.get(ticket, 0) + 1

    def _requeue(self, entry: _Entry) -> None:
        # Under self._cond: put back an entry taken but not collected (its tenant is being written whole).
        entry.busy = False
        newer = self._pending.get(entry.tenant.id)
        if newer is None:
            self._pending[entry.tenant.id] = entry
        elif newer.tenant is entry.tenant:
            newer.tickets[:0] = entry.tickets
            newer.thorough = newer.thorough or entry.thorough
        else:
            newer.tickets[:0] = entry.tickets  # replaced meanwhile: answered with its successor, as in _queue

    def _committable(self) -> bool:
        # Under self._cond: a leader has something to do without waiting for any tenant's lock.
        return bool(self._collected) or any(
            not entry.busy and tid not in self._creating for tid, entry in self._pending.items()
        )

    def _busy_entry(self, ticket: int) -> _Entry | None:
        # Under self._cond: the busy tenant holding this ticket, which its waiting request collects itself.
        for entry in self._pending.values():
            if entry.busy and ticket in entry.tickets:
                return entry
        return None

    def wait_durable(self, ticket: int) -> None:
        """Block until the changes of the request holding ``ticket`` are committed (call WITHOUT the tenant
        lock: the committer takes it to read the changes); raise if that commit failed. Leader-based group
        commit: when no commit is under way, the waiting request commits everything pending itself (no thread
        hand-off); otherwise it waits for the current leader, which wakes it or hands it the lead. When a leader
        found this request's tenant busy, the request waits for that tenant's lock itself (no leader does)."""
        while True:
            claimed = gate = None
            with self._cond:
                if ticket not in self._open:
                    break
                claimed = self._busy_entry(ticket)
                if claimed is not None:
                    del self._pending[claimed.tenant.id]  # ours to collect: no leader tries it meanwhile
                elif not self._leading and self._committable():
                    self._leading = True
                else:
                    gate = _allocate_lock()
                    gate.acquire()
                    self._waiters[ticket] = gate
            if claimed is not None:
                self._collect_busy(claimed, ticket)
            elif gate is None:
                self._lead(ticket)
            else:
                gate.acquire()  # released by a leader once this ticket is durable, or to hand it work
        if self._failed:
            with self._cond:
                failed = self._failed.pop(ticket, None)
            if failed is not None:
                raise failed

    def _collect_busy(self, entry: _Entry, ticket: int) -> None:
        # Wait for the busy tenant's lock holding nothing else, collect its changes, and lead the next commit
        # if nobody does (else the leader under way hands it on: there is something collected to commit).
        with entry.tenant.lock:
            with self._cond:
                lead = not self._leading
                if lead:
                    self._leading = True
            self._take(entry)
        if lead:
            self._lead(ticket)

    def _take(self, entry: _Entry) -> None:
        # Under the entry's tenant lock: collect its changes for the next commit (collect order is commit order).
        with self.lock:
            with self._cond:
                if entry.tenant.id in self._creating:
                    self._requeue(entry)  # written whole right now: its changes go in once that is done
                    return
            try:
                plan = self._collect(entry.tenant, entry.thorough)
            except Exception as exc:  # noqa: BLE001 - reported to the entry's requests as a 500
                plan = exc
            self._collected.append((plan, entry))

    def _lead(self, own: int | None = None) -> None:
        # Called with ``self._leading`` set: collect every pending tenant whose lock is free now, then commit
        # everything collected in one transaction. ``own``: the leading request's ticket.
        error: BaseException | None = None
        batch: list[tuple[Any, _Entry]] = []
        plans: list[dict] = []
        try:
            with self._cond:
                entries = [entry for tid, entry in self._pending.items() if tid not in self._creating]
            for entry in entries:
                lock = entry.tenant.lock
                # The tenant lock: requests hold it from start to end, so this reads a request boundary.
                if not lock.acquire(blocking=False):
                    with self._cond:
                        if self._pending.get(entry.tenant.id) is entry:
                            entry.busy = True  # held, maybe for long: one of its requests collects it
                    continue
                try:
                    with self._cond:
                        if self._pending.get(entry.tenant.id) is not entry or entry.tenant.id in self._creating:
                            continue  # claimed by a request, replaced, or being written whole
                        del self._pending[entry.tenant.id]
                    self._take(entry)
                finally:
                    lock.release()
            with self.lock:
                batch, self._collected = self._collected, []
                plans = [plan for plan, _entry in batch if isinstance(plan, dict)]
                if plans:
                    with self._transaction():
                        for plan in plans:
                            self._apply(plan)
                    for plan in plans:
                        self._done(plan)
        except BaseException as exc:  # reported to every request of the group as a 500, never as durable
            error = exc
            for plan in plans:
                # Not durable, so not forgotten (the next collect takes these changes again). The tenants were
                # free a moment ago; this path is a failed disk write only.
                with plan["tenant"].lock, self.lock:
                    self._undo(plan)
            if not isinstance(exc, Exception):
                raise
        finally:
            self._finish(batch, error, own)

    def _finish(self, batch: list, error: BaseException | None, own: int | None) -> None:
        # After a commit (or its failure): settle its tickets, wake their requests, and give out what is left to
        # do: one request of each busy tenant collects it, one more request leads what is committable.
        with self._cond:
            ready = self._settle(batch, error)
            self._leading = False
            for entry in self._pending.values():
                if entry.busy and own not in entry.tickets:
                    waiting = next((t for t in entry.tickets if t in self._waiters), None)
                    if waiting is not None:
                        ready.append(self._waiters.pop(waiting))
            if self._waiters and self._committable():
                ready.append(self._waiters.pop(next(iter(self._waiters))))  # hand the lead to a waiting request
            if self._nudged or self._closing:
                self._cond.notify_all()
        for gate in ready:
            gate.release()

    def _settle(self, batch: list, error: BaseException | None) -> list:
        # Under self._cond: the tickets of a committed (or failed) batch; returns the gates of requests now done.
        ready = []
        for plan, entry in batch:
            failed = plan if isinstance(plan, BaseException) else (error if isinstance(plan, dict) else None)
            for ticket in entry.tickets:
                if failed is not None:
                    self._failed[ticket] = failed
                left = self._open.get(ticket, 1) - 1
                if left > 0:
                    self._open[ticket] = left
                    continue
                self._open.pop(ticket, None)
                gate = self._waiters.pop(ticket, None)
                if gate is not None:
                    ready.append(gate)
        if len(self._failed) > FAILED_KEPT:
            for ticket in list(self._failed)[: len(self._failed) - FAILED_KEPT]:
                del self._failed[ticket]
        return ready

    def _flush_in_order(self, tenant, thorough: bool) -> bool:
        """``flush`` with group commit (under ``tenant``'s lock): commit the tenant's changes now, in one
        transaction after everything collected before them and not committed yet (a busy tenant's changes a
        request collected), so nothing older is written after them. Returns True when something was written."""
        with self.lock:
            batch, self._collected = self._collected, []
            try:
                plan = self._collect(tenant, thorough)
            except BaseException:
                self._collected[:0] = batch
                raise
            plans = [p for p, _entry in batch if isinstance(p, dict)] + ([plan] if plan is not None else [])
            if plans:
                try:
                    with self._transaction():
                        for p in plans:
                            self._apply(p)
                except BaseException:
                    self._collected[:0] = batch  # theirs: retried (and reported) by the next leader
                    if plan is not None:
                        self._undo(plan)
                    raise
                for p in plans:
                    self._done(p)
        with self._cond:
            ready = self._settle(batch, None)
        for gate in ready:
            gate.release()
        return plan is not None

    def _promote(self) -> None:
        # Under ``self._cond``: wake one waiting request so it commits what is now committable (no leader runs).
        if self._waiters and not self._leading:
            self._waiters.pop(next(iter(self._waiters))).release()

    def _commit_loop(self) -> None:
        # Commits nobody waits for (the journal entries of reads) once no request leads a commit; also retries,
        # once a second, a busy tenant none of whose requests waits (its lock is tried, never waited for).
        while True:
            with self._cond:
                while not self._closing and not (self._nudged and not self._leading):
                    # A ticket nobody waited for (a response that never started) is committed within a second.
                    if not self._cond.wait(1.0) and (self._pending or self._collected) and not self._leading:
                        self._nudged = True
                if self._closing:
                    return
                self._nudged = False
                if not self._collected and not any(tid not in self._creating for tid in self._pending):
                    continue
                self._leading = True
            self._lead()

    def _commit_all(self) -> None:
        """At close: commit everything pending, waiting for each tenant's lock (nothing is served any more)."""
        while True:
            with self._cond:
                while self._leading:
                    self._cond.wait()
                entries = [entry for tid, entry in self._pending.items() if tid not in self._creating]
                if not entries and not self._collected:
                    return
                for entry in entries:
                    del self._pending[entry.tenant.id]
                self._leading = True
            for entry in entries:
                with entry.tenant.lock:
                    self._take(entry)
            self._lead()
