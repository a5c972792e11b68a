"""The catalog as of one run: ``trackdag report --run RUN`` (compare before and after a change).

**What "as of a run" means.**  The report of run R is the report restricted
to *the jobs R planned* (its ``run_jobs``: those it executed and those it
found already done), each in the state it had *at the end of R*:

- a job's state as of R is the state of its latest attempt made by R or by a
  run that started before R (later runs are ignored); a job R planned but
  never attempted by then is ``planned``, unless no run ever attempted it
  (a job imported from a KWDagger tree), which keeps its recorded state;
- its result is the one its latest *done* attempt as of R recorded.  The
  catalog (and the job folder's ``.result.json``) keeps one result per job,
  the latest; so when a later run did the job again and it succeeded, the
  result R saw is gone.  Such a job is **not ranked**: its ``result_status``
  reads ``superseded`` and the report names it (param_hashid and the run that
  redid it) in a note, rather than showing a value R never saw.  When the
  later attempts all failed or were cancelled, the kept result is still the
  one R saw, and the job is ranked with it.

:func:`scope_to_run` applies this to an open read-only connection: it
computes the table ``td_run_scope`` (one row per job R planned, with its
state as of R) and shadows the views ``job_state``, ``metrics``,
``params_long`` and every ``results_<node>`` with TEMP views of the same
names, limited to those jobs and showing their state as of R.  Everything
that reads the views on that connection (the report, its ``--where``, the
charts) then answers as of R; nothing is written.

A run is named by its id or a unique prefix of one (:func:`resolve_run`).

Example:
    >>> run_counts_line({"run_id": "r1", "status": "done", "n_planned": 3, "n_executed": 2,
    ...                  "n_already_done": 1, "n_failed": 0})
    'run r1: done; 3 jobs planned: 2 executed, 1 already done, 0 failed'
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from .errors import ReportError
from .views import literal, quote, static_views, wide_views

#: the TEMP table of the jobs a run planned, with their state as of its end
SCOPE = "td_run_scope"
#: the result status of a job done as of the run whose result a later attempt replaced
SUPERSEDED = "superseded"
#: columns of the attempt that gave a job its state as of the run (replaced in the shadowed views)
_STATE_COLUMNS = ("status", "result_status", "error", "attempts", "started", "ended", "duration_s", "host")


@dataclass(frozen=True)
class Superseded:
    """A job done as of the run whose result a later run's attempt replaced."""

    job_id: str
    node: str
    short_id: str
    param_hashid: str | None
    redone_by: str | None


@dataclass(frozen=True)
class RunScope:
    """The run a report is restricted to, with what it did (see the module docstring)."""

    run_id: str
    status: str | None
    started: datetime | None
    ended: datetime | None
    backend: str | None
    pipeline_ref: str | None
    n_planned: int
    n_executed: int
    n_already_done: int
    n_failed: int
    superseded: tuple[Superseded, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "status": self.status, "started": _iso(self.started),
                "ended": _iso(self.ended), "backend": self.backend, "pipeline": self.pipeline_ref,
                "n_planned": self.n_planned, "n_executed": self.n_executed,
                "n_already_done": self.n_already_done, "n_failed": self.n_failed,
                "results": "as of the end of this run",
                "superseded": [{"job_id": s.job_id, "node": s.node, "short_id": s.short_id,
                                "param_hashid": s.param_hashid, "redone_by": s.redone_by}
                               for s in self.superseded]}

    def notes_for(self, node: str) -> list[str]:
        """The note of a node whose jobs had their result replaced after the run (empty when none)."""
        found = [s for s in self.superseded if s.node == node]
        if not found:
            return []
        by = ", ".join(sorted({s.redone_by or "?" for s in found}))
        ids = ", ".join(sorted(s.param_hashid or s.short_id for s in found)[:10])
        more = f" and {len(found) - 10} more" if len(found) > 10 else ""
        one = len(found) == 1
        return [f"{len(found)} {node} job{'' if one else 's'} of run {self.run_id} "
                f"{'was' if one else 'were'} done again by a later run ({by}); the catalog keeps one result per job "
                f"(the latest), so {'its' if one else 'their'} result as of this run is gone and "
                f"{'it is' if one else 'they are'} not ranked: {ids}{more}"]


def _iso(value: Any) -> str | None:
    return value.astimezone(timezone.utc).isoformat() if isinstance(value, datetime) else value


