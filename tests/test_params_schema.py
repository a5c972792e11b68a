"""The published JSON Schema for --params agrees with what trackdag.matrix accepts."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

jsonschema = pytest.importorskip("jsonschema")

from trackdag.errors import ParamsError  # noqa: E402
from trackdag.matrix import expand_matrix  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SCHEMA_PATH = ROOT / "schema" / "params.schema.json"
SCENARIOS = Path(__file__).parent / "scenarios" / "matrix"


@pytest.fixture(scope="module")
def validator():
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


VALID = [
    # bare mapping, with pipeline, exclude and the pipeline-wide slurm key
    "pipeline: demo\na.x: [1, 2]\na.y: hello\n__slurm_options__: {partition: gpu}\n",
    "a.x: [1, 2]\nexclude: [{a.x: 2}]\nsubmatrices3: [{b.y: [5, 6]}]\n",
    # one matrix spec, parts next to and inside matrix
    "matrix: {a.x: [1, 2], a.y: [p, q]}\ninclude: [{a.x: 1, a.z: [7, 8]}]\n"
    "exclude: [{a.x: 2, a.y: q}]\n",
    "matrix:\n  a.x: [1, 2]\n  include: [{a.w: 9}]\n  submatrices1: [{a.x: 1, b.y: [5, 6]}]\n",
    "include: [{a.x: 1}, {a.x: 2}]\n",
    # GitHub-style keys without dots are fine inside `matrix`
    "matrix: {fruit: [apple, pear], animal: cat}\n",
    # value forms: list of lists, dict value, __include__ directives, null
    "a.x: [[1, 2], [3]]\na.cfg: {k: 1}\na.n: null\n"
    "a.f: [{__include__: vals.yaml}, {__include__: [a.yaml, b.yaml]}, literal]\n",
    # matrices and top-level list
    "pipeline: demo\nmatrices:\n  - matrix: {a.x: [1, 2]}\n  - a.x: 3\n    pipeline: demo\n",
    "- matrix: {a.x: [1, 2]}\n- {a.x: 3, a.y: only_here}\n",
    # a mapping with more than __include__ is an ordinary dict value
    "a.x: {__include__: x.yaml}\na.y: [{__include__: x.yaml, other: 1}]\n",
    # KWDagger's: the pipeline inline, and top-level slurm_options in every top-level form
    "pipeline: {nodes: {a: {executable: echo}}}\na.x: 1\n",
    "slurm_options: {cpus: 2, mem: 8G}\nmatrix: {a.x: [1, 2]}\n",
    "slurm_options: {partition: gpu}\na.x: 1\n",
    "slurm_options: {cpus: 1}\nmatrices:\n  - matrix: {a.x: [1, 2]}\n",
]

INVALID = [
    "matrix: {a.x: 1}\nfoo: bar\n",  # unknown key next to matrix
    "a.x: 1\nfoo: 1\n",  # bare key without a dot
    "matrx: {a.x: 1}\n",  # misspelt matrix
    "matrix: [1, 2]\n",  # matrix not a mapping
    "matrix: {a.x: 1}\ninclude: {a.y: 1}\n",  # include not a list
    "matrix: {a.x: 1}\nexclude: [{}]\n",  # empty exclude entry
    "pipeline: 3\na.x: 1\n",  # pipeline not a string
    "- matrix: {a.x: 1}\n  slurm_options: {cpus: 1}\n",  # slurm_options is top level only
    "slurm_options: 3\na.x: 1\n",  # slurm_options not a mapping
    "matrices: {a.x: 1}\n",  # matrices not a list
    "matrices: [{a.x: 1}]\nmatrix: {a.x: 2}\n",  # matrices mixed with matrix
    "a.x: [{__include__: 3}]\n",  # include directive needs a path
    "a.x: {__include__: [1]}\n",
    "{}",  # nothing to run
    "[]",
    "42",
]


@pytest.mark.parametrize("text", VALID)
def test_valid_specs_pass(validator, text):
    validator.validate(yaml.safe_load(text))


@pytest.mark.parametrize("text", INVALID)
def test_invalid_specs_fail(validator, text):
    assert list(validator.iter_errors(yaml.safe_load(text)))


@pytest.mark.parametrize("text", INVALID)
def test_schema_rejections_are_params_errors(text):
    # Everything the schema rejects, expansion rejects too.
    with pytest.raises(ParamsError):
        expand_matrix(text)


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.yaml")), ids=lambda p: p.name)
def test_scenario_files_are_valid(validator, path):
    validator.validate(yaml.safe_load(path.read_text(encoding="utf-8")))


def test_every_key_is_documented():
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"] and schema["description"]
    for name in ["pipeline", "topSlurmOptions", "topSpec", "topBare", "include", "exclude", "submatrices", "axis", "matrixBody",
                 "spec", "bare", "specList", "matricesForm", "includeDirective"]:
        assert schema["$defs"][name].get("description"), name
