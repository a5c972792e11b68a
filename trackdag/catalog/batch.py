"""Python columns handed to DuckDB as a named relation: list parameters when small, pyarrow when bulk.

The catalog's writes (a plan's jobs and params, each micro-batch of states,
attempts and results, the param sets) build their rows as Python lists,
one per column, then join them against the catalog's tables by name.

A bulk batch goes in as a pyarrow table (``con.register``): about ten times
faster per value than anything else from Python.  A small one does not:
importing pyarrow takes 0.3 s, and pyarrow imports pandas when pandas is
installed (its first ``pa.array`` asks whether the list is a pandas
object), which took another 0.2-0.65 s on this project's 2-core machine
kind.  That was a fifth of a 2,000-job run's driver CPU, and a whole run of
a small sweep never needs pyarrow for anything else.  So a batch of at most
:data:`LIST_VALUES` values becomes a temporary table made from DuckDB list
parameters (``unnest($1::VARCHAR[])``, converted in DuckDB's C++; about
1.5 us per value, no import), unless pyarrow is imported already (a
notebook's process, a big plan's earlier chunks).  Both ways give the same
rows; a test holds them equal.

Example:
    >>> import duckdb
    >>> con = duckdb.connect()
    >>> put(con, "td_x", {"a": ["x", None], "n": [1, 2]}, {"a": "VARCHAR", "n": "BIGINT"})
    >>> con.execute("SELECT * FROM td_x ORDER BY n").fetchall()
    [('x', 1), (None, 2)]
    >>> drop(con, "td_x")
"""
from __future__ import annotations

import sys
from typing import Any, Mapping, Sequence

#: a batch of at most this many values (rows x columns) goes in as DuckDB list parameters, a bigger one
#: through pyarrow (list parameters cost about ten times pyarrow's time per value: 0.08 s here)
LIST_VALUES = 50_000

#: the SQL types the catalog's batches use, as pyarrow types (by name: pyarrow is imported only for bulk)
_ARROW = {"VARCHAR": "string", "BIGINT": "int64", "INTEGER": "int32", "DOUBLE": "float64", "BOOLEAN": "bool_",
          "TIMESTAMPTZ": None}


def put(con: Any, name: str, columns: Mapping[str, Sequence[Any]], types: Mapping[str, str],
        *, arrow: "bool | None" = None) -> None:
    """Make ``name`` on ``con`` a relation of ``columns`` (equal-length lists), typed by ``types`` (SQL).

    ``arrow``: force one way (tests); by default lists up to :data:`LIST_VALUES` values, unless
    pyarrow is imported already.
    Undo with :func:`drop`.  TIMESTAMPTZ values are aware datetimes (or None).
    """
    lengths = {len(values) for values in columns.values()}
    if len(lengths) > 1:
        raise ValueError(f"{name}: columns of different lengths {sorted(lengths)}")
    rows = lengths.pop() if lengths else 0
    if arrow is None:
        arrow = rows * len(columns) > LIST_VALUES or "pyarrow" in sys.modules
    drop(con, name)  # (one left by a failed batch, made the other way, would shadow or clash)
    if arrow:
        con.register(name, _arrow_table(columns, types))
    else:
        select = ", ".join(f"unnest(${i}::{types[col]}[]) AS {_q(col)}" for i, col in enumerate(columns, 1))
        con.execute(f"CREATE OR REPLACE TEMP TABLE {_q(name)} AS SELECT {select}",
                    [v if isinstance(v, list) else list(v) for v in columns.values()])


def drop(con: Any, name: str) -> None:
    """Undo :func:`put` of ``name`` on ``con`` (either way it was made; nothing when neither)."""
    con.unregister(name)
    con.execute(f"DROP TABLE IF EXISTS temp.main.{_q(name)}")


def _arrow_table(columns: Mapping[str, Sequence[Any]], types: Mapping[str, str]) -> Any:
    import pyarrow as pa

    def arrow_type(sql: str) -> Any:
        kind = _ARROW[sql]
        return pa.timestamp("us", tz="UTC") if kind is None else getattr(pa, kind)()

    return pa.table({col: pa.array(values, arrow_type(types[col])) for col, values in columns.items()})


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


__all__ = ["put", "drop", "LIST_VALUES"]
