"""The mock's limits on client input, in one place: nesting depth of JSON bodies and filter expressions, and how
much of a client's value is echoed back. Each wire layer refuses what is over a limit in its own service's
400 shape (docs/fidelity.md, "Hostile input"), so no input reaches a recursion limit, an unbounded regex or a
header too long for the client to read."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from typing import Any, cast

#: Deepest JSON nesting a request body may have. Entra/Graph and Exchange are .NET services whose JSON readers stop
#: at a fixed depth (System.Text.Json and Json.NET default to 64); the mock uses the same number.
MAX_JSON_DEPTH = 64
#: Deepest nesting of parentheses and negations in an OPATH ``-Filter`` or an OData ``$filter`` (no public
#: source for the services' own limits; deep enough for any real filter, far below Python's recursion limit).
MAX_FILTER_DEPTH = 100
#: Most characters of a client's value an error message or header repeats (the rest is elided with "...").
MAX_ECHO = 1024
#: Bodies of more characters than this are parsed a piece at a time (:func:`loads`): one ``json.loads`` call
#: holds the GIL throughout, about 10 ms per MB, so a big snapshot restore would stall every other request.
GRADUAL_FROM = 1 << 20
#: How deep a gradual parse takes containers apart itself; deeper values are parsed whole by the C scanner. A
#: snapshot's records sit at depth 5 (document, collections, collection, items, row), so each is one short call.
GRADUAL_DEPTH = 4
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
        if isinstance(text, (bytes, bytearray)) and len(text) > GRADUAL_FROM:
            # What json.loads does with bytes: detect UTF-8/16/32 (a UTF-8 BOM is dropped).
            text = text.decode(json.detect_encoding(text), "surrogatepass")
        if isinstance(text, str) and len(text) > GRADUAL_FROM:
            value = loads_gradually(text)
        else:
            value = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise TooDeep(f"The JSON document is nested deeper than {limit} levels.") from None
    if isinstance(value, (dict, list)) and json_depth(value, limit) > limit:
        raise TooDeep(f"The JSON document is nested deeper than {limit} levels.")
    return value


def _no_constant(name: str):
    raise ValueError(f"'{name}' is not a JSON value.")


_DECODER = json.JSONDecoder(parse_constant=_no_constant)
_WHITESPACE = re.compile(r"[ \t\n\r]*")
_CLOSER = {"{": "}", "[": "]"}
_SCANSTRING: Callable[[str, int], tuple[str, int]] = json.decoder.scanstring  # type: ignore[attr-defined]


def loads_gradually(text: str, depth: int = GRADUAL_DEPTH):
    """The value ``json.loads(text)`` returns (NaN/Infinity refused), or the same kind of ValueError, built a
    piece at a time: containers down to ``depth`` are taken apart here and each of their elements parsed by its
    own call to the C scanner, so the interpreter can hand the GIL to other requests between elements."""
    if text.startswith("\ufeff"):
        raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
    ws = cast(Callable[[str, int], re.Match[str]], _WHITESPACE.match)  # the pattern matches everywhere
    scan = _DECODER.raw_decode
    # Open containers: [container, key it will store the next value under (objects only), closing character].
    stack: list[list[Any]] = []
    value: Any
    idx = ws(text, 0).end()
    while True:
        char = text[idx : idx + 1]
        if char in _CLOSER and len(stack) < depth:
            container: Any = {} if char == "{" else []
            idx = ws(text, idx + 1).end()
            if text[idx : idx + 1] == _CLOSER[char]:
                value, idx = container, idx + 1
            else:
                frame: list[Any] = [container, None, _CLOSER[char]]
                stack.append(frame)
                if char == "{":
                    idx = _key(text, idx, frame)
                continue
        else:
            value, idx = scan(text, idx)
        # Store the value in its container; close every container that ends here.
        while True:
            if not stack:
                end = ws(text, idx).end()
                if end != len(text):
                    raise json.JSONDecodeError("Extra data", text, end)
                return value
            frame = stack[-1]
            if frame[1] is None:
                frame[0].append(value)
            else:
                frame[0][frame[1]] = value
            idx = ws(text, idx).end()
            char = text[idx : idx + 1]
            if char == ",":
                idx = ws(text, idx + 1).end()
                if frame[1] is not None:
                    idx = _key(text, idx, frame)
                break
            if char != frame[2] or not char:
                raise json.JSONDecodeError(f"Expecting ',' delimiter or '{frame[2]}'", text, idx)
            value, idx = frame[0], idx + 1
            stack.pop()


def _key(text: str, idx: int, frame: list[Any]) -> int:
    # An object member's name and colon; returns where its value starts.
    if text[idx : idx + 1] != '"':
        raise json.JSONDecodeError("Expecting property name enclosed in double quotes", text, idx)
    frame[1], idx = _SCANSTRING(text, idx + 1)
    ws = cast(Callable[[str, int], re.Match[str]], _WHITESPACE.match)
    idx = ws(text, idx).end()
    if text[idx : idx + 1] != ":":
        raise json.JSONDecodeError("Expecting ':' delimiter", text, idx)
    return ws(text, idx + 1).end()


def parse_int(text: str, max_digits: int = MAX_INT_DIGITS) -> int | None:
    """A non-negative decimal integer of at most ``max_digits`` digits, or None (never a ValueError for a huge
    number)."""
    text = text.strip()
    if not text or len(text) > max_digits or not (text.isascii() and text.isdigit()):
        return None
    return int(text)
