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
module only chooses the SQL and lays out the answer.  Objectives come from
the pipeline that made the catalog (the latest run's ``pipeline_ref``);
when it cannot be loaded, the first metric is ranked, maximized, and the
report says so.

Example:
    >>> parse_metric('hamming_distance:min')
    ('hamming_distance', 'minimize')
    >>> format_value('README.rst'), format_value(123), format_value([1, 'a'])
    ('README.rst', '123', '[1, "a"]')
"""
from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from typing import Any, Sequence

from .errors import ReportError, TrackdagError, did_you_mean
from .views import quote, result_view_name

OBJECTIVES = {"max": "maximize", "maximize": "maximize", "min": "minimize", "minimize": "minimize"}
ORDER_NOTE = "best first (rank 1 is the best)"


@dataclass(frozen=True)
class Metric:
    """A metric column of a wide view and how it is used."""

    column: str
    name: str
    objective: str = "maximize"
    primary: bool = False


@dataclass
class NodeReport:
    """The report of one node; see the module docstring."""

    node: str
    view: str
    n_rows: int
    top_k: int
    ranking: list[Metric]
    display: list[Metric]
    rows: list[dict[str, Any]]
    varied_basis: dict[str, list[tuple[Any, int]]]
    constant_params: dict[str, Any]
    varied_lut: dict[str, dict[str, Any]]
    where: str | None = None
    average_over: str | None = None
    average_values: list[Any] | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "view": self.view,
            "n_rows": self.n_rows,
            "top_k": self.top_k,
            "order": ORDER_NOTE,
            "ranking": [{"metric": m.name, "column": m.column, "objective": m.objective} for m in self.ranking],
            "display": [m.name for m in self.display],
            "where": self.where,
            "average_over": self.average_over,
            "average_values": self.average_values,
            "varied_basis": {k: [{"value": v, "count": n} for v, n in counts]
                             for k, counts in self.varied_basis.items()},
            "constant_params": self.constant_params,
            "varied_lut": self.varied_lut,
            "rows": self.rows,
            "notes": self.notes,
        }


@dataclass
class Report:
    """Reports of every requested node."""

    catalog: str
    pipeline: str | None
    nodes: list[NodeReport]
    notes: list[str] = field(default_factory=list)
    #: the run the report is restricted to (``--run``; :meth:`trackdag.run_scope.RunScope.to_dict`), or None
    run: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"catalog": self.catalog, "pipeline": self.pipeline, "order": ORDER_NOTE, "run": self.run,
                "notes": self.notes, "nodes": [n.to_dict() for n in self.nodes]}


def parse_metric(text: str) -> tuple[str, str | None]:
    """``name`` or ``name:min|max`` -> (name, objective or None)."""
    name, sep, objective = text.rpartition(":") if ":" in text else (text, "", "")
    if not sep:
        return text.strip(), None
    if objective.strip().lower() not in OBJECTIVES:
        raise ReportError(f"--metric {text!r}: the objective after ':' must be min or max")
    return name.strip(), OBJECTIVES[objective.strip().lower()]


# -- the pipeline (for objectives) ------------------------------------------------------------
def pipeline_of(con: Any, catalog: str, pipeline: Any, run_id: str | None = None
                ) -> tuple[Any, str | None, list[str]]:
    """(pipeline or None, its reference, notes): ``pipeline``, else the one ``run_id`` (else the latest run) names."""
    from .pipeline import Pipeline, load_pipeline

    if isinstance(pipeline, Pipeline):
        return pipeline, pipeline.ref, []
    base_dir = os.path.dirname(os.path.dirname(os.path.abspath(catalog)))
    if pipeline is not None:
        return load_pipeline(pipeline, base_dir=base_dir), str(pipeline), []
    found = con.execute("SELECT pipeline_ref FROM runs WHERE pipeline_ref IS NOT NULL "
                        "ORDER BY run_id IS NOT DISTINCT FROM ? DESC, started DESC LIMIT 1", [run_id]).fetchall()
    if not found:
        return None, None, ["the catalog names no pipeline, so metric objectives are unknown"]
    ref = found[0][0]
    # The run may have started from the root's parent folder: look there for the module too.
    added = base_dir not in sys.path
    if added:
        sys.path.append(base_dir)
    try:
        return load_pipeline(ref, base_dir=base_dir), ref, []
    except (TrackdagError, Exception) as exc:  # user code: any failure only costs the objectives
        return None, ref, [f"could not load the pipeline {ref!r} ({str(exc).splitlines()[0]}), "
                           "so metric objectives are unknown; pass --pipeline or --metric NAME:min|max"]
    finally:
        if added and base_dir in sys.path:
            sys.path.remove(base_dir)


# -- choosing metrics ---------------------------------------------------------------------------------
def metric_name(column: str, node: str) -> str:
    prefix = f"metrics.{node}."
    return column[len(prefix):] if column.startswith(prefix) else column[len("metrics."):]


def find_metric(name: str, node: str, columns: list[str]) -> str | None:
    for cand in (f"metrics.{node}.{name}", name, f"metrics.{name}"):
        if cand in columns:
            return cand
    return None


def choose_metrics(node: str, columns: list[str], specs: list[dict[str, Any]] | None,
                   override: Sequence[str] = ()) -> tuple[list[Metric], list[Metric], list[str]]:
    """(ranking metrics, displayed metrics, notes) for a node's metric columns.

    ``specs``: the node's ``default_metrics`` (None when the pipeline is
    unknown).  ``override``: ``--metric`` values, ranking in that order.

    >>> cols = ['metrics.e.acc', 'metrics.e.loss']
    >>> rank, shown, notes = choose_metrics('e', cols, [{'metric': 'loss', 'objective': 'minimize', 'primary': True}])
    >>> [(m.name, m.objective) for m in rank], [m.name for m in shown], notes
    ([('loss', 'minimize')], ['loss'], [])
    """
    notes: list[str] = []
    known: dict[str, dict[str, Any]] = {}
    for spec in specs or []:
        column = find_metric(str(spec.get("metric", "")), node, columns)
        if column is None:
            notes.append(f"default_metrics names {spec.get('metric')!r}, which no {node} result has")
            continue
        known[column] = spec
    if override:
        ranking = []
        for text in override:
            name, objective = parse_metric(text)
            column = find_metric(name, node, columns)
            if column is None:
                short = [metric_name(c, node) for c in columns]
                raise ReportError(f"--metric {name!r}: node {node!r} has no such metric{did_you_mean(name, short)}"
                                  f" (metrics: {', '.join(short) or 'none'})")
            if objective is None:
                objective = str(known.get(column, {}).get("objective") or "maximize").lower()
                if column not in known:
                    notes.append(f"no objective known for {name!r}: maximizing it (write {name}:min to minimize)")
            ranking.append(Metric(column, metric_name(column, node), OBJECTIVES.get(objective, "maximize"), True))
    else:
        primary = [c for c, s in known.items() if s.get("primary")]
        if known and not primary:
            primary = [next(iter(known))]
            notes.append(f"default_metrics marks no metric primary: ranking by {metric_name(primary[0], node)}")
        if not primary:
            primary = columns[:1]
            if specs is not None and columns:
                notes.append(f"{node} declares no default_metrics: ranking by {metric_name(columns[0], node)} "
                             "(maximize); pass --metric NAME:min|max to choose")
            elif columns:
                notes.append(f"ranking by the first metric, {metric_name(columns[0], node)} (maximize)")
        ranking = [Metric(c, metric_name(c, node),
                          OBJECTIVES.get(str(known.get(c, {}).get("objective", "maximize")).lower(), "maximize"), True)
                   for c in primary]
    shown = {m.column: m for m in ranking}
    if known:
        extra = [c for c, s in known.items() if s.get("display")]
    else:  # nothing known about the metrics: show them all
        extra = columns if not specs else []
    for column in extra:
        if column not in shown:
            shown[column] = Metric(column, metric_name(column, node),
                                   OBJECTIVES.get(str(known.get(column, {}).get("objective", "maximize")).lower(),
                                                  "maximize"))
    return ranking, list(shown.values()), notes


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
def order_by(ranking: list[Metric]) -> str:
    return "".join(f"{quote(m.column)} {'DESC' if m.objective == 'maximize' else 'ASC'} NULLS LAST, "
                   for m in ranking)


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


def _ranked_sql(groups: str, ranking: list[Metric], averaged: bool) -> str:
    """The CTEs ending in ``ranked``: every reported row (or averaged group) with its rank and the total count.

    ``groups`` is :func:`_base_sql`'s answer; for an averaged report its
    groups are named by ``td_sig_ids`` (see :func:`_register_sig_ids`).
    """
    if not averaged:
        return (f"{groups},\nranked AS (\n    SELECT row_number() OVER (ORDER BY {order_by(ranking)}"
                "param_hashid NULLS LAST, job_id) AS rank, count(*) OVER () AS n_total, *\n    FROM base\n)")
    return (
        f"{groups},\n"
        f"named AS (\n    SELECT i.param_hashid, g.* FROM grp g JOIN {SIG_IDS} i ON i.sig = g.sig\n),\n"
        f"ranked AS (\n    SELECT row_number() OVER (ORDER BY {order_by(ranking)}param_hashid, sig) AS rank,\n"
        "        count(*) OVER () AS n_total, *\n    FROM named\n)"
    )


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
    ranked = _ranked_sql(groups, ranking, average is not None)
    if average is None:
        return _node_rows(con, node, view, ranked, ranking, display, shown_params, top_k, where, None, notes)
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
        with_metrics = {r[0] for r in con.execute("SELECT DISTINCT node FROM metrics").fetchall()}
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


# -- text layout (the seed's) ----------------------------------------------------------------------
def format_value(value: Any) -> str:
    """A value as the report shows it: strings as they are (``README.rst``, not ``'README.rst'``),
    numbers, booleans and None as Python prints them, lists and mappings as JSON.

    ``--format json`` keeps the types for programs; this is for people.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False, default=str)
    return repr(value)


