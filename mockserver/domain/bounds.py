"""The mock's limits on client input, in one place: nesting depth of JSON bodies and filter expressions, and how
much of a client's value is echoed back. Each wire layer refuses what is over a limit in its own service's
400 shape (docs/fidelity.md, "Hostile input"), so no input reaches a recursion limit, an unbounded regex or a
header too long for the client to read."""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Callable, Iterable
from typing import IO, Any, cast

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
#: Largest snapshot body ``PUT /_mock/tenants/{t}/snapshot`` takes unless configured otherwise (the app's
#: ``SNAPSHOT_MAX_CONTENT_LENGTH``, env ``HYBRIDSOA_SNAPSHOT_MAX_BYTES``): a 200,000-mailbox tenant's snapshot is
#: about 870 MB. Every other route keeps the app's 32 MiB ``MAX_CONTENT_LENGTH``.
MAX_SNAPSHOT_BYTES = 2 << 30
#: A streamed parse (:func:`load_stream`) decodes this many bytes at a time and keeps at least this many
#: characters ahead of where it is, so only an element bigger than that is scanned more than once.
STREAM_CHUNK = 1 << 20
#: A scan that ends, or fails, this close to the end of a streamed window is repeated over more text: a number
#: cut short, a literal (``-Infinity``) or a ``\\uXXXX\\uXXXX`` pair cut off ends or fails within it.
_SLACK = 16
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
_skip_ws = cast(Callable[[str, int], re.Match[str]], _WHITESPACE.match)  # the pattern matches everywhere
_SCANSTRING: Callable[[str, int], tuple[str, int]] = json.decoder.scanstring  # type: ignore[attr-defined]


def loads_gradually(text: str, depth: int = GRADUAL_DEPTH):
    """The value ``json.loads(text)`` returns (NaN/Infinity refused), or the same kind of ValueError, built a
    piece at a time: containers down to ``depth`` are taken apart here and each of their elements parsed by its
    own call to the C scanner, so the interpreter can hand the GIL to other requests between elements."""
    if text.startswith("\ufeff"):
        raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
    return _split(_Window(text), depth)


def load_stream(stream: IO[bytes], limit: int = MAX_JSON_DEPTH, *, chunk: int = STREAM_CHUNK):
    """``loads(stream.read())`` without ever holding the whole text: the bytes are decoded as ``json.loads``
    decodes bytes (UTF-8/16/32, a UTF-8 BOM dropped) ``chunk`` bytes at a time and parsed a piece at a time as
    :func:`loads_gradually` does, so memory holds the value plus one window of text. Same value, or the same
    ValueError (message and position included; a :class:`TooDeep` past ``limit``)."""
    try:
        return _split(_Window(stream, chunk), GRADUAL_DEPTH, limit)
    except RecursionError:
        raise TooDeep(f"The JSON document is nested deeper than {limit} levels.") from None


class _Window:
    """JSON text a window at a time: all of a ``str`` at once, or a byte stream decoded ``chunk`` bytes at a time
    (``text`` starts at character ``base`` of the whole; what is behind the parse is dropped as it moves on)."""

    def __init__(self, source: str | IO[bytes], chunk: int = STREAM_CHUNK):
        self.base, self.lines, self.last_newline, self.chunk, self.start = 0, 0, -1, chunk, 0
        if isinstance(source, str):
            self.text, self.eof = source, True
            return
        self.stream, self.text, self.eof = source, "", False
        head = b""
        while len(head) < 4:  # json.detect_encoding looks at the first four bytes
            data = source.read(chunk)
            if not data:
                break
            head += data
        self.decoder = codecs.getincrementaldecoder(json.detect_encoding(head))("surrogatepass")
        self.text = self.decoder.decode(head, final=not head)
        self.eof = not head

    def ahead(self, idx: int, need: int) -> int:
        """Make at least ``need`` characters follow ``idx`` (fewer only at the end of the stream), dropping the
        text before ``idx``; returns where ``idx`` now is."""
        text = self.text
        if self.eof or len(text) - idx >= need:
            return idx
        newlines = text.count("\n", 0, idx)
        if newlines:  # kept so errors name the line and column json.loads would
            self.lines += newlines
            self.last_newline = self.base + text.rfind("\n", 0, idx)
        self.base += idx
        parts, have = [text[idx:]], len(text) - idx
        while have < need and not self.eof:
            data = self.stream.read(self.chunk)
            piece = self.decoder.decode(data, final=not data)
            self.eof = not data
            parts.append(piece)
            have += len(piece)
        self.text = "".join(parts)
        return 0

    def skip(self, idx: int) -> int:
        """Past the whitespace at ``idx``, with a chunk of text (or the end of the stream) after it."""
        while True:
            idx = _skip_ws(self.text, idx).end()
            if self.eof or len(self.text) - idx >= self.chunk:
                return idx
            idx = self.ahead(idx, self.chunk)

    def scan(self, idx: int, scanner: Callable[[str, int], tuple[Any, int]]) -> tuple[Any, int]:
        """``scanner(text, idx)`` (the C scanner), run again over more text while its answer could be an artefact
        of the window's end: a value ending or an error found within :data:`_SLACK` characters of it (a number
        cut short, a literal or escape cut off), or a string running into it."""
        while True:
            text, self.start = self.text, idx
            try:
                value, end = scanner(text, idx)
                if self.eof or end <= len(text) - _SLACK:
                    return value, end
            except json.JSONDecodeError as exc:
                truncated = exc.pos > len(text) - _SLACK or exc.msg.startswith("Unterminated string")
                if self.eof or not truncated:
                    raise self.error(exc.msg, exc.pos) from None
            idx = self.ahead(idx, max(2 * (len(text) - idx), self.chunk, 2 * _SLACK))

    def error(self, msg: str, idx: int) -> json.JSONDecodeError:
        """The error ``json.loads`` raises for ``msg`` at ``idx`` of the window (line and column in the whole)."""
        if self.base == 0 and self.eof:
            return json.JSONDecodeError(msg, self.text, idx)
        pos = self.base + idx
        newlines = self.text.count("\n", 0, idx)
        last = self.text.rfind("\n", 0, idx)
        lineno, colno = self.lines + newlines + 1, pos - (self.base + last if last >= 0 else self.last_newline)
        exc = json.JSONDecodeError.__new__(json.JSONDecodeError)
        ValueError.__init__(exc, f"{msg}: line {lineno} column {colno} (char {pos})")
        exc.msg, exc.doc, exc.pos, exc.lineno, exc.colno = msg, "", pos, lineno, colno
        return exc


