"""``trackdag clean``: remove what a sweep no longer needs, after showing it.

:func:`plan_clean` finds what would go and changes nothing; :func:`apply_clean`
removes it, folders and catalog rows together.  The categories:

- ``not-in`` (``--not-in PARAMS``): the job folders, and catalog rows, of the
  jobs that sweep does not plan (planned as ``trackdag run`` would, with the
  same ``--pipeline`` rule).  Every job the sweep plans is kept, ancestors
  included, so what is removed is closed under descendants: no kept job loses
  an input.  A sweep that plans none of the jobs under the root is refused
  (a wrong params file, pipeline or working directory would remove it all).
- ``failed``: the folders and rows of jobs without a done record naming them
  (failed, cancelled, skipped or planned leftovers; a catalog job whose folder
  is gone).  A job with a done record whose outputs changed since is not a
  leftover and is kept.  A not-done job with a done descendant (possible when a
  done job's parent was redone and failed) is kept with a note: the done job
  reads its outputs.  A failed job's other descendants are not done either, so
  they go with it.
- ``superseded``: ``<job folder>/.superseded/<stamp>/``, the outputs
  ``trackdag run --rerun`` moved aside.
- ``ray-logs`` (``--ray-logs DAYS``): ``<root>/ray-logs/session_*`` not
  modified for DAYS days.

Without a category: ``failed`` and ``superseded``.  A job marked running
(``.running``, a dead driver's leftover) is never removed, and nothing is
planned or removed while a run is active on the root (its run lock): that is
one error line.

**Removed means gone**, not marked: the folder is the record and the catalog
its index, so a job without a folder has no row either.  Every table with a
``job_id`` (or ``parent_id`` / ``child_id``) column loses the job's rows
(jobs, params, edges, attempts, results, param_sets...: found in the catalog
itself, so a new table is covered).  A run's matrix row that asked for a
removed job is dropped whole, from ``run_jobs`` and from the run's saved rows
(``.trackdag/runs/<run>.rows.json.gz``): it is no longer complete, and
``status``'s "filled" must not count it.  ``reindex`` of a deleted catalog
then gives back the same rows.  The ``runs`` rows stay: they are history.

**Order, for crashes.** Under the run lock, a journal
(``<root>/.trackdag/clean/<id>.json``) is written, every path is renamed into
``<root>/.trackdag/clean/<id>/`` (fast, and invisible to ``reindex``), the
catalog rows go in one transaction, then the renamed folders are deleted.  If
the catalog cannot be written the folders are moved back.  A crash between
the renames and the commit leaves catalog rows without folders (``verify``
says so) until the next ``trackdag clean --yes``, which finishes the journal
first.

Example:
    >>> human_bytes(1536), human_bytes(12)
    ('1.5 KiB', '12 B')
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Iterable

from .errors import TrackdagError
from .layout import CONFIG, DONE, RUNNING, atomic_write, read_record

CATEGORIES = ("not-in", "failed", "superseded", "ray-logs")
DEFAULT_CATEGORIES = ("failed", "superseded")
SUPERSEDED = ".superseded"
RAY_LOGS = "ray-logs"
TRASH = os.path.join(".trackdag", "clean")
#: how many paths the report lists unless asked for all
SHOWN = 20


class CleanError(TrackdagError):
    """``trackdag clean`` cannot do what was asked (bad input, nothing was removed)."""


@dataclass(frozen=True)
class Item:
    """One thing to remove: a job (its folder, maybe gone already, and its rows) or a folder."""

    category: str
    path: str
    size: int = 0
    node: str | None = None
    #: set for jobs: their catalog rows go too
    job_id: str | None = None
    on_disk: bool = True


@dataclass(frozen=True)
class CleanPlan:
    """What :func:`apply_clean` would remove (see the module docstring)."""

    root: str
    catalog: str | None  # the catalog's path, None when there is none
    categories: tuple[str, ...]
    items: tuple[Item, ...]
    notes: tuple[str, ...] = ()
    ray_days: float | None = None
    #: journals an interrupted clean left (finished first by apply_clean)
    leftovers: tuple[str, ...] = ()

    @property
    def job_ids(self) -> list[str]:
        return [i.job_id for i in self.items if i.job_id]

    @property
    def size(self) -> int:
        return sum(i.size for i in self.items)


@dataclass(frozen=True)
class CleanResult:
    """What :func:`apply_clean` removed: the plan's items, and the catalog rows per table."""

    plan: CleanPlan
    rows: dict[str, int] = field(default_factory=dict)
    finished: int = 0  # items of interrupted cleans finished first


