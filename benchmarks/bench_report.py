"""Benchmark: results on 10,000 finished evaluate jobs — ingest, `trackdag report`, and KWDagger's aggregate.

Targets (issue 4, "Results as SQL"):
- ingest >= 10,000 result rows/s into the catalog (micro-batches through Arrow);
- `trackdag report` on 10,000 finished evaluate jobs: <= 1 s.
KWDagger 0.4.1's aggregate took 58.6 s for 10,000 results on this kind of machine.

What is built (same numbers for both tools): the demo pipeline's grid with N/2 values
of `param1` x 2 source files = N rows, so N `stage1_predict` and N `stage1_evaluate`
jobs.  Each evaluate job's accuracy / hamming_distance are computed with the demo's
own functions (the same numbers a real run gives).

- trackdag: the plan is registered with the library's bulk call, and the outcomes
  (done states, attempts and result rows) are recorded with `Catalog.record` in
  micro-batches of `--batch` jobs, exactly as a run's driver does.  No subprocess is
  run for the jobs: 20,000 subprocesses would measure the demo program, not the
  catalog.  The ingest rate counts result rows over the time of those `record`
  calls (which also write states and attempts, compute param_hashids and refresh
  the views).
- KWDagger: the same results as a KWDagger 0.4.1 result tree on disk (job folders
  with job_config.json, the programs' outputs in the format KWDagger's demo writes,
  .pred/.succ links), then `python -m kwdagger.aggregate` over it with the seed's
  stdout report.  KWDagger runs in its own venv (`--kwdagger-venv`, default
  benchmarks/_work/kwdagger-venv, git-ignored, created with `pip install kwdagger==0.4.1`
  when missing); it is never a trackdag dependency.
  When it cannot be installed the script says so and reports trackdag's figures only.

Each timed command is a fresh child process (start-up and imports included).
Results go to stdout as a Markdown table; copy them into benchmarks/README.md.

Usage:  .venv/bin/python benchmarks/bench_report.py [--n 10000] [--repeat 3] [--no-kwdagger]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import BIN, DEMO, kwdagger_python  # noqa: E402

SOURCES = ["README.rst", "run_pipeline.sh"]


def demo_metrics(src_text: str, param1: int) -> dict[str, float]:
    """The demo's evaluation of one (source, param1), without running its programs."""
    sys.path.insert(0, str(DEMO))
    from example_user_module.pipelines import NUM_BITS, _bits

    truth, predicted = _bits(src_text), _bits(f"{param1}:{src_text}")
    hamming = sum(t != p for t, p in zip(truth, predicted))
    return {"accuracy": 1 - hamming / NUM_BITS, "hamming_distance": hamming}


