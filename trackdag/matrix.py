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

import copy
import dataclasses
import itertools
import json
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, NamedTuple, NoReturn

import yaml

from . import yaml12
from .errors import ParamsError, did_you_mean
from .ids import canonical_json

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


@dataclass(frozen=True)
class ParamsSpec:
    """A parsed params spec, ready for :func:`expand`.

    >>> load_params({"pipeline": "demo", "a.x": [1, 2]}).body
    {'a.x': [1, 2]}
    """

    body: Any  #: the parsed spec with the top-level ``pipeline`` (and ``slurm_options``) keys removed
    #: value of a top-level ``pipeline:`` key, if any: a reference, or (KWDagger) a YAML pipeline inline
    pipeline: "str | Mapping | None"
    source: str  #: for messages: the file path, ``--params`` for text, ``params`` for objects
    base_dir: Path  #: where relative ``__include__`` paths resolve
    #: a top-level ``slurm_options:`` mapping (KWDagger's; see trackdag.slurm_options)
    slurm_options: Mapping | None = None


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict:
    if len({k for k, _ in pairs}) != len(pairs):
        raise ValueError("duplicate key")  # re-parsed as YAML, which names the line
    return dict(pairs)


def _parse_text(text: str, source: str) -> Any:
    """Parse JSON or YAML text; a syntax error becomes one line with its line number.

    >>> _parse_text('{"a.x": [1, 2]}', '--params')
    {'a.x': [1, 2]}
    """
    if text.lstrip().startswith(("{", "[")):
        # JSON first: it is faster, and YAML rejects tab-indented JSON.
        try:
            return json.loads(text, object_pairs_hook=_no_duplicates)
        except ValueError:
            pass  # flow-style YAML such as `{a.x: [1, 2]}` is not JSON
    try:
        return yaml12.load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = " ".join(str(getattr(exc, "problem", None) or exc).split())
        line = f" at line {mark.line + 1}" if mark is not None else ""
        raise ParamsError(f"{source}: invalid YAML{line}: {problem}") from None


def _kind(obj: Any) -> str:
    """Describe a value for an error message.

    >>> _kind([1]), _kind("abc"), _kind(None), _kind(True)
    ('a list', "a string 'abc'", 'null', 'a boolean True')
    """
    if obj is None:
        return "null"
    if isinstance(obj, str):
        return f"a string {obj[:60]!r}"
    if isinstance(obj, (bool, int, float)):
        return f"a {'boolean' if isinstance(obj, bool) else 'number'} {obj!r}"
    if isinstance(obj, Mapping):
        return "a mapping"
    return "a list" if isinstance(obj, (list, tuple)) else f"a {type(obj).__name__}"


def _fail(source: str, where: str, message: str) -> NoReturn:
    raise ParamsError(f"{source}: {where + ': ' if where else ''}{message}")


def _pop_pipeline(mapping: dict, source: str, where: str) -> "str | Mapping | None":
    value = mapping.pop("pipeline", None)
    if value is not None and not isinstance(value, (str, Mapping)):
        _fail(source, where, f"'pipeline' must be a string naming the pipeline (or a YAML pipeline's "
                             f"mapping), got {_kind(value)}")
    return value


def _split_pipeline(data: Any, source: str) -> tuple[Any, str | None]:
    """Return ``(body, pipeline)``, copying containers so the caller's object is untouched."""
    if data is None:
        _fail(source, "", "the params are empty: write <node>.<param> keys, a 'matrix:' spec "
                          "or a 'matrices:' list")
    if isinstance(data, Mapping):
        body = dict(data)
        pipeline = _pop_pipeline(body, source, "")
        items = body.get("matrices")
        if isinstance(items, (list, tuple)):
            body["matrices"], pipeline = _split_list(items, source, "matrices", pipeline)
        return body, pipeline
    if isinstance(data, (list, tuple)):
        return _split_list(data, source, "", None)
    hint = " (no file of that name exists)" if isinstance(data, str) else ""
    _fail(source, "", f"expected a mapping or a list of matrix specs, got {_kind(data)}{hint}")


def _split_list(items: Any, source: str, name: str,
                pipeline: str | None) -> tuple[list, str | None]:
    # Entries of a spec list may each carry `pipeline:`; they must agree
    # because one params file drives one pipeline.
    first, out = "the top level", []
    for i, item in enumerate(items):
        if isinstance(item, Mapping):
            item = dict(item)
            value = _pop_pipeline(item, source, f"{name}[{i}]")
            if value is not None and pipeline is None:
                pipeline, first = value, f"{name}[{i}]"
            elif value is not None and value != pipeline:
                _fail(source, f"{name}[{i}]", f"pipeline {value!r} disagrees with {pipeline!r} "
                      f"from {first}; one params file runs one pipeline")
        out.append(item)
    return out, pipeline


def _is_file(text: str) -> bool:
    if "\n" in text:
        return False  # a multi-line string is always YAML/JSON text
    try:
        return Path(text).is_file()
    except (OSError, ValueError):
        return False  # e.g. longer than a file name may be: it is text


def load_params(spec: str | os.PathLike | Mapping | list, *,
                source: str | None = None) -> ParamsSpec:
    """Parse YAML/JSON text, a params file or a Python object into a :class:`ParamsSpec`.

    >>> spec = load_params("pipeline: demo\\na.x: [1, 2]")
    >>> spec.body, spec.pipeline, spec.source
    ({'a.x': [1, 2]}, 'demo', '--params')
    """
    if isinstance(spec, ParamsSpec):
        return spec if source is None else dataclasses.replace(spec, source=source)
    base_dir = Path.cwd()
    if isinstance(spec, (Mapping, list, tuple)):
        source, data = source or "params", spec
    elif isinstance(spec, os.PathLike) or (isinstance(spec, str) and _is_file(spec)):
        path = Path(os.fspath(spec))
        source = source or str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            _fail(source, "", "params file not found")
        except (OSError, UnicodeDecodeError) as exc:
            _fail(source, "", f"cannot read the params file: {exc}")
        data, base_dir = _parse_text(text, source), Path(os.path.abspath(path)).parent
    elif isinstance(spec, str):
        source = source or "--params"
        data = _parse_text(spec, source)
    else:
        _fail(source or "params", "", "expected YAML/JSON text, a file path, a mapping or a list, "
                                      f"got {_kind(spec)}")
    slurm = None
    if isinstance(data, Mapping) and "slurm_options" in data:
        data = dict(data)
        slurm = data.pop("slurm_options")
        if slurm is not None and not isinstance(slurm, Mapping):
            _fail(source, "", f"'slurm_options' must be a mapping such as {{cpus: 4, mem: 8GB}}, got {_kind(slurm)}")
    body, pipeline = _split_pipeline(data, source)
    return ParamsSpec(body=body, pipeline=pipeline, source=source, base_dir=base_dir, slurm_options=slurm)


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


def _fmt(n: int) -> str:
    return f"{n:,}"


def _prod(sizes: Iterator[int] | list[int]) -> int:
    return math.prod(sizes)


#: Default for ``grid_limit``: the most rows one expansion may produce.
DEFAULT_GRID_LIMIT = 1_000_000
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
