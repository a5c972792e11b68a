"""Tests for trackdag.matrix: the --params grammar (KWDagger-compatible, fixed edges)."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from trackdag.errors import ParamsError, TrackdagError
from trackdag.matrix import ParamsSpec, expand, expand_matrix, load_params

SCENARIOS = Path(__file__).parent / "scenarios" / "matrix"


def rows_of(text: str, **kw):
    return expand_matrix(text, **kw)


def error_of(spec, **kw) -> str:
    with pytest.raises(ParamsError) as info:
        expand_matrix(spec, **kw)
    message = str(info.value)
    assert "\n" not in message, "errors are one line"
    return message


# --------------------------------------------------------------------------
# Notes section 1.7, examples A-R2 (with our deliberate fixes)


def test_A_bare_mapping():
    assert rows_of("a.x: [1, 2]\na.y: hello") == [
        {"a.x": 1, "a.y": "hello"},
        {"a.x": 2, "a.y": "hello"},
    ]


def test_B_product_last_axis_fastest():
    assert rows_of("matrix: {a.x: [1, 2], a.y: [p, q]}") == [
        {"a.x": 1, "a.y": "p"},
        {"a.x": 1, "a.y": "q"},
        {"a.x": 2, "a.y": "p"},
        {"a.x": 2, "a.y": "q"},
    ]


def test_C_duplicates_collapse_first_kept():
    # KWDagger keeps 3 rows; we de-duplicate.
    assert rows_of("matrix: {a.x: [1, 1, 2]}") == [{"a.x": 1}, {"a.x": 2}]


def test_D_list_of_lists_is_an_axis_of_lists():
    assert rows_of("matrix: {a.x: [[1, 2], [3]]}") == [{"a.x": [1, 2]}, {"a.x": [3]}]


def test_D2_single_list_value():
    assert rows_of("matrix: {a.x: [[1, 2, 3]]}") == [{"a.x": [1, 2, 3]}]


def test_E_mapping_is_one_value():
    assert rows_of("matrix: {a.cfg: {k: 1, j: 2}}") == [{"a.cfg": {"k": 1, "j": 2}}]


def test_F_block_scalar_stays_a_string():
    text = "matrix:\n  a.cfg: |\n    - foo: 1\n    - bar: 2\n"
    assert rows_of(text) == [{"a.cfg": "- foo: 1\n- bar: 2\n"}]


def test_G_include_extends_and_appends():
    text = "matrix: {a.x: [1, 2]}\ninclude: [{a.x: 1, a.z: extra}, {a.x: 3}]"
    assert rows_of(text) == [{"a.x": 1, "a.z": "extra"}, {"a.x": 2}, {"a.x": 3}]


def test_G2_include_inside_matrix_without_shared_key_matches_all():
    text = "matrix:\n  a.x: [1, 2]\n  include:\n    - a.w: 9\n"
    assert rows_of(text) == [{"a.x": 1, "a.w": 9}, {"a.x": 2, "a.w": 9}]


def test_G3_include_values_are_literal():
    text = "matrix: {a.x: [1, 2]}\ninclude: [{a.x: 1, a.l: [7, 8]}]"
    assert rows_of(text) == [{"a.x": 1, "a.l": [7, 8]}, {"a.x": 2}]


def test_H_exclude_inside_matrix():
    text = "matrix: {a.x: [1, 2], a.y: [p, q], exclude: [{a.x: 1, a.y: q}]}"
    assert rows_of(text) == [
        {"a.x": 1, "a.y": "p"},
        {"a.x": 2, "a.y": "p"},
        {"a.x": 2, "a.y": "q"},
    ]


def test_I_submatrices():
    text = """
matrix: {a.model: [m1, m2]}
submatrices:
  - {a.model: m1, b.thresh: [0.1, 0.2]}
  - {a.model: m2, b.thresh: 0.5}
"""
    assert rows_of(text) == [
        {"a.model": "m1", "b.thresh": 0.1},
        {"a.model": "m1", "b.thresh": 0.2},
        {"a.model": "m2", "b.thresh": 0.5},
    ]


def test_I2_unmatched_rows_pass_through():
    text = """
matrix: {a.model: [m1, m2, m3]}
submatrices:
  - {a.model: m1, b.thresh: [0.1, 0.2]}
