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

**Read-only means read-only.**  A read-only catalog (the default, and what
``trackdag sql``, ``report``, ``export`` and the charts open) can change
neither the catalog nor any other file, and the guarantee comes from
DuckDB's own settings, not from a list of statements: the file is opened
with DuckDB's ``read_only`` (every INSERT, UPDATE, DELETE, CREATE of a
stored object, CHECKPOINT ... leaves the file as it was), and then, before
any query runs, ``enable_external_access = false`` (no COPY TO or FROM, no
EXPORT, no ATTACH of a file, no INSTALL or LOAD of an extension, no
``read_csv``/``read_parquet``/``glob`` of a file, no network),
``temp_directory = ''`` (nothing spilled to ``<catalog>.tmp/``: a query that
needs more memory than DuckDB's limit fails instead) and
``lock_configuration = true`` (no SET, RESET or PRAGMA can undo any of this,
nor turn on logging or profiling to a file).  See
:func:`trackdag.catalog.connection.seal`.  What still works on such a
connection: every SELECT over the views and tables, TEMP tables, views and
macros of the connection (in memory), and Arrow tables handed over with
``cat.connection.register(name, table)``; a DataFrame in scope is not
scanned by its Python name (that is external access too): register it.  To
write a result, take ``.to_arrow_table()`` (or ``.pl()``, ``.df()``) and write
it from Python.  ``trackdag sql`` (:func:`query`) also refuses, before
DuckDB sees them, statements other than SELECT, EXPLAIN, PRAGMA and CALL,
for a friendlier message (:func:`check_read_only`).

**Reading other files** (joining a CSV) is off by default.  ``read_files``
(a folder or a list of folders, on :func:`open_catalog` and :func:`query`)
lets queries read the files under those folders, through DuckDB's
``allowed_directories``.  DuckDB lets a statement *write* into such a
folder as well (COPY TO, ATTACH ... READ_WRITE, EXPLAIN ANALYZE COPY), so with
``read_files`` :meth:`OpenCatalog.sql` and :func:`query` run SELECT
statements only (one query may hold several); the raw ``cat.connection`` is
then yours to keep read-only.  ``allow_writes_to`` (one folder, on
:func:`open_catalog` only) opens a folder to COPY ... TO on
``cat.connection``: it is what ``trackdag export`` uses; the rest of the
file system stays closed.

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
from typing import Any, Iterable

from .errors import CatalogError, NoCatalogError, QueryError, TrackdagError, did_you_mean

CATALOG_NAME = "catalog.duckdb"
#: statement types `trackdag sql` runs; everything else would (or could) write.  A first, friendlier
#: check only: what guarantees that nothing is written is DuckDB's settings (see the module docstring).
READ_ONLY_TYPES = frozenset({"SELECT", "EXPLAIN", "PRAGMA", "CALL", "MULTI"})
#: with ``read_files``, DuckDB could write into those folders (COPY, EXPLAIN ANALYZE COPY, ATTACH): SELECT only
SELECT_TYPES = frozenset({"SELECT"})


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


def _folders(folders: "str | os.PathLike | Iterable[str | os.PathLike] | None", what: str) -> tuple[str, ...]:
    """``read_files``: absolute paths of existing folders (one folder, or several)."""
    if folders is None:
        return ()
    if isinstance(folders, (str, os.PathLike)):
        folders = [folders]
    out = []
    for folder in folders:
        path = os.path.abspath(os.fspath(folder))
        if not os.path.isdir(path):
            raise TrackdagError(f"{what}: {path} is not a folder (give the folder that holds the files)")
        out.append(path)
    return tuple(dict.fromkeys(out))


class OpenCatalog:
    """A catalog opened for queries; see the module docstring."""

    def __init__(self, path: "str | os.PathLike", *, read_only: bool = True, timeout: float | None = None,
                 read_files: "str | os.PathLike | Iterable[str | os.PathLike] | None" = None,
                 allow_writes_to: "str | os.PathLike | None" = None) -> None:
        from .catalog.connection import connect, translated

        self.path = os.path.abspath(catalog_path(path))
        self.read_only = read_only
        #: folders whose files queries may read (see the module docstring)
        self.read_files = _folders(read_files, "read_files")
        #: the folder COPY ... TO may write into (``trackdag export``), or None
        self.allow_writes_to = os.path.abspath(os.fspath(allow_writes_to)) if allow_writes_to is not None else None
        if not read_only and (self.read_files or self.allow_writes_to):
            raise TrackdagError("read_files and allow_writes_to are for a read-only catalog "
                                "(a read-write one is not sandboxed)")
        if read_only and not os.path.isfile(self.path):
            raise NoCatalogError(f"no catalog at {self.path}: run `trackdag run` first, or pass the root folder "
                               "or the catalog file")
        opened = self.read_files + ((self.allow_writes_to,) if self.allow_writes_to else ())
        #: the DuckDB connection (for anything the shortcuts do not cover); sealed when read-only
        self.connection = connect(self.path, read_only=read_only, timeout=timeout, sandbox=read_only,
                                  allowed_directories=opened)
        try:
            with translated(self.path):
                self._prepare(read_only)
        except BaseException:
            self.connection.close()
            raise

    def _prepare(self, read_only: bool) -> None:
        """Check the schema version (reader) or migrate (writer), then make the views answer."""
        from .catalog.migrations import LATEST, current_version, migrate
        from .views import prepare

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

    # -- queries ------------------------------------------------------------------------
    def sql(self, query: str, params: Any = None) -> Any:
        """A DuckDB relation for ``query`` (None for statements that return nothing).

        On a read-only catalog DuckDB refuses whatever would write (a
        ``duckdb.Error``); with ``read_files`` or ``allow_writes_to`` only SELECT
        statements are run (a QueryError otherwise).
        """
        if self.read_only and (self.read_files or self.allow_writes_to):
            check_read_only(self.connection, query, select_only=True)
        return self.connection.sql(query, params=params)

    def jobs(self) -> Any:
        """Every job with its state, timings and param_hashid (the ``job_state`` view)."""
        return self.connection.sql("SELECT * FROM job_state ORDER BY node, short_id")

    def nodes(self) -> list[str]:
        """Nodes that have jobs in the catalog (each has a ``results_<node>`` view)."""
        from .relations import result_nodes

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
                 timeout: float | None = None,
                 read_files: "str | os.PathLike | Iterable[str | os.PathLike] | None" = None,
                 allow_writes_to: "str | os.PathLike | None" = None) -> OpenCatalog:
    """Open a run root's catalog (or a catalog file) for queries; read-only (and sealed) by default.

    ``read_files``: folders whose files queries may read (SELECT only, then);
    ``allow_writes_to``: the one folder COPY ... TO on ``.connection`` may write
    into.  See the module docstring.
    """
    return OpenCatalog(root_or_catalog, read_only=read_only, timeout=timeout, read_files=read_files,
                       allow_writes_to=allow_writes_to)


