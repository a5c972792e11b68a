"""KWDagger's demo pipeline (``kwdagger.demo.demodata``), written for trackdag.

The same two nodes, the same names, ports, params and wiring as KWDagger
0.4.1's demo, so a script that imported ``kwdagger.demo.demodata`` runs after
its import line is ported:

- ``stage1_predict`` (``src_fpath`` -> ``stage1_prediction.json``, algo
  param ``param1``, perf param ``workers``) "predicts" a digest of
  ``param1`` and the input text;
- ``stage1_evaluate`` (``true_fpath``, ``pred_fpath`` ->
  ``stage1_evaluation.json``) scores it: ``accuracy`` (maximize) and
  ``hamming_distance`` (minimize), both primary.

Both programs are this module's command line (``python -m
trackdag.compat.kwdagger.demo.demodata stage1_predict --src_fpath=...``),
standard library only; each writes ``{"info": [<process record>], "result":
...}`` as KWDagger's tutorial programs do, so the ``load_result`` methods use
:func:`~trackdag.compat.kwdagger.aggregate_loader.new_process_context_parser`
and :class:`~trackdag.compat.kwdagger.utils.util_dotdict.DotDict` like a
KWDagger user's.  The digests are trackdag's own (SHA-256), so the metric
values differ from KWDagger's; the ranking logic does not.

Also here: :func:`demodata_pipeline` (KWDagger's ``Pipeline.demo()``: four
nodes over three small scripts written to a folder), and
:func:`run_demo_schedule` / :func:`run_demo_aggregate`, the demo run as a
function.

Example:
    >>> dag = my_demo_pipeline()
    >>> sorted(dag.node_dict)
    ['stage1_evaluate', 'stage1_predict']
    >>> dag.node_dict['stage1_evaluate'].primary_out_key
    'out_fpath'
"""
from __future__ import annotations

import argparse
import getpass
import hashlib
import json
import os
import platform
import shlex
import socket
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from ....node import ProcessNode
from ....pipeline import Pipeline
from ..aggregate_loader import new_process_context_parser
from ..utils.util_dotdict import DotDict

_PROGRAM = f"{shlex.quote(sys.executable)} -m trackdag.compat.kwdagger.demo.demodata"


# --- the programs -----------------------------------------------------------------------------

def process_record(name: str, config: dict[str, Any], started: float) -> dict[str, Any]:
    """A record of one process run, in the shape KWDagger's context parser reads."""
    stop = time.time()
    stamp = lambda t: time.strftime("%Y-%m-%dT%H%M%S+0", time.gmtime(t))  # noqa: E731
    return {"type": "process", "properties": {
        "name": name, "args": sys.argv, "config": config, "uuid": str(uuid.uuid4()), "extra": {},
        "start_timestamp": stamp(started), "stop_timestamp": stamp(stop),
        "duration": f"0:00:{stop - started:09.6f}",
        "machine": {"host": socket.gethostname(), "user": getpass.getuser(), "cwd": os.getcwd(),
                    "cpu_brand": None, "os_name": platform.system(), "py_version": platform.python_version()}}}


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _write(path: str, data: dict[str, Any]) -> None:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data))
    print(f"wrote {out}")


def stage1_predict(src_fpath: str, dst_fpath: str, dst_dpath: str | None = None, param1: Any = None,
                   workers: int = 0) -> None:
    started, config = time.time(), dict(src_fpath=src_fpath, dst_fpath=dst_fpath, dst_dpath=dst_dpath,
                                        param1=param1, workers=workers)
    text = Path(src_fpath).read_text()
    _write(dst_fpath, {"info": [process_record("stage1_predict", config, started)],
                       "result": _digest(f"{param1}{text}")})


def stage1_evaluate(true_fpath: str, pred_fpath: str, out_fpath: str, workers: int = 0) -> None:
    started, config = time.time(), dict(true_fpath=true_fpath, pred_fpath=pred_fpath, out_fpath=out_fpath,
                                        workers=workers)
    true_hex, pred_hex = _digest(Path(true_fpath).read_text()), _digest(Path(pred_fpath).read_text())
    distance = bin(int(true_hex, 16) ^ int(pred_hex, 16)).count("1")
    size = len(true_hex) * 4
    metrics = {"accuracy": (size - distance) / size, "hamming_distance": distance}
    _write(out_fpath, {"info": [process_record("stage1_evaluate", config, started)], "result": metrics})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m trackdag.compat.kwdagger.demo.demodata")
    modes = parser.add_subparsers(dest="mode", required=True)
    predict = modes.add_parser("stage1_predict")
    for key in ("src_fpath", "dst_fpath"):
        predict.add_argument(f"--{key}", required=True)
    predict.add_argument("--dst_dpath")
    predict.add_argument("--param1")
    predict.add_argument("--workers", type=int, default=0)
    evaluate = modes.add_parser("stage1_evaluate")
    for key in ("true_fpath", "pred_fpath", "out_fpath"):
        evaluate.add_argument(f"--{key}", required=True)
    evaluate.add_argument("--workers", type=int, default=0)
    args = vars(parser.parse_args(argv))
    {"stage1_predict": stage1_predict, "stage1_evaluate": stage1_evaluate}[args.pop("mode")](**args)


