"""Values and rows of a parameter grid: when two values are the same, and how patches combine rows.

The identity is type-strict, like job ids: ``1``, ``1.0``, ``True`` and
``"1"`` are four different values, and :func:`_value_key` is a hashable
form of it (the row de-duplication's, and ``trackdag.order``'s).  A patch
(one submatrix entry's combination) applies to a row only when it agrees
with every key the row already has.  :func:`_pruned_product` is the product
of the matrix axes without the blocks an exclude entry removes.

Example:
    >>> _same(1, 1.0), _same([1, 2], [1, 2])
    (False, True)
    >>> _apply_patches([{"a.x": 1}, {"a.x": 2}], [{"a.x": 1, "a.y": "p"}, {"a.y": "q"}])
    [{'a.x': 1, 'a.y': 'p'}, {'a.x': 1, 'a.y': 'q'}, {'a.x': 2, 'a.y': 'q'}]
"""
from __future__ import annotations

import copy
import itertools
import json
import math
from collections.abc import Mapping
from typing import Any, Iterator

from .ids import canonical_json


def _same(a: Any, b: Any) -> bool:
    # Type-strict like job ids: 1, 1.0, True and "1" are four different values.
    if type(a) is not type(b):
        return False
    if isinstance(a, (list, tuple, dict)):
        return a is b or canonical_json(a) == canonical_json(b)
    return a == b


def _agrees(row: Mapping, entry: Mapping, keys: Any = None) -> bool:
    """True when ``row`` and ``entry`` agree on every key they share (within ``keys``)."""
    return all(_same(row[k], v) for k, v in entry.items()
               if k in row and (keys is None or k in keys))


def _contains(row: Mapping, entry: Mapping) -> bool:
    """True when ``row`` holds every key/value pair of ``entry`` (exclude's test)."""
    return all(k in row and _same(row[k], v) for k, v in entry.items())


def _apply_patches(rows: list[dict], patches: list[dict]) -> list[dict]:
    # Unlike KWDagger, a patch must agree with *every* key the row already
    # has, so a later group can key on a parameter an earlier group added.
    out: list[dict] = []
    for row in rows:
        hits = [{**row, **patch} for patch in patches if _agrees(row, patch)]
        out.extend(hits or [row])
    return out


def _fresh(row: dict) -> dict:
    # Values may be shared between rows (an include entry, a cached
    # __include__ file); copy the mutable ones so rows are independent.
    return {k: copy.deepcopy(v) if isinstance(v, (list, dict)) else v for k, v in row.items()}


# canonical_json's encoding without its checks (values are checked once, on the way in).
_ENCODE = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                           allow_nan=False).encode
_PLAIN_TYPES = (str, int, float, bool, type(None), list, dict)


def _value_key(value: Any) -> Any:
    """A hashable key: two values share it iff every test here treats them alike.

    Same type and same canonical JSON (``_same`` is type-strict; the float
    repr keeps ``0.0`` and ``-0.0`` apart as the row de-duplication does).
    """
    kind = type(value)
    if kind is float:
        return kind, repr(value)
    if kind in (str, int, bool) or value is None:
        return kind, value
    return kind, _ENCODE(value)


def _prod(sizes: Iterator[int] | list[int]) -> int:
    return math.prod(sizes)


def _patches(group: list[dict[str, list]]) -> list[dict]:
    return [dict(zip(entry, combo)) for entry in group
            for combo in itertools.product(*entry.values())]


def _pruned_product(values: list[list], entries: list[dict[int, set[int]]]) -> Iterator[tuple]:
    """``itertools.product(*values)`` without the rows an exclude entry removes.

    ``entries`` are exclude entries on matrix keys only, as {axis index:
    indices of the values it matches}.  A whole block of rows is skipped as
    soon as the axes an entry names are fixed, so excluding most of a grid
    costs no more than the rows kept.  Matrix values never change later
    (include and submatrices must agree with them), so this is exact.
    """
    full = (1 << len(entries)) - 1
    compat = [[full] * len(vals) for vals in values]  # entries still possible with this value
    done = [0] * len(values)  # entries whose last named axis is this one
    for j, entry in enumerate(entries):
        for axis, allowed in entry.items():
            for vi in range(len(values[axis])):
                if vi not in allowed:
                    compat[axis][vi] &= ~(1 << j)
        done[max(entry)] |= 1 << j
    last = max(max(entry) for entry in entries)
    tail = values[last + 1:]

    def walk(axis: int, alive: int, prefix: tuple) -> Iterator[tuple]:
        masks, stop = compat[axis], done[axis]
        for vi, value in enumerate(values[axis]):
            mask = alive & masks[vi]
            if mask & stop:
                continue  # every row under this prefix is excluded
            if axis == last:
                yield prefix + (value,)
            else:
                yield from walk(axis + 1, mask, prefix + (value,))

    for prefix in walk(0, full, ()):
        if tail:
            for rest in itertools.product(*tail):
                yield prefix + rest
        else:
            yield prefix
