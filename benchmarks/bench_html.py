"""Benchmark: `trackdag report --html` (and `trackdag plot`) on 10,000 finished evaluate jobs.

Target (issue 5, "Charts and a self-contained HTML report"): generating the HTML
report for 10,000 jobs takes <= 10 s.

The catalog is the one `bench_report.py` builds (its `build_trackdag`, imported):
the demo pipeline's grid with N/2 values of `param1` x 2 source files, so N
`stage1_predict` and N `stage1_evaluate` jobs, recorded with the library's bulk
calls as a run's driver does, with the accuracy / hamming_distance the demo's own
code computes.  Its attempts all share one start time (nothing ran), so the
timeline is the worst case for lane packing: 2N attempts overlapping on one host.

Each timed command is a fresh child process (start-up and imports included).  The
first `report --html` starts with an empty bundle cache (`TRACKDAG_CACHE_DIR` in the
work folder), so it includes vl-convert's ~2 s bundling of the Vega JavaScript; the
later ones read the cached bundle, as a user's second report does.  Results go to stdout as a
Markdown table; copy them into benchmarks/README.md.

Usage:  .venv/bin/python benchmarks/bench_html.py [--n 10000] [--repeat 3] [--no-plot]
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_report import BIN, DEMO, build_trackdag, timed  # noqa: E402  (the shared catalog builder)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=10_000, help="evaluate jobs (results)")
    ap.add_argument("--batch", type=int, default=1000, help="jobs per record() micro-batch")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-plot", action="store_true", help="skip timing `trackdag plot`")
    ap.add_argument("--keep", action="store_true", help="keep the work folder (and the page)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench_html_"))
    table: list[tuple[str, str, str]] = []
    try:
        root = work / "trackdag_output"
        t0 = time.perf_counter()
        built = build_trackdag(root, args.n, args.batch)
        print(f"catalog of {built['jobs']:,} jobs built in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        page = work / "report.html"
        cmd = [str(BIN / "trackdag"), "report", "--root", str(root), "--html", str(page)]
        # The first run starts with an empty bundle cache (vl-convert bundles the Vega JS), the others reuse it.
        cache = {"TRACKDAG_CACHE_DIR": str(work / "cache")}
        for i in range(args.repeat):
            secs, out, err, code = timed(cmd, cwd=DEMO, env=cache)
            if code != 0 or out.strip() != str(page):
                raise SystemExit(f"trackdag report --html failed ({code}):\n{err}\n{out[-2000:]}")
            table.append(("`trackdag report --html` (whole CLI process, empty bundle cache)" if i == 0 else
                          "`trackdag report --html` (bundle cached)", f"{secs:.2f} s", "<= 10 s"))
        text = page.read_text(encoding="utf-8")
        n_charts = text.count('class="td-chart"')
        top = re.search(r"Top (\d+) / (\d+) for stage1_evaluate", text)
        if not top or int(top.group(2)) != built["evaluates"]:
            raise SystemExit("the page does not rank every evaluate job")
        table.append(("page size", f"{len(text.encode()) / 1e6:.2f} MB ({n_charts} charts; ~0.9 MB is the "
                                   "Vega bundle)", ""))
        if not args.no_plot:
            for fmt in ("svg", "png"):
                secs, out, err, code = timed([str(BIN / "trackdag"), "plot", "--root", str(root), "--out",
                                              str(work / f"plots-{fmt}"), "--format", fmt], cwd=DEMO, env=cache)
                if code != 0:
                    raise SystemExit(f"trackdag plot failed ({code}):\n{err}")
                table.append((f"`trackdag plot --format {fmt}` ({len(out.split())} files, whole CLI process)",
                              f"{secs:.2f} s", ""))
        print(f"\n{built['evaluates']:,} evaluate results ({built['jobs']:,} jobs); machine: {os.cpu_count()} CPUs, "
              f"Python {sys.version.split()[0]}\n")
        print("| measurement | result | target |")
        print("|---|---|---|")
        for row in table:
            print(f"| {row[0]} | {row[1]} | {row[2]} |")
    finally:
        if args.keep:
            print(f"\nkept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