def _block(title: str, mapping: dict[str, Any]) -> list[str]:
    if not mapping:
        return [f"{title}{{}}"]
    lines = [f"{title}{{"]
    for key, value in mapping.items():
        if isinstance(value, dict):
            if not value:
                lines.append(f"    {format_value(key)}: {{}},")
                continue
            lines.append(f"    {format_value(key)}: {{")
            lines += [f"        {format_value(k)}: {format_value(v)}," for k, v in value.items()]
            lines.append("    },")
        else:
            lines.append(f"    {format_value(key)}: {format_value(value)},")
    lines.append("}")
    return lines


def format_column(values: list[Any]) -> tuple[list[str], bool]:
    """Cells of one column, pandas-like: whole floats as ints, others to 6 decimals (common zeros trimmed)."""
    present = [v for v in values if v is not None]
    numeric = bool(present) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present)
    if not numeric:
        return [("None" if v is None else str(v)) for v in values], False
    if all(float(v).is_integer() for v in present):
        cells = [None if v is None else str(int(v)) for v in values]
    else:
        cells = [None if v is None else f"{v:.6f}" for v in values]
        trim = min(len(c) - len(c.rstrip("0")) for c in cells if c is not None)
        trim = min(trim, 5)
        cells = [None if c is None else (c[:-trim] if trim else c) for c in cells]
    return [" NaN" if c is None else (c if c.startswith("-") else " " + c) for c in cells], True


