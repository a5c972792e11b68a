"""One table for the scale issue: every row trackdag beside KWDagger 0.4.1, the floor or the target.

Each row times fresh processes (start-up and imports included) under ``/usr/bin/time -v``:
seconds are the median of ``--repeats`` runs, peak MB the largest "Maximum resident set
size" of them (the process's own, or its largest waited-for child's). The tools alternate
within a row (trackdag, the other, trackdag, ...), so a noisy minute hits both. The rows:

- dry runs (``trackdag run --dry-run`` / ``kwdagger schedule --run=0``) of the demo
  pipeline over 2 source files x N/2 values of ``param1``, and ``--max-configs 10`` on a
  YAML params file of a 1,000,000-configuration grid;
- first job: from starting a real run (trackdag ``--backend local``, KWDagger tmux, 2
  workers) to the first job's start (trackdag's running mark; KWDagger's first job folder,
  made by its bookkeeping job just before the job), then the run is stopped (SIGINT to its
  process group, then its private tmux server is killed);
- no-op reruns of 10,000 done trivial jobs (bench_execute's pipeline; KWDagger's done jobs
  are the outputs its own dry run names, created directly: its ``--skip_existing=1`` looks
  at nothing else, and running them would take about 5 minutes);
- ``trackdag report`` vs ``kwdagger.aggregate`` on 10,000 results (bench_report's trees);
- 2,000 trivial jobs (bench_execute's): local and Ray beside the floor (a bare subprocess
  loop on 2 threads, a fresh process too) and KWDagger tmux; driver CPU is trackdag's own
  process time (every thread, not the jobs'), written by the process at exit;
- a full run of 256 configurations of the demo (its Python programs; KWDagger runs the same
  programs) beside the same commands run 2-wide by ``xargs -P 2``, then no-op reruns;
- the reading commands on a million-job catalog (bench_million's), with ``--million-catalog``.

KWDagger 0.4.1 comes from PyPI into ``benchmarks/_work/kwdagger-venv`` (never a trackdag
dependency); rows it cannot do in reasonable time say so. All files go in ``--work``
(default: a new folder on /dev/shm, tmpfs, as bench_execute's table did: on this machine's
virtual disk a file's creation cost 10-25 us one minute and 400-600 us the next, which
would swamp the tools' own work). ``--quick`` runs every row at small sizes once.

Usage:  .venv/bin/python benchmarks/bench_table.py [--quick] [--only REGEX] [--skip-kwdagger]
            [--repeats 3] [--work DIR] [--million-catalog DIR]
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Callable

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bench_execute  # noqa: E402
import bench_million  # noqa: E402
import bench_report  # noqa: E402
import bench_scale  # noqa: E402
from _common import (DEMO, TRACKDAG, Row, Run, Side, Target, first_dir_entry, interrupt, kill_tmux,  # noqa: E402
                     kwdagger_env, kwdagger_python, kwdagger_schedule_cmd, machine_line, peak_mb, print_table,
                     start_timed, time_v, wait_until)
from bench_plan import params_yaml  # noqa: E402

KWD_DEMO = "kwdagger.demo.demodata.my_demo_pipeline()"
TD_DEMO = "example_user_module.pipelines.my_demo_pipeline()"
TRIVIAL = f"{HERE / 'bench_execute.py'}::pipeline()"
# The demo pipeline for KWDagger, running trackdag's demo programs (stdlib only) as trackdag does.
KWD_SAME_PROGRAMS = f'''
from kwdagger.demo import demodata
from kwdagger.pipeline import Pipeline


class Predict(demodata.Stage1_Predict):
    executable = {sys.executable!r} + " -m example_user_module.pipelines stage1_predict"


class Evaluate(demodata.Stage1_Evaluate):
    executable = {sys.executable!r} + " -m example_user_module.pipelines stage1_evaluate"


def demo_pipeline():
    nodes = {{"stage1_predict": Predict(), "stage1_evaluate": Evaluate()}}
    nodes["stage1_predict"].outputs["dst_fpath"].connect(nodes["stage1_evaluate"].inputs["pred_fpath"])
    nodes["stage1_predict"].inputs["src_fpath"].connect(nodes["stage1_evaluate"].inputs["true_fpath"])
    return Pipeline(nodes)
'''
# trackdag's CLI, writing its own CPU time (all threads, not its children's) to $BENCH_CPU_FILE at exit
CPU_WRAPPER = ("import atexit, os, sys, time; atexit.register(lambda: open(os.environ['BENCH_CPU_FILE'], 'w')"
               ".write(repr(time.process_time()))); sys.argv[0] = 'trackdag'; from trackdag.cli import main; "
               "sys.exit(main())")


class Bench:
    """The run's options, its work folder and the rows measured so far."""

    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args, self.work, self.quick = args, work, args.quick
        self.repeats = 1 if args.quick else args.repeats
        self.rows: list[Row] = []
        self.kwd_rate: dict[str, float] = {}  # KWDagger's seconds per config (dry run) and per result (report)
        self.kwd_why = ""
        self.rerun_rate: "float | None" = None  # trackdag's seconds per done job in a no-op rerun (rerun-100k)
        if args.skip_kwdagger:
            self.kwd_why = "not run (--skip-kwdagger)"
        elif not shutil.which("tmux"):
            self.kwd_why = "not run: tmux is not installed"
        elif kwdagger_python()[0] is None:
            self.kwd_why = "not run: " + kwdagger_python()[1]

    def size(self, full: int, quick: int) -> int:
        return quick if self.quick else full

    def folder(self, name: str) -> Path:
        path = self.work / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def alternate(self, measures: "dict[str, Callable[[], Run]]") -> dict[str, Side]:
        """Run every measure ``repeats`` times, round-robin; skipped KWDagger measures stay empty."""
        sides = {name: Side() for name in measures}
        for _ in range(self.repeats):
            for name, measure in measures.items():
                if name.startswith("kwd") and self.kwd_why:
                    sides[name].why = self.kwd_why
                    continue
                run = measure()
                sides[name].runs.append(run)
                print(f"  {name}: {run.seconds:.2f} s, {run.peak_mb:.0f} MB", file=sys.stderr)
        return sides

    def add(self, work: str, ours: Side, other: Side, target: "Target | None" = None) -> None:
        self.rows.append(Row(work, ours, other, target or Target()))