# -- planning ---------------------------------------------------------------------------------------
def plan_clean(root: "str | os.PathLike", catalog: "str | os.PathLike | None" = None, *,
               not_in: Any = None, pipeline: Any = None, failed: bool = False, superseded: bool = False,
               ray_logs: float | None = None, cwd: str | None = None, now: float | None = None) -> CleanPlan:
    """What a clean of ``root`` would remove; reads only (see the module docstring).

    ``not_in``: a params text, file or spec (as ``--params``), with ``pipeline``
    as ``--pipeline``; ``ray_logs``: the age in days.  No category: failed and
    superseded.
    """
    from .api import catalog_path

    root = os.path.abspath(os.fspath(root))
    if not os.path.isdir(root):
        raise CleanError(f"--root {root} is not a folder: nothing to clean")
    if pipeline is not None and not_in is None:
        raise CleanError("--pipeline goes with --not-in PARAMS")
    _refuse_active(root)
    chosen = tuple(c for c, on in zip(CATEGORIES, (not_in is not None, failed, superseded, ray_logs is not None))
                   if on) or DEFAULT_CATEGORIES
    path = os.path.abspath(catalog_path(root, catalog))
    cat_jobs, edges = _catalog_jobs(path, root) if os.path.exists(path) else ({}, [])
    disk = _disk_jobs(root)
    items: list[Item] = []
    notes: list[str] = []
    taken: set[str] = set()  # job ids already listed (a job is listed once, under its first category)
    held: dict[str, str] = {}  # job id -> folder of the jobs marked running that would have gone
    if "not-in" in chosen:
        items += _not_in(root, not_in, pipeline, cwd, disk, cat_jobs, taken, held)
    if "failed" in chosen:
        items += _failed(disk, cat_jobs, edges, taken, held, notes, root)
    kept = [j for j in disk.values() if j["job_id"] not in taken]
    if "superseded" in chosen:
        items += _superseded(kept)
    if "ray-logs" in chosen:
        items += _ray_logs(root, ray_logs, time.time() if now is None else now)
    if held:
        notes.append(f"kept {len(held)} job(s) marked running (a driver died; the next `trackdag run` stops "
                     "them): " + ", ".join(_rel(root, f) for f in sorted(held.values())[:3]))
    leftovers = tuple(_leftovers(root))
    if leftovers:
        notes.append(f"an interrupted `trackdag clean` left {len(leftovers)} removal(s) in {os.path.join(root, TRASH)}; "
                     "--yes finishes them")
    return CleanPlan(root, path if os.path.exists(path) else None, chosen, tuple(items), tuple(notes),
                     ray_logs, leftovers)


def _refuse_active(root: str) -> None:
    from .lock import RunLockedError, active_run

    holder = active_run(root)
    if holder is not None:
        raise RunLockedError(f"root {root} has an active run {holder.get('run_id', '?')} (pid {holder.get('pid', '?')} "
                             f"on host {holder.get('host', '?')}): nothing is cleaned while a run is active; "
                             "try again when it has finished")


