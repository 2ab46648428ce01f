"""Durable tenant state for ``hybridsoa-mock serve --data-dir``: SQLite in WAL mode.

Each request's changes (dirty collection objects, new audit records, and the small state blobs that changed:
clock, RNG, settings, sync/RBAC/PIM/fault state) are collected while the tenant lock is held and made durable
before the response leaves, so an acknowledged write survives ``kill -9`` and a half-applied request never
reaches disk. ``synchronous=normal`` (the default) appends them to the redo log (``redo_log``) and SQLite takes
them in the background; ``--synchronous full`` commits them in one transaction per group with an fsync
(``group_commit``). Tenants are rows decomposed from the snapshot document; recovery (``durable_read``)
reassembles that document and rebuilds each tenant with the snapshot loader, which the caller hands in as the
store's :class:`~.persistence.TenantCodec` (see docs/benchmarks.md for WAL vs append-log)."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading

from . import json_text
from .bulk import BulkWrites
from .cards import IndexCards
from .commands import COMMANDS_BLOB, CommandLog
from .durable_read import JOURNAL_ROWS, TenantReader
from .files import (
    DB_NAME,
    DELETE_OBJECT,
    INSERT_AUDIT,
    INSERT_JOURNAL,
    UPDATE_CARD,
    UPSERT_BLOB,
    UPSERT_OBJECT,
    ids_blob,
    records,
    secure_data_dir,
    write_journal,
)
from .group_commit import GroupCommit
from .heap import drop_gradually
from .persistence import TenantCodec
from .redo_log import RedoLog, RedoWriter
from .signals import BlobSignals, TextCache, rng_signature, rng_words

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tenants (id TEXT PRIMARY KEY, name TEXT NOT NULL, position INTEGER NOT NULL,
                                    header TEXT NOT NULL, card TEXT);
CREATE TABLE IF NOT EXISTS blobs (tenant_id TEXT NOT NULL, name TEXT NOT NULL, data TEXT NOT NULL,
                                  PRIMARY KEY (tenant_id, name));
CREATE TABLE IF NOT EXISTS objects (tenant_id TEXT NOT NULL, collection TEXT NOT NULL, key TEXT NOT NULL,
                                    seq INTEGER NOT NULL, cls TEXT, data TEXT,
                                    PRIMARY KEY (tenant_id, collection, key));
CREATE TABLE IF NOT EXISTS audit (pos INTEGER PRIMARY KEY AUTOINCREMENT, tenant_id TEXT NOT NULL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS audit_by_tenant ON audit (tenant_id, pos);
CREATE TABLE IF NOT EXISTS journal (tenant_id TEXT NOT NULL, seq INTEGER NOT NULL, data TEXT NOT NULL,
                                    PRIMARY KEY (tenant_id, seq));
"""
#: Rows per transaction when a whole tenant is written or deleted (other tenants' commits run in between).
CHUNK_ROWS = 1000
#: ``--synchronous``: what an acknowledged write survives. ``normal``: the process dying (kill -9, a crash);
#: ``full``: also the machine losing power (one fsync per group commit).
SYNCHRONOUS = ("normal", "full")


