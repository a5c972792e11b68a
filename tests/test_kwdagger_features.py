"""KWDagger's row keys and node declarations on trackdag's own plan and run (issue 9), without KWDagger.

``<node>.__enabled__``, Slurm options as resources, undeclared params, and
params declared by a real kwconf / scriptconfig config class.
"""
import json

import kwconf
import pytest
import scriptconfig

from conftest import TOOL, two_stage
from trackdag.errors import ParamsError
from trackdag.node import ProcessNode
from trackdag.pipeline import Pipeline
from trackdag.sweep import prepare, run


def _nodes(plan):
    out = {}
    for job in plan.jobs.values():
        out.setdefault(job.node, []).append(job)
    return out


def test_enabled_false_leaves_the_node_and_its_dependants_out_of_that_row(tmp_path, src):
    params = {"matrix": {"predict.src": str(src), "predict.p": [1, 2]},
              "include": [{"predict.p": 2, "evaluate.__enabled__": False}]}
    plan = prepare(params, pipeline=two_stage(), root=tmp_path).plan
    jobs = _nodes(plan)
    assert sorted(j.params["p"] for j in jobs["predict"]) == [1, 2]
    assert len(jobs["evaluate"]) == 1
    # switching off the first node removes its dependant too
    off = prepare({"matrix": {"predict.src": str(src), "predict.__enabled__": [True, False]}},
                  pipeline=two_stage(), root=tmp_path).plan
    assert {n: len(j) for n, j in _nodes(off).items()} == {"predict": 1, "evaluate": 1}
    # __enabled__ never enters a job id
    plain = prepare({"matrix": {"predict.src": str(src)}}, pipeline=two_stage(), root=tmp_path).plan
    assert set(plain.jobs) == set(off.jobs)


def test_enabled_redo_reruns_a_done_job(tmp_path, src, ledger):
    params = {"matrix": {"predict.src": str(src)}}
    assert run(params, pipeline=two_stage(), root=tmp_path / "out", backend="local", workers=1).exit_code == 0
    assert len(ledger.read_text().splitlines()) == 2
    again = run({"matrix": {"predict.src": str(src), "evaluate.__enabled__": "redo"}}, pipeline=two_stage(),
                root=tmp_path / "out", backend="local", workers=1)
    assert (again.exit_code, again.counts.done, again.counts.cached) == (0, 1, 1)
    assert len(ledger.read_text().splitlines()) == 3     # only evaluate ran again


@pytest.mark.parametrize("value, hint", [("False", "without quotes"), ("maybe", "without quotes"), (2, None)])
def test_enabled_values_other_than_true_false_redo_are_refused(tmp_path, src, value, hint):
    with pytest.raises(ParamsError) as err:
        prepare({"matrix": {"predict.src": str(src), "evaluate.__enabled__": value}}, pipeline=two_stage(),
                root=tmp_path)
    message = str(err.value)
    assert "'evaluate.__enabled__' must be true, false or redo" in message
    assert (hint in message) if hint else "quotes" not in message


def test_slurm_options_become_resources_from_every_layer(tmp_path, src):
    dag = two_stage()
    dag.nodes["predict"].slurm_options = {"cpus": 2, "partition": "gpu"}
    params = {"slurm_options": {"mem": "1G", "time": "00:10:00"},
              "matrix": {"predict.src": str(src), "evaluate.__slurm_options__": {"gres": "gpu:1", "cpus": 1}}}
    prepared = prepare(params, pipeline=dag, root=tmp_path)
    jobs = _nodes(prepared.plan)
    assert jobs["predict"][0].resources == {"num_cpus": 2.0, "memory": 1 << 30}
    assert jobs["evaluate"][0].resources == {"num_cpus": 1.0, "num_gpus": 1.0, "memory": 1 << 30}
    # what has no meaning here is named once, not per job
    notes = " ".join(prepared.plan.notes)
    assert "partition" in notes and "time" in notes and notes.count("partition") == 1
    # and never enters a job id
    plain = prepare({"matrix": {"predict.src": str(src)}}, pipeline=two_stage(), root=tmp_path).plan
    assert set(plain.jobs) == set(prepared.plan.jobs)


