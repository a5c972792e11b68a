"""What every chart shares: its size limits, the chart types, and the pure layout helpers.

- :class:`Limits`: how much data a chart may hold (see :mod:`trackdag.charts`);
- :class:`ChartItem` / :class:`ChartSet`: one chart and where it goes on the
  page, and every chart of a catalog;
- pure geometry: packing attempts into lanes, the Pareto front, whether text
  labels would overprint, whether an axis wants a log scale, file-safe names;
- the small plumbing of a chart: query rows, an Arrow table for Altair, a
  title with notes as its subtitle (pyarrow and Altair imported only there).

Example:
    >>> pack_lanes([(0, 2), (1, 3), (2, 4), (5, 6)])
    ([0, 1, 0, 0], 0)
    >>> pareto_front([(1, 5), (2, 4), (2, 1), (0, 0)], ('maximize', 'maximize'))
    [(1, 5), (2, 4)]
"""
from __future__ import annotations

import heapq
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

NUMERIC_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
                 "UBIGINT", "FLOAT", "DOUBLE", "REAL")


@dataclass(frozen=True)
class Limits:
    """How much data a chart may hold; see the :mod:`trackdag.charts` docstring."""

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
