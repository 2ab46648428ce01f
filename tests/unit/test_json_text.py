"""The durable store's JSON writer reads back as the standard library's would, whatever the value."""

from __future__ import annotations

import dataclasses
import datetime
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hybridsoa.mock.store import json_text

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(codec="utf-8")),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, derandomize=True)
@given(JSON)
def test_reads_back_as_json_dumps_would(value):
    assert json.loads(json_text.dumps(value)) == json.loads(json.dumps(value))
    assert json.loads(json_text.dumps_line(value).decode()) == json.loads(json.dumps(value))
    assert json_text.dumps_line(value).endswith(b"\n") and json_text.dumps_line(value).count(b"\n") == 1


@pytest.mark.parametrize(
    "value",
    [
        2**70,  # beyond 64 bits
        {"id": "zz\ud800zz"},  # a lone surrogate
        {1: "a", None: "b", 2.5: "c"},  # keys that are not strings
        [-(2**64)],
    ],
)
def test_what_orjson_refuses_goes_through_the_standard_library(value):
    assert json.loads(json_text.dumps(value)) == json.loads(json.dumps(value))
    assert json.loads(json_text.dumps_line(value)) == json.loads(json.dumps(value))


def test_dataclasses_and_datetimes_are_refused_or_defaulted_as_json_dumps_does():
    @dataclasses.dataclass
    class Inner:
        a: int

    for value in (Inner(1), datetime.datetime(2026, 1, 2, 3, 4, 5)):
        with pytest.raises(TypeError):
            json.dumps(value)
        with pytest.raises(TypeError):
            json_text.dumps(value)
        assert json_text.dumps({"v": value}, default=str) == json.dumps(
            {"v": value}, default=str, separators=(",", ":")
        )


def test_sets_are_refused():
    with pytest.raises(TypeError):
        json_text.dumps({"s": {1, 2}})
