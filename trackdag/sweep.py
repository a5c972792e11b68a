"""The straight path of one ``trackdag run``: params -> rows -> plan -> catalog -> folders -> execution.

:func:`prepare` does everything that only reads (parse, validate, plan);
:func:`dry_run` reports what a run would do and writes nothing at all;
:func:`run` registers the run and its jobs in the catalog, executes the jobs that need
to run, each job's folder written just before the job is submitted (so the
first job starts at once, whatever the sweep's size), and records every outcome.
Re-running the same command is a resume: jobs whose done record matches
their id are not run again.  ``limit`` / ``order`` / ``seed`` (``run --limit
N --order spread``) take only N rows not yet complete (see :mod:`trackdag.order`).
``rerun`` (``run --rerun SELECTOR``) redoes chosen done jobs, their old outputs
moved aside first (see :mod:`trackdag.rerun`).

Example:
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (root / 'p.yaml').write_text("nodes: {a: {executable: echo, out_paths: {dir: '.'}, algo_params: {n: 1}}}")
    >>> res = run({"a.n": [1, 2]}, pipeline=str(root / "p.yaml"), root=root / "out", backend="local")
    >>> res.counts.done, res.exit_code
    (2, 0)
"""
from __future__ import annotations

import contextlib
import getpass
import json
import os
import signal
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterable

from . import __version__
from .api import catalog_path
from .errors import ExecutionError, ParamsError, PlanError
from .paths import PathError, check_dir, check_file, make_dir
from .layout import is_done, read_config_id, read_done, write_job_folder
from .matrix import DEFAULT_GRID_LIMIT, ParamsSpec, expand, gives_no_params, load_params
from .order import Fill, check_fill, filled_rows, plan_fill
from .orphans import stop_orphans
from .pipeline import Pipeline, load_pipeline
from .plan import Job, Plan, plan as make_plan

DEFAULT_ROOT = "trackdag_output"


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
    #: why the real run would fail before running anything (an unwritable root), or None
    problem: str | None = None
    #: what ``--limit`` / ``--order`` would take, or None
    fill: Fill | None = None
    #: with ``rerun``: the done jobs it would redo (a :class:`trackdag.rerun.Rerun`), or None
    rerun: Any = None

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
    #: set when a reader held the catalog at the end: who; the job folders keep what it lacks
    catalog_held: str | None = None
    #: with ``limit`` / ``order``: what the run took of the sweep and how much is filled
    fill: Fill | None = None
    #: with ``rerun``: the done jobs it redid (a :class:`trackdag.rerun.Rerun`), or None
    rerun: Any = None

    @property
    def exit_code(self) -> int:
        """0 all done, 1 some job failed, 130 interrupted."""
        if self.interrupted:
            return 130
        return 1 if (self.counts.failed or self.counts.cancelled) else 0


def prepare(params: Any, *, pipeline: "str | Pipeline | None" = None, root: "str | os.PathLike" = DEFAULT_ROOT,
            max_configs: int | None = None, grid_limit: int | None = DEFAULT_GRID_LIMIT,
            cwd: str | None = None, slurm_options: Any = None, params_pipeline_first: bool = False,
            max_cpus: float | None = None, max_gpus: float | None = None,
            out_overrides: bool = False, kwdagger_rows: bool = False) -> Prepared:
    """Parse and validate params and pipeline, expand the grid and plan the jobs.

    ``--pipeline`` beats the params' ``pipeline:`` key, unless
    ``params_pipeline_first`` (KWDagger's rule, for ``trackdag schedule``).
    ``slurm_options``: the least specific layer of Slurm options (KWDagger's
    ``--slurm_options``), under the params' own.  ``max_cpus`` /
    ``max_gpus``: no job asks for more CPUs / GPUs than this (see
    :mod:`trackdag.caps`, for ``trackdag schedule``'s serial and tmux).  ``out_overrides``: rows
    may name outputs' files (KWDagger's rule, for ``trackdag schedule``; see
    :func:`trackdag.plan.plan`).  ``kwdagger_rows`` (KWDagger's rules, for
    ``trackdag schedule``): params naming no parameter at all are one row of
    defaults, an input with no value gets the text ``None``, and a row may
    set a connected input, which then beats the connection (see
    ``missing_as_none`` and ``connected_overrides`` in :func:`trackdag.plan.plan`).
    """
    spec = params if isinstance(params, ParamsSpec) else load_params(params)
    ref = pipeline if pipeline is not None else spec.pipeline
    if params_pipeline_first and spec.pipeline is not None:
        ref = spec.pipeline
    if ref is None:
        raise ParamsError(f"{spec.source}: no pipeline: pass --pipeline or add 'pipeline: pkg.module.function()'")
    pipe = load_pipeline(ref, base_dir=spec.base_dir)
    rows = [{}] if kwdagger_rows and gives_no_params(spec) else \
        expand(spec, max_configs=max_configs, grid_limit=grid_limit)
    from .slurm_options import merge

    the_plan = make_plan(pipe, rows, root, cwd=cwd, source=spec.source,
                         slurm_options=merge(slurm_options, spec.slurm_options), out_overrides=out_overrides,
                         missing_as_none=kwdagger_rows, connected_overrides=kwdagger_rows)
    if max_cpus is not None or max_gpus is not None:
        from .caps import cap_resources

        the_plan = cap_resources(the_plan, max_cpus=max_cpus, max_gpus=max_gpus)
    return Prepared(spec, pipe, the_plan)


