"""One node, as in KWDagger's ollama benchmark tutorial: the matrix also sets keys the node does not declare.

``bench.concurrency`` and ``bench.notes`` are not declared: KWDagger passes them on
the command line and hashes them like algo params.
"""
from pathlib import Path

import kwdagger

HERE = Path(__file__).resolve().parent


class Bench(kwdagger.ProcessNode):
    name = "bench"
    executable = f"python {HERE}/bench.py"
    out_paths = {"dst_fpath": "bench.json", "dst_dpath": "."}
    primary_out_key = "dst_fpath"
    algo_params = {"model": "small", "cold_reset_cmd": None}
    perf_params = {"repeats": 1}

    def load_result(self, node_dpath):
        import json
        from kwdagger.aggregate_loader import new_process_context_parser
        from kwdagger.utils import util_dotdict
        data = json.loads((node_dpath / self.out_paths[self.primary_out_key]).read_text())
        nest = new_process_context_parser(data["info"][-1])
        nest["metrics"] = data["result"]["metrics"]
        return util_dotdict.DotDict.from_nested(nest).insert_prefix(self.name, index=1)

    def default_metrics(self):
        return [{"metric": "throughput", "objective": "maximize", "primary": True, "display": True},
                {"metric": "latency", "objective": "minimize", "display": True}]


def bench_pipeline():
    return kwdagger.Pipeline([Bench()])
