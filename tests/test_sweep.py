"""sweep: end-to-end runs on the local backend with real subprocesses and a real catalog."""
import json
import os
from pathlib import Path

import duckdb
import pytest

from conftest import two_stage
from trackdag.errors import ParamsError, PlanError
from trackdag.layout import DONE, STDERR
from trackdag.node import ProcessNode
from trackdag.pipeline import Pipeline
from trackdag.sweep import dry_run, prepare, run


def _rows(src, **extra):
    return {"matrix": {"predict.src": [str(src)], "predict.p": [1, 2], **extra}}


def _pairs(root, sql):
    """The two-column rows of ``sql`` on the root's catalog, as a dict."""
    con = duckdb.connect(str(root / "catalog.duckdb"), read_only=True)
    try:
        return dict(con.execute(sql).fetchall())
    finally:
        con.close()


def _catalog(root):
    return _pairs(root, "SELECT status, count(*) FROM jobs GROUP BY status")


def test_run_then_resume_runs_nothing(tmp_path, src, ledger):
    root = tmp_path / "out"
    first = run(_rows(src), pipeline=two_stage(), root=root, backend="local", workers=2)
    assert (first.counts.done, first.counts.failed, first.exit_code) == (4, 0, 0)
    assert len(ledger.read_text().splitlines()) == 4
    assert _catalog(root) == {"done": 4}
    again = run(_rows(src), pipeline=two_stage(), root=root, backend="local", workers=2)
    assert (again.counts.done, again.counts.cached, again.exit_code) == (0, 4, 0)
    assert len(ledger.read_text().splitlines()) == 4  # nothing executed again
    con = duckdb.connect(str(root / "catalog.duckdb"), read_only=True)
    assert con.execute("SELECT status, n_done, n_cached FROM runs ORDER BY started").fetchall() == [
        ("done", 4, 0), ("done", 0, 4)]
    assert con.execute("SELECT count(*), max(attempt) FROM attempts").fetchone() == (4, 1)
    con.close()


def test_failure_skips_descendants_and_independents_go_on(tmp_path, src, ledger):
    root = tmp_path / "out"
    params = {"matrix": {"predict.src": [str(src)], "predict.p": [1, 2], "predict.fail": [False, True]}}
    res = run(params, pipeline=two_stage(), root=root, backend="local", workers=1)
    assert (res.counts.done, res.counts.failed, res.counts.skipped) == (4, 2, 2)
    assert res.exit_code == 1
    (fail, _) = res.failures
    assert fail.outcome.exit_code == 3 and fail.log.endswith(STDERR)
    assert "failing on purpose" in fail.outcome.stderr_tail
    assert _catalog(root) == {"done": 4, "failed": 2, "skipped": 2}
    # skipped evaluate jobs never ran and have no done record
    con = duckdb.connect(str(root / "catalog.duckdb"), read_only=True)
    skipped = con.execute("SELECT folder FROM jobs WHERE status = 'skipped'").fetchall()
    con.close()
    assert all(not os.path.exists(os.path.join(f, DONE)) for (f,) in skipped)

    # The same command again reruns exactly the failed and skipped jobs.
    before = len(ledger.read_text().splitlines())
    res2 = run(params, pipeline=two_stage(), root=root, backend="local", workers=1)
    assert (res2.counts.cached, res2.counts.failed, res2.counts.skipped) == (4, 2, 2)
    assert len(ledger.read_text().splitlines()) - before == 2  # only the failing predicts ran
    con = duckdb.connect(str(root / "catalog.duckdb"), read_only=True)
    assert con.execute("SELECT max(attempt) FROM attempts").fetchone() == (2,)
    con.close()


def test_missing_outputs_fail_the_job(tmp_path, src):
    res = run(_rows(src, **{"predict.no_outputs": [True]}), pipeline=_with_param("no_outputs"),
              root=tmp_path / "out", workers=2, backend="local")
    assert res.counts.failed == 2 and res.counts.skipped == 2
    assert "declared output(s) missing: out_pred" in res.failures[0].outcome.error


def _with_param(name):
    p = two_stage()
    p.nodes["predict"].algo_params[name] = False
    return p


def test_partial_outputs_without_done_record_rerun(tmp_path, src, ledger):
    root = tmp_path / "out"
    run(_rows(src), pipeline=two_stage(), root=root, backend="local")
    job = next(j for j in prepare(_rows(src), pipeline=two_stage(), root=root).plan.jobs.values() if j.node == "predict")
    os.unlink(os.path.join(job.folder, DONE))  # e.g. the driver died before recording success
    res = run(_rows(src), pipeline=two_stage(), root=root, backend="local")
    assert (res.counts.done, res.counts.cached) == (1, 3)


def test_no_skip_existing_reruns_everything(tmp_path, src, ledger):
    root = tmp_path / "out"
    run(_rows(src), pipeline=two_stage(), root=root, backend="local")
    res = run(_rows(src), pipeline=two_stage(), root=root, backend="local", skip_existing=False)
    assert (res.counts.done, res.counts.cached) == (4, 0)
    assert len(ledger.read_text().splitlines()) == 8


