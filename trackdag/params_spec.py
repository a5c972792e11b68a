"""Load a ``--params`` spec: YAML/JSON text, a file or a Python object -> :class:`ParamsSpec`.

Parsing only: the text becomes data (JSON first, else YAML 1.2 through
:mod:`trackdag.yaml12`, long JSON-style lists through :mod:`trackdag.yaml_fast`
with the same result; a syntax error is one line with its line number),
and the top-level keys that are not part of the grid are split off: a
``pipeline:`` reference (which the entries of a spec list must agree on)
and KWDagger's ``slurm_options:`` mapping.  The grid itself is validated
and expanded by :mod:`trackdag.matrix`.

Example:
    >>> spec = load_params({"pipeline": "demo", "slurm_options": {"cpus": 2}, "a.x": [1, 2]})
    >>> spec.body, spec.pipeline, spec.slurm_options
    ({'a.x': [1, 2]}, 'demo', {'cpus': 2})
"""
from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import yaml

from . import yaml_fast
from .errors import ParamsError

__all__ = ["ParamsSpec", "load_params"]


@dataclass(frozen=True)
class ParamsSpec:
    """A parsed params spec, ready for :func:`trackdag.matrix.expand`.

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
        return yaml_fast.load(text)  # yaml12.load, faster on long JSON-style lists
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
