"""shard[seed, fold] --gather(group_by=[seed], order_by=[fold])--> merge[seed] --gather(all)--> summary.

Referenced as 'gathering.py::build()'.  The program (this file run as a
script) writes JSON: a shard its (seed, fold), a merge the list of the shards
it read, in order, and a summary the merges it read.
"""
import json
import shlex
import sys
from pathlib import Path

HERE = Path(__file__).resolve()


def build():
    from trackdag import GatherSpec, Pipeline, ProcessNode

    exe = f"{shlex.quote(sys.executable)} {shlex.quote(str(HERE))}"
    shard = ProcessNode(name="shard", executable=f"{exe} shard", out_paths={"out_fpath": "shard.json"},
                        algo_params={"seed": 0, "fold": 0, "fail": False})
    merge = ProcessNode(name="merge", executable=f"{exe} merge", in_paths={"shards_fpath"},
                        out_paths={"merged_fpath": "merged.json"}, algo_params={"seed": 0},
                        default_metrics=[{"metric": "n_shards", "objective": "maximize", "primary": True}])
    summary = ProcessNode(name="summary", executable=f"{exe} summary", in_paths={"merged_list_fpath"},
                          out_paths={"summary_fpath": "summary.json"})
    shard.outputs["out_fpath"].connect(merge.inputs["shards_fpath"],
                                       gather=GatherSpec(group_by=["seed"], order_by=["fold"]))
    shard.param_ports["seed"].connect(merge.param_ports["seed"])
    merge.outputs["merged_fpath"].connect(summary.inputs["merged_list_fpath"],
                                          gather={"group_by": [], "order_by": ["merge.seed"]})
    return Pipeline([shard, merge, summary])


def main(argv):
    stage, args = argv[0], dict(a[2:].split("=", 1) for a in argv[1:])
    if stage == "shard":
        if args["fail"] == "True":
            sys.exit(3)
        out = {"seed": int(args["seed"]), "fold": int(args["fold"])}
        Path(args["out_fpath"]).write_text(json.dumps(out))
    elif stage == "merge":
        paths = Path(args["shards_fpath"]).read_text().split()
        shards = [json.loads(Path(p).read_text()) for p in paths]
        Path(args["merged_fpath"]).write_text(json.dumps({"shards": shards, "n_shards": len(shards)}))
    else:
        paths = Path(args["merged_list_fpath"]).read_text().split()
        merges = [json.loads(Path(p).read_text()) for p in paths]
        Path(args["summary_fpath"]).write_text(json.dumps({"seeds": [m["shards"][0]["seed"] for m in merges]}))


if __name__ == "__main__":
    main(sys.argv[1:])
