"""The report as data, and what it ranks by: metrics, their objectives, the pipeline they come from.

:class:`NodeReport` and :class:`Report` are what :func:`trackdag.report.build_report`
returns (``to_dict`` is the ``--format json`` form); :class:`Metric` is one
metric column with its objective.  :func:`choose_metrics` picks a node's
ranking and displayed metrics from its ``default_metrics`` or ``--metric``
values; :func:`pipeline_of` finds the pipeline those objectives come from;
:func:`order_by` is a ranking as SQL.  The charts rank the same way.

Example:
    >>> parse_metric('hamming_distance:min')
    ('hamming_distance', 'minimize')
    >>> order_by([Metric('metrics.e.loss', 'loss', 'minimize', True)])
    '"metrics.e.loss" ASC NULLS LAST, '
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import Any, Sequence

from .errors import ReportError, TrackdagError, did_you_mean
from .views import quote

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


def order_by(ranking: list[Metric]) -> str:
    return "".join(f"{quote(m.column)} {'DESC' if m.objective == 'maximize' else 'ASC'} NULLS LAST, "
                   for m in ranking)
