"""`trackdag diff A B` (issue 12.3): which effective params and ancestor jobs differ, why the ids differ,
metrics side by side; on real sweeps in real catalogs."""
import json
import shlex
import subprocess
import sys

import pytest
from click.testing import CliRunner

from conftest import run_demo, single
from trackdag import open_catalog
from trackdag.cli import main
from trackdag.diff import ABSENT, DiffError, diff_jobs, format_diff
from trackdag.node import ProcessNode
from trackdag.pipeline import Pipeline
from trackdag.sweep import run

PREDICT = """
import json, sys
args = dict(a[2:].split("=", 1) for a in sys.argv[1:])
json.dump({"value": float(args["p"]) * len(open(args["src"]).read())}, open(args["out"], "w"))
"""
EVALUATE = """
import json, sys
args = dict(a[2:].split("=", 1) for a in sys.argv[1:])
value = json.load(open(args["pred"]))["value"]
json.dump({"score": value - float(args["thresh"]), "n": 3}, open(args["out"], "w"))
"""


def _pipeline(folder):
    """predict(src, p; perf workers) -> evaluate(pred, thresh); evaluate's JSON output is its result."""
    python = shlex.quote(sys.executable)
    (folder / "predict.py").write_text(PREDICT)
    (folder / "evaluate.py").write_text(EVALUATE)
    predict = ProcessNode(name="predict", executable=f"{python} {shlex.quote(str(folder / 'predict.py'))}",
                          in_paths={"src"}, out_paths={"out": "pred.json"}, algo_params={"p": 1},
                          perf_params={"workers": 0})
    evaluate = ProcessNode(name="evaluate", executable=f"{python} {shlex.quote(str(folder / 'evaluate.py'))}",
                           in_paths={"pred"}, out_paths={"out": "eval.json"}, algo_params={"thresh": 0.5})
    predict.outputs["out"].connect(evaluate.inputs["pred"])
    return Pipeline([predict, evaluate])


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """2 predict jobs (p 1, 2) x 2 evaluate jobs each (thresh 0.5, 0.7); returns (root, jobs)."""
    folder = tmp_path_factory.mktemp("diff")
    (folder / "data.txt").write_text("hello\n")
    root = folder / "out"
    res = run({"predict.src": str(folder / "data.txt"), "predict.p": [1, 2], "evaluate.thresh": [0.5, 0.7]},
              pipeline=_pipeline(folder), root=root, backend="local", workers=2)
    assert res.exit_code == 0
    with open_catalog(root) as cat:
        ev = cat.sql('SELECT "params.predict.p", "params.evaluate.thresh", short_id, param_hashid '
                     "FROM results_evaluate").fetchall()
        pr = cat.sql('SELECT "params.predict.p", short_id, param_hashid FROM results_predict').fetchall()
    jobs = {("evaluate", p, t): (s, h) for p, t, s, h in ev}
    jobs.update({("predict", p): (s, h) for p, s, h in pr})
    return root, jobs


@pytest.fixture(scope="module")
def many(tmp_path_factory):
    """37 jobs of one node: more than the 36 first characters a short id can have, so a 1-character
    prefix is ambiguous. Returns (root, that prefix, a short id)."""
    root = tmp_path_factory.mktemp("many") / "out"
    assert run({"job.i": list(range(37))}, pipeline=single("job"), root=root, backend="local",
               workers=4).exit_code == 0
    shorts = sorted(p.name.rsplit("_id_", 1)[1] for p in (root / "job").iterdir())
    prefix = next(s[:1] for s in shorts if sum(t.startswith(s[:1]) for t in shorts) > 1)
    return root, prefix, shorts[0]


def _name(jobs, *key):
    node = key[0]
    return f"{node}/{node}_id_{jobs[key][0]}"


def _cli(*args):
    return CliRunner().invoke(main, ["diff", *args], catch_exceptions=False)


# -- the library --------------------------------------------------------------------------------------
def test_only_the_upstream_param_differs_so_evaluate_differs_by_its_parent(sweep):
    root, jobs = sweep
    a, b = jobs[("evaluate", 1, 0.5)][0], jobs[("evaluate", 2, 0.5)][0]
    d = diff_jobs(a, b, root)
    assert (d.a.short_id, d.b.short_id, d.a.node, d.a.status) == (a, b, "evaluate", "done")
    assert [(p.key, p.kind, p.a, p.b) for p in d.params] == [("predict.p", "algo", 1, 2)]
    assert d.same == 3  # predict.src, evaluate.thresh, predict.workers
    assert d.ancestors == {"predict": ([_name(jobs, "predict", 1)], [_name(jobs, "predict", 2)])}
    assert d.why == [f"their parent jobs differ: {_name(jobs, 'predict', 1)} vs {_name(jobs, 'predict', 2)}, "
                     "because of predict.p"]
    assert d.metrics == {"metrics.evaluate.score": (5.5, 11.5), "metrics.evaluate.n": (3, 3)}
    assert not d.same_job


