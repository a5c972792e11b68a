"""Benchmark: executing 2,000 trivial jobs with 2 workers.

Each job is a tiny shell command that writes its output file:
``sh -c 'echo "$1" > "${2#--out=}"' sh --i=N --out=<job folder>/out.txt``.

Measured in one script, so the ratios compare like with like:

1. a bare loop: the same commands through ``subprocess.run`` on a 2-thread pool
   (the floor: no bookkeeping at all);
2. ``trackdag run --backend local --workers 2`` (library call; planning, catalog,
   job folders, done records included);
3. Ray start-up (``ray.init`` of a private local Ray) and shutdown, timed apart;
4. ``trackdag run --backend ray --workers 2`` on that already started Ray;
5. ``kwdagger schedule --backend=tmux --tmux_workers=2`` (kwdagger 0.4.1 from PyPI,
   installed into this benchmark's own virtual environment under
   ``benchmarks/_work/``; never a trackdag dependency). Needs tmux; skipped with a
   note when tmux or the install is unavailable, or with ``--skip-kwdagger``.

Targets (issue: scale, item 4): the driver's own CPU (user+sys of this process, every thread,
not the jobs' processes) <= 1 ms per job on the local backend, and the 2,000 jobs within 2x of
the bare loop. The bare loop and the local runs alternate, ``--repeat`` times each (medians).

Usage:  .venv/bin/python benchmarks/bench_execute.py [--jobs 2000] [--workers 2] [--work DIR] [--skip-kwdagger]
"""
from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import kill_tmux, kwdagger_env, kwdagger_python, kwdagger_schedule_cmd, time_v  # noqa: E402

SCRIPT = 'echo "$1" > "${2#--out=}"'
EXECUTABLE = f"sh -c '{SCRIPT}' sh"

KWD_PIPELINE = f'''
from kwdagger.pipeline import ProcessNode, Pipeline


class Trivial(ProcessNode):
    name = "trivial"
    executable = {EXECUTABLE!r}
    out_paths = {{"out": "out.txt"}}
    primary_out_key = "out"
    algo_params = {{"i": 0}}


def trivial_pipeline():
    return Pipeline([Trivial()])
'''


def pipeline():
    from trackdag import Pipeline, ProcessNode

    return Pipeline([ProcessNode(name="trivial", executable=EXECUTABLE, out_paths={"out": "out.txt"},
                                 algo_params={"i": 0})])


def bare_loop(work: Path, jobs: int, workers: int) -> float:
    shutil.rmtree(work / "bare", ignore_errors=True)
    folders = [work / "bare" / str(i) for i in range(jobs)]
    for folder in folders:
        folder.mkdir(parents=True)

    def one(i: int) -> None:
        subprocess.run(["sh", "-c", SCRIPT, "sh", f"--i={i}", f"--out={folders[i] / 'out.txt'}"], check=True)

    t0 = time.perf_counter()
    with cf.ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, range(jobs)))
    return time.perf_counter() - t0


def trackdag_run(work: Path, name: str, jobs: int, workers: int, backend: str) -> tuple[float, float]:
    """(seconds, the driver's own CPU seconds: every thread of this process, not the jobs' processes)."""
    from trackdag.sweep import run

    shutil.rmtree(work / name, ignore_errors=True)
    t0, c0 = time.perf_counter(), time.process_time()
    res = run({"trivial.i": list(range(jobs))}, pipeline=pipeline(), root=work / name, backend=backend,
              workers=workers)
    took, cpu = time.perf_counter() - t0, time.process_time() - c0
    assert res.counts.done == jobs and res.exit_code == 0, res.counts
    return took, cpu