def run_counts_line(run: dict[str, Any]) -> str:
    """The one-line summary of a run the text report starts with."""
    n = run["n_planned"]
    return (f"run {run['run_id']}: {run.get('status')}; {n} job{'' if n == 1 else 's'} planned: "
            f"{run['n_executed']} executed, {run['n_already_done']} already done, {run['n_failed']} failed")


def resolve_run(con: Any, ref: str, path: str = "the catalog") -> str:
    """The id of the run ``ref`` names: a run id, or a unique prefix of one.

    An unknown or ambiguous ``ref`` is a :class:`~trackdag.errors.ReportError` (exit code 2).
    """
    ref = (ref or "").strip()
    if not ref:
        raise ReportError("--run: give a run id (trackdag status prints the latest one)")
    if con.execute("SELECT 1 FROM runs WHERE run_id = ?", [ref]).fetchall():
        return ref
    found = [r[0] for r in con.execute("SELECT run_id FROM runs WHERE starts_with(run_id, ?) "
                                       "ORDER BY started DESC, run_id DESC", [ref]).fetchall()]
    if len(found) == 1:
        return found[0]
    if found:
        shown = ", ".join(found[:5]) + (f" and {len(found) - 5} more" if len(found) > 5 else "")
        raise ReportError(f"--run {ref!r} names several runs ({shown}); give more characters")
    latest = [r[0] for r in con.execute("SELECT run_id FROM runs ORDER BY started DESC, run_id DESC "
                                        "LIMIT 3").fetchall()]
    raise ReportError(f"--run {ref!r}: no such run in {path} (latest runs: {', '.join(latest) or 'none'})")


# -- the state of each job as of a run ------------------------------------------------------------
def _scope_sql(run_id: str, started: Any) -> str:
    """One row per job ``run_id`` planned: its state as of the end of that run (module docstring)."""
    rid = literal(run_id)
    since = "TIMESTAMPTZ " + literal(started.isoformat()) if started is not None else "NULL"
    return f"""
        WITH planned AS (SELECT DISTINCT job_id FROM run_jobs WHERE run_id = {rid}),
        mine AS (SELECT a.*, coalesce(ar.started, a.started) AS run_started
                 FROM attempts a SEMI JOIN planned p ON p.job_id = a.job_id
                 LEFT JOIN runs ar ON ar.run_id = a.run_id),
        -- attempts of this run and of the runs that started before it (one run at a time per root)
        upto AS (SELECT * FROM mine WHERE run_id = {rid} OR run_started < {since}),
        last AS (SELECT job_id, max(attempt) AS attempt FROM upto GROUP BY job_id),
        last_done AS (SELECT job_id, max(attempt) AS attempt, arg_max(run_id, attempt) AS run_id
                      FROM mine WHERE status = 'done' GROUP BY job_id),
        ever AS (SELECT DISTINCT job_id FROM mine),
        here AS (SELECT DISTINCT job_id FROM mine WHERE run_id = {rid})
        SELECT p.job_id,
            CASE WHEN a.attempt IS NOT NULL THEN a.status
                 WHEN e.job_id IS NULL THEN j.status ELSE 'planned' END AS status,
            CASE WHEN a.status = 'done' AND d.attempt > a.attempt THEN {literal(SUPERSEDED)}
                 WHEN a.status = 'done' OR (a.attempt IS NULL AND e.job_id IS NULL) THEN j.result_status
                 END AS result_status,
            CASE WHEN a.status = 'done' AND d.attempt > a.attempt THEN d.run_id END AS redone_by,
            CASE WHEN a.attempt IS NOT NULL THEN a.error WHEN e.job_id IS NULL THEN j.error END AS error,
            CASE WHEN a.attempt IS NOT NULL THEN a.attempt WHEN e.job_id IS NULL THEN j.attempts ELSE 0
                 END AS attempts,
            CASE WHEN a.attempt IS NOT NULL THEN a.started WHEN e.job_id IS NULL THEN j.started END AS started,
            CASE WHEN a.attempt IS NOT NULL THEN a.ended WHEN e.job_id IS NULL THEN j.ended END AS ended,
            a.host, a.exit_code, a.signal, a.peak_rss_kb,
            h.job_id IS NOT NULL AS executed
        FROM planned p
        JOIN jobs j ON j.job_id = p.job_id
        LEFT JOIN last l ON l.job_id = p.job_id
        LEFT JOIN attempts a ON a.job_id = l.job_id AND a.attempt = l.attempt
        LEFT JOIN last_done d ON d.job_id = p.job_id
        LEFT JOIN ever e ON e.job_id = p.job_id
        LEFT JOIN here h ON h.job_id = p.job_id"""


