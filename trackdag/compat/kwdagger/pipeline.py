"""``kwdagger.pipeline``: the pipeline names KWDagger pipelines import from it.

Example:
    >>> coerce_pipeline is load_pipeline
    True
"""
from ...gather import GatherSpec
from ...node import ProcessNode
from ...pipeline import Pipeline, load_pipeline

#: KWDagger's name for finding a pipeline from a reference ('pkg.mod.f()', 'file.py::f()', 'x.yaml', a Pipeline)
coerce_pipeline = load_pipeline

__all__ = ["ProcessNode", "Pipeline", "GatherSpec", "coerce_pipeline", "load_pipeline"]
