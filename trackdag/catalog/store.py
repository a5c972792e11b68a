"""The catalog writer: runs, jobs, rows, edges, params and attempts in short transactions.

Only the driver process writes.  Each method opens the DuckDB file, does its
work in one transaction and closes it again, so readers (``trackdag status``,
``trackdag sql``, a notebook) can get in between.  Bulk data goes in as Arrow
tables (``INSERT ... SELECT FROM arrow``), never one INSERT per job.

Example:
    >>> import tempfile, os
    >>> cat = Catalog(os.path.join(tempfile.mkdtemp(), 'catalog.duckdb'))
    >>> cat.ensure_schema()
    ['0001_initial', '0002_results', '0003_attempt_node', '0004_result_order', '0005_provenance']
    >>> cat.query('SELECT count(*) FROM jobs')
    [(0,)]
"""
from __future__ import annotations

import contextlib
import json
import os
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Mapping, Sequence

from ..errors import CatalogError
from .batch import drop, put
from .connection import connect, translated
from .migrations import LATEST, current_version, migrate

if TYPE_CHECKING:
    from ..plan import Plan


#: the columns of a batch of job states, and of finished attempts (their SQL types)
STATES_TYPES = {"job_id": "VARCHAR", "status": "VARCHAR", "started": "TIMESTAMPTZ", "ended": "TIMESTAMPTZ",
                "attempts": "INTEGER", "error": "VARCHAR"}
ATTEMPTS_TYPES = {"job_id": "VARCHAR", "attempt": "INTEGER", "run_id": "VARCHAR", "status": "VARCHAR",
                  "exit_code": "INTEGER", "signal": "INTEGER", "started": "TIMESTAMPTZ", "ended": "TIMESTAMPTZ",
                  "duration": "DOUBLE", "host": "VARCHAR", "node_id": "VARCHAR", "pid": "INTEGER",
                  "peak_rss_kb": "BIGINT", "stderr_tail": "VARCHAR", "error": "VARCHAR"}


def utc(ts: float | None) -> datetime | None:
    """Epoch seconds -> aware UTC datetime (None stays None)."""
    return None if ts is None else datetime.fromtimestamp(ts, tz=timezone.utc)