def _shadow(name: str, select: str, replace: tuple[str, ...]) -> str:
    """A TEMP view ``name``: ``select`` limited to the scope's jobs, ``replace`` columns taken from it."""
    cols = ", ".join(f"s.{c} AS {c}" if c != "duration_s" else
                     "date_diff('millisecond', s.started, s.ended) / 1000.0 AS duration_s" for c in replace)
    star = f"v.* REPLACE ({cols})" if replace else "v.*"
    return (f"CREATE OR REPLACE TEMP VIEW {quote(name)} AS\nSELECT {star}\nFROM (\n{select}\n) v\n"
            f"JOIN {SCOPE} s ON s.job_id = v.job_id")


def scope_to_run(con: Any, run_id: str) -> RunScope:
    """Restrict the views of ``con`` (a prepared reader connection) to ``run_id`` as of its end.

    See the module docstring; ``run_id`` must name a run (:func:`resolve_run`).
    """
    cur = con.execute("SELECT run_id, status, started, ended, backend, pipeline_ref FROM runs WHERE run_id = ?",
                      [run_id])
    run = dict(zip([d[0] for d in cur.description], cur.fetchone()))
    con.execute(f"CREATE OR REPLACE TEMP TABLE {SCOPE} AS {_scope_sql(run_id, run['started'])}")
    for view in static_views():
        if view.name == "job_state":
            con.execute(_shadow(view.name, view.select, _STATE_COLUMNS + ("exit_code", "signal", "peak_rss_kb")))
        elif view.name == "metrics":
            con.execute(_shadow(view.name, view.select, ("status", "result_status")))
        elif view.name == "params_long":
            con.execute(_shadow(view.name, view.select, ()))
    for view in wide_views(con):
        con.execute(_shadow(view.name, view.select, _STATE_COLUMNS))
    counts = con.execute(f"""
        SELECT count(*), count(*) FILTER (WHERE executed),
               count(*) FILTER (WHERE NOT executed AND status = 'done'),
               count(*) FILTER (WHERE executed AND status = 'failed')
        FROM {SCOPE}""").fetchone()
    superseded = tuple(Superseded(*row) for row in con.execute(f"""
        SELECT s.job_id, j.node, j.short_id, ps.param_hashid, s.redone_by
        FROM {SCOPE} s JOIN jobs j ON j.job_id = s.job_id LEFT JOIN param_sets ps ON ps.job_id = s.job_id
        WHERE s.result_status = {literal(SUPERSEDED)}
        ORDER BY j.node, ps.param_hashid, s.job_id""").fetchall())
    return RunScope(run_id, run["status"], run["started"], run["ended"], run["backend"], run["pipeline_ref"],
                    *counts, superseded=superseded)


def scoped_counts(con: Any) -> dict[str, dict[str, int]]:
    """node -> state -> jobs, as of the run :func:`scope_to_run` chose (nodes in the order they were planned)."""
    counts: dict[str, dict[str, int]] = {}
    first: dict[str, int] = {}
    for node, state, n, ord_ in con.execute(f"""
            SELECT j.node, s.status, count(*), min(j.rowid) FROM {SCOPE} s JOIN jobs j ON j.job_id = s.job_id
            GROUP BY ALL ORDER BY j.node, s.status""").fetchall():
        counts.setdefault(node, {})[state] = n
        first[node] = min(first.get(node, ord_), ord_)
    return {node: counts[node] for node in sorted(counts, key=lambda n: (first[n], n))}


def scoped_failures(con: Any) -> list[dict[str, Any]]:
    """The jobs whose state as of the chosen run is ``failed``, as ``trackdag status`` lists failures."""
    import os

    from .layout import STDERR

    cur = con.execute(f"""
        SELECT j.node, j.short_id, j.folder, s.error, a.stderr_tail, a.exit_code, a.attempt
        FROM {SCOPE} s JOIN jobs j ON j.job_id = s.job_id
        LEFT JOIN attempts a ON a.job_id = s.job_id AND a.attempt = s.attempts
        WHERE s.status = 'failed' ORDER BY s.ended, j.node, j.short_id""")
    names = [d[0] for d in cur.description]
    found = [dict(zip(names, row)) for row in cur.fetchall()]
    for job in found:
        job["log"] = os.path.join(job["folder"], STDERR)
    return found