def kwdagger_run(work: Path, jobs: int, workers: int, name: str = "kwd") -> tuple[float | None, float, str]:
    """(seconds, peak RSS MB, note) of ``kwdagger schedule`` (tmux) running the jobs; (None, nan, why) if it cannot."""
    if not shutil.which("tmux"):
        return None, float("nan"), "tmux is not installed (apt-get install tmux)"
    python, why = kwdagger_python()
    if python is None:
        return None, float("nan"), why
    folder = work / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    (folder / "trivial_kwd.py").write_text(KWD_PIPELINE)
    params = json.dumps({"pipeline": "trivial_kwd.trivial_pipeline()", "matrix": {"trivial.i": list(range(jobs))}})
    env = kwdagger_env(folder, pythonpath=folder)
    try:
        out = time_v(kwdagger_schedule_cmd(params, folder / "out", workers=workers), cwd=folder, env=env, check=False)
    finally:
        kill_tmux(env)
    made = len(list((folder / "out" / "trivial").glob("*/out.txt")))
    if out.code != 0 or made != jobs:
        return None, float("nan"), f"kwdagger exited {out.code} with {made}/{jobs} outputs: {out.stderr[-300:]}"
    return out.seconds, out.peak_mb, "kwdagger 0.4.1, tmux backend"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3, help="bare and local runs, alternating (medians)")
    parser.add_argument("--work", type=Path, default=None,
                        help="folder for the job folders [default: a temporary one]; /dev/shm takes the disk out")
    parser.add_argument("--skip-kwdagger", action="store_true")
    args = parser.parse_args()
    n, w = args.jobs, args.workers
    work = Path(tempfile.mkdtemp(prefix="trackdag-bench-exec-", dir=args.work))
    rows: list[tuple[str, float | None, float | None, str]] = []  # (run, seconds, driver CPU seconds, note)
    try:
        bares, locals_ = [], []
        for _ in range(args.repeat):
            bares.append(bare_loop(work, n, w))
            locals_.append(trackdag_run(work, "local", n, w, "local"))
        bare = statistics.median(bares)
        local = sorted(locals_)[len(locals_) // 2]
        rows.append(("bare subprocess loop, 2 threads", bare, None,
                     "the floor; runs: " + " / ".join(f"{b:.2f}" for b in bares)))
        rows.append(("trackdag --backend local", local[0], local[1],
                     "runs: " + " / ".join(f"{t:.2f}" for t, _ in locals_)))

        for key, value in {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}.items():
            os.environ.setdefault(key, value)
        t0 = time.perf_counter()
        import ray

        ray.init(address="local", num_cpus=w, include_dashboard=False, log_to_driver=False,
                 logging_level=logging.ERROR, _temp_dir=f"/tmp/tdray-bench-{os.getuid()}")
        startup = time.perf_counter() - t0
        ray_run = trackdag_run(work, "ray", n, w, "ray")
        rows.append(("trackdag --backend ray (Ray already started)", ray_run[0], ray_run[1], ""))
        t0 = time.perf_counter()
        ray.shutdown()
        rows.append(("Ray start-up (import + ray.init), once per run", startup, None, "not per job"))
        rows.append(("Ray shutdown, once per run", time.perf_counter() - t0, None, "not per job"))
        if args.skip_kwdagger:
            rows.append(("kwdagger schedule, tmux, 2 workers", None, None, "skipped (--skip-kwdagger)"))
        else:
            took, _, note = kwdagger_run(work, n, w)
            rows.append(("kwdagger schedule, tmux, 2 workers", took, None, note))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"{n} trivial jobs, {w} workers, job folders in {args.work or tempfile.gettempdir()}\n")
    print("| run | seconds | ms per job | x bare | driver CPU, ms per job | note |")
    print("|---|---|---|---|---|---|")
    for name, seconds, cpu, note in rows:
        if seconds is None:
            print(f"| {name} | - | - | - | - | {note} |")
            continue
        once = "once per run" in name
        per_job = "" if once else f"{seconds / n * 1000:.2f}"
        ratio = "" if once or name.startswith("bare") else f"{seconds / bare:.1f}x"
        driver = "" if cpu is None else f"{cpu / n * 1000:.2f}"
        print(f"| {name} | {seconds:.2f} | {per_job} | {ratio} | {driver} | {note} |")
    kwd = next((s for name, s, _, _ in rows if name.startswith("kwdagger") and s), None)
    if kwd:
        print(f"\nkwdagger / trackdag-ray (Ray start included): {kwd / (ray_run[0] + startup):.1f}x")
    print(f"machine: {os.cpu_count()} CPUs, python {sys.version.split()[0]}, load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
