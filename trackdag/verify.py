"""Catalog against disk: ``trackdag verify`` (what disagrees) and ``trackdag explain`` (why a job would run).

:func:`verify` lists every disagreement between a catalog and the job
folders under its root:

- a job the catalog says is done whose folder has no matching done record;
- a done job whose outputs are missing or changed since its done record was
  written (size and modification time; with ``content=True`` the sha256 too,
  for outputs recorded with ``trackdag run --hash-outputs``);
- a job folder the catalog does not know, or a catalog job whose folder is gone (a job never
  submitted has none yet: a run writes each folder just before it starts the job);
- a folder holding another job than the catalog says (a short-id collision),
  or two jobs of a node with one short id;
- attempts recorded in a folder but not in the catalog, or the other way.

A run redoes a done job whose outputs verify as missing or changed (see
:func:`trackdag.layout.is_done`).  :func:`why` says, for one job, what the
next run would do with it and why.

Example:
    >>> Problem("missing-output", "/r/a/a_id_x", "out.json is missing").line()
    'missing-output: /r/a/a_id_x: out.json is missing'
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from .layout import CONFIG, DONE, changed_outputs, read_record
from .records import attempt_numbers


@dataclass(frozen=True)
class Problem:
    """One disagreement between the catalog and the disk."""

    kind: str
    folder: str
    detail: str

    def line(self) -> str:
        return f"{self.kind}: {self.folder}: {self.detail}"


def verify(root: "str | os.PathLike", catalog: "str | os.PathLike | None" = None, *, content: bool = False,
           timeout: float | None = None) -> list[Problem]:
    """Every disagreement between the catalog of ``root`` and its job folders (see the module docstring)."""
    from .api import catalog_path, open_catalog
    from .reindex import job_folders

    root = os.path.abspath(os.fspath(root))
    problems: list[Problem] = []
    with open_catalog(catalog_path(root, catalog), timeout=timeout) as cat:
        con = cat.connection
        jobs = con.execute("SELECT job_id, node, short_id, folder, status, attempts FROM jobs "
                           "WHERE starts_with(folder, ?) ORDER BY folder", [root + "/"]).fetchall()
        recorded = {j: set() for j, *_ in jobs}
        for job_id, attempt in con.execute("SELECT job_id, attempt FROM attempts").fetchall():
            recorded.setdefault(job_id, set()).add(attempt)
        for node, short, n in con.execute("SELECT node, short_id, count(*) FROM jobs GROUP BY ALL HAVING count(*) > 1"
                                          ).fetchall():
            problems.append(Problem("short-id-collision", os.path.join(root, node, f"{node}_id_{short}"),
                                    f"{n} jobs of node {node!r} share the short id {short}"))
    known = {folder for *_, folder, _s, _a in jobs}
    for job_id, node, short, folder, status, _attempts in jobs:
        if not os.path.isdir(folder):
            if status in ("planned", "skipped") and not _attempts:
                continue  # never submitted: a run writes a job's folder just before it starts the job
            problems.append(Problem("missing-folder", folder, f"the catalog has job {job_id[:12]}... ({status}) "
                                                              "but its folder is gone"))
            continue
        config = read_record(folder, CONFIG) or {}
        if config.get("job_id") not in (None, job_id):
            problems.append(Problem("short-id-collision", folder, f"the folder holds job {config['job_id']}, "
                                                                  f"the catalog says {job_id}"))
            continue
        on_disk = set(attempt_numbers(folder))
        if on_disk - recorded.get(job_id, set()):
            problems.append(Problem("unrecorded-attempt", folder, "attempts on disk the catalog lacks: "
                                    + ", ".join(map(str, sorted(on_disk - recorded[job_id])))
                                    + " (`trackdag reindex` records them)"))
        if recorded.get(job_id, set()) - on_disk and on_disk:
            problems.append(Problem("attempt-not-on-disk", folder, "attempts in the catalog without a record in the "
                                    "folder: " + ", ".join(map(str, sorted(recorded[job_id] - on_disk)))))
        if status != "done":
            continue
        done = read_record(folder, DONE)
        if not done or done.get("job_id") != job_id:
            problems.append(Problem("not-done-on-disk", folder, "the catalog says done, the folder has no done "
                                                                "record for this job (the next run redoes it)"))
            continue
        outputs = config.get("outputs") or done.get("outputs") or {}
        for name, what in changed_outputs(outputs, done, content=content).items():
            kind = "missing-output" if what == "missing" else "changed-output"
            problems.append(Problem(kind, folder, f"output {name!r} ({outputs.get(name)}) is {what}"
                                    if what == "missing" else f"output {name!r} ({outputs.get(name)}): {what} "
                                    "(the next run redoes the job)"))
    for folder in job_folders(root):
        if folder not in known:
            problems.append(Problem("unknown-folder", folder, "a job folder the catalog does not know "
                                                              "(`trackdag reindex` adds it)"))
    return problems


def why(job: Any, *, will_run: "set[str] | None" = None, names: "dict[str, str] | None" = None) -> tuple[str, str]:
    """(what the next run does: 'skip' or 'run', why) for a planned :class:`~trackdag.plan.Job`.

    ``will_run``: ids of jobs the run will execute (to name an ancestor that
    runs first); ``names``: job id -> folder name, for that message.
    """
    folder = job.folder
    if not os.path.isdir(folder):
        return "run", "new: never run"
    done = read_record(folder, DONE)
    if done and done.get("job_id") == job.job_id:
        wrong = changed_outputs(job.outputs, done)
        if not wrong:
            return "skip", "done: its done record matches and its outputs are as recorded"
        return "run", "done before, but " + "; ".join(f"output {k} is {v}" for k, v in wrong.items())
    config = read_record(folder, CONFIG) or {}
    if config.get("job_id") not in (None, job.job_id) or (done and done.get("job_id") != job.job_id):
        return "error", f"its folder holds another job ({config.get('job_id') or done.get('job_id')}): a short-id collision"
    parents = [p for p in job.parents if will_run is not None and p in will_run]
    waits = f"; after its ancestor {(names or {}).get(parents[0], parents[0])}, which will run" if parents else ""
    from .records import read_attempts

    attempts = read_attempts(folder)
    if not attempts:
        return "run", "planned: never ran" + waits
    last = attempts[-1]
    status, error = last.get("status"), last.get("error") or ""
    if status == "cancelled" and error.startswith("interrupted"):
        return "run", f"its last attempt ({last['attempt']}) was interrupted: the driver stopped" + waits
    if status == "done":
        return "run", f"its last attempt ({last['attempt']}) ended but left no done record" + waits
    return "run", f"its last attempt ({last['attempt']}) {status}" + (f": {error}" if error else "") + waits


def explain_job(ref: str = ".", root: "str | None" = None, *, catalog: "str | None" = None) -> dict[str, Any]:
    """What the next run would do with the job ``ref`` names (as ``trackdag show`` reads it), and why.

    Its ancestors are looked at on disk too: one that is not done will run
    first.  Returns {job, folder, action, reason}.
    """
    from types import SimpleNamespace

    from .catalog.connection import connect
    from .status import _catalog_for, find_job

    path = _catalog_for(ref, root, catalog)
    con = connect(path, read_only=True)
    try:
        row = find_job(con, ref, path)
        ancestors = con.execute("""
            WITH RECURSIVE walk(job_id) AS (
                SELECT parent_id FROM edges WHERE child_id = ?
                UNION SELECT e.parent_id FROM edges e JOIN walk w ON e.child_id = w.job_id)
            SELECT j.job_id, j.folder FROM walk JOIN jobs j USING (job_id)""", [row["job_id"]]).fetchall()
    finally:
        con.close()

    def as_job(job_id: str, folder: str) -> Any:
        config = read_record(folder, CONFIG) or {}
        return SimpleNamespace(job_id=job_id, folder=folder, outputs=config.get("outputs") or {},
                               parents=tuple((config.get("parents") or {}).values()), name=os.path.basename(folder))

    others = [as_job(j, f) for j, f in ancestors]
    will_run = {a.job_id for a in others if why(a)[0] == "run"}
    action, reason = why(as_job(row["job_id"], row["folder"]), will_run=will_run,
                         names={a.job_id: a.name for a in others})
    return {"job": f"{row['node']}_id_{row['short_id']}", "folder": row["folder"], "action": action,
            "reason": reason}


def explain_plan(plan: Any, would_run: "list[str]") -> dict[str, tuple[str, str]]:
    """job id -> (action, reason) for every job of ``plan`` (see :func:`why`)."""
    runs = set(would_run)
    names = {j.job_id: j.name for j in plan.jobs.values()}
    out = {}
    for job_id, job in plan.jobs.items():
        action, reason = why(job, will_run=runs, names=names)
        if job_id in runs and action == "skip":  # --no-skip-existing
            action, reason = "run", "done, but --no-skip-existing runs it again"
        out[job_id] = (action, reason)
    return out


__all__ = ["Problem", "verify", "why", "explain_plan", "explain_job"]
