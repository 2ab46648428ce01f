"""The mock's limits on client input, in one place: nesting depth of JSON bodies and filter expressions, and how
much of a client's value is echoed back. Each wire layer refuses what is over a limit in its own service's
400 shape (docs/fidelity.md, "Hostile input"), so no input reaches a recursion limit, an unbounded regex or a
header too long for the client to read."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

#: Deepest JSON nesting a request body may have. Entra/Graph and Exchange are .NET services whose JSON readers stop
#: at a fixed depth (System.Text.Json and Json.NET default to 64); the mock uses the same number.
MAX_JSON_DEPTH = 64
#: Deepest nesting of parentheses and negations in an OPATH ``-Filter`` or an OData ``$filter`` (no public
#: source for the services' own limits; deep enough for any real filter, far below Python's recursion limit).
MAX_FILTER_DEPTH = 100
#: Most characters of a client's value an error message or header repeats (the rest is elided with "...").
MAX_ECHO = 1024
#: Largest integer text parsed from a header or token (Python refuses int() of > 4,300 digits with ValueError).
MAX_INT_DIGITS = 18


class TooDeep(ValueError):
    """A JSON document nested deeper than :data:`MAX_JSON_DEPTH` (a ValueError, as a malformed document is)."""


def clip(value, limit: int = MAX_ECHO) -> str:
    """``value`` as text, cut to ``limit`` characters (with "..." appended when cut) before it is echoed."""
    text = value if isinstance(value, str) else str(value)
    return text if len(text) <= limit else text[:limit] + "..."


def json_depth(value, limit: int = MAX_JSON_DEPTH) -> int:
    """The nesting depth of a parsed JSON value (a scalar is 0), counting no further than ``limit + 1``; iterative,
    so any depth is measured without recursion."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children: Iterable[Any]
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > deepest:
            deepest = depth
            if deepest > limit:
                return deepest
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return deepest


def loads(text, limit: int = MAX_JSON_DEPTH):
    """``json.loads`` that refuses documents nested deeper than ``limit`` (:class:`TooDeep`, a ValueError) and
    non-finite numbers (``NaN``/``Infinity`` are not JSON); never a RecursionError."""
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise TooDeep(f"The JSON document is nested deeper than {limit} levels.") from None
    if isinstance(value, (dict, list)) and json_depth(value, limit) > limit:
        raise TooDeep(f"The JSON document is nested deeper than {limit} levels.")
    return value


def _no_constant(name: str):
    raise ValueError(f"'{name}' is not a JSON value.")


def parse_int(text: str, max_digits: int = MAX_INT_DIGITS) -> int | None:
    """A non-negative decimal integer of at most ``max_digits`` digits, or None (never a ValueError for a huge
    number)."""
    text = text.strip()
    if not text or len(text) > max_digits or not (text.isascii() and text.isdigit()):
        return None
    return int(text)