# --- the pipeline -----------------------------------------------------------------------------

def _load(node: ProcessNode, node_dpath: Path, metrics: bool) -> DotDict:
    data = json.loads((Path(node_dpath) / node.out_paths[node.primary_out_key]).read_text())
    nest = new_process_context_parser(data["info"][-1])
    if metrics:
        nest["metrics"] = data["result"]
    return DotDict.from_nested(nest).insert_prefix(node.name, index=1)


class Stage1_Predict(ProcessNode):
    name = "stage1_predict"
    executable = f"{_PROGRAM} stage1_predict"
    in_paths = {"src_fpath"}
    out_paths = {"dst_fpath": "stage1_prediction.json", "dst_dpath": "."}
    primary_out_key = "dst_fpath"
    algo_params = {"param1": 1}
    perf_params = {"workers": 0}

    def load_result(self, node_dpath: Path) -> DotDict:
        return _load(self, node_dpath, metrics=False)


class Stage1_Evaluate(ProcessNode):
    name = "stage1_evaluate"
    executable = f"{_PROGRAM} stage1_evaluate"
    in_paths = {"true_fpath", "pred_fpath"}
    out_paths = {"out_fpath": "stage1_evaluation.json"}
    algo_params: dict[str, Any] = {}
    perf_params = {"workers": 0}

    def load_result(self, node_dpath: Path) -> DotDict:
        return _load(self, node_dpath, metrics=True)

    def default_metrics(self) -> list[dict[str, Any]]:
        return [{"metric": "accuracy", "objective": "maximize", "primary": True, "display": True},
                {"metric": "hamming_distance", "objective": "minimize", "primary": True, "display": True}]

    @property
    def default_vantage_points(self) -> list[dict[str, Any]]:
        return [{"metric1": "metrics.stage1_evaluate.accuracy",
                 "metric2": "metrics.stage1_evaluate.hamming_distance"}]


def my_demo_pipeline() -> Pipeline:
    """stage1_predict -> stage1_evaluate; evaluate's truth is predict's input (KWDagger's demo)."""
    predict, evaluate = Stage1_Predict(), Stage1_Evaluate()
    predict.outputs["dst_fpath"].connect(evaluate.inputs["pred_fpath"])
    predict.inputs["src_fpath"].connect(evaluate.inputs["true_fpath"])
    dag = Pipeline([predict, evaluate])
    dag.build_nx_graphs()
    return dag


_SCRIPTS = {
    # name: (inputs, outputs, algo param): an output is its input's text plus the param; with two
    # inputs and one output, the first input's text, the param, the second's
    "demo_script1.py": (["src"], ["dst"], "algo_param1"),
    "demo_script2.py": (["src1", "src2"], ["dst1", "dst2"], "algo_param2"),
    "demo_script3.py": (["src1", "src2"], ["dst"], "algo_param3"),
}


def _script(inputs: list[str], outputs: list[str], param: str) -> str:
    perf = "perf_param" + param[-1]
    lines = ["import argparse", "from pathlib import Path", "p = argparse.ArgumentParser()"]
    lines += [f"p.add_argument('--{k}', required=True)" for k in inputs + outputs]
    lines += [f"p.add_argument('--{param}', default='')", f"p.add_argument('--{perf}', default='')",
              "a = p.parse_args()"]
    if len(outputs) == 2:
        lines += [f"Path(a.{o}).parent.mkdir(parents=True, exist_ok=True)\n"
                  f"Path(a.{o}).write_text(Path(a.{i}).read_text() + a.{param})" for i, o in zip(inputs, outputs)]
    else:
        texts = [f"Path(a.{i}).read_text()" for i in inputs]
        body = f" + a.{param} + ".join(texts) if len(texts) > 1 else f"{texts[0]} + a.{param}"
        lines += [f"Path(a.{outputs[0]}).parent.mkdir(parents=True, exist_ok=True)",
                  f"Path(a.{outputs[0]}).write_text({body})"]
    return "\n".join(lines) + "\n"


