"""Expand a ``--params`` file into rows: one dict of ``<node>.<param>`` values per run.

The grammar is KWDagger's (GitHub-Actions ``matrix`` / ``include`` /
``exclude`` plus KWDagger's ``submatrices``) with its rough edges fixed: a
top-level list of specs works, identical rows collapse to one, a later
submatrix group can key on a parameter added by an earlier group, and every
mistake is a one-line :class:`~trackdag.errors.ParamsError` that names the
file and the key at fault.  ``schema/params.schema.json`` documents the
grammar for editors.

Size is bounded and expansion is lazy:

- :func:`grid_size` counts the rows without making them: a product of
  de-duplicated axes is counted exactly, and so is a spec with include,
  exclude and submatrices (its grid projected onto the keys those entries
  name is small, and the other axes multiply it); rows of several specs may
  coincide, so their sum is an upper bound (``exact=False``), as is the
  product x submatrix fan-out when the projection itself is too big.
- :func:`expand` refuses a grid of more than ``grid_limit`` rows
  (:data:`DEFAULT_GRID_LIMIT`, 1,000,000; 0 or None: no limit) before any
  row is made, with that count in the message ("up to N rows" for a bound);
  with ``max_configs`` the limit applies to the rows taken.
- :func:`iter_rows` makes rows one at a time, in the same order, so
  ``max_configs=N`` makes about N rows; exclude entries on matrix keys skip
  whole blocks of the product.  Rows only known at the end (an include entry
  that matched no row) are the last rows of their spec anyway.
- A value nested more than :data:`MAX_DEPTH` levels (or containing itself)
  is refused; YAML alias bombs are refused by :mod:`trackdag.yaml12`.

Example:
    >>> rows = expand_matrix('''
    ... matrix:
    ...   train.lr: [0.1, 0.01]
    ...   train.arch: resnet
    ... include:
    ...   - train.lr: 0.1
    ...     train.warmup: 5
    ... ''')
    >>> for row in rows:
    ...     print(row)
    {'train.lr': 0.1, 'train.arch': 'resnet', 'train.warmup': 5}
    {'train.lr': 0.01, 'train.arch': 'resnet'}
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Iterator

from .matrix_expander import (GLOBAL_KEYS, GROUP_KEYS, MAX_DEPTH, PART_KEYS, SPEC_KEYS, GridSize, _Expander, _fmt,
                              _Spec)
from .matrix_rows import _ENCODE, _fresh
from .params_spec import ParamsSpec, _fail, load_params

__all__ = [
    "DEFAULT_GRID_LIMIT", "grid_size", "iter_rows", "expand", "expand_matrix",
    # re-exported from trackdag.params_spec
    "ParamsSpec", "load_params",
    # re-exported from trackdag.matrix_expander
    "GLOBAL_KEYS", "GROUP_KEYS", "MAX_DEPTH", "PART_KEYS", "SPEC_KEYS", "GridSize",
]

#: Default for ``grid_limit``: the most rows one expansion may produce.
DEFAULT_GRID_LIMIT = 1_000_000


def _check_limits(spec: ParamsSpec, max_configs: Any, grid_limit: Any) -> int | None:
    if max_configs is not None and (isinstance(max_configs, bool)
                                    or not isinstance(max_configs, int) or max_configs < 1):
        _fail(spec.source, "", f"max_configs must be a positive integer, got {max_configs!r}")
    if grid_limit is not None and (isinstance(grid_limit, bool)
                                   or not isinstance(grid_limit, int) or grid_limit < 0):
        _fail(spec.source, "", f"grid_limit must be a non-negative integer (0 for no limit), "
                               f"got {grid_limit!r}")
    return grid_limit or None


def _total(expander: _Expander, specs: list[_Spec], exact: bool = True) -> GridSize:
    sizes = [expander.size(s) for s in specs] if exact else [GridSize(s.bound(), False) for s in specs]
    rows = sum(size.rows for size in sizes)
    # Rows of different specs may coincide: the sum is exact when one spec has rows.
    return GridSize(rows, all(size.exact for size in sizes)
                    and sum(1 for size in sizes if size.rows) <= 1)


def _prepare(spec: ParamsSpec) -> tuple[_Expander, list[_Spec]]:
    expander = _Expander(spec)
    items = list(expander.specs(spec.body))  # list(): report key errors first
    return expander, [expander.prepare(item, where) for where, item in items]


def gives_no_params(spec: ParamsSpec) -> bool:
    """True when the spec names no parameter at all (``{}``, ``matrix: {}``, only ``pipeline:``).

    >>> gives_no_params(load_params("matrix: {}")), gives_no_params(load_params("a.x: []"))
    (True, False)
    """
    expander, _ = _prepare(spec)
    return not expander.any_param


def grid_size(spec: ParamsSpec) -> GridSize:
    """Count the de-duplicated rows of a spec without expanding it; validates it like :func:`expand`.

    The count is exact for one spec (a product of de-duplicated axes; with
    include, exclude and submatrices the grid is projected onto the keys
    those entries name and that small grid is expanded).  It is an upper
    bound, ``exact=False``, when several specs have rows (their rows may
    coincide) or the projected grid is itself too big to expand cheaply.

    >>> grid_size(load_params({"matrix": {"a.x": [1, 2, 3], "a.y": [1, 2]},
    ...                        "exclude": [{"a.x": 1}]}))
    GridSize(rows=4, exact=True)
    """
    expander, specs = _prepare(spec)
    return _total(expander, specs)


def iter_rows(spec: ParamsSpec, *, max_configs: int | None = None,
              grid_limit: int | None = DEFAULT_GRID_LIMIT) -> Iterator[dict[str, Any]]:
    """The rows of :func:`expand`, lazily: each row is made when it is asked for.

    Everything is validated and the grid is counted against ``grid_limit``
    when this is called; the empty-grid error is raised when the iterator
    ends without a row.

    >>> rows = iter_rows(load_params({f"n{i}.p": list(range(10)) for i in range(6)}),
    ...                  max_configs=2)
    >>> [row["n5.p"] for row in rows]
    [0, 1]
    """
    limit = _check_limits(spec, max_configs, grid_limit)
    expander, specs = _prepare(spec)
    if limit is not None and (max_configs is None or max_configs > limit):
        size = _total(expander, specs, exact=False)  # cheap bounds first
        if size.rows > limit:
            size = _total(expander, specs)
        if size.rows > limit and (max_configs is None or max_configs >= size.rows):
            _fail(spec.source, "", f"the grid has {size.describe()}, more than the limit of "
                  f"{_fmt(limit)}; narrow it or raise --grid-limit (0 for none)")
        if size.rows > limit:
            _fail(spec.source, "", f"max_configs {_fmt(max_configs)} would take "
                  f"{_fmt(max_configs)} of the grid's {size.describe()}, more than the limit "
                  f"of {_fmt(limit)}; lower it or raise --grid-limit (0 for none)")
    return _rows(spec, expander, specs, max_configs)


def _rows(spec: ParamsSpec, expander: _Expander, specs: list[_Spec],
          max_configs: int | None) -> Iterator[dict[str, Any]]:
    # One spec without submatrices or include has distinct rows by
    # construction (its axes are de-duplicated): skip the de-duplication.
    distinct = (len(specs) == 1 and not specs[0].groups and not specs[0].include
                and not expander.exotic)
    seen: set[str] = set()
    fresh = _fresh if expander.mutable else None  # only shared list/dict values need copies
    count = 0
    for item in specs:
        for row in expander.stream(item):
            if not distinct:
                key = _ENCODE(row)
                if key in seen:
                    continue  # the first occurrence wins
                seen.add(key)
            yield fresh(row) if fresh else row
            count += 1
            if count == max_configs:
                return
    if not count:
        _fail(spec.source, "", expander.empty_message())


def expand(spec: ParamsSpec, *, max_configs: int | None = None,
           grid_limit: int | None = DEFAULT_GRID_LIMIT) -> list[dict[str, Any]]:
    """Expand a :class:`ParamsSpec` into de-duplicated rows, in order.

    ``max_configs`` keeps the first N rows and expands no more than that.
    A grid of more than ``grid_limit`` rows (default
    :data:`DEFAULT_GRID_LIMIT`; 0 or None for no limit) is refused before any
    row is made, with its size in the message; with ``max_configs``, the
    limit applies to the rows taken.

    >>> expand(load_params({"a.x": [1, 2, 1], "a.y": ["p", "q"]}), max_configs=3)
    [{'a.x': 1, 'a.y': 'p'}, {'a.x': 1, 'a.y': 'q'}, {'a.x': 2, 'a.y': 'p'}]
    """
    return list(iter_rows(spec, max_configs=max_configs, grid_limit=grid_limit))


def expand_matrix(spec: str | os.PathLike | Mapping | list | ParamsSpec, *,
                  max_configs: int | None = None,
                  grid_limit: int | None = DEFAULT_GRID_LIMIT) -> list[dict[str, Any]]:
    """Shorthand for ``expand(load_params(spec), max_configs=..., grid_limit=...)``.

    >>> expand_matrix("[{matrix: {a.x: [1, 2]}}, {a.x: 3, a.y: only_here}]")
    [{'a.x': 1}, {'a.x': 2}, {'a.x': 3, 'a.y': 'only_here'}]
    """
    return expand(load_params(spec), max_configs=max_configs, grid_limit=grid_limit)
