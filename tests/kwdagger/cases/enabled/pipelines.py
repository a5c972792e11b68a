"""predict -> evaluate, switched on and off per row with ``<node>.__enabled__``."""
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

    def load_result(self, node_dpath):
        import json
        from kwdagger.aggregate_loader import new_process_context_parser
        from kwdagger.utils import util_dotdict
        data = json.loads((node_dpath / self.out_paths[self.primary_out_key]).read_text())
        nest = new_process_context_parser(data["info"][-1])
        nest["metrics"] = data["result"]["metrics"]
        return util_dotdict.DotDict.from_nested(nest).insert_prefix(self.name, index=1)

    def default_metrics(self):
        return [{"metric": "score", "objective": "maximize", "primary": True, "display": True},
                {"metric": "mae", "objective": "minimize", "display": True}]


def make_pipeline():
    pred, evaluate = ToyPredict(), ToyEvaluate()
    pred.outputs["dst_fpath"].connect(evaluate.inputs["pred_fpath"])
    pred.inputs["src_fpath"].connect(evaluate.inputs["true_fpath"])
    return kwdagger.Pipeline([pred, evaluate])
