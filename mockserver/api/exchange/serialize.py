"""Cmdlet output on the wire: the type annotations the real service puts next to typed members
(``X@data.type: System.Guid`` + ``X@odata.type: #Guid``, ``System.DateTime``, ``#Collection(String)``,
``System.Int32``) and the ``$select`` projection."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from functools import lru_cache


@lru_cache(maxsize=8192)
def format_datetime(value: datetime, utc_suffix: bool) -> str:
    """.NET round-trip form: ``2024-04-10T08:56:22.0000000+00:00`` (or ``...Z`` for the *UTC properties)."""
    value = value.astimezone(UTC)
    base = value.strftime("%Y-%m-%dT%H:%M:%S") + f".{value.microsecond:06d}0"
    return base + ("Z" if utc_suffix else "+00:00")


def parse_select(text: str | None) -> list[str] | None:
    """``$select=A,B`` -> lowercase names, or None when absent/empty."""
    if not text:
        return None
    names = [n.strip().lower() for n in text.split(",") if n.strip()]
    return names or None


_PLAIN = (str, bool, float, type(None))
#: Annotation member names per property name (``X@data.type``, ``X@odata.type``), built once because a
#: Get-Mailbox page would otherwise format them for every member of every object.
_ANNOTATION_NAMES: dict[str, tuple[str, str]] = {}
_ANNOTATION_NAMES_MAX = 8192


def _names(key: str) -> tuple[str, str]:
    names = _ANNOTATION_NAMES.get(key)
    if names is None:
        names = (f"{key}@data.type", f"{key}@odata.type")
        if len(_ANNOTATION_NAMES) < _ANNOTATION_NAMES_MAX:
            _ANNOTATION_NAMES[key] = names
    return names


def annotate(obj: dict, select: list[str] | None = None) -> dict:
    """One output object with type annotations, limited to the ``$select``-ed properties (case-insensitive)."""
    wanted = set(select) if select else None
    out: dict = {}
    plain = _PLAIN
    for key, value in obj.items():
        if wanted is not None and key.lower() not in wanted:
            continue
        kind = type(value)
        if kind in plain:  # most members: no annotation
            out[key] = value
        elif kind is list or kind is tuple:
            out[_names(key)[1]] = "#Collection(String)"
            out[key] = value if all(type(v) is str for v in value) else [_scalar(v) for v in value]
        elif kind is uuid.UUID:
            data, odata = _names(key)
            out[data] = "System.Guid"
            out[odata] = "#Guid"
            out[key] = str(value)
        elif isinstance(value, datetime):
            out[_names(key)[0]] = "System.DateTime"
            out[key] = format_datetime(value, key.endswith("UTC"))
        elif kind is int:
            out[_names(key)[0]] = "System.Int32"
            out[key] = value
        else:
            out[key] = _scalar(value)
    return out


def _scalar(value):
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return format_datetime(value, False)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)
