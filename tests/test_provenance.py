"""Provenance a user can trust (issue 12, item 6): python, packages, git commit, dirty tree and diff hash.

Real runs (``--backend local``), a real DuckDB catalog, a real git repository in tmp_path, and a second
environment made honestly: a tiny ``*.dist-info`` folder on the PYTHONPATH of a trackdag subprocess.
"""
import hashlib
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from trackdag.catalog import Catalog
from trackdag.cli import main
from trackdag.html_report import build_html_report
from trackdag.provenance import (Environment, collect_code, collect_environment, environment_path,
                                 installed_packages, package_changes, read_environment, save_environment)
from trackdag.reindex import reindex
from trackdag.sweep import run

TOOL = """import json, sys
args = dict(a[2:].split("=", 1) for a in sys.argv[1:])
json.dump({"score": float(args["p"]) / 2}, open(args["out"], "w"))
"""
GIT = ["git", "-c", "user.email=t@example.org", "-c", "user.name=t", "-c", "init.defaultBranch=main"]


def git(repo, *args):
    return subprocess.run([*GIT, *args], cwd=repo, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path):
    """A git repository holding a pipeline (one node 'score', param p) and its tool, committed."""
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "tool.py").write_text(TOOL)
    (repo / "pipeline.yaml").write_text(json.dumps({"nodes": {"score": {
        "executable": f"{sys.executable} {repo / 'tool.py'}", "out_paths": {"out": "out.json"},
        "algo_params": {"p": 0}}}}))
    (repo / ".gitignore").write_text("out/\n")
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "first")
    return repo


def sweep(repo, *ps):
    res = run({"score.p": list(ps)}, pipeline=str(repo / "pipeline.yaml"), root=repo / "out", backend="local",
              cwd=str(repo))
    assert res.exit_code == 0
    return res.run_id


def cli_run(repo, p, pythonpath=None):
    """`trackdag run` in a subprocess launched in the repository (``pythonpath``: prepended to PYTHONPATH)."""
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(pythonpath), env.get("PYTHONPATH")]))
    done = subprocess.run([sys.executable, "-m", "trackdag", "run", "--params", json.dumps({"score.p": p}),
                           "--pipeline", "pipeline.yaml", "--root", "out", "--backend", "local"],
                          cwd=repo, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def rows(root, sql, args=()):
    con = duckdb.connect(str(Path(root) / "catalog.duckdb"), read_only=True)
    try:
        return con.execute(sql, list(args)).fetchall()
    finally:
        con.close()


def short_id(root, p):
    ((short,),) = rows(root, "SELECT j.short_id FROM jobs j JOIN params x USING (job_id) "
                             "WHERE x.key = 'p' AND x.value_num = ?", [p])
    return short


def diff_hash(repo):
    out = subprocess.run(["git", "diff", "HEAD", "--no-color", "--no-ext-diff", "--no-textconv", "--binary",
                          "--src-prefix=a/", "--dst-prefix=b/"], cwd=repo, capture_output=True, check=True).stdout
    assert out  # the tree is dirty
    return hashlib.sha256(out).hexdigest()


def fake_distribution(folder, name="provtestpkg", version="1.0"):
    """A real installed-package marker: what pip leaves in site-packages, and importlib.metadata reads."""
    info = folder / f"{name}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (folder / f"{name}.py").write_text("")
    return folder


# -- library -------------------------------------------------------------------------------------
def test_a_run_records_python_environment_and_git_commit(repo):
    run_id = sweep(repo, 1, 2)
    root = repo / "out"
    env = collect_environment()
    ((env_id, python, sha, dirty, diff),) = rows(root, "SELECT env_id, python, git_sha, git_dirty, git_diff_hash "
                                                       "FROM runs")
    assert (env_id, python) == (env.env_id, platform.python_version())
    assert (sha, dirty, diff) == (git(repo, "rev-parse", "HEAD"), False, None)  # out/ is ignored: still clean
    # the run record on disk says the same
    record = json.loads((root / ".trackdag" / "runs" / f"{run_id}.json").read_text())
    assert {k: record[k] for k in ("env_id", "python", "git_sha", "git_dirty", "git_diff_hash")} == {
        "env_id": env_id, "python": python, "git_sha": sha, "git_dirty": False, "git_diff_hash": None}
    # the package list, once: in the environments table and as a requirements file
    ((e_python, e_platform, packages),) = rows(root, "SELECT python, platform, packages FROM environments "
                                                     "WHERE env_id = ?", [env_id])
    assert packages.split("\n") == installed_packages() == list(env.packages)
    assert any(p.startswith("duckdb==") for p in env.packages) and "trackdag==" in packages
    on_disk = read_environment(environment_path(root, env_id))
    assert (on_disk.python, on_disk.platform, on_disk.packages) == (e_python, e_platform, env.packages)
    text = Path(environment_path(root, env_id)).read_text()
    assert text.startswith(f"# trackdag environment {env_id}\n# created ")
    assert f"\n# python {python}\n" in text and text.endswith(f"{env.packages[-1]}\n")


def test_runs_in_the_same_environment_share_one_environments_row(repo):
    sweep(repo, 1)
    sweep(repo, 2)
    root = repo / "out"
    assert rows(root, "SELECT count(*), count(DISTINCT env_id) FROM runs") == [(2, 1)]
    assert rows(root, "SELECT count(*) FROM environments") == [(1,)]
    assert len(list((root / ".trackdag" / "environments").iterdir())) == 1


def test_a_dirty_tree_is_recorded_with_a_hash_that_follows_the_diff(repo):
    (repo / "tool.py").write_text(TOOL + "# tuning\n")
    (repo / "notes.txt").write_text("untracked files do not make a tree dirty\n")
    first = sweep(repo, 1)
    expected_first = diff_hash(repo)
    (repo / "tool.py").write_text(TOOL + "# tuning, again\n")
    second = sweep(repo, 2)
    expected_second = diff_hash(repo)
    git(repo, "checkout", "tool.py")
    third = sweep(repo, 3)
    found = dict((r, (d, h)) for r, d, h in rows(repo / "out", "SELECT run_id, git_dirty, git_diff_hash FROM runs"))
    assert found == {first: (True, expected_first), second: (True, expected_second), third: (False, None)}
    assert expected_first != expected_second


def test_outside_a_git_repository_the_code_is_not_recorded(tmp_path, monkeypatch):
    plain = tmp_path / "plain"
    plain.mkdir()
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))  # whatever holds tmp_path is not searched
    assert subprocess.run(["git", "rev-parse", "HEAD"], cwd=plain, capture_output=True).returncode != 0
    code = collect_code(plain)
    assert (code.git_sha, code.git_dirty, code.git_diff_hash) == (None, None, None)


