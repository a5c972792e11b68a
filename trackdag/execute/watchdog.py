"""No job outlives its supervisor: a small process that kills a runner's jobs when the runner dies.

Every process that runs jobs (the driver with the local backend, each Ray
actor) starts one watchdog, in a session of its own, and tells it over a
pipe which process groups it runs (``+pgid`` / ``-pgid`` lines), and, for a
Ray worker on the driver's host, the driver's pid to watch (``w<pid>``: the
driver's death ends the jobs even while Ray has not yet ended the worker).  When the
runner dies, however it dies (SIGKILL and the OOM killer included, on any
host of a cluster), the kernel closes the pipe; the watchdog reads end of
file, sends SIGTERM to every group it still knows, SIGKILL to what is left
after :data:`GRACE` seconds, and exits.  A runner that closes normally
closes the pipe with no group registered, and the watchdog just exits.

Run as ``python -m trackdag.execute.watchdog``; :class:`Watchdog` is the
runner's side.

Example:
    >>> dog = Watchdog()
    >>> dog.add(999999999)   # starts the watchdog process on first use
    >>> dog.remove(999999999)
    >>> dog.close()
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

#: seconds between SIGTERM and SIGKILL
GRACE = 2.0
#: how often a watched process is checked, in seconds
POLL = 0.5
#: after reading, the watchdog waits this long before reading again, so that the lines of many
#: short jobs arrive in one read (one wake-up per job cost it 0.1 ms of CPU, taken from the jobs);
#: a dead runner is still noticed within this much of its death
SETTLE = 0.005


def _alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _kill_all(groups: set[int]) -> None:
    for pgid in groups:
        try:
            os.killpg(pgid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            pass
    deadline = time.monotonic() + GRACE
    while any(_alive(g) for g in groups) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pgid in groups:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def main() -> None:
    """The watchdog process: follow +pgid/-pgid lines on stdin; on end of file, kill what is left.

    It forks first and the parent exits, so the watchdog is nobody's child:
    Ray kills a dead worker's direct children (the job's first process and
    anything else it started) but cannot know of this one.
    """
    import select

    if os.fork():
        os._exit(0)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C is the runner's to handle
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    groups: set[int] = set()
    watched: set[int] = set()  # other processes whose death also ends the jobs (a driver on this host)
    stdin = sys.stdin.buffer.raw if hasattr(sys.stdin.buffer, "raw") else sys.stdin.buffer
    pending = b""
    while True:
        ready, _, _ = select.select([stdin], [], [], POLL)
        if ready:
            data = os.read(stdin.fileno(), 1 << 16)  # (a whole pipe buffer: many jobs' lines at once)
            if not data:
                break  # the runner died (or closed us)
            pending += data
            *lines, pending = pending.split(b"\n")
            for line in lines:
                text = line.strip().decode("ascii", "replace")
                if text[:1] in "+-w" and text[1:].isdigit():
                    {"+": groups.add, "-": groups.discard, "w": watched.add}[text[0]](int(text[1:]))
            time.sleep(SETTLE)
        if watched and not all(process_alive(pid) for pid in watched):
            break  # the driver died: its jobs must not run on unsupervised
    if groups:
        _kill_all(groups)


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is dead too
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


class Watchdog:
    """The runner's end: registers process groups with a watchdog process started on first use."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen | None = None
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._watched: set[int] = set()

    def _send(self, text: str) -> None:
        with self._lock:
            if self._proc is None or self._pid != os.getpid():  # (a fork must not share the parent's)
                self._pid = os.getpid()
                self._proc = subprocess.Popen(
                    [sys.executable, "-m", "trackdag.execute.watchdog"], stdin=subprocess.PIPE,
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                    env={**os.environ, "PYTHONPATH": _package_root() + os.pathsep + os.environ.get("PYTHONPATH", "")})
                self._proc.wait()  # the launcher exits at once; its child, the watchdog, holds the pipe
            if not text:
                return
            try:
                assert self._proc.stdin is not None
                os.write(self._proc.stdin.fileno(), text.encode("ascii"))  # (a line is far below PIPE_BUF: whole)
            except (BrokenPipeError, OSError, ValueError):  # (ValueError: closed by close())
                self._proc = None  # it died: the next call starts another

    def start(self) -> None:
        """Start the watchdog now (it starts on first use otherwise), so registering a job costs one write."""
        self._send("")

    def add(self, pgid: int) -> None:
        """Kill group ``pgid`` if this process dies before :meth:`remove`."""
        self._send(f"+{pgid}\n")

    def remove(self, pgid: int) -> None:
        self._send(f"-{pgid}\n")

    def watch(self, pid: int) -> None:
        """Also kill every registered group when process ``pid`` (of this host) dies."""
        if pid not in self._watched:
            self._watched.add(pid)
            self._send(f"w{pid}\n")

    def close(self) -> None:
        """Let the watchdog exit (it kills any group still registered)."""
        with self._lock:
            proc, self._proc = self._proc, None
        if proc is not None and proc.stdin is not None:
            try:
                proc.stdin.close()  # the watchdog reads end of file and exits
            except OSError:
                pass


def _package_root() -> str:
    """The folder trackdag is imported from, so ``-m trackdag.execute.watchdog`` finds the same code."""
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


if __name__ == "__main__":
    main()