"""
    assert rows_of(text) == [
        {"a.model": "m1", "b.thresh": 0.1},
        {"a.model": "m1", "b.thresh": 0.2},
        {"a.model": "m2"},
        {"a.model": "m3"},
    ]


def test_J_top_level_list_of_matrices():
    # KWDagger's schedule crashes on a top-level list; we support it.
    text = "- matrix: {a.x: [1, 2]}\n- matrix: {a.x: 3, a.y: only_here}\n"
    assert rows_of(text) == [{"a.x": 1}, {"a.x": 2}, {"a.x": 3, "a.y": "only_here"}]


def test_J_matrices_key_same_rows():
    text = "matrices:\n  - matrix: {a.x: [1, 2]}\n  - matrix: {a.x: 3, a.y: only_here}\n"
    assert rows_of(text) == [{"a.x": 1}, {"a.x": 2}, {"a.x": 3, "a.y": "only_here"}]


def test_K_max_configs():
    assert rows_of("matrix: {a.x: [1, 2, 3, 4]}", max_configs=2) == [{"a.x": 1}, {"a.x": 2}]


def test_L_unexpected_top_level_key():
    message = error_of("matrix: {a.x: [1, 2]}\nfoo: bar\n")
    assert message.startswith("--params: unknown top-level key 'foo'")


def test_M_empty_axis_is_an_error_naming_the_key():
    message = error_of("matrix: {a.x: [], a.y: [1]}")
    assert message == "--params: the grid is empty: 'a.x' is an empty list"


def test_N_null_value():
    assert rows_of("matrix: {a.x: null}") == [{"a.x": None}]


def test_P_comma_string_is_one_value():
    assert rows_of('matrix: {a.x: "1,2,3"}') == [{"a.x": "1,2,3"}]


def test_Q_include_directive_and_literal_paths(tmp_path):
    (tmp_path / "vals.yaml").write_text("[v1, v2]\n")
    params = tmp_path / "params.yaml"
    params.write_text("a.x: [{__include__: vals.yaml}, literal, /path/vals.yaml]\n")
    assert expand_matrix(params) == [
        {"a.x": "v1"}, {"a.x": "v2"}, {"a.x": "literal"}, {"a.x": "/path/vals.yaml"},
    ]


def test_R_numbered_submatrix_groups():
    text = """
matrix: {a.src: [d1, d2], a.res: [10, 20]}
submatrices1: [{a.res: 10, b.res: [10, 15]}]
submatrices2: [{a.src: d1, b.src: big1}]
"""
    assert rows_of(text) == [
        {"a.src": "d1", "a.res": 10, "b.res": 10, "b.src": "big1"},
        {"a.src": "d1", "a.res": 10, "b.res": 15, "b.src": "big1"},
        {"a.src": "d1", "a.res": 20, "b.src": "big1"},
        {"a.src": "d2", "a.res": 10, "b.res": 10},
        {"a.src": "d2", "a.res": 10, "b.res": 15},
        {"a.src": "d2", "a.res": 20},
    ]


def test_R2_later_group_keys_on_parameter_added_by_earlier_group():
    # KWDagger overwrites b.y=6 with 5 (a duplicate row); we match on every
    # key the row holds, so the b.y=6 row passes through unchanged.
    text = """
matrix: {a.x: [1, 2]}
submatrices1: [{a.x: 1, b.y: [5, 6]}]
submatrices2: [{b.y: 5, c.z: z}]
"""
    assert rows_of(text) == [
        {"a.x": 1, "b.y": 5, "c.z": "z"},
        {"a.x": 1, "b.y": 6},
        {"a.x": 2, "b.y": 5, "c.z": "z"},
    ]


# --------------------------------------------------------------------------
# GitHub Actions docs examples and KWDagger docstring cases (notes 6.6)


def test_github_include_example():
    assert expand_matrix(SCENARIOS / "github_include.yaml") == [
        {"fruit": "apple", "animal": "cat", "color": "pink", "shape": "circle"},
        {"fruit": "apple", "animal": "dog", "color": "green", "shape": "circle"},
        {"fruit": "pear", "animal": "cat", "color": "pink"},
        {"fruit": "pear", "animal": "dog", "color": "green"},
        {"fruit": "banana"},
        {"fruit": "banana", "animal": "cat"},
    ]


def test_github_include_keeps_key_order_of_first_write():
    rows = expand_matrix(SCENARIOS / "github_include.yaml")
    assert list(rows[0]) == ["fruit", "animal", "color", "shape"]


def test_github_exclude_example():
    rows = expand_matrix(SCENARIOS / "github_exclude.yaml")
    assert [(r["os"], r["version"], r["environment"]) for r in rows] == [
        ("macos-latest", 12, "staging"),
        ("macos-latest", 14, "staging"),
        ("macos-latest", 14, "production"),
        ("macos-latest", 16, "staging"),
        ("macos-latest", 16, "production"),
        ("windows-latest", 12, "staging"),
        ("windows-latest", 12, "production"),
        ("windows-latest", 14, "staging"),
        ("windows-latest", 14, "production"),
    ]
    assert all(len(r) == 3 for r in rows)


def test_later_include_overwrites_key_added_by_earlier_include():
    text = """
