"""trackdag: run a pipeline of shell commands over a parameter grid, record everything in DuckDB.

The KWDagger vocabulary (``ProcessNode``, ``Pipeline``, the parameter matrix)
on a real database, with honest run states.

Example:
    >>> import trackdag
    >>> rows = trackdag.expand_matrix({'matrix': {'a.x': [1, 2]}})
    >>> rows
    [{'a.x': 1}, {'a.x': 2}]
"""
from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

# Light names are imported lazily too, so `import trackdag` (and so
# `trackdag --help`) stays fast and never pulls in duckdb, ray or altair.
_EXPORTS = {
    "ProcessNode": "trackdag.node",
    "Pipeline": "trackdag.pipeline",
    "GatherSpec": "trackdag.gather",
    "load_pipeline": "trackdag.pipeline",
    "expand_matrix": "trackdag.matrix",
    "load_params": "trackdag.matrix",
    "Job": "trackdag.plan",
    "Plan": "trackdag.plan",
    "run": "trackdag.sweep",
    "dry_run": "trackdag.sweep",
    "prepare": "trackdag.sweep",
    "Catalog": "trackdag.catalog",
    "TrackdagError": "trackdag.errors",
    "open_catalog": "trackdag.api",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'trackdag' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
