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
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping

from ..errors import CatalogError, CatalogLockedError
from ..layout import INVOKE, STDERR
from ..shellwords import direct_argv
from ..records import attempt_record, unwritten_note, write_attempt, write_pending
from .base import Executor, JobSpec, Outcome

if TYPE_CHECKING:
    from ..catalog import Catalog
    from ..plan import Job, Plan

#: seconds between micro-batches (TRACKDAG_FLUSH_SECONDS; tests stretch it to kill a driver between a job and its batch)
FLUSH_SECONDS = float(os.environ.get("TRACKDAG_FLUSH_SECONDS", "1.0"))
#: a batch waits at least this many times as long as the last one took to write, so that the catalog's
#: writes take at most 1/20 of a busy run's time (a batch costs ~0.1 s however few jobs it holds) ...
BATCH_SPACING = 20
#: ... but the catalog is never further behind than this many seconds (or FLUSH_SECONDS, when longer)
MAX_FLUSH_SECONDS = 5.0


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
    #: why no more jobs were started: a job folder the disk refused (full, read-only); the rest stay planned
    write_error: OSError | None = None


class Recorder:
    """Buffers state changes and attempts; writes them to the catalog in batches.

    The job folders already hold every attempt and result (the runner wrote
    them), so the catalog only has to catch up: a flush during the run tries
    the catalog's lock once and, when a reader holds it, keeps the batch for
    the next one.  The run never waits for a reader.  Batches are a second
    apart, more when writing one takes long (:data:`BATCH_SPACING`), at most
    :data:`MAX_FLUSH_SECONDS`.  The last flush waits
    up to ``final_wait`` seconds; if the catalog is still held, the folders
    with unrecorded outcomes are noted in ``<root>/.trackdag/pending/`` and
    the next ``trackdag run`` or ``trackdag reindex`` records them.
    """

    def __init__(self, catalog: "Catalog | None", run_id: str, plan: "Plan | None" = None,
                 final_wait: float | None = None, registration: Any = None) -> None:
        from ..catalog.connection import lock_timeout

        self.catalog = catalog
        #: the run's :class:`trackdag.registration.Registration`: no batch is written before it is done
        self.registration = registration
        self.run_id = run_id
        self.plan = plan
        #: how long the last flush waits for a reader: 10 s, or TRACKDAG_LOCK_TIMEOUT when shorter
        self.final_wait = min(10.0, lock_timeout()) if final_wait is None else final_wait
        self.states: list[dict[str, Any]] = []
        self.attempts: list[dict[str, Any]] = []
        #: (job_id, result row or None, error or None) of jobs that finished
        self.results: list[tuple[str, Any, str | None]] = []
        #: flushes put off because another process held the catalog
        self.delayed = 0
        #: set when the final flush could not reach the catalog: the file naming the folders it owes
        self.pending: str | None = None
        #: who held the catalog then
        self.holder: str | None = None
        #: why the catalog could not be written at all (gone, read-only, full disk): the run goes on
        #: (the folders keep every outcome) and ends with this error
        self.error: CatalogError | None = None
        self._last = time.monotonic()
        #: seconds between batches: FLUSH_SECONDS, more when writing one takes long (see BATCH_SPACING)
        self.interval = FLUSH_SECONDS
        self._writing: _BatchWrite | None = None  # the batch being written in the background

    def state(self, job_id: str, status: str, **extra: Any) -> None:
        self.states.append({"job_id": job_id, "status": status, **extra})

    def outcome(self, outcome: Outcome) -> None:
        self.state(outcome.job_id, outcome.status, started=outcome.started, ended=outcome.ended,
                   attempts=outcome.attempt, error=outcome.error)
        record = attempt_record(outcome, self.run_id)
        if not outcome.recorded and self.plan is not None:  # made by the driver: it keeps the record too
            try:
                write_attempt(self.plan.jobs[outcome.job_id].folder, record)
            except OSError as exc:  # the catalog still gets it, marked; the next run writes it in the folder
                record = {**record, "error": (record["error"] or "") + unwritten_note(exc)}
        self.attempts.append(record)
        if outcome.status == "done":
            self.results.append((outcome.job_id, outcome.result, outcome.result_error))

    def registered(self, wait: bool, hurry: bool = False) -> bool:
        """Whether the run's jobs are in the catalog (``wait``: until the registration ends); its error is ours.

        ``hurry``: the run is stopping; the registration need only take in the
        jobs this recorder has outcomes of (see :meth:`Registration.hurry`).
        """
        if self.registration is None:
            return True
        if hurry:
            self.registration.hurry({s["job_id"] for s in self.states} | {a["job_id"] for a in self.attempts})
        if not wait and not self.registration.done():
            return False
        error = self.registration.wait()
        self.registration = None
        if isinstance(error, CatalogError):
            self.error = self.error or error
        elif error is not None:
            raise error
        return True

    def maybe_flush(self) -> None:
        """Every :attr:`interval` seconds, start writing the batch so far in a thread of its own, without waiting.

        The scheduling loop goes on handing out jobs meanwhile (a catalog
        write takes tens of milliseconds, longer than a short job).  One
        batch is written at a time, in order; a reader holding the catalog
        only delays it (it comes back in front of the next one).
        """
        if not self.registered(wait=False):
            return
        if self._writing is not None:
            if self._writing.is_alive():
                return
            self.written()
        if self.error is None and time.monotonic() - self._last >= self.interval:
            batch = (self.states, self.attempts, self.results)
            self.states, self.attempts, self.results = [], [], []
            self._last = time.monotonic()
            if self.catalog is not None and any(batch):
                self._writing = _BatchWrite(self.catalog, batch)
                self._writing.start()

    def written(self) -> None:
        """Wait for the batch being written in the background, if any, and take in how it went."""
        write, self._writing = self._writing, None
        if write is None:
            return
        write.join()
        if write.error is None:
            self.interval = max(FLUSH_SECONDS, min(MAX_FLUSH_SECONDS, BATCH_SPACING * write.seconds))
            return
        # not written: back in front of what came since, as if it had never left
        self.states, self.attempts, self.results = (write.batch[0] + self.states, write.batch[1] + self.attempts,
                                                    write.batch[2] + self.results)
        if isinstance(write.error, CatalogLockedError):
            self.delayed += 1
        elif isinstance(write.error, CatalogError):
            self.error = self.error or write.error
        else:
            raise write.error

    def flush(self, timeout: float | None = None) -> None:
        """Write everything buffered now (after the batch in flight, if any), waiting up to ``timeout`` for a reader."""
        self.written()
        if self.error is not None:
            raise self.error
        if self.catalog is not None and (self.states or self.attempts or self.results):
            self.catalog.record(self.states, self.attempts, self.results, timeout=timeout)
        self.states, self.attempts, self.results = [], [], []
        self._last = time.monotonic()

    def finish(self, hurry: bool = False) -> None:
        """The last flush: wait a little for a reader, then leave the rest to the next writer (see the class).

        ``hurry``: the run was interrupted (see :meth:`registered`).
        """
        try:
            self.registered(wait=True, hurry=hurry)
            if self.error is not None:
                raise self.error
            self.flush(timeout=self.final_wait)
        except CatalogError as exc:
            if not isinstance(exc, CatalogLockedError):
                self.error = exc
                self.states, self.attempts, self.results = [], [], []
                return
            self.holder = str(exc)
            if self.plan is not None:
                ids = {s["job_id"] for s in self.states} | {a["job_id"] for a in self.attempts}
                self.pending = write_pending(self.plan.root, self.run_id,
                                             [self.plan.jobs[j].folder for j in ids if j in self.plan.jobs])
            self.states, self.attempts, self.results = [], [], []


