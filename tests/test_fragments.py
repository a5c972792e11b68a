"""Cached id and command pieces give exactly what the one-shot functions give (trackdag.fragments)."""
from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from trackdag import fragments
from trackdag.commands import VarArgs, check_command, command_words, render_command
from trackdag.errors import ParamsError, TrackdagError
from trackdag.fragments import Fragments
from trackdag.ids import canonical_json

# Values that are equal in Python but not in JSON or on a command line, and the awkward ones.
TRICKY = [0, 1, -0.0, 0.0, 1.0, True, False, None, "", "1", "True", "a b", "it's", "é", "$(id)", "--x",
          "a\nb", 1e300, 2 ** 70, -5, 0.1 + 0.2, "\u2028", "日本"]
scalars = st.one_of(st.sampled_from(TRICKY), st.integers(), st.text(max_size=8), st.booleans(), st.none(),
                    st.floats(allow_nan=False, allow_infinity=False))
values = st.one_of(scalars, st.lists(scalars, max_size=3), st.dictionaries(st.text(max_size=3), scalars, max_size=3))
keys = st.sampled_from(["x", "y", "src_fpath", "é", "a.b", "z9"])
mappings = st.dictionaries(keys, values, max_size=5)


@settings(max_examples=300, deadline=None)
@given(st.lists(mappings, min_size=1, max_size=6))
def test_json_objects_match_canonical_json(batch):
    f = Fragments()  # one cache across the batch, as in a plan: later mappings hit earlier entries
    for mapping in batch:
        assert f.json_object(mapping) == canonical_json(mapping)


@settings(max_examples=300, deadline=None)
@given(st.lists(mappings, min_size=1, max_size=6), st.booleans())
def test_commands_match_render_command(batch, multiline):
    f = Fragments()
    for mapping in batch:
        args = sorted(mapping.items())
        assert f.command("prog --flag", args, multiline=multiline) == render_command(
            "prog --flag", args, multiline=multiline)


def test_equal_python_values_that_differ_in_json_do_not_share_an_entry():
    f = Fragments()
    seen = [f.json_object({"x": v}) for v in (0, 0.0, -0.0, False, 1, 1.0, True, "1")]
    assert seen == ['{"x":0}', '{"x":0.0}', '{"x":-0.0}', '{"x":false}', '{"x":1}', '{"x":1.0}', '{"x":true}',
                    '{"x":"1"}']
    words = [f.command("p", [("x", v)], multiline=False) for v in (0, 0.0, -0.0, False, 1, True)]
    assert words == ["p --x=0", "p --x=0.0", "p --x=-0.0", "p --x=False", "p --x=1", "p --x=True"]


def test_several_paths_and_containers_go_the_long_way():
    f = Fragments()
    args = [("f", VarArgs(["a b", "c"])), ("l", [1, "x"]), ("d", {"k": None})]
    assert f.command("p", args) == render_command("p", args)


def test_a_nul_byte_or_a_long_command_is_left_to_check_command():
    f = Fragments()
    assert f.command_parts([("x", "a\x00b")]) is None
    with pytest.raises(ParamsError, match="NUL byte"):
        check_command("n", "p", command_words([("x", "a\x00b")]))
    parts, chars = f.command_parts([("x", "y" * 300_000)])
    assert not Fragments.fits("p", chars)  # the plan then asks check_command, which refuses it
    assert Fragments.fits("p", f.command_parts([("x", "y" * 1000)])[1])


def test_values_without_a_json_spelling_still_raise():
    f = Fragments()
    for bad in (float("nan"), float("inf")):
        with pytest.raises(TrackdagError, match="cannot be part of an id"):
            f.json_object({"x": bad})


def test_the_caches_stay_bounded(monkeypatch):
    monkeypatch.setattr(fragments, "CACHE_LIMIT", 10)
    f = Fragments()
    for i in range(100):
        assert f.json_object({"x": i}) == canonical_json({"x": i})
        assert f.command("p", [("x", i)], multiline=False) == f"p --x={i}"
    assert len(f._members) <= 10 and len(f._words) <= 10


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(keys, st.one_of(values, st.text(min_size=5_000, max_size=12_000))), max_size=6))
def test_a_command_that_surely_fits_passes_the_exact_check(args):
    """Planning checks commands by lengths alone (commands.surely_fits); when it says yes, so must the count."""
    from trackdag.commands import surely_fits

    merged = dict(args)  # a key given twice is one argument, the last value (as a job's merged arguments)
    if surely_fits("prog", merged):
        words = sorted(merged.items())
        check_command("n", "prog", command_words(words))  # raises if it does not fit
        parts = Fragments().command_parts(words)
        assert parts is not None and Fragments.fits("prog", parts[1])


def test_surely_fits_says_no_to_what_must_be_counted():
    from trackdag.commands import surely_fits

    assert surely_fits("prog", {"x": "y" * 31_000}, {"o": "/r"})
    assert not surely_fits("prog", {"x": "y" * 32_000})  # at 4 bytes a character it may be too long
    assert not surely_fits("prog", {"x": "a\x00b"}) and not surely_fits("pr\x00g", {})
    assert not surely_fits("prog", {"x": 10 ** 30}) and not surely_fits("prog", {"x": VarArgs(["/a", "/b"])})