def _catalog_jobs(path: str, root: str) -> tuple[dict[str, dict[str, Any]], list[tuple[str, str]]]:
    from .catalog import Catalog

    with Catalog(path).reader() as con:
        rows = con.execute("SELECT job_id, node, folder, status FROM jobs WHERE starts_with(folder, ?)",
                           [root + "/"]).fetchall()
        edges = con.execute("SELECT parent_id, child_id FROM edges").fetchall()
    return {j: {"job_id": j, "node": n, "folder": f, "status": s} for j, n, f, s in rows}, edges


def _disk_jobs(root: str) -> dict[str, dict[str, Any]]:
    """job id -> what its folder says (node, folder, done, running, parents)."""
    from .reindex import job_folders

    found = {}
    for folder in job_folders(root):
        config = read_record(folder, CONFIG) or {}
        job_id = config.get("job_id")
        if not isinstance(job_id, str):
            continue
        done = read_record(folder, DONE) or {}
        found[job_id] = {"job_id": job_id, "folder": folder, "node": config.get("node") or _node_of(folder),
                         "done": done.get("job_id") == job_id, "running": os.path.exists(os.path.join(folder, RUNNING)),
                         "parents": list((config.get("parents") or {}).values())}
    return found


def _node_of(folder: str) -> str:
    return os.path.basename(os.path.dirname(folder))


def _job_item(category: str, job: dict[str, Any]) -> Item:
    on_disk = os.path.isdir(job["folder"])
    return Item(category, job["folder"], folder_size(job["folder"]) if on_disk else 0, job["node"], job["job_id"],
                on_disk)


def _not_in(root: str, params: Any, pipeline: Any, cwd: str | None, disk: dict, cat_jobs: dict,
            taken: set[str], held: dict[str, str]) -> list[Item]:
    from .matrix import load_params
    from .sweep import prepare

    if isinstance(params, str) and not os.path.isfile(params):  # errors name the option, not --params
        params = load_params(params, source="--not-in")
    plan = prepare(params, pipeline=pipeline, root=root, cwd=cwd).plan
    planned = set(plan.jobs)
    known = set(disk) | set(cat_jobs)
    gone = sorted(known - planned, key=lambda j: (disk.get(j) or cat_jobs[j])["folder"])
    if gone and not planned & known:
        raise CleanError(f"the sweep of --not-in plans {len(planned)} job(s), none of them under {root}: it would "
                         "remove every job; check the params, --pipeline and the folder you run from (input paths "
                         "are relative to it)")
    out = []
    for job_id in gone:
        job = disk.get(job_id) or cat_jobs[job_id]
        if job.get("running"):
            held[job_id] = job["folder"]
            continue
        out.append(_job_item("not-in", job))
        taken.add(job_id)
    return out


def _failed(disk: dict, cat_jobs: dict, edges: list[tuple[str, str]], taken: set[str], held: dict[str, str],
            notes: list[str], root: str) -> list[Item]:
    children: dict[str, set[str]] = {}
    for parent, child in edges:
        children.setdefault(parent, set()).add(child)
    for job in disk.values():
        for parent in job["parents"]:
            children.setdefault(parent, set()).add(job["job_id"])
    done = {j for j, job in disk.items() if job["done"]}

    def has_done_descendant(job_id: str) -> bool:
        stack, seen = [job_id], set()
        while stack:
            for child in children.get(stack.pop(), ()):
                if child in done:
                    return True
                if child not in seen:
                    seen.add(child)
                    stack.append(child)
        return False

    held.update({j: job["folder"] for j, job in disk.items() if job["running"] and not job["done"] and j not in taken})
    candidates = [j for j in disk.values() if not j["done"] and not j["running"]]
    candidates += [j for j_id, j in cat_jobs.items() if j_id not in disk and j["status"] != "done"
                   and not os.path.isdir(j["folder"])]
    out, kept = [], []
    for job in sorted(candidates, key=lambda j: j["folder"]):
        if job["job_id"] in taken:
            continue
        if has_done_descendant(job["job_id"]):
            kept.append(job)
            continue
        out.append(_job_item("failed", job))
        taken.add(job["job_id"])
    if kept:
        notes.append(f"kept {len(kept)} job(s) that are not done but feed a done job: "
                     + ", ".join(_rel(root, j["folder"]) for j in kept[:3]))
    return out


