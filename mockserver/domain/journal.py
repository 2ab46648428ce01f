"""The request journal: every request to a tenant, secrets redacted (stub: the faults issue fills this in)."""
from __future__ import annotations


class RequestJournal:
    """Bounded ring buffer of request records."""

    def __init__(self, limit: int = 10_000):
        self.limit = limit
        self.entries: list[dict] = []

    def add(self, entry: dict) -> None:
        """Record one request."""
        self.entries.append(entry)
        if len(self.entries) > self.limit:
            del self.entries[: len(self.entries) - self.limit]
