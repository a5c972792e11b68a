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

For the latest run (or ``run_id``):

- **timeline**: one bar per attempt from its start to its end, coloured by
  node; failed attempts also get a red cross at their end so they stand out
  at any zoom, cancelled ones are faded.  **Lanes**: attempts are grouped by
  where they ran (host, plus the Ray node id when there is one) and packed
  greedily, earliest start first, into the lowest-numbered lane that is free
  at that moment, so each lane is one execution slot that never shows two
  overlapping bars, and the number of lanes is the run's peak concurrency on
  that host (the ``--workers`` slots).  This is the same for the local and
  the Ray backend; neither records a worker slot, and packing reconstructs
  one.  More than ``Limits.lanes`` concurrent attempts on one host (clock
  skew, or an imported catalog) share the last lane, and the chart says so.
- **durations**: each node's job durations (the last attempt of every job
  in the catalog), as a box (quartiles, median, min-max) per node and state.

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
- timeline: at most ``timeline`` bars: beyond that, consecutive done
  attempts of the same node in one lane merge into one bar when the gap
  between them is under a pixel's worth of time (then under ten), and as a
  last resort the failed and cancelled ones and every k-th other bar are kept;
- durations: one row per node and state (points only up to ``points`` jobs).

Example:
    >>> pack_lanes([(0, 2), (1, 3), (2, 4), (5, 6)])
    ([0, 1, 0, 0], 0)
    >>> pareto_front([(1, 5), (2, 4), (2, 1), (0, 0)], ('maximize', 'maximize'))
    [(1, 5), (2, 4)]
"""
from __future__ import annotations

import heapq
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterable, Sequence

from .errors import ReportError, did_you_mean
from .views import literal, quote, result_view_name

NUMERIC_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
                 "UBIGINT", "FLOAT", "DOUBLE", "REAL")
FORMATS = ("png", "svg", "html")
#: states of an attempt and their colour on the duration chart
STATE_COLORS = {"done": "#4c78a8", "failed": "#e45756", "cancelled": "#9d9d9d"}
FAILED_RED = "#d62728"
#: node colours: tableau10 without its red, so failed crosses stand out
NODE_PALETTE = ["#4c78a8", "#f58518", "#54a24b", "#b279a2", "#72b7b2", "#eeca3b", "#ff9da6", "#9d755d",
                "#bab0ac", "#1f77b4", "#8c564b", "#17becf"]
OK_ROWS = "status = 'done' AND result_status = 'ok'"


@dataclass(frozen=True)
class Limits:
    """How much data a chart may hold; see the module docstring."""

    points: int = 2000
    groups: int = 200
    bins: int = 100
    scatter: int = 3000
    front: int = 1000
    labels: int = 5
    timeline: int = 3000
    lanes: int = 32


LIMITS = Limits()


@dataclass(frozen=True)
class ChartItem:
    """One chart: a file-safe ``name``, where it belongs (a node or ``run``), and the Altair chart."""

    name: str
    title: str
    section: str
    kind: str
    chart: Any
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The Vega-Lite spec (data inlined; Altair's row limit applies)."""
        return self.chart.to_dict()