def _superseded(jobs: Iterable[dict[str, Any]]) -> list[Item]:
    out = []
    for job in sorted(jobs, key=lambda j: j["folder"]):
        where = os.path.join(job["folder"], SUPERSEDED)
        try:
            stamps = sorted(e.name for e in os.scandir(where) if e.is_dir(follow_symlinks=False))
        except OSError:
            continue
        out += [Item("superseded", os.path.join(where, s), folder_size(os.path.join(where, s)), job["node"])
                for s in stamps]
    return out


def _ray_logs(root: str, days: float | None, now: float) -> list[Item]:
    where = os.path.join(root, RAY_LOGS)
    try:
        entries = sorted(os.scandir(where), key=lambda e: e.name)
    except OSError:
        return []
    cutoff = now - (days or 0) * 86400
    return [Item("ray-logs", e.path, folder_size(e.path)) for e in entries
            if e.name.startswith("session_") and e.stat(follow_symlinks=False).st_mtime < cutoff]


def folder_size(path: str) -> int:
    """Bytes of the files under ``path`` (links counted as links, not followed)."""
    try:
        if not os.path.isdir(path) or os.path.islink(path):
            return os.lstat(path).st_size
    except OSError:
        return 0
    total = 0
    for top, dirs, files in os.walk(path):
        for name in files + [d for d in dirs if os.path.islink(os.path.join(top, d))]:
            try:
                total += os.lstat(os.path.join(top, name)).st_size
            except OSError:
                pass
    return total


def _rel(root: str, path: str) -> str:
    return os.path.relpath(path, root) if path.startswith(root + os.sep) else path


# -- applying ---------------------------------------------------------------------------------------
def apply_clean(plan: CleanPlan, *, timeout: float | None = None) -> CleanResult:
    """Remove what ``plan`` lists, under the root's run lock (see the module docstring for the order)."""
    from .lock import RunLock

    clean_id = time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
    with RunLock(plan.root, run_id=f"clean-{clean_id}"):
        finished = sum(_finish(plan.root, plan.catalog, journal, timeout) for journal in _leftovers(plan.root))
        # a leftover that became done since the plan was made (a run in between) is kept
        items = [i for i in plan.items if not (i.category == "failed" and i.on_disk
                                               and (read_record(i.path, DONE) or {}).get("job_id") == i.job_id)]
        if not items:
            return CleanResult(dataclasses.replace(plan, items=()), {}, finished)
        trash = os.path.join(plan.root, TRASH, clean_id)
        journal = trash + ".json"
        moves = [(i.path, os.path.join(trash, f"{n}-{os.path.basename(i.path)}"))
                 for n, i in enumerate(items) if i.on_disk]
        os.makedirs(trash)
        atomic_write(journal, json.dumps({"job_ids": [i.job_id for i in items if i.job_id],
                                          "trash": [t for _, t in moves]}) + "\n")
        links = [link for i in items if i.job_id and i.on_disk for link in _succ_links(i.path)]
        done: list[tuple[str, str]] = []
        try:
            for src, dst in moves:
                os.rename(src, dst)
                done.append((src, dst))
            rows = _delete_rows(plan.catalog, [i.job_id for i in items if i.job_id], timeout)
        except BaseException:
            for src, dst in reversed(done):  # put everything back: nothing removed, nothing half-done
                os.rename(dst, src)
            shutil.rmtree(trash, ignore_errors=True)
            os.unlink(journal)
            raise
        _forget_in_runs(plan.root, {i.job_id for i in items if i.job_id})
        for link in links:
            _unlink_link(link)
        shutil.rmtree(trash, ignore_errors=True)
        for item in items:
            if item.category == "superseded":
                _rmdir(os.path.dirname(item.path))
        os.unlink(journal)
    return CleanResult(dataclasses.replace(plan, items=tuple(items)), rows, finished)


