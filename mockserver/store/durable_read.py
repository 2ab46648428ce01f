"""The reading side of :class:`~.durable.DurableStore`: at start the index of stored tenants (each listed from its
card, none loaded), and on a tenant's first use its rows reassembled into the snapshot document the codec restores
(a read connection of its own, so other tenants' commits go on meanwhile)."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from .files import JOURNAL_FROM, ids_doc, records
from .heap import drop_gradually, give_back_memory

#: Request journal rows kept per tenant on disk (the newest); the in-memory ring keeps its own limit.
JOURNAL_ROWS = 10_000


class TenantReader:
    """Recovery for :class:`~.durable.DurableStore`: the tenant index at start, one tenant on its first use."""

    # Set or defined by DurableStore.
    registry: Any
    codec: Any
    path: str
    lock: Any
    db: Any
    _transaction: Any
    _remember: Any
    _index_card: Any
    _run_replay: Any

    def load_all(self) -> int:
        """Read the index of stored tenants into the registry (each tenant's rows are loaded on its first use,
        :meth:`load_tenant`); returns how many there are. ``lazy=False`` behaviour: :meth:`load_everything`."""
        with self.lock:
            # Rows of a tenant whose whole write a crash interrupted (no tenants row yet): never acknowledged.
            # A marker row names such a write while it runs, so a clean start scans nothing.
            interrupted = [
                row[0][len("writing:") :]
                for row in self.db.execute("SELECT name FROM meta WHERE name LIKE 'writing:%'")
            ]
            if interrupted or self.db.execute("SELECT 1 FROM meta WHERE name='format'").fetchone() is None:
                with self._transaction():
                    for table in ("blobs", "objects", "audit", "journal"):
                        self.db.execute(f"DELETE FROM {table} WHERE tenant_id NOT IN (SELECT id FROM tenants)")
                    self.db.execute("DELETE FROM meta WHERE name LIKE 'writing:%'")
                    self.db.execute("INSERT OR REPLACE INTO meta (name, data) VALUES ('format', '2')")
            rows = self.db.execute("SELECT id, name, position, header, card FROM tenants ORDER BY position").fetchall()
            # The clock state a load resumes, so a listed clock reads what the loaded tenant's will.
            clocks = dict(self.db.execute("SELECT tenant_id, data FROM blobs WHERE name='clock'").fetchall())
            for tenant_id, name, position, header, card in rows:
                domain = json.loads(header).get("tenant", {}).get("domain") or ""
                clock = clocks.get(tenant_id)
                self.registry.recovered(
                    tenant_id,
                    name,
                    domain,
                    position,
                    json.loads(card) if card else None,
                    json.loads(clock) if clock else None,
                )
            with self.registry.lock:
                self.registry.loader = self.load_tenant
            meta = self.db.execute("SELECT data FROM meta WHERE name='registry'").fetchone()
            if meta:
                state = json.loads(meta[0])
                self.registry._counter = state.get("counter", 0)
                version, internal, gauss = state["rng"]
                self.registry.ids.setstate((version, tuple(internal), gauss))
            return len(rows)

    def load_everything(self) -> int:
        """Load every stored tenant now (what a restart did before tenants loaded lazily)."""
        return len(self.registry.list())

    def load_tenant(self, tenant_id: str):
        """The registry's loader: rebuild one stored tenant (clock resumed in real time) from a read-only
        connection of its own, so the commit thread keeps writing other tenants' changes meanwhile."""
        reader = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
            reader.execute("BEGIN")  # one read snapshot for the whole tenant
            header, card = reader.execute("SELECT header, card FROM tenants WHERE id=?", (tenant_id,)).fetchone()
            doc = self._assemble(tenant_id, json.loads(header), reader)
            journal = reader.execute(
                "SELECT data FROM journal WHERE tenant_id=? ORDER BY seq DESC LIMIT ?", (tenant_id, JOURNAL_ROWS)
            ).fetchall()
            bound = reader.execute(
                "SELECT data FROM blobs WHERE tenant_id=? AND name=?", (tenant_id, JOURNAL_FROM)
            ).fetchone()
            reader.execute("COMMIT")
        finally:
            reader.close()
        size = sum(len(c["items"]) for c in doc["collections"].values())
        tenant = self.codec.restore_tenant(doc, resume_clock=True, owned=True)
        for coll in doc["collections"].values():
            drop_gradually(coll["items"])
        drop_gradually(doc["audit"])
        del doc
        with tenant.lock, self.lock:
            self._remember(tenant, journal, int(bound[0]) if bound else None)
            self._index_card(tenant, card)
        with tenant.lock:
            self._run_replay(tenant)  # what the last run acknowledged as commands and SQLite does not hold yet
        if size >= 4000:
            give_back_memory(collect=False)
        return tenant

    def _assemble(self, tenant_id: str, header: dict, db=None) -> dict:
        db = db or self.db
        doc = dict(header)
        blobs = {
            name: json.loads(data)
            for name, data in db.execute("SELECT name, data FROM blobs WHERE tenant_id=?", (tenant_id,))
        }
        doc["clock"] = blobs.get("clock")
        doc["ids"] = ids_doc(blobs.get("ids"), blobs.get("ids:pos"))
        doc["state"] = blobs.get("state", {})
        doc["subsystems"] = {
            name[len("subsystem:") :]: data for name, data in blobs.items() if name.startswith("subsystem:")
        }
        meta = blobs.get("collections", {})
        collections = {
            attr: {"name": info.get("name", attr), "class": None, "items": [], "tombstones": {}}
            for attr, info in meta.items()
        }
        for coll, key, seq, cls, data in db.execute(
            "SELECT collection, key, seq, cls, data FROM objects WHERE tenant_id=? ORDER BY rowid", (tenant_id,)
        ):
            entry = collections.setdefault(coll, {"name": coll, "class": None, "items": [], "tombstones": {}})
            if data is None:
                entry["tombstones"][key] = seq
            else:
                entry["items"].append([key, seq, json.loads(data), cls])
        doc["collections"] = collections
        doc["signing"] = blobs.get("signing")
        audit = db.execute("SELECT data FROM audit WHERE tenant_id=? ORDER BY pos", (tenant_id,))
        doc["audit"] = records(d for (d,) in audit)
        return doc
