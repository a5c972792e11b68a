"""What a dead runner left behind: its job processes stopped, its attempts settled in their folders.

A runner (the driver's job thread, or a Ray worker) marks an attempt as it
starts (``.running``, indexed under ``<root>/.trackdag/running/``) and drops
the marks once the attempt is recorded.  A mark left at the start of a run
means that runner died (``kill -9`` of the driver).  For each one,
:func:`stop_orphans`:

- stops the job's process group if it still runs on this host (the dead
  runner's watchdog normally did already);
- writes a cancelled ("interrupted") attempt record if the folder has none
  for that attempt;
- finishes an attempt that was recorded done whose ``done.json`` was never
  written: a runner records a finished job as result, then attempt, then
  done record, and a kill between the last two left a folder whose attempt
  says done but which is not done.  Its program exited 0 and its result is
  saved, so the done record is written now when every declared output is
  still there (the job is not run twice); otherwise the attempt becomes an
  interrupted one and the job runs again.

Example:
    >>> import tempfile
    >>> stop_orphans(tempfile.mkdtemp(), 0.0)  # a root with no marks
    []
"""
from __future__ import annotations

import os
from typing import Any, Mapping

from .layout import CONFIG, missing_outputs, read_done, read_record, write_done
from .records import INTERRUPTED, attempt_numbers, read_attempts, running_marks, unmark_running, write_attempt

#: the error of a done attempt whose done record a dead runner never wrote, and whose outputs are gone
UNFINISHED = "interrupted: the runner stopped before the job's done record was written"


def stop_orphans(root: str, now: float, *, hash_outputs: bool = False) -> list[str]:
    """Settle every attempt a dead runner left marked running under ``root``; returns their folders (to import).

    ``hash_outputs``: the done records this writes hold each output's sha256
    (as the run's own do, with ``--hash-outputs``).
    """
    from .execute.runner import kill_running_job

    found = []
    for mark in running_marks(root):
        folder, attempt, started = mark["folder"], mark.get("attempt"), mark.get("started")
        kill_running_job(folder, record=mark)  # (the index entry: the folder's mark may not have been made)
        if isinstance(attempt, int) and os.path.isdir(folder):
            try:
                if attempt not in attempt_numbers(folder):
                    write_attempt(folder, {
                        "job_id": mark.get("job_id"), "attempt": attempt, "run_id": mark.get("run_id"),
                        "status": "cancelled", "started": started, "ended": now, "host": mark.get("host"),
                        "pid": mark.get("pid"), "duration": max(0.0, now - started) if started else None,
                        "error": INTERRUPTED})
                else:
                    finish_done_attempt(folder, attempt, hash_outputs=hash_outputs)
            except OSError:
                pass  # a full or read-only disk: the job is not done on disk, so it runs again
        unmark_running(folder, mark.get("job_id") or "")
        found.append(folder)
    return found


def finish_done_attempt(folder: str, attempt: int, *, hash_outputs: bool = False) -> str | None:
    """Make a folder agree with its attempt ``attempt`` when that attempt says done (see the module docstring).

    Returns ``"done"`` when the done record was written, ``"interrupted"``
    when the attempt was rewritten as cancelled, None when there was nothing
    to do (not a done attempt, or its done record is there).
    """
    records = read_attempts(folder, [attempt])
    if not records or records[0].get("status") != "done":
        return None
    record = records[0]
    config = read_record(folder, CONFIG) or {}
    job_id = config.get("job_id") or record.get("job_id")
    done = read_done(folder)
    if done is not None and done.get("job_id") == job_id:
        return None
    outputs: Mapping[str, Any] = config.get("outputs") or {}
    if job_id and not missing_outputs(outputs):
        write_done(folder, job_id, started=record.get("started") or 0.0, ended=record.get("ended") or 0.0,
                   host=record.get("host") or "", outputs=outputs, content=hash_outputs)
        return "done"
    write_attempt(folder, {**record, "status": "cancelled", "error": UNFINISHED})
    return "interrupted"


__all__ = ["stop_orphans", "finish_done_attempt", "UNFINISHED"]
