"""Bring the catalog in line with the records on disk: job folders and run records (``trackdag reindex``).

The job folder is the record and the catalog its index (see
:mod:`trackdag.records`).  :func:`folder_rows` reads what a job folder says
(``job_config.json``, ``.attempts/``, ``.result.json``, ``done.json``) as the
catalog's rows; :func:`import_folders` applies them, in bulk, in one
transaction: jobs the catalog does not know are registered (with their
params and edges), every recorded attempt and result is written, and each
job's state becomes what its folder says.  It is idempotent: importing a
folder twice changes nothing.

- ``trackdag reindex`` imports every job folder under the root and every
  run record: delete the catalog of a finished sweep, reindex, and every
  table, view and the report are as they were.
- Every ``trackdag run`` imports, before it starts, the folders whose news
  the catalog may have missed (see :func:`stale_folders`): jobs a dead
  driver left running, outcomes a reader kept out of the catalog, results of
  a deleted catalog, attempts recorded on disk but not in the catalog.

A job's state, from its folder: ``done`` when its done record names it and
its outputs are as recorded; else its last attempt's state (``failed``,
``cancelled``); else ``skipped`` when an ancestor failed or was cancelled or
skipped; else ``planned``.

Example:
    >>> import tempfile
    >>> folder_rows(tempfile.mkdtemp()) is None   # not a job folder
    True
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from .errors import PlanError
from .layout import CONFIG, DONE, changed_outputs, read_record
from .records import INTERRUPTED, attempt_numbers, read_attempts, read_run_rows, read_runs
from .results import read_result_json

RUN_COLUMNS = ("run_id", "argv", "params_text", "pipeline_ref", "root", "backend", "workers", "host", "user", "pid",
               "git_sha", "trackdag_version", "started", "ended", "status", "n_rows", "n_jobs", "n_done",
               "n_failed", "n_skipped", "n_cached", "env_id", "python", "git_dirty", "git_diff_hash")


@dataclass
class FolderRows:
    """What one job folder says, as catalog rows."""

    config: dict[str, Any]
    attempts: list[dict[str, Any]]
    done: bool
    result: tuple[str, Any, str | None] | None  # (job_id, row, error) when .result.json is there
    state: dict[str, Any] = field(default_factory=dict)

    @property
    def job_id(self) -> str:
        return self.config["job_id"]


def folder_rows(folder: "str | os.PathLike") -> FolderRows | None:
    """Read a job folder; None when it holds no readable ``job_config.json`` with a job id."""
    folder = os.fspath(folder)
    config = read_record(folder, CONFIG)
    if not config or not isinstance(config.get("job_id"), str):
        return None
    config.setdefault("folder", folder)
    attempts = [a for a in read_attempts(folder) if a.get("job_id") == config["job_id"]]
    done_record = read_record(folder, DONE)
    outputs = config.get("outputs") or (done_record or {}).get("outputs") or {}
    done = bool(done_record and done_record.get("job_id") == config["job_id"]
                and not changed_outputs(outputs, done_record))
    saved = read_result_json(folder)
    result = None
    if done and saved and saved.get("job_id") == config["job_id"]:
        result = (config["job_id"], saved.get("result"), saved.get("error"))
    rows = FolderRows(config, attempts, done, result)
    last = attempts[-1] if attempts else None
    if done:
        done_attempt = next((a for a in reversed(attempts) if a.get("status") == "done"), last)
        rows.state = {"status": "done", "error": None}
        if done_attempt is not None:
            rows.state.update(started=done_attempt.get("started"), ended=done_attempt.get("ended"),
                              attempts=last["attempt"] if last else None)
    elif last is not None:
        status = last.get("status") if last.get("status") in ("failed", "cancelled") else "failed"
        rows.state = {"status": status, "error": last.get("error"), "started": last.get("started"),
                      "ended": last.get("ended"), "attempts": last["attempt"]}
    else:
        rows.state = {"status": "planned", "error": None}
    return rows


def job_folders(root: "str | os.PathLike") -> list[str]:
    """Every job folder under ``root`` (``<root>/<node>/<node>_id_<short>``), sorted."""
    root = os.fspath(root)
    found = []
    try:
        nodes = sorted(os.scandir(root), key=lambda e: e.name)
    except OSError:
        return []
    for node in nodes:
        if not node.is_dir(follow_symlinks=False) or node.name.startswith("."):
            continue
        prefix = f"{node.name}_id_"
        try:
            entries = sorted(e.name for e in os.scandir(node.path) if e.name.startswith(prefix))
        except OSError:
            continue
        found += [os.path.join(node.path, name) for name in entries
                  if os.path.isfile(os.path.join(node.path, name, CONFIG))]
    return found


# -- applying ---------------------------------------------------------------------------------------
def _derive_skipped(rows: Mapping[str, FolderRows], known: Mapping[str, str]) -> None:
    """planned -> skipped when an ancestor failed, was cancelled or was skipped (naming the failed one)."""
    def parents(job_id: str) -> list[str]:
        found = rows.get(job_id)
        return list((found.config.get("parents") or {}).values()) if found else []

    def failed_root(job_id: str, seen: set[str]) -> str | None:
        for parent in parents(job_id):
            if parent in seen:
                continue
            seen.add(parent)
            status = rows[parent].state.get("status") if parent in rows else known.get(parent)
            if status in ("failed", "cancelled"):
                return parent
            if status == "skipped":
                return failed_root(parent, seen) or parent
        return None

    for job_id, found in rows.items():
        if found.state.get("status") == "planned":
            culprit = failed_root(job_id, set())
            if culprit is not None:
                name = (rows[culprit].config.get("folder") or culprit) if culprit in rows else culprit
                found.state = {"status": "skipped", "error": f"ancestor {os.path.basename(name)} did not finish"}


def _register(con: Any, rows: list[FolderRows], first_last: Mapping[str, tuple[str, str]]) -> int:
    """Insert jobs (with params and edges) the catalog does not know; returns how many."""
    import pyarrow as pa

    from .catalog.register import _typed

    ids = pa.table({"job_id": pa.array([r.job_id for r in rows], pa.string())})
    con.register("td_import_ids", ids)
    known = {j for (j,) in con.execute("SELECT job_id FROM jobs SEMI JOIN td_import_ids USING (job_id)").fetchall()}
    con.unregister("td_import_ids")
    new = [r for r in rows if r.job_id not in known]
    if not new:
        return 0
    jobs = {k: [] for k in ("job_id", "short_id", "node", "folder", "command", "status", "requested", "resolved",
                            "first_run", "last_run")}
    params = {k: [] for k in ("job_id", "key", "node", "kind", "value", "value_num", "value_text", "value_bool")}
    edges: dict[tuple[str, str], None] = {}
    for r in new:
        c = r.config
        first, last = first_last.get(r.job_id, ("", ""))
        folder = c.get("folder") or ""
        for key, value in (("job_id", r.job_id), ("short_id", c.get("short_id") or folder.rsplit("_id_", 1)[-1]),
                           ("node", c.get("node")), ("folder", folder), ("command", c.get("command") or ""),
                           ("status", "planned"), ("requested", json.dumps(c.get("requested") or {},
                                                                            ensure_ascii=False)),
                           ("resolved", json.dumps(c.get("resolved") or {}, ensure_ascii=False)),
                           ("first_run", first), ("last_run", last)):
            jobs[key].append(value)
        for kind, group in (("algo", c.get("algo") or {}), ("perf", c.get("perf") or {}),
                            ("input", c.get("inputs") or {})):
            for key, value in group.items():
                text, num, txt, flag = _typed(value)
                for col, item in zip(params, (r.job_id, key, c.get("node"), kind, text, num, txt, flag)):
                    params[col].append(item)
        for parent in (c.get("parents") or {}).values():
            edges[(parent, r.job_id)] = None
    con.register("td_import_jobs", pa.table(jobs))
    con.execute("INSERT INTO jobs (job_id, short_id, node, folder, command, status, requested, resolved, first_run, "
                "last_run, attempts) SELECT *, 0 FROM td_import_jobs")
    con.unregister("td_import_jobs")
    schema = pa.schema([("job_id", pa.string()), ("key", pa.string()), ("node", pa.string()), ("kind", pa.string()),
                        ("value", pa.string()), ("value_num", pa.float64()), ("value_text", pa.string()),
                        ("value_bool", pa.bool_())])
    con.register("td_import_params", pa.table(params, schema=schema))
    con.execute("INSERT OR IGNORE INTO params BY NAME SELECT * FROM td_import_params")
    con.unregister("td_import_params")
    etable = pa.table({"parent_id": pa.array([p for p, _ in edges], pa.string()),
                       "child_id": pa.array([c for _, c in edges], pa.string())})
    con.register("td_import_edges", etable)
    con.execute("INSERT OR IGNORE INTO edges SELECT * FROM td_import_edges")
    con.unregister("td_import_edges")
    return len(new)


def import_runs(con: Any, root: "str | os.PathLike") -> int:
    """Insert the run records (and environment files) the catalog lacks, and finish runs it has as 'running'.

    Returns how many runs were inserted or updated.
    """
    from .catalog.store import utc
    from .provenance import import_environments

    import_environments(con, root)  # <root>/.trackdag/environments/: each run's env_id names one
    changed = 0
    have = dict(con.execute("SELECT run_id, status FROM runs").fetchall())
    for run in read_runs(root):
        row = {k: run.get(k) for k in RUN_COLUMNS}
        for key in ("started", "ended"):
            row[key] = utc(row[key]) if isinstance(row[key], (int, float)) else row[key]
        if row["run_id"] not in have:
            if row["started"] is None:
                continue
            row["argv"] = json.dumps(row["argv"]) if row["argv"] is not None else None
            con.execute(f"INSERT INTO runs ({', '.join(RUN_COLUMNS)}) VALUES ({', '.join('?' for _ in RUN_COLUMNS)})",
                        [row[k] for k in RUN_COLUMNS])
            rows = read_run_rows(root, row["run_id"])
            if rows:
                import pyarrow as pa

                con.register("td_import_rows", pa.table({
                    "run_id": pa.array([row["run_id"]] * len(rows), pa.string()),
                    "row_index": pa.array([r for r, _ in rows], pa.int32()),
                    "job_id": pa.array([j for _, j in rows], pa.string())}))
                con.execute("INSERT OR IGNORE INTO run_jobs SELECT DISTINCT * FROM td_import_rows")
                con.unregister("td_import_rows")
            changed += 1
        elif have[row["run_id"]] == "running" and row["status"] not in (None, "running"):
            con.execute("UPDATE runs SET status = ?, ended = ?, n_done = ?, n_failed = ?, n_skipped = ?, "
                        "n_cached = ? WHERE run_id = ?", [row["status"], row["ended"], row["n_done"],
                                                          row["n_failed"], row["n_skipped"], row["n_cached"],
                                                          row["run_id"]])
            changed += 1
    return changed


def import_folders(cat: Any, folders: Iterable[str], *, root: "str | os.PathLike | None" = None,
                   con: Any = None) -> dict[str, int]:
    """Apply what ``folders`` say to the catalog ``cat``, in bulk (see the module docstring).

    With ``root``, run records are imported first (so new jobs get their
    first and last run).  Runs in the caller's transaction when ``con`` is
    given.  Returns counts: folders read, jobs registered, attempts, results.
    """
    if con is None:
        with cat.transaction() as con:
            return import_folders(cat, folders, root=root, con=con)
    runs = import_runs(con, root) if root is not None else 0
    rows = [r for r in (folder_rows(f) for f in folders) if r is not None]
    if not rows and not runs:
        return {"folders": 0, "jobs": 0, "attempts": 0, "results": 0, "runs": runs}
    by_id = {r.job_id: r for r in rows}
    first_last = _first_last(con, list(by_id))
    registered = _register(con, rows, first_last)
    parents = {p for r in rows for p in (r.config.get("parents") or {}).values()} - set(by_id)
    known = dict(con.execute("SELECT job_id, status FROM jobs WHERE job_id IN (SELECT unnest(?))",
                             [sorted(parents)]).fetchall()) if parents else {}
    _derive_skipped(by_id, known)
    states = [{"job_id": r.job_id, **r.state} for r in rows]
    attempts = [a for r in rows for a in r.attempts]
    results = [r.result for r in rows if r.result is not None]
    cat.record_on(con, states, attempts, results)
    return {"folders": len(rows), "jobs": registered, "attempts": len(attempts), "results": len(results),
            "runs": runs}


def _first_last(con: Any, job_ids: list[str]) -> dict[str, tuple[str, str]]:
    """Each job's first and last run (by start time) among the runs that asked for it."""
    if not job_ids:
        return {}
    found = con.execute("""
        SELECT rj.job_id, arg_min(rj.run_id, r.started), arg_max(rj.run_id, r.started)
        FROM run_jobs rj JOIN runs r USING (run_id)
        WHERE rj.job_id IN (SELECT unnest(?)) GROUP BY rj.job_id""", [job_ids]).fetchall()
    return {j: (first, last) for j, first, last in found}


