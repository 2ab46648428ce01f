"""Big request bodies are parsed a piece at a time (``bounds.loads_gradually``): the same value or the same kind
of error as ``json.loads``, with no single C scanner call over a whole big container (so the GIL can go to other
requests between pieces)."""

from __future__ import annotations

import io
import json
import random

import pytest

from hybridsoa.mock.domain import bounds


def _reference(text):
    try:
        return "ok", json.dumps(json.loads(text, parse_constant=bounds._no_constant))
    except ValueError:
        return "error", None


def _gradual(text, depth):
    try:
        return "ok", json.dumps(bounds.loads_gradually(text, depth))
    except ValueError:
        return "error", None


CASES = [
    "",
    " ",
    "{}",
    "[]",
    " { } ",
    "[ ]",
    '{"x":{ }, "y":[ ]}',
    "[1,2,]",
    '{"a":1,}',
    '{"a":1 "b":2}',
    '{"a" 1}',
    "{a:1}",
    "[1 2]",
    "[",
    '{"a":',
    '{"a":1,"b"}',
    '{"a":1,"b":}',
    '"x"',
    "1",
    "null",
    "NaN",
    "[NaN]",
    '{"a":[Infinity]}',
    "\ufeff{}",
    '{"a":1}x',
    '{"a":"b"}{}',
    '[{"a":{"b":[1,{"c":2}]}}]',
    '{"a":1,"a":2,"b":3}',
    "[1,2,3]]",
    ' [ 1 , { "x" : [ ] , "y" : { } } ] ',
    '{"\\ud800":"\\ud800"}',
    "[1e400, -0, 1.5e3, true, false, null]",
    "[}",
    "{]",
    '{"a":1]',
    "[1}",
    "]",
    "[,]",
    "{,}",
    "[1,,2]",
    '"\x01"',
    "[tru]",
]


@pytest.mark.parametrize("text", CASES)
@pytest.mark.parametrize("depth", [0, 1, 2, 4])
def test_same_value_or_error_as_json_loads(text, depth):
    assert _gradual(text, depth) == _reference(text)


def test_random_and_corrupted_documents_match_json_loads():
    rnd = random.Random(21)

    def build(level):
        pick = rnd.random()
        if level > 4 or pick < 0.3:
            return rnd.choice([1, "s", None, True, 2.5, "\u00e9\u2028"])
        if pick < 0.65:
            return [build(level + 1) for _ in range(rnd.randrange(4))]
        return {str(rnd.randrange(5)): build(level + 1) for _ in range(rnd.randrange(4))}

    for _ in range(1500):
        text = json.dumps(build(0), indent=rnd.choice([None, 1]))
        if rnd.random() < 0.5:
            at = rnd.randrange(len(text) + 1)
            text = text[:at] + rnd.choice(["", ",", "]", "}", "{", "[", ":", '"', " "]) + text[at + 1 :]
        for depth in (0, 2, 4):
            assert _gradual(text, depth) == _reference(text), text


def test_a_big_body_is_never_scanned_whole(monkeypatch):
    rows = [[f"k{i}", i, {"id": i, "names": [f"n{i}", "x"], "on": True}] for i in range(3000)]
    doc = {"format": "f", "collections": {"mailboxes": {"items": rows, "tombstones": []}}}
    text = json.dumps(doc)
    spans = []
    scan = bounds._DECODER.raw_decode

    def recording(s, idx):
        value, end = scan(s, idx)
        spans.append(end - idx)
        return value, end

    monkeypatch.setattr(bounds._DECODER, "raw_decode", recording)
    monkeypatch.setattr(bounds, "GRADUAL_FROM", 1000)
    assert bounds.loads(text.encode()) == doc  # bytes, as Flask passes a body
    assert len(spans) >= len(rows) and max(spans) < 200  # one record per scanner call at most


def test_small_bodies_still_take_json_loads(monkeypatch):
    monkeypatch.setattr(bounds, "loads_gradually", None)  # would fail if called
    assert bounds.loads(b'{"a": [1, 2]}') == {"a": [1, 2]}


