"""Run one job attempt: the code shared by every backend (and by Ray workers).

The command runs as ``bash invoke.sh`` (or, when bash would only split it
into words, as those words: see :mod:`trackdag.shellwords`) in its own
session (process group), so cancelling kills the user's program *and* its
children.  stdout and stderr go through pipes into the job's capped logs,
copied by the thread that waits for the job (no thread of their own).  The
done record is written only after exit 0 with every declared output present.

Example:
    >>> import tempfile, os
    >>> folder = tempfile.mkdtemp()
    >>> spec = JobSpec('id1', 'n', folder, ('bash', '-c', 'echo hi > out.txt'),
    ...                {'out': os.path.join(folder, 'out.txt')}, {}, 1)
    >>> run_job(spec).status
    'done'
"""
from __future__ import annotations

import os
import pickle
import resource
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from typing import Any, Callable, Mapping

from ..layout import STDERR, STDOUT, clear_done, output_stats, read_running, write_done
from ..records import INTERRUPTED, attempt_record, mark_running, unmark_running, unwritten_note, write_attempt
from ..results import collect_result, write_result_json
from .base import JobSpec, Outcome
from .logs import LogCopier, default_limit
from .watchdog import Watchdog, process_alive

TAIL_BYTES = 2000
#: how long a finished job's runner goes on copying logs that a process it left behind still writes
DRAIN_SECONDS = 30.0
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
    """Running process groups by job id, so a backend can kill them all.

    Every group is also registered with a :class:`~trackdag.execute.watchdog.Watchdog`,
    which kills it if this process dies first (a SIGKILLed driver or Ray worker).
    """

    def __init__(self, watchdog: bool = True) -> None:
        self._lock = threading.Lock()
        self._procs: dict[str, subprocess.Popen] = {}
        self.cancelled = threading.Event()
        self.watchdog = Watchdog() if watchdog else None

    def add(self, job_id: str, proc: subprocess.Popen) -> None:
        with self._lock:
            self._procs[job_id] = proc
        if self.watchdog is not None:
            self.watchdog.add(proc.pid)
        if self.cancelled.is_set():  # cancel() raced with this start
            _killpg(proc.pid, signal.SIGTERM)

    def remove(self, job_id: str) -> None:
        with self._lock:
            proc = self._procs.pop(job_id, None)
        if proc is not None and self.watchdog is not None:
            self.watchdog.remove(proc.pid)

    def start(self) -> None:
        """Start the watchdog before the first job, so that no job runs unguarded for a moment."""
        if self.watchdog is not None:
            self.watchdog.start()

    def close(self) -> None:
        """Stop the watchdog (after every job was removed, it kills nothing)."""
        if self.watchdog is not None:
            self.watchdog.close()

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


def kill_running_job(folder: str, grace: float = 3.0, record: "dict[str, Any] | None" = None) -> bool:
    """Stop the process group recorded in ``folder/.running`` (or in ``record``, its index entry) on this host.

    Returns True when a live group was found (and killed).
    """
    record = read_running(folder) if record is None else record
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


def direct_env(spec: JobSpec) -> dict[bytes, bytes]:
    """The environment ``invoke.sh`` gives its command: ours with the spec's, PWD the folder, PYTHONPATH its import dir.

    As bash's ``exec`` does, ``_`` is dropped; bash's OLDPWD (the folder ``cd`` left) is not made up.
    In bytes, as ``exec`` takes it: copying ``os.environ`` as text (and subprocess encoding it
    back) took a tenth of a direct start's CPU.
    """
    data = getattr(os.environ, "_data", None)  # (CPython: the bytes behind os.environ, kept in step with it)
    env = dict(data) if isinstance(data, dict) else {os.fsencode(k): os.fsencode(v) for k, v in os.environ.items()}
    for key, value in (spec.env or {}).items():
        env[os.fsencode(key)] = os.fsencode(value)
    env[b"PWD"] = os.fsencode(spec.folder)
    env.pop(b"_", None)
    if spec.import_dir:  # invoke.sh: export PYTHONPATH=<import dir>"${PYTHONPATH:+:$PYTHONPATH}"
        before = env.get(b"PYTHONPATH")
        env[b"PYTHONPATH"] = os.fsencode(spec.import_dir) + (b":" + before if before else b"")
    return env


#: seconds a direct start trusts where it found a program on PATH before it looks again
WHICH_SECONDS = 1.0
_found: dict[tuple[str, bytes | None], tuple[str, float]] = {}


