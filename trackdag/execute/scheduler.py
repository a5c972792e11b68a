"""The driver loop: submit jobs whose parents are done, collect outcomes, record them.

The driver keeps the DAG.  A job becomes ready when every parent is done; a
failed (or cancelled) job marks all its descendants ``skipped`` while
independent jobs go on.  Outcomes are written to the catalog in
micro-batches (at most about once a second), never one transaction per job.

Example:
    >>> counts = Counts()
    >>> counts.done += 1
    >>> counts.as_dict()['done']
    1
"""
from __future__ import annotations

import collections
import dataclasses
import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping

from ..errors import CatalogLockedError
from ..layout import INVOKE, STDERR
from .base import Executor, JobSpec, Outcome

if TYPE_CHECKING:
    from ..catalog import Catalog
    from ..plan import Job, Plan

FLUSH_SECONDS = 1.0


@dataclass
class Counts:
    """How many jobs ended in each state during this run."""

    done: int = 0
    failed: int = 0
    skipped: int = 0
    cancelled: int = 0
    #: already done before the run started (not executed again)
    cached: int = 0
    #: never started (after --fail-fast or Ctrl-C); they stay planned
    not_started: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class Failure:
    """A failed job, for the end-of-run summary."""

    job: "Job"
    outcome: Outcome

    @property
    def log(self) -> str:
        return os.path.join(self.job.folder, STDERR)


@dataclass
class ExecutionResult:
    counts: Counts
    failures: list[Failure] = field(default_factory=list)
    interrupted: bool = False


class Recorder:
    """Buffers state changes and attempts; writes them to the catalog in batches."""

    def __init__(self, catalog: "Catalog | None", run_id: str) -> None:
        self.catalog = catalog
        self.run_id = run_id
        self.states: list[dict[str, Any]] = []
        self.attempts: list[dict[str, Any]] = []
        #: (job_id, result row or None, error or None) of jobs that finished
        self.results: list[tuple[str, Any, str | None]] = []
        #: flushes put off because another process held the catalog
        self.delayed = 0
        self._last = time.monotonic()

    def state(self, job_id: str, status: str, **extra: Any) -> None:
        self.states.append({"job_id": job_id, "status": status, **extra})

    def outcome(self, outcome: Outcome) -> None:
        self.state(outcome.job_id, outcome.status, started=outcome.started, ended=outcome.ended,
                   attempts=outcome.attempt, error=outcome.error)
        self.attempts.append({
            "job_id": outcome.job_id, "attempt": outcome.attempt, "run_id": self.run_id,
            "status": outcome.status, "exit_code": outcome.exit_code, "signal": outcome.signal,
            "started": outcome.started, "ended": outcome.ended, "duration": outcome.duration,
            "host": outcome.host, "node_id": outcome.worker, "pid": outcome.pid, "peak_rss_kb": outcome.peak_rss_kb,
            "stderr_tail": outcome.stderr_tail, "error": outcome.error,
        })
        if outcome.status == "done":
            self.results.append((outcome.job_id, outcome.result, outcome.result_error))

    def maybe_flush(self) -> None:
        """Flush if a second has passed; a catalog locked by a reader only delays it.

        A notebook holding the catalog open must not abort a run: the batch
        stays buffered and goes in with the next flush.
        """
        if time.monotonic() - self._last >= FLUSH_SECONDS:
            try:
                self.flush()
            except CatalogLockedError:
                self.delayed += 1
                self._last = time.monotonic()

    def flush(self) -> None:
        if self.catalog is not None and (self.states or self.attempts or self.results):
            self.catalog.record(self.states, self.attempts, self.results)
        self.states, self.attempts, self.results = [], [], []
        self._last = time.monotonic()


def job_spec(plan: "Plan", job: "Job", attempt: int, env: Mapping[str, str] | None = None) -> JobSpec:
    """The frozen spec a worker needs for one attempt of ``job``."""
    node = plan.pipeline.nodes[job.node]
    # Only result nodes (Pipeline.result_nodes) read a result; without a
    # loader and a primary output the worker records "no result".
    primary = None
    if job.node in plan.pipeline.result_nodes and node.primary_out_key:
        primary = job.outputs.get(node.primary_out_key)
    return JobSpec(job.job_id, job.node, job.folder, ("bash", os.path.join(job.folder, INVOKE)),
                   dict(job.outputs), dict(node.resources), attempt,
                   load_result=node.load_result if node.has_load_result else None, primary_output=primary,
                   import_dir=plan.pipeline.import_dir, env=dict(env) if env else None)