@dataclass
class ChartSet:
    """Every chart of a catalog, in page order, and what could not be drawn."""

    catalog: str
    pipeline: str | None
    charts: list[ChartItem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# -- pure helpers ------------------------------------------------------------------------------
def pack_lanes(intervals: Sequence[tuple[float, float]], max_lanes: int = LIMITS.lanes) -> tuple[list[int], int]:
    """Lane of each (start, end) so that no two in a lane overlap; (lanes, how many overflowed).

    Greedy: by start time, each interval takes the lowest-numbered lane free
    at its start (the minimum number of lanes).  Past ``max_lanes`` lanes an
    interval goes to the last lane, overlapping, and counts as overflow.

    >>> pack_lanes([(0, 1), (0, 1), (0, 1)], max_lanes=2)
    ([0, 1, 1], 1)
    """
    order = sorted(range(len(intervals)), key=lambda i: (intervals[i][0], intervals[i][1], i))
    lanes = [0] * len(intervals)
    busy: list[tuple[float, int]] = []   # (end, lane) of lanes in use
    free: list[int] = []                 # lanes free now (heap: lowest first)
    used = 0
    overflow = 0
    for i in order:
        start, end = intervals[i]
        while busy and busy[0][0] <= start:
            heapq.heappush(free, heapq.heappop(busy)[1])
        if free:
            lane = heapq.heappop(free)
        elif used < max_lanes:
            lane, used = used, used + 1
        else:
            lanes[i] = max_lanes - 1
            overflow += 1
            continue
        lanes[i] = lane
        heapq.heappush(busy, (max(end, start), lane))
    return lanes, overflow


def pareto_front(points: Iterable[tuple[float, float]], objectives: tuple[str, str]) -> list[tuple[float, float]]:
    """The points no other point beats on both objectives (each 'maximize' or 'minimize'), by the first.

    The same rule as the SQL the vantage chart uses; kept here to test it and document it.

    >>> pareto_front([(1, 1), (1, 1), (0, 2)], ('maximize', 'minimize'))
    [(1, 1), (1, 1)]
    """
    s1, s2 = (1 if o == "maximize" else -1 for o in objectives)
    pts = sorted(points, key=lambda p: (-s1 * p[0], -s2 * p[1]))
    front: list[tuple[float, float]] = []
    best_b = None
    i = 0
    while i < len(pts):
        a = s1 * pts[i][0]
        group = [p for p in pts[i:] if s1 * p[0] == a]
        bmax = max(s2 * p[1] for p in group)
        if best_b is None or bmax > best_b:
            front += [p for p in group if s2 * p[1] == bmax]
            best_b = bmax
        i += len(group)
    return sorted(front)


def _pixels(labelled: Sequence[tuple[float, float]], every: Sequence[tuple[float, float]],
            size: tuple[int, int]) -> list[tuple[float, float]]:
    xs, ys = [p[0] for p in every], [p[1] for p in every]
    sx = size[0] / ((max(xs) - min(xs)) or 1.0)
    sy = size[1] / ((max(ys) - min(ys)) or 1.0)
    return [(x * sx, y * sy) for x, y in labelled]


def label_groups(labelled: Sequence[tuple[float, float]], every: Sequence[tuple[float, float]],
                 size: tuple[int, int], box: tuple[int, int] = (84, 13)) -> list[list[int]]:
    """Indices of ``labelled`` points grouped so that one label per group overprints no other.

    A label is ``box`` pixels, right of and above its point; pixels are
    estimated from the range of ``every`` point over a plot of ``size``
    pixels.  Each point joins the first group whose label its own would
    overlap (points that coincide share one label), in order.

    >>> label_groups([(0, 0), (0, 0), (1, 1)], [(0, 0), (1, 1)], (500, 300))
    [[0, 1], [2]]
    """
    pts = _pixels(labelled, every, size)
    groups: list[list[int]] = []
    for i, a in enumerate(pts):
        for group in groups:
            b = pts[group[0]]
            if abs(a[0] - b[0]) < box[0] and abs(a[1] - b[1]) < box[1]:
                group.append(i)
                break
        else:
            groups.append([i])
    return groups


def labels_collide(labelled: Sequence[tuple[float, float]], every: Sequence[tuple[float, float]],
                   size: tuple[int, int], box: tuple[int, int] = (84, 13)) -> bool:
    """Whether text labels (``box`` pixels, right of and above each point) at ``labelled`` would overlap.

    >>> labels_collide([(0, 0), (1, 1)], [(0, 0), (1, 1)], (500, 300))
    False
    >>> labels_collide([(0, 0), (0.01, 0.01)], [(0, 0), (1, 1)], (500, 300))
    True
    """
    pts = _pixels(labelled, every, size)
    return any(abs(a[0] - b[0]) < box[0] and abs(a[1] - b[1]) < box[1]
               for i, a in enumerate(pts) for b in pts[i + 1:])


def log_spaced(values: Sequence[float]) -> bool:
    """Whether numeric parameter values are spaced by factors (0.001, 0.01, 0.1) rather than steps.

    All positive, spanning a factor of at least 20, and their gaps more even
    on a log scale than on a linear one (with two values: a factor of 100 or
    more).  Such an axis is drawn on a log scale.

    >>> log_spaced([0.001, 0.01, 0.1]), log_spaced([1, 2, 3, 4]), log_spaced([0, 1]), log_spaced([1e-4, 1e-2])
    (True, False, False, True)
    """
    import math
    import statistics

    xs = sorted({float(v) for v in values})
    if len(xs) < 2 or xs[0] <= 0 or xs[-1] / xs[0] < 20:
        return False
    if len(xs) == 2:
        return xs[-1] / xs[0] >= 100

    def spread(gaps: list[float]) -> float:
        mean = statistics.fmean(gaps)
        return statistics.pstdev(gaps) / mean if mean else math.inf

    logs = [math.log(x) for x in xs]
    return spread([b - a for a, b in zip(logs, logs[1:])]) < spread([b - a for a, b in zip(xs, xs[1:])])


def slug(text: str) -> str:
    """A file-name-safe form of ``text``.

    >>> slug('stage1_evaluate: accuracy vs params.stage1_predict.param1')
    'stage1_evaluate-accuracy-vs-params.stage1_predict.param1'
    """
    return re.sub(r"[^A-Za-z0-9_.]+", "-", text).strip("-.")[:120] or "chart"


def _short(column: str) -> str:
    """``params.node.key`` -> ``node.key`` (axis titles)."""
    return column[len("params."):] if column.startswith("params.") else column


def _numeric(sql_type: str) -> bool:
    return sql_type.upper() in NUMERIC_TYPES or sql_type.upper().startswith("DECIMAL")


def _rows(con: Any, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
    cur = con.execute(sql, list(params))
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]


def _table(rows: list[dict[str, Any]], columns: Sequence[str]) -> Any:
    import pyarrow as pa

    return pa.table({c: [r.get(c) for r in rows] for c in columns})


def _fmt_n(n: int) -> str:
    return f"{n:,}"


def _title(text: str, notes: Sequence[str]) -> Any:
    import altair as alt

    return alt.Title(text, subtitle=list(notes)) if notes else alt.Title(text)


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
    from .report import OBJECTIVES, find_metric

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
    from .report import choose_metrics

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

    from .report import metric_name, order_by

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
    from .report import find_metric

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


# -- the run -------------------------------------------------------------------------------------
def latest_run(con: Any) -> str | None:
    """The id of the latest run that executed jobs (else the latest run), if any.

    A rerun with nothing to do is recorded as a run, but the page describes
    the work: its timeline must not vanish behind a no-op.
    """
    found = con.execute("""
        SELECT run_id FROM runs r
        ORDER BY EXISTS (SELECT 1 FROM attempts a WHERE a.run_id = r.run_id) DESC, started DESC
        LIMIT 1""").fetchall()
    return found[0][0] if found else None


def _merge_bars(bars: list[dict[str, Any]], tol: float) -> list[dict[str, Any]]:
    """Join consecutive done attempts of one node in one lane when the gap is at most ``tol`` seconds."""
    out: list[dict[str, Any]] = []
    # By lane and node, so that an overflowing lane (overlapping attempts) merges too; in a real lane a
    # bar of another node between two merged ones is shorter than ``tol``: under a pixel.
    for bar in sorted(bars, key=lambda b: (b["lane_no"], b["node"], b["status"] != "done", b["start"], b["end"])):
        last = out[-1] if out else None
        if (last is not None and bar["status"] == "done" and last["status"] == "done"
                and last["lane_no"] == bar["lane_no"] and last["node"] == bar["node"]
                and bar["start"] - last["end"] <= tol):
            last["end"] = max(last["end"], bar["end"])
            last["n"] += bar["n"]
            last["job"] = f"{last['n']} attempts"
            last["duration"] = round(last["end"] - last["start"], 3)
            continue
        out.append(dict(bar))
    return out


def timeline_chart(con: Any, run_id: str, limits: Limits = LIMITS) -> ChartItem | None:
    """One bar per attempt of ``run_id``, one lane per execution slot (see the module docstring)."""
    import altair as alt

    attempts = _rows(con, """
        SELECT j.node, j.short_id, a.attempt, a.status, coalesce(a.host, '?') AS host, a.node_id,
               epoch_ms(a.started) / 1000.0 AS s, epoch_ms(coalesce(a.ended, a.started)) / 1000.0 AS e,
               a.exit_code, a.signal, a.error
        FROM attempts a JOIN jobs j ON j.job_id = a.job_id
        WHERE a.run_id = ? AND a.started IS NOT NULL
        ORDER BY a.started, a.job_id, a.attempt""", [run_id])
    if not attempts:
        return None
    t0 = min(a["s"] for a in attempts)
    span = max(max(a["e"] for a in attempts) - t0, 1e-3)
    groups: dict[str, list[int]] = {}
    for i, a in enumerate(attempts):
        where = a["host"] + (f" / ray {a['node_id'][:8]}" if a.get("node_id") else "")
        groups.setdefault(where, []).append(i)
    notes: list[str] = []
    bars: list[dict[str, Any]] = []
    lane_names: list[str] = []
    for where in sorted(groups):
        members = groups[where]
        lanes, overflow = pack_lanes([(attempts[i]["s"], attempts[i]["e"]) for i in members], limits.lanes)
        if overflow:
            notes.append(f"{_fmt_n(overflow)} attempts on {where} overlapped beyond {limits.lanes} lanes: "
                         "drawn in the last lane")
        first = len(lane_names)
        lane_names += [f"{where} · {k + 1}" for k in range(max(lanes) + 1)]
        for i, lane in zip(members, lanes):
            a = attempts[i]
            bars.append({"lane": lane_names[first + lane], "lane_no": first + lane, "node": a["node"],
                         "status": a["status"], "start": round(a["s"] - t0, 3), "end": round(a["e"] - t0, 3),
                         "duration": round(a["e"] - a["s"], 3), "job": f"{a['node']}_id_{a['short_id']}",
                         "attempt": a["attempt"], "n": 1,
                         "exit": "" if a["exit_code"] is None and a["signal"] is None else
                         (str(a["exit_code"]) if a["exit_code"] is not None else f"signal {a['signal']}"),
                         "error": a["error"] or ""})
    n_attempts = len(bars)
    for pixels in (1000, 100):
        if len(bars) <= limits.timeline:
            break
        bars = _merge_bars(bars, span / pixels)
    if len(bars) < n_attempts:
        notes.append(f"{_fmt_n(n_attempts)} attempts drawn as {_fmt_n(len(bars))} bars: back-to-back done "
                     "attempts of a node in one lane are merged")
    if len(bars) > limits.timeline:  # last resort: every attempt that did not succeed, and every k-th other bar
        others = sorted((b for b in bars if b["status"] != "done"), key=lambda b: (b["lane_no"], b["start"]))
        done = sorted((b for b in bars if b["status"] == "done"), key=lambda b: (b["lane_no"], b["start"]))
        room = max(limits.timeline - len(others), 0)
        step = -(-len(done) // room) if room else len(done) + 1
        keep = (others + done[::step])[:limits.timeline]
        notes.append(f"only {_fmt_n(len(keep))} of {_fmt_n(len(bars))} bars kept: the failed and cancelled ones, "
                     f"then every {step}th of the others")
        bars = keep
    started = datetime.fromtimestamp(t0, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    cols = ["lane", "node", "status", "start", "end", "duration", "job", "attempt", "n", "exit", "error"]
    data = _table(bars, cols)
    nodes = list(dict.fromkeys(b["node"] for b in sorted(bars, key=lambda b: b["start"])))  # by first start
    tooltip = [alt.Tooltip("job:N"), alt.Tooltip("node:N"), alt.Tooltip("attempt:Q"), alt.Tooltip("status:N"),
               alt.Tooltip("start:Q", title="start (s)", format=".3f"),
               alt.Tooltip("duration:Q", title="duration (s)", format=".3f"),
               alt.Tooltip("exit:N", title="exit"), alt.Tooltip("error:N"), alt.Tooltip("lane:N")]
    lane_order = [n for n in lane_names if any(b["lane"] == n for b in bars)]
    yenc = alt.Y("lane:N", sort=lane_order, title="host · slot", axis=alt.Axis(labelLimit=220))
    xenc = alt.X("start:Q", title=f"seconds since {started}")
    bar = alt.Chart(data).mark_bar(height={"band": 0.8}).encode(
        x=xenc, x2="end:Q", y=yenc,
        color=alt.Color("node:N", scale=alt.Scale(domain=nodes, range=NODE_PALETTE[:max(len(nodes), 1)]),
                        title="node"),
        opacity=alt.condition(alt.datum.status == "cancelled", alt.value(0.35), alt.value(0.9)),
        stroke=alt.condition(alt.datum.status == "failed", alt.value(FAILED_RED), alt.value(None)),
        strokeWidth=alt.condition(alt.datum.status == "failed", alt.value(2), alt.value(0)),
        tooltip=tooltip)
    layers = [bar]
    failed = [b for b in bars if b["status"] == "failed"]
    if failed:
        fdata = _table([{**b, "marker": "failed attempt"} for b in failed], cols + ["marker"])
        layers.append(alt.Chart(fdata).mark_point(shape="cross", size=110, filled=True, strokeWidth=0).encode(
            x="end:Q", y=yenc, tooltip=tooltip,
            fill=alt.Fill("marker:N", scale=alt.Scale(domain=["failed attempt"], range=[FAILED_RED]), title="")))
        notes.append(f"{len(failed)} failed attempt{'s' * (len(failed) != 1)} (red cross at the end)")
    height = min(max(18 * len(lane_order), 60), 600)
    title = f"run {run_id}: timeline"
    chart = alt.layer(*layers).properties(width=860, height=height, title=_title(title, notes))
    return ChartItem(slug(f"run-timeline-{run_id}"), title, "run", "timeline", chart, tuple(notes))


def duration_chart(con: Any, limits: Limits = LIMITS) -> ChartItem | None:
    """Each node's job durations (last attempt of every job), per state."""
    import altair as alt

    base = ("SELECT node, status, duration_s AS d, short_id FROM job_state "
            "WHERE duration_s IS NOT NULL AND status IN ('done', 'failed', 'cancelled')")
    summary = _rows(con, f"""
        SELECT node, status, count(*) AS n, min(d) AS lo, quantile_cont(d, 0.25) AS q1, median(d) AS median,
               quantile_cont(d, 0.75) AS q3, max(d) AS hi, avg(d) AS mean
        FROM ({base}) GROUP BY ALL ORDER BY node, status""")
    if not summary:
        return None
    total = sum(r["n"] for r in summary)
    notes: list[str] = ["last attempt of every job; box: quartiles, tick: median, rule: min-max"]
    states = [s for s in STATE_COLORS if any(r["status"] == s for r in summary)]
    color = alt.Color("status:N", scale=alt.Scale(domain=states, range=[STATE_COLORS[s] for s in states]),
                      title="state")
    yenc = alt.Y("node:N", title=None, axis=alt.Axis(labelLimit=220))
    yoff = alt.YOffset("status:N", sort=states)
    tooltip = [alt.Tooltip("node:N"), alt.Tooltip("status:N"), alt.Tooltip("n:Q", title="jobs"),
               alt.Tooltip("lo:Q", title="min (s)", format=".3f"), alt.Tooltip("q1:Q", format=".3f"),
               alt.Tooltip("median:Q", format=".3f"), alt.Tooltip("q3:Q", format=".3f"),
               alt.Tooltip("hi:Q", title="max (s)", format=".3f"), alt.Tooltip("mean:Q", format=".3f")]
    data = _table(summary, ["node", "status", "n", "lo", "q1", "median", "q3", "hi", "mean"])
    sbase = alt.Chart(data).encode(y=yenc, yOffset=yoff, color=color, tooltip=tooltip)
    layers = [
        sbase.mark_rule().encode(x=alt.X("lo:Q", title="duration (s)"), x2="hi:Q"),
        sbase.mark_bar(height={"band": 0.6}, opacity=0.6).encode(x="q1:Q", x2="q3:Q"),
        sbase.mark_tick(thickness=2).encode(x="median:Q", color=alt.value("black")),
    ]
    if total <= limits.points:
        pts = _rows(con, f"SELECT node, status, d, short_id FROM ({base}) ORDER BY node, status, short_id")
        layers.append(alt.Chart(_table(pts, ["node", "status", "d", "short_id"])).mark_point(
            size=14, color="#222", opacity=0.35).encode(
            x="d:Q", y=yenc, yOffset=yoff,
            tooltip=[alt.Tooltip("short_id:N", title="job"), alt.Tooltip("d:Q", title="seconds", format=".3f")]))
    else:
        notes.append(f"{_fmt_n(total)} jobs: summaries only")
    n_nodes = len({r["node"] for r in summary})
    chart = alt.layer(*layers).properties(width=520, height=max(40 * n_nodes * len(states), 60),
                                          title=_title("job duration by node", notes))
    return ChartItem("job-duration-by-node", "job duration by node", "run", "durations", chart, tuple(notes))


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
    from .report import pipeline_of, parse_metric

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