def test_environment_ids_files_and_package_changes(tmp_path):
    a = Environment.make("3.11.7", "cpython-linux-x86_64", ["numpy==2.0", "six==1.16"])
    assert a == Environment.make("3.11.7", "cpython-linux-x86_64", ["six==1.16", "numpy==2.0"])  # order-free
    assert a.env_id != Environment.make("3.12.1", "cpython-linux-x86_64", a.packages).env_id
    saved = save_environment(tmp_path, a)
    assert saved.created is not None and read_environment(environment_path(tmp_path, a.env_id)) == saved
    assert save_environment(tmp_path, a) == saved  # written once: the first one stays
    Path(environment_path(tmp_path, a.env_id)).write_text("# python 3.11.7\nnumpy==9\n")
    assert read_environment(environment_path(tmp_path, a.env_id)) is None  # not its id: damaged, ignored
    assert package_changes(a.packages, ["numpy==2.1", "six==1.16", "attrs==24"]) == [
        "+attrs==24", "+numpy==2.1", "-numpy==2.0"]


def test_a_new_distribution_on_the_path_is_a_new_environment(tmp_path):
    extra = fake_distribution(tmp_path / "extra")
    assert installed_packages([str(extra)]) == ["provtestpkg==1.0"]
    assert "provtestpkg==1.0" in installed_packages([str(extra), *sys.path])


# -- the catalog is rebuilt from disk -----------------------------------------------------------------
def test_reindex_rebuilds_environments_and_run_provenance_from_disk(repo, tmp_path):
    sweep(repo, 1)
    (repo / "tool.py").write_text(TOOL + "# dirty\n")
    sweep(repo, 2)
    cli_run(repo, 3, pythonpath=fake_distribution(tmp_path / "extra"))
    root = repo / "out"
    queries = ("SELECT run_id, env_id, python, git_sha, git_dirty, git_diff_hash FROM runs ORDER BY run_id",
               "SELECT env_id, python, platform, packages, created FROM environments ORDER BY env_id")
    before = [rows(root, q) for q in queries]
    assert len(before[0]) == 3 and len(before[1]) == 2
    (root / "catalog.duckdb").unlink()
    reindex(root)
    assert [rows(root, q) for q in queries] == before


def test_an_environment_the_catalog_lost_comes_back_at_the_next_run(repo):
    sweep(repo, 1)
    root = repo / "out"
    before = rows(root, "SELECT * FROM environments")
    con = duckdb.connect(str(root / "catalog.duckdb"))
    con.execute("DELETE FROM environments")
    con.close()
    sweep(repo, 2)
    assert rows(root, "SELECT * FROM environments") == before


# -- show, the HTML report, diff ----------------------------------------------------------------------
def test_show_prints_the_environment_and_the_code(repo):
    sweep(repo, 1)
    (repo / "tool.py").write_text(TOOL + "# dirty\n")
    sweep(repo, 2)
    root = repo / "out"
    env = collect_environment()
    sha = git(repo, "rev-parse", "HEAD")
    res = CliRunner().invoke(main, ["show", short_id(root, 1), "--root", str(root)])
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    at = lines.index(f"  environment: {env.env_id} (python {platform.python_version()}, {len(env.packages)} "
                     "packages)")
    assert lines[at - 1].startswith("  result:  ") and lines[at + 1] == f"  code:    git {sha[:7]} (clean)"
    res = CliRunner().invoke(main, ["show", short_id(root, 2), "--root", str(root)])
    assert res.exit_code == 0, res.output
    assert f"  code:    git {sha[:7]} (dirty, diff {diff_hash(repo)[:12]})" in res.stdout.splitlines()