class Catalog:
    """Writer and reader of one catalog file; see the module docstring."""

    def __init__(self, path: "str | os.PathLike", *, timeout: float | None = None) -> None:
        self.path = os.path.abspath(os.fspath(path))
        self.timeout = timeout
        self._migrated = False

    # -- connections ------------------------------------------------------------
    @contextlib.contextmanager
    def transaction(self, timeout: float | None = None) -> Iterator[Any]:
        """A read-write connection inside BEGIN/COMMIT, closed afterwards.

        ``timeout``: how long to wait for another process's lock (default:
        the catalog's, else ``TRACKDAG_LOCK_TIMEOUT``); 0 tries once.
        """
        with translated(self.path):
            if self._migrated and not os.path.exists(self.path):
                raise CatalogError(f"catalog {self.path} disappeared while in use; run `trackdag reindex --root "
                                   f"{os.path.dirname(self.path)}` to rebuild it from the job folders")
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            con = connect(self.path, timeout=self.timeout if timeout is None else timeout)
            try:
                if not self._migrated:
                    migrate(con, path=self.path)
                    self._migrated = True
                con.execute("BEGIN")
                try:
                    yield con
                    con.execute("COMMIT")
                except BaseException:
                    try:
                        con.execute("ROLLBACK")
                    except Exception:  # a failed COMMIT (full disk) leaves no transaction to roll back
                        pass
                    raise
            finally:
                con.close()

    @contextlib.contextmanager
    def kept(self) -> Iterator[bool]:
        """Keep the catalog open in this process meanwhile, so that each transaction's connection is cheap.

        DuckDB shares one database between a process's connections to a file:
        while one stays open, another opens in about 0.1 ms, where opening the
        file costs 40-60 ms (30 ms of it DuckDB's own start-up).  A small run's
        start (schema, recovery, provenance, the runs row, its plan) took five
        of them.  Other processes wait meanwhile, as for one long transaction,
        so keep it only for short phases.  When another process holds the
        catalog, nothing is kept (each transaction waits as it always does);
        yields whether it was kept.  (Nor when it cannot be opened at all: the
        next transaction says why.)
        """
        con = None
        try:
            with translated(self.path):
                os.makedirs(os.path.dirname(self.path), exist_ok=True)
                con = connect(self.path, timeout=0)
        except (CatalogError, OSError):
            pass
        try:
            yield con is not None
        finally:
            if con is not None:
                con.close()

    @contextlib.contextmanager
    def reader(self) -> Iterator[Any]:
        """A read-only connection (many may coexist), closed afterwards."""
        with translated(self.path):
            con = connect(self.path, read_only=True, timeout=self.timeout)
            try:
                version = current_version(con)
                if version > LATEST:
                    raise CatalogError(f"{self.path} has schema version {version}, newer than this trackdag knows "
                                       f"({LATEST})")
                yield con
            finally:
                con.close()

    def ensure_schema(self) -> list[str]:
        """Create or upgrade the tables; returns the migrations applied."""
        with translated(self.path):
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            con = connect(self.path, timeout=self.timeout)
            try:
                applied = migrate(con, path=self.path)
            finally:
                con.close()
        self._migrated = True
        return applied

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        """Run a read-only query and fetch all rows."""
        with self.reader() as con:
            return con.execute(sql, list(params)).fetchall()

    # -- runs ---------------------------------------------------------------------
    def begin_run(self, run: Mapping[str, Any]) -> None:
        """Insert the ``runs`` row of a new run (status 'running')."""
        cols = list(run)
        values = [json.dumps(v) if k == "argv" else v for k, v in run.items()]
        with self.transaction() as con:
            con.execute(
                f"INSERT INTO runs ({', '.join(_q(c) for c in cols)}) VALUES ({', '.join('?' for _ in cols)})",
                values,
            )

    def finish_run(self, run_id: str, status: str, counts: Mapping[str, int], ended: float, *,
                   timeout: float | None = None) -> None:
        """Close a run with its final status and counts."""
        sets = ", ".join(f"{_q(k)} = ?" for k in counts)
        with self.transaction(timeout) as con:
            con.execute(
                f"UPDATE runs SET status = ?, ended = ?{', ' + sets if sets else ''} WHERE run_id = ?",
                [status, utc(ended), *counts.values(), run_id],
            )

    # -- plan registration -----------------------------------------------------------
    def register_plan(self, run_id: str, plan: "Plan", status: Mapping[str, str],
                      hurry: "Callable[[], set[str] | None] | None" = None) -> dict[str, int]:
        """Record the jobs of ``plan`` in bulk, by chunks (see :mod:`trackdag.catalog.register`).

        ``status`` gives each job's state as seen on disk ('done' or 'planned');
        ``hurry`` lets a stopping run cut it short.  Raises PlanError when a
        short id already belongs to a different full id in this catalog.
        Returns job id -> attempts made so far.
        """
        from ..gcpause import paused_gc
        from .register import register_plan

        with paused_gc(), self.transaction() as con:  # bulk rows of every job (see trackdag.gcpause)
            return register_plan(con, self.path, run_id, plan, status, hurry)

    # -- outcomes -------------------------------------------------------------------
    def record(self, states: Iterable[Mapping[str, Any]], attempts: Iterable[Mapping[str, Any]],
               results: Iterable[tuple[str, Mapping[str, Any] | None, str | None]] = (), *,
               timeout: float | None = None) -> None:
        """Apply a micro-batch in one transaction (see :meth:`record_on`); ``timeout`` as :meth:`transaction`'s."""
        states, attempts, results = list(states), list(attempts), list(results)
        if not states and not attempts and not results:
            return
        with self.transaction(timeout) as con:
            self.record_on(con, states, attempts, results)

    def record_on(self, con: Any, states: Iterable[Mapping[str, Any]], attempts: Iterable[Mapping[str, Any]],
                  results: Iterable[tuple[str, Mapping[str, Any] | None, str | None]] = ()) -> None:
        """Apply a micro-batch of job state changes, finished attempts and result rows on ``con``.

        ``states``: dicts with job_id, status and optionally started, ended
        (epoch seconds), attempts, error.  ``attempts``: dicts with the
        ``attempts`` table's columns (timestamps as epoch seconds).
        ``results``: (job_id, row or None, error or None) of done jobs; a
        job's previous result rows are replaced.
        """
        # A batch may hold queued, running, then done for one job: later
        # fields win, earlier ones (the attempt number) are kept.
        merged: dict[str, dict[str, Any]] = {}
        for state in states:
            merged[state["job_id"]] = {**merged.get(state["job_id"], {}), **state}
        states = list(merged.values())
        attempts = list(attempts)
        results = list({r[0]: r for r in results}.values())
        if not states and not attempts and not results:
            return
        if states:
            put(con, "td_states", {
                "job_id": [s["job_id"] for s in states],
                "status": [s["status"] for s in states],
                "started": [utc(s.get("started")) for s in states],
                "ended": [utc(s.get("ended")) for s in states],
                "attempts": [s.get("attempts") for s in states],
                "error": [s.get("error") for s in states],
            }, STATES_TYPES)
            con.execute(
                "UPDATE jobs SET status = s.status, started = coalesce(s.started, jobs.started), "
                "ended = CASE WHEN s.status IN ('running', 'queued', 'planned') THEN NULL "
                "ELSE coalesce(s.ended, jobs.ended) END, "
                "attempts = coalesce(s.attempts, jobs.attempts), error = s.error "
                "FROM td_states s WHERE jobs.job_id = s.job_id"
            )
            drop(con, "td_states")
        if attempts:
            put(con, "td_attempts", {col: [(utc(a.get(col)) if kind == "TIMESTAMPTZ" else a.get(col))
                                           for a in attempts] for col, kind in ATTEMPTS_TYPES.items()},
                ATTEMPTS_TYPES)
            con.execute("INSERT OR REPLACE INTO attempts BY NAME SELECT * FROM td_attempts")
            drop(con, "td_attempts")
        if results:
            self._write_results(con, results)

    @staticmethod
    def _write_results(con: Any, results: list[tuple[str, Mapping[str, Any] | None, str | None]]) -> None:
        from ..results import typed

        put(con, "td_result_status", {
            "job_id": [r[0] for r in results],
            "result_status": [("broken" if r[2] else ("ok" if r[1] is not None else "none")) for r in results],
            "result_error": [r[2] for r in results],
        }, dict.fromkeys(("job_id", "result_status", "result_error"), "VARCHAR"))
        cols: dict[str, list] = {"job_id": [], "key": [], "value_num": [], "value_text": [], "ord": []}
        for job_id, row, _ in results:
            for ord_, (key, value) in enumerate((row or {}).items()):
                num, text = typed(value)
                cols["job_id"].append(job_id)
                cols["key"].append(key)
                cols["value_num"].append(num)
                cols["value_text"].append(text)
                cols["ord"].append(ord_)
        put(con, "td_results", cols, {"job_id": "VARCHAR", "key": "VARCHAR", "value_num": "DOUBLE",
                                      "value_text": "VARCHAR", "ord": "INTEGER"})
        con.execute("DELETE FROM results WHERE job_id IN (SELECT job_id FROM td_result_status)")
        con.execute("INSERT INTO results BY NAME SELECT * FROM td_results")
        con.execute("UPDATE jobs SET result_status = s.result_status, result_error = s.result_error "
                    "FROM td_result_status s WHERE jobs.job_id = s.job_id")
        # New jobs get their param_hashid, and the wide results_<node> views are
        # regenerated when these results brought a new key (cheap otherwise).
        from ..views import refresh

        refresh(con, batch="td_results")
        drop(con, "td_result_status")
        drop(con, "td_results")

    def refresh_views(self) -> list[str]:
        """Compute missing param_hashids and (re)install the views now; returns the views created."""
        from ..views import refresh

        with self.transaction() as con:
            return refresh(con)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
