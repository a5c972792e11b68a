"""A KWDagger result tree as it lies on disk: its job folders and what each one says.

A job folder is ``<DIR>[/<group>]/<node>/<node>_id_<12>/``: :func:`job_folders`
finds them, :func:`read_folder` reads ``job_config.json``, ``invoke.sh``
(:func:`parse_invoke`: the command and its ``--key=value`` arguments) and the
parent links (``.pred/``, ``__input__`` / ``__gather__`` records), and
:func:`launch_dir` works out the folder KWDagger ran in.  :func:`match_numbers`
types a number as the command line (or an ancestor) spelled it, since jq
wrote ``1.0`` as ``1``; :func:`job_id_of` is a KWDagger job's trackdag id.
Only read here; :mod:`trackdag.compat.kwdagger.importer` writes the catalog.

Example:
    >>> job_id_of('toy_predict', 'toy_predict_id_l5tyz1lxtfsq')[:12]
    '37c3a6e09da6'
    >>> match_numbers({'a': 1, 'b': [2, 'x'], 'c': 3}, {'a': '1.0', 'b': ['2.0', 'x'], 'c': '3'})
    {'a': 1.0, 'b': [2.0, 'x'], 'c': 3}
"""
from __future__ import annotations

import functools
import json
import os
import re
import shlex
from dataclasses import dataclass, field
from typing import Any

__all__ = ["FOLDER", "SCHEDULE_DIR", "CONFIG", "INVOKE", "Folder", "job_id_of", "match_numbers", "parse_invoke",
           "job_folders", "read_folder", "launch_dir"]

FOLDER = re.compile(r"^(?P<node>.+)_id_(?P<short>[0-9a-z]{12})$")
SCHEDULE_DIR = "_kwdagger_schedule"
CONFIG, INVOKE = "job_config.json", "invoke.sh"
_INT = re.compile(r"[-+]?\d+")
_FLOAT = re.compile(r"[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?|[-+]?(inf|nan)")


@functools.lru_cache(maxsize=None)
def job_id_of(node: str, process_id: str) -> str:
    """The trackdag job id of a KWDagger job: a digest of its node and process id."""
    from ...ids import digest

    return digest({"kwdagger": {"node": node, "process_id": process_id}})


def match_numbers(value: Any, other: Any) -> Any:
    """``value`` (from ``job_config.json``) with each number typed as ``other`` has it, where they are equal.

    ``other``: a command-line word (``'1.0'``), a list of them, YAML text (a
    mapping), or an ancestor job's value; what does not match is left alone.
    """
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        if isinstance(other, str):
            other = int(other) if _INT.fullmatch(other) else (float(other) if _FLOAT.fullmatch(other) else None)
        if isinstance(other, (int, float)) and not isinstance(other, bool) and float(other) == float(value):
            return other
        return value
    if isinstance(value, dict) and isinstance(other, str):  # a mapping is YAML on KWDagger's command line
        from ... import yaml12

        try:
            other = yaml12.load(other)
        except Exception:  # not YAML after all
            return value
    if isinstance(value, list) and isinstance(other, list) and len(value) == len(other):
        return [match_numbers(v, o) for v, o in zip(value, other)]
    if isinstance(value, dict) and isinstance(other, dict) and value.keys() == other.keys():
        return {k: match_numbers(v, other[k]) for k, v in value.items()}
    return value


def parse_invoke(text: str) -> tuple[str, dict[str, Any]]:
    """(the command without comments and the ``test -e`` guard, its ``--key=value`` arguments).

    >>> parse_invoke('test -e o.json || \\\\\\npython p.py \\\\\\n  --a=1.0 \\\\\\n  --b \\\\\\n  x')[1]
    {'a': '1.0', 'b': ['x']}
    """
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if lines and lines[0].startswith("test -e ") and lines[0].rstrip().endswith("|| \\"):
        lines = lines[1:]
    args: dict[str, Any] = {}
    listed: list[str] | None = None  # a list is `--key \` and then one value per line
    for line in lines:  # KWDagger writes one shell-quoted `--key=value \` per line (shlex only when quoted)
        text = line.strip().removesuffix("\\").rstrip()
        try:
            words = shlex.split(text) if any(c in text for c in "'\"\\") else text.split()
        except ValueError:
            words = [text]
        for word in words:
            if word.startswith("--") and len(word) > 2:
                key, eq, value = word[2:].partition("=")
                args[key] = value if eq else []
                listed = None if eq else args[key]
            elif listed is not None:
                listed.append(word)
    return "\n".join(lines), args


