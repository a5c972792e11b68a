"""The job folder is the record, the catalog its index (issue 10.1, 10.3, 10.4, 10.8)."""
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import duckdb
import pytest

from conftest import driver, job_counts, procs_with, run_demo, single, spawned_jobs, two_stage, wait_for
from trackdag import records
from trackdag.records import read_attempts, read_run_rows, read_runs, write_run_rows
from trackdag.reindex import reindex
from trackdag.report import build_report, format_json
from trackdag.sweep import run

#: (table, ORDER BY) of everything that must come back equal; columns that record *when the catalog*
#: was written (migration and view bookkeeping times) are left out
TABLES = {"runs": "run_id", "jobs": "job_id", "run_jobs": "run_id, row_index, job_id", "edges": "parent_id, child_id",
          "params": "job_id, key", "attempts": "job_id, attempt", "results": "job_id, key",
          "param_values": "job_id, key", "param_sets": "job_id"}
VIEWS = ("job_state", "params_long", "metrics", "lineage")


def _dump(catalog):
    con = duckdb.connect(str(catalog), read_only=True)
    try:
        out = {name: con.execute(f"SELECT * FROM {name} ORDER BY {order}").fetchall() for name, order in TABLES.items()}
        nodes = [n for (n,) in con.execute("SELECT DISTINCT node FROM jobs ORDER BY 1").fetchall()]
        for view in VIEWS + tuple(f"results_{n}" for n in nodes):
            out[view] = sorted(map(repr, con.execute(f"SELECT * FROM {view}").fetchall()))
        out["schema"] = con.execute("SELECT version, name FROM schema_version ORDER BY 1").fetchall()
        return out
    finally:
        con.close()


def _report(root):
    data = json.loads(format_json(build_report(root)))
    data.pop("catalog")
    return data


@pytest.fixture
def failing_sweep(tmp_path, src):
    """A finished sweep with done, failed (twice, --retry) and skipped jobs over two runs."""
    root = tmp_path / "out"
    params = {"matrix": {"predict.src": str(src), "predict.p": [1, 2, 3]},
              "include": [{"predict.p": 3, "predict.fail": True}]}
    run(params, pipeline=two_stage(), root=root, backend="local", workers=2, retry=1)
    run({"predict.src": str(src), "predict.p": [1, 2, 4], "evaluate.thresh": 0.7}, pipeline=two_stage(), root=root,
        backend="local", workers=2)
    return root


def test_every_attempt_is_recorded_in_its_folder_as_in_the_catalog(failing_sweep):
    con = duckdb.connect(str(failing_sweep / "catalog.duckdb"), read_only=True)
    rows = con.execute("SELECT j.folder, a.* FROM attempts a JOIN jobs j USING (job_id) ORDER BY 1, a.attempt")
    names = [d[0] for d in rows.description][1:]
    catalog = rows.fetchall()
    con.close()
    assert len(catalog) >= 8 and {r[names.index("status") + 1] for r in catalog} >= {"done", "failed"}
    for folder in {r[0] for r in catalog}:
        on_disk = [r for r in catalog if r[0] == folder]
        records = read_attempts(folder)
        assert [a["attempt"] for a in records] == [r[names.index("attempt") + 1] for r in on_disk]
        for record, row in zip(records, on_disk):
            assert record["status"] == row[names.index("status") + 1]
            assert record["exit_code"] == row[names.index("exit_code") + 1]
            assert record["stderr_tail"] == row[names.index("stderr_tail") + 1]
    assert [r["status"] for r in read_runs(failing_sweep)] == ["failed", "done"]


