"""Whole-tenant writes and deletes of the durable store (a create, reset or restore; a delete) without stalling
other tenants' commits: while one runs, SQLite's automatic WAL checkpoint is off on the store's connection and
the WAL is checkpointed instead from a connection of its own, between the bulk operation's transactions and
outside the store lock (``PRAGMA wal_checkpoint(PASSIVE)``, which waits for no reader or writer).

Why: a 200,000-mailbox tenant is about 600,000 rows and 1.2 GB of pages, and deleting them rewrites nearly every
page (a row's delete dirties its table leaf, and its random-key index entry another page). With the automatic
checkpoint every ~1,000 WAL pages, about every second 1,000-row transaction ran a checkpoint (two fsyncs and a
copy into the database file) inside its ``COMMIT``, under the store lock every other tenant's commit needs.
A larger page cache while the bulk operation runs keeps the table's interior pages between its transactions."""

from __future__ import annotations

import logging
import sqlite3
import threading
from contextlib import contextmanager
from typing import Any

#: Rows a bulk operation writes or deletes between two WAL checkpoints (about 100-300 MB of WAL at the rows' size).
BULK_CHECKPOINT_ROWS = 32_000
#: The store connection's page cache while a bulk operation runs (KiB; SQLite's default is 2,000).
BULK_CACHE_KIB = 65_536


class BulkWrites:
    """The bulk-operation side of :class:`~.durable.DurableStore`: :meth:`_bulk` around a whole-tenant write or
    delete, :meth:`_bulk_progress` after each of its transactions."""

    # Set by DurableStore.
    lock: Any
    db: Any
    path: str

    def _init_bulk(self) -> None:
        #: Bulk operations under way (creates and deletes of different tenants can overlap) and what the store
        #: connection's settings were before the first of them.
        self._bulk_depth = 0
        self._bulk_saved: tuple[int, int] | None = None
        #: Rows written or deleted since the last checkpoint.
        self._bulk_rows = 0
        self._checkpointer: sqlite3.Connection | None = None
        self._checkpoint_lock = threading.Lock()
        self._bulk_closed = False

    @contextmanager
    def _bulk(self):
        """Around a whole-tenant write or delete: no automatic checkpoint inside its commits (the store lock held),
        a bigger page cache; the settings come back and the WAL is checkpointed once the last one ends."""
        with self.lock:
            if self._bulk_depth == 0:
                self._bulk_saved = (
                    self.db.execute("PRAGMA wal_autocheckpoint").fetchone()[0],
                    self.db.execute("PRAGMA cache_size").fetchone()[0],
                )
                self.db.execute("PRAGMA wal_autocheckpoint=0")
                self.db.execute(f"PRAGMA cache_size=-{BULK_CACHE_KIB}")
            self._bulk_depth += 1
        try:
            yield
        finally:
            with self.lock:
                self._bulk_depth -= 1
                last = self._bulk_depth == 0
                if last and self._bulk_saved is not None:
                    autocheckpoint, cache = self._bulk_saved
                    self.db.execute(f"PRAGMA wal_autocheckpoint={int(autocheckpoint)}")
                    self.db.execute(f"PRAGMA cache_size={int(cache)}")
                    self._bulk_saved = None
            if last:
                self._bulk_rows = 0
                self._checkpoint()

    def _bulk_progress(self, rows: int) -> None:
        """After one transaction of a bulk operation, outside the store lock: checkpoint the WAL every
        :data:`BULK_CHECKPOINT_ROWS` rows, so it stays bounded while the operation runs."""
        self._bulk_rows += rows
        if self._bulk_rows >= BULK_CHECKPOINT_ROWS:
            self._bulk_rows = 0
            self._checkpoint()

    def _checkpoint(self) -> None:
        """Copy the WAL into the database file from the checkpointer's own connection, without the store lock:
        a PASSIVE checkpoint copies what no reader still needs and waits for nobody, and the next commit starts
        the WAL over once all of it is copied. A checkpoint already running in another thread is enough."""
        if not self._checkpoint_lock.acquire(blocking=False):
            return
        try:
            if self._bulk_closed:
                return
            if self._checkpointer is None:
                self._checkpointer = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error as exc:
            # Not fatal: the WAL still holds every commit, and the next checkpoint (or close's) copies it.
            logging.getLogger("hybridsoa").warning("WAL checkpoint after a bulk write failed: %s", exc)
        finally:
            self._checkpoint_lock.release()

    def _close_bulk(self) -> None:
        """Close the checkpointer's connection (the store is closing)."""
        with self._checkpoint_lock:
            self._bulk_closed = True
            if self._checkpointer is not None:
                self._checkpointer.close()
                self._checkpointer = None
