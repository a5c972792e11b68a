"""Pipelines built the ways KWDagger's own tests build them (our shapes, not their code).

Each is run by both tools (``tests/kwdagger/test_ports.py``): node-level
connections, an input with no value in a row, params naming nothing, a
gathered input forwarded to another node, an input forwarded within its node.
"""
from pathlib import Path

from kwdagger import GatherSpec, Pipeline, ProcessNode

HERE = Path(__file__).resolve().parent
TOUCH = f"python {HERE}/touch.py"


def node(name, **kw):
    return ProcessNode(name=name, executable=TOUCH, **kw)


def peers():
    """Two peers forwarding their input to a consumer; each row sets one peer (the other has no value)."""
    left = node("left", in_paths={"data_fpath"}, out_paths={"left_fpath": "left.txt"})
    right = node("right", in_paths={"data_fpath"}, out_paths={"right_fpath": "right.txt"})
    consumer = node("consumer", in_paths={"data_fpath"}, out_paths={"out_fpath": "consumer.txt"},
                    algo_params={"thresh": 0.5})
    left.inputs["data_fpath"].connect(consumer.inputs["data_fpath"])
    right.inputs["data_fpath"].connect(consumer.inputs["data_fpath"])
    return Pipeline([left, right, consumer])


def wired():
    """Node-level connections, by name; every value has a default, so the params name nothing."""
    prep = node("prep", out_paths={"train_fpath": "train.txt", "test_fpath": "test.txt", "log_fpath": "log.txt"},
                algo_params={"seed": 0})
    fit = node("fit", in_paths={"test_fpath", "train_fpath"}, out_paths={"model_fpath": "model.txt"})
    score = node("score", in_paths={"model_fpath", "test_fpath", "test_copy"}, out_paths={"score_fpath": "s.txt"})
    prep.connect(fit)
    prep.connect(fit)   # twice: one edge
    fit.connect(score)
    prep.outputs["test_fpath"].connect(score)
    score.inputs["test_fpath"].connect(score.inputs["test_copy"])   # forwarded within its own node
    return Pipeline([prep, fit, score])


def audited():
    """A gathered input forwarded to another node, which reads the manifest."""
    shard = node("shard", out_paths={"part_fpath": "part.txt"}, algo_params={"dataset": "a", "fold": 0})
    merge = node("merge", in_paths={"parts_fpath"}, out_paths={"merged_fpath": "merged.txt"},
                 algo_params={"dataset": "a"})
    audit = node("audit", in_paths={"parts_fpath"}, out_paths={"audit_fpath": "audit.txt"})
    shard.outputs["part_fpath"].connect(merge.inputs["parts_fpath"],
                                        gather=GatherSpec(group_by=["dataset"], order_by=["fold"]))
    merge.inputs["parts_fpath"].connect(audit.inputs["parts_fpath"])
    return Pipeline([shard, merge, audit])
