"""The executor interface shared by every backend (local thread pool, Ray).

The driver hands a backend frozen :class:`JobSpec` objects and gets plain
:class:`Outcome` objects back.  Nothing here touches the catalog: workers
never open it (there is exactly one writer, the driver).

A backend implements these methods::

    check(requests)    refuse, before anything runs, resources it can never give
    start()            acquire resources (threads, a Ray cluster)
    capacity           how many jobs may be in flight at once
    lookahead          how many more it takes ahead, queued, to start as slots free (0: none)
    submit(spec)       start a job whose parents are done (it may queue)
    take_started()     jobs that left the backend's queue and started
    wait(timeout)      outcomes finished since the last call (may be empty)
    dispatch()         start what is queued and fits, once the outcomes were taken in
    withdraw()         take back the queued jobs that have not started
    cancel()           terminate every running job's process group
    close()            release everything

Example:
    >>> spec = JobSpec('abc', 'n', '/tmp/x', ('bash', '/tmp/x/invoke.sh'), {}, {}, 1)
    >>> spec.attempt
    1
"""
from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any, Mapping


@dataclass(frozen=True)
class JobSpec:
    """Everything a worker needs to run one attempt of a job."""

    job_id: str
    node: str
    folder: str
    argv: tuple[str, ...]
    outputs: Mapping[str, str]
    resources: Mapping[str, Any]
    attempt: int
    env: Mapping[str, str] | None = None
    #: the node's load_result (None: use the default loader); runs in the worker
    load_result: Any = None
    #: path of the primary output, for the default loader
    primary_output: str | None = None
    #: where the pipeline's module was imported from (to unpickle load_result)
    import_dir: str | None = None
    #: the run this attempt belongs to (recorded in the folder's attempt record)
    run_id: str | None = None
    #: seconds after which the job's process group is killed and the attempt fails (None: no limit)
    timeout: float | None = None
    #: bytes kept of stdout.log / stderr.log each (head and tail); None: TRACKDAG_LOG_LIMIT or 100 MiB; 0: all
    log_limit: int | None = None
    #: also keep a sha256 of each output file in the done record (trackdag verify --hash)
    hash_outputs: bool = False
    #: (host, pid) of the driver: a runner on the same host stops the job when the driver dies
    driver: tuple[str, int] | None = None
    #: the command's own words when ``invoke.sh`` would only cd and exec them (trackdag.shellwords.direct_argv):
    #: the runner starts them itself, in the folder, with invoke.sh's environment; ``argv`` if they cannot start
    direct: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Outcome:
    """What happened to one attempt, as plain data."""

    job_id: str
    attempt: int
    #: done, failed or cancelled
    status: str
    exit_code: int | None
    signal: int | None
    started: float
    ended: float
    host: str
    pid: int | None = None
    peak_rss_kb: int | None = None
    stderr_tail: str = ""
    #: why it failed when the exit code alone does not say (missing outputs, crash)
    error: str | None = None
    #: the result row of a done job (None: no result), or why it is broken
    result: Mapping[str, Any] | None = None
    result_error: str | None = None
    #: which worker ran it (the Ray node id; None for the local backend)
    worker: str | None = None
    #: True when the attempt record is already in the job folder (the runner wrote it)
    recorded: bool = False

    @property
    def duration(self) -> float:
        return max(0.0, self.ended - self.started)


class Executor(abc.ABC):
    """A backend that runs job specs; see the module docstring."""

    name: str = "abstract"
    #: jobs the scheduler may submit beyond :attr:`capacity`: the backend queues them and starts the
    #: next one itself as a job ends, without waiting for the scheduler (see :meth:`dispatch`)
    lookahead: int = 0

    @property
    @abc.abstractmethod
    def capacity(self) -> int:
        """Maximum number of jobs in flight."""

    def check(self, requests: Mapping[str, Mapping[str, Any]]) -> None:
        """Raise ExecutionError for a node's ``resources`` (node -> request) that can never be met.

        Called before :meth:`start`.  The default accepts everything (Ray
        checks each request against the cluster when a job is submitted).
        """

    def start(self) -> None:
        """Acquire resources; called once before the first submit."""

    @abc.abstractmethod
    def submit(self, spec: JobSpec) -> None:
        """Start running ``spec`` (its parents are done)."""

    @abc.abstractmethod
    def wait(self, timeout: float) -> list[Outcome]:
        """Return outcomes that finished, waiting at most ``timeout`` seconds for the first."""

    @abc.abstractmethod
    def take_started(self) -> list[str]:
        """Job ids that actually started since the last call.

        A backend that queues jobs internally (Ray waits for an actor with
        the right resources) reports a job here when it leaves that queue,
        so the catalog says 'queued' until then and 'running' after.
        """

    def dispatch(self) -> None:
        """Start the queued jobs that fit; the scheduler calls it after taking in :meth:`wait`'s outcomes.

        A backend with a :attr:`lookahead` starts no queued job by itself
        after an outcome that is not 'done' until :meth:`wait` has returned
        it, so that ``--fail-fast`` can :meth:`withdraw` the queue first.
        """

    def withdraw(self) -> list[str]:
        """Take back every queued job that has not started; their ids (they never ran: no outcome comes)."""
        return []

    @abc.abstractmethod
    def cancel(self) -> None:
        """Terminate every running job (whole process group)."""

    def close(self) -> None:
        """Release resources; called once at the end, even after errors."""

    def __enter__(self) -> "Executor":
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