matrix:
  old_variable: [null, auto]
include:
  - {old_variable: null, new_variable: 1}
  - {old_variable: null, new_variable: 2}
"""
    assert rows_of(text) == [
        {"old_variable": None, "new_variable": 2},
        {"old_variable": "auto"},
    ]


def test_submatrices_only_explicit_list():
    text = """
submatrices:
  - {common_variable: a, old_variable: a}
  - {common_variable: a, old_variable: null, new_variable: 1}
  - {common_variable: a, old_variable: null, new_variable: 11}
  - {common_variable: a, old_variable: null, new_variable: 2}
  - {common_variable: b, old_variable: null, new_variable: 22}
"""
    assert rows_of(text) == [
        {"common_variable": "a", "old_variable": "a"},
        {"common_variable": "a", "old_variable": None, "new_variable": 1},
        {"common_variable": "a", "old_variable": None, "new_variable": 11},
        {"common_variable": "a", "old_variable": None, "new_variable": 2},
        {"common_variable": "b", "old_variable": None, "new_variable": 22},
    ]


def test_submatrices_with_non_matching_entry_14_rows():
    text = """
matrix:
  common_variable: [a, b]
  old_variable: [null, auto]
submatrices:
  - old_variable: null
    new_variable1: [1, 2]
    new_variable2: [3, 4]
  - old_variable: null
    new_variable2: [33, 44]
  # never used: no row has old_variable == blag
  - old_variable: blag
    new_variable: [10, 20]
"""
    rows = rows_of(text)
    expected = []
    for common in ["a", "b"]:
        base = {"common_variable": common, "old_variable": None}
        for v1 in [1, 2]:
            for v2 in [3, 4]:
                expected.append({**base, "new_variable1": v1, "new_variable2": v2})
        expected += [{**base, "new_variable2": 33}, {**base, "new_variable2": 44}]
        expected.append({"common_variable": common, "old_variable": "auto"})
    assert len(rows) == 14
    assert rows == expected


def test_submatrices1_and_2_chain_20_rows():
    spec = load_params(SCENARIOS / "submatrices_chain.yaml")
    assert spec.pipeline == "two_step"
    rows = expand(spec)
    step2 = {"dset1": ["big_dset1A"], "dset2": ["big_dset2A", "big_dset2B"],
             "dset3": ["big_dset3A"], "dset4": [None]}
    res2 = {10: [10, 15], 20: [20], 30: [None]}
    expected = []
    for src in ["dset1", "dset2", "dset3", "dset4"]:
        for res in [10, 20, 30]:
            for r2 in res2[res]:
                for s2 in step2[src]:
                    row = {"step1.src": src, "step1.resolution": res}
                    if r2 is not None:
                        row["step2.resolution"] = r2
                    if s2 is not None:
                        row["step2.src"] = s2
                    expected.append(row)
    assert len(rows) == 20
    assert rows == expected


def test_extended_fruit_example_with_submatrices1():
    text = """
matrix:
  fruit: [apple, pear]
  animal: [cat, dog]
  submatrices1:
    - color: green
    - color: pink
      animal: cat
    - fruit: apple
      shape: circle
    - fruit: banana
    - fruit: banana
      animal: cat
"""
    assert rows_of(text) == [
        {"fruit": "apple", "animal": "cat", "color": "green"},
        {"fruit": "apple", "animal": "cat", "color": "pink"},
        {"fruit": "apple", "animal": "cat", "shape": "circle"},
        {"fruit": "apple", "animal": "dog", "color": "green"},
        {"fruit": "apple", "animal": "dog", "shape": "circle"},
        {"fruit": "pear", "animal": "cat", "color": "green"},
        {"fruit": "pear", "animal": "cat", "color": "pink"},
        {"fruit": "pear", "animal": "dog", "color": "green"},
    ]


def test_dict_as_scalar_docstring_case():
    text = """
- matrix:
    trk.param1:
      key1: value1
      key2: value2
    trk.param2_list_of_dict:
      - key1: value1
        key2: value2
      - key1: value11
        key2: value22