def execute(plan: "Plan", to_run: list[str], executor: Executor, recorder: Recorder, *,
            attempts_before: Mapping[str, int] | None = None, cached: int = 0,
            fail_fast: bool = False, retry: int = 0,
            on_event: Callable[[str, "Job", Outcome | None], None] | None = None,
            on_tick: Callable[[], None] | None = None,
            env: Mapping[str, str] | None = None) -> ExecutionResult:
    """Run the ``to_run`` jobs of ``plan`` on ``executor``; every other plan job counts as done.

    A failed job is submitted again up to ``retry`` times (each attempt is
    recorded); only then does it count as failed and skip its descendants.
    With ``fail_fast`` no new job starts after the first failure; jobs left
    unstarted stay ``planned`` for the next run.  Ctrl-C (KeyboardInterrupt)
    cancels every running job and marks it cancelled.  ``env`` is added to
    every job's environment (on Ray, jobs otherwise see the worker's).

    The caller starts the executor before and closes it after (see
    :func:`trackdag.sweep.run`): with nothing to run, none is started.
    """
    attempts_before = attempts_before or {}
    counts = Counts(cached=cached)
    result = ExecutionResult(counts)
    pending = set(to_run)
    children = plan.children()
    waiting = {j: sum(1 for p in plan.jobs[j].parents if p in pending) for j in to_run}
    ready = collections.deque(j for j in to_run if waiting[j] == 0)  # plan order: parents first
    running: set[str] = set()
    tries: dict[str, int] = {}
    stop_submitting = False

    def emit(kind: str, job_id: str, outcome: Outcome | None = None) -> None:
        if on_event is not None:
            on_event(kind, plan.jobs[job_id], outcome)

    def skip_descendants(job_id: str) -> None:
        stack = list(children[job_id])
        while stack:
            child = stack.pop()
            if child in pending and child not in running:
                pending.discard(child)
                counts.skipped += 1
                recorder.state(child, "skipped", error=f"ancestor {plan.jobs[job_id].name} did not finish")
                emit("skipped", child)
                stack.extend(children[child])

    def note_started() -> None:
        now = time.time()
        for job_id in executor.take_started():
            recorder.state(job_id, "running", started=now)
            emit("started", job_id)

    def finish(outcome: Outcome) -> None:
        job_id = outcome.job_id
        running.discard(job_id)
        recorder.outcome(outcome)
        if outcome.status == "failed" and tries[job_id] <= retry and not stop_submitting:
            ready.appendleft(job_id)  # try again before anything new
            emit("retrying", job_id, outcome)
            return
        pending.discard(job_id)
        if outcome.status == "done":
            counts.done += 1
            for child in children[job_id]:
                if child in waiting:
                    waiting[child] -= 1
                    if waiting[child] == 0 and child in pending:
                        ready.append(child)
        else:
            if outcome.status == "cancelled":
                counts.cancelled += 1
            else:
                counts.failed += 1
                result.failures.append(Failure(plan.jobs[job_id], outcome))
            skip_descendants(job_id)
        emit(outcome.status, job_id, outcome)

    try:
        while pending:
            while ready and not stop_submitting and len(running) < executor.capacity:
                job_id = ready.popleft()
                if job_id not in pending or job_id in running:
                    continue
                tries[job_id] = tries.get(job_id, 0) + 1
                attempt = attempts_before.get(job_id, 0) + tries[job_id]
                executor.submit(job_spec(plan, plan.jobs[job_id], attempt, env))
                running.add(job_id)
                recorder.state(job_id, "queued", ended=None, attempts=attempt, error=None)
            note_started()
            if not running:
                break  # nothing can make progress (fail-fast, or everything left was skipped)
            outcomes = executor.wait(0.2)
            note_started()
            for outcome in outcomes:
                finish(outcome)
                if outcome.status == "failed" and outcome.job_id not in running and outcome.job_id not in ready:
                    stop_submitting = stop_submitting or fail_fast
            recorder.maybe_flush()
            if on_tick is not None:
                on_tick()
        counts.not_started = len(pending)  # --fail-fast: these stay planned
    except KeyboardInterrupt:
        result.interrupted = True
        stop_submitting = True
        executor.cancel()
        deadline = time.monotonic() + 10
        while running and time.monotonic() < deadline:
            for outcome in executor.wait(0.2):
                if outcome.status == "failed" and (outcome.signal or (outcome.error or "").startswith("worker died")):
                    # killed by our own cancellation (or its actor was): that is a cancel
                    outcome = dataclasses.replace(outcome, status="cancelled", error=f"cancelled ({outcome.error})")
                finish(outcome)
        for job_id in running:
            recorder.state(job_id, "cancelled", ended=time.time(), error="interrupted")
            counts.cancelled += 1
        counts.not_started = len(pending) - len(running)
    finally:
        recorder.flush()
    return result
