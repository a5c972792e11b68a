"""trackdag.yaml_fast gives exactly what trackdag.yaml12 gives, and falls back when unsure.

The property test builds documents from random mixes of the constructs a text
substitution could misread (comments, block and quoted scalars, flow
collections, anchors/aliases, tags, documents, CRLF, trailing text, lists
that are not JSON or mean something else in YAML) and compares the two
loaders: the same value (by ``repr``: types, order and float bits), or the
same error.  Targeted tests then pin which documents take the fast path and
which fall back.
"""
from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from trackdag import yaml12, yaml_fast
from trackdag.errors import ParamsError
from trackdag.matrix import expand, grid_size, load_params

N = yaml_fast.MIN_LIST_CHARS


def outcome(load, text):
    try:
        return "ok", repr(load(text))
    except Exception as exc:  # noqa: BLE001 - the error is part of the outcome
        return "error", type(exc).__name__, str(exc)


def assert_same(text):
    """Both loaders agree; a fast-path result is never an error of the normal one."""
    normal = outcome(yaml12.load, text)
    assert outcome(yaml_fast.load, text) == normal
    ok, data = yaml_fast.load_fast(text)
    if ok:
        assert normal == ("ok", repr(data))
    return ok


def long_list(items, sep=", ", size=N):
    """A JSON list text of at least ``size`` characters, cycling through ``items``."""
    parts, total, i = [], 2, 0
    while total < size + 10:
        parts.append(items[i % len(items)])
        total += len(parts[-1]) + len(sep)
        i += 1
    return "[" + sep.join(parts) + "]"


GOOD = ["0", "-1", "12", "1.5", "-0.0", "1e3", "2E-3", "1e400", '"a"', '"yes"', '"1e-3"', '""',
        '"a # b: [c]"', '"*x"', '"&y !z"', "true", "false", "null", str(10**30), "-0"]
# Scalars that are not JSON, or mean something else in YAML than in JSON.
BAD = ["yes", "abc", "1_000", ".5", "012", "0x1f", "+1", "NaN", "Infinity", "-Infinity",
       '"\\u00e9"', '"\\/"', '"a\\tb"', '"\\ud83d\\ude00"', '"\u00e9"', '"\x7f"', '"\x85"',
       '"\u2028"', '"a\tb"', "[1]", '{"a": 1}', '"a": 1', "~", ".inf", "1" * 5000]

good_items = st.lists(st.sampled_from(GOOD), min_size=1, max_size=6)


@st.composite
def list_text(draw, indent, benign):
    """A list's text: JSON scalars, sometimes (unless ``benign``) one bad item; one line or several."""
    items = draw(good_items)
    if not benign and draw(st.integers(0, 3)) == 0:
        items = items + [draw(st.sampled_from(BAD))]
    sep = ", "
    if draw(st.booleans()):  # spread over lines, indented by anything (even under the key)
        sep = ",\n" + " " * draw(st.sampled_from([0, 1, indent, indent + 2, 8]))
    text = long_list(items, sep)
    tweak = draw(st.integers(1 if benign else 0, 9))
    if tweak == 0:
        text += ","  # YAML's trailing comma
    elif tweak == 1:
        text = text[:-1] + " ]"
    elif tweak == 2:
        text = "[\n" + text[1:-1] + "\n]"
    return text


