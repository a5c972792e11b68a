"""The records on disk that the catalog is an index of: attempts in job folders, runs under the root.

The job folder is the record; the catalog is its index.  Everything the
catalog knows is written here first, atomically, so that the catalog can
always be brought back in line (:mod:`trackdag.reindex`):

- ``<job folder>/.attempts/<n>.json``: one per attempt, the row of the
  ``attempts`` table (run, status, exit code, signal, start, end, host, Ray
  node, pid, peak memory, stderr tail, error).  Written by the process that
  ran the job, before it reports back, so a driver killed at any moment
  loses nothing; the driver writes the ones it makes itself (a job cancelled
  before it started, a worker that died).
- ``<job folder>/.result.json`` (:mod:`trackdag.results`) and ``done.json``
  (:mod:`trackdag.layout`), as before.
- ``<root>/.trackdag/runs/<run_id>.json``: the ``runs`` row, written when
  the run starts and again when it ends; ``<run_id>.rows.json.gz``: which
  job each matrix row of the run asked for (``run_jobs``).

Example:
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> write_attempt(folder, {"job_id": "j", "attempt": 1, "status": "done"})
    >>> [a["status"] for a in read_attempts(folder)]
    ['done']
"""
from __future__ import annotations

import gzip
import itertools
import json
import os
from typing import Any, Iterable, Mapping

from .layout import atomic_write, read_record

ATTEMPTS = ".attempts"
RUNS = os.path.join(".trackdag", "runs")

#: the error of an attempt whose driver died while it ran
INTERRUPTED = "interrupted: the driver stopped before the job finished"

#: the columns of the attempts table, in the order records hold them
ATTEMPT_FIELDS = ("job_id", "attempt", "run_id", "status", "exit_code", "signal", "started", "ended", "duration",
                  "host", "node_id", "pid", "peak_rss_kb", "stderr_tail", "error")


#: said in an attempt's error when its record could not be written in its folder (a full or read-only
#: disk); the next run writes it from the catalog (:func:`write_back_attempts`)
UNWRITTEN = "its attempt record could not be written"


def unwritten_note(exc: OSError) -> str:
    """The note an attempt's error gets when its folder record could not be written."""
    return f" ({UNWRITTEN}: {exc.strerror or exc})"


def write_back_attempts(con: Any) -> int:
    """Write into their folders the attempt records a full disk kept out (see :data:`UNWRITTEN`).

    The catalog got such an attempt from the driver; the folder, which is
    the record, did not.  Run at the start of every run (in
    :func:`trackdag.reindex.recover`), once there may be room again; returns
    how many records were written.
    """
    fields = ", ".join(f"a.{f}" if f not in ("started", "ended") else f"epoch(a.{f})" for f in ATTEMPT_FIELDS)
    rows = con.execute(f"SELECT {fields}, j.folder FROM attempts a JOIN jobs j USING (job_id) "
                       "WHERE a.error LIKE ?", [f"%{UNWRITTEN}%"]).fetchall()
    written = 0
    for *values, folder in rows:
        record = dict(zip(ATTEMPT_FIELDS, values))
        if not os.path.isdir(folder) or record["attempt"] in attempt_numbers(folder):
            continue
        try:
            write_attempt(folder, record)
            written += 1
        except OSError:
            pass  # still no room: the next run tries again
    return written


def attempt_record(outcome: Any, run_id: str) -> dict[str, Any]:
    """An :class:`~trackdag.execute.base.Outcome` as a row of ``attempts`` (timestamps as epoch seconds)."""
    return {
        "job_id": outcome.job_id, "attempt": outcome.attempt, "run_id": run_id, "status": outcome.status,
        "exit_code": outcome.exit_code, "signal": outcome.signal, "started": outcome.started,
        "ended": outcome.ended, "duration": outcome.duration, "host": outcome.host, "node_id": outcome.worker,
        "pid": outcome.pid, "peak_rss_kb": outcome.peak_rss_kb, "stderr_tail": outcome.stderr_tail,
        "error": outcome.error,
    }


def attempt_path(folder: "str | os.PathLike", attempt: int) -> str:
    return os.path.join(folder, ATTEMPTS, f"{int(attempt)}.json")


