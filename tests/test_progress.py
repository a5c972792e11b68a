"""progress: counts events; plain lines when stderr is not a terminal."""
import io
from types import SimpleNamespace

from trackdag.progress import Progress


def _job(i):
    return SimpleNamespace(job_id=f"j{i}", node="n", name=f"n_id_{i}")


def test_plain_progress_counts_and_prints_failures_and_status_lines():
    out = io.StringIO()
    p = Progress(total=3, stream=out, live=False, interval=0)
    for i in range(3):
        p.event("started", _job(i), None)
    assert p.line() == "0/3 done, 3 running, 0 failed, 0 skipped, 0 remaining"
    p.event("done", _job(0), None)
    p.event("retrying", _job(1), SimpleNamespace(error="exit code 4"))
    p.event("failed", _job(2), SimpleNamespace(error="exit code 3 [x]"))
    assert (p.done, p.failed, p.running, p.remaining) == (1, 1, 0, 1)
    assert "n/n_id_2 failed: exit code 3 [x]" in out.getvalue()
    assert "n/n_id_1 failed, retrying: exit code 4" in out.getvalue()
    p.tick()
    assert "1/3 done, 0 running, 1 failed, 0 skipped, 1 remaining" in out.getvalue()
    assert "jobs/s, eta" in out.getvalue()
    p.close()


def test_live_progress_renders_without_markup_errors():
    out = io.StringIO()
    p = Progress(total=1, stream=out, live=True)
    p.event("started", _job(0), None)
    p.event("failed", _job(0), SimpleNamespace(error="bad [/red] markup [b]"))
    p.close()
    text = out.getvalue()
    assert "failure" in text and "[/red]" in text and "[b]" in text  # shown as text, not parsed


def test_the_live_line_fits_80_columns_at_any_size():
    from rich.console import Console

    p = Progress(total=1_000_000, stream=io.StringIO(), live=False)
    p.done, p.failed, p.skipped, p.cancelled = 999_999, 123_456, 654_321, 77
    p.last_failure = "n/n_id_x failed: " + "an error that goes on " * 20
    console = Console(width=80, file=io.StringIO(), force_terminal=True, color_system=None)
    console.print(p._render())
    lines = console.file.getvalue().splitlines()
    assert len(lines) == 2 and all(len(line) <= 80 for line in lines)
