"""The self-contained HTML report: ``trackdag report --html FILE``.

One file that works offline, in any browser, with nothing else beside it:

- the text report's blocks (:func:`trackdag.report.build_report`, the same
  computation) as HTML tables: per node the leaderboard (``Top k / n``,
  sortable by clicking a header, with the varied parameters of each row),
  ``Varied Basis``, ``Constant Params`` and ``Varied Parameter LUT``;
- the charts of :mod:`trackdag.charts`, drawn by Vega through vega-embed;
- the run summary (the latest run, counts per node and state, as
  ``trackdag status`` computes them) and the failed jobs of that run with
  their stderr tail;
- the ``Runs`` section (:mod:`trackdag.html_runs`): every run, newest first,
  with what it executed.

With ``run=`` (``report --html FILE --run RUN``) the whole page is as of
that run (:mod:`trackdag.run_scope`): the leaderboard, blocks and charts of
the jobs it planned with their state and result at its end, its summary,
counts and failed jobs as of its end, and its timeline.

**Embedding.** Vega, Vega-Lite and vega-embed are inlined once, as the
bundle vl-convert ships (``vl_convert.javascript_bundle``, the one Altair's
``inline=True`` uses); each chart is a Vega-Lite spec (its data inlined),
all specs in one JSON block, rendered to SVG by ``vegaEmbed``.  There is no
``<script src>``, no stylesheet or font link, and a Content-Security-Policy
(``default-src 'none'``) makes the browser refuse any request the page
might still try.  Building the bundle costs vl-convert about 2 s, so it is
cached on disk (:func:`vega_bundle`).

**Escaping** (with the page's style and scripts, in :mod:`trackdag.html_page`).
Every name and value from the catalog (parameters, metrics,
nodes, paths, errors, stderr) goes through :func:`html.escape`; the JSON of
the specs is written with ``<``, ``>`` and ``&`` as ``\\u003c``-style
escapes, so no value can close the ``<script>`` block; Vega draws text as
SVG text nodes and its tooltips escape HTML.

Example:
    >>> cell("<script>alert(1)</script>")
    '<td>&lt;script&gt;alert(1)&lt;/script&gt;</td>'
    >>> script_json({"v": "</script>"})
    '{"v":"\\\\u003c/script\\\\u003e"}'
"""
from __future__ import annotations

import functools
import json
import math
import os
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Sequence

from .charts import LIMITS, ChartItem, ChartSet, Limits
from .html_page import e, page, script_json
from .report import NodeReport, Report, format_column, format_value

#: failed jobs listed with their stderr tail (the rest are counted)
MAX_FAILED = 50
#: runs listed in the Runs section (the newest; the section says how many there are)
MAX_RUNS = 100


@dataclass(frozen=True)
class HtmlReport:
    """A written report: where, how big, how many charts."""

    path: str
    size: int
    n_charts: int
    notes: tuple[str, ...] = ()


# -- pieces ------------------------------------------------------------------------------------------
def cell(text: Any, sort: Any = None, tag: str = "td", cls: str | None = None) -> str:
    """One table cell; ``sort`` becomes ``data-sort`` (the value the sorting script compares)."""
    attrs = (f' class="{e(cls)}"' if cls else "") + ("" if sort is None else f' data-sort="{e(sort)}"')
    return f"<{tag}{attrs}>{e(text)}</{tag}>"