def write_attempt(folder: "str | os.PathLike", record: Mapping[str, Any]) -> None:
    """Save one attempt's record in its job folder (atomically)."""
    atomic_write(attempt_path(folder, record["attempt"]), json.dumps(dict(record), ensure_ascii=False) + "\n",
                 parents=True)  # (.attempts/ is made by the folder's first attempt)


def attempt_numbers(folder: "str | os.PathLike") -> list[int]:
    """The attempt numbers recorded in a job folder, in order."""
    try:
        names = os.listdir(os.path.join(folder, ATTEMPTS))
    except OSError:
        return []
    return sorted(int(n[:-5]) for n in names if n.endswith(".json") and n[:-5].isdigit())


def read_attempts(folder: "str | os.PathLike", numbers: Iterable[int] | None = None) -> list[dict[str, Any]]:
    """The attempt records of a job folder (all, or those ``numbers``), in order; unreadable ones are skipped."""
    found = []
    for n in attempt_numbers(folder) if numbers is None else numbers:
        record = read_record(os.path.join(folder, ATTEMPTS), f"{n}.json")
        if record is not None and record.get("attempt") == n:
            found.append(record)
    return found


# -- runs --------------------------------------------------------------------------------------
def _runs_dir(root: "str | os.PathLike") -> str:
    return os.path.join(root, RUNS)


def _plain(value: Any) -> Any:
    from datetime import datetime

    return value.timestamp() if isinstance(value, datetime) else value


def write_run(root: "str | os.PathLike", run: Mapping[str, Any]) -> None:
    """Save (or update) a run's ``runs`` row under the root; datetimes as epoch seconds."""
    os.makedirs(_runs_dir(root), exist_ok=True)
    record = {k: _plain(v) for k, v in run.items()}
    atomic_write(os.path.join(_runs_dir(root), f"{record['run_id']}.json"),
                 json.dumps(record, ensure_ascii=False, default=str) + "\n")


def update_run(root: "str | os.PathLike", run_id: str, **changes: Any) -> None:
    """Merge ``changes`` into a saved run record (no-op when there is none)."""
    record = read_record(_runs_dir(root), f"{run_id}.json")
    if record is not None:
        write_run(root, {**record, **changes})


def read_runs(root: "str | os.PathLike") -> list[dict[str, Any]]:
    """Every saved run record of a root, oldest first."""
    try:
        names = sorted(n for n in os.listdir(_runs_dir(root)) if n.endswith(".json"))
    except OSError:
        return []
    runs = [r for r in (read_record(_runs_dir(root), n) for n in names) if r and r.get("run_id")]
    return sorted(runs, key=lambda r: (r.get("started") or 0, r["run_id"]))


#: rows of a run's rows file encoded at a time
ROWS_PART = 65_536
_ROWS_JSON = json.JSONEncoder(separators=(",", ":")).encode


def write_run_rows(root: "str | os.PathLike", run_id: str, row_jobs: Iterable[tuple[int, str]]) -> None:
    """Save which job each row of a run asked for (the run's ``run_jobs``)."""
    os.makedirs(_runs_dir(root), exist_ok=True)
    path = os.path.join(_runs_dir(root), f"{run_id}.rows.json.gz")
    tmp = f"{path}.tmp{os.getpid()}"
    # One JSON list, encoded by parts of ROWS_PART rows: json.dump() would take Python's encoder (only a
    # whole dumps() takes the C one: 0.24 s against 0.05 s at 100,000 rows), and one dumps() of a
    # million-row list would hold it twice in memory.
    rows = iter(row_jobs)
    with gzip.open(tmp, "wb", compresslevel=1) as fh:
        fh.write(b"[")
        sep = ""
        while part := list(itertools.islice(rows, ROWS_PART)):
            fh.write((sep + _ROWS_JSON(part)[1:-1]).encode("utf-8"))
            sep = ","
        fh.write(b"]")
    os.replace(tmp, path)


def read_run_rows(root: "str | os.PathLike", run_id: str) -> list[tuple[int, str]]:
    """The saved ``run_jobs`` of a run (empty when none was saved or it is unreadable)."""
    try:
        with gzip.open(os.path.join(_runs_dir(root), f"{run_id}.rows.json.gz"), "rt", encoding="utf-8") as fh:
            return [(int(r), str(j)) for r, j in json.load(fh)]
    except (OSError, ValueError, TypeError, EOFError):
        return []


