"""A KWDagger 0.4.1 two-stage pipeline whose predict fails for one value (see predict.py).

``make_pipeline(strict=True)``: the evaluate node's load_result raises for a
score under 0.3 (the scale 1.0 job), to show how a broken result is recorded.
"""
from pathlib import Path

import kwdagger

HERE = Path(__file__).resolve().parent


class ToyPredict(kwdagger.ProcessNode):
    name = "toy_predict"
    executable = f"python {HERE}/predict.py"
    in_paths = {"src_fpath"}
    out_paths = {"dst_fpath": "preds.json"}
    primary_out_key = "dst_fpath"
    algo_params = {"scale": 1.0, "offset": 0.0}
    perf_params = {"workers": 0}


class ToyEvaluate(kwdagger.ProcessNode):
    name = "toy_evaluate"
    executable = f"python {HERE}/evaluate.py"
    in_paths = {"pred_fpath", "true_fpath"}
    out_paths = {"out_fpath": "metrics.json"}
    primary_out_key = "out_fpath"
    perf_params = {"workers": 0}
    strict = False

    def load_result(self, node_dpath):
        import json
        metrics = json.loads((node_dpath / self.out_paths[self.primary_out_key]).read_text())["result"]["metrics"]
        if self.strict and metrics["score"] < 0.3:
            raise ValueError(f"score {metrics['score']:.3f} is too low to be believed")
        return {f"metrics.{self.name}.{k}": v for k, v in metrics.items()}

    def default_metrics(self):
        return [{"metric": "score", "objective": "maximize", "primary": True, "display": True},
                {"metric": "mae", "objective": "minimize", "display": True}]


def make_pipeline(strict=False):
    pred, evaluate = ToyPredict(), ToyEvaluate()
    evaluate.strict = strict
    pred.outputs["dst_fpath"].connect(evaluate.inputs["pred_fpath"])
    pred.inputs["src_fpath"].connect(evaluate.inputs["true_fpath"])
    return kwdagger.Pipeline([pred, evaluate])
