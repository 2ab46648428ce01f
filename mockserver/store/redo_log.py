"""The durable store's redo log (``serve --data-dir``, ``synchronous=normal``): each write request's rows, one JSON
line appended with a single ``write()`` before its answer leaves. Once ``write()`` returns the bytes are in the
operating system's page cache, which is what a ``kill -9`` of the process cannot take away (the same guarantee
SQLite's WAL gives at ``synchronous=NORMAL``), so the request never waits for a database commit; a background
thread applies the queued rows to SQLite in large transactions and then deletes the segments it covered.

Segments are files ``hybridsoa.redo.<n>`` in the data dir. The number of the last segment whose records are all
in SQLite is stored in SQLite itself (``meta`` row ``redo``), in the transaction that applied them, so a restart
replays exactly the segments after it, in order."""

from __future__ import annotations

import itertools
import json
import logging
import os
import re
import sqlite3
import threading
from typing import Any

from orjson import Fragment

from . import json_text
from .commands import COMMAND_KEYS, COMMANDS_BLOB
from .files import (
    DELETE_OBJECT,
    INSERT_AUDIT,
    JOURNAL_FROM,
    UPDATE_CARD,
    UPSERT_BLOB,
    UPSERT_OBJECT,
    chunk,
    write_journal,
)

PREFIX = "hybridsoa.redo."
_NAME = re.compile(r"^hybridsoa\.redo\.(\d+)$")


