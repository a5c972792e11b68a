"""Altair charts of a catalog: metrics against parameters, vantage points, the run timeline, durations.

For every node with metrics (the nodes ``trackdag report`` ranks):

- **metric vs parameter**: each ranking (primary) metric against each
  parameter that varies among the node's done jobs with a usable result.
  Numeric parameters get a quantitative axis, the others a nominal one.
  Each value shows the mean (a point), the interquartile range (a thick bar)
  and the min-max range (a thin rule), plus the individual jobs as faint
  points when there are few enough of them.
- **vantage points**: each ``default_vantage_points`` pair (``metric1`` vs
  ``metric2``; without any, the node's first two ranking metrics), one
  point per job, coloured by a varied parameter, the Pareto front of the two
  metrics' objectives drawn as a line, and the best configurations (the
  leaderboard's top ``labels``, ranked as ``trackdag report`` ranks) labelled
  by param_hashid.

For the latest run (or ``run_id``), the timeline of its attempts and each
node's job durations (:mod:`trackdag.run_charts`).

**Size limits** (:class:`Limits`; Altair refuses more than 5,000 rows per
data set, and the page must stay small).  Every chart is aggregated or
sampled in SQL before Altair sees it, Altair's own limit is never disabled,
and a chart that shows less than everything says so in its subtitle:

- metric vs parameter: one row per parameter value (numeric parameters with
  more than ``groups`` values are binned into ``bins`` equal-width bins,
  nominal ones keep their ``groups - 1`` most frequent values and lump the
  rest into "(N other values)"); individual points only when the node has at
  most ``points`` rows;
- vantage points: at most ``scatter`` points: the Pareto front (thinned to
  ``front`` points when larger), the top ``labels``, and a fixed sample of
  the rest (the same jobs every time: ordered by a hash of the job id);
- timeline and durations: see :mod:`trackdag.run_charts`.

The size limits, the chart types and the pure layout helpers (lanes, the
Pareto front, label placement) are in :mod:`trackdag.chart_layout`.

Example:
    >>> charts = build_charts("examples/demo/out")               # doctest: +SKIP
    >>> save_charts(charts.charts, "charts", "svg")              # doctest: +SKIP
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Sequence

from .chart_layout import (LIMITS, NUMERIC_TYPES, ChartItem, ChartSet, Limits, _fmt_n, _numeric, _rows, _short,
                           _table, _title, label_groups, labels_collide, log_spaced, pack_lanes, pareto_front, slug)
from .errors import ReportError, did_you_mean
from .run_charts import FAILED_RED, NODE_PALETTE, STATE_COLORS, duration_chart, latest_run, timeline_chart
from .views import literal, quote, result_view_name

__all__ = [
    # the result charts and the whole page (here)
    "FORMATS", "OK_ROWS", "build_charts", "charts_for", "chart_nodes", "node_charts", "metric_param_chart",
    "vantage_chart", "save_charts", "vl_version",
    # re-exported from trackdag.chart_layout
    "LIMITS", "NUMERIC_TYPES", "ChartItem", "ChartSet", "Limits", "label_groups", "labels_collide", "log_spaced",
    "pack_lanes", "pareto_front", "slug",
    # re-exported from trackdag.run_charts
    "FAILED_RED", "NODE_PALETTE", "STATE_COLORS", "duration_chart", "latest_run", "timeline_chart",
]

FORMATS = ("png", "svg", "html")
OK_ROWS = "status = 'done' AND result_status = 'ok'"


# -- per node ----------------------------------------------------------------------------------
@dataclass
class _Node:
    node: str
    view: str
    types: dict[str, str]
    base: str                              # SQL of the reported rows (done, usable result, filter)
    ranking: list[Any]                     # report.Metric
    objectives: dict[str, str]             # metric column -> objective
    varied: list[tuple[str, int]]          # (param column, distinct values)
    n_rows: int
    notes: list[str]


def _metric_objectives(node: str, columns: list[str], specs: list[dict[str, Any]] | None,
                       ranking: list[Any]) -> dict[str, str]:
    from .report_model import OBJECTIVES, find_metric

    found: dict[str, str] = {}
    for spec in specs or []:
        column = find_metric(str(spec.get("metric", "")), node, columns)
        if column is not None:
            found[column] = OBJECTIVES.get(str(spec.get("objective", "maximize")).lower(), "maximize")
    for m in ranking:  # --metric overrides win
        found[m.column] = m.objective
    return found


def _prepare_node(con: Any, node: str, specs: list[dict[str, Any]] | None, metrics: Sequence[str],
                  where: str | None) -> _Node:
    from .report_model import choose_metrics

    view = result_view_name(node)
    types = {r[0]: r[1] for r in con.execute(f"DESCRIBE SELECT * FROM {quote(view)}").fetchall()}
    metric_cols = [c for c in types if c.startswith("metrics.") and _numeric(types[c])]
    ranking, _display, notes = choose_metrics(node, metric_cols, specs, metrics)
    base = f"SELECT * FROM {quote(view)} WHERE {OK_ROWS}" + (f" AND ({where})" if where else "")
    params = [c for c in types if c.startswith("params.")]
    counts = []
    if params:
        exprs = ", ".join(f"count(DISTINCT to_json({quote(p)}))" for p in params)
        counts = list(_run(con, f"SELECT count(*), {exprs} FROM ({base})", where)[0])
    n_rows = counts[0] if counts else _run(con, f"SELECT count(*) FROM ({base})", where)[0][0]
    varied = [(p, n) for p, n in zip(params, counts[1:]) if n > 1]
    return _Node(node, view, types, base, ranking, _metric_objectives(node, metric_cols, specs, ranking),
                 varied, n_rows, list(notes))


def _run(con: Any, sql: str, where: str | None = None, params: Sequence[Any] = ()) -> list[tuple]:
    import duckdb

    from .api import one_line

    try:
        return con.execute(sql, list(params)).fetchall()
    except duckdb.Error as exc:
        raise ReportError(one_line(exc) + (f" (in --where {where!r})" if where else "")) from None


def _value_sql(column: str, sql_type: str) -> str:
    """A parameter column as chart text (nominal axes)."""
    col = quote(column)
    if sql_type.upper() == "VARCHAR":
        return f"coalesce({col}, 'null')"
    return f"coalesce(CAST({col} AS VARCHAR), 'null')"


def metric_param_chart(con: Any, info: _Node, metric: Any, param: str, limits: Limits = LIMITS) -> ChartItem:
    """``metric`` against the parameter ``param`` (see the module docstring)."""
    import altair as alt

    numeric = _numeric(info.types[param])
    m = f"{quote(metric.column)}::DOUBLE"
    rows_sql = (f"SELECT param_hashid, {quote(param) + '::DOUBLE' if numeric else _value_sql(param, info.types[param])}"
                f" AS v, {m} AS m FROM ({info.base}) WHERE {m} IS NOT NULL AND isfinite({m})"
                + (f" AND {quote(param)} IS NOT NULL" if numeric else ""))
    n_rows, n_values, lo, hi = _run(con, f"SELECT count(*), count(DISTINCT v), min(v), max(v) FROM ({rows_sql})")[0] \
        if numeric else (*_run(con, f"SELECT count(*), count(DISTINCT v) FROM ({rows_sql})")[0], None, None)
    notes: list[str] = []
    group = "v"
    if n_values > limits.groups:
        if numeric:
            width = (hi - lo) / limits.bins
            group = f"{lo!r} + (least(floor((v - {lo!r}) / {width!r}), {limits.bins - 1}) + 0.5) * {width!r}"
            notes.append(f"{_fmt_n(n_values)} values binned into {limits.bins} bins of width {width:.4g}")
        else:
            keep = limits.groups - 1
            group = (f"CASE WHEN v IN (SELECT v FROM ({rows_sql}) GROUP BY v ORDER BY count(*) DESC, v LIMIT {keep}) "
                     f"THEN v ELSE {literal(f'({_fmt_n(n_values - keep)} other values)')} END")
            notes.append(f"the {keep} most frequent of {_fmt_n(n_values)} values; the rest lumped together")
    summary = _rows(con, f"""
        SELECT {group} AS x, count(*) AS n, avg(m) AS mean, median(m) AS median, min(m) AS lo, max(m) AS hi,
               quantile_cont(m, 0.25) AS q1, quantile_cont(m, 0.75) AS q3
        FROM ({rows_sql}) GROUP BY 1 ORDER BY 1""")
    x_title = _short(param)
    y_title = f"{metric.name} ({metric.objective})"
    xtype = "quantitative" if numeric else "nominal"
    scale: Any = alt.Undefined
    axis: dict[str, Any] = {"labelLimit": 160, "labelAngle": alt.Undefined if numeric or len(summary) > 8 else 0}
    if numeric:
        xs = [r["x"] for r in summary if r["x"] is not None]
        if n_values <= limits.groups and log_spaced(xs):
            scale = alt.Scale(type="log")
            notes.append("log scale: the values are spaced by factors")
        else:
            scale = alt.Scale(zero=False)
        if info.types[param].upper() in ("BIGINT", "INTEGER", "HUGEINT", "SMALLINT", "TINYINT"):
            axis.update(format="d", tickMinStep=1)  # seeds and counts: 0, 1, 2, not 0.0, 0.2, ...
            if len(xs) <= 12:
                axis["values"] = sorted(set(int(x) for x in xs))
    xenc = alt.X("x", type=xtype, title=x_title, scale=scale, axis=alt.Axis(**axis))
    data = _table(summary, ["x", "n", "mean", "median", "lo", "hi", "q1", "q3"])
    tooltip = [alt.Tooltip("x", type=xtype, title=x_title), alt.Tooltip("n:Q", title="jobs"),
               alt.Tooltip("mean:Q", format=".4g"), alt.Tooltip("median:Q", format=".4g"),
               alt.Tooltip("lo:Q", title="min", format=".4g"), alt.Tooltip("hi:Q", title="max", format=".4g"),
               alt.Tooltip("q1:Q", format=".4g"), alt.Tooltip("q3:Q", format=".4g")]
    base = alt.Chart(data).encode(x=xenc)
    layers = [
        base.mark_rule(color="#888").encode(y=alt.Y("lo:Q", title=y_title, scale=alt.Scale(zero=False)),
                                            y2="hi:Q", tooltip=tooltip),
        base.mark_rule(color="#4c78a8", strokeWidth=6, opacity=0.5).encode(y="q1:Q", y2="q3:Q", tooltip=tooltip),
        base.mark_point(filled=True, size=60, color="#4c78a8").encode(y="mean:Q", tooltip=tooltip),
    ]
    if n_rows <= limits.points:
        # numeric: at their own value (binning is only a summary); nominal: in their group on the axis
        points = _rows(con, f"SELECT param_hashid, {'v' if numeric else group} AS x, m FROM ({rows_sql}) "
                            "ORDER BY param_hashid")
        pdata = _table(points, ["param_hashid", "x", "m"])
        layers.insert(0, alt.Chart(pdata).mark_point(size=18, color="#444", opacity=0.35).encode(
            x=xenc, y="m:Q", tooltip=[alt.Tooltip("param_hashid:N"), alt.Tooltip("x", type=xtype, title=x_title),
                                      alt.Tooltip("m:Q", title=metric.name, format=".6g")]))
    else:
        notes.append(f"{_fmt_n(n_rows)} jobs: mean, quartiles and range per value (no single points)")
    title = f"{info.node}: {metric.name} vs {x_title}"
    chart = alt.layer(*layers).properties(width=420, height=260, title=_title(title, notes))
    return ChartItem(slug(f"{info.node}-{metric.name}-vs-{x_title}"), title, info.node, "metric_vs_param", chart,
                     tuple(notes))


def _color_param(info: _Node) -> tuple[str | None, bool]:
    """The varied parameter to colour a scatter by (fewest values first), and whether it is quantitative."""
    if not info.varied:
        return None, False
    param, n = min(info.varied, key=lambda pn: (pn[1], info.varied.index(pn)))
    return param, _numeric(info.types[param]) and n > 10


def vantage_chart(con: Any, info: _Node, metric1: str, metric2: str, limits: Limits = LIMITS) -> ChartItem:
    """``metric1`` vs ``metric2`` for every job, with the Pareto front and the best labelled."""
    import altair as alt

    from .report_model import metric_name, order_by

    c1, c2 = metric1, metric2
    o1, o2 = info.objectives.get(c1, "maximize"), info.objectives.get(c2, "maximize")
    notes = [f"no objective known for {metric_name(c, info.node)}: maximized"
             for c in (c1, c2) if c not in info.objectives]
    s1, s2 = (1 if o == "maximize" else -1 for o in (o1, o2))
    color, color_q = _color_param(info)
    color_sql = ("NULL" if color is None else
                 f"{quote(color)}::DOUBLE" if color_q else _value_sql(color, info.types[color]))
    order = order_by(info.ranking)
    x, y = f"{quote(c1)}::DOUBLE", f"{quote(c2)}::DOUBLE"
    picked = _rows(con, f"""
        WITH ranked AS (
            SELECT job_id, short_id, param_hashid, {x} AS x, {y} AS y, {color_sql} AS c,
                   row_number() OVER (ORDER BY {order}param_hashid NULLS LAST, job_id) AS rank
            FROM ({info.base})
        ),
        pts AS (
            SELECT *, {s1} * x AS a, {s2} * y AS b FROM ranked
            WHERE x IS NOT NULL AND y IS NOT NULL AND isfinite(x) AND isfinite(y)
        ),
        g AS (SELECT a, max(b) AS bmax FROM pts GROUP BY a),
        fg AS (
            SELECT a, bmax FROM (
                SELECT a, bmax, max(bmax) OVER (ORDER BY a DESC ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev
                FROM g)
            WHERE prev IS NULL OR bmax > prev
        ),
        marked AS (
            SELECT p.*, fg.a IS NOT NULL AS front,
                   row_number() OVER (PARTITION BY fg.a IS NOT NULL ORDER BY p.a, p.b, p.job_id) AS along,
                   count(*) OVER (PARTITION BY fg.a IS NOT NULL) AS n_part,
                   count(*) OVER () AS n_all
            FROM pts p LEFT JOIN fg ON p.a = fg.a AND p.b = fg.bmax
        ),
        keep AS (
            SELECT *, rank <= {limits.labels} AS best,
                   front AND (n_part <= {limits.front}
                              OR (along - 1) % CAST(ceil(n_part / {limits.front}) AS BIGINT) = 0
                              OR along = n_part) AS front_kept
            FROM marked
        ),
        chosen AS (
            SELECT * FROM keep WHERE best OR front_kept
        )
        SELECT job_id, short_id, param_hashid, x, y, c, rank, front, best, n_all FROM chosen
        UNION ALL
        SELECT * FROM (
            SELECT job_id, short_id, param_hashid, x, y, c, rank, front, best, n_all FROM keep
            WHERE NOT (best OR front_kept)
            ORDER BY hash(job_id), job_id
            LIMIT greatest({limits.scatter} - (SELECT count(*) FROM chosen), 0))
    """)
    n_all = picked[0]["n_all"] if picked else 0
    if len(picked) < n_all:
        notes.append(f"{_fmt_n(len(picked))} of {_fmt_n(n_all)} jobs shown: the Pareto front, the top "
                     f"{limits.labels} and a fixed sample of the rest")
    front_rows = sorted((r for r in picked if r["front"]), key=lambda r: (r["x"], r["y"]))
    n1, n2 = metric_name(c1, info.node), metric_name(c2, info.node)
    t1, t2 = f"{n1} ({o1})", f"{n2} ({o2})"
    cols = ["short_id", "param_hashid", "x", "y", "c", "rank"]
    data = _table(picked, cols)
    tooltip = [alt.Tooltip("param_hashid:N"), alt.Tooltip("short_id:N", title="job"),
               alt.Tooltip("rank:Q"), alt.Tooltip("x:Q", title=n1, format=".6g"),
               alt.Tooltip("y:Q", title=n2, format=".6g")]
    xenc = alt.X("x:Q", title=t1, scale=alt.Scale(zero=False))
    yenc = alt.Y("y:Q", title=t2, scale=alt.Scale(zero=False))
    point_enc: dict[str, Any] = {"x": xenc, "y": yenc, "tooltip": tooltip}
    if color is not None:
        order: Any = alt.Undefined
        if not color_q and _numeric(info.types[color]):  # a few numbers as categories: in numeric order
            order = sorted({r["c"] for r in picked}, key=lambda v: (v == "null", float(v) if v != "null" else 0))
        point_enc["color"] = alt.Color("c", type="quantitative" if color_q else "nominal", title=_short(color),
                                       sort=order, legend=alt.Legend(labelLimit=200))
        tooltip.append(alt.Tooltip("c", type="quantitative" if color_q else "nominal", title=_short(color)))
    layers = [alt.Chart(data).mark_point(size=40, filled=True, opacity=0.7).encode(**point_enc)]
    if len({(r["x"], r["y"]) for r in front_rows}) > 1:
        fdata = _table(front_rows, ["x", "y", "param_hashid"])
        layers.insert(0, alt.Chart(fdata).mark_line(color="#333", strokeDash=[4, 3], point=False).encode(
            x=xenc, y=yenc, order="x:Q"))
        notes.append(f"dashed: the Pareto front ({len(front_rows)} jobs)")
    elif front_rows:  # one point is no line: mark it instead of promising one
        fdata = _table(front_rows, ["x", "y", "param_hashid"])
        layers.insert(0, alt.Chart(fdata).mark_point(shape="diamond", size=420, color="#333", strokeWidth=1.5,
                                                     strokeDash=[3, 2]).encode(x=xenc, y=yenc))
        who = ", ".join(dict.fromkeys(r["param_hashid"] for r in front_rows))
        notes.append(f"the Pareto front is a single point (dashed diamond: {who}): it is at least as good as "
                     "every other job on both metrics")
    best = sorted((r for r in picked if r["best"]), key=lambda r: r["rank"])
    width, height = 520, 360
    if best:
        points = [(r["x"], r["y"]) for r in best]
        every = [(r["x"], r["y"]) for r in picked]
        crowded = labels_collide(points, every, (width, height))
        # Crowded: number the labels; points whose numbers would still overprint share one ("1, 2").
        groups = label_groups(points, every, (width, height), box=(24, 13)) if crowded else [[i] for i in
                                                                                             range(len(best))]
        labels = []
        for group in groups:
            first = best[group[0]]
            text = ", ".join(str(best[i]["rank"]) for i in group) if crowded else first["param_hashid"]
            labels.append({**first, "label": text})
        bdata = _table(best, cols)
        layers.append(alt.Chart(bdata).mark_point(size=160, color="black", strokeWidth=1.5).encode(
            x=xenc, y=yenc, tooltip=tooltip))
        layers.append(alt.Chart(_table(labels, cols + ["label"])).mark_text(
            align="left", dx=9, dy=-7, fontSize=10, fontWeight="bold" if crowded else "normal").encode(
            x=xenc, y=yenc, text="label:N"))
        if crowded:  # labels would overlap: number them, and name them in the subtitle
            notes.append(f"circled: the top {len(best)} by the leaderboard's ranking: "
                         + ", ".join(f"{r['rank']} = {r['param_hashid']}" for r in best))
        else:
            notes.append(f"circled and labelled: the top {len(best)} by the leaderboard's ranking")
    title = f"{info.node}: {n1} vs {n2}"
    chart = alt.layer(*layers).properties(width=width, height=height, title=_title(title, notes))
    return ChartItem(slug(f"{info.node}-vantage-{n1}-vs-{n2}"), title, info.node, "vantage", chart, tuple(notes))


def _vantage_pairs(info: _Node, points: list[dict[str, Any]]) -> tuple[list[tuple[str, str]], list[str]]:
    from .report_model import find_metric

    columns = [c for c in info.types if c.startswith("metrics.") and _numeric(info.types[c])]
    pairs, notes = [], []
    for vp in points:
        found = [find_metric(str(vp.get(k, "")), info.node, columns) for k in ("metric1", "metric2")]
        if None in found:
            notes.append(f"vantage point {vp.get('metric1')!r} vs {vp.get('metric2')!r}: "
                         f"{info.node} has no such numeric metric")
            continue
        pairs.append((found[0], found[1]))
    if not points and len(info.ranking) >= 2:
        pairs.append((info.ranking[0].column, info.ranking[1].column))
    return pairs, notes


def node_charts(con: Any, node: str, *, specs: list[dict[str, Any]] | None, vantage: list[dict[str, Any]],
                metrics: Sequence[str] = (), where: str | None = None,
                limits: Limits = LIMITS) -> tuple[list[ChartItem], list[str]]:
    """The charts of one node (metric vs each varied parameter, vantage points) and notes."""
    info = _prepare_node(con, node, specs, metrics, where)
    notes = [f"{node}: {n}" for n in info.notes]
    if not info.ranking:
        return [], notes + [f"{node}: no numeric metric to chart"]
    if info.n_rows == 0:
        return [], notes + [f"{node}: no done job with a usable result" + (" (after the filter)" if where else "")]
    charts = [metric_param_chart(con, info, metric, param, limits)
              for metric in info.ranking for param, _n in info.varied]
    if not info.varied:
        notes.append(f"{node}: no parameter varies, so there is no metric-vs-parameter chart")
    pairs, vp_notes = _vantage_pairs(info, vantage)
    notes += [f"{node}: {n}" for n in vp_notes]
    charts += [vantage_chart(con, info, c1, c2, limits) for c1, c2 in pairs]
    return charts, notes

# -- all of it -------------------------------------------------------------------------------------
def chart_nodes(con: Any, pipe: Any, nodes: Sequence[str], all_nodes: list[str]) -> list[str]:
    """``nodes`` (checked), or every node with metrics in pipeline order (as ``trackdag report`` picks)."""
    if nodes:
        for node in nodes:
            if node not in all_nodes:
                raise ReportError(f"--node {node!r}: no such node{did_you_mean(node, all_nodes)}"
                                  f" (nodes: {', '.join(all_nodes) or 'none yet'})")
        return list(dict.fromkeys(nodes))
    with_metrics = {r[0] for r in con.execute("SELECT DISTINCT node FROM metrics").fetchall()}
    rank = {n: i for i, n in enumerate(pipe.order if pipe is not None else [])}
    return sorted(with_metrics, key=lambda n: (rank.get(n, len(rank)), n))


def build_charts(catalog: "str | os.PathLike", *, nodes: Sequence[str] = (), metrics: Sequence[str] = (),
                 where: str | None = None, pipeline: Any = None, run_id: str | None = None,
                 limits: Limits = LIMITS, timeout: float | None = None) -> ChartSet:
    """Every chart of a catalog (or root folder): per node, then the run's timeline and durations."""
    from .api import open_catalog

    with open_catalog(catalog, timeout=timeout) as cat:
        return charts_for(cat, nodes=nodes, metrics=metrics, where=where, pipeline=pipeline, run_id=run_id,
                          limits=limits)


def charts_for(cat: Any, *, nodes: Sequence[str] = (), metrics: Sequence[str] = (), where: str | None = None,
               pipeline: Any = None, run_id: str | None = None, limits: Limits = LIMITS) -> ChartSet:
    """:func:`build_charts` on an open catalog (:class:`trackdag.api.OpenCatalog`)."""
    from .report_model import pipeline_of, parse_metric

    con = cat.connection
    pipe, ref, notes = pipeline_of(con, cat.path, pipeline)
    if metrics and all(parse_metric(m)[1] for m in metrics):
        notes = []  # every objective was given: the pipeline is not needed for them
    out = ChartSet(cat.path, ref, notes=list(notes))
    for node in chart_nodes(con, pipe, nodes, cat.nodes()):
        specs = vantage = None
        if pipe is not None and node in pipe.nodes:
            specs = pipe.nodes[node].metric_specs()
            vantage = pipe.nodes[node].vantage_points()
        charts, node_notes = node_charts(con, node, specs=specs, vantage=vantage or [], metrics=metrics,
                                         where=where, limits=limits)
        out.charts += charts
        out.notes += node_notes
    if run_id and not con.execute("SELECT 1 FROM runs WHERE run_id = ?", [run_id]).fetchall():
        raise ReportError(f"no run {run_id!r} in {cat.path}")
    run = run_id or latest_run(con)
    if run is not None:
        timeline = timeline_chart(con, run, limits)
        if timeline is not None:
            out.charts.append(timeline)
    durations = duration_chart(con, limits)
    if durations is not None:
        out.charts.append(durations)
    return out


def vl_version() -> str | None:
    """The Vega-Lite version vl-convert should use: Altair's (major.minor), when vl-convert has it."""
    import altair as alt
    import vl_convert as vlc

    major_minor = ".".join(alt.SCHEMA_VERSION.lstrip("v").split(".")[:2])
    return major_minor if major_minor in vlc.get_vegalite_versions() else None


def save_charts(charts: Sequence[ChartItem], out_dir: "str | os.PathLike", fmt: str = "png") -> list[str]:
    """Write each chart to ``out_dir/<name>.<fmt>`` (png, svg or a self-contained html); returns the paths.

    Conversion is vl-convert's, offline: no external URL may be loaded.
    """
    if fmt not in FORMATS:
        raise ReportError(f"--format {fmt!r}: choose one of {', '.join(FORMATS)}")
    import vl_convert as vlc

    from .paths import make_dir

    make_dir(out_dir, "--out")
    version = vl_version()
    paths = []
    seen: dict[str, int] = {}
    for item in charts:
        seen[item.name] = seen.get(item.name, 0) + 1
        name = item.name if seen[item.name] == 1 else f"{item.name}-{seen[item.name]}"
        path = os.path.join(os.fspath(out_dir), f"{name}.{fmt}")
        spec = item.to_dict()
        if fmt == "png":
            data: bytes | str = vlc.vegalite_to_png(spec, vl_version=version, scale=2, allowed_base_urls=[])
        elif fmt == "svg":
            data = vlc.vegalite_to_svg(spec, vl_version=version, allowed_base_urls=[])
        else:
            from .html_report import chart_page

            data = chart_page(item, spec)
        with open(path, "wb" if isinstance(data, bytes) else "w", **({} if isinstance(data, bytes)
                                                                     else {"encoding": "utf-8"})) as fh:
            fh.write(data)
        paths.append(path)
    return paths
