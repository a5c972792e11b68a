"""What is happening: ``trackdag status`` (a run at a glance) and ``trackdag show JOB``.

Both read the catalog through a read-only connection that waits briefly for
the driver's short write transactions, so they work from another shell while
a run is in progress.

Example:
    >>> resolve_ref_kind("stage1_predict_id_0123456789ab")
    'folder name'
"""
from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .api import catalog_path
from .catalog.connection import connect, translated
from .errors import TrackdagError
from .layout import STDERR, STDOUT
from .lock import active_run

STATES = ("planned", "queued", "running", "done", "failed", "skipped", "cancelled")


class JobNotFound(TrackdagError):
    """``trackdag show`` was given something that names no job."""


def _rows(con: Any, sql: str, params: list | tuple = ()) -> list[dict[str, Any]]:
    cur = con.execute(sql, list(params))
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]


def _age(ts: datetime | None) -> float | None:
    return None if ts is None else max(0.0, time.time() - ts.timestamp())


def _tail_lines(path: str, lines: int) -> str:
    from .execute.runner import tail

    text = tail(path, 8000)
    return "\n".join(text.splitlines()[-lines:])


@dataclass
class Status:
    """A run at a glance: the latest run, job counts per node and state, running and failed jobs."""

    run: dict[str, Any] | None
    active: dict[str, Any] | None
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    running: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    #: rows of the run's sweep whose every job is done (``runs.n_rows`` is the sweep's size)
    filled: int | None = None


def status(root: str = "trackdag_output", *, catalog: str | None = None, run_id: str | None = None) -> Status:
    """Read the state of the latest run (or ``run_id``) on ``root``."""
    path = os.path.abspath(catalog_path(root, catalog))
    with translated(path):
        return _status(path, run_id)


def _status(path: str, run_id: str | None) -> Status:
    con = connect(path, read_only=True)
    try:
        where, args = ("WHERE run_id = ?", [run_id]) if run_id else ("", [])
        runs = _rows(con, f"SELECT * FROM runs {where} ORDER BY started DESC LIMIT 1", args)
        if not runs:
            raise TrackdagError(f"{path} has no run" + (f" {run_id!r}" if run_id else ""))
        run = runs[0]
        jobs = "SELECT DISTINCT job_id FROM run_jobs WHERE run_id = ?"
        counts: dict[str, dict[str, int]] = {}
        for row in _rows(con, f"SELECT node, status, count(*) AS n FROM jobs WHERE job_id IN ({jobs}) "
                              "GROUP BY ALL", [run["run_id"]]):
            counts.setdefault(row["node"], {})[row["status"]] = row["n"]
        running = _rows(con, f"SELECT node, short_id, folder, started, attempts FROM jobs "
                             f"WHERE job_id IN ({jobs}) AND status = 'running' ORDER BY started", [run["run_id"]])
        for job in running:
            job["age"] = _age(job.pop("started"))
        failed = _rows(con, f"""
            SELECT j.node, j.short_id, j.folder, j.error, a.stderr_tail, a.exit_code, a.attempt
            FROM jobs j LEFT JOIN attempts a ON a.job_id = j.job_id AND a.attempt = j.attempts
            WHERE j.job_id IN ({jobs}) AND j.status = 'failed' ORDER BY j.ended""", [run["run_id"]])
        for job in failed:
            job["log"] = os.path.join(job["folder"], STDERR)
        order = [r["node"] for r in _rows(con, "SELECT node FROM jobs WHERE job_id IN "
                                               f"({jobs}) GROUP BY node ORDER BY min(rowid), node",
                                          [run["run_id"]])]
        counts = {n: counts[n] for n in order if n in counts}
        filled = filled_rows(con, run["run_id"])
    finally:
        con.close()
    return Status(run, active_run(run["root"]) if run.get("root") else None, counts, running, failed, filled)


def filled_rows(con: Any, run_id: str) -> int:
    """How many rows of a run are complete now: every job the row asks for is done.

    A run with ``--limit`` takes the complete rows of its sweep again (as
    already done) with the rows it fills, so this counts the whole sweep's
    filled rows, live during the run; the sweep's size is ``runs.n_rows``.
    """
    return con.execute("""
        SELECT count(*) FROM (SELECT rj.row_index FROM run_jobs rj LEFT JOIN jobs j USING (job_id)
                              WHERE rj.run_id = ? GROUP BY rj.row_index
                              HAVING bool_and(coalesce(j.status = 'done', false)))""", [run_id]).fetchone()[0]


