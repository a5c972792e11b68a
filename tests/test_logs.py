"""A job's logs are copied by the thread that waits for it: what ends the copy, and what does not block it."""
import os
import time
from pathlib import Path

import pytest

from trackdag.execute import runner
from trackdag.execute.base import JobSpec
from trackdag.execute.runner import run_job


def _spec(folder: Path, script: str) -> JobSpec:
    return JobSpec("id1", "n", str(folder), ("bash", "-c", script), {"out": str(folder / "out.txt")}, {}, 1)


def _wait_for(predicate, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_a_process_left_behind_holding_the_logs_does_not_hold_the_job(tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "DRAIN_SECONDS", 0.5)
    t0 = time.monotonic()
    outcome = run_job(_spec(tmp_path, "(sleep 2; echo late; echo late-err >&2) & echo early; echo x > out.txt"))
    took = time.monotonic() - t0
    assert outcome.status == "done" and took < 1.8, (outcome, took)
    log = tmp_path / "stdout.log"
    assert log.read_text() == "early\n"
    # the copy goes on in the background and ends when the last writer closes the pipe
    assert _wait_for(lambda: log.read_text() == "early\nlate\n", 10), log.read_text()
    assert _wait_for(lambda: (tmp_path / "stderr.log").read_text() == "late-err\n", 10)


def test_a_job_that_closes_its_logs_early_is_still_waited_for(tmp_path):
    t0 = time.time()
    outcome = run_job(_spec(tmp_path, "echo said; exec >&- 2>&-; sleep 0.6; echo x > out.txt"))
    assert outcome.status == "done" and outcome.ended - t0 >= 0.6, outcome
    assert (tmp_path / "stdout.log").read_text() == "said\n"


def test_big_logs_of_both_streams_are_copied_whole(tmp_path):
    # more than a pipe's buffer on both streams, interleaved: neither may block the other
    script = "for i in $(seq 20000); do echo out-$i; echo err-$i >&2; done; echo x > out.txt"
    outcome = run_job(JobSpec("id1", "n", str(tmp_path), ("bash", "-c", script), {"out": str(tmp_path / "out.txt")},
                              {}, 1, log_limit=0))
    assert outcome.status == "done"
    assert (tmp_path / "stdout.log").read_text().splitlines() == [f"out-{i}" for i in range(1, 20001)]
    assert (tmp_path / "stderr.log").read_text().splitlines() == [f"err-{i}" for i in range(1, 20001)]


def test_without_a_pidfd_the_logs_are_copied_in_a_thread(tmp_path, monkeypatch):
    # os.pidfd_open is Linux's (5.3 and later); elsewhere the copier falls back to a thread of its own
    monkeypatch.delattr(os, "pidfd_open", raising=False)
    outcome = run_job(_spec(tmp_path, "echo hello; echo oops >&2; echo x > out.txt"))
    assert outcome.status == "done"
    assert (tmp_path / "stdout.log").read_text() == "hello\n"
    assert (tmp_path / "stderr.log").read_text() == "oops\n"


@pytest.mark.parametrize("limit", [40, 1000])
def test_a_capped_log_keeps_its_head_and_tail(tmp_path, limit):
    script = "for i in $(seq 500); do echo line-$i; done; echo x > out.txt"
    outcome = run_job(JobSpec("id1", "n", str(tmp_path), ("bash", "-c", script), {"out": str(tmp_path / "out.txt")},
                              {}, 1, log_limit=limit))
    assert outcome.status == "done"
    text = (tmp_path / "stdout.log").read_text()
    assert text.startswith("line-1\n") and text.endswith("line-500\n") and "left out" in text
    assert len(text) <= limit + 200
    assert not list(tmp_path.glob("stdout.log.tail*"))


def test_the_stderr_tail_is_what_the_job_wrote_there_and_empty_when_it_wrote_nothing(tmp_path):
    quiet, loud = tmp_path / "quiet", tmp_path / "loud"
    quiet.mkdir(), loud.mkdir()
    said = run_job(_spec(loud, "echo to-out; echo first >&2; echo last-words >&2; exit 3"))
    assert said.status == "failed" and said.stderr_tail == "first\nlast-words\n", said
    silent = run_job(_spec(quiet, "echo only-out; exit 3"))
    assert silent.status == "failed" and silent.stderr_tail == "", silent
    (quiet / "stderr.log").write_text("written after the job: not the job's\n")
    assert run_job(_spec(quiet, "exit 4")).stderr_tail == ""  # the log is made anew for each attempt


def test_a_pipe_closed_while_the_job_runs_and_one_held_open_are_both_followed(tmp_path):
    # stdout closed at once, stderr written until the end: the copier follows each pipe on its own
    outcome = run_job(_spec(tmp_path, "exec >&-; for i in 1 2 3; do echo e$i >&2; sleep 0.1; done; echo x > out.txt"))
    assert outcome.status == "done" and outcome.stderr_tail == "e1\ne2\ne3\n", outcome
    assert (tmp_path / "stdout.log").read_text() == ""
