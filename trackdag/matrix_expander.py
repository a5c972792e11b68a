"""The expander of a params spec: validate each matrix spec, count its rows, stream them.

:class:`_Expander` walks the specs of one :class:`~trackdag.params_spec.ParamsSpec`
(a bare mapping, a list, or ``matrices:``), checks every key and value
(what cannot be part of a job id is refused, ``__include__`` files are read
once), turns each spec into a :class:`_Spec` (de-duplicated axes, submatrix
groups, include and exclude entries), counts its rows without making them
(:class:`GridSize`) and makes them one at a time; it also remembers why a
grid came out empty.  The public entry points are in :mod:`trackdag.matrix`.

Example:
    >>> from trackdag.params_spec import load_params
    >>> spec = load_params({"a.x": [1, 2, 2], "a.y": ["p", "q"], "exclude": [{"a.x": 2, "a.y": "q"}]})
    >>> expander = _Expander(spec)
    >>> [(where, item)] = expander.specs(spec.body)
    >>> prepared = expander.prepare(item, where)
    >>> prepared.axes, expander.size(prepared)
    ({'a.x': [1, 2], 'a.y': ['p', 'q']}, GridSize(rows=3, exact=True))
    >>> list(expander.stream(prepared))
    [{'a.x': 1, 'a.y': 'p'}, {'a.x': 1, 'a.y': 'q'}, {'a.x': 2, 'a.y': 'p'}]
"""
from __future__ import annotations

import itertools
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, NamedTuple, NoReturn

from .errors import did_you_mean
from .matrix_rows import (_ENCODE, _PLAIN_TYPES, _agrees, _apply_patches, _contains, _patches, _prod,
                          _pruned_product, _same, _value_key)
from .params_spec import ParamsSpec, _fail, _kind, _parse_text

#: Submatrix groups, applied in this order (KWDagger's fixed set of ten).
GROUP_KEYS: tuple[str, ...] = ("submatrices",) + tuple(f"submatrices{i}" for i in range(1, 10))
#: Keys that may be written inside ``matrix`` or next to it.
PART_KEYS: tuple[str, ...] = ("include", "exclude") + GROUP_KEYS
#: Every key one matrix spec may hold.
SPEC_KEYS: tuple[str, ...] = ("matrix",) + PART_KEYS
#: Pipeline-wide grid keys that legitimately have no ``<node>.`` prefix.
GLOBAL_KEYS: tuple[str, ...] = ("__slurm_options__",)

_PARAM_KEY = re.compile(r"[^.]+\..+")
_MISSING: Any = object()


def _fmt(n: int) -> str:
    return f"{n:,}"


#: Values nested deeper than this are refused (deeper ones break json, deepcopy and ids).
MAX_DEPTH = 100
#: Integers longer than this many bits cannot be written in decimal by Python (4,300 digits).
_MAX_INT_BITS = 13_000
# Work the exact count may do (rows of the projected grid, row x patch tests)
# before it settles for an upper bound.
_COUNT_STATES = 100_000
_COUNT_WORK = 1_000_000


class GridSize(NamedTuple):
    """How many rows a params spec expands to, counted without expanding it.

    ``exact`` is False when ``rows`` is only an upper bound (rows from several
    specs may coincide, or the grid was too tangled to count cheaply).

    >>> from trackdag.matrix import grid_size, load_params
    >>> grid_size(load_params({"a.x": [1, 2, 2], "a.y": list(range(10))}))
    GridSize(rows=20, exact=True)
    """

    rows: int
    exact: bool

    def describe(self) -> str:
        """``'20 rows'``, ``'up to 20 rows'``, ``'1 row'``."""
        noun = "row" if self.rows == 1 else "rows"
        return f"{'' if self.exact else 'up to '}{_fmt(self.rows)} {noun}"


