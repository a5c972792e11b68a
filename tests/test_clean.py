"""trackdag clean (issue 12.4): what a sweep no longer needs goes, folders and catalog rows together.

Real runs (local backend), a real DuckDB file, real processes; nothing mocked.
"""
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from conftest import driver, running_markers, wait_for
from trackdag.clean import CleanError, apply_clean, format_clean, human_bytes, plan_clean
from trackdag.cli import main
from trackdag.errors import CatalogLockedError
from trackdag.report import build_report
from trackdag.sweep import prepare, run
from trackdag.verify import verify

TOOL = """
import json, sys
args = dict(a[2:].split("=", 1) for a in sys.argv[1:])
if args["fail"] != "0" and args["fail"] in (args.get("a"), args.get("b")):
    print("tool: failing on purpose", file=sys.stderr)
    sys.exit(3)
json.dump({"score": float(args.get("a", 0)) * 10 + float(args.get("b", 0))}, open(args["out"], "w"))
"""


@pytest.fixture
def project(tmp_path):
    """prep(a, fail) -> score(b, fail), as a YAML pipeline; a job fails when its fail equals its a or b."""
    (tmp_path / "tool.py").write_text(TOOL)
    exe = f"{shlex.quote(sys.executable)} {shlex.quote(str(tmp_path / 'tool.py'))}"
    (tmp_path / "pipeline.yaml").write_text(json.dumps({
        "nodes": {"prep": {"executable": exe, "out_paths": {"out": "prep.json"}, "algo_params": {"a": 1, "fail": "0"}},
                  "score": {"executable": exe, "in_paths": ["src"], "out_paths": {"out": "score.json"},
                            "algo_params": {"b": 1, "fail": "0"}}},
        "edges": ["prep.out -> score.src"]}))
    return tmp_path


def params_file(folder, name, **matrix):
    path = folder / name
    path.write_text(json.dumps({"pipeline": "pipeline.yaml", "matrix": matrix}))
    return path


def sweep(folder, name="grid.yaml", **matrix):
    path = params_file(folder, name, **matrix)
    res = run(str(path), root=folder / "out", backend="local", workers=4, cwd=str(folder))
    return path, res


def invoke(*args):
    return CliRunner().invoke(main, ["clean", *map(str, args)], catch_exceptions=False)


def size(path):
    """Bytes under path, counted here independently of trackdag.clean: every file and link, not followed."""
    path = str(path)
    if os.path.islink(path) or not os.path.isdir(path):
        return os.lstat(path).st_size
    total = 0
    for top, dirs, files in os.walk(path):
        total += sum(os.lstat(os.path.join(top, n)).st_size for n in files)
        total += sum(os.lstat(os.path.join(top, d)).st_size for d in dirs if os.path.islink(os.path.join(top, d)))
    return total


def catalog_rows(root, job_ids):
    """table -> rows that name one of job_ids, over every table with a job column."""
    con = duckdb.connect(str(root / "catalog.duckdb"), read_only=True)
    try:
        found = {}
        for table, column in con.execute(
                "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'main' AND "
                "column_name IN ('job_id', 'parent_id', 'child_id') AND table_name IN "
                "(SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE')").fetchall():
            n = con.execute(f'SELECT count(*) FROM "{table}" WHERE "{column}" IN (SELECT unnest(?::VARCHAR[]))',
                            [list(job_ids)]).fetchone()[0]
            if n:
                found[f"{table}.{column}"] = n
        return found
    finally:
        con.close()


