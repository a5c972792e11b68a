"""What the KWDagger parity cases (tests/kwdagger/test_parity.py) found, held without KWDagger.

- a config *instance* (kwconf's Config is a Mapping) keeps its class's tags;
- ``trackdag schedule --backend=serial|tmux`` caps CPU requests at its slots instead of refusing them;
- ``<node>.<output>: name`` in a ``trackdag schedule`` matrix names the output's file in the job folder.
"""
from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping

import pytest

from conftest import two_stage
from trackdag import sweep
from trackdag.compat.kwdagger.schedule import schedule
from trackdag.config_params import groups
from trackdag.errors import ParamsError, TrackdagError
from trackdag.node import NO_DEFAULT, ProcessNode
from trackdag.pipeline import Pipeline
from trackdag.plan import plan


# --- config-class params ---------------------------------------------------------------------

class _Value:
    def __init__(self, value, tags=()):
        self.value, self.tags = value, tags


class _Config(Mapping):
    """Shaped like kwconf.Config: a Mapping whose class and instances carry __default__ (with tags)."""

    __default__ = {"src": _Value(None, ["in_path"]), "dst": _Value("out.json", ["out_path", "primary"]),
                   "k": _Value(1, ["algo_param"]), "workers": _Value(0, ["perf_param"])}

    def __init__(self, **values):
        self._values = {name: field.value for name, field in self.__default__.items()} | values

    def __getitem__(self, key):
        return self._values[key]

    def __iter__(self):
        return iter(self._values)

    def __len__(self):
        return len(self._values)

    def to_dict(self):
        return dict(self._values)


def test_a_config_instance_keeps_its_class_tags_and_gives_its_values():
    found = groups(_Config(k=7, workers=3))
    assert found["in_paths"] == {"src": NO_DEFAULT}
    assert found["out_paths"] == {"dst": "out.json"} and found["primary_out_key"] == "dst"
    assert found["algo_params"] == {"k": 7} and found["perf_params"] == {"workers": 3}


def test_a_plain_mapping_is_still_read_as_fields():
    assert groups({"a": 1, "o": _Value("x.txt", ["out_path"])})["algo_params"] == {"a": 1}


def test_real_kwconf_and_scriptconfig_instances():
    kw = pytest.importorskip("kwconf")
    scfg = pytest.importorskip("scriptconfig")

    class KwCfg(kw.Config):
        src = kw.Value(None, tags=["in_path"])
        dst = kw.Value("o.json", tags=["out_path", "primary"])
        lower = kw.Value(True)
        workers = kw.Value(0, tags=["perf"])

    class ScCfg(scfg.DataConfig):
        src = scfg.Value(None, tags=["in_path"])
        n = scfg.Value(1, tags=["algo"])

    class Node(ProcessNode):
        name = "n"
        executable = "prog"
        params = KwCfg(lower=False)
        perf_params = {"workers": 2}   # the node's own groups win

    node = Node()
    assert set(node.in_paths) == {"src"} and node.out_paths == {"dst": "o.json"}
    assert node.algo_params == {"lower": False} and node.perf_params == {"workers": 2}
    assert node.primary_out_key == "dst"
    assert groups(ScCfg(n=5))["algo_params"] == {"n": 5} and set(groups(ScCfg)["in_paths"]) == {"src"}


# --- CPU requests under KWDagger's serial and tmux backends -------------------------------------

def _cpu_pipeline(tmp_path):
    node = ProcessNode(name="big", executable="true", out_paths={"o": "."}, algo_params={"x": 1},
                       slurm_options={"cpus": 4, "partition": "gpu"})
    return Pipeline([node])


def test_serial_caps_cpu_requests_at_its_slot(tmp_path):
    kind, result = schedule(params={"big.x": [1, 2]}, pipeline=_cpu_pipeline(tmp_path), root_dpath=str(tmp_path / "r"),
                            backend="serial", run=1)
    assert kind == "run" and result.exit_code == 0 and result.counts.done == 2
    assert {j.resources["num_cpus"] for j in result.plan.jobs.values()} == {1.0}
    assert any("num_cpus above the 1 slot(s) of this backend: big (4)" in n for n in result.plan.notes)
    for job in result.plan.jobs.values():
        assert json.loads((tmp_path / "r" / "big" / job.name / "job_config.json").read_text())["resources"] == {
            "num_cpus": 1.0}


def test_tmux_caps_at_its_workers_and_run_keeps_the_request(tmp_path):
    _, dry = schedule(params={"big.x": 1}, pipeline=_cpu_pipeline(tmp_path), root_dpath=str(tmp_path / "r"),
                      backend="tmux", tmux_workers=2)
    assert [j.resources["num_cpus"] for j in dry.plan.jobs.values()] == [2.0]
    prepared = sweep.prepare({"big.x": 1}, pipeline=_cpu_pipeline(tmp_path), root=tmp_path / "r2")
    assert [j.resources["num_cpus"] for j in prepared.plan.jobs.values()] == [4.0]   # trackdag run: as asked


