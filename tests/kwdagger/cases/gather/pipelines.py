"""Gather (fan-in) pipelines, as in KWDagger's gather tutorials.

cross_validation(): train [algorithm, seed, fold] --gather by (algorithm, seed), ordered by fold-->
build_ensemble [algorithm, seed] --> evaluate [algorithm, seed, test_set].

map_reduce(): analyze_chunk [document, chunk_index] --gather by document (qualified src/dst keys,
the document wired by param_ports)--> reduce_document [document] --gather everything (group_by=[])-->
summarize.

The programs are given relative to the launch folder (``python gather_demo.py``), as in the tutorial.
"""
import kwdagger


def _load(node, node_dpath):
    import json
    from kwdagger.aggregate_loader import new_process_context_parser
    from kwdagger.utils import util_dotdict
    data = json.loads((node_dpath / node.out_paths[node.primary_out_key]).read_text())
    nest = new_process_context_parser(data["info"][-1])
    nest["metrics"] = data["result"]["metrics"]
    return util_dotdict.DotDict.from_nested(nest).insert_prefix(node.name, index=1)


class Evaluate(kwdagger.ProcessNode):
    def load_result(self, node_dpath):
        return _load(self, node_dpath)

    def default_metrics(self):
        return [{"metric": "score", "objective": "maximize", "primary": True, "display": True}]


class Summarize(kwdagger.ProcessNode):
    def load_result(self, node_dpath):
        return _load(self, node_dpath)

    def default_metrics(self):
        return [{"metric": "total_letters", "objective": "maximize", "primary": True, "display": True},
                {"metric": "num_documents", "objective": "maximize", "display": True}]


def cross_validation():
    train = kwdagger.ProcessNode(
        name="train", executable="python gather_demo.py train",
        in_paths={"data_fpath"}, out_paths={"checkpoint_fpath": "checkpoint.json"},
        algo_params={"algorithm": "linear", "seed": 0, "fold": 0})
    ensemble = kwdagger.ProcessNode(
        name="build_ensemble", executable="python gather_demo.py ensemble",
        in_paths={"checkpoints_fpath"}, out_paths={"ensemble_fpath": "ensemble.json"},
        algo_params={"algorithm": "linear", "seed": 0})
    evaluate = Evaluate(
        name="evaluate", executable="python gather_demo.py evaluate",
        in_paths={"ensemble_fpath"}, out_paths={"metrics_fpath": "metrics.json"},
        algo_params={"algorithm": "linear", "seed": 0, "test_set": "clean"})
    train.outputs["checkpoint_fpath"].connect(
        ensemble.inputs["checkpoints_fpath"],
        gather=kwdagger.GatherSpec(group_by=["algorithm", "seed"], order_by=["fold"], require="all_success"))
    ensemble.outputs["ensemble_fpath"].connect(evaluate.inputs["ensemble_fpath"])
    # a mapping, as the tutorial writes it (KWDagger 0.4 warns that the form is deprecated; the keys are ignored)
    return kwdagger.Pipeline({"train": train, "build_ensemble": ensemble, "evaluate": evaluate})


def map_reduce():
    analyze = kwdagger.ProcessNode(
        name="analyze_chunk", executable="python gather_demo.py analyze",
        in_paths={"corpus_fpath"}, out_paths={"out_fpath": "chunk.json"},
        algo_params={"document": None, "chunk_index": 0, "num_chunks": 2})
    reduce = kwdagger.ProcessNode(
        name="reduce_document", executable="python gather_demo.py reduce",
        in_paths={"chunks_fpath"}, out_paths={"out_fpath": "document.json"},
        algo_params={"document": None})
    summarize = Summarize(
        name="summarize", executable="python gather_demo.py summarize",
        in_paths={"docs_fpath"}, out_paths={"out_fpath": "summary.json"})
    analyze.param_ports["document"].connect(reduce.param_ports["document"])
    analyze.outputs["out_fpath"].connect(
        reduce.inputs["chunks_fpath"],
        gather=kwdagger.GatherSpec(
            group_by=[{"src": "analyze_chunk.document", "dst": "reduce_document.document"}],
            order_by=["analyze_chunk.chunk_index"]))
    reduce.outputs["out_fpath"].connect(summarize.inputs["docs_fpath"], gather={"group_by": []})
    return kwdagger.Pipeline([analyze, reduce, summarize])