class RedoLog:
    """Append-only, numbered segment files of JSON lines."""

    def __init__(self, directory: str):
        self.directory = directory
        self.number = 0
        self._fd: int | None = None
        #: Bytes of whole records in the current segment: a failed write is cut back to it.
        self._size = 0

    def segments(self) -> list[tuple[int, str]]:
        """``(number, path)`` of every segment on disk, oldest first."""
        found = []
        for name in os.listdir(self.directory):
            match = _NAME.match(name)
            if match:
                found.append((int(match.group(1)), os.path.join(self.directory, name)))
        return sorted(found)

    def open(self, after: int) -> None:
        """Start writing a new segment numbered above ``after`` and every segment on disk."""
        newest = max([n for n, _ in self.segments()] + [after])
        self._switch(newest + 1)

    def _switch(self, number: int) -> None:
        fd = os.open(os.path.join(self.directory, f"{PREFIX}{number}"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        old, self._fd, self.number = self._fd, fd, number
        self._size = os.fstat(fd).st_size
        if old is not None:
            os.close(old)

    def append(self, data: bytes) -> None:
        """Write one record (a line) to the current segment; returns once the OS holds all of it. A write that
        fails part-way (``ENOSPC``, ``EIO``) raises and leaves no partial line behind: the segment is cut back to
        its last whole record, or, if even that fails, the next record starts a new segment, so a later record
        can never be glued to the torn one (which would make replay drop it)."""
        try:
            written = os.write(self._fd, data)  # type: ignore[arg-type]
            if written < len(data):  # a short write (a signal, a nearly full disk): the rest goes after it
                view = memoryview(data)[written:]
                while view:
                    view = view[os.write(self._fd, view) :]  # type: ignore[arg-type]
        except BaseException:
            self._cut()
            raise
        self._size += len(data)

    def _cut(self) -> None:
        # After a failed append: drop its partial bytes, else continue in a fresh segment.
        try:
            os.ftruncate(self._fd, self._size)  # type: ignore[arg-type]
        except OSError:
            try:
                self._switch(self.number + 1)
            except OSError:
                pass  # no new file either: the next append tries again (its own failure is reported)

    def rotate(self) -> int:
        """Start the next segment; returns the number of the one just finished (call under the appenders' lock)."""
        done = self.number
        self._switch(done + 1)
        return done

    def remove(self, numbers) -> None:
        """Delete the segments numbered ``numbers`` (never the one being written)."""
        for n in numbers:
            if n != self.number:
                try:
                    os.unlink(os.path.join(self.directory, f"{PREFIX}{n}"))
                except FileNotFoundError:
                    pass

    def close(self) -> None:
        """Close the current segment's file."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def encode(record: dict) -> bytes:
    """One record as a line of JSON."""
    return json_text.dumps_line(record)


def read(path: str) -> list[dict]:
    """The records of one segment, in order. A line cut short (a write the process or the machine never
    finished: its request was never answered) is skipped; records never contain a raw newline, so each whole
    line is one record and nothing after a torn line is lost."""
    out = []
    with open(path, "rb") as fh:
        for line in fh:
            if not line.endswith(b"\n"):
                break  # only the last line can lack its newline
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and all(
                key in record for key in (COMMAND_KEYS if "cmd" in record else RECORD_KEYS)
            ):
                out.append(record)
    return out


#: How often the background thread applies the redo log to SQLite (seconds), and after how many queued records it
#: does so at once. A longer round writes a busy object once instead of once per change and spreads the round's
#: fixed cost (transaction, segment switch) over more records; what it adds is replay work after a crash, bounded
#: by the record count.
APPLY_INTERVAL = 1.0
APPLY_RECORDS = 20000
#: The parts of a collected change plan that go into a redo record (what :func:`item` reads back).
RECORD_KEYS = ("tid", "rows", "gone", "audit_rows", "journal", "blobs", "card")


class RedoWriter:
    """The redo-log side of :class:`~.durable.DurableStore` (``synchronous=normal``): requests append their rows
    and answer at once; :meth:`_drain` applies what is queued to SQLite in one transaction."""

    # Set or defined by DurableStore.
    redo: RedoLog | None
    registry: Any
    lock: Any
    db: Any
    _cond: Any
    _pending: dict
    _creating: set
    _closing: bool
    _nudged: bool
    _collect: Any
    _apply: Any
    _transaction: Any
    _done: Any
    _undo: Any
    _requeue: Any
    _queue: Any
    # The command log (commands.CommandLog).
    _seg_cmds: dict[int, dict[str, int]]
    _covered_queued: dict[str, int]
    _covered_applied: dict[str, int]
    _quiet: dict[str, tuple]
    _recover_commands: Any
    _uncollected: Any
    _log_command: Any
    _deletable: Any
    marks: Any

    def _start_redo(self) -> None:
        # Before anything reads the database: what the last run acknowledged but did not apply goes in first.
        # Reentrant: a registry hook (its drain) may run inside a collect in the same thread.
        self._log_lock = threading.RLock()
        self._drain_lock = threading.Lock()
        self._pending_apply = Pending()
        self._deferred: dict[int, tuple] = {}
        self._deferred_ids = itertools.count(1)
        assert self.redo is not None
        row = self.db.execute("SELECT data FROM meta WHERE name='redo'").fetchone()
        applied = int(row[0]) if row else 0
        segments = self.redo.segments()
        commands: list[tuple[int, dict]] = []
        if segments:
            with self.lock, self._transaction():
                for n, path in segments:  # a segment at a time: memory bounded by one segment, not all
                    records = read(path)
                    if n > applied:
                        self._apply_merged(merge([item(r) for r in records if "cmd" not in r]))
                    # Kept segments (commands not covered yet) were applied already: only their commands count.
                    commands.extend((n, r) for r in records if "cmd" in r)
                if segments[-1][0] > applied:
                    applied = segments[-1][0]
                    self.db.execute("INSERT OR REPLACE INTO meta (name, data) VALUES ('redo', ?)", (str(applied),))
        self._recover_commands(commands)
        self.redo.remove([n for n, _ in segments if n not in self._seg_cmds])
        self.redo.open(applied)

    def _log_changes(self, tenant, thorough: bool, *, blobs: bool = True) -> bool:
        """Under ``tenant``'s lock: collect what the request changed, append it to the redo log and queue it for
        SQLite. Returns True when there was something to write."""
        with self._log_lock:
            plan = self._collect(tenant, thorough, blobs)  # None for a tenant deleted or replaced meanwhile
            if plan is None:
                return False
            if self.registry.tenants.get(tenant.id) is not tenant:
                return False  # deleted or replaced during the collect: its hook wrote the truth
            plan["tid"] = tenant.id
            commands = plan["blobs"].get(COMMANDS_BLOB)
            card = plan["card"]
            try:
                assert self.redo is not None
                self.redo.append(_encode_plan(plan))
            except BaseException:
                self._undo(plan)
                raise
            self._done(plan)
            pending = self._pending_apply
            pending.add(
                plan["tid"],
                plan["rows"],
                plan["gone"],
                [text for _tid, text in plan["audit_rows"]],
                plan["journal"],
                plan["blobs"].items(),
                None if card is None else card[0],
            )
            if commands is not None:
                self._covered_queued[tenant.id] = int(commands)
            self._quiet[tenant.id] = self.marks(tenant)
            if pending.records >= APPLY_RECORDS and not self._nudged:
                with self._cond:
                    self._nudged = True
                    self._cond.notify_all()
            return True

    def _redo_request_done(self, tenant, thorough: bool, blobs: bool = True, command=None) -> int:
        if tenant.id in self._creating:
            # Written whole right now: its changes go in once that is done (wait_durable, without the lock).
            ticket = next(self._deferred_ids)
            self._deferred[ticket] = (tenant, thorough)
            return -ticket
        try:
            if command is None or not self._log_command(tenant, command):
                self._log_changes(tenant, thorough, blobs=blobs)
        except Exception as exc:  # noqa: BLE001 - reported by wait_durable as the request's 500
            ticket = next(self._deferred_ids)
            self._deferred[ticket] = (exc,)
            return -ticket
        return 0

    def _redo_wait(self, ticket: int) -> None:
        item = self._deferred.pop(-ticket, None)
        if item is None:
            return
        if len(item) == 1:
            raise item[0]
        tenant, thorough = item
        with self._cond:
            while tenant.id in self._creating:
                self._cond.wait()
        with tenant.lock:
            self._log_changes(tenant, thorough)

    def _drain(self, *, reads: bool = False, wait: bool = True) -> int:
        """Apply every queued record to SQLite in one transaction, then delete the segments they came from.
        ``reads``: first collect the journal entries of reads (takes tenant locks: only the background thread and
        ``close``, which hold no other lock); ``wait=False`` (the background thread) skips a tenant whose lock is
        held right now (a reset or snapshot PUT of a big tenant holds it for long) until the next round, so
        every other tenant's records still go in."""
        assert self.redo is not None
        if reads:
            for tenant in self._uncollected():
                with self._cond:
                    self._queue(tenant, True, None)
            with self._cond:
                batch = {tid: entry for tid, entry in self._pending.items() if tid not in self._creating}
                for tid in batch:
                    del self._pending[tid]
                self._nudged = False
            for entry in batch.values():
                if not entry.tenant.lock.acquire(blocking=wait):
                    with self._cond:
                        self._requeue(entry)
                    continue
                try:
                    # Logged like a request's record: it may hold the only copy of what commands changed, and a
                    # later record covering those commands by number must never be replayed without it.
                    self._log_changes(entry.tenant, entry.thorough)
                finally:
                    entry.tenant.lock.release()
        with self._drain_lock:
            with self._log_lock:
                if not self._pending_apply.records:
                    if any(n < self.redo.number for n in self._seg_cmds):  # kept for commands: covered by now?
                        self.redo.remove(self._deletable(self.redo.number - 1))
                    return 0
                # First the new segment (it can fail: no inode, no file descriptor), then take the queue, so a
                # failure leaves every record queued and its segment on disk.
                segment = self.redo.rotate()
                taken, self._pending_apply = self._pending_apply, Pending()
                covered, self._covered_queued = self._covered_queued, {}
            try:
                with self.lock, self._transaction():
                    self._apply_merged(taken.as_plan())
                    self.db.execute("INSERT OR REPLACE INTO meta (name, data) VALUES ('redo', ?)", (str(segment),))
            except BaseException:
                with self._log_lock:  # still in the redo log: kept for the next attempt, in order
                    taken.absorb(self._pending_apply)
                    self._pending_apply = taken
                    self._covered_queued = {**covered, **self._covered_queued}
                raise
            with self._log_lock:
                self._covered_applied.update(covered)
                gone = self._deletable(segment)
            self.redo.remove(gone)
            return taken.records

    def _apply_merged(self, plan: dict) -> None:
        # The output of :func:`merge` in the open transaction: each tenant's audit records and journal entries of
        # the round as one row each (``files.chunk``; a thousand single-row inserts cost more than the rest).
        last = plan["last"]
        deleted = [key for key, (op, _row) in last.items() if op != "row"]
        if deleted:
            self.db.executemany(DELETE_OBJECT, deleted)
        rows = [row for op, row in last.values() if op != "gone"]
        if rows:
            self.db.executemany(UPSERT_OBJECT, rows)
        if plan["audit"]:
            self.db.executemany(INSERT_AUDIT, [(tenant_id, chunk(texts)) for tenant_id, texts in plan["audit"].items()])
        blobs = [(t, name, text) for (t, name), text in plan["blobs"].items()]
        for tenant_id, (cleared, entries, keep_from) in plan["journal"].items():
            if keep_from is not None:
                entries = [row for row in entries if row[1] >= keep_from]  # out of the ring already
                # An older round's row can hold entries below the bound too: a load leaves those out.
                blobs.append((tenant_id, JOURNAL_FROM, str(keep_from)))
            rows = [(tenant_id, entries[-1][1], chunk(row[2] for row in entries))] if entries else []
            write_journal(self.db, tenant_id, cleared, rows, keep_from)
        if blobs:
            self.db.executemany(UPSERT_BLOB, blobs)
        if plan["cards"]:
            self.db.executemany(UPDATE_CARD, [(text, t) for t, text in plan["cards"].items()])

    def _apply_loop(self) -> None:
        # The background applier: every APPLY_INTERVAL, or at once when many records are queued.
        log = logging.getLogger("hybridsoa")
        while True:
            with self._cond:
                if not self._closing and not self._nudged:
                    self._cond.wait(APPLY_INTERVAL)
                if self._closing:
                    return
            try:
                self._drain(reads=True, wait=False)
            except sqlite3.ProgrammingError:
                return  # the database was closed under us (a test closing ``db`` directly): nothing left to do
            except Exception as exc:  # noqa: BLE001 - the records stay in the redo log and are retried
                log.error("applying the redo log to SQLite failed: %s", exc)


def _record(plan: dict, wrap: Any = Fragment) -> dict:
    # The redo line of a collected plan. The JSON texts of objects, audit records and journal entries go in as
    # they are (``wrap``: ``orjson.Fragment``), not as strings to escape again: a record is read back by :func:`item`.
    tid, journal, card = plan["tid"], plan["journal"], plan["card"]
    return {
        "tid": tid,
        "rows": [row if row[5] is None else (*row[:5], wrap(row[5])) for row in plan["rows"]],
        "gone": plan["gone"],
        "audit_rows": [(t, wrap(text)) for t, text in plan["audit_rows"]],
        "journal": None
        if journal is None
        else (journal[0], [(t, seq, wrap(text)) for t, seq, text in journal[1]], journal[2]),
        "blobs": plan["blobs"],
        "card": None if card is None else (card[0],),  # the text is what is applied
    }


def _encode_plan(plan: dict) -> bytes:
    # A value orjson refuses (a lone surrogate in a key, an integer beyond 64 bits) sends the whole record to the
    # standard library, which knows no fragments: the texts then go in as strings (read back the same way).
    try:
        return json_text.dumps_line_strict(_record(plan))
    except TypeError:
        return encode(_record(plan, wrap=str))


def _text(value) -> str:
    # A row's JSON as read back: a string (records written before fragments) or the parsed value.
    return value if isinstance(value, str) else json_text.dumps(value)


def item(record: dict) -> tuple:
    """A redo record (as read back from a segment) in the queue's form (see :func:`merge`)."""
    card, journal = record["card"], record["journal"]
    return (
        record["tid"],
        [row if row[5] is None else (*row[:5], _text(row[5])) for row in record["rows"]],
        record["gone"],
        [_text(text) for _tid, text in record["audit_rows"]],
        None if journal is None else (journal[0], [(t, seq, _text(text)) for t, seq, text in journal[1]], journal[2]),
        list(record["blobs"].items()),
        None if card is None else card[0],
    )


class Pending:
    """Queued records folded as they arrive, with the effect of applying them in order (what the background thread
    applies next): each object's last row, a deleted key still moved to the end as a dict would, each tenant's
    audit texts in order, its journal from its last clear and its last bound, each blob's last text, each tenant's
    last card. A busy object queued many times in a round is written once, and no per-record tuple waits in the
    cyclic collector's generations until the round ends."""

    __slots__ = ("audit", "blobs", "cards", "journal", "last", "records")

    def __init__(self) -> None:
        self.last: dict[tuple, tuple] = {}
        self.audit: dict[str, list] = {}
        self.journal: dict[str, list] = {}
        self.blobs: dict[tuple, str] = {}
        self.cards: dict[str, str] = {}
        self.records = 0

    def add(self, tid: str, rows, gone, audit_texts, journal_change, blob_pairs, card) -> None:
        """Fold one record in: ``(tenant id, object rows, gone keys, audit texts, journal, blob (name, text)
        pairs, card text)``."""
        self.records += 1
        fold = self._fold
        for row in rows:
            fold((row[0], row[1], row[2]), "row" if row[5] is not None else "tomb", row)
        for gone_key in gone:
            key = tuple(gone_key)
            fold(key, "gone", key)
        if audit_texts:
            self.audit.setdefault(tid, []).extend(audit_texts)
        if journal_change is not None:
            self._journal(tid, *journal_change)
        for name, text in blob_pairs:
            self.blobs[(tid, name)] = text
        if card is not None:
            self.cards[tid] = card

    def _fold(self, key: tuple, op: str, payload) -> None:
        # One key's change after everything folded so far: ``row`` an upsert, ``tomb`` a delete row (or a round
        # that deleted the key first), ``gone`` a delete. A key deleted and then written again is moved to the
        # end, as sequential upserts move it; an upsert over a kept row keeps its place (and its delete first).
        last = self.last
        prev = last.get(key)
        if op != "row" or (prev is not None and prev[0] == "gone"):
            last.pop(key, None)
            last[key] = ("gone" if op == "gone" else "tomb", payload)
        else:
            last[key] = ("tomb" if prev is not None and prev[0] == "tomb" else "row", payload)

    def _journal(self, tid: str, cleared: bool, entries, keep_from: int | None) -> None:
        entry = self.journal.setdefault(tid, [False, [], None])
        if cleared:
            entry[0], entry[1] = True, []
        entry[1].extend(entries)
        if keep_from is not None:
            entry[2] = keep_from

    def absorb(self, later: Pending) -> None:
        """Fold in ``later``, queued after everything here (a failed apply keeps its round in front)."""
        for key, (op, payload) in later.last.items():
            self._fold(key, op, payload)
        for tid, texts in later.audit.items():
            self.audit.setdefault(tid, []).extend(texts)
        for tid, (cleared, entries, keep_from) in later.journal.items():
            self._journal(tid, cleared, entries, keep_from)
        self.blobs.update(later.blobs)
        self.cards.update(later.cards)
        self.records += later.records

    def as_plan(self) -> dict:
        """The form :meth:`RedoWriter._apply_merged` applies."""
        return {
            "last": self.last,
            "audit": self.audit,
            "journal": self.journal,
            "blobs": self.blobs,
            "cards": self.cards,
        }


def merge(items) -> dict:
    """Many queued records (tuples as :func:`item` makes) as one change, with the effect of applying them in order
    (see :class:`Pending`)."""
    pending = Pending()
    for record in items:
        pending.add(*record)
    return pending.as_plan()
