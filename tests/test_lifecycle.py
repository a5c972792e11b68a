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

from conftest import SCENARIOS, single
from trackdag.lock import RunLockedError
from trackdag.status import show, status
from trackdag.sweep import run

PIPE = f"{SCENARIOS / 'pipelines' / 'two_stage.py'}::sleeper()"


def _driver(tmp_path, params, backend, *extra, ledger=None):
    params_file = tmp_path / f"params-{uuid.uuid4().hex[:6]}.yaml"
    params_file.write_text(json.dumps(params))
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
    if ledger:
        env["TRACKDAG_TEST_LEDGER"] = str(ledger)
    cmd = [sys.executable, "-m", "trackdag", "run", "--params", str(params_file), "--pipeline", PIPE,
           "--root", str(tmp_path / "out"), "--backend", backend, "--workers", "2", *extra]
    # Its own session, like a shell job: a terminal's Ctrl-C reaches the whole group.
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)


def _wait_for(predicate, timeout=90, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _running_markers(root):
    return sorted(Path(root).glob("job/*/.running"))


def _procs_with(token):
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if token.encode() in cmd:
            found.append(int(pid))
    return found


def _descendants(pid):
    kids = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            kids.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry))
    out, stack = [], [pid]
    while stack:
        for child in kids.get(stack.pop(), []):
            out.append(child)
            stack.append(child)
    return out


def _alive(pid):
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _cmdline(pid):
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _cwd(pid):
    try:
        return os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return ""


def _jobs(root):
    con = duckdb.connect(str(Path(root) / "catalog.duckdb"), read_only=True)
    try:
        return dict(con.execute("SELECT status, count(*) FROM jobs GROUP BY status").fetchall())
    finally:
        con.close()


@pytest.mark.parametrize("backend,sig", [("local", signal.SIGINT), ("local", signal.SIGTERM),
                                         ("ray", signal.SIGINT)])
def test_interrupt_stops_every_job_and_leaves_no_orphans(tmp_path, backend, sig):
    token = f"tdsleep{uuid.uuid4().hex[:10]}"
    proc = _driver(tmp_path, {"job.i": [1, 2, 3, 4], "job.spawn": token}, backend)
    try:
        _wait_for(lambda: len(_procs_with(token)) >= 2, what="two running jobs")
        helpers = _descendants(proc.pid)  # Ray's daemons and workers, or the local jobs
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
    _wait_for(lambda: not _procs_with(token), timeout=10, what="the jobs' children to die")
    _wait_for(lambda: not [p for p in helpers if _alive(p)], timeout=20, what="the driver's helpers to exit")
    root = tmp_path / "out"
    assert not _running_markers(root)
    states = _jobs(root)
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
    proc = _driver(tmp_path, params, backend, ledger=ledger)
    root = tmp_path / "out"
    try:
        _wait_for(lambda: len(list(root.glob("job/*/done.json"))) >= 2 and _running_markers(root),
                  what="two finished jobs and one running")
        # A Ray worker could still record a finished job for a moment after the
        # driver dies: wait for the workers and raylets (Ray's agents may linger
        # for minutes, but never touch job folders); the jobs' own processes are
        # left for the rerun to find.
        helpers = [p for p in _descendants(proc.pid) if not _cwd(p).startswith(str(root))
                   and any(k in _cmdline(p) for k in ("raylet", "JobActor", "default_worker", "ray::IDLE"))]
        proc.kill()
        proc.wait(timeout=30)
        _wait_for(lambda: not [p for p in helpers if _alive(p)], timeout=60, what="Ray's processes to exit")
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
    assert _jobs(root) == {"done": 6}
    con = duckdb.connect(str(root / "catalog.duckdb"), read_only=True)
    assert con.execute("SELECT status FROM runs ORDER BY started").fetchall() == [("interrupted",), ("done",)]
    interrupted = con.execute("SELECT count(*) FROM attempts WHERE error LIKE 'interrupted%'").fetchone()[0]
    con.close()
    assert interrupted >= 1  # the attempt the dead driver left running is on record


def test_status_and_show_work_during_a_run_and_a_second_run_is_refused(tmp_path):
    proc = _driver(tmp_path, {"job.i": [1, 2, 3, 4], "job.sleep": 2}, "local")
    root = tmp_path / "out"
    try:
        st = _wait_for(lambda: (root / "catalog.duckdb").exists() and _status_running(root), what="running jobs")
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
