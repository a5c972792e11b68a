"""Bounds, with the number in the message: alias bombs, grid sizes, lazy expansion, nesting.

(Command-line bounds, NUL bytes and argument lengths, are tested in test_plan.py.)
"""
from __future__ import annotations

import itertools
import time
import tracemalloc

import pytest
import yaml

from trackdag import yaml12
from trackdag.errors import ParamsError
from trackdag.matrix import (DEFAULT_GRID_LIMIT, GridSize, expand, expand_matrix, grid_size,
                             iter_rows, load_params)

TAG = "tag:yaml.org,2002:"


def params_error(fn) -> str:
    with pytest.raises(ParamsError) as info:
        fn()
    message = str(info.value)
    assert "\n" not in message, "errors are one line"
    return message


def best_time(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def billion_laughs(levels: int = 9, width: int = 9) -> str:
    lines = [f"n.a0: &a0 [{', '.join(['x'] * width)}]"]
    for i in range(1, levels):
        lines.append(f"n.a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------
# YAML aliases


def test_alias_bomb_file_is_refused_within_a_second(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(billion_laughs())
    start = time.perf_counter()
    message = params_error(lambda: expand_matrix(path))
    assert time.perf_counter() - start < 1
    assert message == (f"{path}: invalid YAML at line 7: aliases (*name) expand the document to "
                       "490,329,064 values from 28 written; at most 1,000,000 values may come "
                       "from aliases (an alias bomb?)")


def test_alias_bomb_text_names_the_params_option():
    message = params_error(lambda: load_params(billion_laughs()))
    assert message.startswith("--params: invalid YAML at line 7: aliases (*name) expand")


def test_merge_key_bomb_is_refused():
    # `<<: [*m, *m, ...]` copies the merged pairs: nine levels make 9**9 pairs.
    lines = ["m0: &m0 {k: 1}"] + [
        f"m{i}: &m{i} {{<<: [{', '.join([f'*m{i - 1}'] * 9)}]}}" for i in range(1, 10)]
    message = params_error(lambda: load_params("\n".join(lines)))
    assert "expand the document to 1,470,987,176 values" in message


def test_recursive_alias_is_refused_not_a_recursion_error():
    message = params_error(lambda: expand_matrix("a.x: &a [1, *a]\n"))
    assert message.startswith("--params: invalid YAML at line 1: recursive alias")


def test_ordinary_aliases_still_work():
    text = "a.x: &v [1, 2, 3]\nb.x: *v\ncommon: &c {k: 1}\n"
    assert yaml12.load(text)["b.x"] == [1, 2, 3]
    assert len(expand_matrix("a.x: &v [1, 2, 3]\nb.x: *v\n")) == 9


def test_only_values_added_by_aliases_count(monkeypatch):
    monkeypatch.setattr(yaml12.Loader, "max_alias_values", 100)
    written = "a.x: [" + ", ".join(map(str, range(5000))) + "]\nb.x: &s [1, 2]\nb.y: *s\n"
    assert len(yaml12.load(written)["a.x"]) == 5000  # 5,000 written values: fine
    sixty = "b.x: &s [" + ", ".join(["1"] * 60) + "]\nb.y: *s\nb.z: *s\n"
    with pytest.raises(yaml.YAMLError, match="at most 100 values may come from aliases"):
        yaml12.load(sixty)  # the two aliases add 122 values


def test_a_million_written_values_pass_the_alias_count():
    # The counter on a composed 1,000,000-value list (parsing that much YAML
    # takes PyYAML seconds, so the node graph is built directly).
    items = [yaml.ScalarNode(TAG + "int", str(i)) for i in range(1_000_000)]
    root = yaml.MappingNode(TAG + "map", [
        (yaml.ScalarNode(TAG + "str", "a.x"), yaml.SequenceNode(TAG + "seq", items)),
        (yaml.ScalarNode(TAG + "str", "b.x"), yaml.SequenceNode(TAG + "seq", items[:10])),
    ])
    assert best_time(lambda: yaml12._expanded_size(root, yaml12.MAX_ALIAS_VALUES), 1) < 2


def test_an_integer_too_long_for_python_is_a_params_error():
    message = params_error(lambda: expand_matrix("a.x: " + "1" * 5000))
    assert message.startswith("--params: invalid YAML at line 1: the integer has 5,000 digits")
    assert "write it as a string" in params_error(lambda: expand_matrix({"a.x": 10 ** 5000}))


# --------------------------------------------------------------------------
# Grid size


def test_huge_grid_is_refused_quickly_with_its_row_count():
    spec = {f"n{i}.p": list(range(10)) for i in range(10)}
    tracemalloc.start()
    start = time.perf_counter()
    message = params_error(lambda: expand_matrix(spec))
    elapsed = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert message == ("params: the grid has 10,000,000,000 rows, more than the limit of "
                       "1,000,000; narrow it or raise --grid-limit (0 for none)")
    assert elapsed < 0.5 and peak < 5 * 2**20


def test_grid_at_the_limit_is_allowed():
    assert DEFAULT_GRID_LIMIT == 1_000_000
    spec = load_params({"a.x": list(range(1000)), "a.y": list(range(1000))})
    assert grid_size(spec) == GridSize(1_000_000, True)
    assert len(list(itertools.islice(iter_rows(spec), 3))) == 3
    message = params_error(lambda: expand(spec, grid_limit=999_999))
    assert "the grid has 1,000,000 rows, more than the limit of 999,999" in message


def test_a_million_value_params_list_loads():
    text = '{"a.x": [' + ", ".join(map(str, range(1_000_000))) + "]}"
    spec = load_params(text)
    assert grid_size(spec) == GridSize(1_000_000, True)
    assert [row["a.x"] for row in iter_rows(spec, max_configs=3)] == [0, 1, 2]


def test_no_limit_with_zero_or_none():
    spec = load_params({f"n{i}.p": list(range(10)) for i in range(10)})
    for limit in (0, None):
        assert len(list(itertools.islice(iter_rows(spec, grid_limit=limit), 5))) == 5


@pytest.mark.parametrize("bad", [-1, True, 1.5, "10"])
def test_grid_limit_must_be_a_non_negative_int(bad):
    message = params_error(lambda: expand_matrix("a.x: 1", grid_limit=bad))
    assert message == ("--params: grid_limit must be a non-negative integer (0 for no limit), "
                       f"got {bad!r}")


def test_max_configs_within_the_limit_takes_rows_of_a_huge_grid():
    spec = {f"n{i}.p": list(range(10)) for i in range(10)}
    rows = expand_matrix(spec, max_configs=10)
    assert [row["n9.p"] for row in rows] == list(range(10))
    message = params_error(lambda: expand_matrix(spec, max_configs=2_000_000))
    assert message == ("params: max_configs 2,000,000 would take 2,000,000 of the grid's "
                       "10,000,000,000 rows, more than the limit of 1,000,000; lower it or raise "
                       "--grid-limit (0 for none)")


@pytest.mark.parametrize("body, size", [
    # repeated values add no row
    ({"a.x": [1, 1, 2], "a.y": ["p", "p"]}, GridSize(2, True)),
    # exclude on matrix keys, an exclude naming a value no row has
    ({"matrix": {"a.x": [1, 2, 3], "a.y": [1, 2]}, "exclude": [{"a.x": 1}, {"a.x": 9}]},
     GridSize(4, True)),
    # include: merged entries add nothing, unmatched ones (de-duplicated) one row each
    ({"matrix": {"a.x": [1, 2]}, "include": [{"a.x": 1, "a.z": 1}, {"a.x": 3}, {"a.x": 3}]},
     GridSize(3, True)),
    # submatrices: counted on the keys they name, times the other axes
    ({"matrix": {"a.m": ["m1", "m2", "m3"], "a.d": list(range(1000))},
      "submatrices": [{"a.m": "m1", "b.t": [1, 2, 3]}, {"a.m": "m2", "b.t": 4}]},
     GridSize(5000, True)),
    # exclude sees keys include added
    ({"matrix": {"a.x": [1, 2]}, "include": [{"a.x": 1, "a.y": 1}], "exclude": [{"a.y": 1}]},
     GridSize(1, True)),
    # rows of two specs may coincide: an upper bound
    ([{"a.x": [1, 2, 3]}, {"a.x": [3, 4]}], GridSize(5, False)),
])
def test_grid_size(body, size):
    assert grid_size(load_params(body)) == size
    rows = expand_matrix(body)
    assert len(rows) == size.rows if size.exact else len(rows) <= size.rows


def test_an_upper_bound_is_said_to_be_one():
    body = [{"a.x": [1, 2, 3]}, {"a.x": [3, 4]}]  # 4 rows, counted as up to 5
    message = params_error(lambda: expand_matrix(body, grid_limit=4))
    assert message == ("params: the grid has up to 5 rows, more than the limit of 4; narrow it "
                       "or raise --grid-limit (0 for none)")


def test_a_tangled_grid_is_bounded_by_product_times_fan_out():
    # Submatrices name both axes, so the projection is the whole 1e6-row grid:
    # too big to expand for a count; the bound is product x patches + include.
    body = {"matrix": {"a.x": list(range(1000)), "a.y": list(range(1000))},
            "submatrices": [{"a.x": 0, "a.y": 0, "b.z": [1, 2]}]}
    assert grid_size(load_params(body)) == GridSize(2_000_000, False)
    message = params_error(lambda: expand_matrix(body))
    assert message.startswith("params: the grid has up to 2,000,000 rows, more than the limit")
    assert len(expand_matrix(body, max_configs=3)) == 3


# --------------------------------------------------------------------------
# Lazy expansion


def test_ten_rows_of_a_million_row_grid_are_fast():
    spec = {f"n{i}.p": list(range(10)) for i in range(6)}
    assert best_time(lambda: expand_matrix(spec, max_configs=10)) < 0.25
    assert expand_matrix(spec, max_configs=2) == [
        {f"n{i}.p": 0 for i in range(6)}, {**{f"n{i}.p": 0 for i in range(6)}, "n5.p": 1}]


def test_exclude_on_matrix_keys_skips_whole_blocks():
    spec = {"matrix": {f"n{i}.p": list(range(10)) for i in range(8)},
            "exclude": [{"n0.p": v} for v in range(9)] + [{"n1.p": 0, "n7.p": 1}]}
    rows = []
    elapsed = best_time(lambda: rows.extend(expand_matrix(spec, max_configs=3, grid_limit=0)), 1)
    assert elapsed < 0.5
    assert [(r["n0.p"], r["n1.p"], r["n7.p"]) for r in rows] == [(9, 0, 0), (9, 0, 2), (9, 0, 3)]


def test_unmatched_include_rows_come_last_of_their_spec():
    body = [{"matrix": {"a.x": [1, 2]}, "include": [{"a.x": 9}, {"a.x": 1, "a.y": 0}]},
            {"a.x": [5]}]
    full = expand_matrix(body)
    assert full == [{"a.x": 1, "a.y": 0}, {"a.x": 2}, {"a.x": 9}, {"a.x": 5}]
    assert [expand_matrix(body, max_configs=n) for n in (1, 2, 3)] == [full[:1], full[:2], full[:3]]


def test_iter_rows_validates_first_and_reports_an_empty_grid_at_the_end():
    with pytest.raises(ParamsError, match="unknown top-level key 'foo'"):
        iter_rows(load_params("foo: 1"))  # before the first row is asked for
    rows = iter_rows(load_params("a.x: []"))
    with pytest.raises(ParamsError, match="'a.x' is an empty list"):
        next(rows)


# --------------------------------------------------------------------------
# Values that could never be ids


def test_deep_nesting_and_self_containing_values_are_params_errors():
    deep: list = []
    for _ in range(200):
        deep = [deep]
    message = params_error(lambda: expand_matrix({"a.x": [deep]}))
    assert message == "params: 'a.x': the value is nested more than 100 levels deep (or contains itself)"
    loop: list = [1]
    loop.append(loop)
    assert "nested more than 100 levels" in params_error(lambda: expand_matrix({"a.x": [loop]}))
    shallow: list = []
    for _ in range(50):
        shallow = [shallow]
    assert len(expand_matrix({"a.x": [shallow]})) == 1


def test_unusable_include_files_are_params_errors(tmp_path):
    (tmp_path / "bin.yaml").write_bytes(b"\xff\xfe\x00")
    message = params_error(lambda: expand_matrix({"a.x": [{"__include__": str(tmp_path / "bin.yaml")}]}))
    assert message.startswith(f"params: 'a.x': cannot read __include__ file {tmp_path / 'bin.yaml'}")
    message = params_error(lambda: expand_matrix({"a.x": [{"__include__": "~nobody-here-zz/v.yaml"}]}))
    assert message.startswith("params: 'a.x': __include__ file '~nobody-here-zz/v.yaml' is not a usable path")
