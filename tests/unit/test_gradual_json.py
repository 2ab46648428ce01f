"""Big request bodies are parsed a piece at a time (``bounds.loads_gradually``): the same value or the same kind
of error as ``json.loads``, with no single C scanner call over a whole big container (so the GIL can go to other
requests between pieces)."""

from __future__ import annotations

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
