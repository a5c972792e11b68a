"""Run one job attempt: the code shared by every backend (and by Ray workers).

The command runs as ``bash invoke.sh`` in its own session (process group), so
cancelling kills the user's program *and* its children.  stdout and stderr go
straight to the job's log files.  The done record is written only after exit
0 with every declared output present.

Example:
    >>> import tempfile, os
    >>> folder = tempfile.mkdtemp()
    >>> spec = JobSpec('id1', 'n', folder, ('bash', '-c', 'echo hi > out.txt'),
    ...                {'out': os.path.join(folder, 'out.txt')}, {}, 1)
    >>> run_job(spec).status
    'done'
"""
from __future__ import annotations

import json
import os
import pickle
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Any, Callable

from ..layout import RUNNING, STDERR, STDOUT, atomic_write, clear_done, missing_outputs, read_running, write_done
from ..results import collect_result, write_result_json
from .base import JobSpec, Outcome

TAIL_BYTES = 2000
HOST = socket.gethostname()


def tail(path: str, size: int = TAIL_BYTES) -> str:
    """The last ``size`` bytes of a text file, decoded leniently ('' if missing)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - size))
            return fh.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


class ProcessTable:
    """Running process groups by job id, so a backend can kill them all."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._procs: dict[str, subprocess.Popen] = {}
        self.cancelled = threading.Event()

    def add(self, job_id: str, proc: subprocess.Popen) -> None:
        with self._lock:
            self._procs[job_id] = proc
        if self.cancelled.is_set():  # cancel() raced with this start
            _killpg(proc.pid, signal.SIGTERM)

    def remove(self, job_id: str) -> None:
        with self._lock:
            self._procs.pop(job_id, None)

    def terminate_all(self, grace: float = 3.0) -> None:
        """SIGTERM every group, then SIGKILL what is left after ``grace`` seconds."""
        self.cancelled.set()
        with self._lock:
            procs = list(self._procs.values())
        for proc in procs:
            _killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in procs:
            while proc.returncode is None and time.monotonic() < deadline:
                time.sleep(0.02)
            _killpg(proc.pid, signal.SIGKILL)  # children that ignored SIGTERM


def _killpg(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def group_alive(pgid: int) -> bool:
    """True when any process of process group ``pgid`` is still alive."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def kill_running_job(folder: str, grace: float = 3.0) -> bool:
    """Stop the process group recorded in ``folder/.running`` if it runs on this host.

    Returns True when a live group was found (and killed).
    """
    record = read_running(folder)
    if not record or record.get("host") != HOST or not isinstance(record.get("pgid"), int):
        return False
    pgid = record["pgid"]
    if not group_alive(pgid):
        return False
    _killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.05)
    _killpg(pgid, signal.SIGKILL)
    return True


def _loader(spec: JobSpec) -> tuple[Any, str | None]:
    """The spec's load_result, unpickled if the driver sent it pickled (Ray)."""
    if not isinstance(spec.load_result, bytes):
        return spec.load_result, None
    if spec.import_dir and spec.import_dir not in sys.path:
        sys.path.insert(0, spec.import_dir)
    try:
        return pickle.loads(spec.load_result), None
    except Exception as exc:
        return None, f"load_result could not be loaded in the worker: {type(exc).__name__}: {exc}"


def _own_peak_kb() -> int:
    """This process's peak RSS (VmHWM) in kB, 0 if unknown."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def run_job(spec: JobSpec, table: ProcessTable | None = None,
            on_start: Callable[[str, int], None] | None = None) -> Outcome:
    """Run one attempt of ``spec`` to completion and describe what happened."""
    folder = spec.folder
    clear_done(folder)  # a rerun is not done until it says so again
    started = time.time()
    if table is not None and table.cancelled.is_set():
        return Outcome(spec.job_id, spec.attempt, "cancelled", None, None, started, started, HOST,
                       error="cancelled before it started")
    env = None if spec.env is None else {**os.environ, **spec.env}
    # Linux charges a forked child with its parent's memory high-water mark
    # until exec, so a peak at or below ours says nothing about the job.
    floor_kb = _own_peak_kb()
    try:
        with open(os.path.join(folder, STDOUT), "wb") as out, open(os.path.join(folder, STDERR), "wb") as err:
            proc = subprocess.Popen(spec.argv, cwd=folder, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                    env=env, start_new_session=True)
    except OSError as exc:
        now = time.time()
        return Outcome(spec.job_id, spec.attempt, "failed", None, None, started, now, HOST,
                       error=f"could not start {spec.argv[0]}: {exc}")
    if table is not None:
        table.add(spec.job_id, proc)
    running = os.path.join(folder, RUNNING)
    atomic_write(running, json.dumps({"pid": proc.pid, "pgid": proc.pid, "host": HOST, "started": started}))
    if on_start is not None:
        on_start(spec.job_id, proc.pid)
    try:
        # wait4 gives this child's resource usage (peak RSS) as it is reaped.
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    finally:
        if table is not None:
            table.remove(spec.job_id)
        try:
            os.unlink(running)
        except FileNotFoundError:
            pass
    ended = time.time()
    code = proc.returncode
    exit_code, sig = (code, None) if code >= 0 else (None, -code)
    peak = int(usage.ru_maxrss) if usage.ru_maxrss > floor_kb else None
    stderr_tail = tail(os.path.join(folder, STDERR))
    if table is not None and table.cancelled.is_set() and code != 0:
        return Outcome(spec.job_id, spec.attempt, "cancelled", exit_code, sig, started, ended, HOST, proc.pid,
                       peak, stderr_tail, error="cancelled")
    if code != 0:
        why = f"killed by signal {sig}" if sig else f"exit code {code}"
        return Outcome(spec.job_id, spec.attempt, "failed", exit_code, sig, started, ended, HOST, proc.pid,
                       peak, stderr_tail, error=why)
    missing = missing_outputs(spec.outputs)
    if missing:
        return Outcome(spec.job_id, spec.attempt, "failed", exit_code, sig, started, ended, HOST, proc.pid,
                       peak, stderr_tail, error=f"exit 0 but declared output(s) missing: {', '.join(missing)}")
    # The result row is read here, where the job ran, and saved before the
    # done record: a done job always has its result.json.
    load, load_error = _loader(spec)
    row, row_error = collect_result(spec.node, load, spec.primary_output, folder)
    if load_error:
        row, row_error = None, load_error
    write_result_json(folder, spec.job_id, spec.node, row, row_error)
    write_done(folder, spec.job_id, started=started, ended=ended, host=HOST, outputs=spec.outputs)
    return Outcome(spec.job_id, spec.attempt, "done", 0, None, started, ended, HOST, proc.pid, peak, stderr_tail,
                   result=row, result_error=row_error)
