"""What the planners need of each node, worked out once per plan (see :mod:`trackdag.plan`).

A :class:`_NodeInfo` holds a node's defaults, its keys by kind, its
connections and its ancestry, so that planning a row looks nothing up in
the pipeline.  Both planners use it: the row-by-row one in
:mod:`trackdag.plan` and the column-wise one in :mod:`trackdag.plan_columns`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Iterable

from .commands import absolute_programs
from .fragments import Fragments
from .job import _JobShape
from .node import NO_DEFAULT
from .pipeline import Pipeline


@dataclass
class _NodeInfo:
    name: str
    executable: str
    algo_defaults: dict[str, Any]
    perf_defaults: dict[str, Any]
    in_keys: frozenset[str]
    perf_keys: frozenset[str]
    input_defaults: dict[str, Any]
    out_paths: dict[str, str]
    fed: dict[str, list[tuple[str, str, str]]]  # input -> [(kind, src node, src port)]
    gathers: dict[str, Any]  # gathered input -> GatherSpec
    param_fed: dict[str, list[tuple[str, str]]]  # algo param -> [(src node, src param)], peers in connection order
    config_nodes: frozenset[str]  # the node and its ancestors, not counting what it gathers
    slurm: dict[str, Any]  # the node's own slurm_options
    resources: dict[str, Any]  # the node's own resources (not from slurm_options)
    setup: str | None = None
    teardown: str | None = None


def _node_info(pipeline: Pipeline, name: str, cwd: str) -> _NodeInfo:
    node = pipeline.nodes[name]
    fed = {p: [(s.kind, s.node.name, s.name) for s in srcs] for p, srcs in pipeline.connected_inputs(name).items()}
    gathers = {p: node.inputs[p].gather for p in fed if node.inputs[p].gather is not None}
    param_fed = {k: [(s.node.name, s.name) for s in node.param_ports[k].sources]
                 for k in node.algo_params if node.param_ports[k].sources}
    # ancestors, except through gathered inputs (a gather's sources are its members, not its row)
    seen: set[str] = set()
    stack = [name]
    while stack:
        current = pipeline.nodes[stack.pop()]
        for port in current.in_paths:
            if current.inputs[port].gather is None:
                stack += [s.node.name for s in current.inputs[port].sources if s.node.name not in seen]
                seen.update(s.node.name for s in current.inputs[port].sources)
        for k in current.algo_params:
            stack += [s.node.name for s in current.param_ports[k].sources if s.node.name not in seen]
            seen.update(s.node.name for s in current.param_ports[k].sources)
    from .slurm_options import to_resources

    from_slurm = to_resources(node.slurm_options)[0]
    return _NodeInfo(
        name=name,
        executable=absolute_programs(node.executable, [cwd, pipeline.source_dir or ""]),
        algo_defaults={k: v for k, v in node.algo_params.items() if v is not NO_DEFAULT},
        perf_defaults={k: v for k, v in node.perf_params.items() if v is not NO_DEFAULT},
        in_keys=frozenset(node.in_paths),
        perf_keys=frozenset(node.perf_params),
        input_defaults={k: v for k, v in node.in_paths.items() if v is not NO_DEFAULT and v is not None},
        out_paths=dict(node.out_paths),
        fed=fed,
        gathers=gathers,
        param_fed=param_fed,
        config_nodes=frozenset(seen | {name}),
        slurm=dict(node.slurm_options or {}),
        resources={k: v for k, v in node.resources.items() if from_slurm.get(k) != v or k not in from_slurm},
        setup=node.setup or None,
        teardown=node.teardown or None,
    )


def _local_order(ports: Iterable[str], info: _NodeInfo) -> list[str]:
    """``ports`` by name, an input forwarded from another input of the same node after that input."""
    def depth(port: str, seen: frozenset = frozenset()) -> int:
        local = [p for kind, src, p in info.fed.get(port, ()) if kind == "input" and src == info.name
                 and p not in seen]
        return max((1 + depth(p, seen | {port}) for p in local), default=0)

    return sorted(ports, key=lambda p: (depth(p), p))


def out_rels(info: _NodeInfo) -> dict[str, "str | None"]:
    """Each output's path below the job folder, normalized (None: the folder itself)."""
    return {k: None if rel in (".", "./") or os.path.normpath(rel) == "." else os.path.normpath(rel)
            for k, rel in info.out_paths.items()}


def unique_args(info: _NodeInfo, node_dir: str) -> dict[str, bool]:
    """The node's arguments whose values are new in every job (see ``_JobShape.unique``).

    Its parents' outputs and its manifests (False: they may need quoting)
    and its own outputs (True when the word surely needs no shell quoting:
    then the folder's path needs none, as short ids are [0-9a-z]).
    """
    fed = dict.fromkeys((p for p, srcs in info.fed.items() if srcs[0][0] == "output" or p in info.gathers), False)
    plain = {k: Fragments.plain(f"--{k}={node_dir}{info.name}_id_0/{rel or ''}") for k, rel in out_rels(info).items()}
    return {**fed, **plain}


def job_shape(info: _NodeInfo, root: str, fragments: Fragments) -> _JobShape:
    """What the node's jobs share (see :class:`trackdag.job._JobShape`): one per node and plan."""
    node_dir = os.path.join(root, info.name, "")
    return _JobShape(node_dir, out_rels(info), info.executable, unique_args(info, node_dir), fragments, info.setup,
                     info.teardown)
