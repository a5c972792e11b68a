"""The Python API over a catalog: ``trackdag.open_catalog(root)``, and read-only queries.

:func:`open_catalog` opens ``<root>/catalog.duckdb`` (or a catalog file)
read-only and makes every view answer from fresh data (see
:mod:`trackdag.views`).  ``sql(q)`` returns a DuckDB relation, so
``.to_arrow_table()``, ``.arrow()`` (a RecordBatchReader), ``.pl()`` (with
Polars) and ``.df()`` (with pandas) all work; ``jobs()`` and
``results(node)`` are shortcuts for the ``job_state`` and
``results_<node>`` views.

The object holds DuckDB's file lock while it is open, and a read-only lock
blocks the writer: a running ``trackdag run`` waits (up to
``TRACKDAG_LOCK_TIMEOUT``, 30 s) to record outcomes.  Use it as a context
manager, or ``close()`` it, rather than keeping it open in a notebook while
a sweep runs.

Example:
    >>> import tempfile, os
    >>> from trackdag.catalog import Catalog
    >>> path = os.path.join(tempfile.mkdtemp(), 'catalog.duckdb')
    >>> Catalog(path).refresh_views()[:2]
    ['job_state', 'params_long']
    >>> with open_catalog(path) as cat:
    ...     cat.sql('SELECT count(*) AS n FROM jobs').fetchall()
    [(0,)]
"""
from __future__ import annotations

import os
from typing import Any

from .errors import CatalogError, NoCatalogError, QueryError, TrackdagError, did_you_mean

CATALOG_NAME = "catalog.duckdb"
#: statement types `trackdag sql` runs; everything else would (or could) write
READ_ONLY_TYPES = frozenset({"SELECT", "EXPLAIN", "PRAGMA", "CALL", "MULTI"})


def catalog_path(root: "str | os.PathLike | None" = None, catalog: "str | os.PathLike | None" = None) -> str:
    """The catalog file of a root folder (``<root>/catalog.duckdb``), or ``catalog`` when given.

    A path that is a directory means its ``catalog.duckdb``.

    >>> catalog_path('out')
    'out/catalog.duckdb'
    >>> catalog_path('out', 'elsewhere/c.duckdb')
    'elsewhere/c.duckdb'
    """
    if catalog is not None:
        return os.fspath(catalog)
    path = os.fspath(root if root is not None else "trackdag_output")
    if os.path.isdir(path) or not path.endswith(".duckdb"):
        return os.path.join(path, CATALOG_NAME)
    return path


def one_line(exc: BaseException) -> str:
    """DuckDB's message on one line (its caret lines dropped).

    >>> one_line(ValueError('Catalog Error: Table x does not exist!\\n\\nLINE 1: select * from x\\n     ^'))
    'Catalog Error: Table x does not exist! LINE 1: select * from x'
    """
    lines = [line.strip() for line in str(exc).splitlines()]
    return " ".join(line for line in lines if line and set(line) != {"^"})


class OpenCatalog:
    """A catalog opened for queries; see the module docstring."""

    def __init__(self, path: "str | os.PathLike", *, read_only: bool = True, timeout: float | None = None) -> None:
        from .catalog.connection import connect
        from .catalog.migrations import LATEST, current_version, migrate
        from .views import prepare

        self.path = os.path.abspath(catalog_path(path))
        self.read_only = read_only
        if read_only and not os.path.isfile(self.path):
            raise NoCatalogError(f"no catalog at {self.path}: run `trackdag run` first, or pass the root folder "
                               "or the catalog file")
        #: the DuckDB connection (for anything the shortcuts do not cover)
        self.connection = connect(self.path, read_only=read_only, timeout=timeout)
        try:
            if read_only:
                version = current_version(self.connection)
                if version == 0:
                    raise CatalogError(f"{self.path} is not a trackdag catalog (no schema_version table)")
                if version > LATEST:
                    raise CatalogError(f"{self.path} has schema version {version}, newer than this trackdag "
                                       f"knows ({LATEST}); upgrade trackdag")
            else:
                migrate(self.connection, path=self.path)
            prepare(self.connection, read_only=read_only)
        except BaseException:
            self.connection.close()
            raise

    # -- queries ------------------------------------------------------------------------
    def sql(self, query: str, params: Any = None) -> Any:
        """A DuckDB relation for ``query`` (None for statements that return nothing)."""
        return self.connection.sql(query, params=params)

    def jobs(self) -> Any:
        """Every job with its state, timings and param_hashid (the ``job_state`` view)."""
        return self.connection.sql("SELECT * FROM job_state ORDER BY node, short_id")

    def nodes(self) -> list[str]:
        """Nodes that have jobs in the catalog (each has a ``results_<node>`` view)."""
        from .views import result_nodes

        return result_nodes(self.connection)

    def results(self, node: str) -> Any:
        """One row per job of ``node``: param_hashid, params, metrics, state (``results_<node>``)."""
        from .views import quote, result_view_name

        nodes = self.nodes()
        if node not in nodes:
            raise TrackdagError(f"no jobs of node {node!r} in {self.path}{did_you_mean(node, nodes)}"
                                f" (nodes: {', '.join(nodes) or 'none yet'})")
        return self.connection.sql(f"SELECT * FROM {quote(result_view_name(node))}")

    def refresh(self) -> None:
        """Pick up what a run recorded since this catalog was opened (new jobs, new keys)."""
        from .views import prepare

        prepare(self.connection, read_only=self.read_only)

    # -- lifetime -------------------------------------------------------------------------
    def close(self) -> None:
        """Release the connection (and the file lock)."""
        self.connection.close()

    def __enter__(self) -> "OpenCatalog":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<OpenCatalog {self.path}{' (read-only)' if self.read_only else ''}>"


def open_catalog(root_or_catalog: "str | os.PathLike" = "trackdag_output", *, read_only: bool = True,
                 timeout: float | None = None) -> OpenCatalog:
    """Open a run root's catalog (or a catalog file) for queries; read-only by default."""
    return OpenCatalog(root_or_catalog, read_only=read_only, timeout=timeout)


def check_read_only(con: Any, query: str) -> None:
    """Refuse a query that holds a statement that could write, with a one-line reason."""
    import duckdb

    try:
        statements = con.extract_statements(query)
    except duckdb.Error as exc:
        raise QueryError(one_line(exc)) from None
    if not statements:
        raise QueryError("empty query: give a SELECT statement")
    for statement in statements:
        kind = str(statement.type).rsplit(".", 1)[-1]
        if kind not in READ_ONLY_TYPES:
            raise QueryError(f"trackdag sql is read-only: refusing a {kind} statement "
                             "(only `trackdag run` writes the catalog; use SELECT)")


def query(path: "str | os.PathLike", sql: str, *, timeout: float | None = None) -> Any:
    """Run a read-only query on a catalog; returns a pyarrow Table (empty when nothing is returned)."""
    import duckdb
    import pyarrow as pa

    with open_catalog(path, timeout=timeout) as cat:
        check_read_only(cat.connection, sql)
        try:
            relation = cat.connection.sql(sql)
            return relation.to_arrow_table() if relation is not None else pa.table({})
        except duckdb.Error as exc:
            raise QueryError(one_line(exc)) from None


def describe_catalog(path: "str | os.PathLike", *, timeout: float | None = None) -> list[Any]:
    """Every view (with the question it answers) and table of a catalog, with columns (``trackdag schema``)."""
    from .views import describe

    with open_catalog(path, timeout=timeout) as cat:
        return describe(cat.connection)
