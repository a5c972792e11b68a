"""plan: ids, de-duplication, argument resolution, commands and key checks."""
import shlex

import pytest

import trackdag.commands as commands_mod
import trackdag.plan as plan_mod
from conftest import two_stage
from trackdag.errors import ParamsError, PlanError
from trackdag.node import ProcessNode
from trackdag.pipeline import Pipeline
from trackdag.plan import plan, render_command


def _jobs(p, node):
    return [j for j in p.jobs.values() if j.node == node]


def test_predict_shared_by_several_evaluate_jobs(tmp_path, src):
    rows = [{"predict.src": str(src), "evaluate.thresh": t} for t in (0.1, 0.2, 0.3)]
    p = plan(two_stage(), rows, tmp_path / "out")
    assert len(_jobs(p, "predict")) == 1
    assert len(_jobs(p, "evaluate")) == 3
    (pred,) = _jobs(p, "predict")
    assert all(j.parents == (pred.job_id,) for j in _jobs(p, "evaluate"))
    assert len(p.row_jobs) == 6 and len(p.edges) == 3
    # parents come before children
    order = list(p.jobs)
    assert order.index(pred.job_id) < min(order.index(j.job_id) for j in _jobs(p, "evaluate"))


def test_perf_params_never_enter_the_id(tmp_path, src):
    rows = [{"predict.src": str(src), "predict.workers": w, "evaluate.workers": w} for w in (1, 8)]
    p = plan(two_stage(), rows, tmp_path)
    assert len(p.jobs) == 2
    assert p.jobs[list(p.jobs)[0]].params["workers"] == 1  # the first row wins
    assert any("perf params workers" in n for n in p.notes)


def test_ids_ignore_key_order_and_explicit_defaults(tmp_path, src):
    a = plan(two_stage(), [{"predict.src": str(src), "predict.p": 1, "evaluate.thresh": 0.5}], tmp_path)
    b = plan(two_stage(), [{"evaluate.thresh": 0.5, "predict.src": str(src)}], tmp_path)
    assert list(a.jobs) == list(b.jobs)


def test_algo_param_type_changes_the_id(tmp_path, src):
    a = plan(two_stage(), [{"predict.src": str(src), "predict.p": 1}], tmp_path)
    b = plan(two_stage(), [{"predict.src": str(src), "predict.p": "1"}], tmp_path)
    assert set(a.jobs).isdisjoint(b.jobs)


def test_pinned_job_id_and_folder(tmp_path):
    node = ProcessNode(name="solo", executable="echo", algo_params={"x": 1}, out_paths={"o": "o.txt"})
    p = plan(Pipeline([node]), [{"solo.x": 2}], tmp_path)
    (job,) = p.jobs.values()
    # sha256 of {"algo":{"x":2},"inputs":{},"node":"solo","parents":[]}: pinned on purpose.
    assert job.job_id == "19b687e869a492aaf2347f9fd455cdca31ca2b840764e22af26e487df948e901"
    assert job.short_id == "n2kdzdk2qdnv"
    assert job.folder == str(tmp_path / "solo" / f"solo_id_{job.short_id}")
    assert job.outputs == {"o": str(tmp_path / "solo" / f"solo_id_{job.short_id}" / "o.txt")}


def test_inputs_become_absolute_and_forwarded_values_enter_the_child_id(tmp_path):
    rows = [{"predict.src": "data/a.txt"}, {"predict.src": "data/b.txt"}]
    p = plan(two_stage(), rows, tmp_path / "out", cwd=str(tmp_path))
    evals = _jobs(p, "evaluate")
    assert [j.inputs["true"] for j in evals] == [str(tmp_path / "data" / "a.txt"), str(tmp_path / "data" / "b.txt")]
    assert len(evals) == 2
    assert evals[0].inputs["pred"] == p.jobs[evals[0].parents[0]].outputs["out_pred"]


