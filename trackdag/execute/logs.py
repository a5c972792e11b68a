"""A job's stdout.log and stderr.log, capped: the head and the tail are kept, the middle is dropped.

A job writing 2 GB to stdout must not fill the disk.  The job writes into a
pipe; :class:`LogCopier` copies each pipe into its log file until the log
holds ``limit / 2`` bytes (the head), then keeps only the last bytes written
(the tail: between ``limit / 4`` and ``limit / 2`` of them) in two segment
files that take turns, so the disk never holds much more than ``limit``
bytes per log.  At the end the tail is appended after a line saying how many
bytes were left out.  ``limit`` is ``--log-limit`` (``TRACKDAG_LOG_LIMIT``),
default :data:`DEFAULT_LIMIT`; 0 means no cap.

A pipe also ties the job to its runner: if the runner dies, the job's next
write fails (and the watchdog kills it anyway).

Example:
    >>> import os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> r, w = os.pipe()
    >>> copier = LogCopier([(r, os.path.join(folder, 'out.log'))], limit=40)
    >>> _ = os.write(w, b'0123456789' * 10); os.close(w)
    >>> copier.finish(timeout=5)
    >>> text = open(os.path.join(folder, 'out.log')).read()
    >>> text.startswith('01234567890123456789') and text.endswith('6789') and 'left out' in text
    True
"""
from __future__ import annotations

import os
import select
import threading
import time
from typing import IO, Any

#: bytes kept of each log by default (100 MiB)
DEFAULT_LIMIT = 100 * 1024 * 1024
CHUNK = 1 << 16
#: poll events that mean "read now": data, or the writer's end closed (read then gives b"")
_READABLE = select.POLLIN | select.POLLPRI | select.POLLHUP | select.POLLERR


def default_limit() -> int:
    """``TRACKDAG_LOG_LIMIT`` (bytes, 0 = no cap), else :data:`DEFAULT_LIMIT`."""
    try:
        return max(0, int(os.environ.get("TRACKDAG_LOG_LIMIT", DEFAULT_LIMIT)))
    except ValueError:
        return DEFAULT_LIMIT


