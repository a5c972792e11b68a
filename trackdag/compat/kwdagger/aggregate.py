"""``kwdagger aggregate`` on trackdag: KWDagger's options mapped to ``trackdag report`` (and export, charts).

=================================  ==============================================================
KWDagger option                    here
=================================  ==============================================================
``target`` / ``--target``          the roots (or catalog files) to report on, one after the other;
                                   a KWDagger result tree needs ``trackdag import`` first
``--pipeline`` (default ``auto``)  ``--pipeline``; ``auto`` is the pipeline the runs recorded
``--eval_nodes``                   ``--node`` (a YAML list, or one name)
``--stdout_report``                print the report (``0`` for none); of its keys, ``top_k``
                                   (default 100, KWDagger's) is ``--top-k``
``--primary_metric_cols``          ``--metric`` for each column (``metrics.<node>.<name>``)
``--export_tables``                ``trackdag export --format csv`` into ``--output_dpath``
``--plot_params`` (enabled)        ``trackdag report --html <output_dpath>/report.html``
other options                      accepted; named once as having no meaning here
=================================  ==============================================================

Example:
    >>> node_list('[a, b]'), node_list('a'), node_list(None)
    (['a', 'b'], ['a'], [])
"""
from __future__ import annotations

import os
from typing import Any

from ...errors import NoCatalogError, TrackdagError
from .entry import KwdaggerCommand


def _yaml(value: Any) -> Any:
    if isinstance(value, str):
        from ... import yaml12

        try:
            return yaml12.load(value)
        except Exception:
            return value
    return value


def node_list(value: Any) -> list[str]:
    """``--eval_nodes``: a YAML list, one name, or nothing."""
    value = _yaml(value)
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    raise TrackdagError(f"--eval_nodes {value!r}: give a list of node names, e.g. '[evaluate]'")


def report_options(stdout_report: Any) -> tuple[bool, dict[str, Any]]:
    """(print the report?, its options) from ``--stdout_report`` (a yes/no or a YAML mapping)."""
    from .schedule import truthy

    value = _yaml(stdout_report)
    if isinstance(value, dict):
        return True, value
    return truthy(value, default=True), {}


def _metric(column: str) -> str:
    parts = str(column).split(".")
    return parts[-1] if parts[0] == "metrics" and len(parts) >= 3 else str(column)


def aggregate(*, targets: list[str], pipeline: Any = "auto", eval_nodes: Any = None, stdout_report: Any = True,
              output_dpath: str = "./aggregate", export_tables: Any = False, plot_params: Any = False,
              primary_metric_cols: Any = None) -> str:
    """The text KWDagger's aggregate would print, as trackdag's report (and its side outputs)."""
    from ...api import catalog_path
    from ...report import build_report
    from ...report_text import format_text
    from .schedule import truthy

    if not targets:
        raise TrackdagError("aggregate: give a target (the root a schedule wrote)")
    show, options = report_options(stdout_report)
    top_k = int(options.get("top_k", 100))
    metrics = [_metric(c) for c in node_list(primary_metric_cols)]
    nodes = node_list(eval_nodes)
    ref = None if pipeline in (None, "auto") else pipeline
    plots = _yaml(plot_params)
    out: list[str] = []
    for target in targets:
        path = catalog_path(target)
        if not os.path.isfile(path) and os.path.isdir(target):
            raise NoCatalogError(f"{target} has no trackdag catalog: for a tree KWDagger wrote, run "
                                 f"`trackdag import {target} --pipeline REF` first")
        if not os.path.exists(target):
            raise NoCatalogError(f"target {target} does not exist: nothing was scheduled there yet "
                                 "(`trackdag schedule --root_dpath=... --run=1` writes it)")
        if show:
            report = build_report(path, nodes=nodes, top_k=top_k, metrics=metrics, pipeline=ref)
            out.append(format_text(report))
        if truthy(export_tables):
            from ...export import export_catalog

            export_catalog(path, output_dpath, fmt="csv")
            out.append(f"tables written to {output_dpath}")
        if (isinstance(plots, dict) and truthy(plots.get("enabled", True))) or (
                not isinstance(plots, dict) and truthy(plots)):
            from ...html_report import write_html_report

            written = write_html_report(os.path.join(output_dpath, "report.html"), path, nodes=nodes, top_k=top_k,
                                        metrics=metrics, pipeline=ref)
            out.append(f"report written to {written.path}")
    return "\n\n".join(out)


#: KWDagger's ``kwdagger.aggregate.__cli__``: ``__cli__.main(argv=False, **options)`` (see :mod:`.entry`)
__cli__ = KwdaggerCommand("aggregate")

__all__ = ["__cli__", "aggregate", "node_list", "report_options"]
