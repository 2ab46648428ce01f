"""Append-only JSONL files that make bulk runs restartable and reversible: the run **checkpoint** (one ``start``
and one ``done`` record per item, flushed and fsynced as each item completes) and the **backup** of every
mailbox's Exchange attributes, written before the mailbox is changed.

A killed run leaves at worst a torn last line; it is ignored on reopen and the file continues on a new line."""

from __future__ import annotations

import datetime as _dt
import json
import os
import threading
from collections import Counter
from collections.abc import Iterable

from ..errors import ConfigError

#: Item outcomes. ``changed`` is only written after a read-back confirmed the new value.
CHANGED, ALREADY, SILENT, FAILED, INELIGIBLE, NOT_FOUND, WOULD_CHANGE = (
    "changed",
    "already",
    "silently_ignored",
    "failed",
    "ineligible",
    "not_found",
    "would_change",
)
FAILURE_STATUSES = frozenset({FAILED, NOT_FOUND, INELIGIBLE})
#: Outcomes a resumed run tries again (the write either did not happen or did not stick).
RETRYABLE = frozenset({FAILED, SILENT})


def now_iso() -> str:
    """UTC timestamp for records."""
    return _dt.datetime.now(tz=_dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonlWriter:
    """Thread-safe append-only JSONL file; each record is flushed (and fsynced by default) before returning."""

    def __init__(self, path: str, *, fsync: bool = True):
        self.path = path
        self.fsync = fsync
        self._lock = threading.Lock()
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        needs_newline = False
        if os.path.exists(path) and os.path.getsize(path) > 0:
            with open(path, "rb") as fh:
                fh.seek(-1, os.SEEK_END)
                needs_newline = fh.read(1) != b"\n"
        self._fh = open(path, "a", encoding="utf-8")  # noqa: SIM115  (appended to for the run; closed by close())
        if needs_newline:
            # The previous process died mid-line: start clean on a new line (the torn line is skipped on read).
            self._fh.write("\n")
            self._flush()

    def _flush(self) -> None:
        self._fh.flush()
        if self.fsync:
            os.fsync(self._fh.fileno())

    def write(self, record: dict) -> None:
        """Append one record durably."""
        self.write_many([record])

    def write_many(self, records: list[dict]) -> None:
        """Append records durably with one flush (and fsync): a ``$batch`` of items is recorded at once."""
        if not records:
            return
        text = "".join(json.dumps(r, separators=(",", ":"), default=str) + "\n" for r in records)
        with self._lock:
            self._fh.write(text)
            self._flush()

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            if not self._fh.closed:
                self._fh.close()


def read_jsonl(path: str) -> list[dict]:
    """All well-formed records of a JSONL file (torn or blank lines skipped)."""
    out = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(rec, dict):
                out.append(rec)
    return out


class Checkpoint:
    """The state of one bulk run as recorded in its JSONL checkpoint."""

    def __init__(self, path: str | None, header: dict, records: list[dict] | None = None, *, fsync: bool = True):
        self.path = path
        self.header = header
        self.done: dict[str, dict] = {}
        self.started: set[str] = set()
        self.halts: list[dict] = []
        for rec in records or []:
            kind = rec.get("type")
            if kind == "done" and rec.get("identity") is not None:
                # The latest outcome counts: a retryable outcome may be followed by the retry's outcome.
                prior = self.done.get(rec["identity"])
                if prior is None or prior.get("status") in RETRYABLE:
                    self.done[rec["identity"]] = rec
            elif kind == "start" and rec.get("identity") is not None:
                self.started.add(rec["identity"])
            elif kind == "halt":
                self.halts.append(rec)
        self._writer = JsonlWriter(path, fsync=fsync) if path else None
        self._lock = threading.Lock()
        #: True when this run continues an existing checkpoint file.
        self.resumed = bool(records)

    def plan(self):
        """The recorded plan: the run's identities split into its recorded waves (None without a plan)."""
        from .plan import Plan

        items, sizes = self.items, [int(n) for n in self.header.get("waves") or [] if int(n) > 0]
        if not items:
            return None
        if sum(sizes) != len(items):
            sizes = [len(items)]
        waves, pos = [], 0
        for n in sizes:
            waves.append(items[pos : pos + n])
            pos += n
        return Plan(waves=waves)

    @classmethod
    def open(cls, path: str | None, header: dict, *, fsync: bool = True) -> Checkpoint:
        """Open (resume) or create a checkpoint. Resuming requires the same operation and target."""
        if not path:
            return cls(None, header)
        if os.path.exists(path) and os.path.getsize(path) > 0:
            records = read_jsonl(path)
            existing = next((r for r in records if r.get("type") == "run"), None)
            if existing is None:
                raise ConfigError(f"{path} is not a hybridsoa checkpoint (no run header)")
            for key in ("operation", "target"):
                if key in header and existing.get(key) != header.get(key):
                    raise ConfigError(
                        f"{path} belongs to a {existing.get('operation')} run "
                        f"(target {existing.get('target')}); refusing to resume it as "
                        f"{header.get('operation')} (target {header.get('target')})"
                    )
            mine, theirs = str(header.get("tenant") or ""), str(existing.get("tenant") or "")
            if mine and theirs and mine.lower() != theirs.lower():
                raise ConfigError(f"{path} belongs to tenant {theirs}, not {mine}: refusing to resume it")
            if header.get("items") and existing.get("items") and header.get("plan") != existing.get("plan"):
                raise ConfigError(
                    f"{path} records another list of mailboxes: resume with --checkpoint alone "
                    "(its plan is used), or start a new checkpoint file"
                )
            return cls(path, existing, records, fsync=fsync)
        cp = cls(path, header, fsync=fsync)
        cp._write({"type": "run", **header})
        return cp

    @classmethod
    def load(cls, path: str) -> Checkpoint:
        """Read a checkpoint without opening it for writing (``status``, ``verify``)."""
        records = read_jsonl(path)
        header = next((r for r in records if r.get("type") == "run"), None)
        if header is None:
            raise ConfigError(f"{path} is not a hybridsoa checkpoint (no run header)")
        cp = cls(None, header, records)
        cp.path = path
        return cp

    def _write(self, record: dict) -> None:
        if self._writer is not None:
            self._writer.write(record)

    @property
    def items(self) -> list[str]:
        """Identities of the run's plan, in order."""
        return list(self.header.get("items") or [])

    def is_done(self, identity: str, *, retry: bool = False) -> bool:
        """Whether the item has its outcome; with ``retry``, failed and silently ignored items count as not done."""
        rec = self.done.get(identity)
        return rec is not None and not (retry and rec.get("status") in RETRYABLE)

    def was_started(self, identity: str) -> bool:
        """Whether an earlier attempt sent (or was about to send) the item's write without a final outcome."""
        rec = self.done.get(identity)
        return identity in self.started and (rec is None or rec.get("status") in RETRYABLE)

    def start(self, identity: str) -> None:
        """Record that the item is about to be changed (before the write is sent)."""
        self.start_many([identity])

    def start_many(self, identities: list[str]) -> None:
        """Record that these items are about to be changed (one durable write before their ``$batch``)."""
        stamp = now_iso()
        with self._lock:
            self.started.update(identities)
        if self._writer is not None:
            self._writer.write_many([{"type": "start", "identity": i, "at": stamp} for i in identities])

    def finish(self, record: dict) -> dict:
        """Record the item's outcome exactly once; returns the stored record."""
        return self.finish_many([record])[0]

    def finish_many(self, records: list[dict]) -> list[dict]:
        """Record several items' outcomes (exactly once each) with one durable write; returns the stored ones."""
        stamp = now_iso()
        out, fresh = [], []
        with self._lock:
            for record in records:
                rec = {"type": "done", **record, "at": stamp}
                prior = self.done.get(rec["identity"])
                if prior is not None and prior.get("status") not in RETRYABLE:
                    out.append(prior)
                    continue
                self.done[rec["identity"]] = rec
                fresh.append(rec)
                out.append(rec)
            if self._writer is not None:
                self._writer.write_many(fresh)
        return out

    def halt(self, reason: str) -> None:
        """Record that the run stopped before finishing its plan (e.g. a failing pilot wave)."""
        rec = {"type": "halt", "reason": reason, "at": now_iso()}
        self.halts.append(rec)
        self._write(rec)

    def pending(self, identities: Iterable[str] | None = None) -> list[str]:
        """Identities without a ``done`` record."""
        return [i for i in (identities if identities is not None else self.items) if i not in self.done]

    def counts(self) -> dict:
        """Outcome counts plus ``pending``."""
        c = Counter(rec.get("status") for rec in self.done.values())
        out = dict(sorted(c.items()))
        out["pending"] = len(self.pending())
        return out

    def close(self) -> None:
        """Close the file."""
        if self._writer is not None:
            self._writer.close()


class Backup:
    """Backup of mailboxes' Exchange attributes (JSONL, one record per mailbox before its change)."""

    def __init__(self, path: str | None, *, fsync: bool = True):
        self.path = path
        self._writer = JsonlWriter(path, fsync=fsync) if path else None
        self.records: list[dict] = []
        self._lock = threading.Lock()

    def save(self, mailbox: dict, *, operation: str) -> dict:
        """Record the mailbox as it is now, before ``operation`` changes it."""
        return self.save_many([mailbox], operation=operation)[0]

    def save_many(self, mailboxes: list[dict], *, operation: str) -> list[dict]:
        """Record several mailboxes before their change, with one durable write."""
        stamp = now_iso()
        recs = [
            {"identity": m.get("Guid") or m.get("Identity"), "operation": operation, "capturedAt": stamp, "mailbox": m}
            for m in mailboxes
        ]
        with self._lock:
            self.records.extend(recs)
        if self._writer is not None:
            self._writer.write_many(recs)
        return recs

    def close(self) -> None:
        """Close the file."""
        if self._writer is not None:
            self._writer.close()

    @staticmethod
    def read(path: str) -> list[dict]:
        """Every backup record of a backup file."""
        return read_jsonl(path)
