"""A pipeline referenced as 'scored.py::scored()' whose load_result lives in this file (not importable by name)."""
import json
import shlex
import sys
from pathlib import Path

from trackdag import Pipeline, ProcessNode

TOOL = Path(__file__).resolve().parents[1] / "tool.py"


def read_score(job_dpath):
    args = json.loads((Path(job_dpath) / "args.json").read_text())["args"]
    return {"metrics.score.value": float(args["p"]) * 10}


class Score(ProcessNode):
    name = "score"
    executable = f"{shlex.quote(sys.executable)} {shlex.quote(str(TOOL))}"
    out_paths = {"out": "out.json"}
    algo_params = {"p": 1}

    def load_result(self, job_dpath):  # a method of a class defined in this file, calling a function of it
        return read_score(job_dpath)


def scored():
    return Pipeline([Score()])