def test_an_own_param_differs_and_the_ancestors_do_not(sweep):
    root, jobs = sweep
    d = diff_jobs(jobs[("evaluate", 1, 0.5)][0], jobs[("evaluate", 1, 0.7)][0], root)
    assert [(p.key, p.kind, p.a, p.b) for p in d.params] == [("evaluate.thresh", "algo", 0.5, 0.7)]
    assert d.ancestors == {}
    assert d.why == ["their own algo params differ: evaluate.thresh (0.5 vs 0.7)"]
    assert d.metrics["metrics.evaluate.score"] == (5.5, pytest.approx(5.3))


def test_both_differences_at_once_and_the_json_form(sweep):
    root, jobs = sweep
    d = diff_jobs(jobs[("evaluate", 1, 0.5)][0], jobs[("evaluate", 2, 0.7)][0], root)
    assert [p.key for p in d.params] == ["predict.p", "evaluate.thresh"]  # the matrix's order
    assert d.why == ["their own algo params differ: evaluate.thresh (0.5 vs 0.7)",
                     f"their parent jobs differ: {_name(jobs, 'predict', 1)} vs {_name(jobs, 'predict', 2)}, "
                     "because of predict.p"]
    out = json.loads(json.dumps(d.as_dict()))
    assert set(out) == {"a", "b", "params", "same", "ancestors", "why", "metrics", "same_job"}
    assert set(out["a"]) == {"job_id", "short_id", "node", "status", "folder", "param_hashid"}
    assert out["params"][0] == {"key": "predict.p", "kind": "algo", "a": 1, "b": 2}
    assert out["ancestors"] == {"predict": {"a": [_name(jobs, "predict", 1)], "b": [_name(jobs, "predict", 2)]}}
    assert out["metrics"]["metrics.evaluate.n"] == {"a": 3, "b": 3}


def test_jobs_without_results_have_no_metrics_and_a_job_equals_itself(sweep):
    root, jobs = sweep
    d = diff_jobs(jobs[("predict", 1)][0], jobs[("predict", 2)][0], root)
    assert d.why == ['their own algo params differ: predict.p (1 vs 2)'] and d.metrics == {} and d.ancestors == {}
    same = diff_jobs(jobs[("evaluate", 2, 0.7)][0], jobs[("evaluate", 2, 0.7)][0], root)
    assert same.same_job and same.params == [] and same.ancestors == {} and same.same == 4
    assert same.why == ["A and B are the same job"]
    assert same.metrics["metrics.evaluate.score"] == (pytest.approx(11.3), pytest.approx(11.3))


def test_jobs_of_two_nodes(sweep):
    root, jobs = sweep
    d = diff_jobs(jobs[("predict", 1)][0], jobs[("evaluate", 1, 0.5)][0], root)
    assert d.why == ["they are jobs of different nodes (predict, evaluate): a job id always covers its node"]
    assert [(p.key, p.a, p.b) for p in d.params] == [("evaluate.thresh", ABSENT, 0.5)]
    assert d.ancestors == {"predict": ([], [_name(jobs, "predict", 1)])}


def test_refs_are_what_show_takes_or_param_hashids(sweep):
    root, jobs = sweep
    short, hashid = jobs[("evaluate", 1, 0.5)]
    folder = root / "evaluate" / f"evaluate_id_{short}"
    full = diff_jobs(short, short, root).a.job_id
    for ref in (short, short[:8], full, f"evaluate_id_{short}", str(folder), str(folder / "eval.json"), hashid):
        assert diff_jobs(ref, jobs[("evaluate", 2, 0.5)][0], root).a.short_id == short, ref
    assert diff_jobs(str(folder), str(folder)).a.param_hashid == hashid  # a folder's own root, no --root


def test_unknown_and_ambiguous_refs_are_diff_errors(sweep, many):
    root, jobs = sweep
    with pytest.raises(DiffError, match="no job 'zzzzz' in "):
        diff_jobs("zzzzz", jobs[("predict", 1)][0], root)
    with pytest.raises(DiffError, match="no job and no param_hashid 'qqqqqqqqqqqq'"):
        diff_jobs(jobs[("predict", 1)][0], "qqqqqqqqqqqq", root)
    many_root, prefix, short = many
    with pytest.raises(DiffError, match=f"'{prefix}' names several jobs"):
        diff_jobs(prefix, short, many_root)
    assert DiffError("x").exit_code == 2


