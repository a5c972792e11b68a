"""The local backend honours resources (issue 8.8): CPU slots, GPU devices round-robin, refusals up front."""
import json
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from conftest import single
from trackdag.cli import main
from trackdag.execute.local import LocalExecutor, ResourceError, detect_devices
from trackdag.sweep import run


def _attempts(root):
    con = duckdb.connect(str(root / "catalog.duckdb"), read_only=True)
    rows = con.execute("SELECT j.folder, epoch(a.started), epoch(a.ended) FROM attempts a "
                       "JOIN jobs j USING (job_id) ORDER BY 2").fetchall()
    con.close()
    return [(Path(folder), start, end) for folder, start, end in rows]


def _overlap(a, b):
    return a[1] < b[2] and b[1] < a[2]


def _cuda(folder):
    return json.loads((folder / "args.json").read_text())["cuda"]


def test_each_gpu_job_sees_only_its_own_device(tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    res = run({"job.i": [1, 2, 3, 4, 5, 6]}, pipeline=single("job", resources={"num_gpus": 1}, sleep=0.4),
              root=tmp_path / "out", backend="local", workers=4)
    assert res.exit_code == 0
    attempts = _attempts(tmp_path / "out")
    devices = {a[0]: _cuda(a[0]) for a in attempts}
    assert set(devices.values()) == {"0", "1"}  # round-robin over both
    for i, a in enumerate(attempts):
        for b in attempts[i + 1:]:
            if _overlap(a, b):
                assert devices[a[0]] != devices[b[0]], "two jobs shared a GPU"
    # 2 devices: never more than 2 jobs at once, although 4 workers are free
    assert max(sum(b[1] <= a[1] < b[2] for b in attempts) for a in attempts) <= 2


def test_fractions_share_a_device_and_cpu_jobs_see_none(tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    res = run({"job.i": [1, 2]}, pipeline=single("job", resources={"num_gpus": 0.5}, sleep=0.4),
              root=tmp_path / "half", backend="local", workers=2)
    assert res.exit_code == 0
    attempts = _attempts(tmp_path / "half")
    assert {_cuda(a[0]) for a in attempts} == {"3"} and _overlap(*attempts)
    res = run({"job.i": [1]}, pipeline=single("job"), root=tmp_path / "cpu", backend="local", workers=2)
    assert _cuda(_attempts(tmp_path / "cpu")[0][0]) == ""


def test_num_cpus_takes_that_many_worker_slots(tmp_path):
    res = run({"job.i": [1, 2, 3]}, pipeline=single("job", resources={"num_cpus": 2}, sleep=0.3),
              root=tmp_path / "out", backend="local", workers=2)
    assert res.exit_code == 0
    attempts = _attempts(tmp_path / "out")
    assert not any(_overlap(a, b) for i, a in enumerate(attempts) for b in attempts[i + 1:])


@pytest.mark.parametrize("resources, env, message", [
    ({"num_gpus": 1}, "", "asks for num_gpus=1 but this machine has no GPU"),
    ({"num_gpus": 3}, "0,1", "asks for num_gpus=3 but this machine has 2 (0, 1)"),
    ({"special": 1}, "", "asks for 'special', which the local backend does not have"),
    ({"num_cpus": 3}, "", "asks for num_cpus=3 but --workers is 2: raise --workers to at least 3"),
    ({"memory": 10 ** 18}, "", "asks for memory=1000000000000000000 bytes but this machine has"),
])
def test_impossible_requests_are_refused_before_anything_runs(tmp_path, monkeypatch, resources, env, message):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", env)
    with pytest.raises(ResourceError, match=message.replace("(", r"\(").replace(")", r"\)")):
        run({"job.i": [1, 2]}, pipeline=single("job", resources=resources), root=tmp_path / "out",
            backend="local", workers=2)
    assert not (tmp_path / "out" / "job").exists()  # no job folder, nothing ran


def test_the_cli_refuses_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    pipe = tmp_path / "p.yaml"
    pipe.write_text("nodes: {gpu: {executable: echo, out_paths: {o: '.'}, algo_params: {n: 1}, "
                    "resources: {num_gpus: 1}}}\n")
    res = CliRunner().invoke(main, ["run", "--params", "gpu.n: 1", "--pipeline", str(pipe), "--root",
                                    str(tmp_path / "out"), "--backend", "local"])
    assert res.exit_code == 2 and res.output.startswith("Error: node 'gpu' asks for num_gpus=1")
    assert res.output.count("\n") == 1


def test_devices_come_from_cuda_visible_devices():
    assert detect_devices({"CUDA_VISIBLE_DEVICES": "1,3"}) == ["1", "3"]
    assert detect_devices({"CUDA_VISIBLE_DEVICES": "-1"}) == []
    assert LocalExecutor(2, devices=["0"]).devices == ["0"]


# -- jobs queued ahead (the executor's lookahead) ----------------------------------------------------------
def _spec(folder: Path, job_id: str, script: str):
    from trackdag.execute.base import JobSpec

    folder.mkdir(parents=True, exist_ok=True)
    return JobSpec(job_id, "n", str(folder), ("bash", "-c", script), {"out": str(folder / "out.txt")}, {}, 1)


def _until(predicate, seconds=10.0):
    import time

    deadline = time.monotonic() + seconds
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.02)
    return predicate()


def test_a_queued_job_starts_as_the_one_before_it_ends_without_the_scheduler(tmp_path):
    ex = LocalExecutor(workers=1, devices=[])
    assert ex.capacity == 1 and ex.lookahead == 1
    ex.start()
    try:
        ex.submit(_spec(tmp_path / "a", "a", "sleep 0.2; echo x > out.txt"))
        ex.submit(_spec(tmp_path / "b", "b", "echo x > out.txt"))  # queued: the one slot is taken
        assert ex.take_started() == ["a"]
        # nobody calls wait() or dispatch(): the thread that ran a starts b
        assert _until(lambda: (tmp_path / "b" / "out.txt").exists())
        assert ex.take_started() == ["b"]
        outcomes = []
        assert _until(lambda: outcomes.extend(ex.wait(0.1)) or len(outcomes) == 2)
        assert sorted((o.job_id, o.status) for o in outcomes) == [("a", "done"), ("b", "done")]
    finally:
        ex.close()


def test_after_a_failure_nothing_queued_starts_until_the_scheduler_has_seen_it(tmp_path):
    ex = LocalExecutor(workers=1, devices=[])
    ex.start()
    try:
        ex.submit(_spec(tmp_path / "a", "a", "exit 3"))
        ex.submit(_spec(tmp_path / "b", "b", "echo x > out.txt"))
        outcomes = []
        assert _until(lambda: outcomes.extend(ex.wait(0.1)) or outcomes)
        assert [(o.job_id, o.status) for o in outcomes] == [("a", "failed")]
        assert ex.take_started() == ["a"] and not (tmp_path / "b" / "out.txt").exists()
        assert ex.withdraw() == ["b"]  # (what --fail-fast does now) ...
        ex.dispatch()
        assert ex.wait(0.3) == [] and ex.take_started() == []  # ... so b never starts
        ex.submit(_spec(tmp_path / "c", "c", "echo x > out.txt"))
        assert _until(lambda: outcomes.extend(ex.wait(0.1)) or len(outcomes) == 2)
        assert outcomes[1].job_id == "c" and outcomes[1].status == "done"
    finally:
        ex.close()


def _failing(rows: str):
    """One node whose jobs of ``rows`` (a shell case pattern of ``--i=N``) exit 3; the others write out.txt."""
    from trackdag import Pipeline, ProcessNode

    script = f'case "$1" in {rows}) exit 3;; esac; echo ok > "${{2#--out=}}"'
    return Pipeline([ProcessNode(name="job", executable=f"sh -c '{script}' sh", out_paths={"out": "out.txt"},
                                 algo_params={"i": 0})])


def test_fail_fast_starts_nothing_after_the_first_failure_and_leaves_the_rest_planned(tmp_path):
    pipe = _failing("--i=0")
    root = tmp_path / "out"
    res = run({"job.i": list(range(6))}, pipeline=pipe, root=root, backend="local", workers=1, fail_fast=True)
    assert (res.counts.failed, res.counts.done, res.counts.not_started) == (1, 0, 5), res.counts
    assert len(_attempts(root)) == 1  # the job queued behind the failure was taken back, never run
    con = duckdb.connect(str(root / "catalog.duckdb"), read_only=True)
    states = con.execute("SELECT status, attempts, count(*) FROM jobs GROUP BY ALL ORDER BY 1").fetchall()
    con.close()
    assert states == [("failed", 1, 1), ("planned", 0, 5)]
    assert len(list(root.glob("job/*/.attempts/*.json"))) == 1
    again = run({"job.i": list(range(1, 6))}, pipeline=pipe, root=root, backend="local", workers=1)
    assert again.counts.done == 5 and again.exit_code == 0  # the planned ones run next time


def test_a_retry_queued_ahead_and_taken_back_by_fail_fast_keeps_the_attempts_it_made(tmp_path):
    root = tmp_path / "out"
    # 1 worker: job 0 fails, job 1 (queued ahead) fails, job 0's retry fails and stops the run while
    # job 1's retry is queued ahead: it is taken back, with its one attempt
    res = run({"job.i": list(range(4))}, pipeline=_failing("--i=0|--i=1"), root=root, backend="local", workers=1,
              fail_fast=True, retry=1)
    assert (res.counts.failed, res.counts.done, res.counts.not_started) == (1, 0, 3), res.counts
    con = duckdb.connect(str(root / "catalog.duckdb"), read_only=True)
    states = con.execute("SELECT json_extract(requested, '$.\"job.i\"')::INT, status, attempts FROM jobs "
                         "ORDER BY 1").fetchall()
    tried = con.execute("SELECT count(*) FROM attempts").fetchall()[0][0]
    con.close()
    assert states == [(0, "failed", 2), (1, "planned", 1), (2, "planned", 0), (3, "planned", 0)]
    assert tried == 3 and len(list(root.glob("job/*/.attempts/*.json"))) == 3
