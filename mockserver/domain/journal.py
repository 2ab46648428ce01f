"""The request journal: every request to a tenant with secrets redacted, kept in a bounded ring buffer and
queried with filters and counts (WireMock's ``/__admin/requests``, per tenant)."""

from __future__ import annotations

import collections
import functools
import re
from collections.abc import Iterable

#: Parameter / form field names whose values never reach the journal (matched case-insensitively, in part).
SECRET_NAME = re.compile(
    r"(password|secret|assertion|token|authorization|credential|privatekey|code_verifier|"
    r"^code$|device_code)",
    re.IGNORECASE,
)
REDACTED = "***"
MAX_VALUE_CHARS = 2048
#: Most keys of one object (and items of one list) a journalled value keeps; the rest are dropped.
MAX_ITEMS = 200
#: Most characters of text (keys and strings together) one journalled value keeps: a body of 5,000 parameters of
#: 2,000 characters each would otherwise be a 10 MB entry, held in memory, written to the data dir and echoed by
#: ``/requests`` and the dashboard. What is past the budget is shown as "...".
MAX_ENTRY_CHARS = 32768
ELIDED = "..."


@functools.lru_cache(maxsize=4096)
def _is_secret_name(name: str) -> bool:
    return bool(SECRET_NAME.search(name))


_PLAIN = (bool, int, float)


def _is_clean(value: dict) -> bool:
    # Nothing to redact or cut: at most MAX_ITEMS string keys without a secret name, values that are None,
    # numbers or short strings, and all that text within the entry's budget.
    if len(value) > MAX_ITEMS:
        return False
    total = 0
    for k, v in value.items():
        if k.__class__ is not str or len(k) > MAX_VALUE_CHARS or _is_secret_name(k):
            return False
        if v.__class__ is str:
            if len(v) > MAX_VALUE_CHARS:
                return False
            total += len(v)
        elif not (v is None or v.__class__ in _PLAIN):
            return False
        total += len(k)
    return total <= MAX_ENTRY_CHARS


def redact(value, _depth: int = 0, _budget: list[int] | None = None):
    """``value`` (JSON-like) with secret-named keys replaced by ``***``, long strings cut, at most
    ``MAX_ITEMS`` keys or items per container and ``MAX_ENTRY_CHARS`` of text in all: a copy, or for a flat dict
    that needs none of that (most cmdlet parameters) the dict itself, which the journal then shares read-only."""
    if _budget is None:
        if isinstance(value, dict) and _is_clean(value):
            return value
        _budget = [MAX_ENTRY_CHARS]
    if _depth > 8:
        return REDACTED
    if isinstance(value, dict):
        out: dict = {}
        for k, v in value.items():
            if len(out) >= MAX_ITEMS or _budget[0] <= 0:
                out[ELIDED] = ELIDED
                break
            key = _cut(k, _budget) if isinstance(k, str) else k
            out[key] = REDACTED if isinstance(k, str) and _is_secret_name(k) else redact(v, _depth + 1, _budget)
        return out
    if isinstance(value, list):
        items = []
        for v in value[:MAX_ITEMS]:
            if _budget[0] <= 0:
                items.append(ELIDED)
                break
            items.append(redact(v, _depth + 1, _budget))
        return items
    if isinstance(value, str):
        return _cut(value, _budget)
    return value


def _cut(text: str, budget: list[int]) -> str:
    # At most MAX_VALUE_CHARS, and no more than the entry's remaining budget; spends what it keeps.
    keep = max(0, min(MAX_VALUE_CHARS, budget[0]))
    budget[0] -= min(len(text), keep)
    return text if len(text) <= keep else text[:keep] + ELIDED