def test_show_of_a_job_without_a_done_attempt(repo):
    (repo / "tool.py").write_text("import sys; sys.exit(3)\n")
    res = run({"score.p": [1]}, pipeline=str(repo / "pipeline.yaml"), root=repo / "out", backend="local",
              cwd=str(repo))
    assert res.exit_code == 1
    out = CliRunner().invoke(main, ["show", short_id(repo / "out", 1), "--root", str(repo / "out")])
    assert out.exit_code == 0, out.output
    assert ["  environment: - (no done attempt)", "  code:    -"] == [
        line for line in out.stdout.splitlines() if line.startswith(("  environment:", "  code:"))]


def test_the_html_runs_section_shows_python_env_and_dirty(repo):
    sweep(repo, 1)
    (repo / "tool.py").write_text(TOOL + "# dirty\n")
    sweep(repo, 2)
    page, _charts, _notes = build_html_report(repo / "out")
    import re

    section = re.search(r'<section id="runs">.*?</section>', page, re.S)[0]
    assert re.findall(r"<th>(.*?)</th>", section)[-3:] == ["python", "env", "dirty"]
    table = [re.findall(r"<td[^>]*>(.*?)</td>", row, re.S) for row in re.findall(r"<tr[^>]*data-run[^>]*>(.*?)</tr>",
                                                                                 section, re.S)]
    env_id, python = collect_environment().env_id, platform.python_version()
    assert [cells[-3:] for cells in table] == [[python, env_id, f"yes (diff {diff_hash(repo)[:12]})"],
                                               [python, env_id, "no"]]  # newest first


def test_diff_says_when_two_jobs_ran_under_different_environments_or_code(repo, tmp_path):
    cli_run(repo, 1)
    cli_run(repo, 2, pythonpath=fake_distribution(tmp_path / "extra"))
    (repo / "tool.py").write_text(TOOL + "# dirty\n")
    cli_run(repo, 3)
    root = repo / "out"
    a, b, c = (short_id(root, p) for p in (1, 2, 3))
    env = dict(rows(root, "SELECT j.short_id, r.env_id FROM jobs j JOIN attempts t USING (job_id) "
                          "JOIN runs r ON r.run_id = t.run_id"))
    assert env[a] == env[c] != env[b]
    sha = git(repo, "rev-parse", "HEAD")[:7]

    res = CliRunner().invoke(main, ["diff", a, b, "--root", str(root)])
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert lines[2] == f"environments differ: A {env[a]} B {env[b]} (packages: +provtestpkg==1.0)"
    assert lines[3] == "why the ids differ:" and not any(line.startswith("code differs") for line in lines)
    res = CliRunner().invoke(main, ["diff", a, b, "--root", str(root), "--format", "json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["environment"]["packages"] == ["+provtestpkg==1.0"] and "code" not in out
    assert (out["environment"]["a"], out["environment"]["b"]) == (env[a], env[b])

    res = CliRunner().invoke(main, ["diff", a, c, "--root", str(root)])
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert lines[2] == f"code differs: A git {sha} (clean) B git {sha} (dirty, diff {diff_hash(repo)[:12]})"
    assert lines[3] == "why the ids differ:"
    out = json.loads(CliRunner().invoke(main, ["diff", a, c, "--root", str(root), "--format", "json"]).stdout)
    assert "environment" not in out and out["code"]["b"]["git_dirty"] is True
    assert out["code"]["b"]["git_diff_hash"] == diff_hash(repo) and out["code"]["a"]["git_diff_hash"] is None
    # the same environment and code: no such line
    cli_run(repo, 4)
    res = CliRunner().invoke(main, ["diff", c, short_id(root, 4), "--root", str(root)])
    assert res.exit_code == 0 and res.stdout.splitlines()[2] == "why the ids differ:"


def test_the_catalog_of_a_new_root_has_the_tables(tmp_path):
    cat = Catalog(str(tmp_path / "c.duckdb"))
    cat.ensure_schema()
    con = duckdb.connect(str(tmp_path / "c.duckdb"), read_only=True)
    cols = {c for (c,) in con.execute("SELECT column_name FROM information_schema.columns "
                                      "WHERE table_name = 'runs'").fetchall()}
    assert {"env_id", "python", "git_sha", "git_dirty", "git_diff_hash"} <= cols
    assert con.execute("SELECT column_name FROM information_schema.columns WHERE table_name = 'environments' "
                       "ORDER BY ordinal_position").fetchall() == [("env_id",), ("python",), ("platform",),
                                                                   ("packages",), ("created",)]
    con.close()