# -- every run, for the HTML report's list -------------------------------------------------------------
def list_runs(con: Any, limit: int = 100) -> list[dict[str, Any]]:
    """The latest ``limit`` runs, newest first, each with what it did.

    Each dict is the ``runs`` row plus ``n_planned`` (jobs of its plan),
    ``n_executed`` (jobs it attempted), ``n_already_done`` (planned jobs it
    did not attempt because they were done), ``n_failed`` (attempted jobs
    whose last attempt in it failed), ``executed_by_node`` ({node: jobs
    attempted}) and ``duration_s``.
    """
    cur = con.execute(f"""
        WITH r AS (SELECT * FROM runs ORDER BY started DESC, run_id DESC LIMIT {int(limit)}),
        rj AS (SELECT DISTINCT rj.run_id, rj.job_id, r.started AS run_started
               FROM run_jobs rj JOIN r ON r.run_id = rj.run_id),
        att AS (SELECT a.job_id, a.run_id, a.attempt, a.status, coalesce(ar.started, a.started) AS run_started
                FROM attempts a LEFT JOIN runs ar ON ar.run_id = a.run_id),
        per AS (
            SELECT rj.run_id, rj.job_id,
                coalesce(bool_or(att.run_id = rj.run_id), false) AS ran_here,
                arg_max(att.status, att.attempt) FILTER (WHERE att.run_id = rj.run_id) AS last_here,
                arg_max(att.status, att.attempt) FILTER (WHERE att.run_id <> rj.run_id) AS last_before
            FROM rj LEFT JOIN att ON att.job_id = rj.job_id
                AND (att.run_id = rj.run_id OR att.run_started < rj.run_started)
            GROUP BY rj.run_id, rj.job_id),
        never AS (SELECT job_id FROM jobs WHERE status = 'done' AND job_id NOT IN (SELECT job_id FROM attempts)),
        counts AS (
            SELECT run_id, count(*) AS n_planned,
                count(*) FILTER (WHERE ran_here) AS n_executed,
                count(*) FILTER (WHERE NOT ran_here AND (last_before = 'done'
                                 OR (last_before IS NULL AND job_id IN (SELECT job_id FROM never))))
                    AS n_already_done,
                count(*) FILTER (WHERE last_here = 'failed') AS n_failed
            FROM per GROUP BY run_id)
        SELECT r.*, coalesce(c.n_planned, 0) AS n_planned, coalesce(c.n_executed, 0) AS n_executed,
               coalesce(c.n_already_done, 0) AS n_already_done, coalesce(c.n_failed, 0) AS n_failed,
               date_diff('millisecond', r.started, r.ended) / 1000.0 AS duration_s
        FROM r LEFT JOIN counts c ON c.run_id = r.run_id
        ORDER BY r.started DESC, r.run_id DESC""")
    names = [d[0] for d in cur.description]
    runs = [dict(zip(names, row)) for row in cur.fetchall()]
    by_node: dict[str, dict[str, int]] = {}
    if runs:
        ids = ", ".join(literal(r["run_id"]) for r in runs)
        for run_id, node, n in con.execute(f"""
                SELECT a.run_id, j.node, count(DISTINCT a.job_id) FROM attempts a JOIN jobs j ON j.job_id = a.job_id
                WHERE a.run_id IN ({ids}) GROUP BY ALL ORDER BY a.run_id, min(j.rowid), j.node""").fetchall():
            by_node.setdefault(run_id, {})[node] = n
    for run in runs:
        run["executed_by_node"] = by_node.get(run["run_id"], {})
    return runs


def params_source(argv: Any) -> str:
    """Where a run's parameters came from, from its command line: the file ``--params`` named, or how.

    >>> params_source(["trackdag", "run", "--params", "grid.yaml", "--backend", "local"])
    'grid.yaml'
    >>> params_source(["trackdag", "run", "--params=matrix: {a.x: [1, 2]}"])
    'inline text (--params)'
    >>> params_source('["trackdag", "run", "--params", "p.yaml"]')
    'p.yaml'
    >>> params_source(["python", "sweep.py"])
    'a Python call (see the parameters)'
    """
    if isinstance(argv, str):  # the catalog's JSON column reads back as text
        import json

        try:
            argv = json.loads(argv)
        except ValueError:
            argv = None
    args = [str(a) for a in argv] if isinstance(argv, (list, tuple)) else []
    value = None
    for i, arg in enumerate(args):
        for flag in ("--params", "--params_fpath"):
            if arg == flag and i + 1 < len(args):
                value = args[i + 1]
            elif arg.startswith(flag + "="):
                value = arg.split("=", 1)[1]
        if value is not None:
            break
    if value is None:
        return "a Python call (see the parameters)"
    if "\n" in value or ": " in value or value.lstrip().startswith(("{", "[")):
        return "inline text (--params)"
    return value
