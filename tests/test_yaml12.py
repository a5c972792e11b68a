"""YAML 1.2 core-schema scalars, in params files, __include__ files and YAML pipelines."""
import math

import pytest

from trackdag import yaml12
from trackdag.matrix import expand_matrix
from trackdag.pipeline_yaml import load_yaml_pipeline


@pytest.mark.parametrize("text, value", [
    ("1e-3", 0.001), ("1e3", 1000.0), ("1E3", 1000.0), ("-2.5e-1", -0.25), (".5", 0.5), ("1.", 1.0),
    ("012", 12), ("0o12", 10), ("0x1f", 31), ("+3", 3), ("-7", -7),
    ("yes", "yes"), ("no", "no"), ("on", "on"), ("off", "off"), ("y", "y"), ("n", "n"),
    ("true", True), ("True", True), ("FALSE", False),
    ("null", None), ("~", None), ("Null", None),
    ("2024-01-02", "2024-01-02"), ("1_000", "1_000"), ("0b11", "0b11"), ("1:20", "1:20"), ("NaN", "NaN"),
    ("'1e-3'", "1e-3"), ('"012"', "012"),
])
def test_core_schema_scalars(text, value):
    loaded = yaml12.load(f"v: {text}")["v"]
    assert loaded == value and type(loaded) is type(value)


def test_special_floats():
    loaded = yaml12.load("v: [.inf, -.inf, .nan]")["v"]
    assert loaded[:2] == [math.inf, -math.inf] and math.isnan(loaded[2])


def test_merge_keys_and_duplicate_keys():
    assert yaml12.load("a: &x {k: 1}\nb:\n  <<: *x\n  j: 2")["b"] == {"k": 1, "j": 2}
    with pytest.raises(Exception, match="duplicate key 'a'"):
        yaml12.load("a: 1\na: 2")


def test_a_learning_rate_sweep_stays_numbers(tmp_path):
    rows = expand_matrix("train.lr: [1e-3, 1e-2, 1e-1]\ntrain.flag: yes\ntrain.n: 012")
    assert [r["train.lr"] for r in rows] == [0.001, 0.01, 0.1]
    assert {r["train.flag"] for r in rows} == {"yes"} and {r["train.n"] for r in rows} == {12}
    (tmp_path / "lrs.yaml").write_text("[1e-4, 0o10]\n")
    (tmp_path / "p.yaml").write_text("a.lr: [{__include__: lrs.yaml}]\n")
    assert expand_matrix(tmp_path / "p.yaml") == [{"a.lr": 0.0001}, {"a.lr": 8}]


def test_yaml_pipelines_use_the_same_rules(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("nodes:\n  a:\n    executable: echo\n    out_paths: {o: o.json}\n"
                    "    algo_params: {lr: 1e-3, mode: on, n: 012}\n")
    node = load_yaml_pipeline(path).nodes["a"]
    assert node.algo_params == {"lr": 0.001, "mode": "on", "n": 12}
