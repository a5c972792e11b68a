"""The pipeline: predict -> evaluate.  Edit the nodes, then `trackdag run --params params.yaml`.

Programs are run from each job's own folder; the relative paths below
(`predict.py`) are found next to this file and made absolute when planned.
"""
from trackdag import Pipeline, ProcessNode


class Predict(ProcessNode):
    name = "predict"
    executable = "python predict.py"
    in_paths = {"src_fpath"}
    out_paths = {"dst_fpath": "preds.json"}       # relative to the job folder
    algo_params = {"scale": 1.0, "offset": 0.0}   # enter the job id
    perf_params = {"workers": 0}                  # never enter the job id


class Evaluate(ProcessNode):
    name = "evaluate"
    executable = "python evaluate.py"
    in_paths = {"pred_fpath", "true_fpath"}
    out_paths = {"out_fpath": "metrics.json"}

    def default_metrics(self):
        return [{"metric": "score", "objective": "maximize", "primary": True, "display": True},
                {"metric": "mae", "objective": "minimize", "display": True}]


def build() -> Pipeline:
    predict, evaluate = Predict(), Evaluate()
    predict.outputs["dst_fpath"].connect(evaluate.inputs["pred_fpath"])   # evaluate waits for predict
    predict.inputs["src_fpath"].connect(evaluate.inputs["true_fpath"])    # and reads the same input
    return Pipeline([predict, evaluate])