def check_read_only(con: Any, query: str, *, select_only: bool = False) -> None:
    """Refuse a query that holds a statement that could write, with a one-line reason.

    ``select_only``: refuse every statement but SELECT (the folders of
    ``read_files`` are open to DuckDB, writes included).
    """
    import duckdb

    try:
        statements = con.extract_statements(query)
    except duckdb.Error as exc:
        raise QueryError(one_line(exc)) from None
    if not statements:
        raise QueryError("empty query: give a SELECT statement")
    allowed = SELECT_TYPES if select_only else READ_ONLY_TYPES
    for statement in statements:
        kind = str(statement.type).rsplit(".", 1)[-1]
        if kind not in allowed:
            if select_only:
                raise QueryError(f"with folders open to DuckDB (read_files), queries are SELECT statements only: "
                                 f"refusing a {kind} statement (DuckDB could write into those folders)")
            raise QueryError(f"trackdag sql is read-only: refusing a {kind} statement "
                             "(only `trackdag run` writes the catalog; use SELECT)")


#: DuckDB's words when a sealed connection refuses something (see the module docstring)
_SEALED_WORDS = ("disabled by configuration", "configuration has been locked", "disabled through configuration")


def query(path: "str | os.PathLike", sql: str, *, timeout: float | None = None,
          read_files: "str | os.PathLike | Iterable[str | os.PathLike] | None" = None) -> Any:
    """Run a read-only query on a catalog; returns a pyarrow Table (empty when nothing is returned).

    ``read_files``: folders whose files the query may read (``read_csv``...);
    the query must then be made of SELECT statements.
    """
    import duckdb
    import pyarrow as pa

    with open_catalog(path, timeout=timeout, read_files=read_files) as cat:
        check_read_only(cat.connection, sql, select_only=bool(cat.read_files))
        try:
            relation = cat.connection.sql(sql)
            return relation.to_arrow_table() if relation is not None else pa.table({})
        except duckdb.Error as exc:
            message = one_line(exc)
            if "Corrupt" in message or "checksum" in message:
                from .catalog.connection import failure

                raise failure(exc, cat.path) from None
            if any(words in message for words in _SEALED_WORDS):
                opened = f" and the folders {', '.join(cat.read_files)}" if cat.read_files else ""
                message += (f" (the catalog is open read-only: a query reads the catalog{opened} only; "
                            "it cannot write files, install extensions or change settings)")
            raise QueryError(message) from None


def describe_catalog(path: "str | os.PathLike", *, timeout: float | None = None) -> list[Any]:
    """Every view (with the question it answers) and table of a catalog, with columns (``trackdag schema``)."""
    from .relations import describe

    with open_catalog(path, timeout=timeout) as cat:
        return describe(cat.connection)
