"""Helpers the benchmark scripts share: timing a fresh process, and KWDagger 0.4.1 in its own venv.

- :func:`time_v` runs a command under ``/usr/bin/time -v`` and returns its wall time and peak
  RSS (the "Maximum resident set size" line: the process's own, or its largest waited-for
  descendant's);
- :func:`start_timed`, :func:`wait_until` and :func:`interrupt` do the same for a process
  stopped from outside once something has happened (a sweep's first job);
- :func:`kwdagger_python` installs ``kwdagger==0.4.1`` from PyPI into
  ``benchmarks/_work/kwdagger-venv`` (git-ignored; never a trackdag dependency), and
  :func:`kwdagger_env` / :func:`kwdagger_schedule_cmd` / :func:`kill_tmux` run it with a
  private tmux server and cmd_queue cache, so that nothing is left behind;
- :class:`Run`, :class:`Side`, :class:`Target`, :class:`Row` and :func:`print_table`: the
  comparison table bench_table.py prints (trackdag beside KWDagger, a floor or a target).
"""
from __future__ import annotations

import os
import re
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

HERE = Path(__file__).resolve().parent
DEMO = HERE.parent / "examples" / "demo"
BIN = Path(sys.executable).parent
TRACKDAG = BIN / "trackdag"
KWD_VENV = HERE / "_work" / "kwdagger-venv"


def peak_mb(time_stderr: str) -> float:
    """The peak RSS in MB that ``/usr/bin/time -v`` printed (NaN when it printed none)."""
    found = re.search(r"Maximum resident set size \(kbytes\): (\d+)", time_stderr)
    return int(found[1]) / 1024 if found else float("nan")


@dataclass(frozen=True)
class Timed:
    """One fresh process: wall seconds, peak RSS in MB, its output and exit code."""

    seconds: float
    peak_mb: float
    stdout: str
    stderr: str
    code: int


def time_v(cmd: Sequence[str], cwd: "Path | str | None" = None, env: "dict[str, str] | None" = None,
           check: bool = True) -> Timed:
    """Run ``cmd`` under ``/usr/bin/time -v``; with ``check``, exit the benchmark if it fails."""
    t0 = time.perf_counter()
    out = subprocess.run(["/usr/bin/time", "-v", *map(str, cmd)], cwd=cwd, capture_output=True, text=True,
                         env=env, stdin=subprocess.DEVNULL)
    seconds = time.perf_counter() - t0
    if check and out.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, cmd))[:300]} failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return Timed(seconds, peak_mb(out.stderr), out.stdout, out.stderr, out.returncode)


# /usr/bin/time ignores SIGINT, and so would its child (Python keeps an ignored SIGINT ignored):
# the child restores the default before it becomes the command, so a SIGINT to the group stops it
_DEFAULT_SIGINT = ("import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
                   "os.execvp(sys.argv[1], sys.argv[1:])")


def start_timed(cmd: Sequence[str], err: Path, cwd: "Path | None" = None,
                env: "dict[str, str] | None" = None) -> tuple[subprocess.Popen, float]:
    """Start ``cmd`` under ``/usr/bin/time -v`` in a new session (its report goes to ``err``).

    Returns the process and its start time (``time.perf_counter()``).
    """
    t0 = time.perf_counter()
    proc = subprocess.Popen(["/usr/bin/time", "-v", sys.executable, "-c", _DEFAULT_SIGINT, *map(str, cmd)],
                            cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=open(err, "w"), start_new_session=True)
    return proc, t0


def wait_until(proc: subprocess.Popen, t0: float, ready: Callable[[], bool], poll: float = 0.01) -> float:
    """Seconds from ``t0`` until ``ready()`` (polled every ``poll`` s); NaN if the process ended first."""
    while proc.poll() is None:
        try:
            if ready():
                return time.perf_counter() - t0
        except FileNotFoundError:
            pass
        time.sleep(poll)
    return float("nan")


def interrupt(proc: subprocess.Popen, grace: float = 20.0) -> float:
    """SIGINT the process's group and wait; SIGKILL it after ``grace`` s. Returns the seconds to its exit."""
    t0 = time.perf_counter()
    try:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        proc.wait()
    return time.perf_counter() - t0


def first_dir_entry(folder: Path) -> Callable[[], bool]:
    """A ``ready`` test for :func:`wait_until`: ``folder`` exists and holds something."""
    return lambda: any(folder.iterdir())


# -- KWDagger 0.4.1 --------------------------------------------------------------------------
def kwdagger_python(venv: Path = KWD_VENV) -> tuple[str | None, str]:
    """The venv's python with kwdagger 0.4.1 importable, installing it if needed; or (None, why)."""
    python = venv / "bin" / "python"
    check = [str(python), "-c", "import kwdagger, sys; sys.exit(kwdagger.__version__ != '0.4.1')"]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return str(python), "existing venv"
    print(f"installing kwdagger==0.4.1 into {venv} ...", file=sys.stderr)
    made = subprocess.run([sys.executable, "-m", "venv", str(venv)], capture_output=True, text=True)
    if made.returncode != 0:
        return None, f"could not create a venv: {made.stderr.strip()[-300:]}"
    pip = subprocess.run([str(python), "-m", "pip", "install", "-q", "kwdagger==0.4.1"], capture_output=True,
                         text=True)
    if pip.returncode != 0 or subprocess.run(check, capture_output=True).returncode != 0:
        return None, "pip could not install kwdagger==0.4.1: " + (pip.stderr.strip().splitlines() or ["?"])[-1]
    return str(python), "installed now"


