"""Benchmark: planning and registering a 16,384-configuration sweep of the demo pipeline.

Targets (issue: core path):
- `trackdag run --dry-run` over 16,384 configurations (32,768 jobs): <= 2 s and <= 300 MB peak.
- registering those jobs in the catalog in bulk (a real run's first step): <= 3 s.
- `trackdag run --dry-run --max-configs 10` on a params file whose YAML holds a
  1,000,000-value list: <= 1 s (issue: scale). Its parse time is also measured with
  the YAML loader (trackdag.yaml12) and with the fast path (trackdag.yaml_fast).

KWDagger 0.4.1 needed 43.6 s and 1.4 GB for the same dry run on this kind of machine
(figure from ../shared/reference; not re-run here).

Each measurement runs in a fresh child process, so its time includes Python start-up and
imports, as a user would see it, and its peak RSS is its own. Results go to stdout as a
Markdown table; copy them into benchmarks/README.md.

Usage:  .venv/bin/python benchmarks/bench_plan.py [--repeat 3]
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
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEMO = HERE.parent / "examples" / "demo"
N_PARAM1 = 8192  # x 2 source files = 16,384 rows

N_BIG = 1_000_000  # values of param1 in the big params file (x 2 source files)


def params_yaml(n_param1: int) -> str:
    """The demo's params file with ``n_param1`` values of param1 (x 2 source files)."""
    return f"""
pipeline: 'example_user_module.pipelines.my_demo_pipeline()'
matrix:
    stage1_predict.src_fpath: [README.rst, run_pipeline.sh]
    stage1_predict.param1: {json.dumps(list(range(n_param1)))}
    stage1_evaluate.workers: 4
"""


PARSE = """
import sys, time, json, importlib
loader = importlib.import_module(sys.argv[1])
text = open(sys.argv[2], encoding="utf-8").read()
t0 = time.perf_counter()
data = loader.load(text)
print(json.dumps({"parse_s": time.perf_counter() - t0, "n": len(data["matrix"]["stage1_predict.param1"])}))
"""

REGISTER = """
import sys, time, json
from trackdag.sweep import prepare
from trackdag.catalog import Catalog
from datetime import datetime, timezone
params, root = sys.argv[1], sys.argv[2]
prepared = prepare(params, root=root)
plan = prepared.plan
cat = Catalog(root + "/catalog.duckdb")
cat.ensure_schema()
t0 = time.perf_counter()
cat.begin_run({"run_id": "bench", "root": root, "backend": "local", "host": "h", "pid": 1,
               "trackdag_version": "bench", "started": datetime.now(timezone.utc), "status": "running"})
cat.register_plan("bench", plan, {j: "planned" for j in plan.jobs})
print(json.dumps({"register_s": time.perf_counter() - t0, "jobs": len(plan.jobs)}))
"""


def child(cmd: list[str], cwd: Path) -> tuple[float, float, str]:
    """Run a command; return (wall seconds, its peak RSS in MB, stdout)."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak RSS
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - t0
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            sys.exit(f"benchmark command failed: {' '.join(cmd[:4])}...\n{err.read()}")
        return wall, usage.ru_maxrss / 1024, out.read()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="trackdag-bench-"))
    try:
        shutil.copytree(DEMO, work / "demo", ignore=shutil.ignore_patterns("pipeline_output", "__pycache__"))
        cwd = work / "demo"
        params_file = cwd / "params.yaml"
        params_file.write_text(params_yaml(N_PARAM1))
        rows = []
        for i in range(args.repeat):
            wall, peak, out = child([sys.executable, "-m", "trackdag", "run", "--params", str(params_file),
                                     "--root", str(work / f"dry{i}"), "--dry-run"], cwd)
            assert "jobs: 32768" in out, out[:500]
            assert not (work / f"dry{i}").exists(), "dry run wrote files"
            rows.append(("dry run, 16,384 configs / 32,768 jobs (whole CLI process)", wall, peak))
        for i in range(args.repeat):
            _, peak, out = child([sys.executable, "-c", REGISTER, str(params_file), str(work / f"reg{i}")], cwd)
            info = json.loads(out)
            rows.append(("register 32,768 jobs in the catalog (bulk, one transaction)", info["register_s"], peak))
        big_file = cwd / "big_params.yaml"
        big_file.write_text(params_yaml(N_BIG))
        for module, name in (("trackdag.yaml12", "YAML loader (yaml12, libyaml)"),
                             ("trackdag.yaml_fast", "fast path (yaml_fast)")):
            for i in range(args.repeat):
                _, peak, out = child([sys.executable, "-c", PARSE, module, str(big_file)], cwd)
                info = json.loads(out)
                assert info["n"] == N_BIG, info
                rows.append((f"parse the 1,000,000-value YAML params file, {name}", info["parse_s"], peak))
        for i in range(args.repeat):
            wall, peak, out = child([sys.executable, "-m", "trackdag", "run", "--params", str(big_file),
                                     "--root", str(work / f"big{i}"), "--dry-run", "--max-configs", "10"], cwd)
            assert "jobs: 20 " in out, out[:500]
            rows.append(("dry run --max-configs 10 on the 1,000,000-value YAML file (whole CLI process)",
                         wall, peak))
        print("| measurement | seconds | peak RSS MB |")
        print("|---|---|---|")
        for name, seconds, peak in rows:
            print(f"| {name} | {seconds:.2f} | {peak:.0f} |")
        print(f"\nmachine: {os.cpu_count()} CPUs, python {sys.version.split()[0]}, load {os.getloadavg()[0]:.1f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