def format_table(headers: list[str], rows: list[list[Any]], *, plain: int = 0) -> list[str]:
    """A right-aligned text table like pandas' ``to_string(index=False)``.

    Numeric cells (and their headers) keep pandas' sign slot, a leading
    space; the first ``plain`` columns are laid out as text.

    >>> print("\\n".join(format_table(['id', 'acc', 'n'], [['a', 0.5, 3], ['b', 0.25, 12]], plain=1)))
    id   acc   n
     a  0.50   3
     b  0.25  12
    """
    columns, numeric = [], []
    for i in range(len(headers)):
        values = [r[i] for r in rows]
        cells, is_num = format_column(values) if i >= plain else ([str(v) for v in values], False)
        columns.append(cells)
        numeric.append(is_num)
    widths = [max([len(h) + is_num] + [len(c) for c in col]) for h, col, is_num in zip(headers, columns, numeric)]
    lines = [" ".join(h.rjust(w) for h, w in zip(headers, widths))]
    for i in range(len(rows)):
        lines.append(" ".join(col[i].rjust(w) for col, w in zip(columns, widths)))
    return lines


def format_node(report: NodeReport) -> str:
    """One node's report as text, in the seed's layout."""
    ranking = ", ".join(f"{m.name} ({m.objective})" for m in report.ranking) or "nothing"
    lines = [f"== {report.node} ==", f"ranked by: {ranking}; {ORDER_NOTE}"]
    if report.where:
        lines.append(f"filter: {report.where}")
    if report.average_over:
        values = ", ".join(format_value(v) for v in report.average_values or [])
        lines.append(f"averaged over {report.average_over} ({len(report.average_values or [])} values: {values}); "
                     "n_values = how many of them each average covers")
    lines += [f"Note: {n}" for n in report.notes]
    if not report.rows:
        lines.append(f"No {report.node} results to report" + (" (after the filter)" if report.where else ""))
        return "\n".join(lines)
    basis = {k: {v: n for v, n in counts} if all(_hashable(v) for v, _ in counts) else
             {json.dumps(v): n for v, n in counts} for k, counts in report.varied_basis.items()}
    lines += _block("Varied Basis: = ", basis)
    lines += _block("Constant Params: ", report.constant_params)
    lines += _block("Varied Parameter LUT: ", report.varied_lut)
    lines.append("---")
    lines.append(f"Top {len(report.rows)} / {report.n_rows} for {report.node}")
    headers = ["rank", "param_hashid"] + [m.name for m in report.display]
    extra = ["n_values", "n_rows"] if report.average_over else []
    table = [[r["rank"], r["param_hashid"]] + [r["metrics"][m.name] for m in report.display] + [r[k] for k in extra]
             for r in report.rows]
    lines += format_table(headers + extra, table, plain=2)
    return "\n".join(lines)


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def format_text(report: Report) -> str:
    """The whole report as text: one block per node, separated by blank lines (after the run's line, with --run)."""
    from .run_scope import run_counts_line

    parts = [run_counts_line(report.run) + "; results as of its end"] if report.run else []
    parts += [f"Note: {n}" for n in report.notes]
    parts += [format_node(n) for n in report.nodes]
    return "\n\n".join(parts) if parts else "Nothing to report"


def format_json(report: Report) -> str:
    """The same content as JSON."""
    return json.dumps(report.to_dict(), indent=2, ensure_ascii=False, default=str)
