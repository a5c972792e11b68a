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

Target: trackdag's overhead beyond the bare loop <= 10 ms per job, Ray start excluded.

Usage:  .venv/bin/python benchmarks/bench_execute.py [--jobs 2000] [--workers 2] [--skip-kwdagger]
"""
from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
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
    folders = [work / "bare" / str(i) for i in range(jobs)]
    for folder in folders:
        folder.mkdir(parents=True)

    def one(i: int) -> None:
        subprocess.run(["sh", "-c", SCRIPT, "sh", f"--i={i}", f"--out={folders[i] / 'out.txt'}"], check=True)

    t0 = time.perf_counter()
    with cf.ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, range(jobs)))
    return time.perf_counter() - t0


def trackdag_run(work: Path, name: str, jobs: int, workers: int, backend: str) -> float:
    from trackdag.sweep import run

    t0 = time.perf_counter()
    res = run({"trivial.i": list(range(jobs))}, pipeline=pipeline(), root=work / name, backend=backend,
              workers=workers)
    took = time.perf_counter() - t0
    assert res.counts.done == jobs and res.exit_code == 0, res.counts
    return took


def kwdagger_run(work: Path, jobs: int, workers: int) -> tuple[float | None, str]:
    if not shutil.which("tmux"):
        return None, "tmux is not installed (apt-get install tmux)"
    venv = HERE / "_work" / "kwdagger-venv"  # shared with bench_report.py
    if not (venv / "bin" / "kwdagger").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "kwdagger==0.4.1"],
                             capture_output=True, text=True)
        if pip.returncode != 0:
            return None, f"pip install kwdagger==0.4.1 failed: {pip.stderr.strip().splitlines()[-1:]}"
    folder = work / "kwd"
    folder.mkdir()
    (folder / "trivial_kwd.py").write_text(KWD_PIPELINE)
    params = json.dumps({"pipeline": "trivial_kwd.trivial_pipeline()", "matrix": {"trivial.i": list(range(jobs))}})
    cmd = [str(venv / "bin" / "kwdagger"), "schedule", f"--params={params}", f"--root_dpath={folder / 'out'}",
           "--backend=tmux", f"--tmux_workers={workers}", "--run=1", "--skip_existing=0"]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, cwd=folder, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(folder)})
    took = time.perf_counter() - t0
    made = len(list((folder / "out" / "trivial").glob("*/out.txt")))
    if out.returncode != 0 or made != jobs:
        return None, f"kwdagger exited {out.returncode} with {made}/{jobs} outputs: {out.stderr[-300:]}"
    return took, "kwdagger 0.4.1, tmux backend"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--skip-kwdagger", action="store_true")
    args = parser.parse_args()
    n, w = args.jobs, args.workers
    work = Path(tempfile.mkdtemp(prefix="trackdag-bench-exec-"))
    rows: list[tuple[str, float | None, str]] = []
    try:
        bare = bare_loop(work, n, w)
        rows.append(("bare subprocess loop, 2 threads", bare, "the floor"))
        rows.append(("trackdag --backend local", trackdag_run(work, "local", n, w, "local"), ""))

        for key, value in {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}.items():
            os.environ.setdefault(key, value)
        t0 = time.perf_counter()
        import ray

        ray.init(address="local", num_cpus=w, include_dashboard=False, log_to_driver=False,
                 logging_level=logging.ERROR, _temp_dir=f"/tmp/tdray-bench-{os.getuid()}")
        startup = time.perf_counter() - t0
        rows.append(("trackdag --backend ray (Ray already started)", trackdag_run(work, "ray", n, w, "ray"), ""))
        t0 = time.perf_counter()
        ray.shutdown()
        rows.append(("Ray start-up (import + ray.init), once per run", startup, "not per job"))
        rows.append(("Ray shutdown, once per run", time.perf_counter() - t0, "not per job"))
        if args.skip_kwdagger:
            rows.append(("kwdagger schedule, tmux, 2 workers", None, "skipped (--skip-kwdagger)"))
        else:
            took, note = kwdagger_run(work, n, w)
            rows.append(("kwdagger schedule, tmux, 2 workers", took, note))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"{n} trivial jobs, {w} workers\n")
    print("| run | seconds | ms per job | overhead vs bare, ms per job | note |")
    print("|---|---|---|---|---|")
    for name, seconds, note in rows:
        if seconds is None:
            print(f"| {name} | - | - | - | {note} |")
            continue
        per_job = seconds / n * 1000
        overhead = "" if "once per run" in name or name.startswith("bare") else f"{(seconds - bare) / n * 1000:.2f}"
        shown_per_job = "" if "once per run" in name else f"{per_job:.2f}"
        print(f"| {name} | {seconds:.2f} | {shown_per_job} | {overhead} | {note} |")
    kwd = next((s for name, s, _ in rows if name.startswith("kwdagger") and s), None)
    ray_run = next(s for name, s, _ in rows if name.startswith("trackdag --backend ray"))
    if kwd:
        total_ray = ray_run + startup
        print(f"\nkwdagger / trackdag-ray (Ray start included): {kwd / total_ray:.1f}x")
    print(f"machine: {os.cpu_count()} CPUs, python {sys.version.split()[0]}, load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
