"""The same sweep under the real KWDagger 0.4.1 and under trackdag, from one pipeline file.

Each case under ``cases/`` is a KWDagger user's folder (pipeline module,
programs, params).  It is laid out twice: as written (run by ``kwdagger
schedule --backend=serial``) and with its import lines ported (run by
``trackdag schedule``, same options).  Both trees must hold the same jobs per
node with the same commands (paths aside), and both ``aggregate`` commands
must rank the same way.
"""
from __future__ import annotations

import pytest

from kwd_support import kwd, kwdagger_commands, lay_out, top_table, trackdag_commands, trackdag_run

pytestmark = pytest.mark.slow


def schedule_both(kwd, tmp_path, case: str, *options: str):
    kwd_dir = lay_out(case, tmp_path / "kwd", port=False)
    td_dir = lay_out(case, tmp_path / "td", port=True)
    argv = ["schedule", *options, "--root_dpath=results", "--backend=serial", "--skip_existing=1", "--run=1"]
    ran_kwd = kwd.run(["kwdagger", *argv], cwd=kwd_dir)
    assert ran_kwd.returncode == 0, ran_kwd.stdout[-2000:] + ran_kwd.stderr[-2000:]
    ran_td = trackdag_run(["trackdag", *argv], cwd=td_dir)
    assert ran_td.returncode == 0, ran_td.stdout[-2000:] + ran_td.stderr[-2000:]
    return kwd_dir, td_dir


def aggregate_both(kwd, kwd_dir, td_dir, *options: str):
    argv = ["aggregate", "--target", "results", "--io_workers=0", "--cache_resolved_results=False", *options]
    agg_kwd = kwd.run(["kwdagger", *argv], cwd=kwd_dir)
    assert agg_kwd.returncode == 0, agg_kwd.stdout[-2000:] + agg_kwd.stderr[-2000:]
    agg_td = trackdag_run(["trackdag", *argv], cwd=td_dir)
    assert agg_td.returncode == 0, agg_td.stdout[-2000:] + agg_td.stderr[-2000:]
    return agg_kwd.stdout, agg_td.stdout


def assert_same_jobs(kwd_dir, td_dir):
    kwd_jobs = kwdagger_commands(kwd_dir / "results")
    td_jobs = trackdag_commands(td_dir / "results")
    assert {n: len(c) for n, c in td_jobs.items()} == {n: len(c) for n, c in kwd_jobs.items()}
    assert td_jobs == kwd_jobs


def ranking(text, node, metrics):
    return [tuple(round(float(row[m]), 6) for m in metrics) for row in top_table(text, node)]


def test_two_stage(kwd, tmp_path):
    kwd_dir, td_dir = schedule_both(kwd, tmp_path, "twostage", "--pipeline=pipelines.py::make_pipeline()",
                                    "--params=params.yaml")
    assert_same_jobs(kwd_dir, td_dir)
    assert len(kwdagger_commands(kwd_dir / "results")["toy_evaluate"]) == 8
    for pipeline in ("pipelines.py::make_pipeline()", "pipelines.py::make_pipeline(with_metrics=False)"):
        out_kwd, out_td = aggregate_both(kwd, kwd_dir, td_dir, f"--pipeline={pipeline}",
                                         "--eval_nodes=[toy_evaluate]", "--stdout_report={top_k: 5, concise: 1}")
        columns = ["score", "mae"] if "False" not in pipeline else ["mae", "score", "n"]
        assert ranking(out_td, "toy_evaluate", columns) == ranking(out_kwd, "toy_evaluate", columns)
        assert len(top_table(out_td, "toy_evaluate")) == 5