def disk_state(job: Job) -> str:
    """'done' when the folder's done record names this job and its outputs exist, else 'planned'.

    Raises PlanError when the folder belongs to a different job (a short-id
    collision): we never overwrite another job's folder.
    """
    record = read_done(job.folder)  # (no folder, or a file in its place: no record and no config, 'planned')
    owner = record.get("job_id") if record else read_config_id(job.folder)
    if owner is not None and owner != job.job_id:
        raise PlanError(f"short id collision: {job.folder} holds job {owner}, not {job.job_id}; "
                        f"move that folder away or use another --root")
    return "done" if record and is_done(job, record) else "planned"


def done_on_disk(plan: Plan) -> set[str]:
    """The jobs of ``plan`` whose folders say 'done' (see :func:`disk_state`), reading each node's listing once.

    A job whose folder is not in its node's listing is not done, without a
    look of its own (most of a new sweep's jobs); a new sweep's root, with
    no job folder at all, costs one listing per node.
    """
    from operator import attrgetter

    listed: dict[str, "set[str] | None"] = {}
    for parent in set(map(attrgetter("node_dir"), plan.jobs.values())):
        try:
            listed[parent] = set(os.listdir(parent))
        except FileNotFoundError:
            listed[parent] = set()
        except OSError:
            listed[parent] = None  # unreadable: ask each folder (and report what it says)
    if not any(names is None or names for names in listed.values()):
        return set()
    done = set()
    for job_id, job in plan.jobs.items():
        names = listed[job.node_dir]
        if (names is None or (names and job.name in names)) and disk_state(job) == "done":
            done.add(job_id)
    return done


def disk_states(plan: Plan) -> dict[str, str]:
    """:func:`disk_state` of every job of ``plan`` (see :func:`done_on_disk`), in plan order."""
    return _states(plan.jobs, done_on_disk(plan))


def _states(job_ids: "Iterable[str]", done: "Iterable[str]") -> dict[str, str]:
    """'done' for the jobs ``done``, 'planned' for the other ``job_ids``, in their order."""
    out = dict.fromkeys(job_ids, "planned")
    out.update(dict.fromkeys(done, "done"))
    return out


def check_targets(root: str, catalog: "str | os.PathLike | None") -> str:
    """Raise PathError unless the root and the catalog can be written; returns the catalog's path.

    Leaves nothing behind (see :mod:`trackdag.paths`), so a bad ``--root``
    never leaves a lock file, a catalog or an empty folder.
    """
    path = os.path.abspath(catalog_path(root, catalog))
    check_dir(root, "--root")
    check_file(path, "--catalog" if catalog is not None else "the catalog")
    return path


def dry_run(prepared: Prepared, *, skip_existing: bool = True, catalog: "str | os.PathLike | None" = None,
            limit: int | None = None, order: str | None = None, seed: int | None = None,
            rerun: "Iterable[str]" = (), downstream: bool = True) -> DryRun:
    """What a run would do; reads done records but writes nothing (not even the root).

    With ``limit`` / ``order`` the plan is the one the run would take (see
    :func:`trackdag.order.plan_fill`), and ``fill`` says which rows.
    ``rerun``: as :func:`run`'s (``DryRun.rerun`` says what would be redone).
    """
    limit, order, seed = check_fill(limit, order, seed)
    jobs = prepared.plan.jobs
    on_disk = done_on_disk(prepared.plan)
    skipped = {j for j in on_disk if not jobs[j].redo} if skip_existing else set()
    selection = None
    if rerun:
        selection = _select_rerun(prepared.plan, _states(jobs, on_disk), rerun, downstream, catalog_path(prepared.plan.root, catalog))
        skipped.difference_update(selection.job_ids)
    fill = None
    if limit is not None or order is not None:
        restricted, fill = plan_fill(prepared.plan, _states(jobs, skipped), limit, order, seed)
        prepared = Prepared(prepared.spec, prepared.pipeline, restricted)
        selection = selection.within(restricted.jobs) if selection is not None else None
    if skipped:
        would_run = [j for j in prepared.plan.jobs if j not in skipped]
        done = [j for j in prepared.plan.jobs if j in skipped]
    else:  # (a new sweep: a million job ids in one copy)
        would_run, done = list(prepared.plan.jobs), []
    try:
        check_targets(prepared.plan.root, catalog)
        problem = None
    except PathError as exc:
        problem = str(exc)
    return DryRun(prepared, would_run, done, problem, fill, selection)


