"""Benchmark: the reading commands on a catalog of a million jobs.

Targets (issue: scale, item 6), on a 2-core machine: `trackdag report` and
`trackdag status` <= 2 s, `trackdag sql` top 5 <= 1 s, `trackdag export` <= 15 s.

The catalog is built with the library's bulk calls (as `bench_report.py` does, at a
bigger size): the demo pipeline's plan of N/2 configurations (2 source files x N/4
values of `param1`), so N jobs, registered with `Catalog.register_plan`, then every
job recorded done with `Catalog.record` in batches, each `stage1_evaluate` job with
two metrics (accuracy and hamming_distance, cheap stand-ins for the demo's own: at
this size computing the demo's would take most of the build). No program runs (a million
subprocesses would time the demo, not the catalog). Each timed command is a fresh
`trackdag` process (start-up and imports included), median of `--repeat`, the
commands alternating; peak memory from `/usr/bin/time -v`.

Usage:  .venv/bin/python benchmarks/bench_million.py [--jobs 1000000] [--repeat 3] [--keep | --reuse DIR]
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import time_v  # noqa: E402
from bench_report import BIN, DEMO, build_trackdag  # noqa: E402  (the same catalog, bigger)


def timed(cmd: list[str]) -> tuple[float, float, str]:
    """(seconds, peak RSS MB, stdout) of one fresh process from the demo's folder; exits on failure."""
    done = time_v(cmd, cwd=DEMO)
    return done.seconds, done.peak_mb, done.stdout


def quick_metrics(src_text: str, param1: int) -> dict[str, float]:
    """Deterministic, varied metrics without the demo's bit counting."""
    h = (param1 * 2654435761 + len(src_text)) % 1_000_003
    return {"accuracy": h / 1_000_003, "hamming_distance": h % 97}


TOP5 = ('SELECT param_hashid, "metrics.stage1_evaluate.accuracy" FROM results_stage1_evaluate '
        'ORDER BY 2 DESC LIMIT 5')


def counts(root: Path) -> dict[str, int]:
    """Jobs, evaluate jobs and result rows of the catalog in ``root`` (read-only)."""
    import duckdb

    con = duckdb.connect(str(root / "catalog.duckdb"), read_only=True)
    jobs, evaluates, result_rows = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE node = 'stage1_evaluate'), "
        "(SELECT count(*) FROM results) FROM jobs").fetchone()
    con.close()
    return {"jobs": jobs, "evaluates": evaluates, "result_rows": result_rows}


def query_commands(root: Path, export: Path) -> dict[str, tuple[list[str], str]]:
    """The timed reading commands on the catalog in ``root``: name -> (command, target)."""
    td = str(BIN / "trackdag")
    return {
        "`trackdag report`": ([td, "report", "--root", str(root)], "<= 2 s"),
        "`trackdag status`": ([td, "status", "--root", str(root)], "<= 2 s"),
        "`trackdag sql` (top 5 by accuracy)": ([td, "sql", "--root", str(root), TOP5], "<= 1 s"),
        "`trackdag export` (Parquet)": ([td, "export", "--root", str(root), "--out", str(export)], "<= 15 s"),
    }


def run_query(name: str, cmd: list[str], evaluates: int, export: Path) -> tuple[float, float]:
    """(seconds, peak RSS MB) of one reading command; exits if the report missed a result."""
    shutil.rmtree(export, ignore_errors=True)
    secs, peak, out = timed(cmd)
    if name.startswith("`trackdag report`") and f"/ {evaluates} for stage1_evaluate" not in out:
        raise SystemExit(f"the report did not read every result:\n{out[:2000]}")
    return secs, peak


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--jobs", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=25_000, help="jobs per record() batch while building")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    ap.add_argument("--reuse", type=Path, help="a work folder kept by --keep: time its catalog, build nothing")
    args = ap.parse_args()
    work = args.reuse or Path(tempfile.mkdtemp(prefix="bench_million_"))
    try:
        root = work / "trackdag_output"
        t0 = time.perf_counter()
        if args.reuse:
            built = counts(root)
        else:
            built = build_trackdag(root, args.jobs // 2, args.batch, quick_metrics)
        build_s = time.perf_counter() - t0
        size_mb = (root / "catalog.duckdb").stat().st_size / 2**20
        commands = query_commands(root, work / "export")
        times: dict[str, list[tuple[float, float]]] = {k: [] for k in commands}
        for _ in range(args.repeat):
            for name, (cmd, _target) in commands.items():
                times[name].append(run_query(name, cmd, built["evaluates"], work / "export"))
        load = os.getloadavg()[0]
        print(f"\n{built['jobs']:,} jobs ({built['evaluates']:,} with results, {built['result_rows']:,} result "
              f"rows); catalog {size_mb:,.0f} MB, built in {build_s:.0f} s; machine: {os.cpu_count()} CPUs, "
              f"Python {sys.version.split()[0]}, load average {load:.1f} at the end\n")
        print("| command (whole process) | seconds (median) | peak RSS MB | target | runs |")
        print("|---|---|---|---|---|")
        for name, (_cmd, target) in commands.items():
            secs = statistics.median(s for s, _ in times[name])
            peak = max(p for _, p in times[name])
            runs = " / ".join(f"{s:.2f}" for s, _ in times[name])
            print(f"| {name} | {secs:.2f} | {peak:.0f} | {target} | {runs} |")
    finally:
        if args.keep or args.reuse:
            print(f"\nkept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