def query(root, sql):
    con = duckdb.connect(str(root / "catalog.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def rel(root, folder):
    return os.path.relpath(folder, root)


# -- --not-in ---------------------------------------------------------------------------------------
def test_not_in_shows_then_removes_the_jobs_a_smaller_sweep_does_not_plan(project):
    grid, res = sweep(project, **{"prep.a": [1, 2, 3, 4], "score.b": [1, 2, 3, 4, 5]})
    assert res.exit_code == 0 and len(res.plan.jobs) == 24
    root = project / "out"
    small = params_file(project, "small.yaml", **{"prep.a": [1], "score.b": [1, 2]})
    keep = prepare(str(small), root=root).plan.jobs
    gone = sorted((j for j in res.plan.jobs.values() if j.job_id not in keep), key=lambda j: j.folder)
    assert len(gone) == 21  # 3 prep, 18 score: every job of prep.a 2-4, and score.b 3-5 of prep.a 1
    nbytes = human_bytes(sum(size(j.folder) for j in gone))
    head = [f"root: {root}", f"not in the sweep: 21 jobs, {nbytes} (prep: 3, score: 18)",
            f"would remove 21 paths, {nbytes}; 21 jobs leave the catalog:"]
    paths = [f"  {rel(root, j.folder)}" for j in gone]

    shown = invoke("--root", root, "--not-in", small)
    assert shown.exit_code == 0
    assert shown.output.splitlines() == head + paths[:20] + [
        "  ... 1 more; pass --all to list them all", "run again with --yes to remove them"]
    assert all(os.path.isdir(j.folder) for j in gone)  # a dry run removes nothing
    assert query(root, "SELECT count(*) FROM jobs") == [(24,)]
    assert invoke("--root", root, "--not-in", small, "--all", "--dry-run").output.splitlines() == (
        head + paths + ["run again with --yes to remove them"])

    before = {j for (j,) in query(root, "SELECT job_id FROM run_jobs")}
    done = invoke("--root", root, "--not-in", small, "--yes", "--all")
    assert done.exit_code == 0, done.output
    lines = done.output.splitlines()
    assert lines[:3] == head[:2] + [f"removed 21 paths, {nbytes}; 21 jobs left the catalog:"]
    assert lines[3:24] == paths
    # every row of the 21 jobs: its jobs, params, edges, attempts and results; the runs' rows that asked for them
    assert lines[24] == ("catalog rows deleted: attempts 21, edges 18, jobs 21, param_sets 21, param_values 78, "
                         "params 60, results 18, run_jobs 36")
    assert len(lines) == 25
    assert not any(os.path.exists(j.folder) for j in gone)
    assert all(os.path.isdir(j.folder) for j in keep.values())
    assert catalog_rows(root, [j.job_id for j in gone]) == {}
    assert before - {j for (j,) in query(root, "SELECT job_id FROM run_jobs")} == {j.job_id for j in gone}
    assert sorted(os.listdir(Path(keep[next(iter(keep))].folder) / ".succ" / "score")) == sorted(
        Path(j.folder).name for j in keep.values() if j.node == "score")  # no dangling links to removed jobs

    # the report, status and verify agree with the disk
    report = build_report(root / "catalog.duckdb")
    assert sorted(r["job_id"] for n in report.nodes for r in n.rows) == sorted(
        j for j, job in keep.items() if job.node == "score")
    assert verify(root) == []
    checked = CliRunner().invoke(main, ["verify", "--root", str(root)])
    assert (checked.exit_code, checked.output) == (0, "catalog and job folders agree\n")
    status = CliRunner().invoke(main, ["status", "--root", str(root)]).output
    assert "filled: 2 of 20 configurations; 18 left" in status
    assert [line.split() for line in status.splitlines()[2:]] == [["node", "done", "total"], ["prep", "1", "1"],
                                                                   ["score", "2", "2"]]
    # a catalog rebuilt from the folders has the same jobs and run rows
    tables = "SELECT job_id, node, status, attempts FROM jobs ORDER BY job_id"
    runs = "SELECT run_id, row_index, job_id FROM run_jobs ORDER BY ALL"
    kept, kept_runs = query(root, tables), query(root, runs)
    os.unlink(root / "catalog.duckdb")
    assert CliRunner().invoke(main, ["reindex", "--root", str(root)]).exit_code == 0
    assert (query(root, tables), query(root, runs)) == (kept, kept_runs)
    assert invoke("--root", root, "--not-in", small).output.splitlines()[1:] == [
        "not in the sweep: 0 jobs", "nothing to remove"]
    # the same sweep again runs nothing: what it plans was kept
    again = run(str(small), root=root, backend="local", cwd=str(project))
    assert (again.counts.cached, again.counts.done) == (3, 0)


def test_not_in_refuses_bad_params_and_a_sweep_with_no_job_here(project):
    sweep(project, **{"prep.a": [1, 2], "score.b": [1]})
    root = project / "out"
    bad = invoke("--root", root, "--not-in", "matrix: {prep.a: [1")
    assert bad.exit_code == 2 and len(bad.output.splitlines()) == 1 and bad.output.startswith("Error: --not-in")
    missing = invoke("--root", root, "--not-in", project / "nope.yaml", "--yes")
    assert missing.exit_code == 2 and len(missing.output.splitlines()) == 1, missing.output
    unknown = invoke("--root", root, "--not-in", params_file(project, "typo.yaml", **{"prep.failx": [1]}))
    assert unknown.exit_code == 2 and len(unknown.output.splitlines()) == 1 and "'failx'" in unknown.output
    other = params_file(project, "other.yaml", **{"prep.a": [7]})
    elsewhere = invoke("--root", root, "--not-in", other, "--yes")
    assert elsewhere.exit_code == 2 and elsewhere.output == (
        f"Error: the sweep of --not-in plans 2 job(s), none of them under {root}: it would remove every job; "
        "check the params, --pipeline and the folder you run from (input paths are relative to it)\n")
    alone = invoke("--root", root, "--pipeline", "pipeline.yaml")
    assert (alone.exit_code, alone.output) == (2, "Error: --pipeline goes with --not-in PARAMS\n")
    assert query(root, "SELECT count(*) FROM jobs") == [(4,)] and verify(root) == []


# -- failed leftovers -------------------------------------------------------------------------------
def test_failed_leftovers_go_with_their_rows_and_the_rest_stays(project):
    # prep fails for a=2 (its score jobs are skipped); score fails for b=3
    _, res = sweep(project, **{"prep.a": [1, 2], "prep.fail": "2", "score.b": [1, 2, 3], "score.fail": "3"})
    assert (res.counts.done, res.counts.failed, res.counts.skipped) == (3, 2, 3)
    root = project / "out"
    state = dict(query(root, "SELECT folder, status FROM jobs"))
    gone = sorted(f for f, s in state.items() if s != "done")
    assert len(gone) == 5
    nbytes = human_bytes(sum(size(f) for f in gone))
    expected = [f"root: {root}", f"failed leftovers: 5 jobs, {nbytes} (prep: 1, score: 4)",
                "superseded outputs: 0 folders", f"would remove 5 paths, {nbytes}; 5 jobs leave the catalog:",
                *(f"  {rel(root, f)}" for f in gone), "run again with --yes to remove them"]
    shown = invoke("--root", root)  # no category: failed leftovers and superseded outputs
    assert (shown.exit_code, shown.output.splitlines()) == (0, expected)
    assert all(os.path.isdir(f) for f in gone)
    ids = [j for (j,) in query(root, "SELECT job_id FROM jobs WHERE status <> 'done'")]

    done = invoke("--root", root, "--yes")
    assert done.exit_code == 0
    assert done.output.splitlines()[3] == f"removed 5 paths, {nbytes}; 5 jobs left the catalog:"
    assert done.output.splitlines()[-1] == ("catalog rows deleted: attempts 2, edges 4, jobs 5, param_sets 5, "
                                            "param_values 18, params 14, run_jobs 8")
    assert not any(os.path.exists(f) for f in gone) and catalog_rows(root, ids) == {}
    assert query(root, "SELECT status, count(*) FROM jobs GROUP BY ALL") == [("done", 3)]
    assert verify(root) == []
    status = CliRunner().invoke(main, ["status", "--root", str(root)]).output
    assert "filled: 2 of 6 configurations; 4 left" in status and "failed:" not in status
    assert invoke("--root", root, "--failed").output.splitlines()[1:] == ["failed leftovers: 0 jobs", "nothing to remove"]


def test_a_failed_job_whose_folder_is_gone_leaves_the_catalog_too(project):
    sweep(project, **{"prep.a": [1, 2], "prep.fail": "2", "score.b": [1]})
    root = project / "out"
    failed = query(root, "SELECT folder, job_id FROM jobs WHERE node = 'prep' AND status = 'failed'")[0]
    skipped = query(root, "SELECT folder FROM jobs WHERE status = 'skipped'")[0][0]
    shutil.rmtree(failed[0])
    assert [p.kind for p in verify(root)] == ["missing-folder"]
    nbytes = human_bytes(size(skipped))
    done = invoke("--root", root, "--failed", "--yes")
    assert done.output.splitlines()[1:5] == [
        f"failed leftovers: 2 jobs, {nbytes} (prep: 1, score: 1)", f"removed 2 paths, {nbytes}; 2 jobs left the catalog:",
        f"  {rel(root, failed[0])} (catalog only)", f"  {rel(root, skipped)}"]
    assert catalog_rows(root, [failed[1]]) == {} and verify(root) == []


def test_a_job_that_is_not_done_but_feeds_a_done_job_is_kept(project):
    _, res = sweep(project, **{"prep.a": [1, 2], "score.b": [1]})
    root = project / "out"
    prep = next(j for j in res.plan.jobs.values() if j.node == "prep" and j.requested["prep.a"] == 1)
    os.unlink(Path(prep.folder) / "done.json")  # as a redo that failed would leave it: its child is still done
    plan = plan_clean(root, failed=True)
    assert plan.items == ()
    assert plan.notes == (f"kept 1 job(s) that are not done but feed a done job: {rel(root, prep.folder)}",)
    assert format_clean(plan).splitlines()[1:] == [
        "failed leftovers: 0 jobs", f"note: {plan.notes[0]}", "nothing to remove"]


# -- superseded outputs and Ray logs ----------------------------------------------------------------
def test_superseded_outputs_go_and_the_job_stays_done(project):
    _, res = sweep(project, **{"prep.a": [1], "score.b": [1, 2]})
    root = project / "out"
    scores = sorted((j for j in res.plan.jobs.values() if j.node == "score"), key=lambda j: j.folder)
    made = []
    for job, stamp in ((scores[0], "20261101T000000Z"), (scores[0], "20261102T000000Z"), (scores[1], "20261103T000000Z")):
        aside = Path(job.folder) / ".superseded" / stamp  # as `run --rerun` leaves it
        aside.mkdir(parents=True)
        (aside / "score.json").write_text('{"score": 0}')
        (aside / "superseded.json").write_text(json.dumps({"job_id": job.job_id, "stamp": stamp}))
        made.append(aside)
    nbytes = human_bytes(sum(size(p) for p in made))
    expected = [f"root: {root}", f"superseded outputs: 3 folders, {nbytes} (score: 3)",
                f"would remove 3 paths, {nbytes}:", *(f"  {rel(root, p)}" for p in made),
                "run again with --yes to remove them"]
    assert invoke("--root", root, "--superseded").output.splitlines() == expected
    jobs = query(root, "SELECT * FROM jobs ORDER BY job_id")
    done = invoke("--root", root, "--superseded", "--yes")
    assert done.output.splitlines() == [expected[1 - 1], expected[1], f"removed 3 paths, {nbytes}:", *expected[3:6]]
    assert not any((Path(j.folder) / ".superseded").exists() for j in scores)
    assert all((Path(j.folder) / "score.json").exists() for j in scores)
    assert query(root, "SELECT * FROM jobs ORDER BY job_id") == jobs and verify(root) == []


def test_ray_log_sessions_older_than_days_go(project):
    _, res = sweep(project, **{"prep.a": [1], "score.b": [1]})
    root = project / "out"
    logs = root / "ray-logs"
    now = time.time()
    old, recent = logs / "session_2026-11-01_10-00-00_000000_1", logs / "session_2026-11-29_10-00-00_000000_2"
    for session, age_days in ((old, 10), (recent, 1)):
        (session / "logs").mkdir(parents=True)
        (session / "logs" / "raylet.out").write_text("x" * 3000)
        for path in (session / "logs" / "raylet.out", session / "logs", session):
            os.utime(path, (now - age_days * 86400, now - age_days * 86400))
    link = logs / "session_2026-10-01_10-00-00_000000_3"  # a dead run's link to Ray's temp folder
    os.symlink("/tmp/nonexistent-ray-session/logs", link)
    os.utime(link, (now - 30 * 86400, now - 30 * 86400), follow_symlinks=False)
    (logs / "notes.txt").write_text("not a session")
    nbytes = human_bytes(size(old) + size(link))
    done = invoke("--root", root, "--ray-logs", 7, "--yes")
    assert done.output.splitlines() == [
        f"root: {root}", f"ray log sessions older than 7 days: 2 sessions, {nbytes}",
        f"removed 2 paths, {nbytes}:", f"  ray-logs/{link.name}", f"  ray-logs/{old.name}"]
    assert sorted(os.listdir(logs)) == ["notes.txt", recent.name]
    assert invoke("--root", root, "--ray-logs", 7).output.splitlines()[1:] == [
        "ray log sessions older than 7 days: 0 sessions", "nothing to remove"]
    assert verify(root) == []


# -- safety: an active run, a held catalog, an interrupted clean ------------------------------------
def test_nothing_is_cleaned_while_a_run_is_active(tmp_path):
    proc = driver(tmp_path, {"job.i": [1, 2], "job.sleep": 60}, "local")
    try:
        wait_for(lambda: len(running_markers(tmp_path / "out")) == 2, what="both jobs running")
        for args in ((), ("--failed", "--yes")):
            res = invoke("--root", tmp_path / "out", *args)
            assert res.exit_code == 2 and len(res.output.splitlines()) == 1, res.output
            assert res.output.startswith(f"Error: root {tmp_path / 'out'} has an active run ")
            assert "nothing is cleaned while a run is active; try again when it has finished" in res.output
        assert len(running_markers(tmp_path / "out")) == 2
    finally:
        os.killpg(proc.pid, 15)
        proc.communicate(timeout=60)


def test_a_held_catalog_puts_every_folder_back(project):
    _, res = sweep(project, **{"prep.a": [1, 2], "prep.fail": "2", "score.b": [1]})
    root = project / "out"
    plan = plan_clean(root, failed=True)
    assert len(plan.items) == 2
    holder = subprocess.Popen([sys.executable, "-c", "import duckdb, sys, time; "
                               f"con = duckdb.connect({str(root / 'catalog.duckdb')!r}); print('ready', flush=True); "
                               "time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(CatalogLockedError):
            apply_clean(plan, timeout=0.5)
    finally:
        holder.kill()
        holder.wait()
    assert all(os.path.isdir(i.path) for i in plan.items)
    assert not os.listdir(root / ".trackdag" / "clean")
    assert verify(root) == []
    assert len(apply_clean(plan_clean(root, failed=True)).plan.items) == 2 and verify(root) == []


def test_an_interrupted_clean_is_finished_by_the_next(project):
    _, res = sweep(project, **{"prep.a": [1, 2], "prep.fail": "2", "score.b": [1]})
    root = project / "out"
    failed = sorted(f for (f,) in query(root, "SELECT folder FROM jobs WHERE status <> 'done'"))
    ids = [j for (j,) in query(root, "SELECT job_id FROM jobs WHERE status <> 'done'")]
    # what a clean killed between its renames and its catalog transaction leaves
    trash = root / ".trackdag" / "clean" / "20261201T000000-abcdef"
    trash.mkdir(parents=True)
    for n, folder in enumerate(failed):
        os.rename(folder, trash / f"{n}-{os.path.basename(folder)}")
    (trash.parent / f"{trash.name}.json").write_text(json.dumps({"job_ids": ids, "trash": os.listdir(trash)}))
    assert {p.kind for p in verify(root)} == {"missing-folder"}
    plan = plan_clean(root, superseded=True)
    assert plan.notes == (f"an interrupted `trackdag clean` left 1 removal(s) in {root / '.trackdag' / 'clean'}; "
                          "--yes finishes them",)
    done = invoke("--root", root, "--superseded", "--yes")
    assert done.output.splitlines()[1:] == ["superseded outputs: 0 folders",
                                            "finished an interrupted clean: 2 path(s) removed", "nothing to remove"]
    assert not trash.exists() and catalog_rows(root, ids) == {} and verify(root) == []


def test_human_bytes():
    assert [human_bytes(n) for n in (0, 1023, 1024, 1536, 5 * 1024 ** 2, 3 * 1024 ** 3)] == [
        "0 B", "1023 B", "1.0 KiB", "1.5 KiB", "5.0 MiB", "3.0 GiB"]


def test_a_root_that_is_not_a_folder_is_one_line(tmp_path):
    res = invoke("--root", tmp_path / "nope")
    assert (res.exit_code, res.output) == (2, f"Error: --root {tmp_path / 'nope'} is not a folder: nothing to clean\n")
    with pytest.raises(CleanError):
        plan_clean(tmp_path / "nope")
