"""report --run: the leaderboard as of one run's jobs, to compare before and after a change.

One real sweep (local backend, real programs, real DuckDB), run three times with changes in between:

1. ``score.p: [1, 2]`` from a params file, the program adding offset 0: scores 1 and 2;
2. offset 10, p=2's done.json removed, the grid extended to ``[1, 2, 3]``: p=1 is found already done
   (score 1), p=2 is done again (12, replacing its result of run 1), p=3 is new (13);
3. ``score.p: [3]`` with ``score.__enabled__: redo`` and the program failing for p=3: the redo fails.
"""
import json
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from trackdag.cli import main
from trackdag.html_report import build_html_report
from trackdag.report import build_report, format_text
from trackdag.run_scope import list_runs

TOOL = """
import json, os, sys
args = dict(a[2:].split("=", 1) for a in sys.argv[1:])
here = os.path.dirname(os.path.abspath(__file__))
offset = float(open(os.path.join(here, "offset.txt")).read())
fail = os.path.join(here, "fail.txt")
if os.path.exists(fail) and args["p"] in open(fail).read().split():
    print("failing on purpose", file=sys.stderr)
    sys.exit(3)
json.dump({"score": float(args["p"]) + offset}, open(args["out"], "w"))
"""

PIPELINE = """
import os, shlex, sys
from trackdag import Pipeline, ProcessNode

def make():
    tool = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tool.py")
    node = ProcessNode(name="score", executable=f"{shlex.quote(sys.executable)} {shlex.quote(tool)}",
                       out_paths={"out": "out.json"}, algo_params={"p": 0},
                       default_metrics=[{"metric": "score", "objective": "maximize", "primary": True,
                                         "display": True}])
    return Pipeline([node])
"""


def _run(folder, params, expect=0):
    done = subprocess.run([sys.executable, "-m", "trackdag", "run", "--params", params, "--pipeline",
                           f"{folder / 'pipe.py'}::make()", "--root", str(folder / "out"), "--backend", "local",
                           "--workers", "2"], capture_output=True, text=True, cwd=folder, timeout=300)
    assert done.returncode == expect, done.stdout + done.stderr


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    folder = tmp_path_factory.mktemp("runs")
    (folder / "tool.py").write_text(TOOL)
    (folder / "pipe.py").write_text(PIPELINE)
    (folder / "offset.txt").write_text("0")
    (folder / "grid.yaml").write_text("matrix:\n  score.p: [1, 2]\n")
    _run(folder, str(folder / "grid.yaml"))
    (folder / "offset.txt").write_text("10")          # the "code change"
    (p2,) = [cfg.parent for cfg in (folder / "out" / "score").glob("*/job_config.json")
             if json.loads(cfg.read_text())["requested"]["score.p"] == 2]
    (p2 / "done.json").unlink()                         # so run 2 does p=2 again
    _run(folder, '{score.p: [1, 2, 3]}')
    (folder / "fail.txt").write_text("3")
    _run(folder, '{score.p: [3], score.__enabled__: redo}', expect=1)
    root = folder / "out"
    con = duckdb.connect(str(root / "catalog.duckdb"), read_only=True)
    try:
        runs = [r[0] for r in con.execute("SELECT run_id FROM runs ORDER BY started").fetchall()]
        hashids = dict(con.execute("""
            SELECT v.value_num::INT, s.param_hashid FROM param_values v JOIN param_sets s USING (job_id)
            WHERE v.key = 'score.p'""").fetchall())
    finally:
        con.close()
    assert len(runs) == 3 and sorted(hashids) == [1, 2, 3]
    return root, runs, hashids


def _invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def _table(output):
    """The Top-k table's rows as (rank, param_hashid, score) tuples."""
    lines = output.splitlines()
    start = lines.index("rank param_hashid  score") + 1
    return [tuple(line.split()) for line in lines[start:] if line.strip()]


