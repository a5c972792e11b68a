"""The effective parameter sets of jobs: the rows of the derived tables ``param_values`` and ``param_sets``.

A job's effective parameters are its own algo and perf params and those of
every ancestor job (defaults included, as the jobs ran), plus the inputs the
matrix gave, as written in the matrix; ``param_hashid`` is the letter id of
the non-perf ones (see :mod:`trackdag.views`, which owns the tables and calls
:func:`complete_param_sets` from its ``refresh``).  Each job's set depends on
its lineage only, so jobs may be computed in any grouping: by chunks of
:data:`PARAM_SET_CHUNK` when many are new (a big plan's registration), their
lineage rows held in memory one chunk at a time.

Example:
    >>> param_hashid([("p.x", "p", "x", "algo", "matrix", 1)], {})[0].isalpha()
    True
"""
from __future__ import annotations

import json
import math
from typing import Any, Iterable, Mapping

from .catalog.batch import drop, put
from .ids import canonical_json, letter_id, scalar_memo


def _typed(value: Any) -> tuple[float | None, str | None, bool | None]:
    if isinstance(value, bool):
        return None, None, value
    if isinstance(value, (int, float)):
        return float(value), None, None
    if isinstance(value, str):
        return None, value, None
    return None, None, None


def _finite(value: Any) -> Any:
    """NaN/inf have no canonical JSON: hash them by their spelling."""
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, list):
        return [_finite(v) for v in value]
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    return value


def effective_params(requested: Mapping[str, Any], lineage: Iterable[tuple[int, str, str, str, Any]]
                     ) -> list[tuple[str, str, str, str, str, Any]]:
    """A job's effective parameters, in display order: (key, node, name, kind, source, value).

    ``requested``: the matrix row's ``<node>.<key>`` values for the job and its
    ancestors, as written.  ``lineage``: (depth, node, key, kind, value) of
    every resolved argument of the job (depth 0) and its ancestor jobs.
    Algo/perf params come from the jobs as they ran (defaults included);
    inputs only when the matrix gave them, with the value as written.  Order:
    the matrix's keys in its order, then the rest, ancestors first.

    >>> effective_params({'a.src': 'x.txt', 'a.p': 2},
    ...                  [(1, 'a', 'src', 'input', '/abs/x.txt'), (1, 'a', 'p', 'algo', 2),
    ...                   (0, 'b', 'w', 'perf', 4), (0, 'b', 'pred', 'input', '/r/a/out')])
    ... # doctest: +NORMALIZE_WHITESPACE
    [('a.src', 'a', 'src', 'input', 'requested', 'x.txt'), ('a.p', 'a', 'p', 'algo', 'requested', 2),
     ('b.w', 'b', 'w', 'perf', 'default', 4)]
    """
    found: dict[str, tuple[str, str, str, str, str, Any]] = {}
    #: key -> every value its ancestor jobs had (several when the job gathers many jobs of one node)
    seen: dict[str, dict[str, Any]] = {}
    for _depth, node, name, kind, value in sorted(lineage, key=lambda r: (-r[0], r[1], r[2])):
        key = f"{node}.{name}"
        if kind == "input":
            if key in requested and key not in found:
                found[key] = (key, node, name, kind, "requested", requested[key])
            continue
        seen.setdefault(key, {})[canonical_json(_finite(value))] = value
        if key not in found:
            found[key] = (key, node, name, kind, "requested" if key in requested else "default", value)
    for key, values in seen.items():
        if len(values) > 1:  # a gather's members differ here: the sorted distinct values
            found[key] = found[key][:5] + ([values[k] for k in sorted(values)],)
    first = [found[k] for k in requested if k in found]
    return first + [v for k, v in found.items() if k not in requested]


def param_hashid(params: Iterable[tuple[str, str, str, str, str, Any]],
                 memo: dict[str, str] | None = None) -> tuple[str, dict[str, Any]]:
    """(param_hashid, hashed set) of effective params: every non-perf one.

    ``memo`` (canonical JSON -> id) saves recomputing the id of a set shared
    by several jobs (a job and its descendants often have the same one).

    >>> param_hashid([('a.p', 'a', 'p', 'algo', 'requested', 1), ('a.w', 'a', 'w', 'perf', 'default', 4)])
    ('dqtaurswvnaj', {'a.p': 1})
    """
    hashed = {key: _finite(value) for key, _n, _k, kind, _s, value in params if kind != "perf"}
    if memo is None:
        return letter_id(hashed), hashed
    text = canonical_json(hashed)
    if text not in memo:
        memo[text] = letter_id(hashed)
    return memo[text], hashed


#: the columns of the param_values and the param_sets rows (their SQL types)
VALUES_TYPES = {"job_id": "VARCHAR", "key": "VARCHAR", "node": "VARCHAR", "name": "VARCHAR", "kind": "VARCHAR",
                "source": "VARCHAR", "ord": "INTEGER", "value": "VARCHAR", "value_num": "DOUBLE",
                "value_text": "VARCHAR", "value_bool": "BOOLEAN"}
SETS_TYPES = {"job_id": "VARCHAR", "param_hashid": "VARCHAR", "param_set": "VARCHAR"}


