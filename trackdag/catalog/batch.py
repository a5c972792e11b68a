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
a small sweep never needs pyarrow for anything else.  So batches become
temporary tables made from DuckDB list parameters (``unnest($1::VARCHAR[])``,
converted in DuckDB's C++; about 1.5 us per value, no import) until a
process has put :data:`LIST_VALUES` values through them, about what the
imports would have cost; after that, and whenever pyarrow is imported
already (a notebook's process), they go through pyarrow.  A mid-size run
(a no-op rerun of 20,000 jobs hands over 60,000 values in one batch) pays
a tenth of a second, not the imports; a big plan pays at most the imports
twice over.  Both ways give the same rows; a test holds them equal.

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

#: values (rows x columns) a process puts in as DuckDB list parameters before the rest goes through pyarrow:
#: list parameters cost about ten times pyarrow's time per value, 300,000 of them about 0.45 s, which is
#: what importing pyarrow and pandas costs (0.5-0.9 s on this project's 2-core machine kind)
LIST_VALUES = 300_000
_listed = 0  # values put in as list parameters so far by this process (approximate across threads)

#: the SQL types the catalog's batches use, as pyarrow types (by name: pyarrow is imported only for bulk)
_ARROW = {"VARCHAR": "string", "BIGINT": "int64", "INTEGER": "int32", "DOUBLE": "float64", "BOOLEAN": "bool_",
          "TIMESTAMPTZ": None}


def put(con: Any, name: str, columns: Mapping[str, Sequence[Any]], types: Mapping[str, str],
        *, arrow: "bool | None" = None) -> None:
    """Make ``name`` on ``con`` a relation of ``columns`` (equal-length lists), typed by ``types`` (SQL).

    ``arrow``: force one way (tests); by default lists while this process has put fewer than
    :data:`LIST_VALUES` values through them, this batch included, unless pyarrow is imported already.
    Undo with :func:`drop`.  TIMESTAMPTZ values are aware datetimes (or None).
    """
    lengths = {len(values) for values in columns.values()}
    if len(lengths) > 1:
        raise ValueError(f"{name}: columns of different lengths {sorted(lengths)}")
    rows = lengths.pop() if lengths else 0
    global _listed
    values = rows * len(columns)
    if arrow is None:
        arrow = "pyarrow" in sys.modules or _listed + values > LIST_VALUES
    drop(con, name)  # (one left by a failed batch, made the other way, would shadow or clash)
    if arrow:
        con.register(name, _arrow_table(columns, types))
    else:
        _listed += values
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