def test_an_attempt_record_a_full_disk_kept_out_is_written_by_the_next_run(failing_sweep, src):
    # A full disk: the runner could not write a failed attempt's record, the catalog got it, marked.
    # (tests/faults/test_disk.py::test_a_full_disk makes this happen for real, when timing allows.)
    from trackdag.records import UNWRITTEN
    from trackdag.verify import verify

    con = duckdb.connect(str(failing_sweep / "catalog.duckdb"))
    folder, attempt = con.execute("SELECT j.folder, a.attempt FROM attempts a JOIN jobs j USING (job_id) "
                                  "WHERE a.status = 'failed' ORDER BY 1, 2 LIMIT 1").fetchone()
    con.execute(f"UPDATE attempts SET error = error || ' ({UNWRITTEN}: No space left on device)' "
                "WHERE attempt = ? AND job_id = (SELECT job_id FROM jobs WHERE folder = ?)", [attempt, folder])
    before = con.execute("SELECT * FROM attempts WHERE job_id = (SELECT job_id FROM jobs WHERE folder = ?) "
                         "AND attempt = ?", [folder, attempt]).fetchall()
    con.close()
    os.unlink(Path(folder) / ".attempts" / f"{attempt}.json")
    assert not [r for r in read_attempts(folder) if r["attempt"] == attempt]
    run({"predict.src": str(src), "predict.p": [1, 2, 4], "evaluate.thresh": 0.7}, pipeline=two_stage(),
        root=failing_sweep, backend="local", workers=2)   # nothing to run; its start writes the record back
    [record] = [r for r in read_attempts(folder) if r["attempt"] == attempt]
    assert record["status"] == "failed" and UNWRITTEN in record["error"]
    assert not [p for p in verify(failing_sweep) if p.kind == "attempt-not-on-disk"]
    con = duckdb.connect(str(failing_sweep / "catalog.duckdb"), read_only=True)
    assert con.execute("SELECT * FROM attempts WHERE job_id = (SELECT job_id FROM jobs WHERE folder = ?) "
                       "AND attempt = ?", [folder, attempt]).fetchall() == before
    con.close()


@pytest.mark.parametrize("sweep", ["demo", "failing"])
def test_reindex_of_a_deleted_catalog_gives_back_every_row(tmp_path, failing_sweep, sweep):
    root = run_demo(tmp_path / "demo") if sweep == "demo" else failing_sweep
    catalog = root / "catalog.duckdb"
    before, report = _dump(catalog), _report(root)
    catalog.unlink()
    counts = reindex(root)
    assert counts["folders"] == len(before["jobs"]) and counts["runs"] == len(before["runs"])
    after = _dump(catalog)
    for name in before:
        assert after[name] == before[name], name
    assert _report(root) == report
    assert reindex(root)["jobs"] == 0 and _dump(catalog) == before  # a second reindex changes nothing


def test_a_driver_killed_between_a_job_and_its_batch_loses_nothing(tmp_path, ledger):
    # Batches every hour: four jobs finish on disk, none reaches the catalog (a fifth keeps the run
    # going), then kill -9.
    proc = driver(tmp_path, {"matrix": {"job.i": [1, 2, 3, 4]}, "include": [{"job.i": 5, "job.sleep": 60}]},
                  "local", ledger=ledger, env_extra={"TRACKDAG_FLUSH_SECONDS": "3600"})
    root = tmp_path / "out"
    try:
        # (and the fifth started: it is in the ledger, so the count below is exact, not a race with its start)
        wait_for(lambda: len(list(root.glob("job/*/done.json"))) == 4 and ledger.exists()
                 and len(ledger.read_text().splitlines()) == 5, what="four jobs done on disk, the fifth running")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert job_counts(root).get("done", 0) == 0  # the catalog heard nothing
    res = run({"job.i": [1, 2, 3, 4]}, pipeline=single("job", sleep=0, spawn=False), root=root, backend="local",
              env={"TRACKDAG_TEST_LEDGER": str(ledger)})
    assert res.counts.cached == 4 and len(ledger.read_text().splitlines()) == 5  # nothing ran again
    con = duckdb.connect(str(root / "catalog.duckdb"), read_only=True)
    # (tool.py writes strings only: its .result.json says "no result", and the catalog now knows it)
    states = con.execute("SELECT status, result_status, attempts FROM jobs ORDER BY status").fetchall()
    assert states == [("cancelled", None, 1)] + [("done", "none", 1)] * 4  # job 5 was interrupted: on record
    assert con.execute("SELECT count(*) FROM attempts WHERE status = 'done' AND exit_code = 0").fetchone()[0] == 4
    assert [r for (r,) in con.execute("SELECT status FROM runs ORDER BY started").fetchall()] == ["interrupted",
                                                                                                 "done"]
    con.close()