def kwd_params(td_params: Path, pipeline: str = KWD_DEMO) -> Path:
    """The same params file with KWDagger's pipeline in it."""
    path = td_params.with_name("kwd-" + td_params.name)
    path.write_text(td_params.read_text().replace(bench_scale.PIPELINE, pipeline).replace(TD_DEMO, pipeline))
    return path


def kwd_dry_run(b: Bench, params: Path, expect_jobs: int, extra: tuple[str, ...] = ()) -> Run:
    """``kwdagger schedule --run=0`` (serial backend): expand, compile and write the driver script."""
    env = kwdagger_env(b.folder("kwd-dry"))
    done = time_v(kwdagger_schedule_cmd(params, b.work / "kwd-dry" / "out", backend="serial", run=False,
                                        extra=extra), cwd=DEMO, env=env)
    assert f"len(queue)={expect_jobs}" in done.stdout, done.stdout[-2000:]
    shutil.rmtree(b.work / "kwd-dry" / "xdg", ignore_errors=True)
    return Run.of(done)


def rows_dry_runs(b: Bench) -> None:
    kwd_seen: "tuple[int, float, float] | None" = None  # KWDagger's biggest measured size; its s and MB per config
    for full, quick, target, kwd_can in ((4096, 256, Target(), True), (16384, 1024, Target(), True),
                                         (100_000, 2048, Target(3, text="<= 3 s"), False),
                                         (1_000_000, 4096, Target(30, 1536, text="<= 30 s, <= 1.5 GB"), False)):
        n = b.size(full, quick)
        params = bench_scale.write_params(b.work, n)
        measures: dict[str, Callable[[], Run]] = {"trackdag": lambda: Run(*bench_scale.dry_run(b.work, params))}
        if kwd_can:
            measures["kwdagger"] = lambda: kwd_dry_run(b, kwd_params(params), n * 2)
        sides = b.alternate(measures)
        other = sides.get("kwdagger") or Side(why="cannot (not run)")
        if other.runs:
            kwd_seen = (n, other.seconds / n, other.peak / n)
            b.kwd_rate["dry run"] = kwd_seen[1]
        elif not kwd_can and kwd_seen:
            other.why = (f"cannot (not run): ~{kwd_seen[1] * n:,.0f} s, ~{kwd_seen[2] * n / 1024:.1f} GB "
                         f"at the rate of its {kwd_seen[0]:,}-config row")
        b.add(f"dry run, {n:,} configs", sides["trackdag"], other, target)


