"""The leaderboard report: which settings won, per node, in the seed's four blocks.

For every reported node (default: each node with metrics) the report ranks
the node's done jobs whose result is usable (``result_status = 'ok'``) in
its ``results_<node>`` view and prints, like KWDagger's aggregate:

- ``Varied Basis``: for each param that varies among the reported rows, value -> count;
- ``Constant Params``: the params that do not vary among them;
- ``Varied Parameter LUT``: param_hashid -> its varied params;
- ``Top k / n for <node>``: rank, param_hashid and the display metrics.

Ranking is lexicographic over the primary metrics, in order, each with its
objective (``default_metrics()`` of the node, or ``--metric name[:min|max]``),
missing values last, ties broken by param_hashid then job id, so the order is
always the same.  **Rows are printed best first, with a rank column** (rank 1
is the best; KWDagger printed the best row last).  The JSON form lists rows in
the same order.

``--average-over KEY`` first groups the rows by their parameters other than
KEY (perf params aside) and averages each metric over the group, reporting
how many values of KEY (``n_values``) and how many rows (``n_rows``) each
average covers; a group's param_hashid hashes its parameters without KEY.

``--run RUN`` (``build_report(..., run=RUN)``) restricts the report to the
jobs that run planned, each as it stood at the end of the run: the state of
its latest attempt by then and the result of that attempt; a job a later run
did again successfully has lost that result (one result is kept per job), so
it is not ranked and a note names it (:mod:`trackdag.run_scope`).

Everything is computed by SQL over the views (:mod:`trackdag.views`); this
module only chooses the SQL and shapes the answer: the data and the metrics
it ranks by are in :mod:`trackdag.report_model`, the text and JSON forms in
:mod:`trackdag.report_text`.  Objectives come from the pipeline that made
the catalog (the latest run's ``pipeline_ref``); when it cannot be loaded,
the first metric is ranked, maximized, and the report says so.

Example:
    >>> print(format_text(Report("out/catalog.duckdb", None, [])))
    Nothing to report
"""
from __future__ import annotations

import json
import os
from typing import Any, Sequence

from .errors import ReportError, did_you_mean
from .report_model import (OBJECTIVES, ORDER_NOTE, Metric, NodeReport, Report, choose_metrics, find_metric,
                           metric_name, order_by, parse_metric, pipeline_of)
from .report_text import format_column, format_json, format_node, format_table, format_text, format_value
from .views import quote, result_view_name

__all__ = [
    # computing the report (here)
    "build_report", "node_report", "SIG_IDS",
    # re-exported from trackdag.report_model
    "OBJECTIVES", "ORDER_NOTE", "Metric", "NodeReport", "Report", "choose_metrics", "find_metric", "metric_name",
    "order_by", "parse_metric", "pipeline_of",
    # re-exported from trackdag.report_text
    "format_column", "format_json", "format_node", "format_table", "format_text", "format_value",
]


# -- parameters (--average-over) -----------------------------------------------------------------------
def _param_matches(key: str, columns: list[str]) -> list[str]:
    """The ``params.`` columns ``key`` may mean: its full name, ``node.key``, or any ending in ``.key``."""
    for cand in (key, f"params.{key}"):
        if cand in columns:
            return [cand]
    return [c for c in columns if c.endswith("." + key)]


def _param_column(key: str, columns: list[str]) -> str:
    """``--average-over`` value -> a ``params.`` column: full name, ``node.key`` or a unique ``key``."""
    matches = _param_matches(key, columns)
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise ReportError(f"--average-over {key!r} is ambiguous: {', '.join(matches)}")
    raise ReportError(f"--average-over {key!r}: no such parameter{did_you_mean(key, columns)}"
                      f" (params: {', '.join(columns) or 'none'})")