def test_an_undeclared_param_is_passed_and_hashed_but_a_near_miss_is_a_typo(tmp_path, src):
    base = {"predict.src": str(src)}
    plain = prepare({"matrix": base}, pipeline=two_stage(), root=tmp_path).plan
    extra = prepare({"matrix": {**base, "predict.concurrency": [2, 4]}}, pipeline=two_stage(), root=tmp_path)
    predicts = _nodes(extra.plan)["predict"]
    assert sorted(j.params["concurrency"] for j in predicts) == [2, 4]
    assert all("--concurrency=" in j.command for j in predicts)
    assert not {j.job_id for j in predicts} & {j.job_id for j in _nodes(plain)["predict"]}
    assert any("predict.concurrency" in n for n in extra.plan.notes)
    with pytest.raises(ParamsError, match=r"node 'predict' declares no param 'workrs' \(did you mean 'workers'\?\)"):
        prepare({"matrix": {**base, "predict.workrs": 2}}, pipeline=two_stage(), root=tmp_path)


class CountKwconf(kwconf.Config):
    src_fpath = kwconf.Value(None, tags=["in_path"])
    dst_fpath = kwconf.Value("count.json", tags=["out_path", "primary"])
    word = kwconf.Value("a", tags=["algo_param"])
    workers = kwconf.Value(0, tags=["perf_param"])


class CountScfg(scriptconfig.DataConfig):
    src_fpath = scriptconfig.Value(None, tags=["in_path"])
    dst_fpath = scriptconfig.Value("count.json", tags=["out_path", "primary"])
    word = scriptconfig.Value("b", tags=["algo_param"])
    workers = scriptconfig.Value(0, tags=["perf_param"])


COUNT = ("import json, sys; a = dict(x[2:].split('=', 1) for x in sys.argv[1:]); "
         "open(a['dst_fpath'], 'w').write(json.dumps({'n': open(a['src_fpath']).read().count(a['word'])}))")


@pytest.mark.parametrize("config", [CountKwconf, CountScfg], ids=["kwconf", "scriptconfig"])
def test_a_config_class_declares_the_groups(tmp_path, config):
    import shlex
    import sys

    class Count(ProcessNode):
        name = "count"
        executable = f"{shlex.quote(sys.executable)} -c {shlex.quote(COUNT)}"
        params = config

    node = Count()
    assert set(node.in_paths) == {"src_fpath"} and dict(node.out_paths) == {"dst_fpath": "count.json"}
    assert node.primary_out_key == "dst_fpath" and set(node.perf_params) == {"workers"}
    (tmp_path / "text.txt").write_text("a b a b b")
    res = run({"matrix": {"count.src_fpath": str(tmp_path / "text.txt"), "count.word": ["a", "b"]}},
              pipeline=Pipeline([node]), root=tmp_path / "out", backend="local", workers=1)
    assert res.exit_code == 0
    counts = sorted(json.loads(p.read_text())["n"] for p in (tmp_path / "out" / "count").glob("*/count.json"))
    assert counts == [2, 3]
    default = prepare({"matrix": {"count.src_fpath": str(tmp_path / "text.txt")}}, pipeline=Pipeline([Count()]),
                      root=tmp_path / "out").plan
    (job,) = default.jobs.values()
    assert job.params["word"] == config.__default__["word"].value


# --- setup / teardown: KWDagger's node lifecycle ----------------------------------------------------

def _writes(word, code=0):
    """A command that appends ``word`` to the log and exits ``code`` (the job's arguments follow it)."""
    import shlex
    import sys

    return (f"{shlex.quote(sys.executable)} -c " + shlex.quote(
        f"import sys; open(sys.argv[1], 'a').write('{word}\\n'); sys.exit({code})") + " {log}")


