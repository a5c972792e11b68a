"""KWDagger's row rules under ``trackdag schedule``: an input with no value, params naming no parameter.

``trackdag schedule`` (KWDagger's command line) gives an input with no value
the text ``None``, as KWDagger did, with one note naming it; ``trackdag run``
refuses it and says how to fix it.  Params naming no parameter at all
(``matrix: {}``) are one row of defaults under ``schedule`` and an error under
``run``.  The real-KWDagger side of both is in ``tests/kwdagger/test_ports.py``.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from trackdag import sweep
from trackdag.compat.kwdagger.schedule import schedule
from trackdag.errors import ParamsError
from trackdag.gather import GatherSpec
from trackdag.node import ProcessNode
from trackdag.pipeline import Pipeline
from trackdag.plan import plan

BIN = Path(sys.executable).parent

PEERS = '''
from trackdag import ProcessNode, Pipeline


def peers():
    """Two peers forwarding one input to a consumer; a row sets one of them."""
    left = ProcessNode(name="left", executable="python write.py", in_paths={"data_fpath"},
                       out_paths={"out_fpath": "left.txt"})
    right = ProcessNode(name="right", executable="python write.py", in_paths={"data_fpath"},
                        out_paths={"out_fpath": "right.txt"})
    consumer = ProcessNode(name="consumer", executable="python write.py", in_paths={"data_fpath"},
                           out_paths={"out_fpath": "consumer.txt"})
    left.inputs["data_fpath"].connect(consumer.inputs["data_fpath"])
    right.inputs["data_fpath"].connect(consumer.inputs["data_fpath"])
    return Pipeline([left, right, consumer])


def chain():
    """Every value has a default or a connection: nothing to set."""
    a = ProcessNode(name="a", executable="python write.py", out_paths={"out_fpath": "a.txt"},
                    algo_params={"k": 1})
    b = ProcessNode(name="b", executable="python write.py", in_paths={"data_fpath"},
                    out_paths={"out_fpath": "b.txt"})
    a.outputs["out_fpath"].connect(b.inputs["data_fpath"])
    return Pipeline([a, b])
'''

WRITE = '''import sys
args = dict(a[2:].split("=", 1) for a in sys.argv[1:])
open(args["out_fpath"], "w").write(" ".join(sys.argv[1:]))
'''


def peers() -> Pipeline:
    left = ProcessNode(name="left", executable="cat", in_paths={"data_fpath"}, out_paths={"o": "l.txt"})
    right = ProcessNode(name="right", executable="cat", in_paths={"data_fpath"}, out_paths={"o": "r.txt"})
    consumer = ProcessNode(name="consumer", executable="cat", in_paths={"data_fpath"}, out_paths={"o": "c.txt"})
    left.inputs["data_fpath"].connect(consumer.inputs["data_fpath"])
    right.inputs["data_fpath"].connect(consumer.inputs["data_fpath"])
    return Pipeline([left, right, consumer])


def folder(tmp_path: Path) -> Path:
    (tmp_path / "pipelines.py").write_text(PEERS)
    (tmp_path / "write.py").write_text(WRITE)
    return tmp_path


def cli(where: Path, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "trackdag"), *argv], cwd=where, capture_output=True, text=True, timeout=300,
                          env={"PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(where), "RAY_AUTH_MODE": "disabled"})


# --- an input with no value -------------------------------------------------------------------------

def test_kwdagger_rule_passes_none_and_hashes_a_null(tmp_path):
    rows = [{"left.data_fpath": "/same/path"}, {"right.data_fpath": "/same/path"}]
    p = plan(peers(), rows, tmp_path, missing_as_none=True)
    by_node = {}
    for job in p.jobs.values():
        by_node.setdefault(job.node, []).append(job)
    assert {n: len(j) for n, j in by_node.items()} == {"left": 2, "right": 2, "consumer": 1}
    assert sorted(j.command.split()[2] for j in by_node["right"]) == ["--data_fpath=/same/path", "--data_fpath=None"]
    assert [j.inputs["data_fpath"] for j in by_node["consumer"]] == ["/same/path"]   # a None peer supplies nothing
    [note] = [n for n in p.notes if "no value" in n]
    assert note.startswith("input(s) left.data_fpath, right.data_fpath have no value in some row: "
                           "their commands get the text None, as KWDagger's did")
    # the null is part of the id (KWDagger's too): the text 'None' given in the row is another job
    typed = plan(peers(), [{"left.data_fpath": "None", "right.data_fpath": "None"}], tmp_path)
    assert not set(typed.jobs) & {j.job_id for j in by_node["right"]}


def test_without_the_rule_a_missing_input_is_an_error_saying_how_to_fix_it(tmp_path):
    with pytest.raises(ParamsError) as info:
        plan(peers(), [{"left.data_fpath": "/same/path"}], tmp_path, source="p.yaml")
    assert str(info.value) == (
        "p.yaml: input(s) right.data_fpath have no value: give each a value in the params (<node>.<input>: PATH), "
        "a default in in_paths, or a connection from another node")


def test_schedule_writes_none_into_the_command_and_run_refuses(tmp_path):
    where = folder(tmp_path)
    params = "{matrix: {left.data_fpath: [data.txt]}}"
    (where / "data.txt").write_text("x")
    done = cli(where, "schedule", "--pipeline=pipelines.py::peers()", f"--params={params}", "--backend=serial",
               "--root_dpath=results", "--run=1")
    assert done.returncode == 0, done.stdout + done.stderr
    notes = [line for line in done.stdout.splitlines() if "no value" in line]
    assert notes == ["  note: input(s) right.data_fpath have no value in some row: their commands get the text "
                     "None, as KWDagger's did (give each a value in the params, a default in in_paths, or a "
                     "connection)"]
    [right] = (where / "results" / "right").iterdir()
    assert (right / "right.txt").read_text().startswith("--data_fpath=None ")
    assert "--data_fpath=None" in (right / "invoke.sh").read_text()
    [consumer] = (where / "results" / "consumer").iterdir()
    assert (consumer / "consumer.txt").read_text().startswith(f"--data_fpath={where / 'data.txt'} ")

    refused = cli(where, "run", "--pipeline=pipelines.py::peers()", f"--params={params}", "--root=r2")
    assert refused.returncode == 2
    assert refused.stderr == ("Error: --params: input(s) right.data_fpath have no value: give each a value in the "
                              "params (<node>.<input>: PATH), a default in in_paths, or a connection from another "
                              "node\n")
    assert not (where / "r2").exists()


# --- params naming no parameter -----------------------------------------------------------------------

@pytest.mark.parametrize("params", ["matrix: {}", "{}"])
def test_schedule_takes_params_naming_nothing_as_one_row_of_defaults(tmp_path, params):
    where = folder(tmp_path)
    done = cli(where, "schedule", "--pipeline=pipelines.py::chain()", f"--params={params}", "--backend=serial",
               "--root_dpath=results", "--run=1")
    assert done.returncode == 0, done.stdout + done.stderr
    [a] = (where / "results" / "a").iterdir()
    [b] = (where / "results" / "b").iterdir()
    assert (a / "a.txt").read_text() == f"--k=1 --out_fpath={a / 'a.txt'}"
    assert (b / "b.txt").read_text() == f"--data_fpath={a / 'a.txt'} --out_fpath={b / 'b.txt'}"
    with pytest.raises(ParamsError, match="the grid is empty: no parameters are given"):
        sweep.prepare(params, pipeline=str(where / "pipelines.py") + "::chain()", root=str(tmp_path / "r"))


def test_an_empty_list_is_still_an_error_under_schedule(tmp_path):
    where = folder(tmp_path)
    with pytest.raises(ParamsError, match="'a.k' is an empty list"):
        schedule(params="matrix: {a.k: []}", pipeline=str(where / "pipelines.py") + "::chain()",
                 root_dpath=str(tmp_path / "r"))


# --- a gathered input forwarded to another node ----------------------------------------------------------

def test_a_forwarded_gathered_input_is_the_manifest_and_waits_for_its_writer(tmp_path):
    shard = ProcessNode(name="shard", executable="cat", out_paths={"part": "part.txt"},
                        algo_params={"dataset": "a", "fold": 0})
    merge = ProcessNode(name="merge", executable="cat", in_paths={"parts"}, out_paths={"merged": "m.txt"},
                        algo_params={"dataset": "a"})
    audit = ProcessNode(name="audit", executable="cat", in_paths={"parts"}, out_paths={"audit": "a.txt"})
    shard.outputs["part"].connect(merge.inputs["parts"], gather=GatherSpec(group_by=["dataset"], order_by=["fold"]))
    merge.inputs["parts"].connect(audit.inputs["parts"])
    p = plan(Pipeline([shard, merge, audit]), [{"shard.fold": 0}, {"shard.fold": 1}], tmp_path)
    [m] = [j for j in p.jobs.values() if j.node == "merge"]
    [a] = [j for j in p.jobs.values() if j.node == "audit"]
    assert a.inputs["parts"] == m.inputs["parts"] == f"{m.folder}/_gather/parts.txt"
    assert a.parents == (m.job_id,) and (m.job_id, a.job_id) in p.edges


def _producer_consumer() -> Pipeline:
    producer = ProcessNode(name="producer", executable="python make.py", out_paths={"data_fpath": "data.txt"},
                           algo_params={"algo": "x"})
    consumer = ProcessNode(name="consumer", executable="python use.py", in_paths={"data_fpath"},
                           out_paths={"out_fpath": "out.txt"})
    producer.outputs["data_fpath"].connect(consumer.inputs["data_fpath"])
    return Pipeline([producer, consumer])


def test_a_row_may_set_a_connected_input_under_schedule_and_it_beats_the_connection(tmp_path):
    """KWDagger's rule (its identity tests): the consumer reads the row's file and depends on no producer."""
    rows = [{"consumer.data_fpath": "/precomputed/data", "producer.algo": algo} for algo in ("x", "y")]
    the_plan = plan(_producer_consumer(), rows, tmp_path / "out", connected_overrides=True)
    by_node = {}
    for job in the_plan.jobs.values():
        by_node.setdefault(job.node, []).append(job)
    assert len(by_node["producer"]) == 2
    (consumer,) = by_node["consumer"]  # changing only the unused producer does not move the consumer
    assert consumer.inputs["data_fpath"] == "/precomputed/data" and consumer.parents == ()
    assert "--data_fpath=/precomputed/data" in consumer.command
    assert not [e for e in the_plan.edges if e[1] == consumer.job_id]
    # a row without the value keeps the connection
    linked = plan(_producer_consumer(), [{"producer.algo": "x"}], tmp_path / "out", connected_overrides=True)
    (child,) = [j for j in linked.jobs.values() if j.node == "consumer"]
    assert len(child.parents) == 1 and child.inputs["data_fpath"].endswith("/data.txt")


def test_trackdag_run_still_refuses_a_connected_input_in_the_params(tmp_path):
    with pytest.raises(ParamsError, match="'consumer.data_fpath' is connected to producer.data_fpath; remove it"):
        plan(_producer_consumer(), [{"consumer.data_fpath": "/precomputed/data"}], tmp_path / "out")
    prepared = sweep.prepare({"consumer.data_fpath": "/precomputed/data"}, pipeline=_producer_consumer(),
                             root=tmp_path / "out", kwdagger_rows=True)
    assert {j.node for j in prepared.plan.jobs.values()} == {"producer", "consumer"}
