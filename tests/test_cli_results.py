"""cli: report, sql, export, schema — wiring, output, exit codes, and the lock while a run holds the catalog."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from conftest import score_catalog
from trackdag.cli import main

@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return score_catalog(tmp_path_factory.mktemp("cli"), '{"score": p / 4, "loss": 1 - p / 4}')


def _invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_report_text_and_json(root):
    res = _invoke("report", "--root", root, "--metric", "loss:min", "--top-k", "2")
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert lines[:2] == ["== score ==", "ranked by: loss (minimize); best first (rank 1 is the best)"]
    assert "Top 2 / 3 for score" in lines
    assert lines[-3:-1] == ["rank param_hashid  loss  score", lines[-2]]
    assert lines[-2].split()[2:] == ["0.25", "0.75"]
    res = _invoke("report", "--catalog", root / "catalog.duckdb", "--format", "json", "--node", "score")
    data = json.loads(res.output)
    assert [r["rank"] for r in data["nodes"][0]["rows"]] == [1, 2, 3]
    assert data["order"] == "best first (rank 1 is the best)"


def test_report_errors_exit_with_one_line(root):
    res = CliRunner().invoke(main, ["report", "--root", str(root), "--node", "nope"])
    assert res.exit_code == 2
    assert res.output.startswith("Error: --node 'nope': no such node") and res.output.count("\n") == 1
    res = CliRunner().invoke(main, ["report", "--root", str(root / "missing")])
    assert res.exit_code == 2 and "no catalog at" in res.output  # bad input: nothing to read


def test_sql_formats(root, tmp_path):
    query = 'SELECT "params.score.p" AS p, "metrics.score.score" AS s FROM results_score ORDER BY p'
    res = _invoke("sql", query, "--root", root)
    assert res.output.splitlines() == ["p     s", "-  ----", "1  0.25", "2   0.5", "3  0.75", "(3 rows)"]
    res = _invoke("sql", query, "--root", root, "--format", "csv")
    assert res.output == "p,s\n1,0.25\n2,0.5\n3,0.75\n"
    res = _invoke("sql", query, "--root", root, "--format", "json")
    assert json.loads(res.output) == [{"p": 1, "s": 0.25}, {"p": 2, "s": 0.5}, {"p": 3, "s": 0.75}]
    res = _invoke("sql", query, "--root", root, "--format", "parquet", "--out", tmp_path / "r.parquet")
    assert res.exit_code == 0 and pq.read_table(tmp_path / "r.parquet").column("s").to_pylist() == [0.25, 0.5, 0.75]
    res = _invoke("sql", query, "--root", root, "--format", "csv", "--out", tmp_path / "r.csv")
    assert (tmp_path / "r.csv").read_text() == "p,s\n1,0.25\n2,0.5\n3,0.75\n"
    res = CliRunner().invoke(main, ["sql", query, "--root", str(root), "--format", "parquet"])
    assert res.exit_code == 2 and "--format parquet needs --out FILE" in res.output


def _cli(*args, env=None):
    """The real console script, so stdout and stderr are separate."""
    script = Path(sys.executable).parent / "trackdag"
    return subprocess.run([str(script), *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, **(env or {})})


def test_sql_refuses_writes_and_reports_duckdb_errors_on_stderr(root):
    for statement in ("DELETE FROM jobs", "DROP VIEW job_state", "INSERT INTO edges VALUES ('a', 'b')",
                      "CREATE TABLE x AS SELECT 1", "COPY jobs TO 'x.csv'", "ATTACH 'other.duckdb'"):
        res = _cli("sql", statement, "--root", root)
        assert res.returncode == 1 and res.stdout == ""
        assert res.stderr.startswith("Error: trackdag sql is read-only: refusing a ")
        assert res.stderr.count("\n") == 1
    res = _cli("sql", "SELECT nope FROM jobs", "--root", root)
    assert res.returncode == 1 and res.stdout == ""
    assert res.stderr.startswith('Error: Binder Error: Referenced column "nope" not found')
    assert res.stderr.count("\n") == 1
    assert _cli("sql", "SELECT count(*) AS n FROM jobs", "--root", root).stdout.splitlines()[2] == "3"


HOLDER = """
import sys, duckdb
con = duckdb.connect(sys.argv[1])  # a driver in the middle of a write
print("locked", flush=True)
sys.stdin.readline()
con.close()
print("released", flush=True)
"""


def test_sql_waits_for_a_running_writer_and_names_it_when_it_gives_up(root):
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(root / "catalog.duckdb")], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        res = _cli("sql", "SELECT 1", "--root", root, env={"TRACKDAG_LOCK_TIMEOUT": "0.3"})
        assert res.returncode == 1 and "is locked by pid" in res.stderr and str(holder.pid) in res.stderr
        # with a generous wait the query starts while the lock is held and answers once it is released
        waiting = subprocess.Popen([str(Path(sys.executable).parent / "trackdag"), "sql", "SELECT count(*) FROM jobs",
                                    "--root", str(root), "--format", "csv"], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True, env={**os.environ, "TRACKDAG_LOCK_TIMEOUT": "60"})
        holder.stdin.write("\n")
        holder.stdin.flush()
        assert holder.stdout.readline().strip() == "released"
        out, err = waiting.communicate(timeout=60)
        assert waiting.returncode == 0, err
        assert out.splitlines() == ["count_star()", "3"]
    finally:
        holder.kill()
        holder.wait()


def test_export_command(root, tmp_path):
    res = _invoke("export", "--root", root, "--out", tmp_path / "x", "--format", "csv")
    assert res.exit_code == 0
    assert "results_score.csv\t3 rows" in res.output.splitlines()
    assert res.output.splitlines()[-1].startswith("manifest.json\tschema version ")
    assert json.loads((tmp_path / "x" / "manifest.json").read_text())["format"] == "csv"


def test_schema_lists_views_with_their_questions_and_columns(root):
    res = _invoke("schema", "--root", root)
    assert res.exit_code == 0
    text = res.output
    assert text.startswith("view job_state: What state is each job in")
    assert "view results_score: How did each score job do?" in text
    assert '    metrics.score.score  DOUBLE' in text
    assert "\ntable param_sets: Each job's param_hashid" in text
    data = json.loads(_invoke("schema", "--root", root, "--format", "json").output)
    results = next(r for r in data if r["name"] == "results_score")
    assert {"name": "param_hashid", "type": "VARCHAR"} in results["columns"]
