"""The algorithmic parts of scale, held by counts (timings live in benchmarks/).

- a run writes no job folder before it submits the first job;
- ``--max-configs 10`` of a huge grid plans ten rows, never the grid;
- a run's work with the catalog before and after its jobs does not grow with
  the number of jobs (one bulk registration, batched outcomes).
"""
from __future__ import annotations

import json
import os
import shlex
import sys

import pytest

from trackdag import sweep
from trackdag.catalog import Catalog
from trackdag.execute import scheduler
from trackdag.records import read_attempts

# Writes how many job folders of its node exist when it starts.
COUNTER = """
import os, sys
args = dict(a[2:].split("=", 1) for a in sys.argv[1:])
node_dir = os.path.dirname(os.path.dirname(os.path.abspath(args["out"])))
with open(args["out"], "w") as fh:
    fh.write(str(len([n for n in os.listdir(node_dir) if n.startswith("w_id_")])))
"""


def _pipeline(tmp_path) -> str:
    prog = tmp_path / "counter.py"
    prog.write_text(COUNTER)
    pipe = tmp_path / "pipe.yaml"
    pipe.write_text(json.dumps({"nodes": {"w": {
        "executable": f"{shlex.quote(sys.executable)} {shlex.quote(str(prog))}",
        "out_paths": {"out": "count.txt"}, "algo_params": {"i": 0}}}}))
    return str(pipe)


@pytest.mark.parametrize("inline", [True, False], ids=["registered-first", "registered-beside"])
def test_a_run_writes_no_job_folder_before_it_submits_the_first_job(tmp_path, monkeypatch, inline):
    from trackdag import registration

    if not inline:  # the path of big plans: the registration thread starts with the first jobs
        monkeypatch.setattr(registration, "INLINE_JOBS", 0)
    root = tmp_path / "out"
    res = sweep.run({"w.i": list(range(40))}, pipeline=_pipeline(tmp_path), root=root, backend="local", workers=1)
    assert res.exit_code == 0 and res.counts.done == 40
    seen = {job.row: int((root / "w" / job.name / "count.txt").read_text()) for job in res.plan.jobs.values()}
    ahead = 1  # the local backend's lookahead with 1 worker: the next job is queued (its folder written) at once
    assert seen[0] <= 1 + ahead  # the first job found its own folder (and the next one's), not the 39 others'
    # one folder more per job: each written as it is submitted, never more than the lookahead ahead
    assert all(row + 1 <= count <= row + 1 + ahead for row, count in seen.items()), seen
    assert [seen[row] for row in sorted(seen)] == sorted(seen.values())


def test_a_run_makes_each_jobs_command_once_for_its_folder_and_its_spec(tmp_path, monkeypatch):
    """The command is made from a job's params each time it is asked for: the scheduler asks once."""
    import threading

    from trackdag import job as job_module, registration

    monkeypatch.setattr(registration, "INLINE_JOBS", 0)  # the registration's own commands: in its thread
    made = []
    real = job_module.make_command

    def counting(*args, **kwargs):
        if threading.current_thread() is threading.main_thread():
            made.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(job_module, "make_command", counting)
    res = sweep.run({"w.i": list(range(12))}, pipeline=_pipeline(tmp_path), root=tmp_path / "out", backend="local",
                    workers=2)
    assert res.exit_code == 0 and res.counts.done == 12
    assert len(made) == 12  # (the folder's invoke.sh and job_config.json, and the direct start's words)


def test_a_folder_that_cannot_be_made_stops_new_jobs_with_its_error(tmp_path):
    """A job folder the disk refuses (here a stray file in its place) ends the run with that error.

    The running jobs finish and are recorded; the jobs not yet submitted stay
    planned, and the next run does them.
    """
    root = tmp_path / "out"
    pipe = _pipeline(tmp_path)
    params = {"w.i": [0, 1, 2]}
    assert sweep.run({"w.i": [0]}, pipeline=pipe, root=root, backend="local", workers=1).exit_code == 0
    blocked = next(j for j in sweep.prepare(params, pipeline=pipe, root=root).plan.jobs.values() if j.row == 1)
    with open(blocked.folder, "w") as fh:
        fh.write("not a folder")
    with pytest.raises(FileExistsError) as info:
        sweep.run(params, pipeline=pipe, root=root, backend="local", workers=1)
    assert info.value.filename == blocked.folder
    status = dict(Catalog(root / "catalog.duckdb").query("SELECT status, count(*) FROM jobs GROUP BY ALL"))
    assert status == {"done": 1, "planned": 2}
    runs = Catalog(root / "catalog.duckdb").query("SELECT status FROM runs ORDER BY started")
    assert [r for (r,) in runs] == ["done", "failed"]
    os.unlink(blocked.folder)
    again = sweep.run(params, pipeline=pipe, root=root, backend="local", workers=1)
    assert again.exit_code == 0 and again.counts.done == 2 and again.counts.cached == 1