def test_the_first_run_reports_its_jobs_as_they_were_and_names_the_redone_one(sweep):
    root, (r1, r2, _r3), h = sweep
    res = _invoke("report", "--root", root, "--run", r1)
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert lines[0] == f"run {r1}: done; 2 jobs planned: 2 executed, 0 already done, 0 failed; results as of its end"
    assert lines[2:4] == ["== score ==", "ranked by: score (maximize); best first (rank 1 is the best)"]
    assert lines[4] == (f"Note: 1 score job of run {r1} was done again by a later run ({r2}); the catalog keeps one "
                        "result per job (the latest), so its result as of this run is gone and it is not ranked: "
                        f"{h[2]}")
    assert "Top 1 / 1 for score" in lines
    assert _table(res.output) == [("1", h[1], "1")]


def test_the_second_run_has_the_new_and_the_redone_values(sweep):
    root, (_r1, r2, _r3), h = sweep
    res = _invoke("report", "--root", root, "--run", r2)
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert lines[0] == f"run {r2}: done; 3 jobs planned: 2 executed, 1 already done, 0 failed; results as of its end"
    assert not any(line.startswith("Note:") for line in lines)
    assert "Top 3 / 3 for score" in lines
    # p=3 is ranked with the result run 2 saw: run 3's redo of it failed, so that result is still the kept one
    assert _table(res.output) == [("1", h[3], "13"), ("2", h[2], "12"), ("3", h[1], "1")]


def test_the_third_run_and_the_plain_report(sweep):
    root, (_r1, _r2, r3), h = sweep
    res = _invoke("report", "--root", root, "--run", r3)
    assert res.exit_code == 0, res.output
    assert res.output.splitlines()[0] == (f"run {r3}: failed; 1 job planned: 1 executed, 0 already done, 1 failed; "
                                          "results as of its end")
    assert "No score results to report" in res.output
    plain = _invoke("report", "--root", root)          # now: p=3 failed, the others as run 2 left them
    assert plain.output.splitlines()[0] == "== score =="
    assert _table(plain.output) == [("1", h[2], "12"), ("2", h[1], "1")]


def test_a_unique_prefix_names_the_run_and_where_applies_to_its_rows(sweep):
    root, (_r1, r2, _r3), h = sweep
    res = _invoke("report", "--root", root, "--run", r2[:-1], "--where", '"params.score.p" >= 2')
    assert res.exit_code == 0, res.output
    assert res.output.splitlines()[0].startswith(f"run {r2}: ")
    assert _table(res.output) == [("1", h[3], "13"), ("2", h[2], "12")]


def test_an_unknown_or_ambiguous_run_is_one_error_line_exit_2(sweep):
    root, (r1, r2, r3), _h = sweep
    res = CliRunner().invoke(main, ["report", "--root", str(root), "--run", "nope"])
    assert res.exit_code == 2
    assert res.output == (f"Error: --run 'nope': no such run in {root / 'catalog.duckdb'} "
                          f"(latest runs: {r3}, {r2}, {r1})\n")
    common = r1[:8]  # the date: all three runs share it
    res = CliRunner().invoke(main, ["report", "--root", str(root), "--run", common])
    assert res.exit_code == 2
    assert res.output == f"Error: --run {common!r} names several runs ({r3}, {r2}, {r1}); give more characters\n"
    for fmt in (["--format", "json"], ["--html", str(root.parent / "x.html")]):
        res = CliRunner().invoke(main, ["report", "--root", str(root), "--run", "nope", *fmt])
        assert res.exit_code == 2 and res.output.count("\n") == 1 and res.output.startswith("Error: --run 'nope'")
    assert not (root.parent / "x.html").exists()


def test_json_carries_the_run_and_the_superseded_jobs(sweep):
    root, (r1, r2, _r3), h = sweep
    data = json.loads(_invoke("report", "--root", root, "--run", r1, "--format", "json").output)
    run = data["run"]
    assert {k: run[k] for k in ("run_id", "status", "backend", "n_planned", "n_executed", "n_already_done",
                                "n_failed", "results")} == {
        "run_id": r1, "status": "done", "backend": "local", "n_planned": 2, "n_executed": 2, "n_already_done": 0,
        "n_failed": 0, "results": "as of the end of this run"}
    assert [(s["node"], s["param_hashid"], s["redone_by"]) for s in run["superseded"]] == [("score", h[2], r2)]
    (node,) = data["nodes"]
    assert [(r["param_hashid"], r["metrics"]["score"]) for r in node["rows"]] == [(h[1], 1.0)]
    assert node["n_rows"] == 1 and len(node["notes"]) == 1
    data = json.loads(_invoke("report", "--root", root, "--run", r2, "--format", "json").output)
    assert [(r["param_hashid"], r["metrics"]["score"]) for r in data["nodes"][0]["rows"]] == [
        (h[3], 13.0), (h[2], 12.0), (h[1], 1.0)]
    assert data["run"]["superseded"] == []
    assert json.loads(_invoke("report", "--root", root, "--format", "json").output)["run"] is None