def build_trackdag(root: Path, n: int, batch: int, metrics: "Any" = None) -> dict[str, float]:
    """Register the plan, then record every outcome in micro-batches; returns timings.

    ``metrics(src_text, param1)``: a job's metrics [default: :func:`demo_metrics`, the demo's own].
    """
    metrics = metrics or demo_metrics
    sys.path.insert(0, str(DEMO))
    from trackdag.catalog import Catalog
    from trackdag.sweep import prepare

    params = {"pipeline": "example_user_module.pipelines.my_demo_pipeline()",
              "matrix": {"stage1_predict.src_fpath": SOURCES,
                         "stage1_predict.param1": list(range(n // 2)),
                         "stage1_evaluate.workers": 4}}
    prepared = prepare(params, root=root, cwd=str(DEMO))
    plan = prepared.plan
    cat = Catalog(root / "catalog.duckdb")
    cat.ensure_schema()
    cat.begin_run({"run_id": "bench", "root": str(root), "backend": "local", "host": "bench", "pid": os.getpid(),
                   "trackdag_version": "bench", "started": datetime.now(timezone.utc), "status": "running",
                   "pipeline_ref": prepared.pipeline.ref})
    cat.register_plan("bench", plan, {j: "planned" for j in plan.jobs})
    texts = {src: (DEMO / src).read_text() for src in SOURCES}
    now = time.time()

    def outcome(job):
        state = {"job_id": job.job_id, "status": "done", "started": now, "ended": now + 0.05, "attempts": 1}
        attempt = {"job_id": job.job_id, "attempt": 1, "run_id": "bench", "status": "done", "exit_code": 0,
                   "started": now, "ended": now + 0.05, "duration": 0.05, "host": "bench", "pid": 1}
        return state, attempt

    predicts = [j for j in plan.jobs.values() if j.node == "stage1_predict"]
    evaluates = [j for j in plan.jobs.values() if j.node == "stage1_evaluate"]
    pairs = [outcome(j) for j in predicts]
    cat.record([p[0] for p in pairs], [p[1] for p in pairs], [(j.job_id, None, None) for j in predicts])
    rows = []
    for job in evaluates:
        src = os.path.basename(job.requested["stage1_predict.src_fpath"])
        values = metrics(texts[src], job.requested["stage1_predict.param1"])
        rows.append((job, {f"metrics.stage1_evaluate.{k}": v for k, v in values.items()}))
    spent, result_rows = 0.0, 0
    for start in range(0, len(rows), batch):
        chunk = rows[start:start + batch]
        pairs = [outcome(j) for j, _ in chunk]
        results = [(j.job_id, row, None) for j, row in chunk]
        t0 = time.perf_counter()
        cat.record([p[0] for p in pairs], [p[1] for p in pairs], results)
        spent += time.perf_counter() - t0
        result_rows += sum(len(row) for _, row in chunk)
    cat.finish_run("bench", "done", {"n_done": len(plan.jobs)}, time.time())
    return {"result_rows": result_rows, "ingest_s": spent, "jobs": len(plan.jobs), "evaluates": len(evaluates),
            "rows": rows}


def timed(cmd: list[str], cwd: Path, env: dict | None = None) -> tuple[float, str, str, int]:
    t0 = time.perf_counter()
    out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env={**os.environ, **(env or {})})
    return time.perf_counter() - t0, out.stdout, out.stderr, out.returncode


# -- KWDagger --------------------------------------------------------------------------------
def _proc_item(name: str, config: dict, cwd: str) -> dict:
    """A ProcessContext record as KWDagger's demo programs write it."""
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H%M%S+0")
    return {"type": "process", "properties": {
        "name": name, "args": [f"--{k}={v}" for k, v in config.items()], "config": config,
        "machine": {"host": "bench", "user": "bench", "cwd": cwd, "userhome": "/home/bench", "mem_total": 2 ** 34,
                    "cpu_brand": None, "cpu_count": None, "os_name": "Linux", "os_release": "6", "os_version": "#1",
                    "arch": "", "py_impl": "CPython", "py_version": sys.version.split()[0]},
        "start_timestamp": stamp, "stop_timestamp": stamp, "duration": "0:00:00", "uuid": str(uuid.uuid4()),
        "extra": None}}


def build_kwdagger_tree(root: Path, rows: list) -> None:
    """The same results as a KWDagger 0.4.1 result tree."""
    cwd = str(root.parent)
    for job, metrics in rows:
        src = os.path.basename(job.requested["stage1_predict.src_fpath"])
        param1 = job.requested["stage1_predict.param1"]
        short = job.short_id
        pred_name, eval_name = f"stage1_predict_id_{short}", f"stage1_evaluate_id_{short}"
        pred, ev = root / "stage1_predict" / pred_name, root / "stage1_evaluate" / eval_name
        (ev / ".pred" / "stage1_predict").mkdir(parents=True)
        (pred / ".succ" / "stage1_evaluate").mkdir(parents=True)
        pred_out = pred / "stage1_prediction.json"
        requested = {"stage1_predict.param1": param1, "stage1_predict.src_fpath": src}
        (pred / "job_config.json").write_text(json.dumps(requested, indent=2))
        pred_cfg = {"src_fpath": src, "dst_fpath": str(pred_out), "dst_dpath": str(pred), "param1": param1,
                    "workers": 0}
        pred_out.write_text(json.dumps({"info": [_proc_item("stage1_predict", pred_cfg, cwd)],
                                        "result": uuid.uuid4().hex}))
        ev_out = ev / "stage1_evaluation.json"
        ev_config = {**requested, "stage1_evaluate.true_fpath": src, "stage1_evaluate.workers": 4,
                     "__input__.pred_fpath": {"source_process_id": pred_name, "source_port": "dst_fpath",
                                              "source_kind": "output"},
                     "__input__.true_fpath": {"source": "stage1_predict.src_fpath",
                                              "target": "stage1_evaluate.true_fpath", "source_port": "src_fpath",
                                              "source_kind": "input", "value": src}}
        (ev / "job_config.json").write_text(json.dumps(ev_config, indent=2))
        ev_cfg = {"pred_fpath": str(pred_out), "true_fpath": src, "out_fpath": str(ev_out), "workers": 4}
        result = {k.rsplit(".", 1)[1]: v for k, v in metrics.items()}
        ev_out.write_text(json.dumps({"info": [_proc_item("stage1_evaluate", ev_cfg, cwd)], "result": result}))
        os.symlink(f"../../../../stage1_predict/{pred_name}", ev / ".pred" / "stage1_predict" / pred_name)
        os.symlink(f"../../../../stage1_evaluate/{eval_name}", pred / ".succ" / "stage1_evaluate" / eval_name)


KWD_REPORT = """
top_k: 10
per_group: null
macro_analysis: 0
analyze: 0
print_models: False
reference_region: null
concise: 1
show_csv: 0
"""


def report_cmd(root: Path) -> list[str]:
    """`trackdag report` of the evaluate node (run it from the demo's folder)."""
    return [str(BIN / "trackdag"), "report", "--root", str(root), "--node", "stage1_evaluate"]


def report_read_all(out: str, evaluates: int) -> bool:
    """Whether a `trackdag report` ranked every one of the ``evaluates`` results."""
    return f"/ {evaluates} for stage1_evaluate" in out


def kwdagger_aggregate_cmd(python: str, kwd_root: Path, out_dpath: Path) -> list[str]:
    """`python -m kwdagger.aggregate` over a result tree, with the seed's stdout report."""
    return [python, "-m", "kwdagger.aggregate", "--pipeline", "kwdagger.demo.demodata.my_demo_pipeline()",
            "--target", str(kwd_root), "--output_dpath", str(out_dpath),
            "--eval_nodes", "[stage1_evaluate]", "--stdout_report", KWD_REPORT,
            "--cache_resolved_results", "False", "--plot_params", "False"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=10_000, help="evaluate jobs (results)")
    ap.add_argument("--batch", type=int, default=1000, help="jobs per record() micro-batch")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-kwdagger", action="store_true", help="skip the KWDagger comparison")
    ap.add_argument("--kwdagger-venv", type=Path, default=HERE / "_work" / "kwdagger-venv")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench_report_"))
    table: list[tuple[str, str, str]] = []
    notes: list[str] = []
    try:
        root = work / "trackdag_output"
        built = build_trackdag(root, args.n, args.batch)
        rate = built["result_rows"] / built["ingest_s"]
        table.append((f"ingest {built['result_rows']:,} result rows of {built['evaluates']:,} jobs "
                      f"(micro-batches of {args.batch})", f"{built['ingest_s']:.2f} s = {rate:,.0f} rows/s",
                      ">= 10,000 rows/s"))
        for i in range(args.repeat):
            secs, out, err, code = timed(report_cmd(root), cwd=DEMO)
            if code != 0 or not report_read_all(out, built["evaluates"]):
                raise SystemExit(f"trackdag report failed ({code}):\n{err}\n{out[-2000:]}")
            table.append(("`trackdag report` (whole CLI process)" if i == 0 else "`trackdag report`",
                          f"{secs:.2f} s", "<= 1 s" if i == 0 else ""))
        report_text = out
        sql_cmd = [str(BIN / "trackdag"), "sql", "--root", str(root),
                   'SELECT param_hashid, "metrics.stage1_evaluate.accuracy" FROM results_stage1_evaluate '
                   'ORDER BY 2 DESC LIMIT 5']
        secs, _, err, code = timed(sql_cmd, cwd=DEMO)
        table.append(("`trackdag sql` (top 5 by accuracy, whole CLI process)", f"{secs:.2f} s" if code == 0 else
                      f"failed: {err.strip()[-200:]}", ""))
        ours = min(float(r[1].split()[0]) for r in table if r[0].startswith("`trackdag report`"))
        if args.no_kwdagger:
            notes.append("KWDagger comparison skipped (--no-kwdagger).")
        else:
            python, why = kwdagger_python(args.kwdagger_venv)
            if python is None:
                notes.append(f"KWDagger not measured: {why}.")
            else:
                kwd_root = work / "kwdagger_output"
                t0 = time.perf_counter()
                build_kwdagger_tree(kwd_root, built["rows"])
                notes.append(f"KWDagger result tree ({len(built['rows']):,} evaluate + {len(built['rows']):,} "
                             f"predict folders) written in {time.perf_counter() - t0:.1f} s (not timed below).")
                cmd = kwdagger_aggregate_cmd(python, kwd_root, work / "kwd_aggregate")
                secs, out, err, code = timed(cmd, cwd=work, env={"COLUMNS": "200"})
                if code != 0 or "Top" not in out:
                    notes.append(f"KWDagger aggregate failed (exit {code}): {(err or out).strip()[-400:]}")
                else:
                    top = [line.strip() for line in out.splitlines() if line.strip().startswith("Top ")]
                    notes.append(f"KWDagger's report says: {top[0] if top else '?'}")
                    table.append(("KWDagger 0.4.1 `kwdagger.aggregate` (same results, whole process)",
                                  f"{secs:.2f} s", f"{secs / ours:.0f}x trackdag's report"))
        print(f"\n{args.n:,} evaluate results; machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}\n")
        print("| measurement | result | target |")
        print("|---|---|---|")
        for row in table:
            print(f"| {row[0]} | {row[1]} | {row[2]} |")
        for note in notes:
            print(f"\n{note}")
        print("\nHead of the report:\n")
        print("\n".join("    " + line for line in report_text.splitlines()[:6]))
    finally:
        if args.keep:
            print(f"\nkept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