def _status_matches(pattern: str, status: int) -> bool:
    # "429", "5xx", "4XX" or a comma list of those.
    for part in pattern.split(","):
        part = part.strip().lower()
        if not part:
            continue
        # Compared as text: a status is at most three digits, and int() of thousands of digits raises.
        if part.endswith("xx") and part[:-2].isdecimal():
            if str(status // 100) == part[:-2].lstrip("0"):
                return True
        elif part.isdecimal() and part.lstrip("0") == str(status):
            return True
    return False


class RequestJournal:
    """Bounded ring buffer of request records (oldest dropped first), numbered in arrival order."""

    def __init__(self, limit: int = 10_000):
        self.limit = limit
        self.entries: collections.deque[dict] = collections.deque(maxlen=limit)
        self._seq = 0
        self.dropped = 0
        #: With a durable store (``track``): entries not yet written, and whether a clear is pending.
        self.track = False
        self.unsaved: list[dict] = []
        self.cleared = False

    def add(self, entry: dict) -> dict:
        """Record one request; ``entry`` gets a sequence number ``seq``."""
        self._seq += 1
        entry["seq"] = self._seq
        self._keep(entry)
        return entry

    def _keep(self, entry: dict) -> None:
        if len(self.entries) == self.entries.maxlen:
            self.dropped += 1
        self.entries.append(entry)
        if self.track:
            self.unsaved.append(entry)
            if len(self.unsaved) > self.limit:
                del self.unsaved[: len(self.unsaved) - self.limit]

    def replay(self, entry: dict) -> None:
        """Put back an entry the durable store's command log kept, under its own number (skipped when this
        journal has reached that number already)."""
        seq = entry.get("seq")
        if not isinstance(seq, int) or seq <= self._seq:
            return
        self._seq = seq
        self._keep(entry)

    def take_unsaved(self) -> tuple[bool, list[dict]]:
        """For the durable store: (a clear happened, entries added) since the last call."""
        cleared, unsaved = self.cleared, self.unsaved
        self.cleared, self.unsaved = False, []
        return cleared, unsaved

    def load(self, entries: list[dict]) -> None:
        """Put back entries the durable store kept (oldest first), numbering on from the last one."""
        self.entries.extend(entries[-self.limit :])
        if entries:
            self._seq = max(self._seq, max(int(e.get("seq", 0)) for e in entries))

    def resize(self, limit: int) -> None:
        """Change the ring size, keeping the newest entries."""
        self.limit = limit
        self.entries = collections.deque(self.entries, maxlen=limit)

    def clear(self) -> int:
        """``DELETE /_mock/tenants/{t}/requests``: forget everything; returns how many entries went."""
        n = len(self.entries)
        self.entries.clear()
        self.dropped = 0
        self.unsaved = []
        self.cleared = self.track
        return n

    def query(
        self,
        *,
        api: str | None = None,
        cmdlet: str | None = None,
        status: str | None = None,
        since: float | None = None,
        method: str | None = None,
        path: str | None = None,
        limit: int | None = None,
    ) -> list[dict]:
        """Entries matching every given filter, oldest first (``limit`` keeps the newest N)."""
        out = [
            e
            for e in self.entries
            if (api is None or e.get("api") == api)
            and (cmdlet is None or (e.get("cmdlet") or "").lower() == cmdlet.lower())
            and (status is None or _status_matches(status, e.get("status", 0)))
            and (since is None or e.get("time", 0) >= since)
            and (method is None or e.get("method", "").upper() == method.upper())
            and (path is None or path.lower() in e.get("path", "").lower())
        ]
        return out[-limit:] if limit else out

    @staticmethod
    def counts(entries: Iterable[dict]) -> dict:
        """Counts by api, status and cmdlet (Graph entries count under their method + path)."""
        by_api: collections.Counter = collections.Counter()
        by_status: collections.Counter = collections.Counter()
        by_cmdlet: collections.Counter = collections.Counter()
        total = 0
        for e in entries:
            total += 1
            by_api[e.get("api")] += 1
            by_status[str(e.get("status"))] += 1
            if e.get("cmdlet"):
                by_cmdlet[e["cmdlet"]] += 1
        return {"total": total, "byApi": dict(by_api), "byStatus": dict(by_status), "byCmdlet": dict(by_cmdlet)}