def _trailing_comma_messages() -> dict[str, str]:
    # Python 3.13 names a trailing comma ("[1,]") in its own message; earlier versions say what they expected.
    out = {}
    for closer, text in (("]", "[1,]"), ("}", '{"a":1,}')):
        try:
            json.loads(text)
        except json.JSONDecodeError as exc:
            if exc.msg.startswith("Illegal trailing comma"):
                out[closer] = exc.msg
    return out


_TRAILING_COMMA = _trailing_comma_messages()


def _split(win: _Window, depth: int, limit: int | None = None):
    # ``limit``: refuse (TooDeep) a document nested deeper, checked per element as it is parsed. An element with
    # few enough brackets in its text cannot be too deep, so only the rare others are walked (json_depth).
    scan = _DECODER.raw_decode
    # Open containers: [container, key it will store the next value under (objects only), closing character].
    stack: list[list[Any]] = []
    value: Any
    idx = win.skip(0)
    while True:
        char = win.text[idx : idx + 1]
        if char in _CLOSER and len(stack) < depth:
            container: Any = {} if char == "{" else []
            idx = win.skip(idx + 1)
            if win.text[idx : idx + 1] == _CLOSER[char]:
                value, idx = container, idx + 1
            else:
                frame: list[Any] = [container, None, _CLOSER[char]]
                stack.append(frame)
                if limit is not None and len(stack) > limit:
                    raise TooDeep(f"The JSON document is nested deeper than {limit} levels.")
                if char == "{":
                    idx = _key(win, idx, frame)
                continue
        else:
            value, idx = win.scan(idx, scan)
            if limit is not None and char in _CLOSER:
                text, start, room = win.text, win.start, limit - len(stack)
                if text.count("[", start, idx) + text.count("{", start, idx) > room and json_depth(value, room) > room:
                    raise TooDeep(f"The JSON document is nested deeper than {limit} levels.")
        # Store the value in its container; close every container that ends here.
        while True:
            if not stack:
                idx = win.skip(idx)
                if idx != len(win.text):
                    raise win.error("Extra data", idx)
                return value
            frame = stack[-1]
            if frame[1] is None:
                frame[0].append(value)
            else:
                frame[0][frame[1]] = value
            idx = win.skip(idx)
            char = win.text[idx : idx + 1]
            if char == ",":
                comma, idx = idx, win.skip(idx + 1)
                if _TRAILING_COMMA and win.text[idx : idx + 1] == frame[2]:
                    raise win.error(_TRAILING_COMMA[frame[2]], comma)
                if frame[1] is not None:
                    idx = _key(win, idx, frame)
                break
            if char != frame[2] or not char:
                raise win.error("Expecting ',' delimiter", idx)
            value, idx = frame[0], idx + 1
            stack.pop()


def _key(win: _Window, idx: int, frame: list[Any]) -> int:
    # An object member's name and colon; returns where its value starts.
    if win.text[idx : idx + 1] != '"':
        raise win.error("Expecting property name enclosed in double quotes", idx)
    frame[1], idx = win.scan(idx + 1, _SCANSTRING)
    idx = win.skip(idx)
    if win.text[idx : idx + 1] != ":":
        raise win.error("Expecting ':' delimiter", idx)
    return win.skip(idx + 1)


def parse_int(text: str, max_digits: int = MAX_INT_DIGITS) -> int | None:
    """A non-negative decimal integer of at most ``max_digits`` digits, or None (never a ValueError for a huge
    number)."""
    text = text.strip()
    if not text or len(text) > max_digits or not (text.isascii() and text.isdigit()):
        return None
    return int(text)
