"""The tenant audit log: one record per state-changing (or attempted) operation, with what really changed.
It is what lets a test tell the preview-era silent failure (succeeded, changed nothing) from a success."""

from __future__ import annotations

from dataclasses import dataclass, field

from .entra.directory import Record


@dataclass(slots=True)
class AuditRecord(Record):
    """One audited operation: caller, cmdlet/operation, parameters, outcome and the real changes."""

    id: str
    time: float
    api: str
    operation: str
    caller: dict
    target: str | None = None
    parameters: dict = field(default_factory=dict)
    succeeded: bool = True
    changed: bool = False
    #: {"property": {"old": ..., "new": ...}} of what really changed.
    changes: dict = field(default_factory=dict)
    error: str | None = None


class AuditLog:
    """Append-only audit records of one tenant (bounded: past ``limit`` the oldest are dropped, in chunks of
    ``limit // 64``)."""

    def __init__(self, limit: int = 200_000):
        self.limit = limit
        self.records: list[AuditRecord] = []
        #: Records the durable store has not written yet (it drains this after each request).
        self.dirty: list[AuditRecord] = []

    def append(self, record: AuditRecord) -> AuditRecord:
        """Add a record."""
        self.records.append(record)
        self.dirty.append(record)
        # Trimmed in chunks: dropping one record from the front of a full log moved the whole list on every
        # write. ``dirty`` is bounded too: without a durable store nothing drains it.
        slack = max(1, self.limit // 64)
        if len(self.records) > self.limit + slack:
            del self.records[: len(self.records) - self.limit]
        if len(self.dirty) > self.limit + slack:
            del self.dirty[: len(self.dirty) - self.limit]
        return record

    def query(
        self,
        *,
        api: str | None = None,
        operation: str | None = None,
        target: str | None = None,
        since: float | None = None,
        limit: int | None = None,
    ) -> list[AuditRecord]:
        """Records matching every given filter, oldest first (``limit`` keeps the newest N)."""
        out = [
            r
            for r in self.records
            if (api is None or r.api == api)
            and (operation is None or r.operation.lower() == operation.lower())
            and (target is None or r.target == target)
            and (since is None or r.time >= since)
        ]
        return out[-limit:] if limit else out

    def to_list(self) -> list[dict]:
        """All records as dicts (snapshots)."""
        return [r.to_dict() for r in self.records]

    def load(self, items: list[dict]) -> None:
        """Replace the log with records from :meth:`to_list` output."""
        self.records = [AuditRecord.from_dict(d) for d in items]
        self.dirty = []