def _select_rerun(plan: Plan, disk: dict[str, str], rerun: "Iterable[str]", downstream: bool,
                  catalog: "str | None") -> Any:
    """``rerun``'s selection (see :func:`trackdag.rerun.select`), or None without selectors."""
    if not rerun:
        return None
    from .rerun import select

    return select(plan, disk, rerun, downstream=downstream, catalog=catalog and os.path.abspath(catalog))


BACKENDS = ("ray", "local")


def make_executor(backend: str, workers: int | None, *, ray_address: str | None = None,
                  root: str | None = None, ray_timeout: float | None = None, devices: Any = None) -> Any:
    """The executor for ``backend``: 'ray' (default) or 'local' (``devices``: its GPUs, default detected)."""
    if backend == "local":
        from .execute.local import LocalExecutor

        return LocalExecutor(workers, devices=devices)
    if backend == "ray":
        from .execute.ray_backend import RayExecutor

        return RayExecutor(workers, address=ray_address, connect_timeout=ray_timeout,
                           log_link=os.path.join(root, "ray-logs") if root else None)
    raise ExecutionError(f"unknown backend {backend!r}: use one of {', '.join(BACKENDS)}")


class _Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C: cancel running jobs, record, exit 130."""


def _raise_terminated(signum: int, frame: Any) -> None:
    raise _Terminated()


def run(params: Any, *, pipeline: "str | Pipeline | None" = None, root: "str | os.PathLike" = DEFAULT_ROOT,
        catalog: "str | os.PathLike | None" = None, backend: str = "ray", workers: int | None = None,
        ray_address: str | None = None, ray_timeout: float | None = None,
        max_configs: int | None = None, grid_limit: int | None = DEFAULT_GRID_LIMIT, skip_existing: bool = True,
        limit: int | None = None, order: str | None = None, seed: int | None = None,
        fail_fast: bool = False, retry: int = 0, env: "dict[str, str] | None" = None,
        timeout: float | None = None, log_limit: int | None = None, hash_outputs: bool = False,
        devices: Any = None, slurm_options: Any = None, params_pipeline_first: bool = False,
        max_cpus: float | None = None, max_gpus: float | None = None, out_overrides: bool = False,
        kwdagger_rows: bool = False, rerun: "Iterable[str]" = (), downstream: bool = True,
        argv: list[str] | None = None, cwd: str | None = None,
        on_event: Callable[..., None] | None = None, on_tick: Callable[[], None] | None = None,
        on_plan: Callable[[Plan, int], None] | None = None) -> RunResult:
    """Run the sweep end to end; see the module docstring.

    Only one run may be active per root (see :mod:`trackdag.lock`); what a
    killed driver left behind (runs and jobs marked running, orphaned job
    processes) is cleaned up first, and its unfinished jobs run again.
    SIGTERM is handled like Ctrl-C.  ``env`` is added to every job's
    environment: local jobs inherit this process's environment, Ray jobs the
    Ray worker's (for a private Ray, the same; on a cluster, the node's).
    ``on_plan(plan, n_to_run)`` is called
    once the work is known (the CLI starts its progress display there).
    ``limit``: take at most this many rows not yet complete (a row is
    complete when all its jobs are done), chosen by ``order`` (``matrix``,
    ``random`` with ``seed``, default 0, or ``spread``); complete rows stay
    in the run as already done, so the run's rows say how much of the sweep
    is filled (``RunResult.fill``).  ``order`` without ``limit`` runs every
    row in that order.  ``rerun``: selectors of done jobs to run again (and,
    with ``downstream``, the done jobs below them), their outputs moved aside
    first (see :mod:`trackdag.rerun`; ``RunResult.rerun`` says which).
    """
    from .catalog import Catalog
    from .execute.scheduler import JobOptions, Recorder, execute
    from .gcpause import settled
    from .lock import RunLock
    from .provenance import run_provenance
    from .records import write_run
    from .registration import INLINE_JOBS, FolderAttempts, Registration
    from .reindex import recover

    t0 = time.time()
    limit, order, seed = check_fill(limit, order, seed)
    cwd = os.path.abspath(cwd or os.getcwd())
    prepared = prepare(params, pipeline=pipeline, root=root, max_configs=max_configs, grid_limit=grid_limit,
                       cwd=cwd, slurm_options=slurm_options, params_pipeline_first=params_pipeline_first,
                       max_cpus=max_cpus, max_gpus=max_gpus, out_overrides=out_overrides,
                       kwdagger_rows=kwdagger_rows)
    the_plan = prepared.plan
    executor = make_executor(backend, workers, ray_address=ray_address, root=the_plan.root,
                             ray_timeout=ray_timeout, devices=devices)
    run_id = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]
    cat = Catalog(check_targets(the_plan.root, catalog))
    if rerun and not os.path.isdir(the_plan.root):  # nothing is done yet: a bad selector fails before any write
        _select_rerun(the_plan, {}, rerun, downstream, None)
    make_dir(the_plan.root, "--root")
    # (settled: the plan lives as long as the run, out of the collector's passes; see trackdag.gcpause)
    # A small plan's start (schema, recovery, provenance, runs row, plan) through one open catalog
    # (Catalog.kept); not with --rerun: its selectors read the catalog through a sandboxed connection.
    keep = len(the_plan.jobs) <= INLINE_JOBS and not rerun
    start = cat.kept() if keep else contextlib.nullcontext()
    with RunLock(the_plan.root, run_id=run_id), settled(), contextlib.ExitStack() as kept:
        kept.enter_context(start)
        cat.ensure_schema()
        now = time.time()
        orphans = stop_orphans(the_plan.root, now, hash_outputs=hash_outputs)
        status = disk_states(the_plan)
        # What the folders know and the catalog missed (a dead driver, a reader, a deleted catalog).
        recover(cat, the_plan.root, the_plan, status, now, orphans)
        selection = _select_rerun(the_plan, status, rerun, downstream, cat.path)  # --rerun: on the disk's states
        if not skip_existing:
            status = dict.fromkeys(status, "planned")
        status.update({j: "planned" for j, job in the_plan.jobs.items() if job.redo})  # <node>.__enabled__: redo
        status.update(dict.fromkeys(selection.job_ids if selection else (), "planned"))  # --rerun: the same path
        fill = None
        if limit is not None or order is not None:
            the_plan, fill = plan_fill(the_plan, status, limit, order, seed)
            on_event = _DoneIds(the_plan, status, on_event)
            selection = selection.within(the_plan.jobs) if selection is not None else None
        to_run = [j for j in the_plan.jobs if status[j] != "done"]
        final = "failed"
        result = None
        begun = False
        handlers = {}
        if threading.current_thread() is threading.main_thread():
            handlers = {signal.SIGTERM: signal.signal(signal.SIGTERM, _raise_terminated),
                        signal.SIGINT: signal.getsignal(signal.SIGINT)}
        run_row = {
            "run_id": run_id,
            "argv": list(argv if argv is not None else sys.argv),
            "params_text": _params_text(prepared.spec, params),
            "pipeline_ref": prepared.pipeline.ref,
            "root": the_plan.root,
            "backend": executor.name,
            "workers": workers,
            "host": os.uname().nodename,
            "user": _user(),
            "pid": os.getpid(),
            **run_provenance(cwd, the_plan.root, cat),  # python, env, git commit/dirty/diff (cwd's repo)
            "trackdag_version": __version__,
            "started": datetime.now(timezone.utc),
            "status": "running",
            "n_rows": len(the_plan.rows),
            "n_jobs": len(the_plan.jobs),
        }
        recorder = Recorder(cat, run_id, the_plan)
        try:
            if to_run:  # an executor only when there is work: a private Ray costs seconds
                executor.check(resource_requests(the_plan, to_run))
                executor.start()  # an unreachable cluster fails here, before the run is recorded
            fill_record = {} if fill is None else {"row_limit": fill.limit, "row_order": fill.order,
                                                   "row_seed": fill.seed, "rows_taken": list(fill.taken)}
            write_run(the_plan.root, {**run_row, **fill_record})  # the record first, then its index
            begun = True
            # The rows file, the runs row and the plan go in beside the first jobs (see trackdag.registration).
            registration = Registration(cat, run_row, the_plan, status)  # started once the first jobs are
            recorder.registration = registration                          # submitted (execute's `submitted`)
            if len(the_plan.jobs) <= INLINE_JOBS:  # a small plan: in the catalog before its first job
                registration.wait()  # (starts it; its error is the recorder's, as in the background)
            if selection is not None:
                from .rerun import set_aside

                for job_id in selection.job_ids:  # the previous done attempt's outputs, moved aside (kept)
                    set_aside(the_plan.jobs[job_id].folder, job_id, run_id)
            kept.close()  # (readers may come in from here on)
            if on_plan is not None:
                on_plan(the_plan, len(to_run))
            options = JobOptions(env=env, run_id=run_id, timeout=timeout, log_limit=log_limit,
                                 hash_outputs=hash_outputs)
            result = execute(the_plan, to_run, executor, recorder, attempts_before=FolderAttempts(the_plan.jobs),
                             cached=len(the_plan.jobs) - len(to_run), fail_fast=fail_fast, retry=retry,
                             on_event=on_event, on_tick=on_tick, options=options,
                             write_folder=lambda job, command=None: write_job_folder(job, the_plan, command=command),
                             submitted=registration.start)
            counts = result.counts
            final = "cancelled" if result.interrupted else (
                "failed" if counts.failed or result.write_error else "done")
        except KeyboardInterrupt:  # before or after execute(): nothing left running
            final = "cancelled"
            raise
        finally:
            try:
                executor.close()
            finally:
                if begun:
                    _finish_run(cat, recorder, run_id, the_plan.root, final, result)
                for sig, handler in handlers.items():
                    signal.signal(sig, handler)
    if result is not None and result.write_error is not None:
        raise result.write_error  # a full or read-only disk: the jobs it left stay planned for the next run
    if recorder.error is not None:
        # The jobs ran and their folders hold every outcome; the catalog could not be written.
        raise type(recorder.error)(f"{recorder.error} (the run went on: {result.counts.done} jobs done, "
                                   f"{result.counts.failed} failed)")
    if fill is not None:
        import dataclasses

        fill = dataclasses.replace(fill, filled=filled_rows(the_plan, on_event.done))
    return RunResult(run_id, the_plan, cat.path, result.counts, result.failures, result.interrupted,
                     time.time() - t0, catalog_held=recorder.holder, fill=fill, rerun=selection)


class _DoneIds:
    """Passes the run's events on and keeps the ids of the jobs done (for ``RunResult.fill``)."""

    def __init__(self, plan: Plan, status: dict[str, str], then: Callable[..., None] | None) -> None:
        self.done = {j for j in plan.jobs if status.get(j) == "done"}
        self.then = then

    def __call__(self, kind: str, job: Job, outcome: Any) -> None:
        if kind == "done":
            self.done.add(job.job_id)
        if self.then is not None:
            self.then(kind, job, outcome)