class _BatchWrite(threading.Thread):
    """One batch of states, attempts and results going into the catalog (trying its lock once)."""

    def __init__(self, catalog: "Catalog", batch: tuple[list, list, list]) -> None:
        super().__init__(name="trackdag-catalog-write", daemon=True)
        self.catalog = catalog
        self.batch = batch
        self.error: BaseException | None = None
        #: how long the write took (wall clock: the catalog is locked meanwhile)
        self.seconds = 0.0

    def run(self) -> None:
        started = time.monotonic()
        try:
            self.catalog.record(*self.batch, timeout=0)
        except BaseException as exc:  # taken in by Recorder.written, in the scheduling thread
            self.error = exc
        self.seconds = time.monotonic() - started


@dataclass(frozen=True)
class JobOptions:
    """Per-run settings every job spec carries (``trackdag run`` options)."""

    env: Mapping[str, str] | None = None
    run_id: str | None = None
    #: seconds per attempt (a node's own ``timeout`` attribute wins); None: no limit
    timeout: float | None = None
    log_limit: int | None = None
    hash_outputs: bool = False


def shield_interrupts() -> None:
    """From now on Ctrl-C and SIGTERM only say that the run is stopping (main thread only).

    The first one cancels the jobs; the clean-up (killing process groups,
    recording every outcome, closing the run) takes a few seconds and must
    finish, or jobs and the run would stay 'running' in the catalog.  The
    caller restores the handlers (:func:`trackdag.sweep.run` does).
    """
    import signal
    import sys
    import threading

    if threading.current_thread() is not threading.main_thread():
        return

    def note(signum: int, frame: Any) -> None:
        print("trackdag: stopping: killing the running jobs and recording them (a few seconds)", file=sys.stderr)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, note)