@dataclass
class _Spec:
    """One validated matrix spec, ready to be counted and streamed."""

    where: str
    axes: dict[str, list]  #: matrix key -> its values, de-duplicated, in written order
    groups: list[list[dict[str, list]]]  #: per submatrix group with entries: each entry's axes
    include: list[dict]
    exclude: list[dict]
    has_rows: bool  #: does the spec produce a (non-empty) row before include/exclude?
    used: list[bool]  #: per include entry: does it match at least one row?

    @property
    def product_rows(self) -> int:
        return _prod([len(v) for v in self.axes.values()])

    @staticmethod
    def patch_count(group: list[dict[str, list]]) -> int:
        return sum(_prod([len(v) for v in entry.values()]) for entry in group)

    def bound(self) -> int:
        """Rows before exclude and de-duplication: product x submatrix fan-out + include."""
        if not self.has_rows:
            return len(self.include)
        n = self.product_rows
        for group in self.groups:
            n *= max(1, self.patch_count(group))
        return n + len(self.include)


class _Expander:
    """Expands the specs of one :class:`ParamsSpec` and remembers why a grid came out empty."""

    def __init__(self, spec: ParamsSpec) -> None:
        self.source, self.base_dir = spec.source, spec.base_dir
        self.files: dict[Path, Any] = {}  # each __include__ file is read once
        self.empty_axes: list[str] = []
        self.any_param = self.all_excluded = False
        self.mutable = False  # did a list/dict value enter any row? (then rows need _fresh)
        self.exotic = False  # a value of a type JSON does not have (a tuple...): counts are bounds

    def fail(self, where: str, message: str) -> NoReturn:
        _fail(self.source, where, message)

    def specs(self, body: Any) -> Iterator[tuple[str, dict]]:
        if isinstance(body, (list, tuple)):
            items = [(f"[{i}]", x) for i, x in enumerate(body)]
        elif isinstance(body, Mapping) and "matrices" in body:
            for key in body:
                if key != "matrices":
                    hint = ("; move it into one of the 'matrices' entries" if key in SPEC_KEYS
                            else did_you_mean(str(key), ["matrices", "pipeline"]))
                    self.fail("", f"unknown top-level key {key!r} next to 'matrices'{hint}")
            entries = body["matrices"]
            if not isinstance(entries, (list, tuple)):
                self.fail("", f"'matrices' must be a list of matrix specs, got {_kind(entries)}")
            items = [(f"matrices[{i}]", x) for i, x in enumerate(entries)]
        elif isinstance(body, Mapping):
            items = [("", body)]
        else:
            self.fail("", f"expected a mapping or a list of matrix specs, got {_kind(body)}")
        for where, item in items:
            yield where, self.normalise(item, where)

    def check_keys(self, mapping: Mapping, where: str, label: str) -> None:
        for key in mapping:
            if not isinstance(key, str):
                self.fail(where, f"{label} has a non-string key {key!r}: keys must be strings "
                          "such as '<node>.<param>' (quote it in YAML)")

    def normalise(self, item: Any, where: str) -> dict:
        """Return a spec mapping; a bare mapping becomes ``{'matrix': item}``."""
        if not isinstance(item, Mapping):
            self.fail(where, f"a matrix spec must be a mapping, got {_kind(item)}")
        self.check_keys(item, where, "the spec" if where else "the top level")
        label = "key" if where else "top-level key"
        if "matrix" in item or "include" in item:
            for key in item:
                if key not in SPEC_KEYS:
                    hint = did_you_mean(key, SPEC_KEYS) or (
                        " (allowed: matrix, include, exclude, submatrices, submatrices1..9)")
                    self.fail(where, f"unknown {label} {key!r}{hint}")
            return dict(item)
        # Bare form: the whole mapping is the body of `matrix`.  A key that is
        # not <node>.<param> is most likely a misspelt spec key, so reject it.
        for key in item:
            if key in PART_KEYS or key in GLOBAL_KEYS or _PARAM_KEY.fullmatch(key):
                continue
            hint = (" ('matrices' is only allowed at the top level)" if key == "matrices" else
                    did_you_mean(key, SPEC_KEYS + ("matrices",))
                    or " (parameters are written <node>.<param>)")
            self.fail(where, f"unknown {label} {key!r}{hint}")
        return {"matrix": dict(item)}

    def check_value(self, value: Any, where: str, label: str, depth: int = 0) -> None:
        """Reject what cannot be part of a job id (dates, NaN, non-string keys, endless nesting)."""
        if value is None or isinstance(value, (str, bool)):
            return
        if isinstance(value, int):
            if value.bit_length() > _MAX_INT_BITS:
                self.fail(where, f"{label}: an integer of {value.bit_length():,} bits is too "
                          "long to write out; write it as a string")
            return
        self.mutable = self.mutable or isinstance(value, (list, tuple, Mapping))
        if isinstance(value, float):
            if not math.isfinite(value):
                self.fail(where, f"{label}: {value!r} cannot be part of a job id; "
                          "write it as a string such as 'nan'")
            return
        if isinstance(value, (list, tuple, Mapping)) and depth >= MAX_DEPTH:
            self.fail(where, f"{label}: the value is nested more than {MAX_DEPTH} levels deep "
                      "(or contains itself)")
        if isinstance(value, (list, tuple)):
            for item in value:
                self.check_value(item, where, label, depth + 1)
        elif isinstance(value, dict):
            self.check_keys(value, where, label)
            for item in value.values():
                self.check_value(item, where, label, depth + 1)
        else:
            self.fail(where, f"{label}: value {value!r} ({type(value).__name__}) is not a plain "
                      "YAML/JSON value; quote it to keep it a string")

    def entries(self, value: Any, where: str, key: str) -> list[dict]:
        """Validate an ``include`` / ``exclude`` / ``submatrices*`` list of mappings."""
        if not isinstance(value, (list, tuple)):
            self.fail(where, f"{key!r} must be a list of mappings (one '- key: value' entry "
                      f"per item), got {_kind(value)}")
        literal = key in ("include", "exclude")  # their values are never expanded
        for i, entry in enumerate(value):
            label = f"{key}[{i}]"
            if not isinstance(entry, Mapping):
                self.fail(where, f"{label} must be a mapping of <node>.<param> keys, "
                                 f"got {_kind(entry)}")
            self.check_keys(entry, where, label)
            if literal and not entry:
                self.fail(where, f"{label} is empty: give at least one key: value pair")
            for v in entry.values() if literal else ():
                self.check_value(v, where, label)
                self.exotic = self.exotic or type(v) not in _PLAIN_TYPES
        return [dict(entry) for entry in value]

    def axis(self, value: Any, where: str, key: str) -> list:
        """The values one key takes: scalars and mappings are one value, a list is an axis.

        Repeated values are dropped, first occurrences kept: a product of
        de-duplicated axes yields exactly the first occurrences of the full
        product's rows, in the same order, so this changes no output; it only
        spares making rows that de-duplication would remove again.
        """
        if isinstance(value, list) and value:
            # A long axis is nearly always all strings or all integers: check it at C speed.
            kind = type(value[0])
            if (kind is str or kind is int) and all(type(v) is kind for v in value) and (
                    kind is str or max(max(value).bit_length(), min(value).bit_length())
                    <= _MAX_INT_BITS):
                return list(dict.fromkeys(value))
        out: list = []
        seen: set = set()
        label = repr(key)
        for item in value if isinstance(value, (list, tuple)) else [value]:
            kind = type(item)
            # Plain scalars (nearly every value of a long axis) are checked inline.
            if kind is str or kind is bool or item is None or (
                    kind is int and item.bit_length() <= _MAX_INT_BITS):
                found = [item]
                keys = [(kind, item)]
            elif kind is float and math.isfinite(item):
                found = [item]
                keys = [(kind, repr(item))]
            else:
                if isinstance(item, Mapping) and set(item) == {"__include__"}:
                    found = self.include_file(item["__include__"], where, key)
                else:
                    self.check_value(item, where, label)
                    found = [item]
                self.exotic = self.exotic or any(type(v) not in _PLAIN_TYPES for v in found)
                keys = [_value_key(v) for v in found]
            for item_key, item in zip(keys, found):
                if item_key not in seen:
                    seen.add(item_key)
                    out.append(item)
        return out

    def include_file(self, ref: Any, where: str, key: str) -> list:
        out: list = []
        for name in ref if isinstance(ref, (list, tuple)) else [ref]:
            if not isinstance(name, (str, os.PathLike)):
                self.fail(where, f"{key!r}: __include__ expects a file path or a list of paths, "
                          f"got {_kind(name)}")
            try:
                path = self.base_dir / Path(name).expanduser()
                found = path.is_file()
            except (OSError, ValueError, RuntimeError) as exc:  # '~nobody', a NUL in the name
                self.fail(where, f"{key!r}: __include__ file {os.fspath(name)!r} is not a usable "
                          f"path: {exc}")
            if path not in self.files:
                if not found:
                    self.fail(where, f"{key!r}: __include__ file {os.fspath(name)!r} not found "
                              f"(looked for {path})")
                try:
                    text = path.read_text(encoding="utf-8")
                except (OSError, UnicodeDecodeError) as exc:
                    self.fail(where, f"{key!r}: cannot read __include__ file {path}: {exc}")
                self.files[path] = _parse_text(text, str(path))
            # A list in the file is spliced into the axis; anything else is one value.
            values = self.files[path] if isinstance(self.files[path], list) else [self.files[path]]
            for value in values:
                self.check_value(value, where, f"{key!r} (from {path.name})")
            out.extend(values)
        return out

    def prepare(self, spec: dict, where: str) -> _Spec:
        """Validate one spec (every value, every __include__ file) without expanding it."""
        matrix = spec.get("matrix", {})
        if not isinstance(matrix, Mapping):
            self.fail(where, "'matrix' must be a mapping of <node>.<param> keys to values, "
                      f"got {_kind(matrix)}")
        matrix = dict(matrix)
        self.check_keys(matrix, where, "'matrix'")
        parts: dict[str, list[dict]] = {}
        for key in PART_KEYS:
            inner, outer = matrix.pop(key, _MISSING), spec.get(key, _MISSING)
            if inner is not _MISSING and outer is not _MISSING:
                self.fail(where, f"{key!r} is written both inside 'matrix' and next to it; "
                                 "keep one")
            value = outer if inner is _MISSING else inner
            parts[key] = [] if value is _MISSING else self.entries(value, where, key)

        axes = {k: self.axis(v, where, k) for k, v in matrix.items()}
        self.empty_axes += [k for k, values in axes.items() if not values]
        groups = [[{k: self.axis(v, where, k) for k, v in entry.items()} for entry in parts[key]]
                  for key in GROUP_KEYS]
        # A group whose entries all have an empty axis adds no patch: it is no group.
        groups = [g for g in groups if _Spec.patch_count(g)]
        include = parts["include"]

        # Whether there is a row at all, and which include entries match one, is
        # known without expanding: matrix values never change after the product
        # (include and submatrices must agree with them), and with no matrix
        # the one empty start row becomes a row once any patch has a key.
        nonempty = all(axes.values())
        if axes:
            has_rows = nonempty
        else:
            has_rows = any(entry and all(entry.values()) for g in groups for entry in g)
        used = [has_rows and all(any(_same(v, value) for v in axes[k])
                                 for k, value in entry.items() if k in axes)
                for entry in include]
        self.any_param |= bool(matrix) or has_rows or bool(include)
        return _Spec(where, axes, groups, include, parts["exclude"], has_rows, used)

    def size(self, spec: _Spec) -> GridSize:
        """Count the distinct rows of one spec without expanding it (see :func:`grid_size`)."""
        standalone = len({_ENCODE(e) for e, hit in zip(spec.include, spec.used) if not hit})
        exact = not self.exotic
        if not spec.has_rows:
            return GridSize(standalone, exact)
        if not (spec.groups or spec.include or spec.exclude):
            return GridSize(spec.product_rows, exact)
        # Only the matrix keys that some entry names can change how a row is
        # treated; the others ("free" axes) multiply the count.  So the grid
        # is projected onto the named keys and that small grid is expanded.
        named = {k for g in spec.groups for entry in g for k in entry}
        named.update(k for entry in spec.include + spec.exclude for k in entry)
        keys = [k for k in spec.axes if k in named]
        free = _prod([len(v) for k, v in spec.axes.items() if k not in named])
        states = _prod([len(spec.axes[k]) for k in keys])
        if states > _COUNT_STATES:
            return GridSize(spec.bound(), False)
        rows = [dict(zip(keys, combo)) for combo in itertools.product(*(spec.axes[k] for k in keys))]
        for i, group in enumerate(spec.groups):
            patches = spec.patch_count(group)
            if patches * len(rows) > _COUNT_WORK:
                rest = _prod([max(1, spec.patch_count(g)) for g in spec.groups[i:]])
                return GridSize(free * len(rows) * rest + len(spec.include), False)
            rows = _apply_patches(rows, _patches(group))
            if len(rows) > _COUNT_STATES:
                rest = _prod([max(1, spec.patch_count(g)) for g in spec.groups[i + 1:]])
                return GridSize(free * len(rows) * rest + len(spec.include), False)
        if len(rows) * (len(spec.include) + len(spec.exclude)) > _COUNT_WORK:
            return GridSize(free * len(rows) + len(spec.include), False)
        if not spec.axes:
            rows = [row for row in rows if row]  # the empty start row, if nothing filled it
        original = spec.axes
        for row in rows:
            for entry in spec.include:
                if _agrees(row, entry, original):
                    row.update(entry)
        rows = [row for row in rows if not any(_contains(row, e) for e in spec.exclude)]
        distinct = len({_ENCODE(row) for row in rows})
        return GridSize(free * distinct + standalone, exact)

    def stream(self, spec: _Spec) -> Iterator[dict]:
        """The rows of one spec, in order, one at a time."""
        axes, include = spec.axes, spec.include
        kept = False
        if spec.has_rows:
            keys, values = list(axes), list(axes.values())
            pure, other = [], []
            for entry in spec.exclude:
                (pure if all(k in axes for k in entry) else other).append(entry)
            index = {k: i for i, k in enumerate(keys)}
            masks = []
            for entry in pure:
                allowed = {index[k]: {vi for vi, v in enumerate(axes[k]) if _same(v, value)}
                           for k, value in entry.items()}
                if all(allowed.values()):  # an entry naming a value no row has excludes nothing
                    masks.append(allowed)
            combos = _pruned_product(values, masks) if masks else itertools.product(*values)
            groups = [_patches(g) for g in spec.groups]
            for combo in combos:
                rows = [dict(zip(keys, combo))]
                for patches in groups:
                    rows = _apply_patches(rows, patches)
                for row in rows:
                    if not row:
                        continue  # the empty start row, if nothing filled it
                    # include (GitHub semantics): only the original matrix keys must agree.
                    for entry in include:
                        if _agrees(row, entry, axes):
                            row.update(entry)
                    if other and any(_contains(row, e) for e in other):
                        continue
                    kept = True
                    yield row
            if not kept:
                self.all_excluded = True
        # An include entry that matched no row is a row of its own, never excluded.
        for entry, hit in zip(include, spec.used):
            if not hit:
                yield dict(entry)

    def empty_message(self) -> str:
        names = list(dict.fromkeys(self.empty_axes))
        if names:
            verb = "is an empty list" if len(names) == 1 else "are empty lists"
            return f"the grid is empty: {', '.join(map(repr, names))} {verb}"
        if self.all_excluded:
            return "the grid is empty: every row matches an 'exclude' entry"
        if not self.any_param:
            return "the grid is empty: no parameters are given (write <node>.<param>: values)"
        return "the grid is empty"
