"""results: load_result -> .result.json -> results table; default loader; broken results keep the job done."""
import json
import shlex
import sys
from pathlib import Path

import duckdb

from trackdag.node import ProcessNode
from trackdag.pipeline import Pipeline
from trackdag.results import collect_result, default_result, read_result_json
from trackdag.sweep import run

# A tiny program: writes {"score": <p> / 10, "nested": {"n": <p>, "name": "x"}, "flag": true} to --out.
TOOL = """
import json, sys
args = dict(a[2:].split("=", 1) for a in sys.argv[1:])
p = float(args["p"])
with open(args["out"], "w") as fh:
    json.dump({"score": p / 10, "nested": {"n": p, "name": "x"}, "flag": True}, fh)
"""


def _tool(tmp_path: Path) -> str:
    path = tmp_path / "scorer.py"
    path.write_text(TOOL)
    return f"{shlex.quote(sys.executable)} {shlex.quote(str(path))}"


def _picky_loader(job_dpath):
    """Raises for p == 2, returns junk for p == 3, a valid row otherwise."""
    data = json.loads((Path(job_dpath) / "out.json").read_text())
    if data["nested"]["n"] == 2:
        raise RuntimeError("cannot parse this one")
    if data["nested"]["n"] == 3:
        return {"score": data["score"]}  # junk: no metrics./... prefix
    return {"metrics.ev.score": data["score"], "context.ev.note": "fine"}


def _pipeline(tmp_path: Path, load_result=None) -> Pipeline:
    # ev is not a leaf: it declares metrics (default_metrics) to be a result node
    first = ProcessNode(name="ev", executable=_tool(tmp_path), out_paths={"out": "out.json"},
                        algo_params={"p": 1}, load_result=load_result,
                        default_metrics=[{"metric": "score", "objective": "maximize", "primary": True}])
    after = ProcessNode(name="after", executable="true", in_paths={"src"}, out_paths={"dir": "."})
    first.outputs["out"].connect(after.inputs["src"])
    return Pipeline([first, after])


def test_collect_result_never_raises_and_says_why():
    def boom(_):
        raise ValueError("bad file")

    assert collect_result("n", boom, None, "/x") == (None, "load_result raised ValueError: bad file")
    row, err = collect_result("n", lambda _: [1, 2], None, "/x")
    assert row is None and "returned list" in err
    row, err = collect_result("n", lambda _: {"metrics.n.a": {"nested": 1}, "machine.n.tags": ["a", "b"]}, None, "/x")
    assert err is None and row == {"metrics.n.a": '{"nested": 1}', "machine.n.tags": '["a", "b"]'}  # JSON text
    row, err = collect_result("n", lambda _: {"metrics.n.a": object()}, None, "/x")
    assert row is None and "values must be numbers" in err
    row, err = collect_result("n", lambda d: {"metrics.n.where": d / "out.json"}, None, "/x")
    assert err is None and row == {"metrics.n.where": "/x/out.json"}  # load_result gets a Path
    row, err = collect_result("n", lambda _: {"acc": 1}, None, "/x")
    assert row is None and "must start with one of metrics." in err
    assert collect_result("n", lambda _: None, None, "/x") == (None, None)  # nothing to report
    row, err = collect_result("n", lambda _: {"metrics.n.a": float("nan"), "metrics.n.b": 2}, None, "/x")
    assert err is None and row == {"metrics.n.a": None, "metrics.n.b": 2}


def test_default_loader_reads_numeric_leaves_of_a_json_primary_output(tmp_path):
    out = tmp_path / "o.json"
    out.write_text(json.dumps({"acc": 0.5, "sub": {"n": 3, "s": "x"}, "ok": True, "bad": float("inf")}))
    assert default_result("ev", str(out)) == {"metrics.ev.acc": 0.5, "metrics.ev.sub.n": 3}
    assert default_result("ev", str(tmp_path / "missing.json")) is None
    (tmp_path / "o.txt").write_text("1")
    assert default_result("ev", str(tmp_path / "o.txt")) is None


def test_default_loader_end_to_end(tmp_path):
    res = run({"ev.p": [4, 5]}, pipeline=_pipeline(tmp_path), root=tmp_path / "out", backend="local", workers=2)
    assert res.exit_code == 0
    con = duckdb.connect(res.catalog, read_only=True)
    rows = con.execute("SELECT r.key, r.value_num FROM results r JOIN jobs j USING (job_id) "
                       "ORDER BY r.value_num").fetchall()
    assert rows == [("metrics.ev.score", 0.4), ("metrics.ev.score", 0.5),
                    ("metrics.ev.nested.n", 4.0), ("metrics.ev.nested.n", 5.0)]
    assert sorted(con.execute("SELECT node, result_status FROM jobs").fetchall()) == [
        ("after", "none"), ("after", "none"), ("ev", "ok"), ("ev", "ok")]
    con.close()


