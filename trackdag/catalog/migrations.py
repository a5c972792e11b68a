"""Named, recorded schema migrations.

Each migration has a number and a name and is recorded in ``schema_version``
when applied, inside the same transaction as its DDL.  A catalog written by a
newer trackdag (a higher version than we know) is refused rather than
guessed at.

Example:
    >>> [name for _, name in MIGRATIONS][:1]
    ['0001_initial']
"""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from ..errors import CatalogError


#: the DDL of the SQLModel classes in :mod:`trackdag.catalog.models`, compiled once and kept here:
#: importing sqlmodel and sqlalchemy to compile it costs ~0.7 s on every new catalog.  A test holds it
#: equal to :func:`table_ddl`; regenerate it with :func:`write_tables_sql`.
TABLES_SQL = Path(__file__).resolve().parent.parent / "sql" / "tables.sql"


def table_ddl() -> str:
    """``CREATE TABLE IF NOT EXISTS`` of every model, compiled by SQLAlchemy for DuckDB (the source of truth)."""
    import duckdb_engine
    from sqlalchemy.schema import CreateTable

    from .models import TABLES

    dialect = duckdb_engine.Dialect()
    return "".join(str(CreateTable(model.__table__, if_not_exists=True).compile(dialect=dialect)).strip() + ";\n\n"
                   for model in TABLES)


def _create_tables(con: Any) -> None:
    con.execute(TABLES_SQL.read_text(encoding="utf-8"))


def _results(con: Any) -> None:
    # 0001 creates every table as the models define them today, so later
    # steps must be no-ops on a fresh catalog: IF NOT EXISTS everywhere.
    _create_tables(con)
    con.execute("ALTER TABLE jobs ADD COLUMN IF NOT EXISTS result_status VARCHAR")
    con.execute("ALTER TABLE jobs ADD COLUMN IF NOT EXISTS result_error VARCHAR")


def _attempt_node(con: Any) -> None:
    con.execute("ALTER TABLE attempts ADD COLUMN IF NOT EXISTS node_id VARCHAR")


def _result_order(con: Any) -> None:
    con.execute("ALTER TABLE results ADD COLUMN IF NOT EXISTS ord INTEGER")


def _provenance(con: Any) -> None:
    _create_tables(con)  # the environments table (IF NOT EXISTS: the others stay as they are)
    for column, kind in (("env_id", "VARCHAR"), ("python", "VARCHAR"), ("git_dirty", "BOOLEAN"),
                         ("git_diff_hash", "VARCHAR")):
        con.execute(f"ALTER TABLE runs ADD COLUMN IF NOT EXISTS {column} {kind}")


#: (version, name) in order; the DDL of each lives in _STEPS.  Migration 1
#: creates the current schema; each later one brings an older catalog up to
#: it and is a no-op on a fresh one.
MIGRATIONS: list[tuple[int, str]] = [(1, "0001_initial"), (2, "0002_results"), (3, "0003_attempt_node"),
                                     (4, "0004_result_order"), (5, "0005_provenance")]
_STEPS: dict[int, Callable[[Any], None]] = {1: _create_tables, 2: _results, 3: _attempt_node, 4: _result_order,
                                            5: _provenance}
LATEST = MIGRATIONS[-1][0]


def current_version(con: Any) -> int:
    """The highest applied migration (0 for an empty database)."""
    has = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_version'"
    ).fetchone()[0]
    if not has:
        return 0
    return con.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()[0]


def migrate(con: Any, *, path: str = "catalog") -> list[str]:
    """Apply every missing migration; returns the names applied."""
    version = current_version(con)
    if version > LATEST:
        raise CatalogError(
            f"{path} has schema version {version}, newer than this trackdag knows ({LATEST}); upgrade trackdag"
        )
    applied = []
    for number, name in MIGRATIONS:
        if number <= version:
            continue
        con.execute("BEGIN")
        try:
            _STEPS[number](con)
            con.execute(
                "INSERT INTO schema_version VALUES (?, ?, ?)", [number, name, datetime.now(timezone.utc)]
            )
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
        applied.append(name)
    return applied


def write_tables_sql() -> None:
    """Regenerate ``sql/tables.sql`` after changing a model in :mod:`trackdag.catalog.models`."""
    TABLES_SQL.write_text("-- Generated from trackdag/catalog/models.py by trackdag.catalog.migrations.write_tables_sql();"
                          " do not edit.\n\n" + table_ddl(), encoding="utf-8")