def compute_param_sets(con: Any, todo_sql: str) -> tuple[dict[str, list], dict[str, list]]:
    """Columns (param_values rows, param_sets rows) of the jobs selected by ``todo_sql`` (see put_param_sets)."""
    lineage_rows = con.execute(f"""
        WITH RECURSIVE todo AS ({todo_sql}),
        walk(job_id, ancestor_id, depth) AS (
            SELECT job_id, job_id, 0 FROM todo
            UNION
            SELECT w.job_id, e.parent_id, w.depth + 1 FROM walk w JOIN edges e ON e.child_id = w.ancestor_id
        )
        SELECT w.job_id, min(w.depth), p.node, p.key, p.kind, p.value::VARCHAR
        FROM walk w JOIN params p ON p.job_id = w.ancestor_id
        GROUP BY w.job_id, p.node, p.key, p.kind, p.value::VARCHAR
    """).fetchall()
    requested_rows = con.execute(
        f"SELECT job_id, requested::VARCHAR FROM jobs WHERE job_id IN (SELECT job_id FROM ({todo_sql}))"
    ).fetchall()
    # Values repeat across jobs (defaults, shared inputs): a scalar's parsed value is made once
    load = scalar_memo(json.loads)  # (by the JSON text; a parsed list or dict is shared by its jobs, read only)
    lineage: dict[str, list] = {}
    for job_id, depth, node, key, kind, value in lineage_rows:
        lineage.setdefault(job_id, []).append((depth, node, key, kind, None if value is None else load(value)))
    return param_set_columns((job_id, json.loads(requested) if requested else {}, lineage.get(job_id, ()))
                             for job_id, requested in requested_rows)


def param_set_columns(jobs: Iterable[tuple[str, Mapping[str, Any], Iterable[tuple[int, str, str, str, Any]]]]
                      ) -> tuple[dict[str, list], dict[str, list]]:
    """Columns (param_values rows, param_sets rows) of ``jobs``: (job id, requested, lineage) each.

    ``requested`` and ``lineage`` as :func:`effective_params` takes them, with
    the values as the catalog's JSON gives them back (tuples as lists).
    """
    def typed_row(value: Any) -> tuple:
        num, text, flag = _typed(value)
        return (json.dumps(_finite(value), ensure_ascii=False, default=str),
                num if num is None or math.isfinite(num) else None, text, flag)

    typed = scalar_memo(typed_row)
    vcols: dict[str, list] = {c: [] for c in VALUES_TYPES}
    scols: dict[str, list] = {c: [] for c in SETS_TYPES}
    memo: dict[str, str] = {}
    for job_id, requested, lineage in jobs:
        params = effective_params(requested, lineage)
        for ord_, (key, node, name, kind, source, value) in enumerate(params):
            for col, item in zip(vcols, (job_id, key, node, name, kind, source, ord_) + typed(value)):
                vcols[col].append(item)
        hashid, hashed = param_hashid(params, memo)
        scols["job_id"].append(job_id)
        scols["param_hashid"].append(hashid)
        scols["param_set"].append(json.dumps(hashed, ensure_ascii=False, sort_keys=True, default=str))
    return vcols, scols


def put_param_sets(con: Any, todo_sql: str) -> None:
    """The param sets of the jobs ``todo_sql`` selects, as ``td_param_values`` and ``td_param_sets`` on ``con``.

    Undo with ``batch.drop`` of both names.
    """
    values, sets = compute_param_sets(con, todo_sql)
    put(con, "td_param_values", values, VALUES_TYPES)
    put(con, "td_param_sets", sets, SETS_TYPES)


def insert_param_sets(con: Any, values: Mapping[str, list], sets: Mapping[str, list]) -> None:
    """Insert the param_values and param_sets rows of these columns (as :func:`param_set_columns` makes them)."""
    put(con, "td_param_values", values, VALUES_TYPES)
    put(con, "td_param_sets", sets, SETS_TYPES)
    con.execute("INSERT INTO param_values BY NAME SELECT * FROM td_param_values")
    con.execute("INSERT INTO param_sets BY NAME SELECT * FROM td_param_sets")
    drop(con, "td_param_values")
    drop(con, "td_param_sets")


#: jobs whose param sets are computed at a time (their lineage rows are held in memory meanwhile)
PARAM_SET_CHUNK = 20_000


def complete_param_sets(con: Any, todo: str, count: int, commit_chunks: bool = False) -> None:
    """Insert the param_values and param_sets rows of the jobs ``todo`` selects, by chunks."""
    chunked = count > PARAM_SET_CHUNK
    ids = [j for (j,) in con.execute(todo).fetchall()] if chunked else None
    for start in range(0, len(ids), PARAM_SET_CHUNK) if chunked else (0,):
        if chunked:
            put(con, "td_param_todo", {"job_id": ids[start:start + PARAM_SET_CHUNK]}, {"job_id": "VARCHAR"})
        insert_param_sets(con, *compute_param_sets(con, "SELECT job_id FROM td_param_todo" if chunked else todo))
        if chunked:
            drop(con, "td_param_todo")
        if chunked and commit_chunks:
            con.execute("COMMIT")
            con.execute("BEGIN")




__all__ = ["effective_params", "param_hashid", "compute_param_sets", "param_set_columns", "put_param_sets",
           "insert_param_sets", "complete_param_sets",
           "PARAM_SET_CHUNK"]
