"""The pipeline a new user writes first (issue 8): train -> evaluate, no load_result, no default_metrics.

``write_project(folder)`` puts ``train.py``, ``evaluate.py``, ``pipe.py``
and ``params.yaml`` (3 learning rates written 1e-3/1e-2/1e-1 x 2 seeds) in
``folder``; the pipeline is ``pipe.py::make()``.  ``train`` writes its model
as JSON ({lr, seed, w}), which is *not* a result; ``evaluate`` writes
{acc, loss}.
"""
from pathlib import Path

TRAIN = '''import argparse, json
p = argparse.ArgumentParser()
p.add_argument("--lr", type=float); p.add_argument("--seed", type=int); p.add_argument("--model_fpath")
a = p.parse_args()
json.dump({"lr": a.lr, "seed": a.seed, "w": a.lr * 10 + a.seed}, open(a.model_fpath, "w"))
'''
EVALUATE = '''import argparse, json
p = argparse.ArgumentParser()
p.add_argument("--model_fpath"); p.add_argument("--out_fpath")
a = p.parse_args()
m = json.load(open(a.model_fpath))
json.dump({"acc": 1 - abs(m["lr"] - 0.01) - m["seed"] * 0.01, "loss": m["lr"] + m["seed"]}, open(a.out_fpath, "w"))
'''
PIPE = '''import sys
from trackdag import Pipeline, ProcessNode


class Train(ProcessNode):
    name = "train"
    executable = f"{sys.executable} train.py"       # a relative program path
    out_paths = {"model_fpath": "model.json"}
    algo_params = {"lr": 0.1, "seed": 0}


class Evaluate(ProcessNode):
    name = "evaluate"
    executable = f"{sys.executable} evaluate.py"
    in_paths = {"model_fpath"}
    out_paths = {"out_fpath": "metrics.json"}


def make():
    train, evaluate = Train(), Evaluate()
    train.outputs["model_fpath"].connect(evaluate.inputs["model_fpath"])
    return Pipeline([train, evaluate])
'''
PARAMS = '''pipeline: pipe.py::make()
matrix:
  train.lr: [1e-3, 1e-2, 1e-1]
  train.seed: [0, 1]
'''


def write_project(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in (("train.py", TRAIN), ("evaluate.py", EVALUATE), ("pipe.py", PIPE),
                       ("params.yaml", PARAMS)):
        (folder / name).write_text(text)
    return folder