def test_limits_hold_on_the_gradual_path(monkeypatch):
    monkeypatch.setattr(bounds, "GRADUAL_FROM", 10)
    with pytest.raises(bounds.TooDeep):
        bounds.loads("[" * 65 + "]" * 65)
    with pytest.raises(bounds.TooDeep):
        bounds.loads("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ValueError):
        bounds.loads('{"padding": "xxxxxxxx", "v": NaN}')
    assert bounds.loads(b'\xef\xbb\xbf{"padding": "xxxxxxxxxx"}') == {"padding": "xxxxxxxxxx"}  # BOM, as json
    assert bounds.loads('{"padding": "xxxxxxxxxx"}'.encode("utf-16")) == {"padding": "xxxxxxxxxx"}


def _exact(parse, data):
    # Value, or the error's type and message (line, column and character position included).
    try:
        return "ok", json.dumps(parse(data))
    except ValueError as exc:
        return type(exc).__name__, str(exc)


def _reference_bytes(data: bytes):
    return _exact(
        lambda b: (
            bounds.loads(b) if len(b) > bounds.GRADUAL_FROM else json.loads(b, parse_constant=bounds._no_constant)
        ),
        data,
    )


def _streamed(data: bytes, chunk: int):
    return _exact(lambda b: bounds.load_stream(io.BytesIO(b), chunk=chunk), data)


@pytest.mark.parametrize("text", CASES)
@pytest.mark.parametrize("chunk", [1, 3, 7, 64])
def test_a_streamed_body_gives_json_loads_value_or_exact_error(text, chunk):
    data = text.encode("utf-8", "surrogatepass")
    assert _streamed(data, chunk) == _reference_bytes(data)


def test_streamed_random_documents_and_encodings_match_json_loads():
    rnd = random.Random(1203)

    def build(level):
        pick = rnd.random()
        if level > 6 or pick < 0.3:
            return rnd.choice(
                [1, -12345678901234567890, "s" * rnd.randrange(40), None, True, 2.5e-7, "\u00e9\ud83d\ude00"]
            )
        if pick < 0.65:
            return [build(level + 1) for _ in range(rnd.randrange(5))]
        return {str(rnd.randrange(9)): build(level + 1) for _ in range(rnd.randrange(5))}

    for _ in range(600):
        text = json.dumps(build(0), indent=rnd.choice([None, 1, 3]), ensure_ascii=rnd.random() < 0.5)
        if rnd.random() < 0.5:
            at = rnd.randrange(len(text) + 1)
            text = (
                text[:at] + rnd.choice(["", ",", "]", "}", "{", "[", ":", '"', " ", "\\", "\n", "e"]) + text[at + 1 :]
            )
        encoding = rnd.choice(["utf-8", "utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-32"])
        data = text.encode(encoding, "surrogatepass")
        for chunk in (1, 5, 256):
            assert _streamed(data, chunk) == _reference_bytes(data), (text, encoding, chunk)


def test_a_stream_holds_one_window_of_text_not_the_body(monkeypatch):
    rows = [[f"k{i}", i, {"id": i, "names": [f"n{i}", "x" * 50], "on": True}] for i in range(4000)]
    doc = {"format": "f", "collections": {"mailboxes": {"items": rows, "tombstones": {}}}}
    data = json.dumps(doc).encode()
    widest = []
    scan = bounds._DECODER.raw_decode

    def recording(s, idx):
        widest.append(len(s))
        return scan(s, idx)

    monkeypatch.setattr(bounds._DECODER, "raw_decode", recording)
    assert bounds.load_stream(io.BytesIO(data), chunk=4096) == doc
    assert len(data) > 100 * 4096 and max(widest) < 3 * 4096  # the text in memory at a time: about one chunk


def test_limits_hold_on_a_stream():
    with pytest.raises(bounds.TooDeep):
        bounds.load_stream(io.BytesIO(b"[" * 65 + b"]" * 65), chunk=8)
    with pytest.raises(bounds.TooDeep):
        bounds.load_stream(io.BytesIO(b"[" * 100_000 + b"]" * 100_000), chunk=1000)
    with pytest.raises(ValueError):
        bounds.load_stream(io.BytesIO(b'{"v": [NaN]}'), chunk=2)
    with pytest.raises(ValueError):
        bounds.load_stream(io.BytesIO(b'{"v": "\xff"}'), chunk=2)  # not UTF-8: a UnicodeDecodeError, as json.loads


@pytest.mark.parametrize("levels", [1, 2, 3, 4, 5, 6, 20, 63, 64, 65, 66, 200])
@pytest.mark.parametrize("chunk", [2, 4096])
def test_a_stream_refuses_exactly_what_the_depth_limit_refuses(levels, chunk):
    # Nesting built from both kinds of container, with brackets inside strings that are not nesting.
    text = "x"
    for level in range(levels):
        text = f'{{"k{level}": [{text}, "[[{{{{"]}}' if level % 2 else f'[{text}, "]]}}{{"]'
    text = text.replace("x", '"leaf"', 1)
    expected = bounds.json_depth(json.loads(text)) > bounds.MAX_JSON_DEPTH
    try:
        bounds.load_stream(io.BytesIO(text.encode()), chunk=chunk)
        refused = False
    except bounds.TooDeep:
        refused = True
    assert refused == expected
    with pytest.raises(bounds.TooDeep):
        bounds.load_stream(
            io.BytesIO(text.encode()), limit=max(0, bounds.json_depth(json.loads(text)) - 1), chunk=chunk
        )
