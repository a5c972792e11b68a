"""A KWDagger 0.4.1 two-stage pipeline, as a KWDagger user writes it (the tests port its imports).

predict -> evaluate; the evaluate node also reads predict's source (an
input -> input connection); both load_results follow KWDagger's tutorial
pattern (new_process_context_parser, DotDict.from_nested(...).insert_prefix).
"""
from pathlib import Path

import kwdagger

HERE = Path(__file__).resolve().parent


def _load(node, node_dpath, with_metrics):
    import json
    from kwdagger.aggregate_loader import new_process_context_parser
    from kwdagger.utils import util_dotdict
    data = json.loads((node_dpath / node.out_paths[node.primary_out_key]).read_text())
    nest = new_process_context_parser(data["info"][-1])
    if with_metrics:
        nest["metrics"] = data["result"]["metrics"]
    flat = util_dotdict.DotDict.from_nested(nest)
    return flat.insert_prefix(node.name, index=1)


class ToyPredict(kwdagger.ProcessNode):
    name = "toy_predict"
    executable = f"python {HERE}/predict.py"
    in_paths = {"src_fpath"}
    out_paths = {"dst_fpath": "preds.json"}
    primary_out_key = "dst_fpath"
    algo_params = {"scale": 1.0, "offset": 0.0}
    perf_params = {"workers": 0}

    def load_result(self, node_dpath):
        return _load(self, node_dpath, with_metrics=False)


class ToyEvaluate(kwdagger.ProcessNode):
    name = "toy_evaluate"
    executable = f"python {HERE}/evaluate.py"
    in_paths = {"pred_fpath", "true_fpath"}
    out_paths = {"out_fpath": "metrics.json"}
    primary_out_key = "out_fpath"
    perf_params = {"workers": 0}

    def load_result(self, node_dpath):
        return _load(self, node_dpath, with_metrics=True)

    def default_metrics(self):
        return [
            {"metric": "score", "objective": "maximize", "primary": True, "display": True},
            {"metric": "mae", "objective": "minimize", "display": True},
        ]

    @property
    def default_vantage_points(self):
        return [{"metric1": "metrics.toy_evaluate.score", "metric2": "metrics.toy_evaluate.mae"}]


class ToyEvaluateNoMetrics(ToyEvaluate):
    """The same node without default_metrics: ranking follows load_result's key order."""
    default_metrics = None


def make_pipeline(with_metrics=True):
    pred = ToyPredict()
    evaluate = ToyEvaluate() if with_metrics else ToyEvaluateNoMetrics()
    pred.outputs["dst_fpath"].connect(evaluate.inputs["pred_fpath"])
    pred.inputs["src_fpath"].connect(evaluate.inputs["true_fpath"])
    dag = kwdagger.Pipeline([pred, evaluate])
    dag.build_nx_graphs()
    return dag