@pytest.mark.parametrize("value", ["x; touch pwned", "$(touch pwned)", "`touch pwned`", "a'b\"c \\ d", "--p=evil"])
def test_values_reach_the_program_literally(tmp_path, src, value, monkeypatch):
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "out"
    res = run({"predict.src": str(src), "predict.p": value}, pipeline=two_stage(), root=root, backend="local")
    assert res.exit_code == 0
    pred = next(j for j in res.plan.jobs.values() if j.node == "predict")
    args = json.loads(open(os.path.join(pred.folder, "args.json")).read())["args"]
    assert args["p"] == value
    assert not list(tmp_path.rglob("pwned"))


def test_serial_workers_never_overlap(tmp_path, src):
    root = tmp_path / "out"
    run({"predict.src": str(src), "predict.p": [1, 2, 3]}, pipeline=two_stage(), root=root, backend="local", workers=1)
    con = duckdb.connect(str(root / "catalog.duckdb"), read_only=True)
    spans = con.execute("SELECT started, ended FROM attempts ORDER BY started").fetchall()
    con.close()
    assert len(spans) == 6
    assert all(prev[1] <= nxt[0] for prev, nxt in zip(spans, spans[1:]))


def test_dry_run_writes_nothing(tmp_path, src):
    root = tmp_path / "out"
    before = sorted(tmp_path.rglob("*"))
    report = dry_run(prepare(_rows(src), pipeline=two_stage(), root=root))
    assert len(report.would_run) == 4 and report.already_done == []
    assert sorted(tmp_path.rglob("*")) == before and not root.exists()


def test_dry_run_after_a_run_sees_done_jobs(tmp_path, src):
    root = tmp_path / "out"
    run(_rows(src), pipeline=two_stage(), root=root, backend="local")
    report = dry_run(prepare(_rows(src, **{"predict.p": [1, 2, 3]}), pipeline=two_stage(), root=root))
    assert (len(report.would_run), len(report.already_done)) == (2, 4)


def test_a_folder_owned_by_another_job_is_never_overwritten(tmp_path, src):
    root = tmp_path / "out"
    res = run(_rows(src), pipeline=two_stage(), root=root, backend="local")
    job = next(iter(res.plan.jobs.values()))
    config = json.loads(open(os.path.join(job.folder, "job_config.json")).read())
    done = json.loads(open(os.path.join(job.folder, DONE)).read())
    done["job_id"] = "f" * 64
    open(os.path.join(job.folder, DONE), "w").write(json.dumps(done))
    with pytest.raises(PlanError, match="short id collision"):
        run(_rows(src), pipeline=two_stage(), root=root, backend="local")
    assert json.loads(open(os.path.join(job.folder, "job_config.json")).read()) == config


def test_no_pipeline_is_a_params_error(tmp_path):
    with pytest.raises(ParamsError, match="no pipeline"):
        prepare({"a.x": 1}, root=tmp_path)


def _one_node(tmp_path, word):
    """One node whose command names ``word``: it writes its --o file."""
    script = tmp_path / "write.sh"
    script.write_text('for a in "$@"; do case "$a" in --o=*) echo done > "${a#--o=}";; esac; done\n')
    node = ProcessNode(name="a", executable=f"bash {script} {word}", algo_params={"x": 0}, out_paths={"o": "o.txt"})
    return Pipeline([node])


def _commands(root):
    return _pairs(root, "SELECT folder, command FROM jobs")


def test_a_done_job_keeps_the_command_it_ran_with_in_the_catalog(tmp_path):
    """An edited command keeps the jobs' ids: the done ones are not run again, and the catalog says the
    command each ran with (as its invoke.sh does); the one run now gets the new command; one reindexed
    without a command gets it filled in."""
    root = tmp_path / "out"
    assert run({"matrix": {"a.x": [1, 2, 3]}}, pipeline=_one_node(tmp_path, "one"), root=root, backend="local").counts.done == 3
    folders = sorted(_commands(root))
    os.unlink(os.path.join(folders[0], DONE))  # to run again
    con = duckdb.connect(str(root / "catalog.duckdb"))
    con.execute("UPDATE jobs SET command = '' WHERE folder = ?", [folders[1]])  # as reindex leaves one
    con.close()
    result = run({"matrix": {"a.x": [1, 2, 3]}}, pipeline=_one_node(tmp_path, "two"), root=root, backend="local")
    assert (result.counts.done, result.counts.cached) == (1, 2)
    commands = _commands(root)
    assert " two " in commands[folders[0]]
    assert " two " in Path(folders[0], "invoke.sh").read_text()
    assert " two " in commands[folders[1]]  # (blank: filled from the plan)
    assert " one " in commands[folders[2]] and " one " in Path(folders[2], "invoke.sh").read_text()