@pytest.mark.parametrize("backend", ["local", "ray"])
def test_no_job_outlives_a_killed_driver(tmp_path, backend):
    token = f"tdorphan{uuid.uuid4().hex[:10]}"
    proc = driver(tmp_path, {"job.i": [1, 2, 3, 4], "job.spawn": token}, backend)
    try:
        wait_for(lambda: spawned_jobs(token) >= 2, what="two running jobs")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the driver, its Ray, its workers: everything but the jobs' sessions
        proc.wait()
    killed = time.monotonic()
    wait_for(lambda: not procs_with(token), timeout=30, what="the jobs to die")
    assert time.monotonic() - killed < 3 + 1  # (3 s, plus this loop's polling)


def _signal_pipeline(tmp_path):
    from trackdag.node import ProcessNode
    from trackdag.pipeline import Pipeline

    prog = tmp_path / "prog.py"
    prog.write_text("import os, signal, sys, time\n"
                    "args = dict(a[2:].split('=', 1) for a in sys.argv[1:])\n"
                    "mode = args['mode']\n"
                    "if mode == 'sigkill': os.kill(os.getpid(), signal.SIGKILL)\n"
                    "if mode == 'hang': time.sleep(60)\n"
                    "if mode == 'chatty':\n"
                    "    block = b'x' * 65536\n"
                    "    for _ in range(80): sys.stdout.buffer.write(block)\n"
                    "    sys.stdout.buffer.write(b'THE END')\n"
                    "open(args['out'], 'w').write('{}')\n")
    return Pipeline([ProcessNode(name="p", executable=f"{sys.executable} {prog}", out_paths={"out": "o.json"},
                                 algo_params={"mode": "ok"})])


def test_signals_timeouts_and_log_caps_are_recorded_as_such(tmp_path):
    root = tmp_path / "out"
    res = run({"p.mode": ["sigkill", "hang", "chatty"]}, pipeline=_signal_pipeline(tmp_path), root=root,
              backend="local", workers=3, timeout=2, log_limit=1_000_000)
    con = duckdb.connect(str(root / "catalog.duckdb"), read_only=True)
    rows = {json.loads(req)["p.mode"]: (status, sig, code, error) for req, status, sig, code, error in con.execute(
        "SELECT j.requested, a.status, a.signal, a.exit_code, a.error FROM attempts a JOIN jobs j USING (job_id)"
    ).fetchall()}
    con.close()
    assert rows["sigkill"] == ("failed", 9, None, "killed by SIGKILL")
    assert rows["hang"][:3] == ("failed", 15, None) and rows["hang"][3].startswith("timeout: still running after 2s")
    assert rows["chatty"][0] == "done"
    (chatty,) = [j for j in res.plan.jobs.values() if j.requested["p.mode"] == "chatty"]
    log = Path(chatty.folder, "stdout.log").read_bytes()
    assert len(log) <= 1_000_000 + 200 and log.startswith(b"x" * 1000) and log.endswith(b"THE END")
    assert b"bytes of this log were left out" in log