def test_same_file_spelled_two_ways_is_one_job(tmp_path):
    rows = [{"predict.src": "data/a.txt"}, {"predict.src": str(tmp_path / "data" / ".." / "data" / "a.txt")}]
    p = plan(two_stage(), rows, tmp_path / "out", cwd=str(tmp_path))
    assert len(p.jobs) == 2  # one predict + one evaluate


def test_urls_are_kept_verbatim(tmp_path):
    p = plan(two_stage(), [{"predict.src": "s3://bucket/key.txt"}], tmp_path)
    assert _jobs(p, "predict")[0].inputs["src"] == "s3://bucket/key.txt"


def test_command_is_sorted_and_quoted(tmp_path, src):
    p = plan(two_stage(), [{"predict.src": str(src), "predict.p": "x; touch pwned"}], tmp_path)
    job = _jobs(p, "predict")[0]
    tokens = shlex.split(job.command.replace("\\\n", " "))
    args = tokens[2:]  # after 'python tool.py'
    assert args == sorted(args)
    assert "--p=x; touch pwned" in args
    assert f"--out_pred={job.folder}/pred.json" in args
    assert "--workers=0" in args and "--fail=False" in args


def test_render_command_var_args_and_values():
    cmd = render_command("prog", [("a", plan_mod.VarArgs(["/x y", "/z"])), ("b", {"k": [1]}), ("c", None)], multiline=False)
    assert shlex.split(cmd) == ["prog", "--a", "/x y", "/z", '--b={"k": [1]}', "--c=None"]


def test_several_outputs_into_one_input_are_var_args(tmp_path):
    producers = [ProcessNode(name=f"p{i}", executable="x", out_paths={"o": "o.txt"}, algo_params={"i": i}) for i in range(3)]
    combine = ProcessNode(name="combine", executable="x", in_paths={"items"}, out_paths={"o": "o.txt"})
    for prod in producers:
        prod.outputs["o"].connect(combine.inputs["items"])
    p = plan(Pipeline(producers + [combine]), [{}], tmp_path)
    job = _jobs(p, "combine")[0]
    # in connection order, not id order
    assert list(job.inputs["items"]) == [str(tmp_path / f"p{i}" / p.jobs[_jobs(p, f"p{i}")[0].job_id].name / "o.txt")
                                         for i in range(3)]
    assert len(job.parents) == 3
    assert "--items " in job.command


def test_bad_keys_are_reported_together_with_suggestions(tmp_path, src):
    rows = [{"predict.src": str(src), "predct.p": 1, "predict.workrs": 2, "evaluate.out_eval": "x",
             "evaluate.pred": "y", "nodot": 1}]
    with pytest.raises(ParamsError) as info:
        plan(two_stage(), rows, tmp_path, source="params.yaml")
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith("params.yaml: ")
    assert "key 'predct.p' names no node of the pipeline (did you mean 'predict'?)" in msg
    assert "node 'predict' declares no param 'workrs' (did you mean 'workers'?)" in msg
    assert "'evaluate.out_eval' is an output of evaluate" in msg
    assert "'evaluate.pred' is connected to predict.out_pred" in msg
    assert "key 'nodot' is not <node>.<param>" in msg


def test_missing_input_is_an_error(tmp_path):
    with pytest.raises(ParamsError, match=r"input\(s\) predict.src have no value"):
        plan(two_stage(), [{"predict.p": 3}], tmp_path)


@pytest.mark.parametrize("columns", [True, False], ids=["column-wise", "row-by-row"])
def test_short_id_collision_is_an_error(tmp_path, monkeypatch, columns):
    import trackdag.plan_columns as columns_mod

    monkeypatch.setattr(plan_mod, "COLUMNS", columns)
    monkeypatch.setattr(plan_mod, "short_id", lambda full: "samesameaaaa")
    monkeypatch.setattr(columns_mod, "short_ids", lambda fulls: ["samesameaaaa"] * len(fulls))
    node = ProcessNode(name="n", executable="x", algo_params={"x": 1})
    with pytest.raises(PlanError, match="short id collision in node 'n': samesameaaaa"):
        plan(Pipeline([node]), [{"n.x": 1}, {"n.x": 2}], tmp_path)