def _leftovers(root: str) -> list[str]:
    where = os.path.join(root, TRASH)
    try:
        return sorted(os.path.join(where, n) for n in os.listdir(where) if n.endswith(".json"))
    except OSError:
        return []


def _finish(root: str, catalog: str | None, journal: str, timeout: float | None) -> int:
    """Roll an interrupted clean forward: its rows go (unless the job's folder is back), then its trash."""
    record = read_record(os.path.dirname(journal), os.path.basename(journal)) or {}
    job_ids = [j for j in record.get("job_ids") or [] if isinstance(j, str)]
    back = set(_disk_jobs(root))  # a run since may have made a job again: keep its rows
    job_ids = [j for j in job_ids if j not in back]
    _delete_rows(catalog, job_ids, timeout)
    _forget_in_runs(root, set(job_ids))
    shutil.rmtree(journal[:-len(".json")], ignore_errors=True)
    os.unlink(journal)
    return len(record.get("trash") or [])


def _succ_links(folder: str) -> list[str]:
    """The ``.succ`` links the parents of this job folder have to it (they would dangle once it is gone)."""
    pred = os.path.join(folder, ".pred")
    found = []
    for top, dirs, files in os.walk(pred):  # .pred/<node>/<name>: links to folders, listed in dirs, not followed
        for name in dirs + files if top != pred else ():
            parent = os.path.realpath(os.path.join(top, name))
            found.append(os.path.join(parent, ".succ", _node_of(folder), os.path.basename(folder)))
    return found


def _unlink_link(link: str) -> None:
    if os.path.islink(link):
        os.unlink(link)
        _rmdir(os.path.dirname(link))  # .succ/<node>, then .succ, when empty
        _rmdir(os.path.dirname(os.path.dirname(link)))


def _rmdir(path: str) -> None:
    try:
        os.rmdir(path)  # only when empty
    except OSError:
        pass


def _delete_rows(catalog: str | None, job_ids: list[str], timeout: float | None) -> dict[str, int]:
    """Delete the rows of ``job_ids`` from every table keyed by a job (one transaction); table -> rows."""
    if not job_ids or catalog is None or not os.path.exists(catalog):
        return {}
    from .catalog import Catalog
    from .views import refresh

    counts: dict[str, int] = {}
    with Catalog(catalog, timeout=timeout).transaction() as con:
        keyed = con.execute("""
            SELECT c.table_name, c.column_name FROM information_schema.columns c
            JOIN information_schema.tables t USING (table_catalog, table_schema, table_name)
            WHERE t.table_type = 'BASE TABLE' AND c.table_catalog = current_database() AND c.table_schema = 'main'
              AND c.column_name IN ('job_id', 'parent_id', 'child_id')
            ORDER BY c.table_name, c.column_name""").fetchall()
        for table, column in keyed:
            quoted = '"' + table.replace('"', '""') + '"'
            where = f'"{column}" IN (SELECT unnest(?::VARCHAR[]))'
            if table == "run_jobs":  # a run's row loses all its jobs, not only the removed one (see _forget_in_runs)
                where = f"(run_id, row_index) IN (SELECT (run_id, row_index) FROM run_jobs WHERE {where})"
            n = con.execute(f"DELETE FROM {quoted} WHERE {where}", [job_ids]).fetchone()[0]
            if n:
                counts[table] = counts.get(table, 0) + n
        refresh(con)  # the wide results_<node> views follow the keys that are left
    return counts