def _bracketed(tmp_path, command, setup, teardown="echo teardown >> {log}"):
    log = tmp_path / "events.log"
    node = ProcessNode(name="bracketed", executable=command.format(log=log), algo_params={"x": 1},
                       out_paths={"out": "."}, setup=setup.format(log=log), teardown=teardown.format(log=log))
    return Pipeline([node]), log


def _run_bracketed(tmp_path, pipe, x=(1,)):
    import duckdb

    result = run({"bracketed.x": list(x)}, pipeline=pipe, root=tmp_path / "r", backend="local")
    with duckdb.connect(str(tmp_path / "r" / "catalog.duckdb"), read_only=True) as con:
        attempts = con.execute("SELECT status, exit_code, error FROM attempts").fetchall()
    return result, attempts


def test_setup_runs_before_the_command_and_teardown_after(tmp_path):
    pipe, log = _bracketed(tmp_path, _writes("command"), "echo setup >> {log}")
    result, attempts = _run_bracketed(tmp_path, pipe)
    assert result.exit_code == 0 and attempts == [("done", 0, None)]
    assert log.read_text().split() == ["setup", "command", "teardown"]
    [job] = result.plan.jobs.values()
    config = json.loads((tmp_path / "r" / "bracketed" / job.name / "job_config.json").read_text())
    assert config["setup"] == f"echo setup >> {log}" and config["teardown"] == f"echo teardown >> {log}"
    assert not pipe.notes  # followed, not "accepted but not followed"
    # invoke.sh redoes the whole bracket from anywhere
    import subprocess

    log.write_text("")
    subprocess.run(["bash", str(tmp_path / "r" / "bracketed" / job.name / "invoke.sh")], cwd="/", check=True)
    assert log.read_text().split() == ["setup", "command", "teardown"]


def test_a_failing_setup_fails_the_job_without_its_command_or_teardown(tmp_path):
    pipe, log = _bracketed(tmp_path, _writes("command"), "echo setup >> {log}; exit 7")
    result, attempts = _run_bracketed(tmp_path, pipe)
    assert result.exit_code == 1 and [a[:2] for a in attempts] == [("failed", 7)]
    assert log.read_text().split() == ["setup"]


def test_teardown_runs_after_a_failing_command_and_keeps_its_exit_code(tmp_path):
    pipe, log = _bracketed(tmp_path, _writes("command", 3), "echo setup >> {log}",
                           teardown="echo teardown >> {log}; true")
    result, attempts = _run_bracketed(tmp_path, pipe)
    assert [a[:2] for a in attempts] == [("failed", 3)]
    assert log.read_text().split() == ["setup", "command", "teardown"]


def test_yaml_setup_and_teardown(tmp_path):
    log = tmp_path / "events.log"
    spec = {"nodes": {"b": {"executable": _writes("command").format(log=log), "out_paths": {"out": "."},
                            "algo_params": {"x": 1}, "setup": f"echo setup >> {log}",
                            "teardown": f"echo teardown >> {log}"}}}
    (tmp_path / "pipe.yaml").write_text(json.dumps(spec))
    result = run({"b.x": [1, 2]}, pipeline=str(tmp_path / "pipe.yaml"), root=tmp_path / "r", backend="local",
                 workers=1)
    assert result.exit_code == 0
    assert log.read_text().split() == ["setup", "command", "teardown"] * 2


def test_teardown_runs_when_the_job_is_stopped_by_its_timeout(tmp_path):
    import shlex
    import sys

    log = tmp_path / "events.log"
    sleeper = f"{shlex.quote(sys.executable)} -c 'import time; time.sleep(60)'"
    node = ProcessNode(name="slow", executable=sleeper, algo_params={"x": 1}, out_paths={"out": "."},
                       setup=f"echo setup >> {log}", teardown=f"echo teardown >> {log}", timeout=1.5)
    result = run({"slow.x": 1}, pipeline=Pipeline([node]), root=tmp_path / "r", backend="local")
    assert result.exit_code == 1 and result.counts.failed == 1
    assert log.read_text().split() == ["setup", "teardown"]