@st.composite
def fragment(draw, key, benign):
    """One top-level entry of a mapping, holding a long list in some context.

    With ``benign`` only the contexts the fast path reads are drawn.
    """
    lst = draw(list_text(2, benign))
    after = draw(st.sampled_from(["", "  ", " # note", "\n# c", "\n  # c", "\n\n"] + (
        [] if benign else ["#x", " junk", ", x", ": v", "\n: v", "\n  : v", "\n  more",
                           "\n  - y"])))
    kind = draw(st.sampled_from([0, 1, 2, 3, 4, 11, 13, 18]) if benign else st.integers(0, 21))
    quoted = draw(st.sampled_from([key, f'"{key}"', f"'{key}'", f"{key}.b-c/d", f"{key} x"]))
    return [
        f"{quoted}: {lst}{after}",
        f"{quoted}:   {lst}{after}",
        f"{key}:\n  sub: {lst}{after}",
        f"{key}:\n  - sub: {lst}{after}\n  - 2",
        f"{key}:\n- sub: {lst}{after}",
        f"{key}: |\n  sub: {lst}\n",
        f"{key}: >-\n  sub: {lst}\n  tail",
        f"{key}: |2\n   sub: {lst}",
        f'{key}: "text\n  sub: {lst}"',
        f"{key}: 'text\n  sub: {lst}'",
        f"# {key}: {lst}\n{key}: 1",
        f"{key}: {{\n  sub: {lst}\n  }}",
        f"{key}: {{\n  sub: {lst},\n  other: 1}}",
        f"{key}: [\n  sub: {lst}\n  ]",
        f"{key}: &a{key}\n  sub: {lst}\n{key}_alias: *a{key}",
        f"{key}: &s{key} {lst}",
        f"{key}: !!str {lst}",
        f"{key}: !!omap\n  - sub: {lst}",
        f"{key}:\n  <<: {{\n    sub: {lst}\n    }}\n  z: 1",
        f"{key}: plain\n  sub: {lst}",
        f"? {key}\n: {lst}",
        f"{key}:\t{lst}",
    ][kind]


@st.composite
def document(draw):
    """A document; about half of them are benign throughout, so the fast path is taken often."""
    benign = draw(st.booleans())
    n = draw(st.integers(1, 3))
    keys = draw(st.lists(st.sampled_from(["a", "b", "c"]), min_size=n, max_size=n))
    # mostly distinct keys; a repeated one is a duplicate-key error of the loader
    parts = [draw(fragment(f"{k}{i}" if benign or draw(st.integers(0, 5)) else k, benign))
             for i, k in enumerate(keys)]
    filler = draw(st.sampled_from(["", "n: 012\nflag: yes\nlr: 1e-3", "m: {k: [1, 2]}",
                                   "t: !!binary aGk=", "x: &x 1"] + ([] if benign else ["s: '*' ", "x: &x 1\ny: *x"])))
    text = "\n".join(parts + ([filler] if filler else [])) + draw(st.sampled_from(["", "\n", "\n\n"]))
    head = draw(st.sampled_from(["", "---\n", "%YAML 1.2\n---\n", "# top\n", "\ufeff"]))
    tail = draw(st.sampled_from(["", "...\n"] + ([] if benign else ["---\nz: 1\n", "\n  bad: indent\n"])))
    text = head + text + tail
    if not benign and draw(st.integers(0, 3)) == 0:
        text = text.replace("\n", "\r\n")  # a multi-line list then holds a \r: it falls back
    return text


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document())
def test_fast_path_equals_the_yaml_loader(text):
    event("fast path" if assert_same(text) else "fell back")


def test_the_generated_documents_take_the_fast_path_often_enough():
    """The property above is not vacuous: benign documents of that kind do take the fast path."""
    lst = long_list(GOOD)
    multi = long_list(GOOD, ",\n")
    docs = [f"a: {lst}", f"a: {lst}  # note\nb: 1", f'"a": {multi}\nb: yes', f"'a.b-c/d': {lst}",
            f"a:\n  sub: {lst}", f"a:\n  - sub: {lst}\n  - 2", f"a:\n- sub: {multi}",
            f"a: {{\n  sub: {lst}\n  }}", f"a: [\n  sub: {lst}\n  ]", f"---\na: {lst}\n...\n",
            f"a:\n  <<: {{\n    sub: {lst}\n    }}\n  z: 1", f"a: {lst}\r\nb: 2\r\n",
            f"a: {multi}\n\n  # c\nb: 1", f"x: &x 1\na: {lst}", f"a: [\n{lst[1:-1]}\n]"]
    for text in docs:
        assert assert_same(text), text