def test_resolved_and_requested(tmp_path, src):
    p = plan(two_stage(), [{"predict.src": str(src), "evaluate.thresh": 0.7, "evaluate.workers": 2}], tmp_path)
    ev = _jobs(p, "evaluate")[0]
    pr = _jobs(p, "predict")[0]
    assert ev.requested == {"predict.src": str(src), "evaluate.thresh": 0.7, "evaluate.workers": 2}
    assert pr.requested == {"predict.src": str(src)}
    assert ev.resolved["evaluate.thresh"] == 0.7 and ev.resolved["evaluate.workers"] == 2
    assert ev.resolved["evaluate.true"] == str(src)


# --------------------------------------------------------------------------
# Command-line bounds: NUL bytes and argument lengths are refused at plan time.


def _one_node(**algo):
    return Pipeline([ProcessNode(name="n", executable="prog", algo_params=algo or {"x": 0})])


@pytest.mark.parametrize("row, expected", [
    ({"n.x": "a\x00b"}, "p.yaml: 'n.x': the value contains a NUL byte (\\0), which a command-line "
                        "argument cannot hold"),
    ({"n.x": ["ok", {"k": "\x00"}]}, "p.yaml: 'n.x': the value contains a NUL byte"),
    ({"n.x": {"k\x00": 1}}, "p.yaml: 'n.x': the value contains a NUL byte"),
    ({"n.x\x00": 1}, "p.yaml: key 'n.x\\x00' contains a NUL byte (\\0)"),
])
def test_nul_byte_is_refused_naming_the_key(tmp_path, row, expected):
    with pytest.raises(ParamsError) as info:
        plan(_one_node(), [{"n.x": 1}, row], tmp_path, source="p.yaml")
    assert str(info.value).startswith(expected) and "\n" not in str(info.value)


def test_nul_byte_from_an_include_entry_is_refused(tmp_path):
    from trackdag.matrix import expand_matrix

    rows = expand_matrix('matrix: {n.x: [1, 2]}\ninclude: [{n.x: 1, n.y: "a\\0b"}]')
    assert rows[0]["n.y"] == "a\x00b"  # YAML's "\0" escape
    with pytest.raises(ParamsError, match=r"^params: 'n.y': the value contains a NUL byte"):
        plan(_one_node(x=0, y=""), rows, tmp_path)


def test_an_argument_too_long_for_linux_is_refused_with_its_length(tmp_path):
    assert commands_mod.MAX_ARG_BYTES == 126_976 < 131_072
    with pytest.raises(ParamsError) as info:
        plan(_one_node(), [{"n.x": "v" * 200_000}], tmp_path, source="p.yaml")
    assert str(info.value) == (
        "p.yaml: 'n.x': the argument --x=... is 200,004 bytes, more than the 126,976 bytes one "
        "command-line argument may have (Linux refuses 131,072); pass a value this big in a file")
    # bytes, not characters: 'é' is two bytes in UTF-8
    with pytest.raises(ParamsError, match=r"is 140,004 bytes"):
        plan(_one_node(), [{"n.x": "é" * 70_000}], tmp_path)
    # a container is measured as the JSON it is written as
    with pytest.raises(ParamsError, match=r"^params: 'n.x': the argument --x=\.\.\. is"):
        plan(_one_node(), [{"n.x": ["v" * 1000] * 130}], tmp_path)


def test_the_longest_allowed_argument_passes(tmp_path):
    value = "v" * (commands_mod.MAX_ARG_BYTES - len("--x="))
    (job,) = plan(_one_node(), [{"n.x": value}], tmp_path).jobs.values()
    assert f"--x={value}" in shlex.split(job.command.replace("\\\n", " "))