def demodata_pipeline(dpath: "str | os.PathLike | None" = None) -> Pipeline:
    """KWDagger's ``Pipeline.demo()``: A1, A2 -> B1 -> C1 over three tiny scripts written into ``dpath/src``.

    ``dpath`` (default: a fresh temporary folder) also gets ``inputs/input1.txt``
    and ``inputs/input2.txt``; a matrix sets ``node_A1.src`` / ``node_A2.src``.
    """
    import tempfile

    root = Path(dpath) if dpath is not None else Path(tempfile.mkdtemp(prefix="trackdag-demo-"))
    (root / "src").mkdir(parents=True, exist_ok=True)
    (root / "inputs").mkdir(parents=True, exist_ok=True)
    for name, shape in _SCRIPTS.items():
        (root / "src" / name).write_text(_script(*shape))
    (root / "inputs" / "input1.txt").write_text("spam")
    (root / "inputs" / "input2.txt").write_text("eggs")
    run = lambda name: f"{shlex.quote(sys.executable)} {shlex.quote(str(root / 'src' / name))}"  # noqa: E731
    a1 = ProcessNode(name="node_A1", in_paths={"src"}, algo_params={"algo_param1": ""},
                     perf_params={"perf_param1": ""}, out_paths={"dst": "out.txt"}, executable=run("demo_script1.py"))
    a2 = ProcessNode(name="node_A2", in_paths={"src"}, algo_params={"algo_param1": ""},
                     perf_params={"perf_param1": ""}, out_paths={"dst": "out.txt"}, executable=run("demo_script1.py"))
    b1 = ProcessNode(name="node_B1", in_paths={"src1", "src2"}, algo_params={"algo_param2": ""},
                     perf_params={"perf_param2": ""}, out_paths={"dst1": "out1.txt", "dst2": "out2.txt"},
                     executable=run("demo_script2.py"))
    c1 = ProcessNode(name="node_C1", in_paths={"src1", "src2"}, algo_params={"algo_param3": ""},
                     perf_params={"perf_param3": ""}, out_paths={"dst": "out.txt"}, executable=run("demo_script3.py"))
    a1.outputs["dst"].connect(b1.inputs["src1"])
    a2.outputs["dst"].connect(b1.inputs["src2"])
    a2.inputs["src"].connect(c1.inputs["src1"])
    b1.outputs["dst1"].connect(c1.inputs["src2"])
    return Pipeline([a1, a2, b1, c1])


DEMO_MATRIX = {"stage1_predict.param1": [123, 456, 33], "stage1_evaluate.workers": 4}


def run_demo_schedule(root_dpath: "str | os.PathLike | None" = None, backend: str = "serial") -> dict[str, Any]:
    """The demo sweep (3 values of param1 x 2 input files), run; returns the pipeline ref and the root."""
    from ..schedule import schedule

    root = Path(root_dpath) if root_dpath is not None else Path.home() / ".cache" / "trackdag" / "kwdagger-demo1"
    root.mkdir(parents=True, exist_ok=True)
    files = [root / "file1.txt", root / "file2.txt"]
    for path, text in zip(files, ("data1", "data2")):
        path.write_text(text)
    ref = "trackdag.compat.kwdagger.demo.demodata.my_demo_pipeline()"
    params = {"pipeline": ref, "matrix": {**DEMO_MATRIX, "stage1_predict.src_fpath": [str(f) for f in files]}}
    schedule(params=params, root_dpath=str(root), backend=backend, skip_existing=1, run=1)
    return {"pipeline": ref, "eval_dpath": root}


def run_demo_aggregate(root_dpath: "str | os.PathLike | None" = None) -> str:
    """The demo's report (what ``kwdagger aggregate`` printed for it); returns the text."""
    from ..aggregate import aggregate

    root = Path(root_dpath) if root_dpath is not None else Path.home() / ".cache" / "trackdag" / "kwdagger-demo1"
    return aggregate(targets=[str(root)], pipeline="trackdag.compat.kwdagger.demo.demodata.my_demo_pipeline()",
                     eval_nodes=["stage1_evaluate"], stdout_report={"top_k": 100, "concise": 1})


if __name__ == "__main__":
    main()
