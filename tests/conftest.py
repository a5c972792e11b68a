"""Shared fixtures: a real tool program and small real pipelines."""
from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest

from trackdag.node import ProcessNode
from trackdag.pipeline import Pipeline

SCENARIOS = Path(__file__).parent / "scenarios"
TOOL = f"{shlex.quote(sys.executable)} {shlex.quote(str(SCENARIOS / 'tool.py'))}"


def two_stage() -> Pipeline:
    """predict(src, p, fail, workers) -> evaluate(pred, true=src forwarded, thresh)."""
    predict = ProcessNode(
        name="predict", executable=TOOL, in_paths={"src"},
        out_paths={"out_pred": "pred.json"}, algo_params={"p": 1, "fail": False},
        perf_params={"workers": 0},
    )
    evaluate = ProcessNode(
        name="evaluate", executable=TOOL, in_paths={"pred", "true"},
        out_paths={"out_eval": "eval.json"}, algo_params={"thresh": 0.5, "fail": False},
        perf_params={"workers": 0},
    )
    predict.outputs["out_pred"].connect(evaluate.inputs["pred"])
    predict.inputs["src"].connect(evaluate.inputs["true"])
    return Pipeline([predict, evaluate])


@pytest.fixture
def pipeline() -> Pipeline:
    return two_stage()


@pytest.fixture
def ledger(tmp_path, monkeypatch) -> Path:
    """A file that every real execution of tool.py appends one line to."""
    path = tmp_path / "ledger.txt"
    path.touch()
    monkeypatch.setenv("TRACKDAG_TEST_LEDGER", str(path))
    return path


@pytest.fixture
def src(tmp_path) -> Path:
    path = tmp_path / "data.txt"
    path.write_text("hello\n")
    return path


# scenario files are data for the tests, not test modules (tool.py runs on import)
collect_ignore_glob = ["scenarios/*"]
