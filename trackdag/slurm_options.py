"""KWDagger's Slurm options in a trackdag sweep: the ones with a resource meaning become resources.

trackdag runs jobs on Ray or locally, not under Slurm, but a ported sweep
must not fail on its Slurm options.  They can come from a node's
``slurm_options`` attribute, a top-level ``slurm_options:`` key of the
params, a ``__slurm_options__`` key in the matrix (every node of the row) or
a ``<node>.__slurm_options__`` key (one node), least to most specific, merged
key by key as KWDagger does.  Of the result:

- ``cpus`` (or ``cpus_per_task``) -> ``num_cpus``;
- ``gpus`` (or ``gpus_per_task``, or ``gres: gpu:N`` / ``gpu:type:N``) -> ``num_gpus``;
- ``mem`` (Slurm's units: ``8000`` is MB, ``8G`` / ``8GB`` / ``512M`` / ``1T``) -> ``memory`` in bytes;

a node's own ``resources`` win over these; everything else (partition,
time, account, qos, ...) has no meaning here and is ignored, said once per
run in a note.

Example:
    >>> to_resources({'cpus': 4, 'gres': 'gpu:1', 'mem': '8GB', 'time': '00:10:00'})
    ({'num_cpus': 4.0, 'num_gpus': 1.0, 'memory': 8589934592}, ['time'])
"""
from __future__ import annotations

import re
from typing import Any, Mapping

_UNITS = {"": 1 << 20, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_MEM = re.compile(r"^\s*([0-9.]+)\s*([KMGT]?)B?\s*$", re.I)
_GRES = re.compile(r"^gpu(?::[^:,]+)?:(\d+)$")


def memory_bytes(value: Any) -> int | None:
    """Slurm's ``--mem`` value in bytes (a bare number is MB), or None when it cannot be read.

    >>> memory_bytes(8000), memory_bytes('512M'), memory_bytes('2G')
    (8388608000, 536870912, 2147483648)
    """
    found = _MEM.match(str(value))
    if not found:
        return None
    return int(float(found.group(1)) * _UNITS[found.group(2).upper()])


def to_resources(options: Mapping[str, Any] | None) -> tuple[dict[str, Any], list[str]]:
    """(trackdag resources, the option names that have no meaning here) of merged Slurm options."""
    resources: dict[str, Any] = {}
    ignored: list[str] = []
    for key, value in (options or {}).items():
        if key in ("cpus", "cpus_per_task") and value is not None:
            resources["num_cpus"] = float(value)
        elif key in ("gpus", "gpus_per_task") and value is not None:
            resources["num_gpus"] = float(str(value).rsplit(":", 1)[-1])
        elif key == "gres" and isinstance(value, str) and _GRES.match(value.strip()):
            resources.setdefault("num_gpus", float(_GRES.match(value.strip()).group(1)))  # type: ignore[union-attr]
        elif key == "mem" and memory_bytes(value) is not None:
            resources["memory"] = memory_bytes(value)
        else:
            ignored.append(key)
    return resources, ignored


def merge(*layers: Mapping[str, Any] | None) -> dict[str, Any]:
    """Layers of Slurm options, least specific first, merged key by key."""
    out: dict[str, Any] = {}
    for layer in layers:
        if isinstance(layer, Mapping):
            out.update(layer)
    return out


__all__ = ["to_resources", "memory_bytes", "merge"]
