"""What the durable store keeps on disk: the data dir and its permissions, the compact form of the tenant RNG, and
the row statements its two writers share."""

from __future__ import annotations

import array
import json
import os

DB_NAME = "hybridsoa.sqlite3"


def same_rng(a, b) -> bool:
    """Two RNG states (``random.getstate()``) are equal; the position word (last) moves with every draw, so a
    moved RNG is told apart without comparing 625 words."""
    return a is not None and b is not None and a[1][-1] == b[1][-1] and a == b


def ids_blob(seed, state) -> dict:
    """The tenant RNG as stored: its 625 state words as one hex string (encoding 625 numbers as JSON at every
    commit that drew a GUID cost more than the rest of the commit)."""
    version, internal, gauss = state
    return {"seed": seed, "version": version, "words": array.array("I", internal).tobytes().hex(), "gauss": gauss}


def ids_doc(blob, position=None):
    """The snapshot document's ``ids`` part from a stored blob (hex words, or the list form older stores wrote);
    ``position``: the ``ids:pos`` blob (``[index, gauss]``) written since, when the state words had not changed."""
    if not blob or "words" not in blob:
        return blob
    words = array.array("I")
    words.frombytes(bytes.fromhex(blob["words"]))
    state = words.tolist()
    gauss = blob["gauss"]
    if position is not None:
        state[-1], gauss = position
    return {"seed": blob["seed"], "state": [blob["version"], state, gauss]}


def secure_data_dir(data_dir: str) -> None:
    """The data dir holds client secrets, private keys and passwords: make it 0700 and its files 0600 (also
    those an older version left 0644; the CA and server certificates are public and stay readable), and
    create the database 0600 from the start (SQLite gives its -wal and -shm files the database's mode)."""
    os.makedirs(data_dir, mode=0o700, exist_ok=True)
    os.chmod(data_dir, 0o700)
    for name in os.listdir(data_dir):
        path = os.path.join(data_dir, name)
        public = name.endswith(".pem") and "key" not in name
        if os.path.isfile(path) and not os.path.islink(path) and not public:
            os.chmod(path, 0o600)
    os.close(os.open(os.path.join(data_dir, DB_NAME), os.O_WRONLY | os.O_CREAT, 0o600))


#: The statements both writers of object rows use (the group commit and the redo log's background apply).
UPSERT_OBJECT = (
    "INSERT INTO objects (tenant_id, collection, key, seq, cls, data) VALUES (?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (tenant_id, collection, key) DO UPDATE SET seq=excluded.seq, cls=excluded.cls, data=excluded.data"
)
DELETE_OBJECT = "DELETE FROM objects WHERE tenant_id=? AND collection=? AND key=?"
INSERT_AUDIT = "INSERT INTO audit (tenant_id, data) VALUES (?, ?)"
INSERT_JOURNAL = "INSERT OR REPLACE INTO journal (tenant_id, seq, data) VALUES (?, ?, ?)"
UPSERT_BLOB = "INSERT OR REPLACE INTO blobs (tenant_id, name, data) VALUES (?, ?, ?)"
UPDATE_CARD = "UPDATE tenants SET card=? WHERE id=?"
#: The blob holding the lowest journal ``seq`` still in a tenant's ring (rows may hold older entries beside newer).
JOURNAL_FROM = "journal:from"


def write_journal(db, tenant_id: str, cleared: bool, rows: list, keep_from: int | None) -> None:
    """One tenant's request journal changes: emptied first when it was cleared, bounded to the newest entries
    (``keep_from``) as the in-memory ring is."""
    if cleared:
        db.execute("DELETE FROM journal WHERE tenant_id=?", (tenant_id,))
    db.executemany(INSERT_JOURNAL, rows)
    if keep_from is not None:
        # A chunk row is keyed by its newest entry's seq: it goes once all of its entries are out of the ring.
        db.execute("DELETE FROM journal WHERE tenant_id=? AND seq<?", (tenant_id, keep_from))


def chunk(texts) -> str:
    """Many records' JSON texts as one stored row: a JSON array (the redo log's background apply writes each
    tenant's audit records and journal entries of one round as one row, not one row each)."""
    return "[" + ",".join(texts) + "]"


def records(texts) -> list:
    """The records of stored rows in order: a row holds one record (a JSON object) or a chunk of them (an array)."""
    out: list = []
    for text in texts:
        value = json.loads(text)
        if isinstance(value, list):
            out.extend(value)
        else:
            out.append(value)
    return out