def reindex(root: "str | os.PathLike", catalog: "str | os.PathLike | None" = None, *,
            timeout: float | None = None) -> dict[str, int]:
    """Import every run record and job folder under ``root`` into its catalog (created when missing)."""
    from .api import catalog_path
    from .catalog import Catalog
    from .errors import CatalogError
    from .paths import check_file

    root = os.path.abspath(os.fspath(root))
    if not os.path.isdir(root):
        from .errors import NoCatalogError

        raise NoCatalogError(f"--root {root} is not a folder: nothing to reindex")
    path = os.path.abspath(catalog_path(root, catalog))
    check_file(path, "--catalog")
    from .records import read_pending

    cat = Catalog(path, timeout=timeout)
    pending_files, _ = read_pending(root)  # every folder is read anyway
    moved = None
    try:
        with cat.transaction() as con:
            counts = import_folders(cat, job_folders(root), root=root, con=con)
        cat.refresh_views()
    except CatalogError as exc:
        if "is damaged" not in str(exc):
            raise
        # A damaged catalog is moved aside (kept for a bug report) and built again from the folders.
        moved = f"{path}.damaged-{time.strftime('%Y%m%dT%H%M%S')}"
        os.replace(path, moved)
        for suffix in (".wal",):
            if os.path.exists(path + suffix):
                os.replace(path + suffix, moved + suffix)
        cat = Catalog(path, timeout=timeout)
        with cat.transaction() as con:
            counts = import_folders(cat, job_folders(root), root=root, con=con)
        cat.refresh_views()
    _remove(pending_files)
    return {**counts, "moved_aside": moved}


