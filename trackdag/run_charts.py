"""The run charts: the timeline of one run's attempts, and each node's job durations.

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

**Size limits** (:class:`~trackdag.chart_layout.Limits`):

- timeline: at most ``timeline`` bars: beyond that, consecutive done
  attempts of the same node in one lane merge into one bar when the gap
  between them is under a pixel's worth of time (then under ten), and as a
  last resort the failed and cancelled ones and every k-th other bar are kept;
- durations: one row per node and state (points only up to ``points`` jobs).

Example:
    >>> bars = [{"lane_no": 0, "node": "a", "status": "done", "start": s, "end": s + 1, "n": 1} for s in (0, 1.5)]
    >>> [(b["start"], b["end"], b["n"]) for b in _merge_bars(bars, tol=1)]
    [(0, 2.5, 2)]
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from .chart_layout import LIMITS, ChartItem, Limits, _fmt_n, _rows, _table, _title, pack_lanes, slug

#: states of an attempt and their colour on the duration chart
STATE_COLORS = {"done": "#4c78a8", "failed": "#e45756", "cancelled": "#9d9d9d"}
FAILED_RED = "#d62728"
#: node colours: tableau10 without its red, so failed crosses stand out
NODE_PALETTE = ["#4c78a8", "#f58518", "#54a24b", "#b279a2", "#72b7b2", "#eeca3b", "#ff9da6", "#9d755d",
                "#bab0ac", "#1f77b4", "#8c564b", "#17becf"]


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
