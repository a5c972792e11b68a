"""The local backend: a thread pool in the driver running jobs as subprocesses, within this machine's means.

No start-up cost, so it suits small runs and tests; ``--workers 1`` runs the
jobs one after another.  A node's ``resources`` are honoured the way Ray
honours them, on this one machine:

- ``num_cpus`` (default 1): a job takes that many of the ``--workers``
  slots, so ``--workers 4`` runs four 1-CPU jobs, or one 4-CPU job, at once;
- ``num_gpus``: jobs get devices from ``CUDA_VISIBLE_DEVICES`` (or, when it
  is unset, the GPUs ``nvidia-smi`` lists), round-robin, and each job sees
  only its own (``CUDA_VISIBLE_DEVICES`` is set for it; a job asking for no
  GPU sees none).  A fraction (``0.5``) shares a device with other
  fractions; a whole number takes that many devices for itself;
- ``memory`` (bytes): reserved from this machine's physical memory.

A request this machine can never satisfy (a GPU where there is none, more
CPUs than ``--workers``, more memory than it has, a custom resource) is
refused before any job runs (:meth:`LocalExecutor.check`).  Jobs start in
the order they were submitted: one that does not fit yet waits, and so do
the jobs behind it, so a big job is never starved by small ones.

The scheduler may submit as many jobs again as there are slots
(:attr:`~trackdag.execute.base.Executor.lookahead`): when a job ends well,
the thread that ran it starts the next queued one at once, instead of
waiting for the scheduler to take in the outcome and hand it a job (on a
2-core machine that wait was 40% of a short job's slot).  After an outcome
that is not 'done', nothing queued starts until the scheduler has seen it.

Example:
    >>> ex = LocalExecutor(workers=2, devices=[])
    >>> ex.capacity
    2
"""
from __future__ import annotations

import collections
import concurrent.futures as cf
import dataclasses
import math
import os
import queue
import subprocess
import threading
import time
from typing import Any, Iterable, Mapping

from ..errors import ExecutionError
from .base import Executor, JobSpec, Outcome
from .runner import HOST, ProcessTable, run_job

KNOWN = ("num_cpus", "num_gpus", "memory")


class ResourceError(ExecutionError):
    """A node asks for resources this machine cannot give (bad input: nothing ran)."""

    exit_code = 2


def detect_devices(environ: Mapping[str, str] | None = None) -> list[str]:
    """The GPU devices jobs may use: ``CUDA_VISIBLE_DEVICES`` when set, else those ``nvidia-smi`` lists.

    >>> detect_devices({'CUDA_VISIBLE_DEVICES': '0, 2'})
    ['0', '2']
    >>> detect_devices({'CUDA_VISIBLE_DEVICES': ''})
    []
    """
    environ = os.environ if environ is None else environ
    if "CUDA_VISIBLE_DEVICES" in environ:
        found = [d.strip() for d in environ["CUDA_VISIBLE_DEVICES"].split(",")]
        return [d for d in found if d and not d.startswith("-")]  # "-1" hides every device
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.stdout.splitlines() if line.strip()] if out.returncode == 0 else []


def _total_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return 0


@dataclasses.dataclass(frozen=True)
class _Need:
    cpus: float
    gpus: float
    memory: int


def _need(resources: Mapping[str, Any]) -> _Need:
    return _Need(float(resources.get("num_cpus", 1)), float(resources.get("num_gpus", 0) or 0),
                 int(resources.get("memory", 0) or 0))