def test_a_command_too_long_in_total_is_refused_naming_the_largest_argument(tmp_path):
    node = _one_node(**{f"p{i}": "" for i in range(11)})
    row = {f"n.p{i}": "v" * (100_000 + i) for i in range(11)}
    with pytest.raises(ParamsError) as info:
        plan(node, [row], tmp_path, source="p.yaml")
    message = str(info.value)
    assert message.startswith("p.yaml: node 'n': its command is 1,100,127 bytes, ")
    assert ("more than the 1,048,576 bytes a command line may safely have (ARG_MAX, shared with "
            "the environment); the largest argument is 'n.p10' (100,016 bytes)") in message
    row = {f"n.p{i}": "v" * 100_000 for i in range(9)}
    assert len(plan(node, [row], tmp_path).jobs) == 1  # 900 KB is fine


@pytest.mark.parametrize("root_name", ["plain", "with space", "it's", "日本"])
def test_commands_are_the_shell_quoting_of_their_arguments_whatever_the_root(tmp_path, root_name):
    """Planning builds commands from cached and unquoted pieces; each must equal render_command's."""
    from trackdag.node import ProcessNode
    from trackdag.pipeline import Pipeline

    a = ProcessNode(name="a", executable="prog a", in_paths={"src"}, out_paths={"out": "o.json", "d": "."},
                    algo_params={"x": 1, "s": "a b"}, perf_params={"w": 0})
    b = ProcessNode(name="b", executable="prog b", in_paths={"inp"}, out_paths={"res": "sub/r.json"})
    a.outputs["out"].connect(b.inputs["inp"])
    rows = [{"a.src": src, "a.x": x} for src in ("data.txt", "my file.txt") for x in (1, -0.0, "$(id)", None, [1, 2])]
    the_plan = plan(Pipeline([a, b]), rows, tmp_path / root_name, cwd=str(tmp_path))
    for job in the_plan.jobs.values():
        executable = "prog a" if job.node == "a" else "prog b"
        args = sorted({**job.params, **job.inputs, **job.outputs}.items())
        assert job.command == render_command(executable, args)


def test_a_job_is_frozen_and_replace_changes_only_what_it_names(tmp_path):
    """A Job keeps few fields and makes folder, outputs and command when asked; it stays immutable."""
    from trackdag.node import ProcessNode
    from trackdag.pipeline import Pipeline

    a = ProcessNode(name="a", executable="prog", out_paths={"out": "o.json"}, algo_params={"x": 1})
    (job,) = plan(Pipeline([a]), [{"a.x": 2}], tmp_path).jobs.values()
    with pytest.raises(AttributeError, match="frozen"):
        job.params = {}
    with pytest.raises(AttributeError):
        job.folder = "/elsewhere"  # a made field has no setter either
    assert job.folder == f"{tmp_path}/a/{job.name}"
    assert job.outputs == {"out": f"{job.folder}/o.json"}
    moved = job.replace(resources={"num_cpus": 2})
    assert moved.resources == {"num_cpus": 2} and moved != job
    assert moved.replace(resources=job.resources) == job
    assert (moved.command, moved.folder, moved.params) == (job.command, job.folder, job.params)
    with pytest.raises(TypeError, match="unknown field"):
        job.replace(colour="red")
    with pytest.raises(TypeError):
        hash(job)  # its fields are dicts
    assert job == plan(Pipeline([a]), [{"a.x": 2}], tmp_path).jobs[job.job_id]  # equal by value, plan to plan
    assert "command=" in repr(job) and job.job_id in repr(job)


def test_an_output_named_in_the_row_is_the_jobs_own_and_in_its_command(tmp_path):
    """KWDagger's ``<node>.<output>: name``: kept on the job, since its outputs differ from the node's."""
    from trackdag.node import ProcessNode
    from trackdag.pipeline import Pipeline

    a = ProcessNode(name="a", executable="prog", out_paths={"out": "o.json"}, algo_params={"x": 1})
    jobs = plan(Pipeline([a]), [{"a.x": 1}, {"a.x": 1, "a.out": "other.json"}], tmp_path, out_overrides=True).jobs
    plain, named = jobs.values()
    assert plain.outputs == {"out": f"{plain.folder}/o.json"}
    assert named.outputs == {"out": f"{named.folder}/other.json"}
    assert f"--out={named.folder}/other.json" in named.command
    assert named.command == render_command("prog", sorted({**named.params, **named.outputs}.items()))
