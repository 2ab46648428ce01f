"""The durable store's command log (``synchronous=normal``): an InvokeCommand call of a cmdlet registered
``rows_only`` (``Set-Mailbox``, the bulk toggle) is logged as what was asked (caller, cmdlet, parameters, the
tenant clock's instant, the journal entries) instead of as the objects it changed, which the background round
writes to SQLite once however often they changed. Recovery runs the logged calls again on the state they first
ran on (``codec.replay_command``), so the log stays as safe against ``kill -9`` as a record of whole objects.

Three rules keep a replay exact and never doubled:

- A call is logged as a command only when nothing changed the tenant between the end of its last logged request
  and the call (due sync cycles run before it) and nothing after the call (:meth:`CommandLog.marks`); otherwise the
  request writes the whole-object record, as every other write does.
- Every collect (a whole-object record, a round) stores the newest command number of its tenant it covers (blob
  ``commands``); recovery runs only the commands above it.
- A segment is deleted only once every command in it is covered in SQLite, not merely applied (``_seg_cmds``)."""

from __future__ import annotations

import logging
from typing import Any

import orjson

from .signals import rng_probe

#: The blob holding the newest command number a tenant's stored state covers.
COMMANDS_BLOB = "commands"
#: The keys of a command record (``redo_log.read`` tells them from a whole-object record by ``cmd``).
COMMAND_KEYS = ("cmd", "tid", "caller", "cmdlet", "params", "at", "journal")
_OPTIONS = orjson.OPT_APPEND_NEWLINE


class CommandCapture:
    """One InvokeCommand call the request pipeline offers to log as a command: the tenant's marks before it, and
    what it was asked (set by :meth:`run`; an exception leaves it unset, and the request writes objects)."""

    __slots__ = ("at", "before", "caller", "cmdlet", "params", "store")

    def __init__(self, store):
        self.store = store
        self.before = self.caller = self.cmdlet = self.params = self.at = None

    def run(self, tenant, caller, cmdlet, params, call):
        """``call()`` (the cmdlet's execution) with the tenant clock pinned, as :func:`replay_command` runs it."""
        before = self.store.marks(tenant)
        clock = tenant.clock
        at = clock.now()
        saved = clock.pin(at)
        try:
            result = call()
        finally:
            clock.unpin(saved)
        self.before, self.caller, self.cmdlet, self.params, self.at = before, caller, cmdlet, params, at
        return result


