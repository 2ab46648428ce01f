"""JSON text for what the durable store writes at every request (object rows, audit records, journal entries,
redo lines): orjson where it writes the document ``json.dumps`` would, the standard library where orjson refuses
the value (an integer beyond 64 bits, a lone surrogate, a key that is not a string)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import orjson

# Dataclasses and datetimes go to ``default`` (or fail) exactly as with json.dumps, instead of orjson's own forms.
_OPTIONS = orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME


def dumps(value: Any, default: Callable[[Any], Any] | None = None) -> str:
    """``json.dumps(value, default=default)``, as compact text; a value JSON cannot hold raises TypeError."""
    try:
        return orjson.dumps(value, default=default, option=_OPTIONS).decode()
    except TypeError:  # orjson.JSONEncodeError is a TypeError: let the standard library decide
        return json.dumps(value, default=default, separators=(",", ":"))


def dumps_fields(record: Any, names: tuple) -> str:
    """A dataclass instance as the JSON object of its fields ``names``, in order (what ``json.dumps(asdict(record))``
    writes for plain values), in one orjson call; TypeError for a value orjson refuses (the caller encodes it
    otherwise)."""
    if hasattr(record, "__dict__") and tuple(vars(record)) != names:
        raise TypeError("attributes beyond the fields")  # orjson would write the instance dict, not the fields
    return orjson.dumps(record, option=orjson.OPT_PASSTHROUGH_DATETIME).decode()


def dumps_line(value: Any) -> bytes:
    """``value`` as one line of UTF-8 JSON ending in a newline (a redo record)."""
    try:
        return dumps_line_strict(value)
    except TypeError:
        return (json.dumps(value, separators=(",", ":")) + "\n").encode()


def dumps_line_strict(value: Any) -> bytes:
    """``value`` as one line of UTF-8 JSON by orjson alone (``orjson.Fragment`` values go in as they are); raises
    TypeError where orjson refuses a value."""
    return orjson.dumps(value, option=_OPTIONS | orjson.OPT_APPEND_NEWLINE)
