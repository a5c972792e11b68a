"""run --rerun SELECTOR: redo the done jobs you choose, their old outputs moved aside (issue 12, item 2)."""
import json
import os
import re
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from conftest import DEMO_PARAMS, SCENARIOS, run_demo
from test_records import _dump
from trackdag.cli import main
from trackdag.errors import PipelineError
from trackdag.node import ProcessNode
from trackdag.pipeline import Pipeline
from trackdag.reindex import reindex
from trackdag.rerun import SelectorError
from trackdag.sweep import run
from trackdag.verify import verify

PIPE = f"{SCENARIOS / 'pipelines' / 'two_stage.py'}::make()"
PS = [1, 2, 150]


def _params(src, *extra):
    return "\n".join([f"pipeline: '{PIPE}'", "matrix:", f"  predict.src: {src}", f"  predict.p: {PS}", *extra])


def _invoke(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def _run(root, src, *extra):
    return _invoke("run", "--params", _params(src), "--root", str(root), "--backend", "local", "--workers", "2",
                   *extra)


@pytest.fixture
def sweep(tmp_path, src, ledger):
    """A finished two-node sweep (3 predict -> 3 evaluate), the ledger emptied."""
    root = tmp_path / "out"
    assert _run(root, src).exit_code == 0
    ledger.write_text("")
    return root


def _jobs(root):
    """folder name -> (job id, folder) of every job."""
    con = duckdb.connect(str(root / "catalog.duckdb"), read_only=True)
    try:
        rows = con.execute("SELECT node || '_id_' || short_id, job_id, folder FROM jobs").fetchall()
    finally:
        con.close()
    return {name: (job_id, Path(folder)) for name, job_id, folder in rows}


def _p(root, name):
    """The predict.p of a job (its own, or its predict parent's)."""
    folder = _jobs(root)[name][1]
    config = json.loads((folder / "job_config.json").read_text())
    return config["requested"]["predict.p"]


def _by_p(root, node, p):
    [name] = [n for n in _jobs(root) if n.startswith(node + "_id_") and _p(root, n) == p]
    return name


def _attempts(root):
    """folder name -> attempts recorded in the catalog."""
    con = duckdb.connect(str(root / "catalog.duckdb"), read_only=True)
    try:
        found = dict(con.execute("SELECT j.node || '_id_' || j.short_id, count(a.attempt) FROM jobs j "
                                 "LEFT JOIN attempts a USING (job_id) GROUP BY 1").fetchall())
    finally:
        con.close()
    return found


def _outputs(root):
    """folder name -> mtime_ns of its primary output."""
    return {name: os.stat(folder / ("pred.json" if name.startswith("predict") else "eval.json")).st_mtime_ns
            for name, (_, folder) in _jobs(root).items()}


def _ran(ledger):
    return sorted(os.path.basename(line) for line in ledger.read_text().splitlines())


def _summary(res):
    return [line for line in res.output.splitlines() if line.startswith("  rerun:") or line.startswith("  done:")]


# -- which jobs run again ------------------------------------------------------------------------
def test_rerun_by_short_id_redoes_the_job_and_its_descendants(sweep, src, ledger):
    target = _by_p(sweep, "predict", 2)
    child = _by_p(sweep, "evaluate", 2)
    before = _outputs(sweep)
    res = _run(sweep, src, "--rerun", target.split("_id_")[1])
    assert res.exit_code == 0, res.output
    assert _summary(res) == ["  done: 2  already done: 4  failed: 0  skipped: 0",
                             "  rerun: 2 jobs (1 selected, 1 downstream)"]
    assert _ran(ledger) == sorted([target, child])
    assert {n for n, k in _attempts(sweep).items() if k == 2} == {target, child}
    assert set(_attempts(sweep).values()) == {1, 2}
    after = _outputs(sweep)
    assert {n for n in before if before[n] != after[n]} == {target, child}


def test_no_downstream_redoes_only_the_selected_job(sweep, src, ledger):
    target = _by_p(sweep, "predict", 2)
    before = _outputs(sweep)
    res = _run(sweep, src, "--rerun", target.split("_id_")[1], "--no-downstream")
    assert res.exit_code == 0, res.output
    assert _summary(res) == ["  done: 1  already done: 5  failed: 0  skipped: 0",
                             "  rerun: 1 job (1 selected, 0 downstream)"]
    assert _ran(ledger) == [target]
    assert {n for n, k in _attempts(sweep).items() if k == 2} == {target}
    after = _outputs(sweep)
    assert {n for n in before if before[n] != after[n]} == {target}
    again = _run(sweep, src)  # the child stays done: its id does not change with its parent's outputs
    assert "done: 0  already done: 6" in again.output


def test_rerun_by_node_name_and_by_folder(sweep, src, ledger):
    res = run(_params(src), root=sweep, backend="local", workers=2, rerun=["evaluate"])
    assert res.exit_code == 0 and (len(res.rerun.selected), len(res.rerun.downstream)) == (3, 0)
    assert _ran(ledger) == sorted(n for n in _jobs(sweep) if n.startswith("evaluate"))
    ledger.write_text("")
    target = _by_p(sweep, "predict", 1)
    folder = _jobs(sweep)[target][1]
    res = run(_params(src), root=sweep, backend="local", rerun=[str(folder), target])  # union: one job
    assert res.rerun.line() == "rerun: 2 jobs (1 selected, 1 downstream)"
    assert _ran(ledger) == sorted([target, _by_p(sweep, "evaluate", 1)])


def test_rerun_by_sql_predicate_over_params(sweep, src, ledger):
    predicate = "node = 'evaluate' AND \"params.predict.p\" > 100"
    res = _run(sweep, src, "--rerun", predicate)
    assert res.exit_code == 0, res.output
    assert "  rerun: 1 job (1 selected, 0 downstream)" in res.output.splitlines()
    assert _ran(ledger) == [_by_p(sweep, "evaluate", 150)]
    ledger.write_text("")
    # several --rerun: the union; a job's own params and job_state columns both work
    res = _run(sweep, src, "--rerun", "\"params.predict.p\" = 1 AND node = 'predict'", "--rerun",
               f"short_id = '{_by_p(sweep, 'predict', 2).split('_id_')[1]}'", "--no-downstream")
    assert "  rerun: 2 jobs (2 selected, 0 downstream)" in res.output.splitlines()
    assert _ran(ledger) == sorted([_by_p(sweep, "predict", 1), _by_p(sweep, "predict", 2)])


# -- what happens to the old outputs and attempts --------------------------------------------------
def test_old_outputs_are_moved_aside_and_both_attempts_kept(sweep, src):
    target = _by_p(sweep, "predict", 2)
    job_id, folder = _jobs(sweep)[target]
    old = {name: (folder / name).read_bytes() for name in ("pred.json", "done.json", ".result.json", "stdout.log")}
    res = run(_params(src), root=sweep, backend="local", rerun=[target], downstream=False)
    assert res.exit_code == 0
    [aside] = list((folder / ".superseded").iterdir())
    assert re.fullmatch(r"\d{8}T\d{6}Z-1", aside.name)
    for name, content in old.items():
        assert (aside / name).read_bytes() == content
    record = json.loads((aside / "superseded.json").read_text())
    assert record["job_id"] == job_id and record["run_id"] == res.run_id and record["attempt"] == 1
    assert record["moved"][0] == "done.json"
    assert set(record["moved"]) == {".result.json", "args.json", "done.json", "pred.json", "stderr.log", "stdout.log"}
    assert sorted(os.listdir(folder)) == sorted([".attempts", ".result.json", ".succ", ".superseded", "args.json", "done.json",
                                                 "invoke.sh", "job_config.json", "pred.json",
                                                 "stderr.log", "stdout.log"])
    assert json.loads((folder / "done.json").read_text())["job_id"] == job_id
    assert (folder / "done.json").read_bytes() != old["done.json"]
    con = duckdb.connect(str(sweep / "catalog.duckdb"), read_only=True)
    try:
        attempts = con.execute("SELECT attempt, run_id = ?, status FROM attempts WHERE job_id = ? ORDER BY 1",
                               [res.run_id, job_id]).fetchall()
        state = con.execute("SELECT status, attempts FROM job_state WHERE job_id = ?", [job_id]).fetchone()
    finally:
        con.close()
    assert attempts == [(1, False, "done"), (2, True, "done")]
    assert state == ("done", 2)


def test_verify_and_reindex_stay_happy_after_a_rerun(sweep, src):
    target = _by_p(sweep, "predict", 150)
    run(_params(src), root=sweep, backend="local", rerun=[target])
    assert verify(sweep) == []
    catalog = sweep / "catalog.duckdb"
    before = _dump(catalog)
    catalog.unlink()
    reindex(sweep)
    after = _dump(catalog)
    for name in before:
        assert after[name] == before[name], name
    assert verify(sweep) == []


def test_dry_run_lists_the_jobs_and_writes_nothing(sweep, src, ledger):
    target, child = _by_p(sweep, "predict", 2), _by_p(sweep, "evaluate", 2)

    def snapshot():
        return {str(p): (p.stat().st_mtime_ns, p.stat().st_size) for p in sweep.rglob("*")}

    before = snapshot()
    res = _run(sweep, src, "--dry-run", "--rerun", target)
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    start = lines.index("rerun: 2 jobs (1 selected, 1 downstream)")
    assert lines[start + 1:start + 3] == [f"  predict/{target} (selected)", f"  evaluate/{child} (downstream)"]
    assert "would run: 2 (predict: 1, evaluate: 1)" in lines
    explained = _run(sweep, src, "--dry-run", "--explain", "--rerun", target).output.splitlines()
    assert f"predict/{target}: run: done, but --rerun selects it" in explained
    assert f"evaluate/{child}: run: done, but downstream of a job --rerun selects" in explained
    assert snapshot() == before and _ran(ledger) == []


# -- bad selectors --------------------------------------------------------------------------------
@pytest.mark.parametrize("selector, message", [
    ("nosuch_col > 1", "Error: --rerun 'nosuch_col > 1': not a job or a node of this plan (nodes: predict, "
                       "evaluate), and as SQL over job_state: Binder Error: Referenced column \"nosuch_col\" "
                       "not found"),
    ("\"params.predict.p\" > 1000", "Error: --rerun '\"params.predict.p\" > 1000' selects no job of this plan"),
    ("zzzzzzzzzzzz", "Error: --rerun 'zzzzzzzzzzzz': no job of this plan has this short id"),
    ("1 = 1; DROP TABLE jobs", "Error: --rerun '1 = 1; DROP TABLE jobs': not a job or a node of this plan (nodes: "
                               "predict, evaluate), and as SQL: Parser Error: syntax error at or near \";\""),
])
def test_a_bad_selector_is_one_line_exit_two_and_nothing_runs(sweep, src, ledger, selector, message):
    runs = len(_dump(sweep / "catalog.duckdb")["runs"])
    for dry in ((), ("--dry-run",)):
        res = _run(sweep, src, *dry, "--rerun", selector)
        assert res.exit_code == 2
        [line] = res.stderr.splitlines()
        assert line.startswith(message), line
    assert _ran(ledger) == [] and len(_dump(sweep / "catalog.duckdb")["runs"]) == runs
    assert not list(sweep.rglob(".superseded"))


def test_the_sql_cannot_write(sweep, src):
    with pytest.raises(SelectorError, match="as SQL"):
        run(_params(src), root=sweep, backend="local", rerun=["job_id IN (SELECT job_id FROM jobs) OR "
                                                               "(SELECT count(*) FROM read_csv('/etc/passwd')) > 0"])
    assert len(_dump(sweep / "catalog.duckdb")["jobs"]) == 6


def test_a_selected_job_that_is_not_done_runs_anyway(tmp_path, src, ledger):
    root = tmp_path / "out"
    params = _params(src, "  predict.fail: [false, true]")
    assert _run(root, src).exit_code == 0
    assert _invoke("run", "--params", params, "--root", str(root), "--backend", "local").exit_code == 1
    [failed] = [n for n in _jobs(root) if n.startswith("predict") and
                json.loads((_jobs(root)[n][1] / "job_config.json").read_text())["requested"].get("predict.fail")
                and _p(root, n) == 2]
    ledger.write_text("")
    res = _invoke("run", "--params", params, "--root", str(root), "--backend", "local", "--rerun",
                  failed.split("_id_")[1])
    assert res.exit_code == 1  # it fails again, as it would have without --rerun
    assert "  rerun: 0 jobs (0 selected, 0 downstream); 1 selected not done, run anyway" in res.output.splitlines()
    assert failed in _ran(ledger)
    assert not (_jobs(root)[failed][1] / ".superseded").exists()


def test_superseded_is_a_reserved_name():
    node = ProcessNode(name="n", executable="true", out_paths={"x": ".superseded/x.json"})
    with pytest.raises(PipelineError, match="a name trackdag writes itself"):
        Pipeline([node])


def test_library_rerun_without_catalog_sql_is_an_error(tmp_path, src):
    with pytest.raises(SelectorError, match="no catalog"):
        run(_params(src), root=tmp_path / "fresh", backend="local", rerun=["status = 'done'"])
    assert not (tmp_path / "fresh").exists()


def test_the_readme_example_on_the_demo(tmp_path):
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    predicate = "node = 'stage1_evaluate' AND \"params.stage1_predict.param1\" > 100"
    quoted = predicate.replace('"', '\\"')  # as the shell line in double quotes writes it
    assert f'--rerun "{quoted}"' in readme
    root = run_demo(tmp_path / "demo")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp_path / "demo")
        res = run(DEMO_PARAMS, root=root, backend="local", cwd=str(tmp_path / "demo"), rerun=[predicate])
    assert res.exit_code == 0 and res.rerun.line() == "rerun: 4 jobs (4 selected, 0 downstream)"
    assert "rerun: 4 jobs (4 selected, 0 downstream)" in readme