def test_library_report_and_the_runs_list(sweep):
    root, (r1, r2, r3), h = sweep
    report = build_report(root, run=r1)
    assert report.run["run_id"] == r1 and [r["param_hashid"] for r in report.nodes[0].rows] == [h[1]]
    assert format_text(report).splitlines()[0].startswith(f"run {r1}: done; 2 jobs planned")
    averaged = build_report(root, run=r2, average_over="score.p")
    assert averaged.nodes[0].rows[0]["n_rows"] == 3
    con = duckdb.connect(str(root / "catalog.duckdb"), read_only=True)
    try:
        runs = list_runs(con)
    finally:
        con.close()
    assert [(r["run_id"], r["n_planned"], r["n_executed"], r["n_already_done"], r["n_failed"],
             r["executed_by_node"]) for r in runs] == [
        (r3, 1, 1, 0, 1, {"score": 1}), (r2, 3, 2, 1, 0, {"score": 2}), (r1, 2, 2, 0, 0, {"score": 2})]


def test_the_html_page_is_as_of_the_run_and_lists_every_run(sweep):
    root, (r1, r2, r3), h = sweep
    text, _n, _notes = build_html_report(root, run=r1)
    assert "<caption>Top 1 / 1 for score</caption>" in text
    assert re.findall(r'<td class="id" data-sort="(\w+)">', text) == [h[1]]
    assert f'As of run <code>{r1}</code>' in text
    assert "jobs of this run, by node and state as of its end" in text
    assert "Note: 1 score job of run" in text
    runs = re.search(r'<section id="runs">.*?</section>', text, re.S)[0]
    assert "<h2>Runs (3)</h2>" in runs
    assert re.findall(r'<tr(?: class="current")? data-run="([^"]+)">', runs) == [r3, r2, r1]
    assert re.search(rf'<tr class="current" data-run="{r1}"><td class="id">{r1} \(this report\)</td>', runs)
    row1 = re.search(rf'<tr class="current" data-run="{r1}">.*?</tr>', runs, re.S)[0]
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row1, re.S)
    # planned, executed, already done, failed, executed by node; the params file as the source
    assert cells[6:11] == ["2", "2", "0", "0", "score 2"]
    assert f"<summary>{root.parent / 'grid.yaml'}</summary>" in row1 and "score.p: [1, 2]" in row1
    row3 = re.search(rf'<tr data-run="{r3}">.*?</tr>', runs, re.S)[0]
    assert re.findall(r"<td[^>]*>(.*?)</td>", row3, re.S)[6:11] == ["1", "1", "0", "1", "score 1"]
    assert "<summary>inline text (--params)</summary>" in row3
    # the run's failures as of its end: none in run 1; run 3's failed redo in its page
    assert "Failed jobs (0)" in text
    text3, _n, _notes = build_html_report(root, run=r3)
    assert "Failed jobs (1)" in text3 and "exit code 3" in text3
    assert re.search(rf'<tr class="current" data-run="{r3}">', text3)


def test_report_html_run_on_the_command_line(sweep, tmp_path):
    root, (_r1, r2, _r3), h = sweep
    out = tmp_path / "r2.html"
    res = _invoke("report", "--root", root, "--run", r2, "--html", out)
    assert res.exit_code == 0, res.output
    assert res.stdout.strip() == str(out)
    page = out.read_text()
    assert "<caption>Top 3 / 3 for score</caption>" in page and f"As of run <code>{r2}</code>" in page
    assert re.search(rf'<tr class="current" data-run="{r2}">', page)