def stale_folders(con: Any, root: str, plan: Any, disk: Mapping[str, str]) -> list[str]:
    """Folders of this root whose news the catalog may have missed, to import before a run.

    - jobs the catalog says are queued or running (a driver died, or a
      reader kept its outcomes out): their folders say how they ended;
    - jobs of ``plan`` done on disk (``disk``: job id -> 'done'/'planned')
      without a done attempt or a result in the catalog (a deleted catalog,
      a driver killed between a job's end and its micro-batch);
    - jobs of ``plan`` not done with more attempt records on disk than the
      catalog has (attempts the driver never recorded).
    """
    from .catalog.batch import drop, put

    folders = {f for (f,) in con.execute(
        "SELECT folder FROM jobs WHERE status IN ('queued', 'running') AND starts_with(folder, ?)",
        [root.rstrip("/") + "/"]).fetchall()}
    jobs = list(plan.jobs.values())
    # (a small plan's lists go in without pyarrow, which would import pandas: 0.5 s of a no-op rerun)
    put(con, "td_disk", {"job_id": [j.job_id for j in jobs], "folder": [j.folder for j in jobs],
                         "disk": [disk.get(j.job_id, "planned") for j in jobs]},
        {"job_id": "VARCHAR", "folder": "VARCHAR", "disk": "VARCHAR"})
    try:
        clash = con.execute("SELECT d.folder, d.job_id, j.job_id FROM td_disk d JOIN jobs j "
                            "ON j.folder = d.folder AND j.job_id <> d.job_id LIMIT 1").fetchone()
        if clash:  # checked here, before any job runs (the plan's registration comes beside the first jobs)
            raise PlanError(f"short id collision: {clash[0]} belongs to job {clash[2]} in the catalog, not "
                            f"{clash[1]}; move that folder's job away or use another --root")
        found = con.execute("""
            SELECT * FROM (
                SELECT d.folder, d.disk,
                       d.disk = 'done' AND (j.job_id IS NULL OR j.status <> 'done' OR j.result_status IS NULL
                           OR NOT EXISTS (SELECT 1 FROM attempts a WHERE a.job_id = d.job_id AND a.status = 'done'))
                           AS lagging,
                       coalesce(j.attempts, 0)
                FROM td_disk d LEFT JOIN jobs j USING (job_id))
            WHERE lagging OR disk <> 'done'""").fetchall()  # (not every job of a no-op rerun, done on both sides)
    finally:
        try:
            drop(con, "td_disk")
        except Exception:  # an aborted transaction (a damaged catalog): keep the first error
            pass
    for folder, on_disk, lagging, n_attempts in found:
        if lagging:
            folders.add(folder)
        elif on_disk != "done" and os.path.isdir(folder):
            numbers = attempt_numbers(folder)
            if numbers and numbers[-1] > n_attempts:
                folders.add(folder)
    return sorted(folders)


