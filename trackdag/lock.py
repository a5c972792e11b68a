"""One active run per root: an advisory lock on ``<root>/.trackdag.lock``.

The file holds the active run's id, pid, host and start time, so a second
``trackdag run`` on the same root can say who is in the way.  The kernel
drops the lock when the process dies (even by SIGKILL), so a crashed driver
never leaves a stale lock behind.

Example:
    >>> import tempfile
    >>> root = tempfile.mkdtemp()
    >>> with RunLock(root, run_id="r1"):
    ...     pass
"""
from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from typing import Any

from .errors import TrackdagError

LOCK_NAME = ".trackdag.lock"


class RunLockedError(TrackdagError):
    """Another run is active on the same root."""

    exit_code = 2


class RunLock:
    """Hold the root's lock for the duration of a run (a context manager)."""

    def __init__(self, root: "str | os.PathLike", *, run_id: str) -> None:
        self.root = os.fspath(root)
        self.path = os.path.join(self.root, LOCK_NAME)
        self.run_id = run_id
        self._fd: int | None = None

    def acquire(self) -> None:
        os.makedirs(self.root, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read(fd)
            os.close(fd)
            raise RunLockedError(
                f"root {self.root} is in use by run {holder.get('run_id', '?')} "
                f"(pid {holder.get('pid', '?')} on host {holder.get('host', '?')}, "
                f"started {holder.get('started', '?')}); wait for it to finish or stop it"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({
            "run_id": self.run_id, "pid": os.getpid(), "host": socket.gethostname(),
            "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        }).encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "RunLock":
        self.acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


def _read(fd: int) -> dict[str, Any]:
    try:
        data = os.pread(fd, 4096, 0)
        found = json.loads(data or b"{}")
        return found if isinstance(found, dict) else {}
    except (OSError, ValueError):
        return {}


def active_run(root: "str | os.PathLike") -> dict[str, Any] | None:
    """The record of the run holding ``root``'s lock, or None when no run is active."""
    path = os.path.join(os.fspath(root), LOCK_NAME)
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read(fd) or {"run_id": "?"}
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