def cache_dir() -> str:
    """Where the Vega bundle is cached: ``$TRACKDAG_CACHE_DIR``, else ``$XDG_CACHE_HOME/trackdag``
    (``~/.cache/trackdag``)."""
    return os.environ.get("TRACKDAG_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "trackdag")


@functools.lru_cache(maxsize=1)
def vega_bundle() -> str:
    """Vega + Vega-Lite + vega-embed as one script (vl-convert's bundle for Altair's Vega-Lite).

    vl-convert takes 1.5-3 s to bundle it, so it is kept in :func:`cache_dir`
    under a name with vl-convert's and Vega-Lite's versions (a new version is
    a new file); the cache is only an optimisation, so an unwritable or
    unreadable one is ignored.
    """
    import vl_convert as vlc

    from .charts import vl_version

    version = vl_version()
    key = f"vega-bundle-vlc{getattr(vlc, '__version__', 'x')}-vl{version or 'latest'}.js"
    path = os.path.join(cache_dir(), key)
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except OSError:
        pass
    text = vlc.javascript_bundle(vl_version=f"v{version}" if version else None)
    # It holds none today; if it ever did, the HTML parser would end the script there.  "<\/" means
    # "</" in JS strings, templates and regular expressions alike.
    text = re.sub(r"</(script)", r"<\\/\1", text, flags=re.I)
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.tmp{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)  # atomic: a reader sees the whole bundle or none
    except OSError:
        pass
    return text


def _sort_value(value: Any) -> Any:
    """What the sorting script compares: numbers as numbers, missing as empty (sorted last)."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(value, ensure_ascii=False, default=str) if not isinstance(value, str) else value


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def value_cell(value: Any, sort: Any = None) -> str:
    """A parameter value's cell: plain text (no Python quotes), numbers right-aligned."""
    return cell(format_value(value), sort, cls="num" if _is_number(value) else None)


def _column_cells(values: list[Any]) -> list[str]:
    """Metric cells formatted like the text report's table (pandas-like, shared precision)."""
    cells, numeric = format_column(values)
    return [c.strip() for c in cells] if numeric else [format_value(v) for v in values]


def _short(column: str) -> str:
    return column[len("params."):] if column.startswith("params.") else column


# -- the report's blocks --------------------------------------------------------------------------
def leaderboard(node: NodeReport, table_id: str) -> str:
    """``Top k / n`` as a sortable table: rank, param_hashid, metrics, (n_values, n_rows), varied params."""
    metric_cols = [m.name for m in node.display]
    extra = ["n_values", "n_rows"] if node.average_over else []
    params = list(node.varied_basis)
    head = ['<th data-type="number" aria-sort="ascending" data-first="ascending">rank</th>',
            '<th data-type="text" data-first="ascending">param_hashid</th>']
    for m in node.display:
        first = "descending" if m.objective == "maximize" else "ascending"
        numeric = all(_is_number(r["metrics"].get(m.name)) or r["metrics"].get(m.name) is None for r in node.rows)
        head.append(f'<th data-type="{"number" if numeric else "text"}" data-first="{first}" '
                    f'title="{e(m.objective)}">{e(m.name)}</th>')
    head += [f'<th data-type="number" data-first="descending">{k}</th>' for k in extra]
    for p in params:
        numeric = all(_is_number(r["params"].get(p)) or r["params"].get(p) is None for r in node.rows)
        head.append(f'<th data-type="{"number" if numeric else "text"}" data-first="ascending" '
                    f'title="{e(p)}">{e(_short(p))}</th>')
    metric_text = {name: _column_cells([r["metrics"].get(name) for r in node.rows]) for name in metric_cols}
    body = []
    for i, r in enumerate(node.rows):
        tds = [cell(r["rank"], r["rank"]), cell(r["param_hashid"], r["param_hashid"], cls="id")]
        tds += [cell(metric_text[name][i], _sort_value(r["metrics"].get(name)), cls="num") for name in metric_cols]
        tds += [cell(r[k], r[k], cls="num") for k in extra]
        tds += [value_cell(r["params"].get(p), _sort_value(r["params"].get(p))) for p in params]
        body.append("<tr>" + "".join(tds) + "</tr>")
    return (f'<table class="sortable leaderboard" id="{e(table_id)}" data-node="{e(node.node)}">'
            f"<caption>Top {len(node.rows)} / {node.n_rows} for {e(node.node)}</caption>"
            f"<thead><tr>{''.join(head)}</tr></thead><tbody>{''.join(body)}</tbody></table>")


def basis_table(node: NodeReport) -> str:
    """``Varied Basis``: each varied parameter, its values and how many reported rows have each."""
    if not node.varied_basis:
        return '<p class="empty">Varied Basis: {} (no parameter varies)</p>'
    rows = []
    for param, counts in node.varied_basis.items():
        for j, (value, n) in enumerate(counts):
            first = f'<th rowspan="{len(counts)}" scope="rowgroup">{e(param)}</th>' if j == 0 else ""
            rows.append(f"<tr>{first}{value_cell(value)}{cell(n, cls='num')}</tr>")
    return ('<table class="block"><caption>Varied Basis</caption>'
            "<thead><tr><th>parameter</th><th>value</th><th>count</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


def constant_table(node: NodeReport) -> str:
    """``Constant Params``: parameters with one value among the reported rows."""
    if not node.constant_params:
        return '<p class="empty">Constant Params: {}</p>'
    rows = "".join(f"<tr>{cell(k, tag='th')}{value_cell(v)}</tr>" for k, v in node.constant_params.items())
    return ('<table class="block"><caption>Constant Params</caption>'
            f"<thead><tr><th>parameter</th><th>value</th></tr></thead><tbody>{rows}</tbody></table>")


def lut_table(node: NodeReport) -> str:
    """``Varied Parameter LUT``: param_hashid -> its varied parameters."""
    if not node.varied_lut:
        return '<p class="empty">Varied Parameter LUT: {}</p>'
    params = list(node.varied_basis)
    head = "<th>param_hashid</th>" + "".join(f"<th>{e(p)}</th>" for p in params)
    rows = "".join(f"<tr>{cell(h, cls='id')}" + "".join(value_cell(v.get(p)) for p in params) + "</tr>"
                   for h, v in node.varied_lut.items())
    return ('<table class="block"><caption>Varied Parameter LUT</caption>'
            f"<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")


def node_section(node: NodeReport, index: int, charts: Sequence[tuple[int, ChartItem]]) -> str:
    """One node: how it is ranked, its notes, the four blocks and its charts."""
    ranking = ", ".join(f"{m.name} ({m.objective})" for m in node.ranking) or "nothing"
    parts = [f'<section class="node" id="node-{index}"><h2>{e(node.node)}</h2>',
             f"<p>ranked by: {e(ranking)}; best first (rank 1 is the best). "
             f"{node.n_rows} reported row{'s' * (node.n_rows != 1)} (done, usable result).</p>"]
    if node.where:
        parts.append(f'<p>filter: <code>{e(node.where)}</code></p>')
    if node.average_over:
        values = ", ".join(format_value(v) for v in node.average_values or [])
        parts.append(f"<p>averaged over <code>{e(node.average_over)}</code> ({len(node.average_values or [])} "
                     f"values: {e(values)}); n_values = how many of them each average covers</p>")
    parts += [f'<p class="note">Note: {e(n)}</p>' for n in node.notes]
    if not node.rows:
        parts.append(f'<p class="empty">No {e(node.node)} results to report'
                     + (" (after the filter)" if node.where else "") + "</p>")
    else:
        parts.append(leaderboard(node, f"leaderboard-{index}"))
        parts.append('<div class="blocks">' + basis_table(node) + constant_table(node) + lut_table(node) + "</div>")
    parts.append(charts_html(charts))
    parts.append("</section>")
    return "\n".join(parts)


def charts_html(charts: Sequence[tuple[int, ChartItem]]) -> str:
    """Placeholders the embedding script fills (spec ``i`` of the page's spec list)."""
    if not charts:
        return ""
    divs = "".join(f'<figure class="chart-box"><div class="td-chart" id="chart-{i}" data-spec="{i}" '
                   f'data-name="{e(item.name)}" aria-label="{e(item.title)}"></div></figure>' for i, item in charts)
    return f'<div class="charts">{divs}</div>'


# -- run summary and failures -----------------------------------------------------------------------
def _ts(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    return "" if value is None else str(value)


def run_section(status: Any, as_of: bool = False) -> str:
    """The reported run (``trackdag status``'s figures; with ``as_of``, its jobs' states at its end)."""
    if status is None or status.run is None:
        return '<section id="run"><h2>Run</h2><p class="empty">The catalog has no run.</p></section>'
    run = status.run
    took = ""
    if run.get("started") and run.get("ended"):
        took = f"{(run['ended'] - run['started']).total_seconds():.1f} s"
    facts = [("run", run.get("run_id")), ("state", run.get("status")), ("backend", run.get("backend")),
             ("workers", run.get("workers")), ("host", run.get("host")), ("user", run.get("user")),
             ("started", _ts(run.get("started"))), ("ended", _ts(run.get("ended"))), ("took", took),
             ("pipeline", run.get("pipeline_ref")), ("root", run.get("root")), ("git", run.get("git_sha")),
             ("trackdag", run.get("trackdag_version")),
             ("counts", ", ".join(f"{label} {run[k]}" for k, label in (
                 ("n_jobs", "jobs"), ("n_rows", "rows"), ("n_done", "done"), ("n_cached", "already done"),
                 ("n_failed", "failed"), ("n_skipped", "skipped")) if run.get(k) is not None))]
    dl = "".join(f"<div><dt>{e(k)}</dt><dd>{e(v)}</dd></div>" for k, v in facts if v not in (None, ""))
    states = [s for s in ("planned", "queued", "running", "done", "failed", "skipped", "cancelled")
              if any(s in c for c in status.counts.values())]
    head = "<th>node</th>" + "".join(f"<th>{s}</th>" for s in states) + "<th>total</th>"
    body = "".join(
        f"<tr>{cell(node, tag='th')}" + "".join(cell(c.get(s, 0), cls="num" + (" bad" if s == "failed" and c.get(s)
                                                                                else "")) for s in states)
        + f"{cell(sum(c.values()), cls='num')}</tr>" for node, c in status.counts.items())
    parts = ['<section id="run"><h2>Run summary</h2>', f'<dl class="facts">{dl}</dl>',
             f'<table class="block counts"><caption>jobs of this run, by node and state'
             f'{" as of its end" if as_of else ""}</caption>'
             f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"]
    if run.get("params_text"):
        parts.append(f"<details><summary>parameters of this run</summary><pre>{e(run['params_text'])}</pre></details>")
    parts.append("</section>")
    return "\n".join(parts)


def failed_section(status: Any, limit: int = MAX_FAILED) -> str:
    """Failed jobs of the latest run: error, exit code, log path and stderr tail."""
    failed = list(status.failed) if status is not None else []
    parts = [f'<section id="failed"><h2>Failed jobs ({len(failed)})</h2>']
    if not failed:
        parts.append('<p class="empty">No job of this run failed.</p>')
    for job in failed[:limit]:
        name = f"{job['node']}/{job['node']}_id_{job['short_id']}"
        tail = (job.get("stderr_tail") or "").rstrip()
        parts.append(
            '<article class="failure">'
            f"<h3>{e(name)}</h3><p>{e(job.get('error') or 'failed')}"
            + (f"; exit code {e(job['exit_code'])}" if job.get("exit_code") is not None
               and f"exit code {job['exit_code']}" not in (job.get("error") or "") else "")
            + (f"; attempt {e(job['attempt'])}" if job.get("attempt") else "")
            + f"</p><p>log: <code>{e(job.get('log'))}</code></p>"
            + (f"<pre class='stderr'>{e(tail)}</pre>" if tail else "<p class='empty'>(stderr was empty)</p>")
            + "</article>")
    if len(failed) > limit:
        parts.append(f"<p>... and {len(failed) - limit} more: <code>trackdag status</code> lists them all.</p>")
    parts.append("</section>")
    return "\n".join(parts)


def render_html(report: Report, charts: ChartSet, status: Any = None, runs: Sequence[dict[str, Any]] = (),
                *, total_runs: int | None = None, generated: datetime | None = None, bundle: str | None = None) -> str:
    """The page for a computed report, chart set, run summary and runs (see the module docstring).

    ``runs``: :func:`trackdag.run_scope.list_runs` rows; ``total_runs``: how many the catalog has.
    """
    from .html_runs import runs_section

    generated = generated or datetime.now(timezone.utc)
    items = list(charts.charts)
    specs = [item.to_dict() for item in items]
    numbered = list(enumerate(items))
    by_section: dict[str, list[tuple[int, ChartItem]]] = {}
    for i, item in numbered:
        by_section.setdefault(item.section, []).append((i, item))
    reported = [n.node for n in report.nodes]
    nav = ['<a href="#run">run</a>'] + [f'<a href="#node-{i}">{e(n)}</a>' for i, n in enumerate(reported)]
    nav += ['<a href="#timeline">timeline</a>', '<a href="#failed">failed jobs</a>', '<a href="#runs">runs</a>']
    notes = list(dict.fromkeys([*report.notes, *charts.notes]))
    head = ["<header><h1>trackdag report</h1>",
            f"<p>catalog <code>{e(report.catalog)}</code>"
            + (f"; pipeline <code>{e(report.pipeline)}</code>" if report.pipeline else "")
            + f"; generated {e(_ts(generated))}</p>",
            f"<nav>{''.join(nav)}</nav></header>"]
    if report.run:
        from .run_scope import run_counts_line

        head.append(f'<p class="scope">As of run <code>{e(report.run["run_id"])}</code>: the jobs it planned, '
                    "each with its state and result at the end of that run. "
                    f"{e(run_counts_line(report.run))}.</p>")
    head += [f'<p class="note">Note: {e(n)}</p>' for n in notes]
    selected = status.run.get("run_id") if status is not None and status.run else None
    body = head + [run_section(status, as_of=report.run is not None)]
    if not report.nodes:
        body.append('<p class="empty">Nothing to report: no job has recorded metrics yet.</p>')
    for i, node in enumerate(report.nodes):
        body.append(node_section(node, i, by_section.get(node.node, [])))
    extra = [(i, item) for i, item in numbered if item.section not in ("run", *reported)]
    if extra:
        body.append('<section id="other-charts"><h2>Other charts</h2>' + charts_html(extra) + "</section>")
    body.append('<section id="timeline"><h2>Timeline and durations</h2>'
                + (charts_html(by_section.get("run", [])) or '<p class="empty">No attempt recorded.</p>')
                + "</section>")
    body.append(failed_section(status))
    body.append(runs_section(list(runs), selected, total_runs))  # last: it grows with every run
    if bundle is None and specs:
        bundle = vega_bundle()
    return page(f"trackdag report: {os.path.basename(os.path.dirname(report.catalog)) or report.catalog}",
                "\n".join(body), specs, bundle or "")


def chart_page(item: ChartItem, spec: dict[str, Any] | None = None) -> str:
    """One chart as a self-contained page (``trackdag plot --format html``)."""
    body = (f"<h1>{e(item.title)}</h1>" + charts_html([(0, item)]))
    return page(item.title, body, [spec if spec is not None else item.to_dict()], vega_bundle())


# -- from a catalog ------------------------------------------------------------------------------------
def build_html_report(catalog: "str | os.PathLike", *, nodes: Sequence[str] = (), top_k: int = 10,
                      metrics: Sequence[str] = (), where: str | None = None, average_over: str | None = None,
                      pipeline: Any = None, run: str | None = None, limits: Limits = LIMITS,
                      timeout: float | None = None) -> tuple[str, int, list[str]]:
    """(page, number of charts, notes) for a catalog or root folder; options as ``trackdag report``'s.

    ``run``: the page as of that run (an id or a unique prefix; see :func:`trackdag.report.build_report`).
    """
    from .api import open_catalog
    from .charts import charts_for, latest_run
    from .report import build_report, pipeline_of
    from .run_scope import list_runs, scope_to_run, scoped_counts, scoped_failures
    from .status import status as run_status

    scoped = None
    report = build_report(catalog, nodes=nodes, top_k=top_k, metrics=metrics, where=where,
                          average_over=average_over, pipeline=pipeline, run=run, timeout=timeout)
    with open_catalog(catalog, timeout=timeout) as cat:
        con = cat.connection
        run_id = report.run["run_id"] if report.run else latest_run(con)
        if report.run:
            scope_to_run(con, run_id)
            scoped = (scoped_counts(con), scoped_failures(con))
            if pipeline is None:  # the charts' objectives from that run's pipeline too
                pipeline = pipeline_of(con, cat.path, None, run_id)[0]
        charts = charts_for(cat, nodes=[n.node for n in report.nodes], metrics=metrics, where=where,
                            pipeline=pipeline, run_id=run_id, limits=limits)
        runs = list_runs(con, MAX_RUNS)
        total_runs = con.execute("SELECT count(*) FROM runs").fetchone()[0]
    status = run_status(catalog=report.catalog, run_id=run_id) if run_id is not None else None
    if status is not None and scoped is not None:
        status.counts, status.failed = scoped
    if average_over:
        charts.notes.append(f"charts show single jobs; the leaderboard averages over {average_over}")
    return (render_html(report, charts, status, runs, total_runs=total_runs), len(charts.charts),
            charts.notes)


def write_html_report(path: "str | os.PathLike", catalog: "str | os.PathLike", **options: Any) -> HtmlReport:
    """Build the page (:func:`build_html_report`) and write it to ``path`` atomically."""
    from .paths import check_file, make_dir

    path = os.path.abspath(os.fspath(path))
    check_file(path, "--html")
    text, n_charts, notes = build_html_report(catalog, **options)
    make_dir(os.path.dirname(path), "--html")
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)
    return HtmlReport(path, os.path.getsize(path), n_charts, tuple(notes))