# -- attempts in progress -----------------------------------------------------------------------
RUNNING_INDEX = os.path.join(".trackdag", "running")


def _index_entry(folder: "str | os.PathLike", job_id: str) -> str:
    root = os.path.dirname(os.path.dirname(os.path.abspath(folder)))  # <root>/<node>/<job folder>
    return os.path.join(root, RUNNING_INDEX, f"{job_id}.json")


def mark_running(folder: "str | os.PathLike", record: Mapping[str, Any]) -> None:
    """Note a started attempt: ``.running`` in its folder, and an entry under ``<root>/.trackdag/running/``.

    The index lets a later run find what a dead runner left, for any job of
    the root, without walking every job folder.  The entry is written first
    and the mark is a hard link to it (a copy where links fail).  Best
    effort: never fails a job.
    """
    from .layout import RUNNING

    text = json.dumps({**record, "folder": os.fspath(folder)})
    mark, entry = os.path.join(folder, RUNNING), _index_entry(folder, record["job_id"])
    # The entry first: a runner killed between the two leaves what a later run looks for (the index),
    # not a mark in a folder that nothing points to.
    try:
        atomic_write(entry, text, parents=True)  # (made by the root's first)
    except OSError:
        pass
    else:
        try:
            _link_as(entry, mark)  # one file: two calls, where a write took four
            return
        except OSError:  # no hard links here (or they fail): a copy of its own
            pass
    try:
        atomic_write(mark, text)
    except OSError:
        pass


def _link_as(existing: str, path: str) -> None:
    """Make ``path`` a hard link to ``existing``, replacing what is there atomically."""
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        os.link(existing, tmp)
    except FileExistsError:  # left by a process of this pid that died here
        os.unlink(tmp)
        os.link(existing, tmp)
    os.replace(tmp, path)


def unmark_running(folder: "str | os.PathLike", job_id: str) -> None:
    """The attempt is recorded: drop both marks."""
    from .layout import RUNNING

    for path in (os.path.join(folder, RUNNING), _index_entry(folder, job_id)):
        try:
            os.unlink(path)
        except OSError:
            pass


def running_marks(root: "str | os.PathLike") -> list[dict[str, Any]]:
    """The marks of attempts in progress (or left by a dead runner) under ``root``."""
    index = os.path.join(root, RUNNING_INDEX)
    try:
        names = sorted(n for n in os.listdir(index) if n.endswith(".json"))
    except OSError:
        return []
    return [r for r in (read_record(index, n) for n in names) if r and isinstance(r.get("folder"), str)]


# -- outcomes the catalog has not heard of yet ------------------------------------------------------
PENDING = os.path.join(".trackdag", "pending")


def write_pending(root: "str | os.PathLike", run_id: str, folders: Iterable[str]) -> str:
    """Note job folders whose outcomes could not reach the catalog (it was held by a reader); returns the file."""
    os.makedirs(os.path.join(root, PENDING), exist_ok=True)
    path = os.path.join(root, PENDING, f"{run_id}.json")
    atomic_write(path, json.dumps(sorted(set(folders))) + "\n")
    return path


def read_pending(root: "str | os.PathLike") -> tuple[list[str], list[str]]:
    """(pending files, the job folders they name) of a root."""
    folder = os.path.join(root, PENDING)
    try:
        names = sorted(n for n in os.listdir(folder) if n.endswith(".json"))
    except OSError:
        return [], []
    files, folders = [], []
    for name in names:
        try:
            with open(os.path.join(folder, name), encoding="utf-8") as fh:
                found = json.load(fh)
        except (OSError, ValueError):
            continue
        files.append(os.path.join(folder, name))
        folders += [f for f in found if isinstance(f, str)] if isinstance(found, list) else []
    return files, folders


__all__ = ["mark_running", "unmark_running", "running_marks", "write_pending", "read_pending", "attempt_record", "write_attempt", "read_attempts", "attempt_numbers", "write_run", "update_run",
           "read_runs", "write_run_rows", "read_run_rows"]