def _hold_catalog(catalog, seconds):
    """Another process holding the catalog read-only, as a notebook would; returns it once it holds the lock."""
    holder = subprocess.Popen([sys.executable, "-c", (
        "import duckdb, sys, time\n"
        "while True:\n"
        "    try:\n"
        f"        con = duckdb.connect({str(catalog)!r}, read_only=True)\n"
        "        break\n"
        "    except duckdb.IOException:\n"
        "        time.sleep(0.01)  # the driver's short transaction: try again\n"
        "print('holding', flush=True)\n"
        f"time.sleep({seconds})\n")], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "holding"
    return holder


def test_a_reader_across_the_end_of_a_run_costs_nothing(tmp_path, monkeypatch):
    root = tmp_path / "out"
    pipe = single("job", sleep=0.3)
    run({"job.i": [0]}, pipeline=pipe, root=root, backend="local")  # the catalog exists
    monkeypatch.setenv("TRACKDAG_LOCK_TIMEOUT", "2")  # how long the end of the run waits for the reader
    holders = []

    def hold_once(kind, job, outcome):  # from the first job on, a notebook holds the catalog for 30 s
        if kind == "started" and not holders:
            holders.append(_hold_catalog(root / "catalog.duckdb", 30))

    try:
        res = run({"job.i": [1, 2, 3, 4, 5, 6]}, pipeline=pipe, root=root, backend="local", workers=2,
                  on_event=hold_once)
        assert res.exit_code == 0 and res.counts.done == 6 and res.catalog_held
        assert "catalog" in res.catalog_held and str(holders[0].pid) in res.catalog_held
        assert res.elapsed < 25  # it did not wait for the reader to go
    finally:
        for holder in holders:
            holder.kill()
            holder.wait()
    assert job_counts(root).get("done", 0) == 1  # the catalog could not hear of them yet ...
    pending = list((root / ".trackdag" / "pending").iterdir())
    assert len(pending) == 1
    res = run({"job.i": [7]}, pipeline=pipe, root=root, backend="local")  # ... the next writer records them
    assert job_counts(root) == {"done": 8} and not list((root / ".trackdag" / "pending").iterdir())
    con = duckdb.connect(str(root / "catalog.duckdb"), read_only=True)
    assert con.execute("SELECT status FROM runs ORDER BY started").fetchall() == [("done",)] * 3
    assert con.execute("SELECT count(*) FROM attempts").fetchone()[0] == 8
    con.close()


def test_a_reader_mid_run_does_not_slow_job_starts(tmp_path):
    root = tmp_path / "out"
    pipe = single("job", sleep=0.4)
    run({"job.i": [0]}, pipeline=pipe, root=root, backend="local")
    import threading

    started_hold = {}

    def hold():
        time.sleep(1.0)
        holder = _hold_catalog(root / "catalog.duckdb", 4)
        started_hold["at"] = time.time()
        holder.wait()
        started_hold["until"] = time.time()

    thread = threading.Thread(target=hold)
    thread.start()
    res = run({"job.i": list(range(1, 21))}, pipeline=pipe, root=root, backend="local", workers=2)
    thread.join()
    assert res.exit_code == 0 and res.counts.done == 20 and not res.catalog_held
    con = duckdb.connect(str(root / "catalog.duckdb"), read_only=True)
    starts = [s for (s,) in con.execute("SELECT epoch(started) FROM attempts ORDER BY 1").fetchall()]
    con.close()
    during = [s for s in starts if started_hold["at"] + 0.5 <= s <= started_hold["until"] - 0.5]
    # 2 workers, 0.4 s jobs: about 5 starts a second, hold or no hold (3 s of hold: at least 10)
    assert len(during) >= 10, (len(during), started_hold)


def test_a_runner_killed_between_its_done_attempt_and_its_done_record_does_not_run_the_job_twice(tmp_path, ledger):
    # A runner records a finished job as .result.json, then its attempt, then done.json; kill -9 between
    # the last two leaves an attempt saying done in a folder that is not done, and its .running marks.
    # Made here by hand, exactly: done.json removed and the marks put back (the runner's pid is gone).
    from trackdag.records import mark_running

    root = tmp_path / "out"
    run({"job.i": [1, 2]}, pipeline=single("job", sleep=0, spawn=False), root=root, backend="local")
    folders = {json.loads((f / "job_config.json").read_text())["requested"]["job.i"]: f
               for f in root.glob("job/*") if (f / "job_config.json").exists()}
    gone = subprocess.Popen(["true"], start_new_session=True)
    gone.wait()
    for i, folder in folders.items():
        (folder / "done.json").unlink()
        if i == 2:
            (folder / "out.json").unlink()  # its output is gone too: it cannot be done, so it runs again
        config = json.loads((folder / "job_config.json").read_text())
        mark_running(folder, {"pid": gone.pid, "pgid": gone.pid, "host": os.uname().nodename, "started": 1.0,
                              "attempt": 1, "run_id": "r", "job_id": config["job_id"]})
    assert len(ledger.read_text().splitlines()) == 2
    res = run({"job.i": [1, 2]}, pipeline=single("job", sleep=0, spawn=False), root=root, backend="local")
    assert (res.counts.cached, res.counts.done) == (1, 1)
    assert [Path(line) for line in ledger.read_text().splitlines()][2:] == [folders[2]]  # only job 2 ran again
    assert not list(root.glob("job/*/.running")) and not list((root / ".trackdag" / "running").glob("*"))
    assert [a["status"] for a in read_attempts(folders[1])] == ["done"]
    assert json.loads((folders[1] / "done.json").read_text())["stats"]["out"]  # the outputs' stats, as a runner's
    two = read_attempts(folders[2])
    assert [(a["status"], a["error"]) for a in two] == [
        ("cancelled", "interrupted: the runner stopped before the job's done record was written"), ("done", None)]
    con = duckdb.connect(str(root / "catalog.duckdb"), read_only=True)
    attempts = con.execute("SELECT j.folder, a.attempt, a.status FROM attempts a JOIN jobs j USING (job_id) "
                           "ORDER BY 1, 2").fetchall()
    states = con.execute("SELECT folder, status FROM jobs ORDER BY 1").fetchall()
    con.close()
    assert attempts == sorted([(str(folders[1]), 1, "done"), (str(folders[2]), 1, "cancelled"),
                               (str(folders[2]), 2, "done")])
    assert states == sorted([(str(folders[1]), "done"), (str(folders[2]), "done")])


def test_a_running_mark_and_its_index_entry_are_one_file_and_go_together(tmp_path):
    from trackdag.records import mark_running, running_marks, unmark_running

    root = tmp_path / "out"
    folders = [root / "node" / f"node_id_{i}" for i in range(2)]
    for folder in folders:
        folder.mkdir(parents=True)
    stale = root / ".trackdag" / "running"
    for i, folder in enumerate(folders):  # the first makes the index folder; the second replaces a stale entry
        if i:
            (stale / "j1.json").write_text("{}")
        mark_running(folder, {"pid": 1, "pgid": 1, "host": "h", "started": 1.0, "attempt": 1, "run_id": "r",
                              "job_id": f"j{i}"})
        entry = stale / f"j{i}.json"
        assert os.path.samefile(folder / ".running", entry)
        assert json.loads(entry.read_text())["folder"] == str(folder)
    assert sorted(m["job_id"] for m in running_marks(root)) == ["j0", "j1"]
    assert sorted(os.listdir(stale)) == ["j0.json", "j1.json"]  # no temporary left
    unmark_running(folders[0], "j0")
    assert not (folders[0] / ".running").exists() and [m["job_id"] for m in running_marks(root)] == ["j1"]


def test_a_runner_killed_after_the_index_entry_and_before_the_folder_mark_loses_nothing(tmp_path):
    # mark_running writes the index entry first: a kill -9 right after it leaves the entry alone, and the
    # next run's look for orphans stops the job's group from it and records the interrupted attempt
    from trackdag.layout import atomic_write
    from trackdag.orphans import stop_orphans

    root = tmp_path / "out"
    folder = root / "node" / "node_id_x"
    folder.mkdir(parents=True)
    job = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        atomic_write(root / ".trackdag" / "running" / "jx.json", json.dumps(
            {"pid": job.pid, "pgid": job.pid, "host": os.uname().nodename, "started": 1.0, "attempt": 1,
             "run_id": "r", "job_id": "jx", "folder": str(folder)}), parents=True)
        assert not (folder / ".running").exists()
        assert stop_orphans(str(root), 2.0) == [str(folder)]
        assert job.wait(timeout=10) < 0  # killed by a signal, from the entry's pgid
    finally:
        if job.poll() is None:
            job.kill()
            job.wait()
    assert [(a["attempt"], a["status"], a["error"]) for a in read_attempts(folder)] == [
        (1, "cancelled", "interrupted: the driver stopped before the job finished")]
    assert not list((root / ".trackdag" / "running").iterdir())


@pytest.mark.parametrize("n", [0, 1, 3, 7])
def test_a_runs_rows_file_written_in_parts_is_one_json_list(tmp_path, monkeypatch, n):
    """The rows file is encoded a few rows at a time; any count of rows reads back whole and in order."""
    import gzip

    monkeypatch.setattr(records, "ROWS_PART", 3)
    rows = [(i, f"job-{i}") for i in range(n)]
    write_run_rows(tmp_path, "r1", iter(rows))
    assert read_run_rows(tmp_path, "r1") == rows
    with gzip.open(tmp_path / ".trackdag" / "runs" / "r1.rows.json.gz", "rt") as fh:
        assert json.load(fh) == [list(r) for r in rows]
