"""Progress of a run on stderr: done / running / failed / skipped / remaining, rate, ETA.

On a terminal it is a live ``rich`` display that redraws in place; when
stderr is not a terminal (CI logs, pipes) it prints plain lines instead: one
per failure, and a status line at most every ``interval`` seconds.  stdout is
left alone for data (the final summary).

Example:
    >>> import io
    >>> p = Progress(total=2, stream=io.StringIO(), live=False)
    >>> p.line()
    '0/2 done, 0 running, 0 failed, 0 skipped, 2 remaining'
"""
from __future__ import annotations

import sys
import time
from typing import Any, TextIO


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class Progress:
    """Counts events from the driver loop and shows them; see the module docstring."""

    def __init__(self, total: int, *, stream: TextIO | None = None, live: bool | None = None,
                 interval: float = 10.0) -> None:
        self.stream = stream or sys.stderr
        self.total = total
        self.done = self.failed = self.skipped = self.cancelled = 0
        self._running: set[str] = set()
        self.last_failure: str | None = None
        self.interval = interval
        self.started = time.monotonic()
        self._last_print = 0.0
        self._dirty = False
        self.live = self.stream.isatty() if live is None else live
        self._live: Any = None
        if self.live:
            from rich.console import Console
            from rich.live import Live

            self._live = Live(self._render(), console=Console(file=self.stream), refresh_per_second=4,
                              transient=False, get_renderable=self._render)
            self._live.start()

    # -- numbers ------------------------------------------------------------------
    @property
    def running(self) -> int:
        return len(self._running)

    @property
    def remaining(self) -> int:
        return max(0, self.total - self.done - self.failed - self.skipped - self.cancelled - self.running)

    def rate(self) -> float:
        """Jobs finished per second so far."""
        elapsed = time.monotonic() - self.started
        return (self.done + self.failed) / elapsed if elapsed > 0 else 0.0

    def eta(self) -> str:
        rate = self.rate()
        left = self.remaining + self.running
        if not left:
            return "0s"
        return _duration(left / rate) if rate > 0 else "?"

    def line(self) -> str:
        return (f"{self.done}/{self.total} done, {self.running} running, {self.failed} failed, "
                f"{self.skipped} skipped, {self.remaining} remaining"
                + (f", {self.cancelled} cancelled" if self.cancelled else ""))

    # -- callbacks from the driver loop ---------------------------------------------
    def event(self, kind: str, job: Any, outcome: Any) -> None:
        if kind == "started":
            self._running.add(job.job_id)
        elif kind in ("done", "failed", "cancelled", "retrying"):
            self._running.discard(job.job_id)
            if kind == "done":
                self.done += 1
            elif kind == "failed":
                self.failed += 1
            elif kind == "cancelled":
                self.cancelled += 1
            if kind in ("failed", "retrying"):
                what = "failed" if kind == "failed" else "failed, retrying"
                self.last_failure = f"{job.node}/{job.name} {what}: {outcome.error}"
                if not self.live:
                    self._print(self.last_failure)
        elif kind == "skipped":
            self.skipped += 1
        self._dirty = True

    def tick(self) -> None:
        if self.live or not self._dirty:
            return
        if time.monotonic() - self._last_print >= self.interval:
            self._print(f"{self.line()}, {self.rate():.1f} jobs/s, eta {self.eta()}")

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
        elif self._dirty:
            self._print(self.line())

    # -- output ----------------------------------------------------------------------
    def _print(self, text: str) -> None:
        print(text, file=self.stream, flush=True)
        self._last_print = time.monotonic()
        self._dirty = False

    def live_line(self) -> str:
        """The live display's status line: at most 80 columns, whatever the counts.

        >>> import io
        >>> p = Progress(total=100000, stream=io.StringIO(), live=False)
        >>> p.done = p.failed = p.skipped = 99999
        >>> len(p.live_line()) <= 80
        True
        """
        parts = [f"{self.done}/{self.total} done", f"{self.running} run", f"{self.failed} failed",
                 f"{self.skipped} skip", f"{self.rate():.1f}/s", f"eta {self.eta()}",
                 f"{_duration(time.monotonic() - self.started)}"]
        if self.cancelled:
            parts.insert(4, f"{self.cancelled} cancelled")
        line = "  ".join(parts)
        return line if len(line) <= 80 else " ".join(parts)[:80]

    def _render(self) -> Any:
        from rich.text import Text

        # One Text line, cropped (not wrapped) to the terminal: the display redraws in place.
        line = Text(self.live_line(), no_wrap=True, overflow="ellipsis")
        for word, style in (("done", "green"), ("run", "cyan"), ("failed", "red"), ("skip", "yellow")):
            line.highlight_words([f" {word}"], style)
        if not self.last_failure:
            return line
        from rich.console import Group

        # Text, not markup: error messages may hold [brackets].
        return Group(line, Text(f"last failure: {self.last_failure}", style="red", no_wrap=True,
                                overflow="ellipsis"))