# -- SQL ---------------------------------------------------------------------------------------------------
def _base_sql(view: str, where: str | None, metrics: list[Metric], params: list[str],
              metric_types: dict[str, str], average: str | None) -> str:
    """``WITH base AS (the reported rows)``, and for ``average`` the CTEs ending in ``grp`` (one row per group)."""
    base = (f"base AS (\n    SELECT * FROM {quote(view)}\n    WHERE status = 'done' AND result_status = 'ok'"
            + (f"\n      AND ({where})" if where else "") + "\n)")
    if average is None:
        return f"WITH {base}"
    key = average[len("params."):]
    aggs = []
    for m in metrics:
        col = quote(m.column)
        numeric = metric_types.get(m.column, "").upper() in ("DOUBLE", "BIGINT", "BOOLEAN", "INTEGER", "FLOAT")
        aggs.append(f"avg(b.{col}::DOUBLE) AS {col}" if numeric
                    else f"CASE WHEN count(DISTINCT b.{col}) <= 1 THEN any_value(b.{col}) END AS {col}")
    for p in params:
        if p != average:
            col = quote(p)
            aggs.append(f"CASE WHEN count(DISTINCT to_json(b.{col})) <= 1 THEN any_value(b.{col}) END AS {col}")
    avg_col = quote(average)
    return (
        f"WITH {base},\n"
        # each row's parameters without the averaged one, as a JSON object: the group key
        "sig AS (\n    SELECT job_id,\n"
        "        '{' || string_agg(to_json(key) || ':' || value::VARCHAR, ',' ORDER BY key) || '}' AS sig\n"
        f"    FROM param_values\n    WHERE kind <> 'perf' AND key <> {_literal(key)}\n"
        "      AND job_id IN (SELECT job_id FROM base)\n"
        "    GROUP BY job_id\n),\n"
        "grp AS (\n    SELECT coalesce(s.sig, '{}') AS sig,\n        "
        + ",\n        ".join(aggs + [
            f"count(DISTINCT b.{avg_col}) AS n_values",
            "count(*) AS n_rows",
            f"list(DISTINCT to_json(b.{avg_col})) AS covers",
            "list(b.job_id ORDER BY b.job_id) AS job_ids",
        ])
        + "\n    FROM base b LEFT JOIN sig s ON s.job_id = b.job_id\n    GROUP BY 1\n)"
    )


def _ranked_sql(groups: str, ranking: list[Metric]) -> str:
    """The CTEs ending in ``ranked``: every averaged group with its rank and the total count.

    ``groups`` is :func:`_base_sql`'s answer; its groups are named by
    ``td_sig_ids`` (see :func:`_register_sig_ids`).
    """
    return (
        f"{groups},\n"
        f"named AS (\n    SELECT i.param_hashid, g.* FROM grp g JOIN {SIG_IDS} i ON i.sig = g.sig\n),\n"
        f"ranked AS (\n    SELECT row_number() OVER (ORDER BY {order_by(ranking)}param_hashid, sig) AS rank,\n"
        "        count(*) OVER () AS n_total, *\n    FROM named\n)"
    )


def _top_sql(groups: str, ranking: list[Metric], top_k: int) -> str:
    """The first ``top_k`` rows of a report that is not averaged, with their rank and ``n_total``, as one SELECT.

    Ranked by the objectives, then param_hashid, then job_id (so the order is
    total), from a top-N of ``base``: a window over all of it sorted every
    row (seconds at a million jobs).
    """
    order = f"{order_by(ranking)}param_hashid NULLS LAST, job_id"
    return (f"{groups},\ntop AS (SELECT * FROM base ORDER BY {order} LIMIT {int(top_k)})\n"
            f"SELECT row_number() OVER (ORDER BY {order}) AS rank, (SELECT count(*) FROM base) AS n_total, *\n"
            f"FROM top")


#: the TEMP table holding the top rows of a report that is not averaged (see :func:`_top_sql`)
TOP = "td_report_top"


#: the Arrow table of group signature -> param_hashid an averaged report joins in
SIG_IDS = "td_sig_ids"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _register_sig_ids(con: Any, groups: str, where: str | None) -> None:
    """Register ``td_sig_ids``: the param_hashid of every group signature of an averaged report.

    A group's hashid is :func:`trackdag.ids.letter_id` of its parameters, so it
    is computed here, in Python, and joined in as an Arrow table.  (A Python
    UDF would need numpy, which is not a dependency, and can be registered
    only once per connection.)
    """
    import pyarrow as pa

    from .ids import letter_id

    sigs = [r[0] for r in _run(con, f"{groups}\nSELECT DISTINCT sig FROM grp", where)]
    con.register(SIG_IDS, pa.table({
        "sig": pa.array(sigs, pa.string()),
        "param_hashid": pa.array([letter_id(json.loads(s)) for s in sigs], pa.string()),
    }))


def _run(con: Any, sql: str, where: str | None) -> list[tuple]:
    import duckdb

    from .api import one_line

    try:
        return con.execute(sql).fetchall()
    except duckdb.Error as exc:
        hint = f" (in --where {where!r})" if where else ""
        raise ReportError(f"{one_line(exc)}{hint}") from None