def test_a_failing_load_result_marks_the_result_broken_and_the_run_goes_on(tmp_path):
    res = run({"ev.p": [1, 2, 3]}, pipeline=_pipeline(tmp_path, _picky_loader), root=tmp_path / "out",
              backend="local", workers=1)
    # every job is done: a broken result is not a failed job, and descendants still ran
    assert res.exit_code == 0 and res.counts.done == 6 and res.counts.failed == 0
    con = duckdb.connect(res.catalog, read_only=True)
    states = dict(con.execute(
        "SELECT (SELECT value_num FROM params p WHERE p.job_id = j.job_id AND p.key = 'p'), "
        "j.status || '/' || j.result_status || '/' || coalesce(j.result_error, '') "
        "FROM jobs j WHERE node = 'ev'").fetchall())
    assert states[1.0] == "done/ok/"
    assert states[2.0] == "done/broken/load_result raised RuntimeError: cannot parse this one"
    assert states[3.0].startswith("done/broken/load_result key 'score' must start with one of metrics.")
    assert con.execute("SELECT key, value_num, value_text FROM results ORDER BY key").fetchall() == [
        ("context.ev.note", None, "fine"), ("metrics.ev.score", 0.1, None)]
    folders = dict(con.execute("SELECT result_status, folder FROM jobs WHERE node = 'ev'").fetchall())
    con.close()
    # .result.json keeps the row or the error, so the catalog can be rebuilt without user code
    assert read_result_json(folders["ok"])["result"] == {"metrics.ev.score": 0.1, "context.ev.note": "fine"}
    broken = read_result_json(folders["broken"])
    assert broken["result"] is None and broken["error"].startswith("load_result")
    # the broken jobs are done, so a rerun runs nothing
    again = run({"ev.p": [1, 2, 3]}, pipeline=_pipeline(tmp_path, _picky_loader), root=tmp_path / "out",
                backend="local")
    assert again.counts.done == 0 and again.counts.cached == 6


def test_results_are_written_in_micro_batches_through_arrow(tmp_path):
    """One record() call writes many jobs' rows in one transaction; rows of a job are replaced, not added."""
    from trackdag.catalog import Catalog
    from trackdag.plan import plan

    pipe = _pipeline(tmp_path)
    the_plan = plan(pipe, [{"ev.p": p} for p in range(50)], tmp_path / "out")
    cat = Catalog(tmp_path / "out" / "catalog.duckdb")
    cat.begin_run({"run_id": "r", "root": str(tmp_path), "backend": "local", "host": "h", "pid": 1,
                   "trackdag_version": "t", "started": __import__("datetime").datetime.now(), "status": "running"})
    cat.register_plan("r", the_plan, {j: "planned" for j in the_plan.jobs})
    evs = [j for j in the_plan.jobs.values() if j.node == "ev"]
    batch = [(j.job_id, {"metrics.ev.score": i, "machine.ev.host": "h"}, None) for i, j in enumerate(evs)]
    cat.record([{"job_id": j.job_id, "status": "done"} for j in evs], [], batch)
    assert cat.query("SELECT count(*), count(DISTINCT job_id) FROM results") == [(100, 50)]
    cat.record([], [], [(evs[0].job_id, {"metrics.ev.score": 7}, None)])
    assert cat.query("SELECT key, value_num FROM results WHERE job_id = ?", [evs[0].job_id]) == [
        ("metrics.ev.score", 7.0)]
    # the writer keeps the views and param_hashids current
    assert cat.query("SELECT count(*) FROM param_sets") == [(100,)]
    assert cat.query('SELECT "metrics.ev.score" FROM results_ev WHERE job_id = ?', [evs[0].job_id]) == [(7,)]


def test_an_output_may_be_called_result_json(tmp_path):
    # KWDagger's own test pipelines name outputs result.json; trackdag's record is .result.json
    import sys

    prog = tmp_path / "p.py"
    prog.write_text("import sys, json\nout = [a.split('=', 1)[1] for a in sys.argv if a.startswith('--result_fpath=')][0]\n"
                    "json.dump({'score': 3}, open(out, 'w'))\n")
    node = ProcessNode(name="n", executable=f"{sys.executable} {prog}", algo_params={"x": 1},
                       out_paths={"result_fpath": "result.json"})
    result = run({"n.x": 1}, pipeline=Pipeline([node]), root=tmp_path / "r", backend="local")
    assert result.exit_code == 0
    [job] = result.plan.jobs.values()
    folder = tmp_path / "r" / "n" / job.name
    assert json.loads((folder / "result.json").read_text()) == {"score": 3}           # the user's output
    assert json.loads((folder / ".result.json").read_text())["result"] == {"metrics.n.score": 3}


def test_a_result_record_an_older_trackdag_wrote_is_read(tmp_path):
    from trackdag.results import read_result_json

    record = {"job_id": "j", "node": "n", "result": {"metrics.n.a": 1}, "error": None}
    (tmp_path / "result.json").write_text(json.dumps(record))
    assert read_result_json(str(tmp_path)) == record
    (tmp_path / "result.json").write_text(json.dumps({"score": 3}))   # a user's output of that name: not a record
    assert read_result_json(str(tmp_path)) is None
