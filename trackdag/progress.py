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

    def _render(self) -> Any:
        from rich.table import Table
        from rich.text import Text

        grid = Table.grid(padding=(0, 2))
        grid.add_row(
            f"[green]done {self.done}[/]", f"[cyan]running {self.running}[/]", f"[red]failed {self.failed}[/]",
            f"[yellow]skipped {self.skipped}[/]", f"remaining {self.remaining}", f"of {self.total}",
            f"{self.rate():.1f} jobs/s", f"eta {self.eta()}", f"elapsed {_duration(time.monotonic() - self.started)}",
        )
        if not self.last_failure:
            return grid
        from rich.console import Group

        # Text, not markup: error messages may hold [brackets].
        return Group(grid, Text(f"last failure: {self.last_failure}", style="red"))
