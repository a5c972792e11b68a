"""What a catalog offers to read: its views (with the question each answers) and tables, with their columns.

For ``trackdag schema`` and the exports (:mod:`trackdag.export`); the views
themselves are :mod:`trackdag.views`'.

Example:
    >>> Relation("jobs", "table", "", (("job_id", "VARCHAR"),)).kind
    'table'
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .views import DERIVED_COMMENTS, have_derived, kept_keys, main_tables, quote, static_views, wide_views


@dataclass(frozen=True)
class Relation:
    """A view or table of the catalog, for ``trackdag schema``."""

    name: str
    kind: str  # view or table
    comment: str
    columns: tuple[tuple[str, str], ...]


def describe(con: Any) -> list[Relation]:
    """Every view (with the question it answers) then every table, with column names and types."""
    db = con.execute("SELECT current_database()").fetchall()[0][0]
    kept = kept_keys(con) if have_derived(con, main_tables(con, db)) else None
    views = static_views() + wide_views(con, kept)
    out = []
    for view in views:
        cols = con.execute(f"DESCRIBE SELECT * FROM {quote(view.name)}").fetchall()
        out.append(Relation(view.name, "view", view.comment, tuple((c[0], c[1]) for c in cols)))
    tables = main_tables(con, db) | {r[0] for r in con.execute(
        "SELECT table_name FROM duckdb_tables() "
        "WHERE database_name = 'temp' AND table_name IN ('param_values', 'param_sets')"
    ).fetchall()}
    for name in sorted(tables):
        cols = con.execute(f"DESCRIBE SELECT * FROM {quote(name)}").fetchall()
        out.append(Relation(name, "table", DERIVED_COMMENTS.get(name, ""), tuple((c[0], c[1]) for c in cols)))
    return out


def result_nodes(con: Any) -> list[str]:
    """Nodes with a ``results_<node>`` view (every node that has jobs), sorted."""
    return [r[0] for r in con.execute("SELECT DISTINCT node FROM jobs ORDER BY node").fetchall()]