def test_caps_leave_smaller_requests_and_the_plan_alone(tmp_path):
    from trackdag.caps import cap_resources

    prepared = sweep.prepare({"big.x": 1}, pipeline=_cpu_pipeline(tmp_path), root=tmp_path / "r")
    assert cap_resources(prepared.plan, max_cpus=8, max_gpus=0) is prepared.plan


def _gpu_pipeline(tmp_path):
    prog = tmp_path / "infer.py"
    prog.write_text("import sys, json, os\n"
                    "out = [a.split('=', 1)[1] for a in sys.argv if a.startswith('--out=')][0]\n"
                    "json.dump({'cuda': os.environ.get('CUDA_VISIBLE_DEVICES')}, open(out, 'w'))\n")
    node = ProcessNode(name="infer", executable=f"{sys.executable} {prog}", algo_params={"x": 1},
                       out_paths={"out": "out.json"}, slurm_options={"gres": "gpu:1", "time": "00:15:00"})
    return Pipeline([node])


def test_serial_runs_a_slurm_gpu_job_without_a_gpu_as_kwdagger_did(tmp_path):
    # KWDagger's serial backend ignores Slurm's gres; trackdag run refuses a GPU job on a machine
    # without one, trackdag schedule --backend=serial caps the request at the GPUs there are (none here)
    env = {"CUDA_VISIBLE_DEVICES": ""}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        _, dry = schedule(params={"infer.x": [1, 2]}, pipeline=_gpu_pipeline(tmp_path), root_dpath=str(tmp_path / "d"),
                          backend="serial", run=0)
        kind, result = schedule(params={"infer.x": [1, 2]}, pipeline=_gpu_pipeline(tmp_path),
                                root_dpath=str(tmp_path / "r"), backend="serial", run=1)
        with pytest.raises(TrackdagError, match="asks for num_gpus=1 but this machine has no GPU"):
            sweep.run({"infer.x": 1}, pipeline=_gpu_pipeline(tmp_path), root=tmp_path / "plain", backend="local")
    finally:
        for k, v in old.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    note = "num_gpus above the 0 GPU(s) this machine has: infer (1); those jobs get 0"
    assert [n for n in dry.plan.notes if n.startswith("num_gpus")] == [
        note + " (KWDagger's serial and tmux backends ignored Slurm's GPU requests too)"]
    assert kind == "run" and result.exit_code == 0 and result.counts.done == 2
    assert all("num_gpus" not in j.resources for j in result.plan.jobs.values())
    assert [n for n in result.plan.notes if n.startswith("num_gpus")] == [n for n in dry.plan.notes
                                                                        if n.startswith("num_gpus")]


# --- an output's file named in the matrix ----------------------------------------------------------

def test_an_output_named_in_the_row_is_a_file_in_the_job_folder(tmp_path, src):
    rows = [{"predict.src": str(src), "predict.out_pred": "custom.json"}]
    p = plan(two_stage(), rows, tmp_path, out_overrides=True)
    pred = next(j for j in p.jobs.values() if j.node == "predict")
    evaluate = next(j for j in p.jobs.values() if j.node == "evaluate")
    assert pred.outputs["out_pred"] == f"{pred.folder}/custom.json"
    assert evaluate.inputs["pred"] == pred.outputs["out_pred"]
    assert "out_pred" not in pred.params and "--out_pred=" + pred.outputs["out_pred"] in pred.command
    plain = plan(two_stage(), [{"predict.src": str(src)}], tmp_path, out_overrides=True)
    same = plan(two_stage(), [{"predict.src": str(src), "predict.out_pred": "./pred.json"}], tmp_path,
                out_overrides=True)
    assert pred.job_id not in plain.jobs            # a different file is a different job
    assert set(plain.jobs) == set(same.jobs)        # the default's name, written out, is the same job


@pytest.mark.parametrize("value, why", [("/abs/x.json", "is absolute"), ("../x.json", "escapes the job folder"),
                                        ("done.json", "is a name trackdag writes itself"), (3, "relative path")])
def test_an_output_named_in_the_row_must_stay_in_the_job_folder(tmp_path, src, value, why):
    with pytest.raises(ParamsError) as info:
        plan(two_stage(), [{"predict.src": str(src), "predict.out_pred": value}], tmp_path, out_overrides=True,
             source="p.yaml")
    message = str(info.value)
    assert message.startswith("p.yaml: 'predict.out_pred': ") and why in message and "\n" not in message


def test_trackdag_run_still_refuses_an_output_in_the_params(tmp_path, src):
    with pytest.raises(ParamsError, match="is an output of predict; its path is fixed by out_paths"):
        plan(two_stage(), [{"predict.src": str(src), "predict.out_pred": "x.json"}], tmp_path)


