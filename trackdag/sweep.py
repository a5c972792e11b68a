"""The straight path of one ``trackdag run``: params -> rows -> plan -> catalog -> folders -> execution.

:func:`prepare` does everything that only reads (parse, validate, plan);
:func:`dry_run` reports what a run would do and writes nothing at all;
:func:`run` registers the run and its jobs in the catalog, writes the job
folders of the jobs that need to run, executes them and records every outcome.
Re-running the same command is a resume: jobs whose done record matches
their id are not run again.

Example:
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (root / 'p.yaml').write_text("nodes: {a: {executable: echo, out_paths: {dir: '.'}, algo_params: {n: 1}}}")
    >>> res = run({'a.n': [1, 2]}, pipeline=str(root / 'p.yaml'), root=root / 'out')
    >>> res.counts.done, res.exit_code
    (2, 0)
"""
from __future__ import annotations

import getpass
import json
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

from . import __version__
from .errors import ExecutionError, ParamsError, PlanError
from .layout import CONFIG, read_config_id, read_done, write_job_folder
from .matrix import ParamsSpec, expand, load_params
from .pipeline import Pipeline, load_pipeline
from .plan import Job, Plan, plan as make_plan

DEFAULT_ROOT = "trackdag_output"
CATALOG_NAME = "catalog.duckdb"


@dataclass
class Prepared:
    """Everything known before touching the disk."""

    spec: ParamsSpec
    pipeline: Pipeline
    plan: Plan


@dataclass
class DryRun:
    prepared: Prepared
    would_run: list[str]
    already_done: list[str]

    @property
    def plan(self) -> Plan:
        return self.prepared.plan


@dataclass
class RunResult:
    run_id: str
    plan: Plan
    catalog: str
    counts: Any
    failures: list = field(default_factory=list)
    interrupted: bool = False
    elapsed: float = 0.0

    @property
    def exit_code(self) -> int:
        """0 all done, 1 some job failed, 130 interrupted."""
        if self.interrupted:
            return 130
        return 1 if (self.counts.failed or self.counts.cancelled) else 0


def prepare(params: Any, *, pipeline: "str | Pipeline | None" = None, root: "str | os.PathLike" = DEFAULT_ROOT,
            max_configs: int | None = None, cwd: str | None = None) -> Prepared:
    """Parse and validate params and pipeline, expand the grid and plan the jobs."""
    spec = params if isinstance(params, ParamsSpec) else load_params(params)
    ref = pipeline if pipeline is not None else spec.pipeline
    if ref is None:
        raise ParamsError(f"{spec.source}: no pipeline: pass --pipeline or add 'pipeline: pkg.module.function()'")
    pipe = load_pipeline(ref, base_dir=spec.base_dir)
    rows = expand(spec, max_configs=max_configs)
    return Prepared(spec, pipe, make_plan(pipe, rows, root, cwd=cwd, source=spec.source))


def disk_state(job: Job) -> str:
    """'done' when the folder's done record names this job and its outputs exist, else 'planned'.

    Raises PlanError when the folder belongs to a different job (a short-id
    collision): we never overwrite another job's folder.
    """
    if not os.path.isdir(job.folder):
        return "planned"
    record = read_done(job.folder)
    owner = record.get("job_id") if record else read_config_id(job.folder)
    if owner is not None and owner != job.job_id:
        raise PlanError(f"short id collision: {job.folder} holds job {owner}, not {job.job_id}; "
                        f"move that folder away or use another --root")
    if record and all(os.path.exists(p) for p in job.outputs.values()):
        return "done"
    return "planned"


def dry_run(prepared: Prepared, *, skip_existing: bool = True) -> DryRun:
    """What a run would do; reads done records but writes nothing."""
    would_run, done = [], []
    for job in prepared.plan.jobs.values():
        state = disk_state(job)
        (done if (skip_existing and state == "done") else would_run).append(job.job_id)
    return DryRun(prepared, would_run, done)


def _git_sha(cwd: str) -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return (out.stdout.strip() or None) if out.returncode == 0 else None


def make_executor(backend: str, workers: int | None) -> Any:
    """The backend named ``backend`` (only 'local' so far)."""
    if backend == "local":
        from .execute.local import LocalExecutor

        return LocalExecutor(workers)
    raise ExecutionError(f"unknown backend {backend!r}: use 'local'")


def run(params: Any, *, pipeline: "str | Pipeline | None" = None, root: "str | os.PathLike" = DEFAULT_ROOT,
        catalog: "str | os.PathLike | None" = None, backend: str = "local", workers: int | None = None,
        max_configs: int | None = None, skip_existing: bool = True, fail_fast: bool = False,
        argv: list[str] | None = None, cwd: str | None = None,
        on_event: Callable[..., None] | None = None) -> RunResult:
    """Run the sweep end to end; see the module docstring."""
    from .catalog import Catalog
    from .execute.scheduler import Recorder, execute

    t0 = time.time()
    cwd = os.path.abspath(cwd or os.getcwd())
    prepared = prepare(params, pipeline=pipeline, root=root, max_configs=max_configs, cwd=cwd)
    the_plan = prepared.plan
    executor = make_executor(backend, workers)
    status = {job_id: disk_state(job) for job_id, job in the_plan.jobs.items()}
    if not skip_existing:
        status = dict.fromkeys(status, "planned")
    cat = Catalog(catalog or os.path.join(the_plan.root, CATALOG_NAME))
    run_id = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]
    cat.begin_run({
        "run_id": run_id,
        "argv": list(argv if argv is not None else sys.argv),
        "params_text": _params_text(prepared.spec, params),
        "pipeline_ref": prepared.pipeline.ref,
        "root": the_plan.root,
        "backend": executor.name,
        "workers": executor.capacity,
        "host": os.uname().nodename,
        "user": _user(),
        "pid": os.getpid(),
        "git_sha": _git_sha(cwd),
        "trackdag_version": __version__,
        "started": datetime.now(timezone.utc),
        "status": "running",
        "n_rows": len(the_plan.rows),
        "n_jobs": len(the_plan.jobs),
    })
    attempts = cat.register_plan(run_id, the_plan, status)
    to_run = [j for j in the_plan.jobs if status[j] != "done"]
    for job_id in to_run:
        write_job_folder(the_plan.jobs[job_id], the_plan)
    recorder = Recorder(cat, run_id)
    result = execute(the_plan, to_run, executor, recorder, attempts_before=attempts,
                     cached=len(the_plan.jobs) - len(to_run), fail_fast=fail_fast, on_event=on_event)
    counts = result.counts
    final = "cancelled" if result.interrupted else ("failed" if counts.failed else "done")
    cat.finish_run(run_id, final, {"n_done": counts.done, "n_failed": counts.failed,
                                   "n_skipped": counts.skipped, "n_cached": counts.cached}, time.time())
    return RunResult(run_id, the_plan, cat.path, counts, result.failures, result.interrupted, time.time() - t0)


def _params_text(spec: ParamsSpec, params: Any) -> str:
    if isinstance(params, (str, os.PathLike)) and os.path.isfile(os.fspath(params)):
        with open(os.fspath(params), encoding="utf-8") as fh:
            return fh.read()
    if isinstance(params, str):
        return params
    return json.dumps(spec.body, default=str)


def _user() -> str | None:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry in some containers
        return None


__all__ = ["prepare", "dry_run", "run", "disk_state", "Prepared", "DryRun", "RunResult", "CONFIG"]