"""
    assert rows_of(text) == [
        {"trk.param1": {"key1": "value1", "key2": "value2"},
         "trk.param2_list_of_dict": {"key1": "value1", "key2": "value2"}},
        {"trk.param1": {"key1": "value1", "key2": "value2"},
         "trk.param2_list_of_dict": {"key1": "value11", "key2": "value22"}},
    ]


def test_include_directive_docstring_case_absolute_path(tmp_path):
    sub = tmp_path / "subgrid.yaml"
    sub.write_text("- subgrid-value1\n- subgrid-value2\n")
    spec = {"matrix": {"foo": [{"__include__": str(sub)}, str(sub)]}}
    assert expand_matrix(spec) == [
        {"foo": "subgrid-value1"}, {"foo": "subgrid-value2"}, {"foo": str(sub)},
    ]


def test_trk_act_docstring_case():
    rows = expand_matrix(SCENARIOS / "trk_act.yaml")
    keys = ["trk.pxl.model", "trk.pxl.data.tta_time", "trk.pxl.data.set_cover_algo",
            "act.pxl.model", "act.pxl.data.test_dataset", "act.pxl.data.input_space_scale"]
    assert [tuple(r[k] for k in keys) for r in rows] == [
        ("trk_a", 0, "None", "act_a", "D4_WV_PD", "4GSD"),
        ("trk_a", 0, "approx", "act_a", "D4_WV_PD", "1GSD"),
        ("trk_a", 0, "approx", "act_a", "D4_WV_PD", "4GSD"),
        ("trk_a", 0, "approx", "act_a", "D4_WV", "1GSD"),
        ("trk_b", 4, "approx", "act_a", "D4_WV_PD", "1GSD"),
        ("trk_b", 4, "approx", "act_a", "D4_WV", "1GSD"),
        ("trk_b", 4, "approx", "act_b", "D4_WV", "1GSD"),
    ]
    for row in rows:
        assert row["trk.poly.thresh"] == 0.17 and row["act.poly.thresh"] == 0.13
        assert row["trk.pxl.data.test_dataset"] == "D4_S2_L8"
        scale = row.get("trk.pxl.data.input_space_scale")
        assert scale == ("10GSD" if row["trk.pxl.model"] == "trk_a" else None)


def test_coerce_matrices_docstring_case():
    text = "matrices:\n  - matrix:\n      foo: bar\n  - matrix:\n      foo: baz\n"
    assert rows_of(text) == [{"foo": "bar"}, {"foo": "baz"}]


# --------------------------------------------------------------------------
# More grammar


def test_ordering_three_axes_last_fastest():
    rows = rows_of("a.x: [1, 2]\na.y: [p, q]\na.z: [true, false]")
    assert [(r["a.x"], r["a.y"], r["a.z"]) for r in rows] == [
        (1, "p", True), (1, "p", False), (1, "q", True), (1, "q", False),
        (2, "p", True), (2, "p", False), (2, "q", True), (2, "q", False),
    ]


def test_include_only_spec_yields_include_rows():
    text = "include:\n  - {a.x: 1, a.y: p}\n  - {a.x: 2}\n"
    assert rows_of(text) == [{"a.x": 1, "a.y": "p"}, {"a.x": 2}]
    assert rows_of("matrix: {}\ninclude: [{a.x: 1}, {a.x: 2}]") == [{"a.x": 1}, {"a.x": 2}]


def test_standalone_include_rows_are_never_excluded():
    text = "matrix: {a.x: [1, 2]}\ninclude: [{a.x: 3, a.y: 1}]\nexclude: [{a.y: 1}]"
    assert rows_of(text) == [{"a.x": 1}, {"a.x": 2}, {"a.x": 3, "a.y": 1}]


def test_exclude_sees_keys_added_by_include():
    text = "matrix: {a.x: [1, 2]}\ninclude: [{a.x: 1, a.y: 1}]\nexclude: [{a.y: 1}]"
    # The include matched row a.x=1 (so it is not standalone); that row is then excluded.
    assert rows_of(text) == [{"a.x": 2}]


def test_exclude_sees_keys_added_by_submatrices():
    text = """