def resource_requests(plan: Plan, job_ids: Any) -> dict[str, Any]:
    """The distinct resource requests of ``job_ids``, named by node (``node (2)`` for a second shape)."""
    out: dict[str, Any] = {}
    seen: dict[str, list] = {}
    for job_id in job_ids:
        job = plan.jobs[job_id]
        shapes = seen.setdefault(job.node, [])
        if job.resources not in shapes:
            shapes.append(job.resources)
            out[job.node if len(shapes) == 1 else f"{job.node} ({len(shapes)})"] = job.resources
    return out


def _finish_run(cat: Any, recorder: Any, run_id: str, root: str, final: str, result: Any) -> None:
    """Close the run: its record on disk, then the catalog (unless a reader holds it: the next writer does)."""
    from .errors import CatalogError, CatalogLockedError
    from .records import update_run, write_pending

    counts_row = {}
    if result is not None:
        c = result.counts
        counts_row = {"n_done": c.done, "n_failed": c.failed, "n_skipped": c.skipped, "n_cached": c.cached}
    ended = time.time()
    update_run(root, run_id, status=final, ended=ended, **counts_row)
    # stopped before execute(): the runs row may still be on its way (only what has outcomes, when cancelled)
    recorder.registered(wait=True, hurry=final == "cancelled")
    if recorder.pending is not None or recorder.error is not None:
        return  # the catalog is held or gone: the run's end is in its record, for the next writer
    try:
        cat.finish_run(run_id, final, counts_row, ended, timeout=recorder.final_wait)
    except CatalogLockedError as exc:
        recorder.holder = str(exc)
        recorder.pending = write_pending(root, run_id, [])
    except CatalogError as exc:
        recorder.error = exc


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


__all__ = ["prepare", "dry_run", "run", "disk_state", "disk_states", "done_on_disk", "Prepared", "DryRun", "RunResult"]
