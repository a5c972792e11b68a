"""The local backend: a thread pool in the driver running ``--workers`` subprocesses.

No start-up cost, so it suits small runs and tests; ``--workers 1`` runs the
jobs one after another.

Example:
    >>> ex = LocalExecutor(workers=2)
    >>> ex.capacity
    2
"""
from __future__ import annotations

import concurrent.futures as cf
import os
import time

from .base import Executor, JobSpec, Outcome
from .runner import HOST, ProcessTable, run_job


class LocalExecutor(Executor):
    """Thread pool + subprocess; see the module docstring."""

    name = "local"

    def __init__(self, workers: int | None = None) -> None:
        self.workers = max(1, workers or os.cpu_count() or 1)
        self._pool: cf.ThreadPoolExecutor | None = None
        self._futures: dict[cf.Future, JobSpec] = {}
        self._started: list[str] = []
        self.table = ProcessTable()

    @property
    def capacity(self) -> int:
        return self.workers

    def start(self) -> None:
        self._pool = cf.ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="trackdag-job")

    def submit(self, spec: JobSpec) -> None:
        assert self._pool is not None, "start() first"
        self._futures[self._pool.submit(run_job, spec, self.table)] = spec
        self._started.append(spec.job_id)  # the driver never submits more than `workers`: it starts now

    def take_started(self) -> list[str]:
        started, self._started = self._started, []
        return started

    def wait(self, timeout: float) -> list[Outcome]:
        if not self._futures:
            time.sleep(min(timeout, 0.05))
            return []
        done, _ = cf.wait(list(self._futures), timeout=timeout, return_when=cf.FIRST_COMPLETED)
        outcomes = []
        for future in done:
            spec = self._futures.pop(future)
            try:
                outcomes.append(future.result())
            except Exception as exc:  # a bug in run_job must not hang the run
                now = time.time()
                outcomes.append(Outcome(spec.job_id, spec.attempt, "failed", None, None, now, now, HOST,
                                        error=f"internal error: {type(exc).__name__}: {exc}"))
        return outcomes


    def cancel(self) -> None:
        self.table.terminate_all()

    def close(self) -> None:
        if self._pool is not None:
            if self._futures:  # still running: an error or Ctrl-C got us here
                self.table.terminate_all(grace=1.0)
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