def _write_all(fh: IO[bytes], data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[fh.write(view):]


class _Log:
    """One capped log being written (unbuffered: the pipe hands over blocks of up to CHUNK bytes)."""

    def __init__(self, path: str, limit: int) -> None:
        self.path = path
        self.limit = limit
        self.head: IO[bytes] = open(path, "wb", buffering=0)
        self.head_left = limit // 2 if limit else -1
        self.segment_size = max(limit // 4, 1)
        self.segments = [f"{path}.tail0", f"{path}.tail1"]
        self.current: IO[bytes] | None = None
        self.which = 0
        self.in_current = 0
        self.dropped = 0  # bytes that left the tail (rotated away)
        self.total = 0

    def write(self, data: bytes) -> None:
        self.total += len(data)
        if self.head_left < 0:  # no cap
            _write_all(self.head, data)
            return
        if self.head_left:
            part, data = data[:self.head_left], data[self.head_left:]
            _write_all(self.head, part)
            self.head_left -= len(part)
        while data:
            if self.current is None or self.in_current >= self.segment_size:
                self._rotate()
            part, data = data[:self.segment_size - self.in_current], data[self.segment_size - self.in_current:]
            assert self.current is not None
            _write_all(self.current, part)
            self.in_current += len(part)

    def _rotate(self) -> None:
        if self.current is not None:
            self.current.close()
            self.which = 1 - self.which
        older = self.segments[self.which]
        if os.path.exists(older):
            self.dropped += os.path.getsize(older)
        self.current = open(older, "wb", buffering=0)
        self.in_current = 0

    def close(self) -> None:
        if self.current is not None:
            self.current.close()
            newer = self.segments[self.which]
            older = self.segments[1 - self.which]
            kept = [p for p in (older, newer) if os.path.exists(p)]
            if self.dropped:
                note = (f"\n[trackdag: {self.dropped} bytes of this log were left out to keep it under "
                        f"{self.limit} bytes (--log-limit); {self.total} bytes were written in all]\n")
                _write_all(self.head, note.encode())
            for segment in kept:
                with open(segment, "rb") as fh:
                    while block := fh.read(CHUNK):
                        _write_all(self.head, block)
                os.unlink(segment)
        self.head.close()


class LogCopier:
    """Copy pipes (read fd, log path) into capped logs.

    :meth:`copy_until_exit` copies them in the calling thread while it waits
    for the job's process (a pidfd in the same ``select``), so a job costs
    its runner no thread of its own; :meth:`finish` copies what is left
    until the pipes close (the last process of the job closes them), giving
    the rest to a background thread if that takes longer than its timeout
    (a daemon the job left behind still holds them).  Where there is no
    pidfd (not Linux) the copying runs in a background thread from the start.
    """

    def __init__(self, streams: list[tuple[int, str]], limit: int) -> None:
        self._logs: dict[int, _Log] = {}
        try:
            for fd, path in streams:
                self._logs[fd] = _Log(path, limit)
        except OSError:
            for log in self._logs.values():
                log.head.close()
            raise
        #: log path -> why writing it failed (a full disk), if it did
        self.errors: dict[str, str] = {}
        # poll(2) straight: no selector object (and no epoll fd) per job; a closed pipe reads as POLLHUP
        self._poll = select.poll()
        for fd in self._logs:
            self._poll.register(fd, _READABLE)
        self._open = set(self._logs)
        self._thread: threading.Thread | None = None

    def copied(self, path: str) -> int:
        """How many bytes went into the log at ``path`` so far (0: it is still empty)."""
        return sum(log.total for log in self._logs.values() if log.path == path)

    def _read(self, fd: int) -> None:
        try:
            data = os.read(fd, CHUNK)
        except OSError:
            data = b""
        if data:
            try:
                self._logs[fd].write(data)
            except OSError as exc:  # a full disk: keep draining, so the job never blocks
                self.errors[self._logs[fd].path] = exc.strerror or str(exc)
        else:
            self._poll.unregister(fd)
            self._open.discard(fd)

    def _wait(self, timeout: float | None = None) -> list[int]:
        """The fds ready to read (or closed), waiting up to ``timeout`` seconds (None: for ever)."""
        ready = self._poll.poll(None if timeout is None else max(0, int(timeout * 1000) + 1))
        return [fd for fd, _ in ready]

    def copy_until_exit(self, pid: int) -> tuple[int, Any]:
        """Copy the pipes until process ``pid`` (a child) ends; reap it and return its wait status and rusage."""
        try:
            pidfd = os.pidfd_open(pid)
        except (AttributeError, OSError):  # no pidfd here: copy in a thread, wait here
            self._in_background()
            return os.wait4(pid, 0)[1:]
        try:
            self._poll.register(pidfd, _READABLE)
            exited = False
            while not exited and self._open:
                for fd in self._wait():
                    if fd == pidfd:
                        exited = True
                    else:
                        self._read(fd)
            self._poll.unregister(pidfd)
        finally:
            os.close(pidfd)
        return os.wait4(pid, 0)[1:]  # at once when it exited; else the pipes closed first, and it will

    def finish(self, timeout: float) -> None:
        """Copy what is left until both pipes close, for up to ``timeout`` seconds, then close the logs.

        Past the timeout a background thread goes on copying (and closes the
        logs at the end), so a leftover daemon never blocks its job's runner.
        """
        if self._thread is not None:
            self._thread.join(timeout)
            return
        deadline = time.monotonic() + timeout
        while self._open:
            left = deadline - time.monotonic()
            if left <= 0:  # what was copied so far is on disk (unbuffered) for the job's outcome to read
                self._in_background()
                return
            for fd in self._wait(left):
                self._read(fd)
        self._close()

    def _in_background(self) -> None:
        self._thread = threading.Thread(target=self._copy, name="trackdag-logs", daemon=True)
        self._thread.start()

    def _copy(self) -> None:
        try:
            while self._open:
                for fd in self._wait():
                    self._read(fd)
        finally:
            self._close()

    def _close(self) -> None:
        for fd, log in self._logs.items():
            try:
                log.close()
            except OSError as exc:
                self.errors[log.path] = exc.strerror or str(exc)
            os.close(fd)