def format_status(st: Status) -> str:
    run = st.run or {}
    state = run.get("status")
    if state == "running" and not st.active:
        state = "running? (no live driver holds the root: it was killed; the next run will resume)"
    lines = [f"run {run.get('run_id')}: {state}, {run.get('backend')} backend, pid {run.get('pid')} "
             f"on {run.get('host')}, started {run.get('started'):%Y-%m-%d %H:%M:%S}"
             + (f", ended {run['ended']:%H:%M:%S}" if run.get("ended") else "")]
    if st.filled is not None and run.get("n_rows"):
        left = run["n_rows"] - st.filled
        lines.append(f"filled: {st.filled} of {run['n_rows']} configurations" + (f"; {left} left" if left > 0 else ""))
    used = [s for s in STATES if any(s in c for c in st.counts.values())]
    width = max([len("node")] + [len(n) for n in st.counts])
    lines.append("  " + "node".ljust(width) + "".join(f"{s:>10}" for s in used) + f"{'total':>10}")
    for node, c in st.counts.items():
        lines.append("  " + node.ljust(width) + "".join(f"{c.get(s, 0):>10}" for s in used)
                     + f"{sum(c.values()):>10}")
    if st.running:
        lines.append("running:")
        lines += [f"  {j['node']}/{j['node']}_id_{j['short_id']}  for {_fmt_age(j['age'])}  attempt {j['attempts']}"
                  for j in st.running]
    if st.failed:
        lines.append("failed:")
        for j in st.failed:
            lines.append(f"  {j['node']}/{j['node']}_id_{j['short_id']}: {j['error']}")
            lines.append(f"    log: {j['log']}")
            for text in (j.get("stderr_tail") or "").strip().splitlines()[-3:]:
                lines.append(f"    | {text}")
    return "\n".join(lines)