def node_report(con: Any, node: str, *, specs: list[dict[str, Any]] | None, top_k: int = 10,
                metrics: Sequence[str] = (), where: str | None = None, average_over: str | None = None,
                notes: Sequence[str] = ()) -> NodeReport:
    """The report of one node, computed on an open catalog connection (views prepared)."""
    view = result_view_name(node)
    described = con.execute(f"DESCRIBE SELECT * FROM {quote(view)}").fetchall()
    types = {row[0]: row[1] for row in described}
    metric_cols = [c for c in types if c.startswith("metrics.")]
    params = [c for c in types if c.startswith("params.")]
    ranking, display, metric_notes = choose_metrics(node, metric_cols, specs, metrics)
    notes = [*notes, *metric_notes]
    average = _param_column(average_over, params) if average_over else None
    shown_params = [p for p in params if p != average]
    if not metric_cols:
        notes.append(f"no {node} job has recorded metrics")
    groups = _base_sql(view, where, display, params, types, average)
    if average is None:  # the top rows once, into a TEMP table the row and basis queries read
        _run(con, f"CREATE OR REPLACE TEMP TABLE {TOP} AS\n{_top_sql(groups, ranking, top_k)}", where)
        try:
            return _node_rows(con, node, view, f"WITH ranked AS (SELECT * FROM {TOP})", ranking, display,
                              shown_params, top_k, where, None, notes)
        finally:
            con.execute(f"DROP TABLE IF EXISTS {TOP}")
    ranked = _ranked_sql(groups, ranking)
    _register_sig_ids(con, groups, where)
    try:
        return _node_rows(con, node, view, ranked, ranking, display, shown_params, top_k, where, average, notes)
    finally:
        con.unregister(SIG_IDS)


def _node_rows(con: Any, node: str, view: str, ranked: str, ranking: list[Metric], display: list[Metric],
               shown_params: list[str], top_k: int, where: str | None, average: str | None,
               notes: list[str]) -> NodeReport:
    """Run the ranked SQL of :func:`node_report` and shape its answer."""
    extra = ", n_values, n_rows, covers, job_ids" if average else ", job_id, short_id, folder"
    cols = "".join(f", {quote(m.column)}" for m in display) + "".join(
        f", to_json({quote(p)})" for p in shown_params)
    rows = _run(con, f"{ranked}\nSELECT rank, n_total, param_hashid{extra}{cols} FROM ranked "
                     f"WHERE rank <= {int(top_k)} ORDER BY rank", where)
    n_total = rows[0][1] if rows else _run(con, f"{ranked}\nSELECT count(*) FROM ranked", where)[0][0]
    out_rows = []
    n_fixed = 3 + (4 if average else 3)
    for row in rows:
        record: dict[str, Any] = {"rank": row[0], "param_hashid": row[2]}
        if average:
            record.update(n_values=row[3], n_rows=row[4],
                          covers=sorted((json.loads(v) for v in row[5] if v is not None), key=_sort_key),
                          job_ids=list(row[6]))
        else:
            record.update(job_id=row[3], short_id=row[4], folder=row[5])
        record["metrics"] = {m.name: _plain(v) for m, v in zip(display, row[n_fixed:n_fixed + len(display)])}
        record["params"] = {p: (None if v is None else json.loads(v))
                            for p, v in zip(shown_params, row[n_fixed + len(display):])}
        out_rows.append(record)
    basis: dict[str, list[tuple[Any, int]]] = {}
    if shown_params and rows:
        unpivot = ", ".join(quote(p) for p in shown_params)
        json_cols = ", ".join(f"to_json({quote(p)}) AS {quote(p)}" for p in shown_params)
        counts = _run(con, f"{ranked},\ntop AS (SELECT * FROM ranked WHERE rank <= {int(top_k)})\n"
                           f"SELECT param, value::VARCHAR, count(*) AS n FROM (SELECT {json_cols} FROM top)\n"
                           f"UNPIVOT INCLUDE NULLS (value FOR param IN ({unpivot}))\n"
                           "GROUP BY param, value ORDER BY param, n DESC, "
                           "TRY_CAST(value::VARCHAR AS DOUBLE) NULLS LAST, value::VARCHAR", where)
        for param, value, n in counts:
            basis.setdefault(param, []).append((None if value is None else json.loads(value), n))
    varied = {p: basis[p] for p in shown_params if p in basis and len(basis[p]) > 1}
    constant = {p: basis[p][0][0] for p in shown_params
                if p in basis and len(basis[p]) == 1 and basis[p][0][0] is not None}
    lut = {r["param_hashid"]: {p: r["params"][p] for p in varied} for r in out_rows}
    values = None
    if average:
        found = _run(con, f"{ranked}\nSELECT DISTINCT to_json(b.{quote(average)}) FROM base b", where)
        values = sorted((json.loads(v[0]) for v in found if v[0] is not None), key=_sort_key)
    return NodeReport(node, view, n_total, int(top_k), ranking, display, out_rows, varied, constant, lut,
                      where, average, values, notes)


