"""kill -9 at random moments: nothing finished runs twice, nothing recorded is lost, nothing is left running.

5 random SIGKILLs of the driver of a 200-job run (both backends), then a
clean run.  Every execution of a job (the ledger has one line per start) is
an attempt on record; a job completed at most once, apart from the ones in
flight at a kill, whose interrupted attempt is recorded; every done job has
its done attempt and its result; 3 s after each kill no process of the run
is alive.
"""
import os
import random
import signal
import time
from pathlib import Path

import duckdb
import pytest

from conftest import cmdline, driver, single, wait_for

N_JOBS = 200


def _params():
    rng = random.Random(7)
    return {"matrix": {"job.i": list(range(N_JOBS))},
            "include": [{"job.i": i, "job.sleep": round(rng.uniform(0.02, 0.3), 2)} for i in range(N_JOBS)]}


def _processes_under(root):
    token = str(root)
    return [pid for pid in map(int, filter(str.isdigit, os.listdir("/proc"))) if token in cmdline(pid)]


@pytest.mark.parametrize("backend", ["local", "ray"])
def test_five_random_kills_then_a_clean_run(tmp_path, ledger, backend):
    root = tmp_path / "out"
    rng = random.Random(backend)
    params = _params()
    for kill in range(5):
        before = len(list(root.glob("job/*/done.json")))
        proc = driver(tmp_path, params, backend, ledger=ledger)
        try:
            wait_for(lambda: len(list(root.glob("job/*/done.json"))) > before or proc.poll() is not None,
                     timeout=120, what="the driver to finish a job")
            time.sleep(rng.uniform(0, 1.5))
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        killed = time.monotonic()
        wait_for(lambda: not _processes_under(root), timeout=30, what=f"the jobs of kill {kill} to die")
        assert time.monotonic() - killed < 3 + 1, f"jobs outlived kill {kill} by more than 3 s"
    proc = driver(tmp_path, params, "local", ledger=ledger)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, out + err
    assert "Traceback" not in err

    con = duckdb.connect(str(root / "catalog.duckdb"), read_only=True)
    jobs = con.execute("SELECT job_id, folder, status, result_status FROM jobs").fetchall()
    attempts = con.execute("SELECT job_id, attempt, status, error FROM attempts ORDER BY job_id, attempt").fetchall()
    runs = [s for (s,) in con.execute("SELECT status FROM runs ORDER BY started").fetchall()]
    con.close()
    assert len(jobs) == N_JOBS and {s for _, _, s, _ in jobs} == {"done"}
    assert all(r is not None for *_, r in jobs)  # every done job has its result (here: "no result")
    # nothing is left 'running'; a killed run is interrupted, unless it had finished before its kill came
    # (the last kills find few jobs left), and the clean run is done
    assert set(runs) <= {"interrupted", "done"} and runs[-1] == "done" and runs.count("interrupted") >= 3, runs
    started = [Path(line) for line in ledger.read_text().splitlines()]
    by_job: dict = {}
    for job_id, attempt, status, error in attempts:
        by_job.setdefault(job_id, []).append((attempt, status, error))
    for job_id, folder, _status, _result in jobs:
        mine = by_job[job_id]
        assert [a for a, _, _ in mine] == list(range(1, len(mine) + 1)), (folder, mine)
        # Every execution is on record; an attempt killed before the program got going may have no line:
        # one interrupted with its driver, or one the dead driver's watchdog stopped (killed by SIGTERM)
        # before the program had written its ledger line.
        ran = started.count(Path(folder))
        stopped = sum(1 for _, s, e in mine if (s == "cancelled" and (e or "").startswith("interrupted"))
                      or (s == "failed" and "killed by SIG" in (e or "")))
        assert len(mine) - stopped <= ran <= len(mine), (folder, ran, mine)
        assert [s for _, s, _ in mine].count("done") == 1 and mine[-1][1] == "done", (folder, mine)
        for _, status, error in mine[:-1]:
            assert status in ("cancelled", "failed") and ("interrupted" in (error or "") or "SIG" in (error or "")), \
                (folder, mine)
