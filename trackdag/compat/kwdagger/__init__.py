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

from ...gather import GatherSpec
from ...node import ProcessNode
from ...pipeline import Pipeline
from .yaml_pipeline import dump_yaml_pipeline, load_yaml_pipeline

__all__ = ["ProcessNode", "Pipeline", "GatherSpec", "load_yaml_pipeline", "dump_yaml_pipeline"]
