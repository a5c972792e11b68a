"""Results: turn a done job's outputs into one flat result row.

A node's ``load_result(job_dpath)`` (``job_dpath`` a :class:`pathlib.Path`)
returns a flat dict whose keys start with ``metrics.``, ``resolved_params.``,
``resources.``, ``machine.`` or ``context.`` (or KWDagger's ``params.``,
``specified.``, ``job_config.``; convention: ``metrics.<node>.<name>``) and
whose values are scalars (lists and mappings are kept as JSON text).  A node without ``load_result`` gets the numeric leaves of its
primary output when that is a JSON file (``{"a": {"b": 1}}`` ->
``metrics.<node>.a.b = 1``).

This runs where the job ran (in the Ray worker or the local thread), right
after the job succeeded.  The row is saved as ``.result.json`` in the job
folder, so the catalog can be rebuilt without running user code again.  A
``load_result`` that raises or returns junk makes the result *broken* (with
the error text); the job itself stays done.  Returning None means "no
result" (the job's ``result_status`` is 'none').

Example:
    >>> flatten_numeric({"acc": 0.5, "sub": {"n": 3, "name": "x"}, "ok": True}, "metrics.ev")
    {'metrics.ev.acc': 0.5, 'metrics.ev.sub.n': 3}
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Callable, Mapping

from .jsontext import indented
from .layout import atomic_write, read_record

#: the job's result record in its folder; a dot-name, so that an output may be called ``result.json``
#: (KWDagger's own test pipelines and many users' name theirs so)
RESULT_JSON = ".result.json"
#: where trackdag 0.1 roots written before the rename keep it (read when the new file is absent)
LEGACY_RESULT_JSON = "result.json"
_RECORD_KEYS = {"job_id", "node", "result", "error"}
PREFIXES = ("metrics.", "resolved_params.", "resources.", "machine.", "context.",
            "params.", "specified.", "job_config.")  # (the last three: KWDagger's too)


def flatten_numeric(data: Any, prefix: str) -> dict[str, float | int]:
    """Numeric (non-bool, finite) leaves of nested dicts, keyed by dotted path."""
    out: dict[str, float | int] = {}
    if isinstance(data, Mapping):
        for key, value in data.items():
            out.update(flatten_numeric(value, f"{prefix}.{key}"))
    elif isinstance(data, (int, float)) and not isinstance(data, bool) and math.isfinite(data):
        out[prefix] = data
    return out


def flatten_nested(data: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> dict[str, Any]:
    """Nested mappings as dotted keys, in KWDagger's order: plain values first, then nested mappings, last first.

    >>> list(flatten_nested({'a': 1, 'b': {'c': 2}, 'd': 3, 'e': {'f': 4}}))
    ['a', 'd', 'e.f', 'b.c']
    """
    out: dict[str, Any] = {}
    stack: list[tuple[tuple[str, ...], Mapping[str, Any]]] = [(prefix, data)]
    while stack:
        path, current = stack.pop()
        for key, value in current.items():
            here = (*path, str(key))
            if isinstance(value, Mapping):
                stack.append((here, value))
            else:
                out[".".join(here)] = value
    return out


class ResultSpec:
    """A result read from the primary output's JSON, as KWDagger's YAML ``result:`` field says.

    ``metrics``: the dotted path of the metrics mapping in the JSON (default
    ``result.metrics``); ``info``: the dotted path of a list of kwutil
    process-context records (default ``info``; None skips it), whose last item
    gives the ``context``, ``resolved_params``, ``resources`` and ``machine``
    sections.  Keys are ``<section>.<node>.<name>``.  A plain object (not a
    closure), so it travels to Ray workers.

    >>> import json, tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp()); _ = (d / 'm.json').write_text(json.dumps({'result': {'metrics': {'acc': 1}}}))
    >>> ResultSpec('ev', 'm.json')(d)
    {'metrics.ev.acc': 1}
    """

    def __init__(self, node: str, primary: str, metrics: str = "result.metrics", info: "str | None" = "info") -> None:
        self.node, self.primary, self.metrics, self.info = node, primary, metrics, info

    @staticmethod
    def _at(data: Any, path: str) -> Any:
        for part in path.split(".") if path else ():
            if not isinstance(data, Mapping) or part not in data:
                return None
            data = data[part]
        return data

    def __call__(self, job_dpath: Any) -> dict[str, Any]:
        from .process_context import new_process_context_parser

        data = json.loads((Path(job_dpath) / self.primary).read_text(encoding="utf-8"))
        nested: dict[str, Any] = {}
        info = self._at(data, self.info) if self.info else None
        if isinstance(info, list) and info and isinstance(info[-1], Mapping):
            nested.update(new_process_context_parser(info[-1]))
        metrics = self._at(data, self.metrics)
        if metrics is None:
            raise ValueError(f"{self.primary} has no {self.metrics!r} mapping")
        nested["metrics"] = metrics
        return {f"{section}.{self.node}.{rest}" if "." in key else f"{key}.{self.node}": value
                for key, value in flatten_nested(nested).items()
                for section, _, rest in [key.partition(".")]}


def default_result(node: str, primary_output: str | None) -> dict[str, Any] | None:
    """Numeric leaves of the primary output when it is JSON; None when there is nothing to read."""
    if not primary_output or not primary_output.endswith(".json") or not os.path.isfile(primary_output):
        return None
    try:
        with open(primary_output, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return None
    return flatten_numeric(data, f"metrics.{node}") or None


def _plain(value: Any) -> Any:
    """A result value as a scalar: numpy numbers and paths as Python ones, lists and mappings as JSON text.

    Raises TypeError for what has no such form.
    """
    if value is None or isinstance(value, (str, bool, int, float)):
        return None if isinstance(value, float) and not math.isfinite(value) else value  # NaN/inf: missing
    if hasattr(value, "item") and callable(value.item) and not isinstance(value, (list, tuple, dict)):
        return _plain(value.item())  # numpy / pandas scalars
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (list, tuple, Mapping)):
        return json.dumps(value, ensure_ascii=False, sort_keys=False, default=str)
    raise TypeError(type(value).__name__)


def _check_row(row: Any) -> tuple[dict[str, Any] | None, str | None]:
    """(the row with plain values, None), or (None, why a load_result return value is junk)."""
    if not isinstance(row, Mapping):
        return None, f"load_result returned {type(row).__name__}, expected a flat dict"
    out = {}
    for key, value in row.items():
        if not isinstance(key, str) or not key.startswith(PREFIXES):
            return None, f"load_result key {key!r} must start with one of {', '.join(PREFIXES)}"
        try:
            out[key] = _plain(value)
        except TypeError as exc:
            return None, (f"load_result value of {key!r} is {exc}; values must be numbers, strings, booleans, null, "
                          "or lists and mappings of those (kept as JSON text)")
    return out, None


def collect_result(node: str, load_result: Callable[[Any], Any] | None, primary_output: str | None,
                   job_dpath: str) -> tuple[dict[str, Any] | None, str | None]:
    """(row, error): the job's result row, or why it is broken.  Never raises.

    ``load_result`` receives the job folder as a :class:`pathlib.Path` (as
    KWDagger passes it: ``node_dpath / 'out.json'`` works).
    """
    if load_result is None:
        return default_result(node, primary_output), None
    try:
        row = load_result(Path(job_dpath))
    except Exception as exc:  # user code: any failure is data, not a crash
        return None, f"load_result raised {type(exc).__name__}: {exc}"
    if row is None:  # "nothing to report" (like a node without load_result), not junk
        return None, None
    return _check_row(row)


def write_result_json(folder: str, job_id: str, node: str, row: Mapping[str, Any] | None, error: str | None) -> None:
    """Save the row (or the error) next to the job's outputs."""
    record = {"job_id": job_id, "node": node, "result": dict(row) if row is not None else None, "error": error}
    atomic_write(os.path.join(folder, RESULT_JSON), indented(record, ensure_ascii=False) + "\n")


def read_result_json(folder: str) -> dict[str, Any] | None:
    """The saved record of a job folder, or None.

    A folder an older trackdag wrote holds it as ``result.json``; that file
    is taken only when it is such a record (exactly its four keys), never a
    user's output of that name.
    """
    record = read_record(folder, RESULT_JSON)
    if record is None:
        legacy = read_record(folder, LEGACY_RESULT_JSON)
        if isinstance(legacy, dict) and set(legacy) == _RECORD_KEYS:
            return legacy
    return record


def typed(value: Any) -> tuple[float | None, str | None]:
    """A result value as (number, text) columns: bools are 1/0 with text 'true'/'false'."""
    if isinstance(value, bool):
        return float(value), "true" if value else "false"
    if isinstance(value, (int, float)):
        return float(value), None
    if value is None:
        return None, None
    return None, str(value)
