"""Which row keys a pipeline accepts: ``<node>.<param>`` of a node, never an output or a connected input.

:func:`check_row_keys` reports every bad key of the matrix in one line
before anything is planned; a key naming a param the node does not declare,
and close to none it does, is KWDagger's undeclared param (see its docstring).

Example:
    >>> from trackdag.node import ProcessNode
    >>> from trackdag.pipeline import Pipeline
    >>> check_row_keys(Pipeline([ProcessNode(name='a', executable='echo', algo_params={'x': 1})]), [{'a.x': 2, 'a.new': 1}])
    ['a.new']
"""
from __future__ import annotations

from typing import Any

from .errors import ParamsError, did_you_mean
from .pipeline import Pipeline

#: row keys with a meaning of their own (KWDagger's): not parameters, never in a job id
ENABLED = "__enabled__"
SLURM = "__slurm_options__"
#: how close an undeclared name must be to a declared one to be taken for its typo (difflib ratio)
TYPO_CUTOFF = 0.8


def check_row_keys(pipeline: Pipeline, rows: list[dict[str, Any]], *, source: str = "params",
                   out_overrides: bool = False, connected_overrides: bool = False) -> list[str]:
    """Reject keys that name no node, an output, a connected input or a near-miss of a declared param.

    All problems are reported together in one line.  A key naming a param
    the node does not declare, and close to none it does, is accepted as an
    algo param (KWDagger's rule: it enters the job id and the command line);
    returns those keys, for a note.  With ``out_overrides`` (``trackdag
    schedule``, KWDagger's command line) a key naming an output is accepted:
    it names that output's file in the job folder, and with
    ``connected_overrides`` (the same) a key naming a connected input gives
    that input its value in the row, in place of the connection.
    """
    problems, undeclared = [], []
    seen: set[str] = set()
    for row in rows:
        for key in row:
            if key in seen:
                continue
            seen.add(key)
            problem = _key_problem(pipeline, key, out_overrides, connected_overrides)
            if problem == "undeclared":
                undeclared.append(key)
            elif problem:
                problems.append(problem)
    if problems:
        raise ParamsError(f"{source}: " + "; ".join(problems))
    return undeclared


def _key_problem(pipeline: Pipeline, key: str, out_overrides: bool = False,
                 connected_overrides: bool = False) -> str | None:
    if key == SLURM:
        return None
    node_name, dot, param = key.partition(".")
    if not dot or not param:
        return f"key {key!r} is not <node>.<param>"
    node = pipeline.nodes.get(node_name)
    if node is None:
        return f"key {key!r} names no node of the pipeline" + (
            did_you_mean(node_name, list(pipeline.nodes)) or f" (nodes: {', '.join(pipeline.order)})")
    if param in (ENABLED, SLURM):
        return None
    if param in node.out_paths:
        if out_overrides:
            return None
        return (f"key {key!r} is an output of {node_name}; its path is fixed by out_paths "
                "(`trackdag schedule`, KWDagger's command line, takes it as the file's name in the job folder)")
    connected = pipeline.connected_inputs(node_name)
    if param in connected and not (connected_overrides and node.inputs[param].gather is None):
        src = ", ".join(p.key for p in connected[param])
        return f"key {key!r} is connected to {src}; remove it from the params"
    fed_params = {k for k in node.algo_params if node.param_ports[k].sources}
    if param in fed_params:
        src = ", ".join(p.key for p in node.param_ports[param].sources)
        return f"key {key!r} is connected to {src}; remove it from the params"
    if param not in node.param_names:
        import difflib

        settable = sorted(node.param_names - set(connected) - fed_params)
        close = difflib.get_close_matches(param, settable, n=1, cutoff=TYPO_CUTOFF)
        if close:
            return f"node {node_name!r} declares no param {param!r} (did you mean {close[0]!r}?)"
        return "undeclared"
    return None


__all__ = ["check_row_keys", "ENABLED", "SLURM", "TYPO_CUTOFF"]