def record_lost_attempts(con: Any, root: str, now: float) -> list[str]:
    """Write a cancelled attempt record for each attempt the catalog saw start but no folder recorded.

    The catalog says a job is running; its folder has no record of that
    attempt: the driver (and the job's runner) died with it.  The record is
    written in the folder, so the catalog learns it from there like any
    other.  Returns the folders written to.
    """
    from .records import write_attempt

    written = []
    for job_id, folder, attempt, run_id, started in con.execute(
            "SELECT job_id, folder, attempts, last_run, epoch(started) FROM jobs "
            "WHERE status = 'running' AND attempts > 0 AND starts_with(folder, ?)",
            [root.rstrip("/") + "/"]).fetchall():
        if attempt in attempt_numbers(folder) or not os.path.isdir(folder):
            continue
        try:
            write_attempt(folder, {"job_id": job_id, "attempt": attempt, "run_id": run_id, "status": "cancelled",
                                   "started": started, "ended": now, "duration": max(0.0, now - (started or now)),
                                   "error": INTERRUPTED})
        except OSError:
            continue
        written.append(folder)
    return written


def recover(cat: Any, root: str, plan: Any, disk: Mapping[str, str], now: float,
            orphans: Iterable[str] = ()) -> dict[str, int]:
    """Bring the catalog in line with the disk before a run (see the module docstring); one transaction.

    ``orphans``: folders whose ``.running`` marker a dead runner left (their
    jobs were stopped, and their lost attempts recorded, by the caller).
    Runs a dead driver left 'running' become 'interrupted' (in the catalog
    and in their run record).
    """
    from .catalog.store import utc
    from .records import read_pending, update_run, write_back_attempts

    pending_files, pending = read_pending(root)
    with cat.transaction() as con:
        write_back_attempts(con)   # what a full disk kept out of the folders, now that there may be room
        lost = record_lost_attempts(con, root, now)
        folders = set(lost) | set(orphans) | set(pending)
        if con.execute("SELECT count(*) FROM jobs").fetchone()[0]:
            folders |= set(stale_folders(con, root, plan, disk))
        else:  # a new (or deleted) catalog, over an old root or none: take in every folder there is
            folders |= set(job_folders(root))
        counts = import_folders(cat, sorted(folders), root=root, con=con)
        dead = [r for (r,) in con.execute("SELECT run_id FROM runs WHERE status = 'running' AND root = ?",
                                          [root]).fetchall()]
        if dead:
            con.execute("UPDATE runs SET status = 'interrupted', ended = ? WHERE run_id IN (SELECT unnest(?))",
                        [utc(now), dead])
    for run_id in dead:
        update_run(root, run_id, status="interrupted", ended=now)
    _remove(pending_files)
    return {**counts, "interrupted_runs": len(dead), "lost_attempts": len(lost)}


def _remove(paths: Iterable[str]) -> None:
    for path in paths:
        try:
            os.unlink(path)
        except OSError:
            pass


__all__ = ["folder_rows", "job_folders", "import_folders", "import_runs", "reindex", "stale_folders",
           "recover", "record_lost_attempts"]
