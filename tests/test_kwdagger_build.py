"""KWDagger's ways of building a pipeline: ``node.connect(node)``, ``port.connect(node)``.

The real-KWDagger side is in ``tests/kwdagger/test_ports.py`` (the same files
under both tools); here, what trackdag makes of them, run for real.
"""
from __future__ import annotations

import pytest

from trackdag.node import ProcessNode
from trackdag.pipeline import Pipeline
from trackdag.plan import plan


def node(name, in_paths=(), out_paths=None, **kw):
    return ProcessNode(name=name, executable="cat", in_paths=set(in_paths), out_paths=out_paths or {}, **kw)


def test_a_node_connects_its_outputs_to_the_inputs_of_the_same_name(tmp_path):
    src = node("src", out_paths={"beta": "b.txt", "alpha": "a.txt", "private": "p.txt"})
    dst = node("dst", in_paths={"alpha", "beta", "unrelated"}, out_paths={"out": "o.txt"})
    assert src.connect(dst) is src
    src.connect(dst)   # twice: still one edge per pair
    assert [p.key for p in dst.inputs["alpha"].pred] == ["src.alpha"]
    assert [p.key for p in dst.inputs["beta"].pred] == ["src.beta"]
    assert dst.inputs["unrelated"].pred == [] and src.outputs["private"].succ == []
    assert src.outputs["alpha"].succ == [dst.inputs["alpha"]]
    p = plan(Pipeline([src, dst]), [{"dst.unrelated": "/data/u"}], tmp_path)
    [s] = [j for j in p.jobs.values() if j.node == "src"]
    [d] = [j for j in p.jobs.values() if j.node == "dst"]
    assert d.parents == (s.job_id,)
    assert d.inputs == {"alpha": s.outputs["alpha"], "beta": s.outputs["beta"], "unrelated": "/data/u"}
    assert d.command.count("--alpha=") == 1


def test_one_side_may_be_a_port():
    src = node("src", out_paths={"shared": "a.txt", "other": "b.txt"})
    dst = node("dst", in_paths={"shared"})
    src.connect(dst.inputs["shared"])
    assert [p.key for p in dst.inputs["shared"].pred] == ["src.shared"]
    src2 = node("src2", out_paths={"shared": "a.txt"})
    dst2 = node("dst2", in_paths={"shared", "other"})
    assert src2.outputs["shared"].connect(dst2) is src2.outputs["shared"]
    assert [p.key for p in dst2.inputs["shared"].pred] == ["src2.shared"] and dst2.inputs["other"].pred == []
    Pipeline([src, dst])
    Pipeline([src2, dst2])


def test_no_shared_name_is_an_error_naming_both_sides_and_connects_nothing():
    src = node("src", out_paths={"shared": "a.txt"})
    good = node("good", in_paths={"shared"})
    bad = node("bad", in_paths={"only_in"})
    with pytest.raises(ValueError) as info:
        src.connect(good, bad)
    assert str(info.value) == ("cannot connect 'src' to 'bad': they share no port name ('src' offers ['shared'], "
                               "'bad' takes ['only_in']); connect ports named differently explicitly: "
                               "a.outputs[...].connect(b.inputs[...])")
    assert good.inputs["shared"].pred == [] and src.outputs["shared"].succ == []
