"""The HTML report's "Runs" section: every run, newest first, with what it executed.

One row per run (:func:`trackdag.run_scope.list_runs`): its id, start,
duration, state, backend, git commit, how many jobs it planned, executed
(attempted), found already done and saw fail, the jobs it executed per node,
where its parameters came from (the ``--params`` file, inline text, or a
Python call), with the parameters themselves folded under it, and its
provenance (:mod:`trackdag.provenance`): Python version, environment id,
whether the work tree was dirty.  The run the
page reports on is marked.  ``trackdag report --run RUN`` gives the report as
of any of them.  Every value is HTML-escaped; the section needs no script.

Example:
    >>> print(duration(61.5), duration(None), duration(3725))
    1m01.5s - 1h02m05s
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Sequence

from .html_page import e
from .html_report import cell
from .run_scope import params_source

#: parameters text shown per run (longer text is cut, saying so)
MAX_PARAMS_TEXT = 4000


def duration(seconds: float | None) -> str:
    """A run's duration for people: ``12.3s``, ``4m05.0s``, ``1h02m05s``; ``-`` when unknown (still running)."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    if seconds < 3600:
        return f"{int(seconds // 60)}m{seconds % 60:04.1f}s"
    return f"{int(seconds // 3600)}h{int(seconds % 3600 // 60):02d}m{int(seconds % 60):02d}s"


def _ts(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    return "" if value is None else str(value)


def _params_cell(run: dict[str, Any]) -> str:
    source = params_source(run.get("argv"))
    text = run.get("params_text") or ""
    if not text:
        return cell(source)
    cut = ""
    if len(text) > MAX_PARAMS_TEXT:
        text, cut = text[:MAX_PARAMS_TEXT], f"\n... ({len(run['params_text']) - MAX_PARAMS_TEXT} more characters)"
    return (f"<td><details><summary>{e(source)}</summary><pre>{e(text + cut)}</pre></details></td>")


COLUMNS = ("run", "started", "duration", "state", "backend", "git", "planned", "executed", "already done",
           "failed", "executed by node", "params source", "python", "env", "dirty")


def _dirty(run: dict[str, Any]) -> str:
    """``yes (diff <12 hex of its sha256>)``, ``no``, or empty when not recorded (not a git repository)."""
    if run.get("git_dirty") is None:
        return cell("")
    if not run["git_dirty"]:
        return cell("no")
    return cell(f"yes (diff {(run.get('git_diff_hash') or '')[:12]})", cls="bad")


def runs_section(runs: Sequence[dict[str, Any]], selected: str | None = None, total: int | None = None) -> str:
    """The ``Runs`` section: ``runs`` (newest first, :func:`~trackdag.run_scope.list_runs`), ``selected`` marked."""
    total = len(runs) if total is None else total
    parts = [f'<section id="runs"><h2>Runs ({total})</h2>']
    if not runs:
        parts.append('<p class="empty">The catalog has no run.</p></section>')
        return "\n".join(parts)
    shown = f"the latest {len(runs)} of {total}, newest first" if total > len(runs) else "newest first"
    parts.append(f"<p>Every <code>trackdag run</code> on this root, {e(shown)}; <code>trackdag report --run "
                 "RUN_ID</code> reports the leaderboard as of one of them (its jobs, each with its state and "
                 "result at the end of that run). <em>executed</em>: jobs the run attempted; <em>already "
                 "done</em>: jobs of its plan it found done.</p>")
    rows = []
    for run in runs:
        current = run["run_id"] == selected
        by_node = ", ".join(f"{node} {n}" for node, n in (run.get("executed_by_node") or {}).items())
        label = run["run_id"] + (" (this report)" if current else "")
        tds = [cell(label, cls="id"), cell(_ts(run.get("started"))), cell(duration(run.get("duration_s")), cls="num"),
               cell(run.get("status"), cls="bad" if run.get("status") == "failed" else None),
               cell(run.get("backend")), cell((run.get("git_sha") or "")[:12], cls="id"),
               cell(run.get("n_planned"), cls="num"), cell(run.get("n_executed"), cls="num"),
               cell(run.get("n_already_done"), cls="num"),
               cell(run.get("n_failed"), cls="num" + (" bad" if run.get("n_failed") else "")),
               cell(by_node or "-"), _params_cell(run), cell(run.get("python") or ""),
               cell(run.get("env_id") or "", cls="id"), _dirty(run)]
        attrs = f' class="current" data-run="{e(run["run_id"])}"' if current else f' data-run="{e(run["run_id"])}"'
        rows.append(f"<tr{attrs}>{''.join(tds)}</tr>")
    head = "".join(f"<th>{e(c)}</th>" for c in COLUMNS)
    parts.append(f'<table class="block runs"><caption>runs, newest first</caption><thead><tr>{head}</tr></thead>'
                 f"<tbody>{''.join(rows)}</tbody></table></section>")
    return "\n".join(parts)
