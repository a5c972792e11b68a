"""KWDagger nodes whose groups come from config classes (``params = SomeConfig``).

count_kw: a kwconf.Config class; count_scfg: a scriptconfig.DataConfig class;
count_override: a kwconf.Config *instance* (its values are the defaults) plus
explicit class attributes, which win over the derived groups.  count_scfg and
count_override read count_kw's source (input -> input).
"""
from pathlib import Path

import kwdagger

from configs import CountCLI, CountScfgCLI

HERE = Path(__file__).resolve().parent


def _load(node, node_dpath):
    import json
    from kwdagger.aggregate_loader import new_process_context_parser
    from kwdagger.utils import util_dotdict
    data = json.loads((node_dpath / node.out_paths[node.primary_out_key]).read_text())
    nest = new_process_context_parser(data["info"][-1])
    nest["metrics"] = data["result"]["metrics"]
    return util_dotdict.DotDict.from_nested(nest).insert_prefix(node.name, index=1)


class _Counter(kwdagger.ProcessNode):
    executable = f"python {HERE}/count.py"

    def load_result(self, node_dpath):
        return _load(self, node_dpath)

    def default_metrics(self):
        return [{"metric": "unique_ratio", "objective": "maximize", "primary": True, "display": True},
                {"metric": "n_tokens", "objective": "minimize", "display": True}]


class CountKw(_Counter):
    name = "count_kw"
    params = CountCLI


class CountScfg(_Counter):
    name = "count_scfg"
    params = CountScfgCLI


class CountOverride(_Counter):
    name = "count_override"
    params = CountCLI(minlen=4, lower=False)
    out_paths = {"dst_fpath": "explicit.json"}
    perf_params = {"workers": 2}


def make_pipeline():
    kw, sc, ov = CountKw(), CountScfg(), CountOverride()
    kw.inputs["src_fpath"].connect(sc.inputs["src_fpath"])
    kw.inputs["src_fpath"].connect(ov.inputs["src_fpath"])
    return kwdagger.Pipeline([kw, sc, ov])
