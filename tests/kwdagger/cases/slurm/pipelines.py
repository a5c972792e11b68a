"""Slurm options at every layer KWDagger has (they matter only under --backend=slurm)."""
from pathlib import Path

import kwdagger

HERE = Path(__file__).resolve().parent


class Prep(kwdagger.ProcessNode):
    name = "prep"
    executable = f"python {HERE}/prep.py"
    in_paths = {"src_fpath"}
    out_paths = {"prepared_fpath": "prepared.json"}
    algo_params = {"clip": 100.0}


class Infer(kwdagger.ProcessNode):
    name = "infer"
    executable = f"python {HERE}/infer.py"
    in_paths = {"input_fpath"}
    out_paths = {"summary_fpath": "summary.json"}
    algo_params = {"power": 1.0}
    perf_params = {"device": "auto"}
    # the node's own layer
    slurm_options = {"time": "00:15:00", "cpus": 1, "mem": "1GB", "constraint": "fast"}

    def load_result(self, node_dpath):
        import json
        from kwdagger.aggregate_loader import new_process_context_parser
        from kwdagger.utils import util_dotdict
        data = json.loads((node_dpath / self.out_paths[self.primary_out_key]).read_text())
        nest = new_process_context_parser(data["info"][-1])
        nest["metrics"] = data["result"]["metrics"]
        return util_dotdict.DotDict.from_nested(nest).insert_prefix(self.name, index=1)

    def default_metrics(self):
        return [{"metric": "mean", "objective": "minimize", "primary": True, "display": True}]


def build_pipeline():
    prep, infer = Prep(), Infer()
    prep.outputs["prepared_fpath"].connect(infer.inputs["input_fpath"])
    return kwdagger.Pipeline([prep, infer])
