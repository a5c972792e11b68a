"""A new user's own pipeline, end to end (issue 8): not the demo.

train -> evaluate, 3 learning rates written 1e-3, 1e-2, 1e-1 x 2 seeds,
no load_result and no default_metrics on either node, a relative program
path, run from the project folder with the CLI as a user would.
"""
import json
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from scenarios.new_user import write_project

TRACKDAG = [sys.executable, "-m", "trackdag.cli"]


def _cli(args, cwd, check=True):
    res = subprocess.run(TRACKDAG + args, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert "Traceback" not in res.stderr, res.stderr
    if check:
        assert res.returncode == 0, res.stderr
    return res


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    folder = write_project(tmp_path_factory.mktemp("newuser") / "proj")
    _cli(["run", "--params", "params.yaml", "--root", "out", "--backend", "local", "--workers", "2"], folder)
    return folder


def test_every_job_is_done_and_lr_is_a_number(project):
    con = duckdb.connect(str(project / "out" / "catalog.duckdb"), read_only=True)
    assert con.execute("SELECT node, status, count(*) FROM jobs GROUP BY ALL ORDER BY 1").fetchall() == [
        ("evaluate", "done", 6), ("train", "done", 6)]
    lrs = con.execute("SELECT DISTINCT value_num, value_text FROM params WHERE key = 'lr' ORDER BY 1").fetchall()
    assert lrs == [(0.001, None), (0.01, None), (0.1, None)]
    con.close()
    res = _cli(["sql", "DESCRIBE SELECT \"params.train.lr\" FROM results_evaluate", "--root", "out",
                "--format", "json"], project)
    assert json.loads(res.stdout)[0]["column_type"] == "DOUBLE"
    res = _cli(["sql", 'SELECT DISTINCT "params.train.lr" AS lr FROM results_evaluate ORDER BY 1', "--root",
                "out", "--format", "json"], project)
    assert [r["lr"] for r in json.loads(res.stdout)] == [0.001, 0.01, 0.1]


def test_only_the_evaluation_is_a_result(project):
    con = duckdb.connect(str(project / "out" / "catalog.duckdb"), read_only=True)
    assert con.execute("SELECT DISTINCT node FROM results JOIN jobs USING (job_id)").fetchall() == [("evaluate",)]
    assert con.execute("SELECT DISTINCT result_status FROM jobs WHERE node = 'train'").fetchall() == [("none",)]
    con.close()


def test_report_in_every_format_reports_only_evaluate(project):
    text = _cli(["report", "--root", "out"], project).stdout
    assert "== evaluate ==" in text and "== train ==" not in text and "Top 6 / 6 for evaluate" in text
    assert "0.001" in text and "'" not in text  # numbers, and strings without Python quotes
    report = json.loads(_cli(["report", "--root", "out", "--format", "json"], project).stdout)
    assert [n["node"] for n in report["nodes"]] == ["evaluate"]
    assert {r["params"]["params.train.lr"] for r in report["nodes"][0]["rows"]} == {0.001, 0.01, 0.1}
    res = _cli(["report", "--root", "out", "--html", "page.html"], project)
    page = Path(res.stdout.strip()).read_text()
    specs = json.loads(re.search(r'<script type="application/json" id="td-specs">(.*?)</script>', page,
                                 re.S).group(1))
    titles = [s["title"]["text"] if isinstance(s["title"], dict) else s["title"] for s in specs]
    assert not [t for t in titles if t.startswith("train:")]
    (lr_chart,) = [s for s, t in zip(specs, titles) if t == "evaluate: acc vs train.lr"]
    assert all(layer["encoding"]["x"]["scale"] == {"type": "log"} for layer in lr_chart["layer"])
    (seed_chart,) = [s for s, t in zip(specs, titles) if t == "evaluate: acc vs train.seed"]
    axis = seed_chart["layer"][0]["encoding"]["x"]["axis"]
    assert axis["format"] == "d" and axis["values"] == [0, 1]


def test_the_rerun_is_a_no_op_and_the_page_keeps_the_timeline(project):
    res = _cli(["run", "--params", "params.yaml", "--root", "out"], project)  # default backend: ray
    assert "already done: 12" in res.stdout
    assert not (project / "out" / "ray-logs").exists()  # no Ray was started for nothing
    page = Path(_cli(["report", "--root", "out", "--html", "page2.html"], project).stdout.strip()).read_text()
    assert "timeline" in page and "No attempt recorded" not in page
    con = duckdb.connect(str(project / "out" / "catalog.duckdb"), read_only=True)
    first = con.execute("SELECT run_id FROM runs ORDER BY started LIMIT 1").fetchone()[0]
    con.close()
    assert f"run {first}: timeline" in page
