"""The Ray backend with a real local Ray: parallelism, resources, failures, retries, dead workers."""
import json
import os

import duckdb
import pytest

from conftest import single, two_stage
from trackdag.sweep import run

pytestmark = pytest.mark.usefixtures("ray_session")


def _attempts(root, cols="job_id, attempt, status, started, ended, node_id, error"):
    con = duckdb.connect(str(root / "catalog.duckdb"), read_only=True)
    try:
        cur = con.execute(f"SELECT {cols} FROM attempts ORDER BY started")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r)) for r in cur.fetchall()]
    finally:
        con.close()


def _max_overlap(spans):
    events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans], key=lambda x: (x[0], x[1]))
    level = peak = 0
    for _, step in events:
        level += step
        peak = max(peak, level)
    return peak


def test_two_stage_on_ray_records_the_node_and_results(tmp_path, src, ledger):
    root = tmp_path / "out"
    env = {"TRACKDAG_TEST_LEDGER": str(ledger)}  # Ray workers keep the environment of ray.init
    res = run({"predict.src": str(src), "predict.p": [1, 2]}, pipeline=two_stage(), root=root, backend="ray",
              workers=2, env=env)
    assert (res.counts.done, res.exit_code) == (4, 0)
    rows = _attempts(root)
    assert len(rows) == 4 and all(r["node_id"] and r["status"] == "done" for r in rows)
    again = run({"predict.src": str(src), "predict.p": [1, 2]}, pipeline=two_stage(), root=root, backend="ray",
                env=env)
    assert (again.counts.done, again.counts.cached) == (0, 4)
    assert len(ledger.read_text().splitlines()) == 4


@pytest.mark.parametrize("workers", [1, 2])
def test_parallelism_is_bounded_by_workers(tmp_path, workers):
    root = tmp_path / "out"
    res = run({"job.i": list(range(6)), "job.sleep": 0.3}, pipeline=single(sleep=0), root=root, backend="ray",
              workers=workers)
    assert res.counts.done == 6
    spans = [(r["started"], r["ended"]) for r in _attempts(root)]
    assert _max_overlap(spans) <= workers


def test_gpu_jobs_get_the_devices_ray_assigns(tmp_path):
    root = tmp_path / "out"
    res = run({"gpu.i": [1, 2, 3]}, pipeline=single("gpu", resources={"num_gpus": 1}), root=root, backend="ray",
              workers=2)
    assert res.counts.done == 3
    devices = {json.load(open(os.path.join(j.folder, "args.json")))["cuda"] for j in res.plan.jobs.values()}
    assert devices <= {"0", "1"} and devices


def test_custom_resources_are_honoured_and_impossible_ones_fail_at_once(tmp_path):
    root = tmp_path / "out"
    res = run({"sp.i": [1, 2, 3], "sp.sleep": 0.2}, pipeline=single("sp", resources={"special": 1}, sleep=0),
              root=root, backend="ray", workers=2)
    assert res.counts.done == 3
    spans = [(r["started"], r["ended"]) for r in _attempts(root)]
    assert _max_overlap(spans) == 1  # only one 'special' exists: they ran one at a time

    res = run({"big.i": 1}, pipeline=single("big", resources={"num_gpus": 8}), root=tmp_path / "o2", backend="ray")
    assert res.counts.failed == 1
    assert "no Ray node can provide {num_cpus=1, num_gpus=8}" in res.failures[0].outcome.error


def test_retry_reruns_a_failed_job_and_keeps_every_attempt(tmp_path):
    root = tmp_path / "out"
    flag = tmp_path / "flaky-flag"
    res = run({"job.flaky": str(flag)}, pipeline=single(flaky="False"), root=root, backend="ray", retry=1)
    assert (res.counts.done, res.counts.failed) == (1, 0)
    rows = _attempts(root, "attempt, status, error")
    assert [(r["attempt"], r["status"]) for r in rows] == [(1, "failed"), (2, "done")]
    assert rows[0]["error"] == "exit code 4"


def test_failure_skips_descendants_on_ray(tmp_path, src):
    res = run({"predict.src": str(src), "predict.fail": [False, True]}, pipeline=two_stage(),
              root=tmp_path / "out", backend="ray")
    assert (res.counts.done, res.counts.failed, res.counts.skipped, res.exit_code) == (2, 1, 1, 1)


def test_a_dead_worker_is_a_failed_attempt_not_a_hang(tmp_path):
    root = tmp_path / "out"
    res = run({"job.kill_worker": [True], "job.i": 1}, pipeline=single(kill_worker=False), root=root,
              backend="ray", workers=1)
    assert res.counts.failed == 1
    (row,) = _attempts(root, "status, error")
    assert row["status"] == "failed" and row["error"].startswith("worker died (")
    # the pool replaces the dead actor: the next run works
    ok = run({"job.i": [2, 3]}, pipeline=single(kill_worker=False), root=root, backend="ray", workers=1)
    assert ok.counts.done == 2


def test_jobs_with_different_needs_share_the_pool(tmp_path):
    from trackdag.node import ProcessNode
    from trackdag.pipeline import Pipeline
    from conftest import TOOL

    cpu = ProcessNode(name="cpu", executable=TOOL, out_paths={"out": "o.json"}, algo_params={"i": 0, "sleep": 0})
    gpu = ProcessNode(name="gpu", executable=TOOL, out_paths={"out": "o.json"}, algo_params={"i": 0, "sleep": 0},
                      resources={"num_gpus": 1, "num_cpus": 0.5})
    res = run({"cpu.i": [1, 2, 3], "gpu.i": [1, 2, 3], "cpu.sleep": 0.2, "gpu.sleep": 0.2},
              pipeline=Pipeline([cpu, gpu]), root=tmp_path / "out", backend="ray", workers=2)
    assert res.counts.done == 6
    cuda = {j.node: set() for j in res.plan.jobs.values()}
    for j in res.plan.jobs.values():
        cuda[j.node].add(json.load(open(os.path.join(j.folder, "args.json")))["cuda"])
    assert cuda["gpu"] <= {"0", "1"} and None not in cuda["gpu"]
    assert cuda["cpu"] == {None} or cuda["cpu"] == {""}


def test_a_file_pipelines_load_result_runs_in_the_ray_workers(tmp_path):
    from conftest import SCENARIOS

    res = run({"score.p": [1, 2]}, pipeline=f"{SCENARIOS / 'pipelines' / 'scored.py'}::scored()",
              root=tmp_path / "out", backend="ray", workers=2)
    assert res.exit_code == 0
    con = duckdb.connect(res.catalog, read_only=True)
    rows = con.execute("SELECT j.result_status, j.result_error, r.value_num FROM jobs j "
                       "LEFT JOIN results r USING (job_id) ORDER BY 3").fetchall()
    con.close()
    assert rows == [("ok", None, 10.0), ("ok", None, 20.0)]
