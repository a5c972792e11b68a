"""jsontext.indented writes what json.dumps(indent=2) writes for every value json takes, and refuses alike."""
from __future__ import annotations

import enum
import json
import math

import pytest
from hypothesis import given, settings, strategies as st

from trackdag.jsontext import indented

TRICKY = [0, -0.0, 1e300, 2 ** 70, 0.1 + 0.2, math.inf, -math.inf, math.nan, True, False, None, "", "é", "\u2028",
          "\x00\x1f\"\\", "日本", "\ud800"]
scalars = st.one_of(st.sampled_from(TRICKY), st.integers(), st.floats(), st.text(max_size=6), st.booleans(),
                    st.none())
keys = st.one_of(st.text(max_size=4), st.sampled_from(["", "é", "\ud83d\ude00", "\ud800"]))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.lists(inner, max_size=3).map(tuple),
                                                       st.dictionaries(keys, inner, max_size=4)), max_leaves=25)


@settings(max_examples=500, deadline=None)
@given(values, st.booleans())
def test_the_text_is_json_dumps_indent_2(value, ensure_ascii):
    assert indented(value, ensure_ascii=ensure_ascii) == json.dumps(value, indent=2, ensure_ascii=ensure_ascii)


class Colour(enum.IntEnum):
    RED = 1


class Name(str):
    pass


@pytest.mark.parametrize("value", [
    {1: "a", None: [], True: {}, 2.5: 0},  # keys json converts
    {"colour": Colour.RED, "name": Name("x"), "nested": [{"k": (1, 2)}]},  # subclasses json takes as their base
])
def test_what_json_converts_it_converts_alike(value):
    assert indented(value) == json.dumps(value, indent=2)


@pytest.mark.parametrize("value", [{"a": {1, 2}}, [object()], {("t",): 1}])
def test_what_json_refuses_it_refuses_alike(value):
    with pytest.raises(TypeError) as ours:
        indented(value)
    with pytest.raises(TypeError) as theirs:
        json.dumps(value, indent=2)
    assert str(ours.value) == str(theirs.value)