class DurableStore(TenantReader, RedoWriter, CommandLog, BlobSignals, IndexCards, GroupCommit, BulkWrites):
    """Persists every tenant of a registry to one SQLite database and loads them back on start."""

    def __init__(self, registry, path: str, codec: TenantCodec, synchronous: str = "normal"):
        if synchronous not in SYNCHRONOUS:
            raise ValueError(f"synchronous must be one of {', '.join(SYNCHRONOUS)}")
        self.synchronous = synchronous
        self.codec = codec
        self.registry = registry
        self.path = path
        self.lock = threading.RLock()
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        # NORMAL (default): a commit is in the WAL file (the OS page cache) before the answer leaves, which
        # survives kill -9 of the process; FULL also fsyncs the WAL at each commit, surviving power loss too.
        self.db.execute(f"PRAGMA synchronous={synchronous.upper()}")
        self.db.executescript(SCHEMA)
        if "card" not in {row[1] for row in self.db.execute("PRAGMA table_info(tenants)")}:
            self.db.execute("ALTER TABLE tenants ADD COLUMN card TEXT")  # a store from before the index's cards
        self._init_cards()
        #: tenant id -> blob name -> last JSON text written (skip unchanged blobs).
        self._written: dict[str, dict[str, str]] = {}
        #: tenant id -> the JSON text of each blob (and of each plain attribute) by its type-exact signature, so
        #: an unchanged subsystem or setting is not encoded again (``signals.TextCache``).
        self._texts: dict[str, TextCache] = {}
        self._clock_marks: dict[str, tuple] = {}
        #: tenant id -> ``signals.rng_signature`` of the RNG state last written.
        self._rng_marks: dict[str, object] = {}
        #: tenant id -> the RNG state words of the ``ids`` blob last written (``ids:pos`` carries the position).
        self._ids_words: dict[str, object] = {}
        self._colls: dict[str, tuple] = {}
        #: class -> the dotted name stored beside its objects (``codec.class_path``).
        self._class_paths: dict[type, str] = {}
        self.commits = 0
        # Group commit: requests take tickets, one thread commits everything pending, then wakes them.
        self._start_group_commit()
        self._init_bulk()  # whole-tenant writes and deletes: checkpoints outside the store lock (bulk.py)
        #: ``synchronous=normal``: requests append to the redo log and answer at once (``redo_log``); ``full``
        #: keeps group commit (one fsync per group, the answers wait for it).
        self.redo = RedoLog(os.path.dirname(os.path.abspath(path))) if synchronous == "normal" else None
        if self.redo is not None:
            self._start_redo()
        else:
            self._log_lock = threading.RLock()
            self._init_commands()
        loop = self._apply_loop if self.redo is not None else self._commit_loop
        self._committer = threading.Thread(target=loop, name="hybridsoa-commit", daemon=True)
        self._committer.start()

    # ------------------------------------------------------------------------------------ registry hooks
    def tenant_created(self, tenant) -> None:
        """Registry hook (create, reset, restore): write the whole tenant, in chunks of :data:`CHUNK_ROWS` rows
        each in its own short transaction so the commit thread (every other tenant's writes) runs in between;
        the ``tenants`` row goes last, so a crash mid-way leaves orphan rows that recovery drops, never half a
        tenant."""
        with self._cond:
            self._creating.add(tenant.id)  # the commit thread leaves this tenant's later changes until we are done
        try:
            if self.redo is not None:
                self._drain()  # what the redo log holds (the replaced tenant's last writes too) goes in first
            with self._bulk():
                self._write_whole(tenant)
        finally:
            with self._cond:
                self._creating.discard(tenant.id)
                self._promote()  # a request waiting behind this tenant's creation can commit now
                self._cond.notify_all()

    def _write_whole(self, tenant) -> None:
        with tenant.lock:
            doc = self.codec.dump_tenant(tenant)
            for coll in self.codec.collections_of(tenant).values():
                coll.take_dirty()
            tenant.audit.dirty = []
            clock_mark, rng_mark = self.codec.clock_fingerprint(tenant.clock), rng_signature(tenant.ids.rng)
            card = self.codec.index_card(tenant)
            tenant.journal.track = True
            tenant.journal.take_unsaved()
            journal = [(tenant.id, e["seq"], json.dumps(e, default=str)) for e in tenant.journal.entries]
            with self._log_lock:  # written whole: every command logged so far is covered
                commands_top = self._command_top
                self._forget_commands(tenant.id, covered=commands_top)
            self._quiet[tenant.id] = self.marks(tenant)
        with self.lock:  # a reset or a restore over the tenant keeps its place in the creation order
            kept = self.db.execute("SELECT position FROM tenants WHERE id=?", (tenant.id,)).fetchone()
        self._delete_rows_chunked(tenant.id, final=False)
        rows: list[tuple] = []
        for attr, data in doc["collections"].items():
            for item in data["items"]:
                cls = item[3] if len(item) > 3 else data["class"]
                rows.append((tenant.id, attr, item[0], item[1], cls, json.dumps(item[2])))
            for key, seq in data["tombstones"].items():
                rows.append((tenant.id, attr, key, seq, None, None))
            drop_gradually(data["items"])
        audit = [(tenant.id, json.dumps(r)) for r in doc["audit"]]
        drop_gradually(doc["audit"])
        for i in range(0, max(len(rows), len(audit)), CHUNK_ROWS):
            with self.lock, self._transaction():
                self.db.executemany(
                    "INSERT INTO objects (tenant_id, collection, key, seq, cls, data) VALUES (?, ?, ?, ?, ?, ?)",
                    rows[i : i + CHUNK_ROWS],
                )
                self.db.executemany(INSERT_AUDIT, audit[i : i + CHUNK_ROWS])
            self._bulk_progress(CHUNK_ROWS)
        with self.lock:
            position = (
                kept[0] if kept else self.db.execute("SELECT COALESCE(MAX(position), 0) + 1 FROM tenants").fetchone()[0]
            )
            with self._transaction():
                header = {k: doc[k] for k in ("format", "version", "tenant", "spec")}
                card_text = json.dumps(card)
                self.db.execute(
                    "INSERT OR REPLACE INTO tenants (id, name, position, header, card) VALUES (?, ?, ?, ?, ?)",
                    (tenant.id, tenant.name, position, json.dumps(header), card_text),
                )
                self._written[tenant.id] = {}
                for name, value in self._blobs(tenant, doc).items():
                    self._put_blob(tenant.id, name, value, force=True)
                self._put_blob(tenant.id, COMMANDS_BLOB, commands_top, force=True)
                self.db.executemany(INSERT_JOURNAL, journal)
                self._put_registry_meta()
                self.db.execute("DELETE FROM meta WHERE name=?", ("writing:" + tenant.id,))
            self._clock_marks[tenant.id] = clock_mark
            self._rng_marks[tenant.id] = rng_mark
            self._ids_words[tenant.id] = rng_words(rng_mark)  # what the ``ids`` blob just written holds
            self._card_written(tenant.id, card_text, card)
        drop_gradually(rows)
        drop_gradually(audit)

    def tenant_deleted(self, tenant) -> None:
        """Registry hook: drop the tenant's rows (unless a reset already put a new tenant under the same id)."""
        if self.registry.tenants.get(tenant.id) is not None:
            return
        if self.redo is not None:
            self._drain()  # its last writes reach SQLite before its rows go, never after
        with self._bulk():
            self._delete_rows_chunked(tenant.id)
        with self._log_lock:
            self._forget_commands(tenant.id)
        with self.lock:
            self._written.pop(tenant.id, None)
            self._texts.pop(tenant.id, None)
            self._forget_card(tenant.id)
            self._clock_marks.pop(tenant.id, None)
            self._rng_marks.pop(tenant.id, None)
            self._ids_words.pop(tenant.id, None)
            self._colls.pop(tenant.id, None)

    def _delete_rows_chunked(self, tenant_id: str, *, final: bool = True) -> None:
        # The tenants row first (the tenant is gone for recovery at once), then its rows a chunk at a time. The
        # "writing:" marker names the tenant until the last chunk (or the whole write after it) is committed,
        # so recovery knows to sweep orphan rows; ``final=False``: the whole write that follows clears it.
        with self.lock, self._transaction():
            self.db.execute("INSERT OR REPLACE INTO meta (name, data) VALUES (?, '')", ("writing:" + tenant_id,))
            self.db.execute("DELETE FROM tenants WHERE id=?", (tenant_id,))
            self.db.execute("DELETE FROM blobs WHERE tenant_id=?", (tenant_id,))
        for table in ("objects", "audit", "journal"):
            while True:
                with self.lock, self._transaction():
                    gone = self.db.execute(
                        f"DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM {table} WHERE tenant_id=? LIMIT ?)",
                        (tenant_id, CHUNK_ROWS),
                    ).rowcount
                self._bulk_progress(gone)
                if gone < CHUNK_ROWS:
                    break
        if final:
            with self.lock:
                self.db.execute("DELETE FROM meta WHERE name=?", ("writing:" + tenant_id,))

    def flush(self, tenant, *, thorough: bool = True) -> bool:
        """Persist what changed in ``tenant`` since the last flush, in one transaction (call under its lock).
        ``thorough=False`` (a read request) compares the state blobs only when a cheap sign says something
        moved: dirty objects, new audit records, a consumed RNG or a moved clock. Returns True when written."""
        if self.redo is not None:  # through the redo log, then applied at once (nothing overtakes queued records)
            written = self._log_changes(tenant, thorough)
            self._drain()
            return written
        return self._flush_in_order(tenant, thorough)

    def _collect(self, tenant, thorough: bool, blobs: bool = True):
        """Under the tenant's lock and ``self.lock``: take the tenant's changes as rows to write, or None."""
        tid = tenant.id
        if self.registry.tenants.get(tid) is not tenant:
            return None  # deleted or replaced (reset/restore): the registry hooks wrote the truth
        cached = self._colls.get(tid)
        if cached is None or cached[0] is not tenant:
            # A tenant's collections are the attributes its constructor made (collections_of walks them all).
            cached = self._colls[tid] = (tenant, self.codec.collections_of(tenant))
        colls = cached[1]
        taken = {attr: c.take_dirty() for attr, c in colls.items() if c.dirty}
        audit = tenant.audit.dirty
        if audit:
            tenant.audit.dirty = []
        journal = self._journal_rows(tenant)
        rng = rng_signature(tenant.ids.rng)
        if (
            thorough
            or taken
            or audit
            or self._rng_marks.get(tid) != rng
            or self._clock_marks.get(tid) != self.codec.clock_fingerprint(tenant.clock)
        ):
            changed = self._changed_blobs(tenant, rng, rows_only=not blobs)
        else:
            changed = {}
        commands = self._commands_blob(tid, self._written.get(tid, {})) if self._commands else None
        if commands is not None:
            changed = {**changed, COMMANDS_BLOB: commands}
        if not changed and not audit and not taken:
            self._rng_marks[tid] = rng
            if journal is None:
                return None
        rows: list[tuple] = []
        gone: list[tuple] = []
        object_json, paths = self.codec.object_json, self._class_paths
        for attr, keys in taken.items():
            coll = colls[attr]
            for key in keys:
                obj = coll.get(key)
                if obj is None:
                    tomb = coll.tombstone(key)
                    if tomb is None:
                        gone.append((tid, attr, key))
                    else:
                        rows.append((tid, attr, key, tomb, None, None))
                else:
                    cls = type(obj)
                    path = paths.get(cls)
                    if path is None:
                        path = paths[cls] = self.codec.class_path(obj)
                    rows.append((tid, attr, key, coll.seq(key), path, object_json(obj)))
        audit_rows = [(tenant.id, self.codec.object_json(r)) for r in audit]
        card, card_lens = self._card_change(tenant, colls, taken, rows, gone, changed)
        return {
            "tenant": tenant,
            "tid": tenant.id,
            "taken": taken,
            "audit": audit,
            "rng": rng,
            "blobs": changed,
            "rows": rows,
            "gone": gone,
            "audit_rows": audit_rows,
            "journal": journal,
            "card": card,
            "card_lens": card_lens,
        }

    def _journal_rows(self, tenant):
        # (cleared, rows, lowest seq to keep) for the journal table, or None when nothing happened to it.
        cleared, entries = tenant.journal.take_unsaved()
        if not cleared and not entries:
            return None
        rows = [(tenant.id, e["seq"], json_text.dumps(e, default=str)) for e in entries]
        keep_from = (entries[-1]["seq"] - min(tenant.journal.limit, JOURNAL_ROWS) + 1) if entries else None
        return cleared, rows, keep_from

    def _apply(self, plan) -> None:
        tenant_id = plan["tid"]
        tenant = plan.get("tenant")  # None: a record replayed from the redo log at start
        if tenant is not None and self.registry.tenants.get(tenant_id) is not tenant:
            # Deleted or replaced between this commit's collect and now (under self.lock, as the registry hooks'
            # writes are): their rows are the truth, so nothing of the old tenant is written after them.
            plan["stale"] = True
            return
        rows = plan["rows"]
        tombs = [r for r in rows if r[5] is None]
        if tombs:
            # A deleted key that comes back is appended at the end, as a dict does.
            self.db.executemany(DELETE_OBJECT, [r[:3] for r in tombs])
        if rows:
            # Upsert keeps the rowid, so a reload sees the collection in its insertion order.
            self.db.executemany(UPSERT_OBJECT, rows)
        if plan["gone"]:
            self.db.executemany(DELETE_OBJECT, plan["gone"])
        if plan["audit_rows"]:
            self.db.executemany(INSERT_AUDIT, plan["audit_rows"])
        if plan["journal"] is not None:
            write_journal(self.db, tenant_id, *plan["journal"])
        self.db.executemany(UPSERT_BLOB, [(tenant_id, name, text) for name, text in plan["blobs"].items()])
        if plan.get("card") is not None:
            self.db.execute(UPDATE_CARD, (plan["card"][0], tenant_id))

    def _undo(self, plan) -> None:
        # Not durable, so not forgotten: the next flush retries these changes.
        tenant = plan["tenant"]
        colls = self.codec.collections_of(tenant)
        for attr, keys in plan["taken"].items():
            colls[attr].dirty |= keys
        tenant.audit.dirty = plan["audit"] + tenant.audit.dirty
        if plan["journal"] is not None:
            cleared, _rows, _keep = plan["journal"]
            tenant.journal.cleared = tenant.journal.cleared or cleared
        self._written.pop(tenant.id, None)

    def _done(self, plan) -> None:
        tenant = plan["tenant"]
        if plan.get("stale"):
            return
        self._written.setdefault(tenant.id, {}).update(plan["blobs"])
        self._rng_marks[tenant.id] = plan["rng"]
        self._card_done(tenant.id, plan)

    # -------------------------------------------------------------------------------------- group commit
    def request_done(self, tenant, *, thorough: bool = True, blobs: bool = True, command=None) -> int:
        """Call at the end of a request, under ``tenant``'s lock (``tenant`` None: the request named none, any
        tenant may have changed). Returns a ticket for :meth:`wait_durable`: the commit thread writes this
        request's changes together with those of every request that ended meanwhile, in one transaction.
        With the redo log (``synchronous=normal``) the changes are appended to it here and the ticket is 0;
        ``blobs=False`` (a write declared to change only objects and audit records) skips the state blobs there;
        ``command``: the request's :class:`~.commands.CommandCapture`, logged as a command when it can be."""
        if self.redo is not None and (tenant is not None and (thorough or self._moved(tenant))):
            return self._redo_request_done(tenant, thorough, blobs, command)
        if self.redo is not None and tenant is None:
            for t in self._touched():
                with t.lock:
                    ticket = self._redo_request_done(t, True)
                    if ticket:
                        return ticket
            return 0
        with self._cond:
            ticket = self._requested + 1
            if tenant is None:
                touched = self._touched()
                if not touched:
                    return 0  # nothing changed: nothing to wait for
                for t in touched:
                    self._queue(t, True, ticket)
            else:
                if not thorough and not self._moved(tenant):
                    # A read that changed nothing answers at once; its journal entry goes with the next commit.
                    if tenant.journal.unsaved or tenant.journal.cleared:
                        self._queue(tenant, False, None)
                        if not self._nudged and self.redo is None:
                            self._nudged = True
                            self._cond.notify_all()
                    return 0
                self._queue(tenant, thorough, ticket)
            self._requested = ticket
            # No wake-up: the request's own wait_durable commits this (or joins the commit under way).
            return self._requested

    def _touched(self) -> list:
        # Tenants not yet written whole (being created) are the create hook's to write, not ours.
        return [
            t
            for t in self.registry.loaded()
            if t.id in self._written
            and t.id not in self._creating
            and (any(c.dirty for c in self.codec.collections_of(t).values()) or t.audit.dirty)
        ]

    def wait_durable(self, ticket: int) -> None:
        """Block until the changes of the request holding ``ticket`` are durable (see ``GroupCommit``); with the
        redo log they already are, unless the tenant was being written whole or the append failed."""
        if self.redo is None:
            GroupCommit.wait_durable(self, ticket)
        elif ticket < 0:
            self._redo_wait(ticket)

    def _moved(self, tenant) -> bool:
        # The cheap sign that a read request changed something after all (see flush's thorough=False). Nothing
        # moved since the tenant's last logged request (a command leaves its objects to the round): not moved.
        quiet = self._quiet.get(tenant.id)
        if quiet is not None and quiet == self.marks(tenant):
            return False
        return (
            any(c.dirty for c in self.codec.collections_of(tenant).values())
            or bool(tenant.audit.dirty)
            or self._rng_marks.get(tenant.id) != rng_signature(tenant.ids.rng)
            or self._clock_marks.get(tenant.id) != self.codec.clock_fingerprint(tenant.clock)
        )

    def flush_all(self) -> int:
        """Flush every tenant that has pending changes (after requests that named no tenant)."""
        n = 0
        for tenant in self.registry.loaded():
            if any(c.dirty for c in self.codec.collections_of(tenant).values()) or tenant.audit.dirty:
                with tenant.lock:
                    n += self.flush(tenant)
        return n

    def _blobs(self, tenant, doc: dict) -> dict:
        version, internal, gauss = doc["ids"]["state"]
        ids = ids_blob(doc["ids"]["seed"], (version, internal, gauss))
        blobs = {
            "clock": doc["clock"],
            "ids": ids,
            "state": doc["state"],
            "collections": self._collection_meta(tenant),
            "signing": doc["signing"],
        }
        for name, data in doc["subsystems"].items():
            blobs[f"subsystem:{name}"] = data
        return blobs

    def _put_blob(self, tenant_id: str, name: str, value, *, force: bool = False) -> None:
        text = json.dumps(value)
        written = self._written.setdefault(tenant_id, {})
        if force or written.get(name) != text:
            self.db.execute(UPSERT_BLOB, (tenant_id, name, text))
            written[name] = text

    def _put_registry_meta(self) -> None:
        version, internal, gauss = self.registry.ids.getstate()
        state = {"counter": self.registry._counter, "rng": [version, list(internal), gauss]}
        self.db.execute("INSERT OR REPLACE INTO meta (name, data) VALUES ('registry', ?)", (json.dumps(state),))

    def _remember(self, tenant, journal_rows, journal_from: int | None = None) -> None:
        # After a load, what is on disk is exactly what is in memory.
        for coll in self.codec.collections_of(tenant).values():
            coll.take_dirty()
        tenant.audit.dirty = []
        # Newest row first; a row is one entry or a chunk of them (oldest first inside): oldest first for load.
        entries = records(d for (d,) in reversed(journal_rows[: tenant.journal.limit]))
        if journal_from is not None:
            entries = [e for e in entries if e.get("seq", 0) >= journal_from]
        tenant.journal.load(entries)
        tenant.journal.track = True
        self._written[tenant.id] = self._changed_blobs(tenant)
        self._rng_marks[tenant.id] = rng_signature(tenant.ids.rng)

    def _delete_rows(self, tenant_id: str) -> None:
        for table, column in (
            ("tenants", "id"),
            ("blobs", "tenant_id"),
            ("objects", "tenant_id"),
            ("audit", "tenant_id"),
            ("journal", "tenant_id"),
        ):
            self.db.execute(f"DELETE FROM {table} WHERE {column}=?", (tenant_id,))

    @contextlib.contextmanager
    def _transaction(self):
        """One SQLite write transaction (``BEGIN IMMEDIATE`` … ``COMMIT``), rolled back when its body or the commit
        raises; call under ``self.lock``."""
        self._begin()
        try:
            yield
            self._commit()
        except BaseException:
            self._rollback()
            raise

    def _begin(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def _commit(self) -> None:
        self.db.execute("COMMIT")
        self.commits += 1

    def _rollback(self) -> None:
        if self.db.in_transaction:
            self.db.execute("ROLLBACK")

    def _stop_background(self) -> None:
        # The redo log's applier or the group-commit thread ends at its next wake-up.
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._committer.join(timeout=30)

    def abandon(self) -> None:
        """Stop as a killed process would (for recovery tests): the background thread ends without applying what
        is queued (it stays in the redo log for the next open), the database closes without a checkpoint. Closing
        ``db`` directly instead could pull it from under the background thread mid-statement (a crash)."""
        self._stop_background()
        if self.redo is not None:
            self.redo.close()
        self._close_bulk()
        with self.lock:
            self.db.close()

    def close(self) -> None:
        """Write what is pending, checkpoint and close the database."""
        self._stop_background()
        if self.redo is not None:
            self._drain(reads=True)  # everything in SQLite: the segments can go
            self.redo.close()
            self.redo.number = -1
            with self._log_lock:  # every segment SQLite covers (one holding a command it does not stays)
                self.redo.remove(self._deletable(self.redo.segments()[-1][0] if self.redo.segments() else 0))
        if self.redo is None:
            self._commit_all()  # what is still pending, after any commit under way
        self._close_bulk()
        with self.lock:
            try:
                self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                self.db.close()


def open_store(registry, data_dir: str, codec: TenantCodec, synchronous: str = "normal") -> DurableStore:
    """Open (or create) the durable store under ``data_dir``, load every stored tenant into ``registry`` and
    hook the registry so creates, resets, restores and deletes are persisted; the request middleware finds
    the store as ``registry.store`` and flushes each request's changes before its response is sent."""
    secure_data_dir(data_dir)
    store = DurableStore(registry, os.path.join(data_dir, DB_NAME), codec, synchronous)
    store.load_all()
    registry.on_tenant_created.append(store.tenant_created)
    registry.on_tenant_deleted.append(store.tenant_deleted)
    registry.store = store
    return store