class LocalExecutor(Executor):
    """Thread pool + subprocesses within this machine's CPUs, GPUs and memory; see the module docstring."""

    name = "local"

    def __init__(self, workers: int | None = None, devices: Iterable[str] | None = None) -> None:
        self.workers = max(1, workers or os.cpu_count() or 1)
        #: GPU devices, as CUDA_VISIBLE_DEVICES names them
        self.devices = list(devices) if devices is not None else detect_devices()
        self.memory = _total_memory()
        self._pool: cf.ThreadPoolExecutor | None = None
        self._futures: dict[cf.Future, tuple[JobSpec, _Need, dict[str, float]]] = {}
        self._finished: queue.SimpleQueue[cf.Future] = queue.SimpleQueue()  # futures, as they finish
        self._queue: collections.deque[JobSpec] = collections.deque()
        self._started: list[str] = []
        self._free_cpus = float(self.workers)
        self._free_gpus = {d: 1.0 for d in self.devices}
        self._free_memory = self.memory
        self._next_device = 0
        self._capacity = self.workers
        self.table = ProcessTable()
        #: guards the queue, the free resources and the futures: job threads start queued jobs too
        self._lock = threading.RLock()  # (re-entered when a job ended before its callback was added)
        #: outcomes that are not 'done' and that wait() has not returned yet: no queued job starts meanwhile
        self._unseen_failures = 0

    @property
    def lookahead(self) -> int:  # type: ignore[override]
        return self._capacity

    @property
    def capacity(self) -> int:
        return self._capacity

    def check(self, requests: Mapping[str, Mapping[str, Any]]) -> None:
        """Refuse, before anything runs, a node's request this machine can never satisfy."""
        problems = []
        smallest = 1.0
        for node, resources in requests.items():
            unknown = sorted(set(resources) - set(KNOWN))
            if unknown:
                problems.append(f"node {node!r} asks for {', '.join(map(repr, unknown))}, which the local backend "
                                "does not have (it knows num_cpus, num_gpus and memory): use --backend ray on a "
                                "cluster that declares it, or remove it from the node's resources")
                continue
            try:
                need = _need(resources)
            except (TypeError, ValueError):
                problems.append(f"node {node!r}: resources {dict(resources)!r} must be numbers")
                continue
            if min(need.cpus, need.gpus, need.memory) < 0 or not all(map(math.isfinite, (need.cpus, need.gpus))):
                problems.append(f"node {node!r}: resources {dict(resources)!r} must be zero or more")
            if need.cpus > self.workers:
                problems.append(f"node {node!r} asks for num_cpus={need.cpus:g} but --workers is {self.workers}: "
                                f"raise --workers to at least {math.ceil(need.cpus)}")
            if need.gpus and not self.devices:
                problems.append(f"node {node!r} asks for num_gpus={need.gpus:g} but this machine has no GPU "
                                "(CUDA_VISIBLE_DEVICES is unset or empty and nvidia-smi lists none)")
            elif need.gpus > len(self.devices) or (need.gpus > 1 and not need.gpus.is_integer()):
                problems.append(f"node {node!r} asks for num_gpus={need.gpus:g} but this machine has "
                                f"{len(self.devices)} ({', '.join(self.devices)}); more than one GPU must be a "
                                "whole number")
            if need.memory > self.memory > 0:
                problems.append(f"node {node!r} asks for memory={need.memory} bytes but this machine has "
                                f"{self.memory}")
            if 0 < need.cpus < smallest:
                smallest = need.cpus
        if problems:
            raise ResourceError("; ".join(problems))
        # Fractional CPUs let more jobs run at once than there are slots.
        self._capacity = max(self.workers, int(self.workers / smallest))

    def start(self) -> None:
        self.table.start()
        self._pool = cf.ThreadPoolExecutor(max_workers=self._capacity, thread_name_prefix="trackdag-job")

    # -- resources -----------------------------------------------------------------
    def _take_gpus(self, amount: float) -> dict[str, float] | None:
        """Devices for ``amount`` GPUs (device -> share), round-robin from the last one given; None if busy."""
        if not amount:
            return {}
        n = len(self.devices)
        order = [self.devices[(self._next_device + i) % n] for i in range(n)]
        if amount <= 1:
            picked = next((d for d in order if self._free_gpus[d] >= amount - 1e-9), None)
            chosen = {picked: amount} if picked is not None else None
        else:
            whole = [d for d in order if self._free_gpus[d] >= 1 - 1e-9][:int(amount)]
            chosen = dict.fromkeys(whole, 1.0) if len(whole) == int(amount) else None
        if chosen is None:
            return None
        for device, share in chosen.items():
            self._free_gpus[device] -= share
        last = self.devices.index(list(chosen)[-1])
        self._next_device = (last + 1) % n
        return chosen

    def _dispatch(self) -> None:
        """Start queued jobs in order while the next one fits (with the lock held)."""
        assert self._pool is not None, "start() first"
        while self._queue and not self._unseen_failures:
            spec = self._queue[0]
            need = _need(spec.resources)
            if need.cpus > self._free_cpus + 1e-9 or need.memory > self._free_memory:
                return
            gpus = self._take_gpus(need.gpus)
            if gpus is None:
                return
            self._queue.popleft()
            self._free_cpus -= need.cpus
            self._free_memory -= need.memory
            if self.devices:  # each job sees only its own devices (none when it asked for none)
                spec = dataclasses.replace(spec, env={**(spec.env or {}), "CUDA_VISIBLE_DEVICES": ",".join(gpus)})
            future = self._pool.submit(run_job, spec, self.table)
            self._futures[future] = (spec, need, gpus)
            self._started.append(spec.job_id)
            future.add_done_callback(self._ended)  # (at once, in this thread, if it already ended)

    def _ended(self, future: cf.Future) -> None:
        """In the job's thread as it ends: free its resources, start what is queued (after a 'done' only)."""
        try:
            ok = future.result().status == "done"
        except BaseException:  # (a bug in run_job; wait() reports it)
            ok = False
        try:
            with self._lock:
                spec, need, gpus = self._futures[future]
                self._release(need, gpus)
                if not ok:
                    self._unseen_failures += 1
                self._dispatch()
        finally:  # whatever happened here, wait() must hear of the job
            self._finished.put(future)

    def _release(self, need: _Need, gpus: Mapping[str, float]) -> None:
        self._free_cpus += need.cpus
        self._free_memory += need.memory
        for device, share in gpus.items():
            self._free_gpus[device] += share

    # -- the executor interface -------------------------------------------------------
    def submit(self, spec: JobSpec) -> None:
        with self._lock:
            self._queue.append(spec)
            self._dispatch()

    def dispatch(self) -> None:
        with self._lock:
            self._dispatch()

    def withdraw(self) -> list[str]:
        with self._lock:
            taken = [spec.job_id for spec in self._queue]
            self._queue.clear()
        return taken

    def take_started(self) -> list[str]:
        with self._lock:
            started, self._started = self._started, []
        return started

    def wait(self, timeout: float) -> list[Outcome]:
        if not self._futures:
            time.sleep(min(timeout, 0.05))
            return []
        # A queue the futures put themselves on as they finish: cf.wait would hook a waiter
        # into every running future at every call.
        try:
            done = [self._finished.get(timeout=timeout)]
        except queue.Empty:
            return []
        while not self._finished.empty():
            done.append(self._finished.get_nowait())
        outcomes = []
        for future in done:
            with self._lock:
                spec, _, _ = self._futures.pop(future)
            try:
                outcomes.append(future.result())
            except Exception as exc:  # a bug in run_job must not hang the run
                now = time.time()
                outcomes.append(Outcome(spec.job_id, spec.attempt, "failed", None, None, now, now, HOST,
                                        error=f"internal error: {type(exc).__name__}: {exc}"))
        seen = sum(1 for o in outcomes if o.status != "done")
        if seen:
            with self._lock:
                self._unseen_failures -= seen
        return outcomes  # (the scheduler calls dispatch() once it has taken them in)

    def cancel(self) -> None:
        now = time.time()
        with self._lock:
            queued = list(self._queue)
            self._queue.clear()
        self.table.terminate_all()
        # Jobs still waiting for resources never started: they are cancelled as they stand.
        if queued:
            for spec in queued:
                done: cf.Future = cf.Future()
                done.set_result(Outcome(spec.job_id, spec.attempt, "cancelled", None, None, now, now, HOST,
                                        error="cancelled before it started"))
                with self._lock:
                    self._futures[done] = (spec, _Need(0, 0, 0), {})
                    self._unseen_failures += 1  # (as _ended counts it; wait() takes it back)
                self._finished.put(done)

    def close(self) -> None:
        with self._lock:
            self._queue.clear()  # nothing more may start while the pool shuts down
        if self._pool is not None:
            if self._futures:  # still running: an error or Ctrl-C got us here
                self.table.terminate_all(grace=1.0)
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self.table.close()
