"""KWDagger 0.4's public names on trackdag: a pipeline file ports by changing its import lines.

=====================================================  =====================================================
in a KWDagger pipeline                                 after the port
=====================================================  =====================================================
``import kwdagger`` / ``from kwdagger import X``       ``import trackdag as kwdagger`` / ``from trackdag import X``
                                                       (``ProcessNode``, ``Pipeline``, ``GatherSpec``)
``from kwdagger.aggregate_loader import ...``          ``from trackdag.compat.kwdagger.aggregate_loader import ...``
``from kwdagger.utils import util_dotdict``            ``from trackdag.compat.kwdagger.utils import util_dotdict``
``from kwdagger.pipeline import ...``                  ``from trackdag.compat.kwdagger.pipeline import ...``
``from kwdagger.yaml_pipeline import ...``             ``from trackdag.compat.kwdagger.yaml_pipeline import ...``
``kwdagger.demo.demodata``                             ``trackdag.compat.kwdagger.demo.demodata``
=====================================================  =====================================================

This package itself also offers the top-level names, so ``import
trackdag.compat.kwdagger as kwdagger`` works as well.  The implementations
are trackdag's own, written from KWDagger's documented behaviour.

Example:
    >>> from trackdag.compat.kwdagger import ProcessNode, Pipeline, GatherSpec
    >>> import trackdag
    >>> ProcessNode is trackdag.ProcessNode
    True
"""
from __future__ import annotations

from typing import Any

# Imported lazily (as trackdag's own names are), so that `trackdag --help`, which
# registers this package's commands, stays fast.
_EXPORTS = {"ProcessNode": "trackdag.node", "Pipeline": "trackdag.pipeline", "GatherSpec": "trackdag.gather",
            "load_yaml_pipeline": "trackdag.compat.kwdagger.yaml_pipeline",
            "dump_yaml_pipeline": "trackdag.compat.kwdagger.yaml_pipeline"}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'trackdag.compat.kwdagger' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