@pytest.mark.parametrize("text", [
    f"a: |\n  sub: {long_list(GOOD)}\n",                        # block scalar
    f"a: >\n  sub: {long_list(GOOD)}\n",
    f"a: 'x\n  sub: {long_list(GOOD)}'",                         # quoted scalar over lines
    f'a: "x\n  sub: {long_list(["1", "2"])}"',
    f"# sub: {long_list(GOOD)}\na: 1",                           # a comment is not on the line start
    f"a: x\n  # sub: {long_list(GOOD)}\nb: 1",
    f"a: {long_list(GOOD)}\nb: *x",                               # an alias in the rest
    f"a: &x\n  s: {long_list(GOOD)}\nb: *x",                      # an alias of the list's mapping
    f"a: {long_list(GOOD)} junk",                                 # text after the list
    f"a: {long_list(GOOD)}#x",
    f"a: {long_list(GOOD)}: v",
    f"a: {long_list(GOOD)}\n  more",                              # a plain scalar would go on
    f"a: {long_list(GOOD)}\na: 1",                                # duplicate key: the loader's error
    f"a: !!omap\n  - s: {long_list(GOOD)}",                       # a tagged collection
    f"a: {long_list(GOOD)}\n---\nb: 1",                           # two documents: the loader's error
    f"a: {long_list(GOOD)}\ntrackdag_fast_list_0: 1",             # the placeholder is in the text
])
def test_contexts_the_line_pattern_cannot_see_fall_back(text):
    assert yaml_fast.load_fast(text) == (False, None)
    assert_same(text)


@pytest.mark.parametrize("item", BAD)
def test_lists_that_are_not_plain_json_scalars_fall_back(item):
    text = f"a: {long_list(GOOD + [item])}\nb: 1\n"
    assert yaml_fast.split_lists(text) is None
    assert_same(text)


@pytest.mark.parametrize("text", [
    f"a: !!str {long_list(GOOD)}", f"a: &x {long_list(GOOD)}", f"a:\t{long_list(GOOD)}",
    f"a:{long_list(GOOD)}", f"? a\n: {long_list(GOOD)}", f"<<: {long_list(GOOD)}",
    f"- {long_list(GOOD)}", f"a: {long_list(GOOD)[:-1]},]", f"a: {long_list(GOOD, chr(9))}",
])
def test_lists_not_written_as_key_colon_bracket_are_left_to_yaml(text):
    assert yaml_fast.split_lists(text) is None
    assert_same(text)


def test_short_lists_are_left_to_yaml_and_long_ones_keep_the_line_numbers():
    assert yaml_fast.split_lists(f"a: {json.dumps(list(range(100)))}\n" + "b: 1\n" * N) is None
    multi = long_list(GOOD, ",\n  ")
    rest, lists = yaml_fast.split_lists(f"a: {multi}  # c\nb: [1]\nc: {long_list(GOOD)}\n")
    assert rest.count("\n") == multi.count("\n") + 3 and len(lists) == 2
    assert rest.startswith("a: trackdag_fast_list_0  # c\n") and "b: [1]\nc: trackdag_fast_list_1\n" in rest


def test_errors_after_a_long_list_name_the_line_the_normal_loader_names(tmp_path):
    multi = long_list(GOOD, ",\n  ")
    path = tmp_path / "p.yaml"
    path.write_text(f"a.x: {multi}\na.y: [1, 2]\na.y: [3]\n")
    with pytest.raises(ParamsError, match=rf"invalid YAML at line {multi.count(chr(10)) + 3}: duplicate key"):
        load_params(path)


def test_a_big_params_file_is_read_by_the_fast_path_and_the_same(tmp_path, monkeypatch):
    """A 200,000-value list goes through json: the YAML loader sees the rest of the text only.

    (How fast, with a million values, is measured by benchmarks/bench_plan.py.)
    """
    path = tmp_path / "p.yaml"
    path.write_text("pipeline: demo\nmatrix:\n    n.src: [a, b]\n    n.p: "
                    + json.dumps(list(range(200_000))) + "\n    n.lr: [1e-3, .5]\n")
    text = path.read_text()
    seen = []
    real = yaml12.load
    monkeypatch.setattr(yaml12, "load", lambda t, *a, **k: seen.append(len(t)) or real(t, *a, **k))
    spec = load_params(path)
    assert seen and max(seen) < 1000, seen  # the YAML loader parsed the placeholder text, not the list
    monkeypatch.setattr(yaml12, "load", real)
    assert spec.body["matrix"]["n.p"] == list(range(200_000))
    assert spec.body["matrix"]["n.lr"] == [0.001, 0.5]
    assert repr(spec.body) == repr({k: v for k, v in yaml12.load(text).items() if k != "pipeline"})
    assert grid_size(spec).rows == 800_000
    assert [r["n.p"] for r in expand(spec, max_configs=3)] == [0, 0, 1]
