"""Leader-based group commit for the durable store (``serve --data-dir``): the first request waiting for its
changes to be durable commits every pending tenant's changes in one transaction itself; requests ending
meanwhile wait for that leader, which wakes them (or hands the lead to the next) when its commit is done."""

from __future__ import annotations

import threading
from typing import Any

_allocate_lock = threading.Lock


class GroupCommit:
    """The waiting side of :class:`~.durable.DurableStore`'s group commit (its state lives in the store)."""

    # Set by DurableStore.__init__ (state) or defined by it (the collect/apply/commit steps).
    lock: Any
    _cond: threading.Condition
    _pending: dict[str, tuple]
    _requested: int
    _durable: int
    _failed: list[tuple]
    _closing: bool
    _leading: bool
    _nudged: bool
    _creating: set[str]
    _waiters: list[tuple[int, Any]]
    _collect: Any
    _apply: Any
    _begin: Any
    _commit: Any
    _rollback: Any
    _done: Any
    _undo: Any

    def wait_durable(self, ticket: int) -> None:
        """Block until the changes of the request holding ``ticket`` are committed (call WITHOUT the tenant
        lock: the committer takes it to read the changes); raise if that commit failed. Leader-based group
        commit: when no commit is under way, the waiting request commits everything pending itself (no thread
        hand-off); otherwise it waits for the current leader, which wakes it or hands it the lead."""
        while True:
            with self._cond:
                if self._durable >= ticket:
                    break
                if not self._leading and any(tid not in self._creating for tid in self._pending):
                    self._leading = True
                    gate = None
                else:
                    gate = _allocate_lock()
                    gate.acquire()
                    self._waiters.append((ticket, gate))
            if gate is None:
                self._lead()
            else:
                gate.acquire()  # released by a leader once this ticket is durable, or to hand it the lead
        if self._failed:  # replaced whole under the lock, so reading it without one sees a complete list
            with self._cond:
                for lo, hi, exc in self._failed:
                    if lo < ticket <= hi:
                        raise exc

    def _lead(self) -> None:
        # Called with ``self._leading`` set by the caller: commit one batch of everything pending.
        with self._cond:
            upto, batch, self._pending = self._requested, self._pending, {}
            # A tenant being written whole (create, reset, restore) waits; so does every ticket from its first.
            for tid in [tid for tid in batch if tid in self._creating]:
                tenant, thorough, first = batch.pop(tid)
                self._pending[tid] = (tenant, thorough, first)
                if first is not None:
                    upto = min(upto, first - 1)
            upto = max(upto, self._durable)
            low = self._durable
        plans, error = [], None
        try:
            for tenant, thorough, _first in batch.values():
                # The tenant lock: requests hold it from start to end, so this reads a request boundary.
                with tenant.lock, self.lock:
                    plan = self._collect(tenant, thorough)
                if plan is not None:
                    plans.append(plan)
            if plans:
                with self.lock:
                    try:
                        self._begin()
                        for plan in plans:
                            self._apply(plan)
                        self._commit()
                    except BaseException:
                        self._rollback()
                        raise
                    for plan in plans:
                        self._done(plan)
        except Exception as exc:  # noqa: BLE001 - reported to every waiting request as a 500
            error = exc
            for plan in plans:
                with plan["tenant"].lock, self.lock:
                    self._undo(plan)
        finally:
            with self._cond:
                if error is not None:
                    self._failed = [f for f in self._failed if f[1] > upto - 10_000] + [(low, upto, error)]
                self._durable = upto
                self._leading = False
                ready = [gate for ticket, gate in self._waiters if ticket <= upto]
                rest = [w for w in self._waiters if w[0] > upto]
                if rest:
                    ready.append(rest.pop(0)[1])  # hand the lead to the next waiting request
                self._waiters = rest
                if self._nudged or self._closing:
                    self._cond.notify_all()
            for gate in ready:
                gate.release()

    def _promote(self) -> None:
        # Under ``self._cond``: wake one waiting request so it commits what is now committable (no leader runs).
        if self._waiters and not self._leading:
            self._waiters.pop(0)[1].release()

    def _commit_loop(self) -> None:
        # Commits nobody waits for (the journal entries of reads) once no request leads a commit.
        while True:
            with self._cond:
                while not self._closing and not (self._nudged and not self._leading):
                    # A ticket nobody waited for (a response that never started) is committed within a second.
                    if not self._cond.wait(1.0) and self._pending and not self._leading:
                        self._nudged = True
                if self._closing:
                    return
                self._nudged = False
                if not any(tid not in self._creating for tid in self._pending):
                    continue
                self._leading = True
            self._lead()