def _plain(value: Any) -> Any:
    """A metric value for JSON: floats that are whole stay floats; NaN becomes None."""
    if isinstance(value, float) and value != value:
        return None
    return value


def _sort_key(value: Any) -> tuple:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return (1, json.dumps(value, sort_keys=True, default=str))
    return (0, value)


def build_report(catalog: "str | os.PathLike", *, nodes: Sequence[str] = (), top_k: int = 10,
                 metrics: Sequence[str] = (), where: str | None = None, average_over: str | None = None,
                 pipeline: Any = None, run: str | None = None, timeout: float | None = None) -> Report:
    """The report of ``nodes`` (default: every node with metrics) of a catalog or root folder.

    ``run``: a run id (or a unique prefix of one): the report as of that run,
    i.e. of the jobs it planned, each in its state at the end of the run, with
    the result its latest done attempt by then recorded; a job done again
    (successfully) by a later run is not ranked, and a note names it, since
    the catalog keeps one result per job (see :mod:`trackdag.run_scope`).
    Objectives then come from that run's pipeline.
    """
    from .api import open_catalog
    from .run_scope import resolve_run, scope_to_run

    if top_k < 1:
        raise ReportError("--top-k must be at least 1")
    with open_catalog(catalog, timeout=timeout) as cat:
        con = cat.connection
        scope = scope_to_run(con, resolve_run(con, run, cat.path)) if run is not None else None
        pipe, ref, notes = pipeline_of(con, cat.path, pipeline, scope.run_id if scope else None)
        if metrics and all(parse_metric(m)[1] for m in metrics):
            notes = []  # every objective was given: the pipeline is not needed for them
        all_nodes = cat.nodes()
        # a node has a metric when its results view has a metrics column (the view's keys are the data's):
        # no scan of every result row
        with_metrics = {n for n in all_nodes if any(
            r[0].startswith("metrics.") for r in con.execute(
                f"DESCRIBE SELECT * FROM {quote(result_view_name(n))}").fetchall())}
        order = list(pipe.order) if pipe is not None else []
        rank = {n: i for i, n in enumerate(order)}
        if nodes:
            for node in nodes:
                if node not in all_nodes:
                    raise ReportError(f"--node {node!r}: no such node in {cat.path}{did_you_mean(node, all_nodes)}"
                                      f" (nodes: {', '.join(all_nodes) or 'none yet'})")
            chosen = list(dict.fromkeys(nodes))
        else:
            chosen = sorted(with_metrics, key=lambda n: (rank.get(n, len(rank)), n))
            if not chosen:
                notes.append("no job has recorded metrics yet")
        reports = []
        for node in chosen:
            specs = None
            node_notes: list[str] = scope.notes_for(node) if scope else []
            if pipe is not None:
                if node in pipe.nodes:
                    specs = pipe.nodes[node].metric_specs()
                else:
                    node_notes.append(f"the pipeline {ref!r} has no node {node!r}: objectives unknown")
            average = average_over
            if average_over and len(chosen) > 1 and not _has_param(con, node, average_over):
                # several nodes: the one without the parameter is reported as it is, and says so
                node_notes.append(f"{node} has no parameter {average_over!r}: not averaged")
                average = None
            reports.append(node_report(con, node, specs=specs, top_k=top_k, metrics=metrics, where=where,
                                       average_over=average, notes=node_notes))
        if average_over and reports and all(r.average_over is None for r in reports):
            node_report(con, chosen[0], specs=None, average_over=average_over)  # raises: no such parameter
        return Report(cat.path, ref, reports, notes, scope.to_dict() if scope else None)


def _has_param(con: Any, node: str, key: str) -> bool:
    columns = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {quote(result_view_name(node))}").fetchall()
               if r[0].startswith("params.")]
    return bool(_param_matches(key, columns))