class CommandLog:
    """The command-log side of :class:`~.durable.DurableStore` (see the module docstring)."""

    # Set or defined by DurableStore.
    redo: Any
    codec: Any
    db: Any
    registry: Any
    _log_lock: Any
    _cond: Any
    _creating: set
    _colls: dict
    _queue: Any
    _pending: dict

    def _init_commands(self, top: int = 0) -> None:
        #: The newest command number handed out (a whole write covers every command before it).
        self._command_top = top
        #: tenant id -> its newest command number.
        self._commands: dict[str, int] = {}
        #: tenant id -> :meth:`marks` at the end of its last logged request (or load).
        self._quiet: dict[str, tuple] = {}
        #: tenant id -> the journal number its last command record carried.
        self._journal_logged: dict[str, int] = {}
        #: segment number -> tenant id -> the newest command number in it.
        self._seg_cmds: dict[int, dict[str, int]] = {}
        #: tenant id -> command number covered by what is queued for SQLite / what SQLite holds.
        self._covered_queued: dict[str, int] = {}
        self._covered_applied: dict[str, int] = {}
        #: tenant id -> command records found at start, run when the tenant loads.
        self._replay: dict[str, list[dict]] = {}
        self._callers: dict[int, tuple] = {}

    def command_capture(self) -> CommandCapture | None:
        """A capture for an InvokeCommand call of a ``rows_only`` cmdlet, or None (no redo log: full sync)."""
        return CommandCapture(self) if self.redo is not None else None

    def marks(self, tenant) -> tuple:
        """What moves when the tenant changes in a way a replay would have to repeat: each collection's change
        sequence, the audit records not yet written, the RNG's position, the clock's anchors."""
        cached = self._colls.get(tenant.id)
        if cached is None or cached[0] is not tenant:
            cached = self._colls[tenant.id] = (tenant, self.codec.collections_of(tenant))
        return (
            [c.current_seq() for c in cached[1].values()],
            len(tenant.audit.dirty),
            rng_probe(tenant.ids.rng),
            self.codec.clock_fingerprint(tenant.clock),
        )

    def _log_command(self, tenant, capture: CommandCapture) -> bool:
        """Under ``tenant``'s lock: append the captured call as a command record; False when it cannot be one (the
        caller then writes the whole-object record)."""
        tid = tenant.id
        if capture.before is None or tid in self._creating or self._quiet.get(tid) != capture.before:
            return False
        after = self.marks(tenant)
        if after == capture.before:
            return False  # refused before it ran, or changed nothing: nothing to run again
        unsaved = tenant.journal.unsaved
        last = self._journal_logged.get(tid, 0)
        start = len(unsaved)
        while start and unsaved[start - 1].get("seq", 0) > last:
            start -= 1
        journal = unsaved[start:]
        try:
            caller = self._caller_doc(capture.caller)
        except TypeError:
            return False
        with self._log_lock:
            number = self._command_top + 1
            record = {
                "cmd": number,
                "tid": tid,
                "caller": caller,
                "cmdlet": capture.cmdlet,
                "params": capture.params,
                "at": capture.at,
                "journal": journal,
            }
            try:
                line = orjson.dumps(
                    record, option=_OPTIONS, default=str
                )  # journal values as the journal rows hold them
            except TypeError:
                return False  # a value orjson refuses (a lone surrogate, a huge integer): the whole-object record
            self.redo.append(line)
            self._command_top = number
            self._commands[tid] = number
            self._seg_cmds.setdefault(self.redo.number, {})[tid] = number
        self._quiet[tid] = after
        if journal:
            self._journal_logged[tid] = journal[-1].get("seq", last)
        entry = self._pending.get(tid)
        if entry is None or entry.tenant is not tenant or not entry.thorough:
            with self._cond:
                self._queue(tenant, True, None)  # the round writes its objects
        return True

    def _caller_doc(self, caller):
        # One JSON fragment per caller object (the token verifier caches callers, so a client keeps its object).
        hit = self._callers.get(id(caller))
        if hit is not None and hit[0] is caller:
            return hit[1]
        if len(self._callers) > 1024:
            self._callers.clear()
        doc = orjson.Fragment(orjson.dumps(self.codec.dump_caller(caller)))
        self._callers[id(caller)] = (caller, doc)
        return doc

    def _commands_blob(self, tid: str, written: dict) -> str | None:
        # The ``commands`` blob a collect of ``tid`` writes now (None: unchanged since ``written``).
        number = self._commands.get(tid)
        if number is None:
            return None
        text = str(number)
        if written.get(COMMANDS_BLOB) == text:
            return None
        return text

    def _recover_commands(self, commands: list[tuple[int, dict]]) -> None:
        # At start: the commands SQLite does not cover yet, by tenant in order, for the tenant's load to run.
        covered = {
            tid: int(data)
            for tid, data in self.db.execute("SELECT tenant_id, data FROM blobs WHERE name=?", (COMMANDS_BLOB,))
        }
        live = {tid for (tid,) in self.db.execute("SELECT id FROM tenants")}
        self._init_commands(max([0, *covered.values(), *(r["cmd"] for _n, r in commands)]))
        self._covered_applied.update(covered)
        for n, record in commands:
            tid = record["tid"]
            if tid in live and record["cmd"] > covered.get(tid, 0):
                self._replay.setdefault(tid, []).append(record)
                self._seg_cmds.setdefault(n, {})[tid] = record["cmd"]

    def _uncollected(self) -> list:
        # Loaded tenants whose commands no collect has covered yet (those run again at their load, which no request
        # may ever follow): the round collects them.
        with self._log_lock:
            tids = {
                tid
                for cmds in self._seg_cmds.values()
                for tid, number in cmds.items()
                if self._covered_applied.get(tid, 0) < number and tid not in self._covered_queued
            }
        tenants = self.registry.tenants
        return [tenants[tid] for tid in tids if tid in tenants and tid not in self._replay]

    def _deletable(self, through: int) -> list[int]:
        # Under the log lock: the segments up to ``through`` whose every command SQLite covers.
        out = []
        for n, _path in self.redo.segments():
            if n > through:
                continue
            cmds = self._seg_cmds.get(n)
            if cmds and any(self._covered_applied.get(t, 0) < c for t, c in cmds.items()):
                continue
            self._seg_cmds.pop(n, None)
            out.append(n)
        return out

    def _forget_commands(self, tid: str, covered: int | None = None) -> None:
        # A tenant deleted (``covered`` None) or written whole (covering every command so far).
        self._commands.pop(tid, None)
        self._quiet.pop(tid, None)
        self._journal_logged.pop(tid, None)
        self._replay.pop(tid, None)
        self._covered_queued.pop(tid, None)
        if covered is None:
            self._covered_applied.pop(tid, None)
        else:
            self._covered_applied[tid] = covered
        for cmds in self._seg_cmds.values():
            cmds.pop(tid, None)

    def _run_replay(self, tenant) -> None:
        """After a load, under the tenant's lock: run the commands found at start for it, in order."""
        records = self._replay.pop(tenant.id, None)
        if records:
            for record in records:
                try:
                    self.codec.replay_command(tenant, record)
                except Exception as exc:  # noqa: BLE001 - one unreadable record must not keep the tenant from loading
                    logging.getLogger("hybridsoa").error(
                        "tenant %s: logged command %s could not run again: %s", tenant.id, record.get("cmd"), exc
                    )
            self._commands[tenant.id] = records[-1]["cmd"]
            self._journal_logged[tenant.id] = tenant.journal._seq
        self._quiet[tenant.id] = self.marks(tenant)
