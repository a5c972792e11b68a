"""The demo pipeline: ``stage1_predict`` -> ``stage1_evaluate``.

This is the example trackdag was born from, written with trackdag's
KWDagger-compatible API.  The same file is both the pipeline definition
(``my_demo_pipeline()``) and the two programs the jobs run
(``python -m example_user_module.pipelines stage1_predict|stage1_evaluate``).

- ``stage1_predict`` reads ``src_fpath`` and writes 512 predicted bits,
  derived from ``param1`` and the file's text, to ``stage1_prediction.json``.
- ``stage1_evaluate`` compares them with 512 "true" bits derived from the
  text alone and writes ``accuracy`` and ``hamming_distance`` to
  ``stage1_evaluation.json``.

Both are deterministic: the same inputs always give the same numbers.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import shlex
import sys
from pathlib import Path

NUM_BITS = 512


def _bits(seed_text: str) -> list[int]:
    """NUM_BITS pseudo-random bits expanded from a SHA-256 chain of ``seed_text``."""
    bits: list[int] = []
    block = seed_text.encode("utf-8")
    while len(bits) < NUM_BITS:
        block = hashlib.sha256(block).digest()
        for byte in block:
            bits.extend((byte >> i) & 1 for i in range(8))
    return bits[:NUM_BITS]


def my_demo_pipeline():
    """The pipeline referenced as 'example_user_module.pipelines.my_demo_pipeline()'."""
    from trackdag import Pipeline, ProcessNode

    python = shlex.quote(sys.executable)

    class Stage1Predict(ProcessNode):
        name = "stage1_predict"
        executable = f"{python} -m example_user_module.pipelines stage1_predict"
        in_paths = {"src_fpath"}
        out_paths = {"dst_fpath": "stage1_prediction.json", "dst_dpath": "."}
        primary_out_key = "dst_fpath"
        algo_params = {"param1": 1}
        perf_params = {"workers": 0}

    class Stage1Evaluate(ProcessNode):
        name = "stage1_evaluate"
        executable = f"{python} -m example_user_module.pipelines stage1_evaluate"
        in_paths = {"true_fpath", "pred_fpath"}
        out_paths = {"out_fpath": "stage1_evaluation.json"}
        primary_out_key = "out_fpath"
        perf_params = {"workers": 0}

        def load_result(self, node_dpath):
            data = json.loads((Path(node_dpath) / "stage1_evaluation.json").read_text())
            return {f"metrics.stage1_evaluate.{k}": v for k, v in data.items()}

        def default_metrics(self):
            return [
                {"metric": "accuracy", "objective": "maximize", "primary": True, "display": True},
                {"metric": "hamming_distance", "objective": "minimize", "primary": True, "display": True},
            ]

        default_vantage_points = [{"metric1": "accuracy", "metric2": "hamming_distance"}]

    predict = Stage1Predict()
    evaluate = Stage1Evaluate()
    predict.outputs["dst_fpath"].connect(evaluate.inputs["pred_fpath"])
    predict.inputs["src_fpath"].connect(evaluate.inputs["true_fpath"])
    return Pipeline([predict, evaluate])


def stage1_predict(src_fpath: str, dst_fpath: str, param1: str, **_: str) -> None:
    text = Path(src_fpath).read_text()
    prediction = {"param1": param1, "bits": _bits(f"{param1}:{text}")}
    Path(dst_fpath).write_text(json.dumps(prediction))


def stage1_evaluate(true_fpath: str, pred_fpath: str, out_fpath: str, **_: str) -> None:
    truth = _bits(Path(true_fpath).read_text())
    predicted = json.loads(Path(pred_fpath).read_text())["bits"]
    hamming = sum(t != p for t, p in zip(truth, predicted))
    result = {"accuracy": 1 - hamming / NUM_BITS, "hamming_distance": hamming}
    Path(out_fpath).write_text(json.dumps(result))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="example_user_module.pipelines")
    parser.add_argument("stage", choices=["stage1_predict", "stage1_evaluate"])
    known, rest = parser.parse_known_args(argv)
    kwargs = {}
    for arg in rest:  # every argument arrives as --key=value
        key, _, value = arg.removeprefix("--").partition("=")
        kwargs[key] = value
    {"stage1_predict": stage1_predict, "stage1_evaluate": stage1_evaluate}[known.stage](**kwargs)


if __name__ == "__main__":
    main()
