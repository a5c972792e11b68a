"""``kwdagger.yaml_pipeline``: declarative pipelines (trackdag reads KWDagger's YAML format itself).

:func:`load_yaml_pipeline` takes a mapping, YAML/JSON text or a file path,
as KWDagger's does; :func:`dump_yaml_pipeline` writes a pipeline back as
that mapping.  The fields are listed in :mod:`trackdag.pipeline_yaml`.

Example:
    >>> p = load_yaml_pipeline({'nodes': {'a': {'executable': 'echo', 'out_paths': {'o': 'o.txt'}}}})
    >>> dump_yaml_pipeline(p)['nodes']['a']['executable']
    'echo'
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

from ...node import NO_DEFAULT
from ...pipeline import Pipeline
from ...pipeline_yaml import load_yaml_pipeline as _load_file, pipeline_from_dict


def load_yaml_pipeline(spec: Any, root_dpath: Any = None) -> Pipeline:
    """A pipeline from a mapping, YAML/JSON text or a path (``root_dpath`` is KWDagger's; --root decides here)."""
    if isinstance(spec, Mapping):
        return pipeline_from_dict(spec, source="pipeline")
    if isinstance(spec, os.PathLike) or (isinstance(spec, str) and "\n" not in spec and Path(spec).is_file()):
        return _load_file(spec)
    from ... import yaml12

    return pipeline_from_dict(yaml12.load(str(spec)), source="pipeline")


def _values(group: Mapping[str, Any]) -> Any:
    if all(v is NO_DEFAULT for v in group.values()):
        return sorted(group)
    return {k: (None if v is NO_DEFAULT else v) for k, v in group.items()}


def dump_yaml_pipeline(dag: Pipeline) -> dict[str, Any]:
    """The pipeline as KWDagger's YAML mapping: ``{'nodes': {...}, 'edges': ['a.x -> b.y', ...]}``."""
    nodes: dict[str, Any] = {}
    edges: list[Any] = []
    for name in dag.order:
        node = dag.nodes[name]
        spec: dict[str, Any] = {"executable": node.executable}
        for field, group in (("in_paths", node.in_paths), ("algo_params", node.algo_params),
                             ("perf_params", node.perf_params)):
            if group:
                spec[field] = _values(group)
        if node.out_paths:
            spec["out_paths"] = dict(node.out_paths)
        if node.primary_out_key:
            spec["primary_out_key"] = node.primary_out_key
        if node.slurm_options:
            spec["slurm_options"] = dict(node.slurm_options)
        if node.metric_specs():
            spec["metrics"] = node.metric_specs()
        if node.vantage_points():
            spec["vantage_points"] = node.vantage_points()
        nodes[name] = spec
        for src, dst in node._connections:
            edge = f"{src.key} -> {dst.key}"
            edges.append({"src": src.key, "dst": dst.key, "gather": dst.gather.to_dict()} if dst.gather else edge)
    return {"nodes": nodes, "edges": edges}


__all__ = ["load_yaml_pipeline", "dump_yaml_pipeline"]