#: this host's name, as the runners record it (one uname per process, not one per job)
HOST = socket.gethostname()


def job_spec(plan: "Plan", job: "Job", attempt: int, env: Mapping[str, str] | None = None,
             options: JobOptions | None = None, command: str | None = None) -> JobSpec:
    """The frozen spec a worker needs for one attempt of ``job`` (``command``: its ``job.command``, when known)."""
    options = options or JobOptions(env=env)
    env = options.env if env is None else env
    node = plan.pipeline.nodes[job.node]
    # Only result nodes (Pipeline.result_nodes) read a result; without a
    # loader and a primary output the worker records "no result".
    primary = None
    if job.node in plan.pipeline.result_nodes and node.primary_out_key:
        primary = job.outputs.get(node.primary_out_key)
    return JobSpec(job.job_id, job.node, job.folder, ("bash", os.path.join(job.folder, INVOKE)),
                   dict(job.outputs), dict(job.resources), attempt,
                   load_result=node.load_result if node.has_load_result else None, primary_output=primary,
                   import_dir=plan.pipeline.import_dir, env=dict(env) if env else None, run_id=options.run_id,
                   timeout=node.timeout if node.timeout is not None else options.timeout,
                   log_limit=options.log_limit, hash_outputs=options.hash_outputs,
                   driver=(HOST, os.getpid()),
                   direct=None if job.setup or job.teardown else direct_argv(
                       job.command if command is None else command))


