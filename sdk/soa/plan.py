"""Waves: a pilot first, then growing batches, as the rollout guidance recommends for bulk SOA changes."""

from __future__ import annotations

import csv
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

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
    def from_dict(cls, data: dict) -> Plan:
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
        waves.append(ordered[pos : pos + size])
        pos += size
        n += 1
    return Plan(waves=waves)


IDENTITY_COLUMNS = (
    "Identity",
    "PrimarySmtpAddress",
    "UserPrincipalName",
    "Guid",
    "ExternalDirectoryObjectId",
    "Alias",
    "Mail",
    "WindowsEmailAddress",
)
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


class IdentityCsvError(ValueError):
    """A CSV the identities cannot be read from (malformed, or no identity column)."""


def read_identities_csv(path_or_file) -> list[str]:
    """Identities from a CSV: the first of the Identity/PrimarySmtpAddress/UserPrincipalName/Guid/... columns
    (names matched case-insensitively), or a header-less single column of addresses or GUIDs. A file with neither
    is refused with :class:`IdentityCsvError` rather than read as identities."""
    name = path_or_file if isinstance(path_or_file, str) else getattr(path_or_file, "name", "CSV")
    try:
        if isinstance(path_or_file, str):
            fh = open(path_or_file, newline="", encoding="utf-8-sig")  # noqa: SIM115  (closed in the finally below)
        else:
            fh = path_or_file
        try:
            rows = list(csv.reader(fh))
        finally:
            if isinstance(path_or_file, str):
                fh.close()
    except (csv.Error, UnicodeDecodeError) as exc:
        raise IdentityCsvError(f"{name}: not a readable UTF-8 CSV ({str(exc).splitlines()[0]})") from None
    rows = [r for r in rows if r and any(c.strip() for c in r)]
    if not rows:
        return []
    header = [c.strip() for c in rows[0]]
    lowered = [c.lower() for c in header]
    for col in IDENTITY_COLUMNS:
        if col.lower() in lowered:
            idx = lowered.index(col.lower())
            return [r[idx].strip() for r in rows[1:] if len(r) > idx and r[idx].strip()]
    first = header[0]
    if len(header) == 1 and ("@" in first or _GUID.match(first)):
        return [r[0].strip() for r in rows if r[0].strip()]
    raise IdentityCsvError(
        f"{name}: no identity column (the header {', '.join(header[:6])!s} names none of "
        f"{', '.join(IDENTITY_COLUMNS)}; a header-less file must hold addresses or GUIDs)"
    )