def rows_max_configs(b: Bench) -> None:
    n = b.size(1_000_000, 10_000)
    params = b.work / "max-configs.yaml"
    params.write_text(params_yaml(n // 2))

    def ours() -> Run:
        done = time_v([TRACKDAG, "run", "--dry-run", "--params", params, "--root", b.work / "out",
                       "--max-configs", "10"], cwd=DEMO)
        assert "jobs: 20 " in done.stdout, done.stdout[-2000:]
        return Run.of(done)

    sides = b.alternate({"trackdag": ours,
                         "kwdagger": lambda: kwd_dry_run(b, kwd_params(params), 20, ("--max_configs=10",))})
    b.add(f"`--max-configs 10` dry run, YAML params file of a {n:,}-config grid", sides["trackdag"],
          sides["kwdagger"], Target(1, text="<= 1 s"))


def kwd_first_job(b: Bench, params: Path) -> Run:
    """Start ``kwdagger schedule`` (tmux, 2 workers); seconds until the first job's folder appears."""
    folder = b.folder("kwd-first")
    root = folder / "out"
    shutil.rmtree(root, ignore_errors=True)
    env = kwdagger_env(folder)
    proc, t0 = start_timed(kwdagger_schedule_cmd(params, root), folder / "time.txt", cwd=folder, env=env)
    try:
        first = wait_until(proc, t0, first_dir_entry(root / "stage1_predict"))
    finally:
        interrupt(proc)
        kill_tmux(env)
    if math.isnan(first):
        raise SystemExit(f"kwdagger ended before its first job:\n{(folder / 'time.txt').read_text()[-2000:]}")
    text = (folder / "time.txt").read_text()
    shutil.rmtree(root, ignore_errors=True)
    return Run(first, peak_mb(text))


def rows_first_job(b: Bench) -> None:
    for full, quick, target, kwd_can in ((4096, 256, Target(), True),
                                         (16384, 1024, Target(2, text="<= 2 s"), True),
                                         (100_000, 2048, Target(10, 600, text="<= 10 s, <= 600 MB"), False)):
        n = b.size(full, quick)
        params = bench_scale.write_params(b.work, n)
        measures: dict[str, Callable[[], Run]] = {"trackdag": lambda: Run(*bench_scale.first_job(b.work, params))}
        if kwd_can:
            measures["kwdagger"] = lambda: kwd_first_job(b, kwd_params(params))
        sides = b.alternate(measures)
        b.add(f"real run, start -> first job starts, {n:,} configs (2 workers: local / tmux)",
              sides["trackdag"], sides.get("kwdagger") or Side(why="cannot (not run): see the dry runs"), target)


def trivial_params(folder: Path, n: int, pipeline: "str | None" = None) -> Path:
    """A params file of ``n`` values of bench_execute's trivial node (with ``pipeline``: KWDagger's)."""
    path = folder / ("kwd-params.json" if pipeline else "params.json")
    path.write_text(json.dumps({**({"pipeline": pipeline} if pipeline else {}),
                                "matrix": {"trivial.i": list(range(n))}}))
    return path


def check_counts(stdout: str, ran: int, already: int) -> None:
    """That `trackdag run` said it ran ``ran`` jobs and found ``already`` done."""
    found = re.search(r"done: (\d+)\s+already done: (\d+)", stdout)
    assert found and (int(found[1]), int(found[2])) == (ran, already), stdout[-2000:]


def trackdag_trivial(root: Path, params: Path, backend: "str | None", expect: int, rerun: bool = False) -> Run:
    """`trackdag run` of bench_execute's trivial pipeline, 2 workers (``backend`` None: the default)."""
    cpu_file = root.with_name(root.name + ".cpu")
    backend_args = ["--backend", backend] if backend else []
    done = time_v([sys.executable, "-c", CPU_WRAPPER, "run", "--params", params, "--pipeline", TRIVIAL,
                   "--root", root, "--workers", "2", *backend_args],
                  env={**os.environ, "BENCH_CPU_FILE": str(cpu_file)})
    check_counts(done.stdout, 0 if rerun else expect, expect if rerun else 0)
    cpu = float(cpu_file.read_text()) * 1000 / expect if cpu_file.exists() else None
    return Run(done.seconds, done.peak_mb, cpu)


def kwd_fake_done(folder: Path, params: Path, expect: int) -> None:
    """Create the outputs KWDagger's dry run names (its --skip_existing=1 checks that they exist)."""
    env = kwdagger_env(folder, pythonpath=folder)
    done = time_v(kwdagger_schedule_cmd(params, folder / "out", backend="serial", run=False), cwd=folder, env=env)
    script = Path(done.stdout.strip().splitlines()[-1])
    outputs = set(re.findall(r"test -e (\S+) \|\|", script.read_text()))  # each command is there twice
    assert len(outputs) == expect, (len(outputs), expect)
    for out in outputs:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text("done\n")


def kwd_rerun(folder: Path, params: "Path | str", root: Path, pythonpath: "Path | str") -> Run:
    """``kwdagger schedule --skip_existing=1`` (tmux) over done jobs: it must queue nothing."""
    env = kwdagger_env(folder, pythonpath=pythonpath)
    try:
        done = time_v(kwdagger_schedule_cmd(params, root, skip_existing=True), cwd=folder, env=env)
    finally:
        kill_tmux(env)
    assert "len(queue)=0" in done.stdout, done.stdout[-2000:]
    return Run.of(done)


def rows_rerun_10k(b: Bench) -> None:
    n = b.size(10_000, 300)
    folder = b.folder("rerun-10k")
    params = trivial_params(folder, n)
    print(f"  setup: {n} done trivial jobs for trackdag (a real run) and KWDagger (its dry run's outputs)",
          file=sys.stderr)
    trackdag_trivial(folder / "td", params, "local", n)
    kwd_json = trivial_params(folder, n, "trivial_kwd.trivial_pipeline()")
    if not b.kwd_why:
        (folder / "trivial_kwd.py").write_text(bench_execute.KWD_PIPELINE)
        kwd_fake_done(folder, kwd_json, n)
    sides = b.alternate({"local": lambda: trackdag_trivial(folder / "td", params, "local", n, rerun=True),
                         "kwdagger": lambda: kwd_rerun(folder, kwd_json, folder / "out", folder),
                         "ray": lambda: trackdag_trivial(folder / "td", params, None, n, rerun=True)})
    for name, label in (("local", "local"), ("ray", "default backend (Ray)")):
        sides[name].runs = [Run(r.seconds, r.peak_mb) for r in sides[name].runs]  # CPU per job: not this row's
        b.add(f"no-op rerun, {n:,} done jobs, {label} (KWDagger: tmux, `--skip_existing=1`)",
              sides[name], sides["kwdagger"])


def rows_rerun_100k(b: Bench) -> None:
    """A no-op rerun at 100,000 done jobs: a million done folders cannot be made here, so this is its stand-in."""
    n = b.size(100_000, 1_000)
    folder = b.folder("rerun-100k")
    params = trivial_params(folder, n)
    print(f"  setup: {n} done trivial jobs (a real run, about 4 minutes)", file=sys.stderr)
    trackdag_trivial(folder / "td", params, "local", n)
    sides = b.alternate({"local": lambda: trackdag_trivial(folder / "td", params, "local", n, rerun=True)})
    sides["local"].runs = [Run(r.seconds, r.peak_mb) for r in sides["local"].runs]
    b.rerun_rate = sides["local"].seconds / n
    share = 10 * n / 1_000_000
    b.add(f"no-op rerun, {n:,} done jobs, local (the million-job row's stand-in)", sides["local"],
          Side(why="not run (see the 10,000-job row)"), Target(share, text=f"<= {share:g} s (10 s a million, pro rata)"))
    shutil.rmtree(folder, ignore_errors=True)  # (gigabytes of tmpfs)


def rows_report(b: Bench) -> None:
    n = b.size(10_000, 500)
    folder = b.folder("report")
    built = bench_report.build_trackdag(folder / "td", n, 1000)
    python = "" if b.kwd_why else kwdagger_python()[0]
    if not b.kwd_why:
        bench_report.build_kwdagger_tree(folder / "kwd", built["rows"])

    def ours() -> Run:
        done = time_v(bench_report.report_cmd(folder / "td"), cwd=DEMO)
        assert bench_report.report_read_all(done.stdout, n), done.stdout[-2000:]
        return Run.of(done)

    def kwd() -> Run:
        cmd = bench_report.kwdagger_aggregate_cmd(python or "?", folder / "kwd", folder / "kwd-aggregate")
        done = time_v(cmd, cwd=folder, env=kwdagger_env(folder))
        assert bench_report.report_read_all(done.stdout, n), done.stdout[-2000:]
        return Run.of(done)

    sides = b.alternate({"trackdag": ours, "kwdagger": kwd})
    if sides["kwdagger"].runs:
        b.kwd_rate["report"] = sides["kwdagger"].seconds / n
    b.add(f"report, {n:,} results (`trackdag report` / `kwdagger.aggregate`)", sides["trackdag"],
          sides["kwdagger"], Target(1, text="<= 1 s"))


def bare_floor(folder: Path, n: int) -> Run:
    """bench_execute's bare subprocess loop on 2 threads, as a fresh process (folders made in it)."""
    code = (f"import sys; from pathlib import Path; sys.path.insert(0, {str(HERE)!r}); "
            f"from bench_execute import bare_loop; bare_loop(Path({str(folder)!r}), {n}, 2)")
    done = time_v([sys.executable, "-c", code])
    return Run.of(done)


def rows_trivial(b: Bench) -> None:
    n = b.size(2000, 200)
    folder = b.folder("trivial")
    params = trivial_params(folder, n)

    def ours(backend: str) -> Callable[[], Run]:
        def measure() -> Run:
            shutil.rmtree(folder / backend, ignore_errors=True)
            return trackdag_trivial(folder / backend, params, backend, n)
        return measure

    def kwd() -> Run:
        seconds, peak, why = bench_execute.kwdagger_run(folder, n, 2)
        if seconds is None:
            raise SystemExit(why)
        return Run(seconds, peak)

    sides = b.alternate({"floor": lambda: bare_floor(folder, n), "local": ours("local"), "ray": ours("ray"),
                         "kwdagger": kwd})
    sides["floor"].label = "floor, bare subprocess loop"
    target = Target(x_floor=2, cpu_ms=1, text="<= 2x the floor, driver CPU <= 1 ms/job")
    b.add(f"{n:,} trivial jobs, 2 workers, local", sides["local"], sides["floor"], target)
    b.add(f"{n:,} trivial jobs, 2 workers, Ray (its start-up included)", sides["ray"], sides["floor"], target)
    b.add(f"{n:,} trivial jobs, 2 workers, local (KWDagger: tmux)", sides["local"], sides["kwdagger"])


def xargs_floor(folder: Path, params: Path, n: int) -> Run:
    """The plan's commands, each in its job folder, 2-wide by ``xargs -P 2``: predicts, then evaluates."""
    sys.path.insert(0, str(DEMO))
    from trackdag.sweep import prepare

    root = folder / "floor"
    shutil.rmtree(root, ignore_errors=True)
    jobs = prepare(str(params), root=root, cwd=str(DEMO)).plan.jobs.values()
    for node in ("stage1_predict", "stage1_evaluate"):
        lines = [f"mkdir -p {j.folder} && cd {j.folder} && {j.command}" for j in jobs if j.node == node]
        (folder / f"{node}.cmds").write_text("\0".join(lines))
    script = " && ".join(f"xargs -0 -P 2 -n 1 sh -c < {folder / node}.cmds"
                         for node in ("stage1_predict", "stage1_evaluate"))
    done = time_v(["sh", "-c", script], env={**os.environ, "PYTHONPATH": str(DEMO)})
    assert len(list(root.glob("stage1_evaluate/*/stage1_evaluation.json"))) == n
    return Run.of(done)


def rows_demo_256(b: Bench) -> None:
    n = b.size(256, 16)
    folder = b.folder("demo")
    params = folder / "params.json"
    params.write_text(json.dumps({"pipeline": TD_DEMO, "matrix": {
        "stage1_predict.src_fpath": [str(DEMO / "README.rst"), str(DEMO / "run_pipeline.sh")],
        "stage1_predict.param1": list(range(n // 2)), "stage1_evaluate.workers": 4}}))
    (folder / "same_programs.py").write_text(KWD_SAME_PROGRAMS)
    kwd_file = kwd_params(params, "same_programs.demo_pipeline()")
    pythonpath = f"{folder}{os.pathsep}{DEMO}"

    def ours(args: list[str], rerun: bool) -> Run:
        done = time_v([TRACKDAG, "run", "--params", params, "--root", folder / "td", *args], cwd=DEMO)
        check_counts(done.stdout, 0 if rerun else 2 * n, 2 * n if rerun else 0)
        return Run.of(done)

    def full_run() -> Run:
        shutil.rmtree(folder / "td", ignore_errors=True)
        return ours(["--backend", "local", "--workers", "2"], rerun=False)

    def kwd_full_run() -> Run:
        shutil.rmtree(folder / "kwd", ignore_errors=True)
        env = kwdagger_env(folder, pythonpath=pythonpath)
        try:
            done = time_v(kwdagger_schedule_cmd(kwd_file, folder / "kwd"), cwd=folder, env=env)
        finally:
            kill_tmux(env)
        made = len(list((folder / "kwd").glob("stage1_evaluate/*/stage1_evaluation.json")))
        assert made == n, f"kwdagger made {made} of {n} evaluations:\n{done.stdout[-2000:]}"
        return Run.of(done)

    full = b.alternate({"trackdag": full_run, "floor": lambda: xargs_floor(folder, params, n),
                        "kwdagger": kwd_full_run})
    full["floor"].label = "floor, `xargs -P 2`"
    work = f"full run, {n:,} configs of the demo ({2 * n:,} jobs), local, 2 workers"
    b.add(work, full["trackdag"], full["floor"], Target(x_floor=1.03, text="within 3% of the floor"))
    b.add(work + " (KWDagger: tmux, same programs)", full["trackdag"], full["kwdagger"])
    rerun = b.alternate({"trackdag": lambda: ours([], rerun=True),
                         "kwdagger": lambda: kwd_rerun(folder, kwd_file, folder / "kwd", pythonpath)})
    b.add(f"no-op rerun, {n:,} configs, default backend (KWDagger: tmux, `--skip_existing=1`)",
          rerun["trackdag"], rerun["kwdagger"])


def million_root(b: Bench) -> "Path | None":
    """The catalog's folder: --million-catalog's, a small one built now with --quick, else None."""
    if b.args.million_catalog:
        given = Path(b.args.million_catalog)
        return given / "trackdag_output" if (given / "trackdag_output").is_dir() else given
    if not b.quick:
        return None
    root = b.folder("million") / "trackdag_output"
    bench_report.build_trackdag(root, 5000, 2500, bench_million.quick_metrics)
    return root


def kwd_cannot(b: Bench, what: str, rate: str, count: int) -> Side:
    """KWDagger's cell for a million-job row, with its time at the rate it had in an earlier row."""
    seconds = b.kwd_rate.get(rate)
    return Side(why=f"cannot (not run): {what}" + (f"; ~{seconds * count / 60:,.0f} min at its {rate} row's rate"
                                                   if seconds else ""))


def rows_million(b: Bench) -> None:
    root = million_root(b)
    evaluates = bench_million.counts(root)["evaluates"] if root else 500_000
    cannot = kwd_cannot(b, "`kwdagger.aggregate` reads a folder per result", "report", evaluates)
    if root is None:
        b.add("queries at a million jobs", Side(why="not measured: pass `--million-catalog DIR`, a folder kept by "
                                                    "`bench_million.py --keep` (about 8 minutes to build)"), cannot)
    else:
        export = b.work / "export"
        commands = bench_million.query_commands(root, export)
        sides = b.alternate({name: (lambda name=name, cmd=cmd: Run(*bench_million.run_query(
            name, cmd, evaluates, export))) for name, (cmd, _) in commands.items()})
        for name, (_, target) in commands.items():
            b.add(f"{name}, {2 * evaluates:,} jobs", sides[name], cannot, Target(float(target.split()[1]),
                                                                                 text=target))
    b.add("no-op rerun, a million jobs", Side(why=(
        "not measured: the catalog's jobs never ran, so there are no done folders to skip; making a million "
        "takes about an hour (3 ms per job)" + (f"; ~{b.rerun_rate * 1e6:,.0f} s at the 100,000-job rerun's rate"
                                                if b.rerun_rate else ""))),
        kwd_cannot(b, "it plans all 500,000 configs first", "dry run", 500_000))


GROUPS: dict[str, Callable[[Bench], None]] = {
    "dry-run": rows_dry_runs, "max-configs": rows_max_configs, "first-job": rows_first_job,
    "rerun-10k": rows_rerun_10k, "rerun-100k": rows_rerun_100k, "report": rows_report, "trivial-jobs": rows_trivial,
    "demo-256": rows_demo_256, "million": rows_million}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, 1 repeat: check that every row works")
    ap.add_argument("--only", metavar="REGEX", help=f"run the row groups matching: {', '.join(GROUPS)}")
    ap.add_argument("--skip-kwdagger", action="store_true")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--work", type=Path, help="folder for every file [default: a new one on /dev/shm]")
    ap.add_argument("--million-catalog", metavar="DIR", help="a folder kept by `bench_million.py --keep`")
    args = ap.parse_args()
    load = os.getloadavg()[0]
    shm = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
    work = Path(tempfile.mkdtemp(prefix="bench_table_", dir=args.work or shm))
    bench = Bench(args, work)
    try:
        for name, group in GROUPS.items():
            if args.only and not re.search(args.only, name):
                continue
            print(f"{name} ...", file=sys.stderr)
            group(bench)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    sizes = "--quick: small sizes, 1 run each" if bench.quick else f"medians of {bench.repeats} runs"
    print(f"\n{sizes}; files in {args.work or shm or tempfile.gettempdir()}\n")
    print_table(bench.rows, bench.quick)
    print(f"\n{machine_line(load)}")


if __name__ == "__main__":
    main()