def _forget_in_runs(root: str, job_ids: set[str]) -> None:
    """Drop the rows of each run that asked for a removed job, from its saved rows as from ``run_jobs``.

    Such a row no longer exists in full: dropping only the removed job would
    make it look complete to ``status``'s "filled" (its other jobs done), and
    a rebuilt catalog would get rows without jobs back.
    """
    from .records import RUNS, read_run_rows, write_run_rows

    if not job_ids:
        return
    where = os.path.join(root, RUNS)
    suffix = ".rows.json.gz"
    try:
        names = sorted(n for n in os.listdir(where) if n.endswith(suffix))
    except OSError:
        return
    for name in names:
        run_id = name[:-len(suffix)]
        rows = read_run_rows(root, run_id)
        lost = {r for r, j in rows if j in job_ids}
        kept = [(r, j) for r, j in rows if r not in lost]
        if len(kept) < len(rows):
            write_run_rows(root, run_id, kept)


# -- the report -------------------------------------------------------------------------------------
LABELS = {"not-in": "not in the sweep", "failed": "failed leftovers", "superseded": "superseded outputs",
          "ray-logs": "ray log sessions"}


def human_bytes(n: int) -> str:
    """1536 -> '1.5 KiB'."""
    if n < 1024:
        return f"{n} B"
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        n /= 1024
        if n < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}"
    raise AssertionError  # pragma: no cover


def _category_line(plan: CleanPlan, category: str) -> str:
    items = [i for i in plan.items if i.category == category]
    label = LABELS[category] + (f" older than {plan.ray_days:g} days" if category == "ray-logs" else "")
    what = "job" if category in ("not-in", "failed") else ("session" if category == "ray-logs" else "folder")
    line = f"{label}: {len(items)} {what}{'' if len(items) == 1 else 's'}"
    if not items:
        return line
    nodes: dict[str, int] = {}
    for item in items:
        if item.node:
            nodes[item.node] = nodes.get(item.node, 0) + 1
    per_node = ", ".join(f"{n}: {c}" for n, c in nodes.items())
    return f"{line}, {human_bytes(sum(i.size for i in items))}" + (f" ({per_node})" if per_node else "")


def format_clean(plan: CleanPlan, *, removed: CleanResult | None = None, limit: int | None = SHOWN) -> str:
    """The text of ``trackdag clean``: per category, then the paths, then what to do (or what was done)."""
    if removed is not None:
        plan = removed.plan
    lines = [f"root: {plan.root}"] + [_category_line(plan, c) for c in plan.categories]
    lines += [f"note: {n}" for n in plan.notes if removed is None or "interrupted" not in n]
    if removed is not None and removed.finished:
        lines.append(f"finished an interrupted clean: {removed.finished} path(s) removed")
    if not plan.items:
        lines.append("nothing to remove")
        return "\n".join(lines)
    jobs = len(plan.job_ids)
    verb = "removed" if removed is not None else "would remove"
    lines.append(f"{verb} {len(plan.items)} path{'' if len(plan.items) == 1 else 's'}, {human_bytes(plan.size)}"
                 + (f"; {jobs} job{'' if jobs == 1 else 's'} {'left' if removed else 'leave'} the catalog"
                    if jobs and plan.catalog else "") + ":")
    shown = plan.items if limit is None else plan.items[:limit]
    lines += [f"  {_rel(plan.root, i.path)}" + ("" if i.on_disk else " (catalog only)") for i in shown]
    if len(shown) < len(plan.items):
        lines.append(f"  ... {len(plan.items) - len(shown)} more; pass --all to list them all")
    if removed is None:
        lines.append("run again with --yes to remove them")
    elif removed.rows:
        lines.append("catalog rows deleted: " + ", ".join(f"{t} {n}" for t, n in sorted(removed.rows.items())))
    return "\n".join(lines)


__all__ = ["plan_clean", "apply_clean", "format_clean", "CleanPlan", "CleanResult", "Item", "CleanError",
           "folder_size", "human_bytes", "CATEGORIES"]
