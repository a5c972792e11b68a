"""Expand a ``--params`` file into rows: one dict of ``<node>.<param>`` values per run.

The grammar is KWDagger's (GitHub-Actions ``matrix`` / ``include`` /
``exclude`` plus KWDagger's ``submatrices``) with its rough edges fixed: a
top-level list of specs works, identical rows collapse to one, a later
submatrix group can key on a parameter added by an earlier group, and every
mistake is a one-line :class:`~trackdag.errors.ParamsError` that names the
file and the key at fault.  ``schema/params.schema.json`` documents the
grammar for editors.

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
from typing import Any, Iterator, NoReturn

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

    body: Any  #: the parsed spec with the top-level ``pipeline`` key removed
    pipeline: str | None  #: value of a top-level ``pipeline:`` key, if any
    source: str  #: for messages: the file path, ``--params`` for text, ``params`` for objects
    base_dir: Path  #: where relative ``__include__`` paths resolve


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


def _pop_pipeline(mapping: dict, source: str, where: str) -> str | None:
    value = mapping.pop("pipeline", None)
    if value is not None and not isinstance(value, str):
        _fail(source, where, f"'pipeline' must be a string naming the pipeline, "
                             f"got {_kind(value)}")
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
    body, pipeline = _split_pipeline(data, source)
    return ParamsSpec(body=body, pipeline=pipeline, source=source, base_dir=base_dir)


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


class _Expander:
    """Expands the specs of one :class:`ParamsSpec` and remembers why a grid came out empty."""

    def __init__(self, spec: ParamsSpec) -> None:
        self.source, self.base_dir = spec.source, spec.base_dir
        self.files: dict[Path, Any] = {}  # each __include__ file is read once
        self.empty_axes: list[str] = []
        self.any_param = self.all_excluded = False
        self.mutable = False  # did a list/dict value enter any row? (then rows need _fresh)

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

    def check_value(self, value: Any, where: str, label: str) -> None:
        """Reject what cannot be part of a job id (dates, NaN, non-string keys)."""
        if value is None or isinstance(value, (str, bool, int)):
            return
        self.mutable = self.mutable or isinstance(value, (list, tuple, Mapping))
        if isinstance(value, float):
            if not math.isfinite(value):
                self.fail(where, f"{label}: {value!r} cannot be part of a job id; "
                          "write it as a string such as 'nan'")
        elif isinstance(value, (list, tuple)):
            for item in value:
                self.check_value(item, where, label)
        elif isinstance(value, Mapping):
            self.check_keys(value, where, label)
            for item in value.values():
                self.check_value(item, where, label)
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
        return [dict(entry) for entry in value]

    def axis(self, value: Any, where: str, key: str) -> list:
        """The values one key takes: scalars and mappings are one value, a list is an axis."""
        out: list = []
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(item, Mapping) and set(item) == {"__include__"}:
                out.extend(self.include_file(item["__include__"], where, key))
            else:
                self.check_value(item, where, repr(key))
                out.append(item)
        return out

    def include_file(self, ref: Any, where: str, key: str) -> list:
        out: list = []
        for name in ref if isinstance(ref, (list, tuple)) else [ref]:
            if not isinstance(name, (str, os.PathLike)):
                self.fail(where, f"{key!r}: __include__ expects a file path or a list of paths, "
                          f"got {_kind(name)}")
            path = self.base_dir / Path(name).expanduser()
            if path not in self.files:
                if not path.is_file():
                    self.fail(where, f"{key!r}: __include__ file {os.fspath(name)!r} not found "
                              f"(looked for {path})")
                self.files[path] = _parse_text(path.read_text(encoding="utf-8"), str(path))
            # A list in the file is spliced into the axis; anything else is one value.
            values = self.files[path] if isinstance(self.files[path], list) else [self.files[path]]
            for value in values:
                self.check_value(value, where, f"{key!r} (from {path.name})")
            out.extend(values)
        return out

    def product(self, mapping: Mapping, where: str, empty: list | None = None) -> list[dict]:
        """Cartesian product of ``mapping``'s axes in written order, last axis fastest.

        Keys whose axis has no values are appended to ``empty``.
        """
        axes = {k: self.axis(v, where, k) for k, v in mapping.items()}
        if empty is not None:
            empty += [k for k, values in axes.items() if not values]
        return [dict(zip(axes, combo)) for combo in itertools.product(*axes.values())]

    def expand_spec(self, spec: dict, where: str) -> list[dict]:
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

        # No matrix keys: the product is one empty row that submatrices can fill.
        rows = self.product(matrix, where, self.empty_axes)
        for key in GROUP_KEYS:  # (an empty axis in a submatrix entry just yields no patch)
            patches = [p for entry in parts[key] for p in self.product(entry, where)]
            rows = _apply_patches(rows, patches) if patches else rows
        rows = [row for row in rows if row]  # the empty start row, if nothing filled it
        self.any_param |= bool(matrix) or bool(rows) or bool(parts["include"])

        # include (GitHub semantics): only the original matrix keys must agree.
        include, original = parts["include"], set(matrix)
        used = [False] * len(include)
        for row in rows:
            for i, entry in enumerate(include):
                if _agrees(row, entry, original):
                    row.update(entry)
                    used[i] = True
        if parts["exclude"]:
            kept = [row for row in rows if not any(_contains(row, e) for e in parts["exclude"])]
            self.all_excluded |= bool(rows) and not kept
            rows = kept
        # An include entry that matched no row is a row of its own, never excluded.
        return rows + [dict(entry) for entry, hit in zip(include, used) if not hit]

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


def expand(spec: ParamsSpec, *, max_configs: int | None = None) -> list[dict[str, Any]]:
    """Expand a :class:`ParamsSpec` into de-duplicated rows, in order.

    >>> expand(load_params({"a.x": [1, 2, 1], "a.y": ["p", "q"]}), max_configs=3)
    [{'a.x': 1, 'a.y': 'p'}, {'a.x': 1, 'a.y': 'q'}, {'a.x': 2, 'a.y': 'p'}]
    """
    if max_configs is not None and (isinstance(max_configs, bool)
                                    or not isinstance(max_configs, int) or max_configs < 1):
        _fail(spec.source, "", f"max_configs must be a positive integer, got {max_configs!r}")
    expander = _Expander(spec)
    unique: dict[str, dict] = {}
    for where, item in list(expander.specs(spec.body)):  # list(): report key errors first
        for row in expander.expand_spec(item, where):
            unique.setdefault(canonical_json(row), row)  # the first occurrence wins
    if not unique:
        _fail(spec.source, "", expander.empty_message())
    rows = list(unique.values())[:max_configs]
    # Every row is its own dict already; only shared list/dict values need copies.
    return [_fresh(row) for row in rows] if expander.mutable else rows


def expand_matrix(spec: str | os.PathLike | Mapping | list | ParamsSpec, *,
                  max_configs: int | None = None) -> list[dict[str, Any]]:
    """Shorthand for ``expand(load_params(spec), max_configs=max_configs)``.

    >>> expand_matrix("[{matrix: {a.x: [1, 2]}}, {a.x: 3, a.y: only_here}]")
    [{'a.x': 1}, {'a.x': 2}, {'a.x': 3, 'a.y': 'only_here'}]
    """
    return expand(load_params(spec), max_configs=max_configs)
