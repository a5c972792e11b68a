"""A plan's registration in the catalog: its jobs, params, edges, param sets and rows, by chunks.

The jobs the catalog knows already (a rerun's) are looked up and updated
first, in one pass (see :func:`_update_known`).  The new ones go in by
chunks of :data:`REGISTER_CHUNK`, in plan order (parents before children),
each chunk with everything about its jobs: the ``jobs`` and ``params``
rows, the edges to their parents and their param sets, computed from the
plan (:func:`plan_param_sets`); a commit every :data:`COMMIT_JOBS` jobs.
So at every commit each registered job is complete, and only one chunk's
rows are in Python's memory at a time.  Registering is idempotent: a plan
registered in part (a killed driver, a stopped run) is completed by the
next run.

``hurry``: a run that is stopping (Ctrl-C, SIGTERM) must not wait for the
registration of a big plan's jobs that never ran: at 200,000 jobs that is
half a minute.  :func:`register_plan` asks ``hurry()`` before each chunk;
once it returns a set of job ids, the chunks left register only those (the
jobs the run queued, ran or skipped, whose outcomes the run still has to
record), and the run's rows only for the jobs registered.  The jobs left
out are the next run's to register; the run's rows file on disk
(:func:`trackdag.records.write_run_rows`) keeps every row.
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Callable, Mapping

from ..errors import PlanError
from ..ids import scalar_memo
from .batch import drop, put

if TYPE_CHECKING:
    from ..plan import Plan

#: jobs per chunk: a stopping run waits for at most one
REGISTER_CHUNK = 10_000
#: known jobs (a rerun's) looked up and updated at a time: each part scans the jobs table once
KNOWN_CHUNK = 200_000
#: jobs per commit (whole chunks): a commit costs DuckDB a checkpoint that grows with the catalog
#: (at 100,000 jobs a commit every 5,000 jobs added a quarter to the registration)
COMMIT_JOBS = 25_000

#: json.dumps(..., ensure_ascii=False[, default=...]) without building an encoder per call (bulk rows)
_JSON = json.JSONEncoder(ensure_ascii=False).encode
_JSON_STR = json.JSONEncoder(ensure_ascii=False, default=str).encode
_JSON_LIST = json.JSONEncoder(ensure_ascii=False, default=list).encode


def register_plan(con: Any, path: str, run_id: str, plan: "Plan", status: Mapping[str, str],
                  hurry: "Callable[[], set[str] | None] | None" = None) -> dict[str, int]:
    """Register ``plan`` on ``con`` (a writer inside a transaction; committed chunk by chunk).

    ``path``: the catalog's, for messages.  ``status``: each job's state on
    disk ('done' or 'planned').  ``hurry``: see the module docstring.
    Raises PlanError when a short id already belongs to a different full
    id in this catalog.  Returns job id -> attempts made so far, for the
    jobs registered.
    """
    from ..param_sets import insert_param_sets
    from ..views import ensure_derived, refresh

    ensure_derived(con)
    known = _update_known(con, run_id, plan, status)
    todo = [j for j in plan.jobs.values() if j.job_id not in known] if known else list(plan.jobs.values())
    registered: set[str] | None = None  # the ids registered, once hurried (None: every job)
    start = uncommitted = 0
    while start < len(todo):
        needed = hurry() if hurry is not None and registered is None else None
        if needed is not None:  # stopping: of the new jobs left, only those the run touched
            registered = set(known).union(j.job_id for j in todo[:start])
            todo = todo[:start] + [j for j in todo[start:] if j.job_id in needed]
            if start >= len(todo):
                break
        jobs = todo[start:start + REGISTER_CHUNK]
        start += len(jobs)
        if registered is not None:
            registered.update(j.job_id for j in jobs)
        _register_new(con, path, run_id, jobs, plan, status)
        # (a known job has its param set; one without, from an old catalog, gets it in refresh())
        insert_param_sets(con, *plan_param_sets(jobs, plan))
        uncommitted += len(jobs)
        if uncommitted >= COMMIT_JOBS:
            con.execute("COMMIT")  # the caller's transaction() commits the last one
            con.execute("BEGIN")
            uncommitted = 0
    rows = plan.row_jobs if registered is None else [(r, j) for r, j in plan.row_jobs if j in registered]
    put(con, "td_rows", {"run_id": [run_id] * len(rows), "row_index": [r for r, _ in rows],
                         "job_id": [j for _, j in rows]},
        {"run_id": "VARCHAR", "row_index": "BIGINT", "job_id": "VARCHAR"})
    con.execute("INSERT INTO run_jobs SELECT DISTINCT * FROM td_rows "  # (again: idempotent; this run's rows
                "ANTI JOIN (SELECT * FROM run_jobs WHERE run_id = ?) USING (run_id, row_index, job_id)",  # only:
                [run_id])  # the table holds every run's, and a join with all of them grew with each rerun)
    drop(con, "td_rows")
    refresh(con, commit_chunks=True)  # the views and their keys, and the param sets of jobs that lack one
    return {j: int(known.get(j, 0)) for j in (plan.jobs if registered is None else registered)}


def _update_known(con: Any, run_id: str, plan: "Plan", status: Mapping[str, str]) -> dict[str, int]:
    """The jobs of ``plan`` the catalog knows (a rerun's) get their new state; returns their attempts so far.

    In one pass over the plan by parts of :data:`KNOWN_CHUNK` jobs, before
    the new jobs' chunks: a chunk's look-up and update each scan the
    ``jobs`` table, so at :data:`REGISTER_CHUNK` jobs a time a big rerun's
    registration grew with the square of its size.  A known job gets only
    its state and last run: its other columns are its id's, so they are
    not made again (a no-op rerun's registration was mostly their JSON and
    paths), and the edges to its parents, in case a catalog lacks them.
    Its command is made again only when it is to run now (its folder will
    get that command) or when the catalog has none (a job ``reindex``
    found without one): a done job keeps the command it ran with, as its
    folder's ``invoke.sh`` does, even when the pipeline's command has
    changed since (a change that keeps the job's id).  The pass is not cut
    short by a stopping run's ``hurry`` (it took 0.5 s for 100,000 known
    jobs on this project's 2-core machine kind).
    """
    if not con.execute("SELECT count(*) FROM (SELECT 1 FROM jobs LIMIT 1)").fetchone()[0]:
        return {}  # (a new catalog: nothing to look up)
    jobs = list(plan.jobs.values())
    known: dict[str, int] = {}
    for start in range(0, len(jobs), KNOWN_CHUNK):
        part = jobs[start:start + KNOWN_CHUNK]
        put(con, "td_chunk_ids", {"job_id": [j.job_id for j in part]}, {"job_id": "VARCHAR"})
        rows = con.execute("SELECT j.job_id, j.attempts, j.command = '' FROM jobs j "
                           "SEMI JOIN td_chunk_ids p ON j.job_id = p.job_id").fetchall()
        drop(con, "td_chunk_ids")
        if not rows:
            continue
        found = {job_id: attempts for job_id, attempts, _ in rows}
        blank = {job_id for job_id, _, empty in rows if empty}
        again = [j for j in part if j.job_id in found]
        states = [status[j.job_id] for j in again]
        put(con, "td_again", {"job_id": [j.job_id for j in again], "status": states,
                              "command": [j.command if state != "done" or j.job_id in blank else None
                                          for j, state in zip(again, states)]},
            dict.fromkeys(("job_id", "status", "command"), "VARCHAR"))
        con.execute(
            "UPDATE jobs SET last_run = ?, status = p.status, command = coalesce(p.command, jobs.command), error = NULL "
            "FROM td_again p WHERE jobs.job_id = p.job_id AND jobs.first_run <> ?",
            [run_id, run_id],
        )
        drop(con, "td_again")
        _insert_edges(con, [j for j in again if j.parents])
        known.update(found)
        if start + KNOWN_CHUNK < len(jobs):
            con.execute("COMMIT")
            con.execute("BEGIN")
    return known


def _register_new(con: Any, path: str, run_id: str, jobs: list, plan: "Plan", status: Mapping[str, str]) -> None:
    """The ``jobs``, ``params`` and ``edges`` rows of a chunk of jobs the catalog does not know."""
    put(con, "td_plan", {
        "job_id": [j.job_id for j in jobs],
        "short_id": [j.short_id for j in jobs],
        "node": [j.node for j in jobs],
        "folder": [j.folder for j in jobs],
        "command": [j.command for j in jobs],
        "status": [status[j.job_id] for j in jobs],
        "requested": [_JSON(j.requested) for j in jobs],
        "resolved": [_JSON_LIST(j.resolved) for j in jobs],
    }, dict.fromkeys(("job_id", "short_id", "node", "folder", "command", "status", "requested", "resolved"),
                     "VARCHAR"))
    clash = con.execute(
        "SELECT p.node, p.short_id, j.job_id, p.job_id FROM td_plan p JOIN jobs j "
        "ON j.node = p.node AND j.short_id = p.short_id AND j.job_id <> p.job_id LIMIT 1"
    ).fetchone()
    if clash:
        raise PlanError(f"short id collision in node {clash[0]!r}: {clash[1]} already belongs to {clash[2]} "
                        f"in {path}, and {clash[3]} has the same prefix")
    con.execute(
        "INSERT INTO jobs (job_id, short_id, node, folder, command, status, requested, resolved, "
        "first_run, last_run, attempts) "
        "SELECT job_id, short_id, node, folder, command, status, requested, resolved, ?, ?, 0 FROM td_plan",
        [run_id, run_id],
    )
    drop(con, "td_plan")
    put(con, "td_params", _params_columns(jobs, plan), PARAMS_TYPES)
    con.execute("INSERT INTO params BY NAME SELECT * FROM td_params")
    drop(con, "td_params")
    _insert_edges(con, jobs)


def _insert_edges(con: Any, jobs: list) -> None:
    """The edges from each of ``jobs`` to its parents, those the catalog lacks."""
    put(con, "td_edges", {"parent_id": [p for j in jobs for p in j.parents],
                          "child_id": [j.job_id for j in jobs for _ in j.parents]},
        {"parent_id": "VARCHAR", "child_id": "VARCHAR"})
    con.execute("INSERT INTO edges SELECT DISTINCT e.parent_id, e.child_id FROM td_edges e "
                "ANTI JOIN edges x ON x.parent_id = e.parent_id AND x.child_id = e.child_id")
    drop(con, "td_edges")


def plan_param_sets(jobs: list, plan: "Plan") -> tuple[dict[str, list], dict[str, list]]:
    """The param_values and param_sets columns of ``jobs``, new to the catalog, from the plan itself.

    The same rows as :func:`trackdag.param_sets.compute_param_sets`, which
    walks the catalog's edges and params with SQL: that query scans the
    whole ``params`` table for each chunk, so registering new jobs cost
    more the bigger the catalog (10,000 into a catalog of 200,000 jobs:
    2.1-2.4 s, against 1.85 s this way).  Here each job's lineage
    (its ancestors at their least depth, with every argument they had, as
    the catalog's JSON gives it back) comes from ``plan.jobs``.  A job with
    an ancestor the plan lacks is left out: the registration's ``refresh()``
    computes it through the catalog.
    """
    from ..param_sets import param_set_columns

    perf_keys = {n: set(node.perf_params) for n, node in plan.pipeline.nodes.items()}
    load = scalar_memo(json.loads)  # a scalar's JSON text, parsed once
    text_of = scalar_memo(_JSON_STR)
    rows: dict[str, list] = {}  # job id -> (node, key, kind, JSON text) of its arguments (this call's jobs)

    def arguments(job: Any) -> list:
        found = rows.get(job.job_id)
        if found is None:
            perf = perf_keys[job.node]
            found = rows[job.job_id] = [
                (job.node, key, ("perf" if key in perf else "algo") if kind == "param" else "input",
                 text_of(list(value) if isinstance(value, tuple) else value))
                for kind, items in (("param", job.params), ("input", job.inputs)) for key, value in items.items()]
        return found

    def lineage(job: Any) -> "list | None":
        depth = {job.job_id: 0}
        level, d = [job], 0
        while level:  # breadth first: an ancestor's first depth is its least
            d += 1
            below = []
            for member in level:
                for parent_id in member.parents:
                    if parent_id not in depth:
                        parent = plan.jobs.get(parent_id)
                        if parent is None:
                            return None
                        depth[parent_id] = d
                        below.append(parent)
            level = below
        least: dict[tuple, int] = {}  # (as the SQL groups by node, key, kind and value text)
        for ancestor_id, d in depth.items():
            for row in arguments(plan.jobs[ancestor_id]):
                if least.get(row, d + 1) > d:
                    least[row] = d
        return [(d, node, key, kind, load(text)) for (node, key, kind, text), d in least.items()]

    items = []
    for job in jobs:
        walked = lineage(job)
        if walked is not None:
            items.append((job.job_id, json.loads(_JSON(job.requested)), walked))
    return param_set_columns(items)


def _typed(value: Any) -> tuple[str, float | None, str | None, bool | None]:
    """A param value as (JSON, number, text, bool) for the long ``params`` table."""
    text = _JSON_STR(value)
    if isinstance(value, bool):
        return text, None, None, value
    if isinstance(value, (int, float)):
        return text, float(value), None, None
    if isinstance(value, str):
        return text, None, value, None
    return text, None, None, None


#: the columns of a batch of ``params`` rows
PARAMS_TYPES = {"job_id": "VARCHAR", "key": "VARCHAR", "node": "VARCHAR", "kind": "VARCHAR", "value": "VARCHAR",
                "value_num": "DOUBLE", "value_text": "VARCHAR", "value_bool": "BOOLEAN"}


def _params_columns(jobs: list, plan: "Plan") -> dict[str, list]:
    perf_keys = {n: set(node.perf_params) for n, node in plan.pipeline.nodes.items()}
    cols: dict[str, list] = {k: [] for k in PARAMS_TYPES}
    typed = scalar_memo(_typed)  # a scalar value's typed row, made once
    for job in jobs:
        for kind, items in (("param", job.params), ("input", job.inputs)):
            for key, value in items.items():
                text, num, txt, flag = typed(list(value) if isinstance(value, tuple) else value)
                cols["job_id"].append(job.job_id)
                cols["key"].append(key)
                cols["node"].append(job.node)
                cols["kind"].append(("perf" if key in perf_keys[job.node] else "algo") if kind == "param" else "input")
                cols["value"].append(text)
                cols["value_num"].append(num)
                cols["value_text"].append(txt)
                cols["value_bool"].append(flag)
    return cols


__all__ = ["register_plan", "plan_param_sets", "REGISTER_CHUNK", "KNOWN_CHUNK", "COMMIT_JOBS"]