def program_path(word: str, env: Mapping[bytes, bytes]) -> str | None:
    """Where ``exec`` would find the program ``word`` on ``env``'s PATH, looked up at most once a second.

    subprocess tries ``execve`` in each PATH folder in turn (in the child,
    while the runner waits): about ten failed calls a job on a long PATH.
    This is the same search (the first executable regular file), kept for
    :data:`WHICH_SECONDS`, so that a program installed on PATH during a run
    is found within a second.  None (subprocess searches as it would) for a
    word with a slash, or when a relative PATH entry comes first (it means
    the job's folder).
    """
    if "/" in word:
        return None
    key = (word, env.get(b"PATH"))
    now = time.monotonic()
    hit = _found.get(key)
    if hit is not None and now - hit[1] < WHICH_SECONDS:
        return hit[0]
    path = os.fsdecode(key[1]) if key[1] is not None else os.defpath
    for folder in path.split(os.pathsep):
        if not os.path.isabs(folder):
            return None
        candidate = os.path.join(folder, word)
        try:
            if stat.S_ISREG(os.stat(candidate).st_mode) and os.access(candidate, os.X_OK):
                _found[key] = (candidate, now)
                return candidate
        except OSError:
            continue
    return None


def _forget_program(word: str, env: Mapping[bytes, bytes]) -> None:
    """A start from the remembered place failed: look the program up again next time."""
    _found.pop((word, env.get(b"PATH")), None)


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
    """This process's peak RSS in kB (getrusage's ru_maxrss: VmHWM, or more after an exec)."""
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def signal_name(number: int) -> str:
    """``SIGKILL`` for 9 (the number when it has no name).

    >>> signal_name(9), signal_name(200)
    ('SIGKILL', 'signal 200')
    """
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _finish(spec: JobSpec, outcome: Outcome, worker: str | None) -> Outcome:
    """Record the attempt in the job folder (before anyone else hears of it) and return it."""
    import dataclasses

    outcome = dataclasses.replace(outcome, recorded=True, **({} if worker is None else {"worker": worker}))
    try:
        write_attempt(spec.folder, attempt_record(outcome, spec.run_id or ""))
    except OSError as exc:  # a full or read-only disk: the driver still gets the outcome
        outcome = dataclasses.replace(outcome, error=(outcome.error or "") + unwritten_note(exc))
    return outcome


class _Timer:
    """Kill a job's process group after ``timeout`` seconds (SIGTERM, then SIGKILL)."""

    def __init__(self, pgid: int, timeout: float | None) -> None:
        self.fired = False
        self._done: threading.Event | None = None  # only a job with a timeout has a thread (and an event)
        if timeout:
            self._done = threading.Event()
            threading.Thread(target=self._run, args=(pgid, timeout), daemon=True, name="trackdag-timeout").start()

    def _run(self, pgid: int, timeout: float) -> None:
        assert self._done is not None
        if self._done.wait(timeout):
            return
        self.fired = True
        _killpg(pgid, signal.SIGTERM)
        if not self._done.wait(3.0):
            _killpg(pgid, signal.SIGKILL)

    def stop(self) -> None:
        if self._done is not None:
            self._done.set()


def run_job(spec: JobSpec, table: ProcessTable | None = None,
            on_start: Callable[[str, int], None] | None = None, worker: str | None = None) -> Outcome:
    """Run one attempt of ``spec`` to completion, record it in the job folder and describe what happened.

    ``worker`` names where it ran (the Ray node id).  stdout and stderr go
    through pipes into capped logs (:mod:`trackdag.execute.logs`);
    ``spec.timeout`` kills the job's group when it runs too long.
    """
    folder = spec.folder
    started = time.time()
    if table is not None and table.cancelled.is_set():
        return _finish(spec, Outcome(spec.job_id, spec.attempt, "cancelled", None, None, started, started, HOST,
                                     error="cancelled before it started"), worker)
    clear_done(folder)  # a rerun is not done until it says so again
    env = None if spec.env is None else {**os.environ, **spec.env}
    # Linux charges a forked child with its parent's memory high-water mark
    # until exec, so a peak at or below ours says nothing about the job.
    floor_kb = _own_peak_kb()
    limit = default_limit() if spec.log_limit is None else spec.log_limit
    pipes = [os.pipe(), os.pipe()]
    # The command's own words when invoke.sh would only cd and exec them (one process start,
    # not two); bash invoke.sh when they cannot start, so that bash says why, as it always would.
    starts: list[tuple[tuple[str, ...], Any, str | None]] = []
    if spec.direct:
        word_env = direct_env(spec)
        starts.append((spec.direct, word_env, program_path(spec.direct[0], word_env)))
    starts.append((spec.argv, env, None))
    for argv, argv_env, program in starts:
        try:
            proc = subprocess.Popen(argv, executable=program, cwd=folder, stdin=subprocess.DEVNULL,
                                    stdout=pipes[0][1], stderr=pipes[1][1], env=argv_env, start_new_session=True)
            break
        except OSError as exc:
            error = f"could not start {argv[0]}: {exc}"
            if program is not None:
                _forget_program(argv[0], argv_env)
    else:
        for r, w in pipes:
            os.close(r)
            os.close(w)
        now = time.time()
        return _finish(spec, Outcome(spec.job_id, spec.attempt, "failed", None, None, started, now, HOST,
                                     error=error), worker)
    for _, w in pipes:
        os.close(w)
    if table is not None:
        # registered with the watchdog at once: a driver killed from here on cannot leave the job running
        if spec.driver and spec.driver[0] == HOST and spec.driver[1] != os.getpid() and table.watchdog:
            table.watchdog.watch(spec.driver[1])  # a Ray worker of this host: the driver's death ends the job
        table.add(spec.job_id, proc)
    try:
        copier = LogCopier([(pipes[0][0], os.path.join(folder, STDOUT)),
                            (pipes[1][0], os.path.join(folder, STDERR))], limit)
    except OSError as exc:  # the logs cannot even be created (a full disk): stop the job, say why
        _killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        if table is not None:
            table.remove(spec.job_id)
        for r, _ in pipes:
            os.close(r)
        now = time.time()
        return _finish(spec, Outcome(spec.job_id, spec.attempt, "failed", None, None, started, now, HOST,
                                     proc.pid, error=f"could not write its logs in {folder}: "
                                                     f"{exc.strerror or exc}"), worker)
    timer = _Timer(proc.pid, spec.timeout)
    mark_running(folder, {"pid": proc.pid, "pgid": proc.pid, "host": HOST, "started": started,
                          "attempt": spec.attempt, "run_id": spec.run_id, "job_id": spec.job_id})
    if on_start is not None:
        on_start(spec.job_id, proc.pid)
    try:
        # The logs are copied in this thread while it waits; wait4 gives the
        # child's resource usage (peak RSS) as it is reaped.
        status, usage = copier.copy_until_exit(proc.pid)
        proc.returncode = os.waitstatus_to_exitcode(status)
    finally:
        timer.stop()
        if table is not None:
            table.remove(spec.job_id)
        copier.finish(DRAIN_SECONDS)  # the pipes close when the last process of the job does
    try:
        return _conclude(spec, proc, usage, floor_kb, started, timer, copier, table, worker)
    finally:
        # Only now: until its attempt is recorded, the marks tell a later run this attempt was lost.
        unmark_running(folder, spec.job_id)