matrix: {a.x: [1, 2]}
submatrices: [{b.y: [5, 6]}]
exclude: [{a.x: 2, b.y: 6}]
"""
    assert rows_of(text) == [
        {"a.x": 1, "b.y": 5}, {"a.x": 1, "b.y": 6}, {"a.x": 2, "b.y": 5},
    ]


def test_exclude_matches_literal_list_values():
    text = "matrix: {a.l: [[1, 2], [3]]}\nexclude: [{a.l: [1, 2]}]"
    assert rows_of(text) == [{"a.l": [3]}]


def test_matching_is_type_strict():
    # 1 and true are different values (as in job ids): the include does not
    # match, so it becomes a standalone row.  (`on` is a string in YAML 1.2.)
    text = "matrix: {a.x: [1, 2]}\ninclude: [{a.x: true, a.y: on}]"
    assert rows_of(text) == [{"a.x": 1}, {"a.x": 2}, {"a.x": True, "a.y": "on"}]


def test_dedup_across_matrices():
    text = "- a.x: [1, 2]\n- a.x: [2, 3]\n"
    assert rows_of(text) == [{"a.x": 1}, {"a.x": 2}, {"a.x": 3}]


def test_dedup_ignores_key_order():
    spec = [{"a.x": 1, "a.y": 2}, {"a.y": 2, "a.x": 1}]
    assert expand_matrix(spec) == [{"a.x": 1, "a.y": 2}]


def test_max_configs_counts_after_dedup_and_across_matrices():
    text = "- a.x: [1, 1, 2]\n- a.x: [3, 4]\n"
    assert rows_of(text, max_configs=3) == [{"a.x": 1}, {"a.x": 2}, {"a.x": 3}]
    assert rows_of(text, max_configs=100) == [{"a.x": v} for v in [1, 2, 3, 4]]


def test_bare_mapping_may_hold_exclude_and_submatrices():
    text = """