def execute(plan: "Plan", to_run: list[str], executor: Executor, recorder: Recorder, *,
            attempts_before: Mapping[str, int] | None = None, cached: int = 0,
            fail_fast: bool = False, retry: int = 0,
            on_event: Callable[[str, "Job", Outcome | None], None] | None = None,
            on_tick: Callable[[], None] | None = None,
            options: JobOptions | None = None,
            write_folder: Callable[..., None] | None = None,
            submitted: Callable[[], None] | None = None) -> ExecutionResult:
    """Run the ``to_run`` jobs of ``plan`` on ``executor``; every other plan job counts as done.

    A failed job is submitted again up to ``retry`` times (each attempt is
    recorded); only then does it count as failed and skip its descendants.
    With ``fail_fast`` no new job starts after the first failure; jobs left
    unstarted stay ``planned`` for the next run.  Ctrl-C (KeyboardInterrupt)
    cancels every running job and marks it cancelled.  ``options`` carry
    the run's settings into every job spec: ``env`` is added to every job's
    environment (on Ray, jobs otherwise see the worker's), the per-job
    timeout, the log cap.

    ``write_folder(job, command=None)`` writes a job's folder (``command``:
    its ``job.command``, made once for the folder and the spec): just before its first
    attempt is submitted (so the first job starts without waiting for the
    others' folders), and when it is skipped (its folder is the record of
    that).  When it raises OSError before a submit (a full or read-only
    disk) no new job starts, the running ones finish and are recorded, and
    ``ExecutionResult.write_error`` says why; the jobs left stay planned.

    ``submitted()`` is called once, when the first jobs are submitted (or
    found to be none): :func:`trackdag.sweep.run` starts the plan's
    registration there, so that it does not slow the start of the first jobs.

    The caller starts the executor before and closes it after (see
    :func:`trackdag.sweep.run`): with nothing to run, none is started.
    """
    attempts_before = attempts_before or {}
    counts = Counts(cached=cached)
    result = ExecutionResult(counts)
    pending = set(to_run)
    children = plan.children()
    jobs = plan.jobs
    waiting = {}  # job -> how many of its parents are still to run
    for j in to_run:
        parents = jobs[j].parents
        waiting[j] = sum(1 for p in parents if p in pending) if parents else 0
    ready = collections.deque(j for j in to_run if waiting[j] == 0)  # plan order: parents first
    running: set[str] = set()
    tries: dict[str, int] = {}
    stop_submitting = False

    def emit(kind: str, job_id: str, outcome: Outcome | None = None) -> None:
        if on_event is not None:
            on_event(kind, plan.jobs[job_id], outcome)

    def skip_descendants(job_id: str) -> None:
        stack = list(children.get(job_id, ()))
        while stack:
            child = stack.pop()
            if child in pending and child not in running:
                pending.discard(child)
                counts.skipped += 1
                recorder.state(child, "skipped", error=f"ancestor {plan.jobs[job_id].name} did not finish")
                if write_folder is not None:
                    try:
                        write_folder(plan.jobs[child])  # reindex derives 'skipped' from its parents' folders
                    except OSError:
                        pass  # a full disk: the catalog still has the skip, and the next run plans the job again
                emit("skipped", child)
                stack.extend(children.get(child, ()))

    def note_started() -> None:
        now = time.time()
        for job_id in executor.take_started():
            recorder.state(job_id, "running", started=now)
            emit("started", job_id)

    def withdraw() -> None:
        """No new job starts: take back what the executor queued ahead; those jobs stay planned."""
        for job_id in executor.withdraw():
            running.discard(job_id)
            tries[job_id] -= 1  # (a retry taken back keeps the attempts it made)
            recorder.state(job_id, "planned", ended=None, attempts=attempts_before.get(job_id, 0) + tries[job_id],
                           error=None)

    def finish(outcome: Outcome) -> None:
        job_id = outcome.job_id
        running.discard(job_id)
        recorder.outcome(outcome)
        if outcome.status == "failed" and tries[job_id] <= retry and not stop_submitting:
            ready.appendleft(job_id)  # try again before anything not yet submitted
            emit("retrying", job_id, outcome)
            return
        pending.discard(job_id)
        if outcome.status == "done":
            counts.done += 1
            for child in children.get(job_id, ()):
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
            # (with a lookahead, the executor starts the jobs queued ahead as slots free: see Executor)
            while ready and not stop_submitting and len(running) < executor.capacity + executor.lookahead:
                job_id = ready.popleft()
                if job_id not in pending or job_id in running:
                    continue
                job = plan.jobs[job_id]
                command = job.command  # (made from the job's params each time it is asked for: once here)
                if write_folder is not None and job_id not in tries:
                    try:
                        write_folder(job, command)
                    except OSError as exc:
                        result.write_error = exc
                        stop_submitting = True
                        break
                tries[job_id] = tries.get(job_id, 0) + 1
                attempt = attempts_before.get(job_id, 0) + tries[job_id]
                executor.submit(job_spec(plan, job, attempt, options=options, command=command))
                running.add(job_id)
                recorder.state(job_id, "queued", ended=None, attempts=attempt, error=None)
            if stop_submitting:
                withdraw()
            if submitted is not None:
                submitted()
                submitted = None
            note_started()
            if not running:
                break  # nothing can make progress (fail-fast, or everything left was skipped)
            outcomes = executor.wait(0.2)
            note_started()
            for outcome in outcomes:
                finish(outcome)
                if outcome.status == "failed" and outcome.job_id not in running and outcome.job_id not in ready:
                    stop_submitting = stop_submitting or fail_fast
            if stop_submitting:
                withdraw()
            executor.dispatch()
            recorder.maybe_flush()
            if on_tick is not None:
                on_tick()
        counts.not_started = len(pending)  # --fail-fast: these stay planned
    except KeyboardInterrupt:
        result.interrupted = True
        stop_submitting = True
        shield_interrupts()  # a second Ctrl-C must not cut the clean-up short
        withdraw()  # (queued ahead, never started: they stay planned)
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
        recorder.finish(hurry=result.interrupted)
    return result