def _conclude(spec: JobSpec, proc: subprocess.Popen, usage: Any, floor_kb: int, started: float, timer: _Timer,
              copier: LogCopier, table: ProcessTable | None, worker: str | None) -> Outcome:
    """The outcome of a finished job process: checks, result, records."""
    folder = spec.folder
    ended = time.time()
    code = proc.returncode
    exit_code, sig = (code, None) if code >= 0 else (None, -code)
    peak = int(usage.ru_maxrss) if usage.ru_maxrss > floor_kb else None
    stderr = os.path.join(folder, STDERR)
    stderr_tail = tail(stderr) if copier.copied(stderr) else ""  # (most jobs say nothing there)

    def outcome(status: str, error: str | None, **extra: Any) -> Outcome:
        return _finish(spec, Outcome(spec.job_id, spec.attempt, status, exit_code, sig, started, ended, HOST,
                                     proc.pid, peak, stderr_tail, error=error, **extra), worker)

    if table is not None and table.cancelled.is_set() and code != 0:
        return outcome("cancelled", "cancelled")
    # (judged as the watchdog judges it: a killed driver not yet reaped, a zombie, is dead)
    if sig and spec.driver and spec.driver[0] == HOST and not process_alive(spec.driver[1]):
        return outcome("cancelled", INTERRUPTED)  # the watchdog stopped it: its driver is gone
    if timer.fired:
        return outcome("failed", f"timeout: still running after {spec.timeout:g}s, killed"
                                 + (f" ({signal_name(sig)})" if sig else ""))
    if code != 0:
        return outcome("failed", f"killed by {signal_name(sig)}" if sig else f"exit code {code}")
    if copier.errors:
        return outcome("failed", "exit 0 but its log could not be written: "
                                 + "; ".join(f"{os.path.basename(k)}: {v}" for k, v in copier.errors.items()))
    stats = output_stats(spec.outputs)  # (one stat per output: the check, and the done record's stats)
    missing = [name for name, stat_ in stats.items() if stat_ == "missing"]
    if missing:
        return outcome("failed", f"exit 0 but declared output(s) missing: {', '.join(missing)}")
    # The result row is read here, where the job ran, and saved before the
    # done record: a done job always has its .result.json and its attempt record.
    load, load_error = _loader(spec)
    row, row_error = collect_result(spec.node, load, spec.primary_output, folder)
    if load_error:
        row, row_error = None, load_error
    try:
        write_result_json(folder, spec.job_id, spec.node, row, row_error)
        done = outcome("done", None, result=row, result_error=row_error)
        write_done(folder, spec.job_id, started=started, ended=ended, host=HOST, outputs=spec.outputs,
                   content=spec.hash_outputs, stats=None if spec.hash_outputs else stats)
    except OSError as exc:
        return outcome("failed", f"exit 0 but its records could not be written in {folder}: {exc.strerror or exc}")
    return done
