"""A keyed collection of domain objects that remembers which keys changed, so a durable store can persist
exactly what a request touched and a sync engine can find what changed since its last cycle."""

from __future__ import annotations

import bisect
import itertools
from array import array
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

T = TypeVar("T")
_SEQ_LIMIT = 2**62
#: Keys one C call handles at most when a reader asks for many changes at once (see ``changed_since``).
_PIECE = 20_000


class Collection(Generic[T]):
    """Dict-like store of objects by key, with a dirty set (for durability) and a change sequence."""

    def __init__(self, name: str):
        self.name = name
        self._items: dict[str, T] = {}
        self._seq: dict[str, int] = {}
        self._counter = itertools.count(1)
        # The change log as two parallel columns (sequence numbers, keys), not a tuple per change: seeding writes
        # three entries per mailbox.
        self._log_seqs = array("q")
        self._log_keys: list[str] = []
        self._tomb: dict[str, int] = {}
        self.dirty: set[str] = set()
        self._track_dirty = True
        self.listeners: list[Callable[[str, str, T | None], None]] = []

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: str) -> bool:
        return key in self._items

    def __iter__(self) -> Iterator[T]:
        return iter(list(self._items.values()))

    def get(self, key: str) -> T | None:
        """The object stored under ``key``, or None."""
        return self._items.get(key)

    def values(self) -> list[T]:
        """All objects, in insertion order (a copy: safe to mutate the collection while iterating)."""
        return list(self._items.values())

    def slice(self, start: int, stop: int) -> list[T]:
        """Objects ``start:stop`` in insertion order, without copying the whole collection (paged views)."""
        return list(itertools.islice(self._items.values(), max(0, start), max(0, stop)))

    def keys(self) -> list[str]:
        """All keys, in insertion order."""
        return list(self._items.keys())

    def put(self, key: str, obj: T) -> T:
        """Insert or replace ``obj`` under ``key`` and mark it changed."""
        self._items[key] = obj
        self.touch(key)
        return obj

    def touch(self, key: str) -> None:
        """Record that the object under ``key`` was mutated in place."""
        seq = next(self._counter)
        self._seq[key] = seq
        if self._tomb:
            self._tomb.pop(key, None)
        self._log_seqs.append(seq)
        self._log_keys.append(key)
        if len(self._log_keys) > 4 * len(self._seq) + 1024:
            self._compact()
        if self._track_dirty:
            self.dirty.add(key)
        if self.listeners:
            for listener in self.listeners:
                listener(self.name, key, self._items.get(key))

    def delete(self, key: str) -> T | None:
        """Remove ``key`` (hard delete) and mark it changed; returns the removed object."""
        obj = self._items.pop(key, None)
        self._seq.pop(key, None)
        seq = next(self._counter)
        self._tomb[key] = seq
        self._log_seqs.append(seq)
        self._log_keys.append(key)
        if self._track_dirty:
            self.dirty.add(key)
        for listener in self.listeners:
            listener(self.name, key, None)
        return obj

    def seq(self, key: str) -> int:
        """Change sequence number of ``key`` (0 when unknown): higher means changed later."""
        return self._seq.get(key, 0)

    def tombstone(self, key: str) -> int | None:
        """Sequence number of the delete of ``key`` when it is deleted (not re-created), else None."""
        return self._tomb.get(key)

    def current_seq(self) -> int:
        """The highest sequence number handed out so far."""
        return self._log_seqs[-1] if self._log_seqs else 0

    def changed_since(self, seq: int) -> list[str]:
        """Keys touched or deleted after sequence ``seq``, in O(changes) via the append-only change log."""
        # Sequence numbers in the log are unique and increasing. Readers asking on every request are a change or
        # two behind: look at the tail first (a binary search probes a dozen scattered places in a big log).
        seqs = self._log_seqs
        n = len(seqs)
        if not n or seqs[-1] <= seq:
            return []
        if n > 1 and seqs[-2] <= seq:
            return [self._log_keys[-1]]
        start = bisect.bisect_right(seqs, seq)
        if n - start <= _PIECE:
            return list(dict.fromkeys(self._log_keys[start:]))
        # A whole big collection (a seed's first sync reads 200,000 keys): a piece at a time, since one C call
        # over all of them keeps the GIL for tens of milliseconds, a pause for every other request.
        keys: dict[str, None] = {}
        for i in range(start, n, _PIECE):
            keys.update(dict.fromkeys(self._log_keys[i : i + _PIECE]))
        return list(keys)

    def _compact(self) -> None:
        live = sorted([(s, k) for k, s in self._seq.items()] + [(s, k) for k, s in self._tomb.items()])
        self._log_seqs = array("q", [s for s, _ in live])
        self._log_keys = [k for _, k in live]

    @contextmanager
    def untracked(self):
        """Leave the dirty set alone while a new tenant is built: the durable store writes a new tenant whole
        (registry hook) and drops the dirty keys, so remembering each seeded key only cost memory."""
        self._track_dirty = False
        try:
            yield self
        finally:
            self._track_dirty = True

    def take_dirty(self) -> set[str]:
        """Return and clear the dirty set."""
        dirty, self.dirty = self.dirty, set()
        return dirty

    def export_state(self) -> tuple[list[tuple[str, int, T]], dict[str, int]]:
        """Live items as ``(key, seq, obj)`` and tombstones ``{key: seq}``: what a snapshot must keep so change
        cursors (``changed_since``) held by the sync engine stay meaningful after a restore."""
        return [(k, self._seq.get(k, 0), v) for k, v in self._items.items()], dict(self._tomb)

    def restore_state(self, items: list[tuple[str, int, T]], tombstones: dict[str, int]) -> None:
        """Replace the contents with :meth:`export_state` output, keeping every sequence number."""
        for seq in itertools.chain((s for _, s, _ in items), tombstones.values()):
            if not -_SEQ_LIMIT < seq < _SEQ_LIMIT:
                raise ValueError(f"change sequence number {seq} out of range")  # the log stores 64-bit numbers
        self.clear()
        for key, seq, obj in items:
            self._items[key] = obj
            self._seq[key] = seq
        self._tomb.update(tombstones)
        self._compact()
        self._counter = itertools.count(self.current_seq() + 1)

    def clear(self) -> None:
        """Remove everything (reset)."""
        self._items.clear()
        self._seq.clear()
        del self._log_seqs[:]
        self._log_keys.clear()
        self._tomb.clear()
        self.dirty.clear()