# -- reading the tree -----------------------------------------------------------------------------
@dataclass
class Folder:
    """What one KWDagger job folder says (``problem``: why it cannot be imported)."""

    path: str
    node: str
    short: str
    config: dict[str, Any] | None = None
    command: str = ""
    args: dict[str, Any] = field(default_factory=dict)
    parents: list[str] = field(default_factory=list)  # process ids
    problem: str | None = None

    @property
    def name(self) -> str:
        return f"{self.node}_id_{self.short}"

    @property
    def job_id(self) -> str:
        return job_id_of(self.node, self.name)


def job_folders(tree: str, max_depth: int = 4) -> list[Folder]:
    """Every ``[<group>/]<node>/<node>_id_<12>`` folder under ``tree`` (a real path), read, sorted."""
    found: list[Folder] = []

    def walk(path: str, depth: int) -> None:
        try:
            entries = sorted((e for e in os.scandir(path) if e.is_dir(follow_symlinks=False)), key=lambda e: e.name)
        except OSError:
            return
        for entry in entries:
            m = FOLDER.match(entry.name)
            if entry.name.startswith(".") or entry.name == SCHEDULE_DIR:
                continue
            if m and m["node"] == os.path.basename(path):
                folder = read_folder(Folder(entry.path, m["node"], m["short"]))
                if folder.problem != "empty":
                    found.append(folder)
            elif depth < max_depth:
                walk(entry.path, depth + 1)

    walk(tree, 0)
    return found


def read_folder(f: Folder) -> Folder:
    """Fill ``f`` from ``job_config.json``, ``invoke.sh`` and ``.pred/``."""
    path = os.path.join(f.path, CONFIG)
    try:
        with open(path, encoding="utf-8") as fh:
            f.config = json.load(fh)
        if not isinstance(f.config, dict):
            f.problem, f.config = f"{path} holds {type(f.config).__name__}, not a JSON object", None
    except FileNotFoundError:
        f.problem = f"{path} is missing" if os.path.exists(os.path.join(f.path, INVOKE)) else "empty"
    except (OSError, ValueError) as exc:
        f.problem = f"{path} is not readable JSON ({' '.join(str(exc).split())[:120]})"
    if f.problem and f.problem != "empty":
        f.problem += "; restore it (or remove the folder) and import again"
    try:
        with open(os.path.join(f.path, INVOKE), encoding="utf-8", errors="replace") as fh:
            f.command, f.args = parse_invoke(fh.read())
    except OSError:
        pass
    parents: dict[str, None] = {}
    pred = os.path.join(f.path, ".pred")
    for node in sorted(os.listdir(pred)) if os.path.isdir(pred) else []:
        try:
            parents.update((n, None) for n in sorted(os.listdir(os.path.join(pred, node))))
        except OSError:
            continue
    for key, record in (f.config or {}).items():  # the same as provenance (a tree written without links)
        if key.startswith("__input__.") and "." not in key[10:]:
            for rec in record if isinstance(record, list) else [record]:
                if isinstance(rec, dict) and rec.get("source_kind") == "output" and rec.get("source_process_id"):
                    parents[str(rec["source_process_id"])] = None
        elif key.startswith("__gather__.") and "." not in key[11:] and isinstance(record, dict):
            parents.update((str(m["process_id"]), None) for m in record.get("members") or ()
                           if isinstance(m, dict) and m.get("process_id"))
    f.parents = [p for p in parents if FOLDER.match(p)]
    return f


def launch_dir(tree: str, folders: list[Folder], pipeline: Any) -> str:
    """The folder KWDagger ran in (its relative paths start there), read off a job's output argument.

    ``--dst_fpath=results/predict/predict_id_x/out.json`` for the folder
    ``<tree>/predict/predict_id_x`` says the root was spelled ``results``: the
    launch folder is ``tree`` without that tail.  Else the tree's parent.
    """
    for f in folders[:50]:
        for key, rel in pipeline.nodes[f.node].out_paths.items():
            spelled = f.args.get(key)
            if not isinstance(spelled, str) or rel in (".", "./"):
                continue
            tail = os.path.normpath(os.path.join(os.path.relpath(f.path, tree), rel))
            spelled = os.path.normpath(spelled)
            if spelled == tail:
                return tree  # KWDagger ran in the root itself
            prefix = spelled[:-len(tail) - 1] if spelled.endswith(os.sep + tail) else ""
            if prefix and not os.path.isabs(prefix) and tree.endswith(os.sep + prefix):
                return tree[:len(tree) - len(prefix)].rstrip(os.sep) or os.sep
    return os.path.dirname(tree)
