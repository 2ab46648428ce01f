"""Waves: a pilot first, then growing batches, as the rollout guidance recommends for bulk SOA changes."""
from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass, field
from typing import Iterable

DEFAULT_WAVES = (10, 100, 1000)


@dataclass
class Plan:
    """Ordered waves of mailbox identities (the last wave size repeats until everything is planned)."""

    waves: list[list[str]] = field(default_factory=list)

    @property
    def identities(self) -> list[str]:
        """Every identity, in wave order."""
        return [i for wave in self.waves for i in wave]

    def __len__(self) -> int:
        return sum(len(w) for w in self.waves)

    def fingerprint(self) -> str:
        """A short hash of the planned identities (recorded in checkpoints)."""
        return hashlib.sha256("\n".join(self.identities).encode()).hexdigest()[:16]

    def to_dict(self) -> dict:
        """JSON form."""
        return {"waves": self.waves}

    @classmethod
    def from_dict(cls, data: dict) -> "Plan":
        """From :meth:`to_dict` output."""
        return cls(waves=[list(w) for w in data.get("waves") or []])


def plan(identities: Iterable[str], wave_sizes: Iterable[int] | None = None) -> Plan:
    """Split identities (duplicates and blanks dropped, order kept) into waves of the given sizes."""
    seen: set[str] = set()
    ordered = []
    for ident in identities:
        ident = (ident or "").strip()
        key = ident.lower()
        if ident and key not in seen:
            seen.add(key)
            ordered.append(ident)
    sizes = [int(s) for s in (wave_sizes or DEFAULT_WAVES)]
    if not sizes or any(s < 1 for s in sizes):
        raise ValueError("wave sizes must be positive integers")
    waves, pos, n = [], 0, 0
    while pos < len(ordered):
        size = sizes[min(n, len(sizes) - 1)]
        waves.append(ordered[pos:pos + size])
        pos += size
        n += 1
    return Plan(waves=waves)


IDENTITY_COLUMNS = ("Identity", "identity", "PrimarySmtpAddress", "UserPrincipalName", "Guid", "Alias", "Mail")


def read_identities_csv(path_or_file) -> list[str]:
    """Identities from a CSV: the first of Identity/PrimarySmtpAddress/UserPrincipalName/Guid/Alias columns, else
    the first column (a header-less single-column file works too)."""
    fh = open(path_or_file, newline="", encoding="utf-8-sig") if isinstance(path_or_file, str) else path_or_file
    try:
        rows = list(csv.reader(fh))
    finally:
        if isinstance(path_or_file, str):
            fh.close()
    rows = [r for r in rows if r and any(c.strip() for c in r)]
    if not rows:
        return []
    header = [c.strip() for c in rows[0]]
    for col in IDENTITY_COLUMNS:
        if col in header:
            idx = header.index(col)
            return [r[idx].strip() for r in rows[1:] if len(r) > idx and r[idx].strip()]
    looks_like_header = not any(ch in header[0] for ch in "@-") and header[0].isalpha()
    data = rows[1:] if looks_like_header else rows
    return [r[0].strip() for r in data if r[0].strip()]
