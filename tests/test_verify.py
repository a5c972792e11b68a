"""trackdag verify, explain and reindex (issue 10.2, 10.9): what disagrees, why a job would run."""
import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import SCENARIOS, two_stage
from trackdag.cli import main
from trackdag.sweep import dry_run, prepare, run
from trackdag.verify import explain_job, explain_plan, verify


@pytest.fixture
def sweep(tmp_path, src):
    root = tmp_path / "out"
    params = {"matrix": {"predict.src": str(src), "predict.p": [1, 2, 3]},
              "include": [{"predict.p": 3, "predict.fail": True}]}
    res = run(params, pipeline=two_stage(), root=root, backend="local", workers=2)
    assert res.counts.failed == 1
    return root, params, res.plan


def _job(plan, node, p):
    return next(j for j in plan.jobs.values() if j.node == node and j.requested.get("predict.p") == p)


def test_verify_finds_each_kind_of_disagreement(sweep, tmp_path):
    root, params, plan = sweep
    assert verify(root) == []
    changed = _job(plan, "predict", 1)
    Path(changed.outputs["out_pred"]).write_text("truncated")
    missing = _job(plan, "evaluate", 2)
    os.unlink(missing.outputs["out_eval"])
    stranger = root / "predict" / "predict_id_zzzzzzzzzzzz"
    stranger.mkdir()
    (stranger / "job_config.json").write_text(json.dumps({"job_id": "f" * 64}))
    kinds = {(p.kind, p.folder) for p in verify(root)}
    assert ("changed-output", changed.folder) in kinds and ("missing-output", missing.folder) in kinds
    assert ("unknown-folder", str(stranger)) in kinds
    res = CliRunner().invoke(main, ["verify", "--root", str(root)])
    assert res.exit_code == 1 and res.output.count("\n") == len(kinds)
    # the next run redoes the jobs whose outputs changed or went missing, and only those (and the failed one)
    again = run(params, pipeline=two_stage(), root=root, backend="local", workers=2)
    assert (again.counts.done, again.counts.cached, again.counts.failed, again.counts.skipped) == (2, 2, 1, 1)


def test_explain_says_why_each_job_would_run(sweep):
    root, params, plan = sweep
    os.unlink(_job(plan, "evaluate", 2).outputs["out_eval"])
    report = dry_run(prepare(params, pipeline=two_stage(), root=root))
    reasons = {(plan.jobs[j].node, plan.jobs[j].requested["predict.p"]): r
               for j, r in explain_plan(report.plan, report.would_run).items()}
    assert reasons[("predict", 1)] == ("skip", "done: its done record matches and its outputs are as recorded")
    assert reasons[("evaluate", 2)][0] == "run" and "output out_eval is missing" in reasons[("evaluate", 2)][1]
    assert reasons[("predict", 3)] == ("run", "its last attempt (1) failed: exit code 3")
    assert reasons[("evaluate", 3)][0] == "run" and "after its ancestor predict_id_" in reasons[("evaluate", 3)][1]
    found = explain_job(_job(plan, "predict", 3).folder)
    assert found["action"] == "run" and found["reason"] == "its last attempt (1) failed: exit code 3"
    res = CliRunner().invoke(main, ["explain", "--root", str(root), _job(plan, "predict", 1).short_id[:6]])
    assert res.exit_code == 0 and ": skip: done" in res.output
    res = CliRunner().invoke(main, ["run", "--params", json.dumps(params), "--pipeline",
                                    f"{SCENARIOS / 'pipelines' / 'two_stage.py'}::make()", "--root", str(root),
                                    "--dry-run", "--explain", "--all-commands"])
    assert res.exit_code == 0, res.output
    assert "evaluate/evaluate_id_" in res.output and "run: new: never run" not in res.output


def test_reindex_command(sweep):
    root, _params, _plan = sweep
    os.unlink(root / "catalog.duckdb")
    res = CliRunner().invoke(main, ["reindex", "--root", str(root)])
    assert res.exit_code == 0 and "6 job folders and 1 run records read: 6 jobs" in res.output
    assert verify(root) == []