def test_ten_configs_of_a_huge_grid_plan_ten_rows(tmp_path):
    grid = {f"w.p{i}": list(range(100)) for i in range(5)}  # 10,000,000,000 rows
    node = {"nodes": {"w": {"executable": "true", "out_paths": {"out": "o.txt"},
                            "algo_params": {f"p{i}": 0 for i in range(5)}}}}
    pipe = tmp_path / "pipe.yaml"
    pipe.write_text(json.dumps(node))
    prepared = sweep.prepare(grid, pipeline=str(pipe), max_configs=10, root="/nonexistent/root")
    assert len(prepared.plan.rows) == 10 and len(prepared.plan.jobs) == 10


def _transactions(monkeypatch, tmp_path, n_jobs: int) -> int:
    calls = []
    real = Catalog.transaction

    def counted(self, *args, **kwargs):
        calls.append(1)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Catalog, "transaction", counted)
    monkeypatch.setattr(scheduler, "FLUSH_SECONDS", 1e9)  # outcomes go in at the end: one batch
    root = tmp_path / f"out{n_jobs}"
    res = sweep.run({"w.i": list(range(n_jobs))}, pipeline=_pipeline(tmp_path), root=root, backend="local",
                    workers=2)
    assert res.exit_code == 0 and res.counts.done == n_jobs
    monkeypatch.setattr(Catalog, "transaction", real)
    return len(calls)


@pytest.mark.parametrize("inline", [True, False], ids=["registered-first", "registered-beside"])
def test_the_catalog_is_opened_as_often_for_a_hundred_jobs_as_for_three(monkeypatch, tmp_path, inline):
    from trackdag import registration

    if not inline:
        monkeypatch.setattr(registration, "INLINE_JOBS", 0)
    assert _transactions(monkeypatch, tmp_path, 3) == _transactions(monkeypatch, tmp_path, 100)


def test_a_run_stopped_before_its_first_job_registers_none_of_a_big_plan(tmp_path, monkeypatch):
    """Ctrl-C before the first job of a big plan: the run is recorded, its jobs left to the next run.

    Registering every job of 200,000 first had kept a stopping run half a
    minute; the rows file on disk keeps the run's rows meanwhile.
    """
    from trackdag import registration

    monkeypatch.setattr(registration, "INLINE_JOBS", 0)
    root = tmp_path / "out"
    pipe = _pipeline(tmp_path)

    def stop(plan, n):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        sweep.run({"w.i": list(range(30))}, pipeline=pipe, root=root, backend="local", workers=1, on_plan=stop)
    cat = Catalog(root / "catalog.duckdb")
    assert cat.query("SELECT status FROM runs") == [("cancelled",)]
    assert cat.query("SELECT count(*) FROM jobs") == [(0,)]
    assert len(os.listdir(root / ".trackdag" / "runs")) == 2  # the run's record and its rows file
    again = sweep.run({"w.i": list(range(30))}, pipeline=pipe, root=root, backend="local", workers=1)
    assert again.exit_code == 0 and again.counts.done == 30
    assert cat.query("SELECT count(*), count(*) FILTER (status = 'done') FROM jobs") == [(30, 30)]


def test_a_run_interrupted_after_its_first_jobs_registers_at_least_the_jobs_it_touched(tmp_path, monkeypatch):
    """Ctrl-C mid-run: the registration is hurried with the jobs that have outcomes, and each one is recorded."""
    from trackdag import registration
    from trackdag.catalog import register

    monkeypatch.setattr(registration, "INLINE_JOBS", 0)
    monkeypatch.setattr(register, "REGISTER_CHUNK", 4)
    asked = []
    real = registration.Registration.hurry
    monkeypatch.setattr(registration.Registration, "hurry", lambda self, needed: asked.append(set(needed))
                        or real(self, needed))
    root = tmp_path / "out"

    raised = []

    def interrupt(kind, job, outcome):  # once: the clean-up reports the other jobs' outcomes through here too
        if kind == "done" and not raised:
            raised.append(job.job_id)
            raise KeyboardInterrupt

    res = sweep.run({"w.i": list(range(60))}, pipeline=_pipeline(tmp_path), root=root, backend="local", workers=2,
                    on_event=interrupt)
    assert res.interrupted
    touched = {j for j, job in res.plan.jobs.items() if os.path.isdir(job.folder)}
    assert asked and asked[0] and asked[0] <= touched  # hurried with jobs that have outcomes
    cat = Catalog(root / "catalog.duckdb")
    registered = dict(cat.query("SELECT job_id, status FROM jobs"))
    assert touched <= registered.keys()  # every one of them is in, with its outcome
    ran = {j for j in touched if read_attempts(res.plan.jobs[j].folder)}
    assert ran and {registered[j] for j in ran} <= {"done", "cancelled", "failed"}
    # queued ahead but taken back at the interrupt: a folder, no attempt, and planned for the next run
    assert {registered[j] for j in touched - ran} <= {"planned"}
    assert cat.query("SELECT count(*) FROM attempts")[0][0] >= 1
    assert cat.query("SELECT status FROM runs") == [("cancelled",)]
    again = sweep.run({"w.i": list(range(60))}, pipeline=_pipeline(tmp_path), root=root, backend="local", workers=2)
    assert again.exit_code == 0 and again.counts.done + again.counts.cached == 60
    assert cat.query("SELECT count(*) FROM jobs WHERE status = 'done'") == [(60,)]
