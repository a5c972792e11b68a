"""The catalog's views: the static ones of ``schema/views.sql`` and one wide ``results_<node>`` per node.

Views are what users query (``trackdag sql``, ``trackdag report``,
``trackdag.open_catalog``).  Two derived tables feed them:

- ``param_values``: the *effective parameter set* of every job, one row per
  parameter: the algo and perf params of the job and of every ancestor job
  (defaults included, as the jobs ran), plus the inputs that the matrix gave,
  **as written in the matrix** (``README.rst``, not ``/home/me/README.rst``).
  Inputs wired from another node (an output path, or a forwarded value) are
  lineage, not parameters, and are left out.
- ``param_sets``: ``param_hashid = letter_id(non-perf effective params)``: 12
  letters, the same for the same settings on any machine and in any run,
  because input paths enter it as written, not as the absolute paths the
  catalog keeps (write relative paths in the matrix to share hashids across
  machines).  Perf params (threads, workers) never enter it.

Both are derived from ``jobs``, ``params`` and ``edges`` and never change
once computed for a job (a job's parameters are fixed by its id), so they are
computed once per job (see :mod:`trackdag.param_sets`): by the writer when it
registers a plan (chunk by chunk, see :mod:`trackdag.catalog.register`)
or records results of jobs that lack them (``Catalog._write_results``, the
batch's jobs only), or, when a reader
finds them missing (an older catalog, a run in which no job finished), as
TEMP tables of its own connection (:func:`prepare_reader`).  They are a
cache owned by this module, not part of the migrated schema: created with
IF NOT EXISTS, rebuilt from scratch when ``DERIVED_VERSION`` changes, and
exported like any table.

DuckDB cannot PIVOT on data-driven keys inside a view, so each
``results_<node>`` view is generated from the distinct keys (and value
types) found in the data, with one ``first(...) FILTER (WHERE key = ...)``
per column.  The generated SQL is hashed; the writer re-creates the views
whenever that hash changes (a new metric key, a new node, a new value type),
and a reader whose stored hash differs re-creates them as TEMP views for its
own connection.  After each micro-batch the writer only compares the batch's
keys with the ones it last saw (O(batch)), unless the batch brought new jobs.
The writer keeps the keys it made the views from, with the tables' row
counts (``view_state`` ``__keys__``): a reader that finds the same counts
makes its views from them instead of reading every key again (seconds at a
million jobs).

Example:
    >>> [v.name for v in static_views()]
    ['job_state', 'params_long', 'metrics', 'lineage']
    >>> result_view_name('stage1_evaluate')
    'results_stage1_evaluate'
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .errors import CatalogError
from .catalog.batch import drop
from .param_sets import complete_param_sets, effective_params, param_hashid, put_param_sets  # noqa: F401

# Shipped inside the package (so installs from a wheel find it too);
# schema/views.sql at the repository root is a link to it for readers.
VIEWS_SQL = Path(__file__).resolve().parent / "sql" / "views.sql"
#: bump when the layout or the meaning of the derived tables changes: they are rebuilt
DERIVED_VERSION = 1
RESULT_PREFIX = "results_"
_MAX_EXACT = 2 ** 53  # larger integers do not survive the trip through DOUBLE

DERIVED_TABLES = {
    "param_values": """
        CREATE TABLE IF NOT EXISTS param_values (
            job_id VARCHAR NOT NULL,
            key VARCHAR NOT NULL,
            node VARCHAR NOT NULL,
            name VARCHAR NOT NULL,
            kind VARCHAR NOT NULL,
            source VARCHAR NOT NULL,
            ord INTEGER NOT NULL,
            value JSON,
            value_num DOUBLE,
            value_text VARCHAR,
            value_bool BOOLEAN,
            PRIMARY KEY (job_id, key)
        )""",
    "param_sets": """
        CREATE TABLE IF NOT EXISTS param_sets (
            job_id VARCHAR PRIMARY KEY,
            param_hashid VARCHAR NOT NULL,
            param_set JSON NOT NULL
        )""",
    "view_state": """
        CREATE TABLE IF NOT EXISTS view_state (
            name VARCHAR PRIMARY KEY,
            signature VARCHAR NOT NULL,
            updated TIMESTAMP WITH TIME ZONE NOT NULL
        )""",
}
#: what each derived table answers (for `trackdag schema`)
DERIVED_COMMENTS = {
    "param_values": "The effective parameters of each job (its own and its ancestors'), one row per parameter.",
    "param_sets": "Each job's param_hashid and the parameter set it hashes (perf params excluded).",
    "view_state": "Bookkeeping: the signature of the installed views and derived tables.",
}


@dataclass(frozen=True)
class ViewDef:
    """One view: its name, the question it answers and its SELECT."""

    name: str
    comment: str
    select: str

    def create(self, temp: bool = False) -> str:
        """The CREATE statement (a TEMP view lives only in the reader's connection)."""
        return f"CREATE OR REPLACE {'TEMP ' if temp else ''}VIEW {quote(self.name)} AS\n{self.select}"


def quote(name: str) -> str:
    """A SQL identifier in double quotes.

    >>> quote('params.a.b')
    '"params.a.b"'
    """
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    """A SQL string literal.

    >>> literal("it's")
    "'it''s'"
    """
    return "'" + text.replace("'", "''") + "'"


def result_view_name(node: str) -> str:
    """The wide view of a node's jobs."""
    return RESULT_PREFIX + node


_VIEW_RE = re.compile(r"CREATE\s+OR\s+REPLACE\s+VIEW\s+(\w+)\s+AS\s+(.*)", re.S | re.I)


def static_views(path: Path = VIEWS_SQL) -> list[ViewDef]:
    """The views of ``schema/views.sql``, each with its ``-- name: question`` comment."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogError(f"cannot read the view definitions {path}: {exc.strerror}; "
                           "install trackdag from its source tree (pip install -e .)") from None
    views = []
    for chunk in text.split(";\n"):
        lines = chunk.strip().splitlines()
        body = [i for i, line in enumerate(lines) if not line.startswith("--") and line.strip()]
        if not body:
            continue
        statement = "\n".join(lines[body[0]:]).strip().rstrip(";")
        found = _VIEW_RE.match(statement)
        if not found:
            raise CatalogError(f"{path}: only CREATE OR REPLACE VIEW statements belong here, found: {statement[:60]}")
        name, select = found.group(1), found.group(2)
        comment = ""
        for line in lines[:body[0]]:
            if line.startswith(f"-- {name}:"):
                comment = line.split(":", 1)[1].strip()
        if not comment:
            raise CatalogError(f"{path}: view {name} needs a '-- {name}: <question it answers>' comment line")
        views.append(ViewDef(name, comment, select))
    return views


# -- the wide views --------------------------------------------------------------------
_PARAM_CAT = (
    "CASE WHEN v.value_bool IS NOT NULL THEN 'b' "
    f"WHEN v.value_num IS NOT NULL THEN (CASE WHEN regexp_full_match(v.value::VARCHAR, '-?[0-9]+') "
    f"AND abs(v.value_num) < {_MAX_EXACT} THEN 'i' ELSE 'f' END) "
    "WHEN v.value_text IS NOT NULL THEN 't' "
    "WHEN v.value IS NULL OR v.value::VARCHAR = 'null' THEN 'n' ELSE 'j' END"
)
_RESULT_CAT = (
    "CASE WHEN r.value_num IS NULL AND r.value_text IS NULL THEN 'n' "
    "WHEN r.value_num IS NOT NULL AND r.value_text IN ('true', 'false') THEN 'b' "
    f"WHEN r.value_num IS NOT NULL THEN (CASE WHEN r.value_num = trunc(r.value_num) "
    f"AND abs(r.value_num) < {_MAX_EXACT} THEN 'i' ELSE 'f' END) ELSE 't' END"
)


def _param_expr(cats: set[str]) -> str:
    cats = cats - {"n"}
    if cats == {"b"}:
        return "value_bool"
    if cats and cats <= {"i"}:
        return "value_num::BIGINT"
    if cats and cats <= {"i", "f"}:
        return "value_num"
    if cats == {"t"}:
        return "value_text"
    return "value"  # lists, mappings, mixed types: JSON


def _result_expr(cats: set[str]) -> str:
    cats = cats - {"n"}
    if cats == {"b"}:
        return "value_num <> 0"
    if cats and cats <= {"i"}:
        return "value_num::BIGINT"
    if not cats or cats <= {"i", "f", "b"}:
        return "value_num"
    if cats == {"t"}:
        return "value_text"
    return "coalesce(value_text, value_num::VARCHAR)"


def _pivot(table: str, node: str, columns: list[tuple[str, str, str]]) -> str:
    """SELECT job_id, <one column per key> FROM table, for the jobs of one node."""
    cols = ",\n        ".join(f"first({expr}) FILTER (WHERE key = {literal(key)}) AS {quote(name)}"
                              for key, name, expr in columns)
    return (f"SELECT job_id,\n        {cols}\n    FROM {table}\n"
            f"    WHERE job_id IN (SELECT job_id FROM jobs WHERE node = {literal(node)})\n    GROUP BY job_id")


def result_keys(con: Any, table: str = "results") -> dict[str, dict[str, list[str]]]:
    """node -> result key -> the kinds of values seen (b, i, f, t, n) in ``table``."""
    found: dict[str, dict[str, list[str]]] = {}
    for node, key, cats in con.execute(
        f"SELECT j.node, r.key, list(DISTINCT {_RESULT_CAT} ORDER BY {_RESULT_CAT}) FROM {table} r "
        "JOIN jobs j ON j.job_id = r.job_id GROUP BY j.node, r.key"
    ).fetchall():
        found.setdefault(node, {})[key] = list(cats)
    return found


def data_keys(con: Any) -> dict[str, Any]:
    """What the ``results_<node>`` views are generated from: the nodes, each node's param keys and result keys.

    The expensive part (it reads every param value and result row); the
    writer keeps it in ``view_state`` (``__keys__``) with the views it made,
    so that a reader builds the same views without reading the data again.
    """
    nodes = [r[0] for r in con.execute("SELECT DISTINCT node FROM jobs ORDER BY node").fetchall()]
    params: dict[str, list] = {}
    for node, key, ord_, cats in con.execute(
        f"SELECT j.node, v.key, min(v.ord), list(DISTINCT {_PARAM_CAT}) FROM param_values v "
        "JOIN jobs j ON j.job_id = v.job_id GROUP BY j.node, v.key"
    ).fetchall():
        params.setdefault(node, []).append([ord_, key, sorted(cats)])
    results: dict[str, list] = {}
    has_ord = bool(con.execute("SELECT 1 FROM (DESCRIBE results) WHERE column_name = 'ord'").fetchall())
    order = {(node, key): ord_ for node, key, ord_ in con.execute(
        "SELECT j.node, r.key, min(coalesce(r.ord, 0)) FROM results r JOIN jobs j USING (job_id) GROUP BY ALL"
    ).fetchall()} if has_ord else {}  # (a catalog older than schema 4 kept no order)
    for node, keys in result_keys(con).items():
        for key, cats in keys.items():
            # metrics first, in the order load_result returned them (then by name)
            results.setdefault(node, []).append([not key.startswith("metrics."), order.get((node, key), 0), key,
                                                 sorted(cats)])
    return {"nodes": nodes, "params": params, "results": results}


def wide_views(con: Any, keys: "dict[str, Any] | None" = None) -> list[ViewDef]:
    """One ``results_<node>`` view per node found in ``jobs``, from the keys in the data (or ``keys``)."""
    keys = data_keys(con) if keys is None else keys
    nodes = keys["nodes"]
    pkeys = {node: [(o, k, set(c)) for o, k, c in rows] for node, rows in keys["params"].items()}
    rkeys = {node: [(m, o, k, set(c)) for m, o, k, c in rows] for node, rows in keys["results"].items()}
    views = []
    for node in nodes:
        params = [(key, f"params.{key}", _param_expr(cats)) for _, key, cats in sorted(pkeys.get(node, []))]
        results = [(key, key, _result_expr(cats)) for _, _o, key, cats in
                   sorted(rkeys.get(node, []), key=lambda r: r[:3])]
        ctes, joins = [], []
        if params:
            ctes.append(f"p AS (\n    {_pivot('param_values', node, params)}\n)")
            joins.append("LEFT JOIN p ON p.job_id = j.job_id")
        if results:
            ctes.append(f"r AS (\n    {_pivot('results', node, results)}\n)")
            joins.append("LEFT JOIN r ON r.job_id = j.job_id")
        picked = "".join(f",\n    {'p' if name.startswith('params.') else 'r'}.{quote(name)}"
                         for _, name, _ in params + results)
        select = (
            (f"WITH {', '.join(ctes)}\n" if ctes else "")
            + "SELECT\n    j.job_id,\n    j.short_id,\n    s.param_hashid" + picked + ",\n"
            "    j.status,\n    j.result_status,\n    j.result_error,\n    j.error,\n    j.attempts,\n"
            "    j.started,\n    j.ended,\n    date_diff('millisecond', j.started, j.ended) / 1000.0 AS duration_s,\n"
            "    a.host,\n    j.folder\n"
            "FROM jobs j\nLEFT JOIN param_sets s ON s.job_id = j.job_id\n"
            "LEFT JOIN attempts a ON a.job_id = j.job_id AND a.attempt = j.attempts\n"
            + "".join(f"{join}\n" for join in joins)
            + f"WHERE j.node = {literal(node)}"
        )
        comment = (f"How did each {node} job do? One row per job: its param_hashid, its own and its "
                   f"ancestors' params, its metrics, state and timings.")
        views.append(ViewDef(result_view_name(node), comment, select))
    return views


def have_derived(con: Any, tables: set[str]) -> bool:
    """The derived tables are there, in this trackdag's layout."""
    return set(DERIVED_TABLES) <= tables and _state(con, "__derived__") == str(DERIVED_VERSION)


def kept_keys(con: Any) -> "dict[str, Any] | None":
    """The keys the writer kept with the installed views (see :func:`data_keys`), if no row came since.

    None when it kept none, when its views were replaced by a writer that
    does not keep them (an older trackdag), or when the tables' row counts
    changed (rows written behind its back): then the data must be read.
    """
    kept = _kept_with_views(con)
    return kept["keys"] if kept and kept.get("rows") == _row_counts(con) else None


def _keep_rows(con: Any) -> None:
    """After a batch that brought no new key: the kept keys still make the installed views; say so to readers."""
    kept = _kept_with_views(con)
    if kept:
        _set_state(con, "__keys__", json.dumps({**kept, "rows": _row_counts(con)}))


def _kept_with_views(con: Any) -> "dict[str, Any] | None":
    """What the writer kept (``__keys__``) when it belongs to the installed views, else None."""
    kept = json.loads(_state(con, "__keys__") or "null")
    return kept if kept and kept.get("views") == _state(con, "__views__") else None


def _row_counts(con: Any) -> list[int]:
    """Rows of the tables the wide views' keys come from: what tells a reader the kept keys are current."""
    return list(con.execute("SELECT (SELECT count(*) FROM jobs), (SELECT count(*) FROM param_sets), "
                            "(SELECT count(*) FROM param_values), (SELECT count(*) FROM results)").fetchone())


def _signature(views: list[ViewDef]) -> str:
    payload = json.dumps([DERIVED_VERSION, [[v.name, v.comment, v.select] for v in views]])
    return hashlib.sha256(payload.encode()).hexdigest()


def main_tables(con: Any, db: str) -> set[str]:
    """The tables of database ``db``'s main schema."""
    return {r[0] for r in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = ? AND schema_name = 'main'", [db]).fetchall()}


def _main_views(con: Any, db: str) -> set[str]:
    return {r[0] for r in con.execute(
        "SELECT view_name FROM duckdb_views() WHERE database_name = ? AND schema_name = 'main' AND NOT internal",
        [db]).fetchall()}


def _state(con: Any, name: str) -> str | None:
    row = con.execute("SELECT signature FROM view_state WHERE name = ?", [name]).fetchall()
    return row[0][0] if row else None


def _set_state(con: Any, name: str, signature: str) -> None:
    con.execute("INSERT OR REPLACE INTO view_state VALUES (?, ?, ?)", [name, signature, datetime.now(timezone.utc)])


def _install(con: Any, views: list[ViewDef], temp: bool) -> None:
    for view in views:
        con.execute(view.create(temp))
        con.execute(f"COMMENT ON VIEW {quote(view.name)} IS {literal(view.comment)}")


def ensure_derived(con: Any, db: str | None = None) -> bool:
    """Writer: create the derived tables when missing or of an older layout; True when they were current."""
    db = db or con.execute("SELECT current_database()").fetchall()[0][0]
    tables = main_tables(con, db)
    current = have_derived(con, tables)
    if not current:
        if "view_state" in tables:  # an older layout: rebuild from jobs/params/edges
            for name in ("param_values", "param_sets"):
                con.execute(f"DROP TABLE IF EXISTS {name}")
        for ddl in DERIVED_TABLES.values():
            con.execute(ddl)
        _set_state(con, "__derived__", str(DERIVED_VERSION))
    return current


def refresh(con: Any, batch: str | None = None, *, commit_chunks: bool = False) -> list[str]:
    """Writer: complete the derived tables and (re)install the views when their SQL changed.

    Runs on a read-write connection, inside the caller's transaction; cheap
    when nothing changed.  ``batch``: a table holding the result rows just
    written (job_id, key, value_num, value_text); when they bring no new key
    or value kind and no job is new, the views are known to be current and
    the full check is skipped.  With ``batch``, only the batch's jobs get their
    param ids here: the registration of a plan gave every registered job its
    own (:mod:`trackdag.catalog.register`).  ``commit_chunks``: commit after each chunk of
    param sets (for the caller that owns the transaction and wants the memory
    of one chunk at a time: the registration of a plan).  Returns the names
    of the views (re)created.
    """
    db = con.execute("SELECT current_database()").fetchall()[0][0]
    current = ensure_derived(con, db)
    # A micro-batch completes its own jobs only (O(batch)); every call without a batch completes them all
    # (the registration of a plan completes its own chunk by chunk: see trackdag.catalog.register).
    todo = (f"SELECT DISTINCT job_id FROM {batch} ANTI JOIN param_sets USING (job_id)" if batch is not None and current
            else "SELECT job_id FROM jobs ANTI JOIN param_sets USING (job_id)")
    new_jobs = con.execute(f"SELECT count(*) FROM ({todo})").fetchall()[0][0]
    if new_jobs:
        complete_param_sets(con, todo, new_jobs, commit_chunks)
    static = static_views()
    known = _state(con, "__result_keys__")
    if batch is not None and not new_jobs and known is not None:
        # The fast path of every micro-batch: O(batch), not O(catalog).
        stored = json.loads(known)
        seen = result_keys(con, batch)
        if stored.get("static") == _signature(static) and all(
                set(cats) <= set(stored["keys"].get(node, {}).get(key, ()))
                for node, keys in seen.items() for key, cats in keys.items()):
            _keep_rows(con)
            return []
    keys = data_keys(con)
    views = static + wide_views(con, keys)
    signature = _signature(views)
    seen = {node: {key: cats for _m, _o, key, cats in rows}  # result_keys(con), from the keys already read
            for node, rows in keys["results"].items()}
    _set_state(con, "__result_keys__", json.dumps({"static": _signature(static), "keys": seen}))
    # what these views were made from, for readers (tied to the views: a writer that changes the views
    # without keeping this, an older trackdag, leaves readers reading the data themselves)
    _set_state(con, "__keys__", json.dumps({"views": signature, "rows": _row_counts(con), "keys": keys}))
    if _state(con, "__views__") == signature and {v.name for v in views} <= _main_views(con, db):
        return []
    _install(con, views, temp=False)
    _set_state(con, "__views__", signature)
    return [v.name for v in views]


def prepare_reader(con: Any) -> bool:
    """Reader: make every view answer from fresh data on this (read-only) connection.

    When the derived tables are missing or incomplete, or the installed views
    are older than the data, TEMP tables and views (visible only to this
    connection, shadowing the stored ones) are created.  Returns True when it
    had to.
    """
    db = con.execute("SELECT current_database()").fetchall()[0][0]
    tables = main_tables(con, db)
    base = {"jobs", "params", "edges", "results", "attempts"}
    if not base <= tables:
        raise CatalogError(f"catalog {db!r} lacks the tables {', '.join(sorted(base - tables))}: not a trackdag "
                           "catalog, or one from an older trackdag (a `trackdag run` on it upgrades it)")
    main = f"{quote(db)}.main"
    have = have_derived(con, tables)
    installed = _state(con, "__views__") if have else None
    # with the writer's keys every job has its param set (the writer completes them before it keeps them)
    keys = kept_keys(con) if have else None
    todo = (f"SELECT job_id FROM jobs ANTI JOIN {main}.param_sets USING (job_id)" if have
            else "SELECT job_id FROM jobs")
    temp = False
    if not have or (keys is None and con.execute(f"SELECT count(*) FROM ({todo})").fetchall()[0][0]):
        put_param_sets(con, todo)
        for name in ("param_values", "param_sets"):
            old = f"SELECT * FROM {main}.{name} UNION ALL BY NAME " if have else ""
            con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {old}SELECT * FROM td_{name}")
            drop(con, f"td_{name}")
        temp = True
    views = static_views() + wide_views(con, keys)
    if (temp or not have or installed != _signature(views)
            or not {v.name for v in views} <= _main_views(con, db)):
        _install(con, views, temp=True)
        temp = True
    return temp


def prepare(con: Any, *, read_only: bool) -> None:
    """Views ready on ``con``: installed for good by a writer, TEMP for a reader."""
    if read_only:
        prepare_reader(con)
    else:
        con.execute("BEGIN")
        try:
            refresh(con)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