a.x: [1, 2]
exclude: [{a.x: 2}]
submatrices: [{b.y: [5, 6]}]
"""
    assert rows_of(text) == [{"a.x": 1, "b.y": 5}, {"a.x": 1, "b.y": 6}]


def test_slurm_options_global_key_is_allowed_in_bare_form():
    rows = rows_of("a.x: 1\n__slurm_options__: {partition: gpu}\n")
    assert rows == [{"a.x": 1, "__slurm_options__": {"partition": "gpu"}}]


def test_special_node_keys_pass_through():
    rows = rows_of("a.x: 1\na.__enabled__: [true, redo]\n")
    assert rows == [{"a.x": 1, "a.__enabled__": True}, {"a.x": 1, "a.__enabled__": "redo"}]


def test_list_elements_may_be_bare_mappings():
    assert expand_matrix([{"a.x": [1, 2]}, {"include": [{"a.x": 9}]}]) == [
        {"a.x": 1}, {"a.x": 2}, {"a.x": 9},
    ]


def test_submatrix_entry_product_and_include_directive(tmp_path):
    (tmp_path / "th.yaml").write_text("[0.1, 0.2]\n")
    (tmp_path / "p.yaml").write_text(
        "matrix: {a.m: [m1, m2]}\n"
        "submatrices:\n  - {a.m: m1, b.t: [{__include__: th.yaml}], b.k: [x, y]}\n")
    assert expand_matrix(tmp_path / "p.yaml") == [
        {"a.m": "m1", "b.t": 0.1, "b.k": "x"},
        {"a.m": "m1", "b.t": 0.1, "b.k": "y"},
        {"a.m": "m1", "b.t": 0.2, "b.k": "x"},
        {"a.m": "m1", "b.t": 0.2, "b.k": "y"},
        {"a.m": "m2"},
    ]


def test_include_directive_list_and_non_list_files(tmp_path, monkeypatch):
    folder = tmp_path / "cfg"
    folder.mkdir()
    (folder / "one.yaml").write_text("[1, 2]\n")
    (folder / "two.yaml").write_text("{lr: 0.1}\n")  # a mapping: one value
    (folder / "params.yaml").write_text(
        "a.x: [{__include__: [one.yaml, two.yaml]}, 3]\n"
        "a.y: {__include__: one.yaml}\n")
    monkeypatch.chdir(tmp_path)  # relative to the params file, not the cwd
    rows = expand_matrix("cfg/params.yaml")
    assert [(r["a.x"], r["a.y"]) for r in rows] == [
        (1, 1), (1, 2), (2, 1), (2, 2), ({"lr": 0.1}, 1), ({"lr": 0.1}, 2), (3, 1), (3, 2),
    ]


def test_include_directive_in_text_resolves_against_cwd(tmp_path, monkeypatch):
    (tmp_path / "vals.yaml").write_text("[v1, v2]\n")
    monkeypatch.chdir(tmp_path)
    assert rows_of("a.x: [{__include__: vals.yaml}]") == [{"a.x": "v1"}, {"a.x": "v2"}]


def test_plain_yaml_path_string_stays_a_string(tmp_path):
    (tmp_path / "vals.yaml").write_text("[v1, v2]\n")
    spec = {"a.x": str(tmp_path / "vals.yaml")}
    assert expand_matrix(spec) == [{"a.x": str(tmp_path / "vals.yaml")}]


# --------------------------------------------------------------------------
# Input forms


def test_json_text_including_tabs_and_exponents():
    text = '{\n\t"matrix": {"a.x": [1, 2], "a.lr": 1e-3}\n}'
    assert rows_of(text) == [{"a.x": 1, "a.lr": 0.001}, {"a.x": 2, "a.lr": 0.001}]


def test_flow_yaml_that_is_not_json():
    assert rows_of("{a.x: [1, 2]}") == [{"a.x": 1}, {"a.x": 2}]


@pytest.mark.parametrize("as_str", [True, False])
def test_yaml_file_path_str_and_path(tmp_path, as_str):
    path = tmp_path / "params.yaml"
    path.write_text("pipeline: demo\nmatrix: {a.x: [1, 2]}\n")
    spec = load_params(str(path) if as_str else path)
    assert spec.source == str(path)
    assert spec.base_dir == tmp_path
    assert spec.pipeline == "demo"
    assert expand(spec) == [{"a.x": 1}, {"a.x": 2}]


def test_json_file_path(tmp_path):
    path = tmp_path / "params.json"
    path.write_text(json.dumps({"matrices": [{"matrix": {"a.x": [1, 2]}}]}))
    assert expand_matrix(str(path)) == [{"a.x": 1}, {"a.x": 2}]


def test_python_objects_are_not_mutated():
    spec = {"pipeline": "p", "matrix": {"a.x": [1, 2], "include": [{"a.x": 1, "a.l": [7]}]}}
    before = json.dumps(spec)
    loaded = load_params(spec)
    assert loaded.source == "params" and loaded.pipeline == "p"
    assert loaded.base_dir == Path.cwd()
    rows = expand(loaded)
    assert rows == [{"a.x": 1, "a.l": [7]}, {"a.x": 2}]
    assert json.dumps(spec) == before


def test_python_list_input():
    assert expand_matrix([{"matrix": {"a.x": 1}}, {"matrix": {"a.x": 2}}]) == [
        {"a.x": 1}, {"a.x": 2},
    ]


def test_text_source_and_override():
    spec = load_params("a.x: 1")
    assert spec.source == "--params" and spec.base_dir == Path.cwd()
    assert spec.body == {"a.x": 1} and spec.pipeline is None
    assert load_params("a.x: 1", source="sweep.yaml").source == "sweep.yaml"
    with pytest.raises(ParamsError, match=r"^cli: unknown top-level key 'foo'"):
        expand(load_params("foo: 1", source="cli"))


def test_load_params_accepts_a_params_spec():
    spec = load_params("a.x: [1]")
    assert load_params(spec) is spec
    assert expand_matrix(spec) == [{"a.x": 1}]


def test_multiline_string_is_always_text(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.x: 1").write_text("b.y: 2\n")  # a file with a YAML-looking name
    assert rows_of("a.x: 1") == [{"b.y": 2}]  # single-line str naming a file is a path
    assert rows_of("a.x: 1\n") == [{"a.x": 1}]


def test_rows_are_independent_objects():
    spec = {"matrix": {"a.x": [1, 2], "a.l": [[1, 2]]}, "include": [{"a.d": {"k": [1]}}]}
    rows = expand_matrix(spec)
    rows[0]["a.l"].append(99)
    rows[0]["a.d"]["k"].append(99)
    rows[0]["a.new"] = 1
    assert rows[1] == {"a.x": 2, "a.l": [1, 2], "a.d": {"k": [1]}}
    assert spec["matrix"]["a.l"] == [[1, 2]]
    assert spec["include"][0] == {"a.d": {"k": [1]}}


def test_included_file_values_are_not_shared(tmp_path):
    (tmp_path / "v.yaml").write_text("- [1, 2]\n")
    rows = expand_matrix({"a.x": [1, 2], "a.l": [{"__include__": str(tmp_path / "v.yaml")}]})
    rows[0]["a.l"].append(3)
    assert rows[1]["a.l"] == [1, 2]


def test_pipeline_in_top_level_list_elements():
    text = "- pipeline: demo\n  a.x: 1\n- a.x: 2\n- pipeline: demo\n  matrix: {a.x: 3}\n"
    spec = load_params(text)
    assert spec.pipeline == "demo"
    assert expand(spec) == [{"a.x": 1}, {"a.x": 2}, {"a.x": 3}]


def test_pipeline_with_matrices_key():
    spec = load_params("pipeline: demo\nmatrices:\n  - a.x: 1\n  - pipeline: demo\n    a.x: 2\n")
    assert spec.pipeline == "demo"
    assert expand(spec) == [{"a.x": 1}, {"a.x": 2}]


def test_many_rows_are_fast():
    spec = {f"n{i}.p": [0, 1] for i in range(14)}
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        rows = expand_matrix(spec)
        best = min(best, time.perf_counter() - start)
    assert len(rows) == 16384
    assert rows[0] == {f"n{i}.p": 0 for i in range(14)}
    assert rows[1] == {**rows[0], "n13.p": 1}
    assert best < 0.5


# --------------------------------------------------------------------------
# Errors


def test_invalid_yaml_names_line():
    message = error_of("a.x: 1\na.y: 2\nb.z: c: d\n")
    # libyaml says "... in this context", pure-Python PyYAML "... here"
    assert message.startswith("--params: invalid YAML at line 3: mapping values are not allowed")


def test_invalid_yaml_in_file_names_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("matrix:\n  a.x: [1, 2\n")
    message = error_of(path)
    assert message.startswith(f"{path}: invalid YAML at line ")


def test_duplicate_yaml_key_is_an_error_with_line():
    message = error_of("a.x: [1, 2]\na.y: 1\na.x: 3\n")
    assert message == "--params: invalid YAML at line 3: duplicate key 'a.x'"


def test_duplicate_json_key_is_an_error():
    message = error_of('{"a.x": 1,\n "a.x": 2}')
    assert "duplicate key 'a.x'" in message and "line 2" in message


def test_unknown_top_level_key_suggests_closest():
    message = error_of("matrix: {a.x: [1]}\ninclde: [{a.y: 1}]\n")
    assert message == "--params: unknown top-level key 'inclde' (did you mean 'include'?)"


def test_unknown_key_without_suggestion_lists_allowed_keys():
    message = error_of("matrix: {a.x: [1]}\nzzz: 1\n")
    assert "unknown top-level key 'zzz'" in message and "allowed: matrix, include" in message


def test_bare_mapping_key_without_dot():
    message = error_of("a.x: [1]\nfoo: 1\n")
    assert message == ("--params: unknown top-level key 'foo' "
                       "(parameters are written <node>.<param>)")


def test_bare_mapping_misspelt_spec_key_suggests():
    message = error_of("matrx:\n  a.x: [1, 2]\n")
    assert message == "--params: unknown top-level key 'matrx' (did you mean 'matrix'?)"


def test_unknown_key_in_list_element_names_element(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("matrices:\n  - matrix: {a.x: 1}\n  - matrix: {a.x: 2}\n    exlude: []\n")
    message = error_of(path)
    assert message == f"{path}: matrices[1]: unknown key 'exlude' (did you mean 'exclude'?)"


def test_matrices_mixed_with_matrix():
    message = error_of("matrices: [{a.x: 1}]\nmatrix: {a.x: 2}\n")
    assert "'matrix'" in message and "'matrices'" in message


def test_nested_matrices_rejected():
    message = error_of("- matrices: [{a.x: 1}]\n")
    assert "[0]: unknown key 'matrices'" in message and "top level" in message


@pytest.mark.parametrize("text, expected", [
    ("matrix: [1, 2]", "--params: 'matrix' must be a mapping of <node>.<param> keys to values, "
                       "got a list"),
    ("matrix: {a.x: 1}\ninclude: {a.y: 2}",
     "--params: 'include' must be a list of mappings"),
    ("matrix: {a.x: 1}\ninclude: [3]", "--params: include[0] must be a mapping"),
    ("matrix: {a.x: 1}\nexclude: a.x", "--params: 'exclude' must be a list of mappings"),
    ("matrix: {a.x: 1, submatrices2: {b.y: 1}}",
     "--params: 'submatrices2' must be a list of mappings"),
    ("matrix: {a.x: 1}\nsubmatrices: [[1]]", "--params: submatrices[0] must be a mapping"),
    ("matrices: {a.x: 1}", "--params: 'matrices' must be a list of matrix specs, got a mapping"),
    ("pipeline: [a, b]\na.x: 1", "--params: 'pipeline' must be a string naming the pipeline (or a YAML "
                                 "pipeline's mapping), got a list"),
    ("matrix: {1: x}", "--params: 'matrix' has a non-string key 1"),
    ("true: 1", "--params: the top level has a non-string key True"),
    ("matrix: {a.x: 1}\ninclude: [{null: 1}]", "--params: include[0] has a non-string key None"),
    ("a.x: {1: 2}", "--params: 'a.x' has a non-string key 1"),
    ("- 3", "--params: [0]: a matrix spec must be a mapping, got a number 3"),
    ("42", "--params: expected a mapping or a list of matrix specs, got a number 42"),
    ("", "--params: the params are empty"),
    ("missing.yaml", "--params: expected a mapping or a list of matrix specs, got a string "
                     "'missing.yaml' (no file of that name exists)"),
    ("a.when: !!binary aGVsbG8=", "--params: 'a.when': value b'hello' (bytes) is not "
                                  "a plain YAML/JSON value; quote it"),
    ("a.x: .nan", "--params: 'a.x': nan cannot be part of a job id"),
    ("matrix: {a.x: 1, include: [{a.y: 1}]}\ninclude: [{a.y: 2}]",
     "--params: 'include' is written both inside 'matrix' and next to it"),
    ("matrix: {a.x: 1}\nexclude: [{}]", "--params: exclude[0] is empty"),
    ("a.x: [{__include__: 3}]", "--params: 'a.x': __include__ expects a file path"),
])
def test_type_errors(text, expected):
    assert error_of(text).startswith(expected)


def test_pipeline_disagreement():
    message = error_of("- pipeline: a\n  a.x: 1\n- pipeline: b\n  a.x: 2\n")
    assert message == ("--params: [1]: pipeline 'b' disagrees with 'a' from [0]; "
                       "one params file runs one pipeline")
    message = error_of("pipeline: a\nmatrices:\n  - pipeline: b\n    a.x: 1\n")
    assert "matrices[0]: pipeline 'b' disagrees with 'a' from the top level" in message


def test_pipeline_non_string_in_list_element():
    assert error_of("- pipeline: 3\n  a.x: 1\n").startswith(
        "--params: [0]: 'pipeline' must be a string")


def test_missing_include_file_names_it(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("a.x: [{__include__: nope.yaml}]\n")
    message = error_of(path)
    assert message == (f"{path}: 'a.x': __include__ file 'nope.yaml' not found "
                       f"(looked for {tmp_path / 'nope.yaml'})")


def test_invalid_yaml_in_included_file_names_that_file(tmp_path):
    (tmp_path / "bad.yaml").write_text("- a\n- b: c: d\n")
    path = tmp_path / "p.yaml"
    path.write_text("a.x: [{__include__: bad.yaml}]\n")
    assert error_of(path).startswith(f"{tmp_path / 'bad.yaml'}: invalid YAML at line 2: "
                                     "mapping values are not allowed")


def test_missing_params_path_object(tmp_path):
    path = tmp_path / "nope.yaml"
    assert error_of(path) == f"{path}: params file not found"


def test_unsupported_input_type():
    assert error_of(3.5).startswith("params: expected YAML/JSON text, a file path")


@pytest.mark.parametrize("text, expected", [
    ("matrix: {a.x: [], a.y: []}", "--params: the grid is empty: 'a.x', 'a.y' are empty lists"),
    ("matrix: {}", "--params: the grid is empty: no parameters are given"),
    ("{}", "--params: the grid is empty: no parameters are given"),
    ("pipeline: demo", "--params: the grid is empty: no parameters are given"),
    ("a.x: [1, 2]\nexclude: [{a.x: 1}, {a.x: 2}]",
     "--params: the grid is empty: every row matches an 'exclude' entry"),
    ("- a.x: []\n- a.y: []", "--params: the grid is empty: 'a.x', 'a.y' are empty lists"),
])
def test_empty_grid(text, expected):
    assert error_of(text).startswith(expected)


def test_empty_include_file_gives_empty_axis(tmp_path):
    (tmp_path / "e.yaml").write_text("[]\n")
    spec = {"a.x": [{"__include__": str(tmp_path / "e.yaml")}]}
    assert error_of(spec) == "params: the grid is empty: 'a.x' is an empty list"


def test_one_empty_matrix_among_others_is_not_an_error():
    assert rows_of("- a.x: []\n- a.y: 1\n") == [{"a.y": 1}]


@pytest.mark.parametrize("bad", [0, -1, True, 1.5, "3"])
def test_max_configs_must_be_positive_int(bad):
    message = error_of("a.x: 1", max_configs=bad)
    assert message == f"--params: max_configs must be a positive integer, got {bad!r}"


def test_params_error_is_a_trackdag_error():
    assert issubclass(ParamsError, TrackdagError)
    assert ParamsSpec.__dataclass_params__.frozen
