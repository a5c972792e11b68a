"""KWDagger's ways of building a pipeline: ``node.connect(node)``, ``port.connect(node)``, ``Pipeline.submit``.

The real-KWDagger side is in ``tests/kwdagger/test_ports.py`` (the same files
under both tools); here, what trackdag makes of them, run for real.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from trackdag.errors import PipelineError
from trackdag.node import ProcessNode
from trackdag.pipeline import Pipeline
from trackdag.plan import plan

BIN = Path(sys.executable).parent


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


PIPELINES = '''
from trackdag import Pipeline


def lifecycle():
    dag = Pipeline()
    dag.submit('echo hi > node.out', name='node1')
    dag.submit('echo cmd > cmd.marker', name='bracketed', setup='echo s > setup.marker',
               teardown='echo t > teardown.marker')
    return dag
'''


def test_pipeline_submit_builds_nodes_that_run(tmp_path):
    (tmp_path / "pipelines.py").write_text(PIPELINES)
    done = subprocess.run([str(BIN / "trackdag"), "schedule", "--pipeline=pipelines.py::lifecycle()", "--params={}",
                           "--backend=serial", "--root_dpath=results", "--run=1"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300,
                          env={"PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(tmp_path), "RAY_AUTH_MODE": "disabled"})
    assert done.returncode == 0, done.stdout + done.stderr
    [one] = (tmp_path / "results" / "node1").iterdir()
    assert (one / "node.out").read_text() == "hi\n"
    [bracketed] = (tmp_path / "results" / "bracketed").iterdir()
    assert [(bracketed / f).read_text() for f in ("setup.marker", "cmd.marker", "teardown.marker")] == [
        "s\n", "cmd\n", "t\n"]


def test_submit_refuses_a_name_twice_and_a_bad_node_leaves_the_pipeline_as_it_was():
    dag = Pipeline()
    first = dag.submit("echo a", name="node1", out_paths={"o": "o.txt"})
    assert dag.nodes == {"node1": first} and dag.order == ["node1"]
    with pytest.raises(PipelineError, match="Pipeline.submit: a node named 'node1' was already submitted"):
        dag.submit("echo b", name="node1")
    with pytest.raises(PipelineError, match="out_paths\\['o'\\] = '/abs' is absolute"):
        dag.submit("echo c", name="node2", out_paths={"o": "/abs"})
    assert dag.order == ["node1"]
    dag.submit("echo c", name="node2", out_paths={"o": "o.txt"})
    assert dag.order == ["node1", "node2"]


def test_an_input_may_be_forwarded_to_another_input_of_its_own_node(tmp_path):
    n = node("node", in_paths={"src_fpath", "b_copy", "a_copy"}, out_paths={"dst": "dst.json"})
    n.inputs["src_fpath"].connect(n.inputs["b_copy"])
    n.inputs["b_copy"].connect(n.inputs["a_copy"])   # a chain inside the node, against the names' order
    p = plan(Pipeline([n]), [{"node.src_fpath": "/data/in.json"}], tmp_path)
    [job] = p.jobs.values()
    assert job.inputs == {"src_fpath": "/data/in.json", "b_copy": "/data/in.json", "a_copy": "/data/in.json"}
    assert job.parents == ()


def test_a_gathered_input_forwarded_within_its_node_is_refused():
    from trackdag.gather import GatherSpec

    shard = node("shard", out_paths={"part": "part.txt"}, algo_params={"fold": 0})
    merge = node("merge", in_paths={"parts", "copy"}, out_paths={"m": "m.txt"})
    shard.outputs["part"].connect(merge.inputs["parts"], gather=GatherSpec(group_by=[], order_by=["fold"]))
    merge.inputs["parts"].connect(merge.inputs["copy"])
    with pytest.raises(PipelineError, match=r"merge.parts is connected to an input of its own node \(a gathered "
                                            r"input's manifest is written by its own job\)"):
        Pipeline([shard, merge])
    own = node("own", in_paths={"x"}, out_paths={"y": "y.txt"})
    own.outputs["y"].connect(own.inputs["x"])
    with pytest.raises(PipelineError, match="own.y is connected to an input of its own node"):
        Pipeline([own])