def _fmt_age(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(seconds)
    return f"{seconds}s" if seconds < 120 else f"{seconds // 60}m{seconds % 60:02d}s"


# -- show ---------------------------------------------------------------------
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_SHORT = re.compile(r"^[0-9a-z]{12}$")
_FOLDER_NAME = re.compile(r"^(?P<node>.+)_id_(?P<short>[0-9a-z]{12})$")


_PREFIX = re.compile(r"^[0-9a-z]{1,11}$")


def resolve_ref_kind(ref: str) -> str:
    """How ``trackdag show`` reads ``ref``: full id, short id, short id prefix, folder name or folder path.

    >>> [resolve_ref_kind(r) for r in ('0123456789ab', '01234', '.', 'a' * 64)]
    ['short id', 'short id prefix', 'folder path', 'full id']
    """
    if _HEX64.match(ref):
        return "full id"
    if _FOLDER_NAME.match(os.path.basename(ref.rstrip("/"))) and "/" not in ref:
        return "folder name"
    if _SHORT.match(ref):
        return "short id"
    if _PREFIX.match(ref) and not os.path.isdir(ref):
        return "short id prefix"
    return "folder path"


def job_folder_of(path: str) -> str | None:
    """The job folder ``path`` is in (itself or an ancestor holding ``job_config.json``), or None."""
    current = os.path.realpath(path)
    while True:
        if os.path.isfile(os.path.join(current, "job_config.json")):
            return current
        parent = os.path.dirname(current)
        if parent == current:
            return None
        current = parent


def _catalog_for(ref: str, root: str | None, catalog: str | None) -> str:
    """The catalog to look ``ref`` up in: the one given, else the root of the job folder ``ref`` is in."""
    if catalog is not None or root is not None:
        return os.path.abspath(catalog_path(root, catalog))
    folder = job_folder_of(ref) if resolve_ref_kind(ref) == "folder path" else None
    if folder is not None:
        # <root>/<node>/<node>_id_<short>: the root is two levels up
        candidate = catalog_path(os.path.dirname(os.path.dirname(folder)))
        if os.path.isfile(candidate):
            return os.path.abspath(candidate)
    return os.path.abspath(catalog_path("trackdag_output"))


@dataclass
class JobDetail:
    job: dict[str, Any]
    attempts: list[dict[str, Any]]
    ancestors: list[dict[str, Any]]
    descendants: list[dict[str, Any]]
    config: dict[str, Any] | None
    stdout_tail: str
    stderr_tail: str
    #: the environment and code of the run of its latest done attempt (:mod:`trackdag.provenance`)
    provenance: Any = None


def find_job(con: Any, ref: str, path: str) -> dict[str, Any]:
    """The ``jobs`` row ``ref`` names (see :func:`show`); JobNotFound when none or several."""
    kind = resolve_ref_kind(ref)
    if kind == "full id":
        where, args = "job_id = ?", [ref]
    elif kind == "short id":
        where, args = "short_id = ?", [ref]
    elif kind == "short id prefix":
        where, args = "starts_with(short_id, ?)", [ref]
    elif kind == "folder name":
        m = _FOLDER_NAME.match(ref)
        where, args = "node = ? AND short_id = ?", [m.group("node"), m.group("short")]  # type: ignore[union-attr]
    else:
        where, args = "folder = ?", [(job_folder_of(ref) or os.path.realpath(ref)).rstrip("/")]
    found = _rows(con, f"SELECT * FROM jobs WHERE {where}", args)
    if not found and kind == "folder path":  # a symlinked root: compare the names
        m = _FOLDER_NAME.match(os.path.basename((job_folder_of(ref) or ref).rstrip("/")))
        if m:
            found = _rows(con, "SELECT * FROM jobs WHERE node = ? AND short_id = ?", [m["node"], m["short"]])
    if not found:
        raise JobNotFound(f"no job {ref!r} in {path} (give a short id or a prefix of one, a full id, "
                          "or a job folder)")
    if len(found) > 1:
        names = ", ".join(sorted(f"{j['node']}_id_{j['short_id']}" for j in found)[:10])
        more = f" and {len(found) - 10} more" if len(found) > 10 else ""
        raise JobNotFound(f"{ref!r} names several jobs ({names}{more}); give more characters, the folder "
                          "name or the full id")
    return found[0]


def show(ref: str = ".", root: str | None = None, *, catalog: str | None = None, lines: int = 20) -> JobDetail:
    """Everything about one job: config, command, state, attempts, lineage, log tails, provenance.

    Provenance: the environment (python, packages) and code (git commit,
    dirty or not, diff hash) of the run of its latest done attempt.

    ``ref`` is a full id, a short id or a unique prefix of one, a folder name,
    or a path in a job folder (``.`` inside one).  Without ``root`` and
    ``catalog``, a job folder's own root is used, else ``trackdag_output``.
    """
    path = _catalog_for(ref, root, catalog)
    with translated(path):
        return _show(path, ref, lines)


def _show(path: str, ref: str, lines: int) -> JobDetail:
    con = connect(path, read_only=True)
    try:
        job = find_job(con, ref, path)
        attempts = _rows(con, "SELECT attempt, run_id, status, exit_code, signal, started, ended, duration, host, "
                              "node_id, peak_rss_kb, error FROM attempts WHERE job_id = ? ORDER BY attempt",
                         [job["job_id"]])
        lineage = """
            WITH RECURSIVE walk(job_id, depth) AS (
                SELECT {a}, 1 FROM edges WHERE {b} = ?
                UNION SELECT e.{a}, w.depth + 1 FROM edges e JOIN walk w ON e.{b} = w.job_id)
            SELECT j.node, j.short_id, j.status, min(w.depth) AS depth FROM walk w JOIN jobs j USING (job_id)
            GROUP BY ALL ORDER BY depth, j.node, j.short_id"""
        ancestors = _rows(con, lineage.format(a="parent_id", b="child_id"), [job["job_id"]])
        descendants = _rows(con, lineage.format(a="child_id", b="parent_id"), [job["job_id"]])
        from .provenance import job_provenance

        provenance = job_provenance(con, job["job_id"])
    finally:
        con.close()
    config = None
    try:
        with open(os.path.join(job["folder"], "job_config.json"), encoding="utf-8") as fh:
            config = json.load(fh)
    except (OSError, ValueError):
        pass
    return JobDetail(job, attempts, ancestors, descendants, config,
                     _tail_lines(os.path.join(job["folder"], STDOUT), lines),
                     _tail_lines(os.path.join(job["folder"], STDERR), lines), provenance)


def format_show(d: JobDetail) -> str:
    from .provenance import format_code, format_environment

    j = d.job
    lines = [
        f"job {j['node']}_id_{j['short_id']}",
        f"  id:      {j['job_id']}",
        f"  node:    {j['node']}",
        f"  state:   {j['status']}" + (f" ({j['error']})" if j.get("error") else ""),
        f"  folder:  {j['folder']}",
        f"  result:  {j.get('result_status') or '-'}" + (f" ({j['result_error']})" if j.get("result_error") else ""),
        f"  environment: {format_environment(d.provenance)}",
        f"  code:    {format_code(d.provenance)}",
        "  command:",
        *["    " + line for line in j["command"].splitlines()],
        "  requested params:",
        *[f"    {k} = {json.dumps(v)}" for k, v in _json(j.get("requested")).items()],
        "  attempts:",
    ]
    for a in d.attempts:
        took = f"{a['duration']:.2f}s" if a.get("duration") is not None else "-"
        code = a["exit_code"] if a["exit_code"] is not None else (f"signal {a['signal']}" if a["signal"] else "-")
        lines.append(f"    #{a['attempt']} {a['status']} exit {code} in {took} on {a['host'] or '?'}"
                     + (f" (ray node {a['node_id'][:12]})" if a.get("node_id") else "")
                     + (f" run {a['run_id']}" if a.get("run_id") else "")
                     + (f": {a['error']}" if a.get("error") else ""))
    if not d.attempts:
        lines.append("    (none)")
    for title, items in (("ancestors", d.ancestors), ("descendants", d.descendants)):
        lines.append(f"  {title}:" + ("" if items else " (none)"))
        lines += [f"    {'  ' * (x['depth'] - 1)}{x['node']}/{x['node']}_id_{x['short_id']} ({x['status']})"
                  for x in items]
    for title, text in (("stdout.log", d.stdout_tail), ("stderr.log", d.stderr_tail)):
        lines.append(f"  {title} (tail):" + ("" if text.strip() else " (empty)"))
        lines += ["    | " + t for t in text.splitlines()]
    return "\n".join(lines)


def _json(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return value if isinstance(value, dict) else {}