# -- the command line ---------------------------------------------------------------------------------
def test_cli_text_names_the_differences_exactly(sweep):
    root, jobs = sweep
    (a, ha), (b, hb) = jobs[("evaluate", 1, 0.5)], jobs[("evaluate", 2, 0.7)]
    res = _cli(a, b, "--root", str(root))
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    pa, pb = _name(jobs, "predict", 1), _name(jobs, "predict", 2)
    assert lines == [
        f"A  evaluate/evaluate_id_{a}  done  param_hashid {ha}",
        f"B  evaluate/evaluate_id_{b}  done  param_hashid {hb}",
        "why the ids differ:",
        "  - their own algo params differ: evaluate.thresh (0.5 vs 0.7)",
        f"  - their parent jobs differ: {pa} vs {pb}, because of predict.p",
        "params that differ (own and ancestors'; 2 the same):",
        "  predict.p        algo   A 1  B 2",
        "  evaluate.thresh  algo   A 0.5  B 0.7",
        "ancestor jobs that differ:",
        f"  predict: A {pa}  B {pb}",
        "metrics:",
        "  metrics.evaluate.score  A 5.5  B 11.3",
        "  metrics.evaluate.n      A 3  B 3",
    ]
    assert res.stderr == ""


def test_cli_only_the_upstream_param_differs(sweep):
    root, jobs = sweep
    a, b = jobs[("evaluate", 1, 0.5)][0], jobs[("evaluate", 2, 0.5)][0]
    res = _cli(f"evaluate_id_{a}", str(root / "evaluate" / f"evaluate_id_{b}"), "--root", str(root))
    assert res.exit_code == 0, res.output
    pa, pb = _name(jobs, "predict", 1), _name(jobs, "predict", 2)
    assert f"  - their parent jobs differ: {pa} vs {pb}, because of predict.p\n" in res.stdout
    assert "own algo params" not in res.stdout
    assert "\n  predict.p  algo   A 1  B 2\n" in res.stdout
    assert f"\n  predict: A {pa}  B {pb}\n" in res.stdout
    assert "\n  metrics.evaluate.score  A 5.5  B 11.5\n" in res.stdout


