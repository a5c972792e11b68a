"""A run's lifecycle with real driver processes: Ctrl-C, SIGTERM, SIGKILL + resume,
live status from another process, and the refusal of a second run on the same root."""
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import duckdb
import pytest

from conftest import (SLEEPER, alive, cmdline, cwd_of, descendants, driver, job_counts, procs_with,
                      running_markers, single, spawned_jobs, wait_for)
from trackdag.lock import RunLockedError
from trackdag.status import show, status
from trackdag.sweep import run


@pytest.mark.parametrize("backend,sig", [("local", signal.SIGINT), ("local", signal.SIGTERM),
                                         ("ray", signal.SIGINT)])
def test_interrupt_stops_every_job_and_leaves_no_orphans(tmp_path, backend, sig):
    token = f"tdsleep{uuid.uuid4().hex[:10]}"
    proc = driver(tmp_path, {"job.i": [1, 2, 3, 4], "job.spawn": token}, backend)
    try:
        wait_for(lambda: spawned_jobs(token) >= 2, what="two running jobs")
        helpers = descendants(proc.pid)  # Ray's daemons and workers, or the local jobs
        sent = time.monotonic()
        if sig == signal.SIGINT:
            os.killpg(proc.pid, sig)  # Ctrl-C in a terminal: the driver and Ray's daemons get it
        else:
            proc.send_signal(sig)  # `kill <pid>`
        out, err = proc.communicate(timeout=60)
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert took < 20, f"stopping took {took:.1f}s"
    wait_for(lambda: not procs_with(token), timeout=10, what="the jobs' children to die")
    wait_for(lambda: not [p for p in helpers if alive(p)], timeout=20, what="the driver's helpers to exit")
    root = tmp_path / "out"
    assert not running_markers(root)
    states = job_counts(root)
    assert states.get("cancelled", 0) >= 2 and "running" not in states and "queued" not in states
    if backend == "ray":  # the private Ray's logs were kept under the root, not linked into /tmp
        (session,) = (root / "ray-logs").iterdir()
        assert not session.is_symlink() and (session / "raylet.out").is_file()
    con = duckdb.connect(str(root / "catalog.duckdb"), read_only=True)
    assert con.execute("SELECT status FROM runs").fetchall() == [("cancelled",)]
    assert con.execute("SELECT count(*) FROM attempts WHERE status = 'cancelled'").fetchone()[0] >= 2
    con.close()


@pytest.mark.parametrize("backend", ["local", "ray"])
def test_sigkill_then_rerun_finishes_without_rerunning_finished_jobs(tmp_path, ledger, backend):
    # two quick jobs finish first; four slow ones are surely running when the driver dies
    params = {"matrix": {"job.i": list(range(1, 7))},
              "include": [{"job.i": i, "job.sleep": 0.2 if i <= 2 else 2} for i in range(1, 7)]}
    proc = driver(tmp_path, params, backend, ledger=ledger)
    root = tmp_path / "out"
    try:
        wait_for(lambda: len(list(root.glob("job/*/done.json"))) >= 2 and running_markers(root),
                  what="two finished jobs and one running")
        # A Ray worker could still record a finished job for a moment after the
        # driver dies: wait for the workers and raylets (Ray's agents may linger
        # for minutes, but never touch job folders); the jobs' own processes are
        # left for the rerun to find.
        helpers = [p for p in descendants(proc.pid) if not cwd_of(p).startswith(str(root))
                   and any(k in cmdline(p) for k in ("raylet", "JobActor", "default_worker", "ray::IDLE"))]
        proc.kill()
        proc.wait(timeout=30)
        wait_for(lambda: not [p for p in helpers if alive(p)], timeout=60, what="Ray's processes to exit")
    finally:
        if proc.poll() is None:
            proc.kill()
    finished = {p.parent for p in root.glob("job/*/done.json")}
    assert 2 <= len(finished) < 6
    res = run(params, pipeline=single("job", sleep=0, spawn=False), root=root, backend="local",
              env={"TRACKDAG_TEST_LEDGER": str(ledger)})
    assert res.exit_code == 0 and res.counts.cached == len(finished)
    runs = [Path(line) for line in ledger.read_text().splitlines()]
    for folder in finished:
        assert runs.count(folder) == 1, f"{folder.name} ran again"
    assert job_counts(root) == {"done": 6}
    con = duckdb.connect(str(root / "catalog.duckdb"), read_only=True)
    assert con.execute("SELECT status FROM runs ORDER BY started").fetchall() == [("interrupted",), ("done",)]
    attempts = con.execute("SELECT j.folder, a.status, a.error FROM attempts a JOIN jobs j USING (job_id) "
                           "ORDER BY j.folder, a.attempt").fetchall()
    con.close()
    # Every execution is on record: a job the dead driver left running either finished in its worker
    # (a done attempt) or was stopped and recorded as interrupted, then done by the rerun.
    for folder in {Path(f) for f, _, _ in attempts}:
        mine = [(status, error) for f, status, error in attempts if Path(f) == folder]
        # An attempt stopped before the program got going may have no ledger line: one interrupted with
        # its driver, or one the dead driver's watchdog stopped (killed by SIGTERM), as in tests/faults.
        stopped = sum(1 for s, e in mine if (s == "cancelled" and (e or "").startswith("interrupted"))
                      or (s == "failed" and "killed by SIG" in (e or "")))
        assert len(mine) - stopped <= runs.count(folder) <= len(mine), (folder.name, mine)
        assert mine[-1][0] == "done"
        assert all(status == "cancelled" and error.startswith("interrupted") for status, error in mine[:-1]), \
            (folder.name, mine)


def test_status_and_show_work_during_a_run_and_a_second_run_is_refused(tmp_path):
    proc = driver(tmp_path, {"job.i": [1, 2, 3, 4], "job.sleep": 2}, "local")
    root = tmp_path / "out"
    try:
        st = wait_for(lambda: (root / "catalog.duckdb").exists() and _status_running(root), what="running jobs")
        assert st.run["status"] == "running" and st.run["pid"] == proc.pid
        assert st.active and st.active["pid"] == proc.pid
        assert sum(st.counts["job"].values()) == 4
        job = st.running[0]
        detail = show(job["short_id"], str(root))
        assert detail.job["status"] == "running" and detail.config["job_id"] == detail.job["job_id"]
        cli = subprocess.run([sys.executable, "-m", "trackdag", "status", "--root", str(root)],
                             capture_output=True, text=True, timeout=60)
        assert cli.returncode == 0 and "running:" in cli.stdout, cli.stderr
        with pytest.raises(RunLockedError, match=f"pid {proc.pid} on host {os.uname().nodename}"):
            run({"job.i": 9}, pipeline=single("job", sleep=0, spawn=False), root=root, backend="local")
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
    finally:
        if proc.poll() is None:
            proc.kill()
    assert status(str(root)).counts == {"job": {"done": 4}}


def _status_running(root):
    try:
        st = status(str(root))
    except Exception:
        return None
    return st if st.running else None