def test_schedule_accepts_an_output_in_the_params(tmp_path):
    node = ProcessNode(name="a", executable="touch", out_paths={"out": "a.txt"}, algo_params={"n": 1})
    _, dry = schedule(params={"a.out": "named.txt"}, pipeline=Pipeline([node]), root_dpath=str(tmp_path / "r"))
    (job,) = dry.plan.jobs.values()
    assert job.outputs == {"out": f"{job.folder}/named.txt"}


# --- a program using kwutil's real ProcessContext, as KWDagger's tutorials' programs do -------------

def test_a_kwutil_process_context_record_is_read_by_the_ported_load_result(tmp_path):
    # kwutil's ProcessContext needs psutil (KWDagger brought it; `trackdag[kwdagger]` does here)
    prog = tmp_path / "evaluate.py"
    prog.write_text(
        "import argparse, json\n"
        "from kwutil.process_context import ProcessContext\n"
        "p = argparse.ArgumentParser(); p.add_argument('--k', type=int); p.add_argument('--out')\n"
        "args = p.parse_args()\n"
        "proc = ProcessContext(name='toy_eval', config=vars(args)); proc.start()\n"
        "result = {'acc': args.k / 10}\n"
        "json.dump({'info': [proc.stop()], 'result': result}, open(args.out, 'w'))\n")

    class ToyEval(ProcessNode):
        name = "toy_eval"
        executable = f"{sys.executable} {prog}"
        algo_params = {"k": 1}
        out_paths = {"out": "eval.json"}
        primary_out_key = "out"

        def load_result(self, node_dpath):
            from trackdag.compat.kwdagger.aggregate_loader import new_process_context_parser
            from trackdag.compat.kwdagger.utils import util_dotdict

            data = json.loads((node_dpath / self.out_paths[self.primary_out_key]).read_text())
            nest = new_process_context_parser(data["info"][-1])
            nest["metrics"] = data["result"]
            return util_dotdict.DotDict.from_nested(nest).insert_prefix(self.name, index=1)

    result = sweep.run({"toy_eval.k": [3, 7]}, pipeline=Pipeline([ToyEval()]), root=tmp_path / "r", backend="local")
    assert result.exit_code == 0 and result.counts.done == 2
    import duckdb

    with duckdb.connect(str(tmp_path / "r" / "catalog.duckdb"), read_only=True) as con:
        rows = con.execute("SELECT key, value_num, value_text FROM results ORDER BY job_id, key").fetchall()
    keys = {k for k, _, _ in rows}
    assert {"metrics.toy_eval.acc", "resolved_params.toy_eval.k", "context.toy_eval.task"} <= keys
    assert sorted(v for k, v, _ in rows if k == "metrics.toy_eval.acc") == [0.3, 0.7]
    assert {t for k, _, t in rows if k == "context.toy_eval.task"} == {"toy_eval"}
    assert any(k.startswith("machine.toy_eval.") for k in keys)


# --- node_dpath: the one layout option whose loss changes the job count ------------------------------

def test_node_dpath_gets_one_note_even_as_dot_and_its_jobs_stay_apart(tmp_path):
    producer = ProcessNode(name="producer", executable="touch", out_paths={"data": "data.json"},
                           algo_params={"algo": "x"}, node_dpath=".")
    other = ProcessNode(name="other", executable="touch", out_paths={"o": "o.json"}, node_dpath="shared",
                        group_dpath="g")
    consumer = ProcessNode(name="consumer", executable="cat", in_paths={"data"}, out_paths={"r": "r.json"},
                           algo_params={"thresh": 0.5})
    producer.outputs["data"].connect(consumer.inputs["data"])
    pipe = Pipeline([producer, other, consumer])
    assert pipe.notes == [
        "other: group_dpath accepted but not followed (trackdag keeps <root>/other/other_id_<hash>/ and runs "
        "the command alone)",
        "node_dpath (producer, other) is not followed: each job keeps its own folder <root>/<node>/<node>_id_<hash>/ "
        "(the job folder is the record), so jobs that KWDagger collapsed because they wrote one shared file there "
        "run separately here"]
    # KWDagger's producers both wrote ./data.json, so its consumer rows collapsed to 2 jobs; here they are 4
    rows = [{"producer.algo": a, "consumer.thresh": t} for a in ("x", "y") for t in (0.5, 0.7)]
    p = plan(pipe, rows, tmp_path)
    assert sum(j.node == "consumer" for j in p.jobs.values()) == 4
    assert pipe.notes[1] in p.notes
    plain = ProcessNode(name="plain", executable="touch", out_paths={"o": "o.json"}, group_dpath=".")
    assert Pipeline([plain]).notes == []   # '.' for the other layout options changes nothing here: no note