def test_cli_json_and_param_hashids(sweep):
    root, jobs = sweep
    (a, ha), (b, hb) = jobs[("evaluate", 1, 0.5)], jobs[("evaluate", 1, 0.7)]
    res = _cli(ha, hb, "--root", str(root), "--format", "json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert (out["a"]["short_id"], out["b"]["short_id"]) == (a, b)
    assert (out["a"]["param_hashid"], out["b"]["param_hashid"]) == (ha, hb)
    assert out["params"] == [{"key": "evaluate.thresh", "kind": "algo", "a": 0.5, "b": 0.7}]
    assert out["why"] == ["their own algo params differ: evaluate.thresh (0.5 vs 0.7)"]
    assert out["same_job"] is False and out["ancestors"] == {}
    assert out["metrics"]["metrics.evaluate.score"]["a"] == 5.5


def test_cli_a_job_with_itself(sweep):
    root, jobs = sweep
    a, ha = jobs[("predict", 2)]
    res = _cli(a, f"predict_id_{a}", "--root", str(root))
    assert res.exit_code == 0, res.output
    assert res.stdout.splitlines() == [f"A  predict/predict_id_{a}  done  param_hashid {ha}",
                                       f"B  predict/predict_id_{a}  done  param_hashid {ha}",
                                       "why:", "  - A and B are the same job", "params: all 3 the same"]


def test_cli_bad_refs_exit_two_with_one_line(sweep, many, tmp_path):
    root, jobs = sweep
    res = _cli("zzzzz", jobs[("predict", 1)][0], "--root", str(root))
    assert res.exit_code == 2 and res.stdout == ""
    assert res.stderr == (f"Error: no job 'zzzzz' in {root / 'catalog.duckdb'} (give a short id or a prefix of one, "
                          "a full id, or a job folder)\n")
    many_root, prefix, short = many
    res = _cli(short, prefix, "--root", str(many_root))
    assert res.exit_code == 2 and res.stderr.startswith(f"Error: '{prefix}' names several jobs (job_id_")
    assert res.stderr.count("\n") == 1 and res.stdout == ""
    res = _cli("a", "b", "--root", str(tmp_path / "nothing"))
    assert res.exit_code == 2 and res.stderr.startswith("Error: no catalog at ") and res.stderr.count("\n") == 1
    res = _cli(short, "--root", str(many_root))
    assert res.exit_code == 2 and "Missing argument 'B'" in res.stderr


def test_the_console_script_prints_no_traceback(sweep):
    root, _ = sweep
    res = subprocess.run([sys.executable, "-m", "trackdag", "diff", "qqqqqqqqqqqq", "zzzz", "--root", str(root)],
                         capture_output=True, text=True)
    assert res.returncode == 2 and res.stdout == ""
    assert res.stderr.startswith("Error: no job and no param_hashid 'qqqqqqqqqqqq' in ") and res.stderr.count("\n") == 1


# -- the demo: param_hashids shared by a job and its descendant ------------------------------------
def test_demo_hashids_name_the_evaluate_jobs(tmp_path):
    root = run_demo(tmp_path / "demo")
    with open_catalog(root) as cat:
        rows = dict(((s, p), (short, h)) for s, p, short, h in cat.sql(
            'SELECT "params.stage1_predict.src_fpath", "params.stage1_predict.param1", short_id, param_hashid '
            "FROM results_stage1_evaluate").fetchall())
        shared = cat.sql("SELECT count(DISTINCT node) FROM job_state WHERE param_hashid = ?",
                         params=[rows[("README.rst", 123)][1]]).fetchall()[0][0]
    assert shared == 2  # stage1_evaluate adds only a perf param: it shares its parent's hashid
    (a, ha), (b, hb) = rows[("README.rst", 123)], rows[("README.rst", 456)]
    d = diff_jobs(ha, hb, root)
    assert (d.a.short_id, d.b.short_id) == (a, b)  # the most downstream job of each hashid
    assert [(p.key, p.a, p.b) for p in d.params] == [("stage1_predict.param1", 123, 456)]
    assert list(d.metrics) == ["metrics.stage1_evaluate.accuracy", "metrics.stage1_evaluate.hamming_distance"]
    assert len(d.why) == 1 and d.why[0].startswith("their parent jobs differ: stage1_predict/stage1_predict_id_")
    assert d.why[0].endswith(", because of stage1_predict.param1")
    # the source file differs too: the forwarded input true_fpath enters the evaluate job's id
    c = rows[("run_pipeline.sh", 123)][0]
    text = format_diff(diff_jobs(a, c, root))
    src = tmp_path / "demo"
    assert (f"  - their inputs not produced by a parent differ: stage1_evaluate.true_fpath "
            f"(\"{src / 'README.rst'}\" vs \"{src / 'run_pipeline.sh'}\")") in text.splitlines()
    assert '  stage1_predict.src_fpath  input  A "README.rst"  B "run_pipeline.sh"' in text.splitlines()
    # a hashid beside a job of one node names that node's job
    predict = diff_jobs(ha, f"{root}/stage1_predict/{d.ancestors['stage1_predict'][1][0].split('/')[1]}", root)
    assert predict.a.node == "stage1_predict" and predict.a.param_hashid == ha


def test_a_gather_differs_by_its_members_not_by_its_list_file(tmp_path):
    """A gathering job's input is a list file in its own folder: the members (its parents) are the reason."""
    from conftest import SCENARIOS

    root = tmp_path / "out"
    res = run({"matrix": {"shard.seed": [1, 2], "shard.fold": [0, 1]}}, root=root, backend="local", workers=2,
              pipeline=f"{SCENARIOS / 'pipelines' / 'gathering.py'}::build()")
    assert res.exit_code == 0
    with open_catalog(root) as cat:
        merges = dict(cat.sql('SELECT "params.merge.seed", short_id FROM results_merge').fetchall())
        shards = cat.sql("SELECT ancestor_short_id FROM lineage l JOIN jobs j USING (job_id) "
                         "WHERE j.short_id = ? AND ancestor_node = 'shard' ORDER BY 1", params=[merges[1]]).fetchall()
    d = diff_jobs(merges[1], merges[2], root)
    assert [r.split(":")[0] for r in d.why] == ["their own algo params differ", "their parent jobs differ"]
    assert d.why[0] == "their own algo params differ: merge.seed (1 vs 2)" and "_gather" not in "".join(d.why)
    assert d.why[1].endswith(", because of shard.seed")
    assert d.ancestors["shard"][0] == [f"shard/shard_id_{s}" for (s,) in shards]
    assert [p.key for p in d.params] == ["shard.seed", "merge.seed"]  # shard.fold: [0, 1] in both