def kwdagger_env(work: Path, pythonpath: "Path | str | None" = None) -> dict[str, str]:
    """KWDagger's environment: its venv first on PATH, cmd_queue's cache and a tmux server of its own.

    ``XDG_CACHE_HOME`` puts cmd_queue's driver scripts and job logs (``~/.cache/cmd_queue``) in
    ``work``; ``TMUX_TMPDIR`` gives KWDagger a private tmux server, which :func:`kill_tmux` ends
    without touching anyone else's sessions.
    """
    (work / "xdg").mkdir(parents=True, exist_ok=True)
    (work / "tmux").mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PATH": f"{KWD_VENV / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
           "XDG_CACHE_HOME": str(work / "xdg"), "TMUX_TMPDIR": str(work / "tmux"), "COLUMNS": "200"}
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return env


def kill_tmux(env: dict[str, str]) -> None:
    """End the private tmux server of :func:`kwdagger_env` (and the jobs in its sessions)."""
    subprocess.run(["tmux", "kill-server"], env=env, capture_output=True)


def kwdagger_schedule_cmd(params: "Path | str", root: Path, *, backend: str = "tmux", workers: int = 2,
                          run: bool = True, skip_existing: bool = False, extra: Sequence[str] = ()) -> list[str]:
    """``kwdagger schedule`` as a user runs it: never waiting on a prompt or a terminal UI."""
    return [str(KWD_VENV / "bin" / "kwdagger"), "schedule", f"--params={params}", f"--root_dpath={root}",
            f"--backend={backend}", f"--tmux_workers={workers}", f"--run={int(run)}",
            f"--skip_existing={int(skip_existing)}", "--with_textual=0", "--other_session_handler=kill", *extra]


def machine_line(load_start: float) -> str:
    """The machine and its load average (1 minute) at the start and now."""
    return (f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}; load average "
            f"{load_start:.2f} at the start, {os.getloadavg()[0]:.2f} at the end")


# -- the comparison table ---------------------------------------------------------------------
@dataclass
class Run:
    """One timed process of a row."""

    seconds: float
    peak_mb: float
    cpu_ms: "float | None" = None  # driver CPU per job

    @classmethod
    def of(cls, done: Timed) -> "Run":
        return cls(done.seconds, done.peak_mb)


@dataclass
class Side:
    """One side of a row: its runs, or why there are none. ``label`` names a floor."""

    label: str = ""
    runs: list[Run] = field(default_factory=list)
    why: str = ""

    @property
    def seconds(self) -> float:
        return statistics.median(r.seconds for r in self.runs)

    @property
    def peak(self) -> float:
        return max(r.peak_mb for r in self.runs)

    def cell(self) -> str:
        if not self.runs:
            return self.why
        cpus = [r.cpu_ms for r in self.runs if r.cpu_ms is not None]
        cpu = f" (driver CPU {statistics.median(cpus):.2f} ms/job)" if cpus else ""
        return f"{self.label + ': ' if self.label else ''}{self.seconds:.2f} s{cpu}"


@dataclass
class Target:
    """The issue's target for a row: limits on trackdag's time, memory, ratio to the floor, driver CPU."""

    seconds: "float | None" = None
    mb: "float | None" = None
    x_floor: "float | None" = None
    cpu_ms: "float | None" = None
    text: str = ""

    def met(self, ours: Side, other: Side) -> str:
        if not self.text or not ours.runs:
            return ""
        missed = []
        if self.seconds is not None and ours.seconds > self.seconds:
            missed.append("time")
        if self.mb is not None and ours.peak > self.mb:
            missed.append("memory")
        if self.x_floor is not None and (not other.runs or ours.seconds > self.x_floor * other.seconds):
            missed.append("x floor")
        cpus = [r.cpu_ms for r in ours.runs if r.cpu_ms is not None]
        if self.cpu_ms is not None and (not cpus or statistics.median(cpus) > self.cpu_ms):
            missed.append("driver CPU")
        return "no: " + ", ".join(missed) if missed else "yes"


@dataclass
class Row:
    """One line of the table: what was done, trackdag's side, the other side, the target."""

    work: str
    ours: Side
    other: Side
    target: Target = field(default_factory=Target)


def ratio(row: Row) -> str:
    """trackdag against the other side: its time over a floor's, or how many times faster than KWDagger."""
    if not row.ours.runs or not row.other.runs:
        return ""
    if row.other.label.startswith("floor"):
        return f"{row.ours.seconds / row.other.seconds:.2f}x the floor"
    times = row.other.seconds / row.ours.seconds
    return f"{times:.1f}x faster" if times >= 1 else f"{1 / times:.1f}x slower"


def _mb(side: Side) -> str:
    return f"{side.peak:.0f}" if side.runs else ""


def print_table(rows: "list[Row]", quick: bool) -> None:
    """The one Markdown table (with ``quick``, targets are not judged: the sizes are not theirs)."""
    print("| work | trackdag | peak MB | KWDagger 0.4.1 (or floor) | peak MB | ratio | target | met? | runs, s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        runs = "; ".join(" / ".join(f"{r.seconds:.2f}" for r in side.runs) for side in (row.ours, row.other)
                         if side.runs)
        met = "n/a (--quick sizes)" if quick and row.target.text else row.target.met(row.ours, row.other)
        print(f"| {row.work} | {row.ours.cell()} | {_mb(row.ours)} | {row.other.cell()} | {_mb(row.other)} | "
              f"{ratio(row)} | {row.target.text} | {met} | {runs} |")