def test_setup_must_be_shell_text():
    from trackdag.errors import PipelineError

    with pytest.raises(PipelineError, match="node 'n': setup must be shell text \\(a string\\), got list"):
        Pipeline([ProcessNode(name="n", executable="true", setup=["echo", "hi"])])


# --- several peers feeding one port (KWDagger's aliases) -------------------------------------------

def _alias_pipeline(tmp_path, kind):
    peer_inputs = {"data_fpath"} if kind == "input" else set()
    left = ProcessNode(name="left", executable="true", in_paths=peer_inputs, algo_params={"thresh"},
                       out_paths={"o": "left.json"})
    right = ProcessNode(name="right", executable="true", in_paths=peer_inputs, algo_params={"thresh"},
                        out_paths={"o": "right.json"})
    consumer = ProcessNode(name="consumer", executable="true", in_paths={"data_fpath"}, algo_params={"thresh"},
                           out_paths={"result_fpath": "result.json"})
    if kind == "input":
        left.inputs["data_fpath"].connect(consumer.inputs["data_fpath"])
        right.inputs["data_fpath"].connect(consumer.inputs["data_fpath"])
    else:
        left.param_ports["thresh"].connect(consumer.param_ports["thresh"])
        right.param_ports["thresh"].connect(consumer.param_ports["thresh"])
    return Pipeline([left, right, consumer])


def test_an_input_fed_by_two_peers_gets_their_one_value(tmp_path):
    # (each peer needs its own input anyway, so here both always have one: they must agree)
    pipe = _alias_pipeline(tmp_path, "input")
    plan = prepare({"include": [{"left.data_fpath": "/data/a", "right.data_fpath": "/data/a"},
                                {"left.data_fpath": "/data/c", "right.data_fpath": "/data/c"}]},
                   pipeline=pipe, root=tmp_path / "r").plan
    consumers = sorted(j.inputs["data_fpath"] for j in plan.jobs.values() if j.node == "consumer")
    assert consumers == ["/data/a", "/data/c"]
    with pytest.raises(ParamsError, match=r"consumer\.data_fpath is fed by left\.data_fpath \('/data/a'\) and by "
                                          r"right\.data_fpath \('/data/b'\) in one row; peers feeding one port must agree"):
        prepare({"left.data_fpath": "/data/a", "right.data_fpath": "/data/b"}, pipeline=pipe, root=tmp_path / "r")


def test_a_param_fed_by_two_param_ports_takes_the_value_of_whichever_has_it(tmp_path):
    pipe = _alias_pipeline(tmp_path, "param")
    rows = {"include": [{"left.thresh": 0.5, "consumer.data_fpath": "/data/a"},
                        {"right.thresh": 0.5, "consumer.data_fpath": "/data/a"},
                        {"right.thresh": 0.7, "consumer.data_fpath": "/data/a"}]}
    plan = prepare(rows, pipeline=pipe, root=tmp_path / "r").plan
    consumers = sorted(j.params["thresh"] for j in plan.jobs.values() if j.node == "consumer")
    # the value, not which peer gave it, makes the job: 0.5 from left or from right is one job (per parents)
    assert sorted(set(consumers)) == [0.5, 0.7]
    with pytest.raises(ParamsError, match=r"consumer\.thresh is fed by left\.thresh \(0\.5\) and by right\.thresh \(0\.7\)"):
        prepare({"left.thresh": 0.5, "right.thresh": 0.7, "consumer.data_fpath": "/data/a"}, pipeline=pipe,
                root=tmp_path / "r")


def test_an_input_fed_by_an_output_and_an_input_is_refused():
    from trackdag.errors import PipelineError

    a = ProcessNode(name="a", executable="true", in_paths={"x"}, out_paths={"o": "o.json"})
    b = ProcessNode(name="b", executable="true", in_paths={"x"}, out_paths={"p": "p.json"})
    a.outputs["o"].connect(b.inputs["x"])
    a.inputs["x"].connect(b.inputs["x"])
    with pytest.raises(PipelineError, match=r"b\.inputs\['x'\] is fed by outputs and by inputs; connect it to one kind"):
        Pipeline([a, b])
