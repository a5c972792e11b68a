"""A run's registration in the catalog, done beside its first jobs instead of before them.

Registering a big plan (every job, its params, rows and edges, in one bulk
transaction) takes seconds at 100,000 configurations; nothing a job needs
comes from it.  So :func:`trackdag.sweep.run` submits the first jobs of a
plan of more than :data:`INLINE_JOBS` jobs, then starts a
:class:`Registration` thread (while the first jobs start); a smaller plan
is registered before its first job (``trackdag status`` then sees the run
whole from the start).  The registration writes the run's rows file
(``<root>/.trackdag/runs/<run>.rows.json.gz``, the record) and then the
catalog's ``runs`` row and the plan (the index).  The run's recorder
(:class:`trackdag.execute.scheduler.Recorder`) holds its micro-batches until
the registration is done, so no outcome reaches the catalog before its job.
A job's attempt numbers come from its folder (see :class:`FolderAttempts`),
not from the catalog.

If the catalog cannot be written (a reader holds it past the lock timeout,
it is gone, the disk is full) the jobs still run and their folders keep
every outcome; the run then ends with that error, as when the catalog fails
mid-run, and the next run or ``trackdag reindex`` catches up (see
:func:`trackdag.reindex.recover`).

A run that is stopping (Ctrl-C, SIGTERM) calls :meth:`Registration.hurry`
with the jobs it still has outcomes of: the registration then ends after
the chunk it is on, with those jobs in, instead of registering every job
of a big plan first (half a minute at 200,000 jobs).  The jobs left out
are registered by the next run (see :mod:`trackdag.catalog.register`).

Example:
    >>> attempts = FolderAttempts({})
    >>> attempts.get("no-such-job", 0)
    0
"""
from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from .records import attempt_numbers, write_run_rows

if TYPE_CHECKING:
    from .catalog import Catalog
    from .plan import Plan


#: plans of at most this many jobs are registered before their first job, so ``trackdag status`` sees a
#: small run whole from its start; bigger ones go in beside their first jobs.  Registering costs about
#: 0.5 s (pyarrow's imports) plus 0.15 ms per job: 8,192 jobs before the first one delayed it by 2 s
INLINE_JOBS = 1_000


class Registration(threading.Thread):
    """Writes a run's rows file, its ``runs`` row and its plan, in that order (see the module docstring)."""

    def __init__(self, catalog: "Catalog", run_row: Mapping[str, Any], plan: "Plan",
                 status: Mapping[str, str]) -> None:
        super().__init__(name="trackdag-registration", daemon=True)
        self.catalog = catalog
        self.run_row = dict(run_row)
        self.plan = plan
        self.status = dict(status)
        #: what stopped it (a CatalogError, or anything unexpected), for the recorder and the run
        self.error: BaseException | None = None
        self._done = threading.Event()
        self._needed: set[str] | None = None  # set by hurry()

    def run(self) -> None:
        try:
            run_id = self.run_row["run_id"]
            write_run_rows(self.plan.root, run_id, self.plan.row_jobs)
            self.catalog.begin_run(self.run_row)
            self.catalog.register_plan(run_id, self.plan, self.status, hurry=lambda: self._needed)
        except BaseException as exc:  # reported by wait(); a thread must not die silently
            self.error = exc
        finally:
            self._done.set()

    def start(self) -> None:
        """Start it, once (later calls do nothing)."""
        if self.ident is None:
            super().start()

    def hurry(self, needed: "Iterable[str]") -> None:
        """Register only ``needed`` of the jobs not yet in (from the next chunk on): the run is stopping."""
        self._needed = set(needed)

    def done(self) -> bool:
        """True once it has finished, well or not (never blocks)."""
        return self._done.is_set()

    def wait(self) -> BaseException | None:
        """Block until it has finished (starting it if it was not yet); returns what stopped it, or None."""
        if self.ident is None:
            self.start()
        self._done.wait()
        return self.error


class FolderAttempts:
    """Job id -> the attempts its folder records so far (read when first asked; 0 without a folder).

    The folder is the record: after :func:`trackdag.reindex.recover` the
    catalog knows no attempt the folder lacks, so numbering from the folder
    continues the job's history without waiting for the catalog.
    """

    def __init__(self, jobs: Mapping[str, Any]) -> None:
        self.jobs = jobs  # job id -> Job (a plan's ``jobs``)
        self._known: dict[str, int] = {}

    def get(self, job_id: str, default: int = 0) -> int:
        if job_id not in self._known:
            job = self.jobs.get(job_id)
            numbers = attempt_numbers(job.folder) if job is not None else []
            self._known[job_id] = numbers[-1] if numbers else default
        return self._known[job_id]


__all__ = ["Registration", "FolderAttempts"]
