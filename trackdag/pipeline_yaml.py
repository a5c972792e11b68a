"""Declarative pipelines: the same fields as ProcessNode, in a YAML (or JSON) file.

No Python is needed to describe a pipeline of shell programs::

    nodes:
      predict:
        executable: python predict.py
        in_paths: [src_fpath]                 # or a mapping name -> default
        out_paths: {dst_fpath: pred.json}
        primary_out_key: dst_fpath
        algo_params: {param1: 1}
        perf_params: {workers: 0}
        resources: {num_cpus: 1}
      evaluate:
        executable: python evaluate.py
        in_paths: [pred_fpath, true_fpath]
        out_paths: {out_fpath: eval.json}
        default_metrics:
          - {metric: accuracy, objective: maximize, primary: true}
        load_result: results.py::load_eval      # optional: 'file.py::function' or 'module:function'
    edges:
      - predict.dst_fpath -> evaluate.pred_fpath      # output -> input
      - predict.src_fpath -> evaluate.true_fpath      # input -> input (forward)

An edge end may also be spelled ``node.outputs.name`` / ``node.inputs.name``
when a node has an input and an output with the same name.  A param feeding
a param (``a.seed -> b.seed``) gives ``b`` the value of ``a``'s.

KWDagger's YAML format is read too: ``edges`` as ``{src: a.x, dst: b.y}``
(or ``{src: a, src_key: x, dst: b, dst_key: y}``) with an optional
``gather: {group_by: [...], order_by: [...]}``; node fields ``metrics`` and
``vantage_points`` (trackdag's ``default_metrics`` and
``default_vantage_points``), ``result: {metrics: result.metrics, info:
info}`` (the result is read from the primary output's JSON: see
:class:`trackdag.results.ResultSpec`; a node with ``metrics`` and no
``load_result`` gets it with those defaults), ``load_result:
pkg.mod.Class.load_result`` (called as ``func(node, node_dpath)``),
``class: pkg.mod.NodeClass``, ``slurm_options`` (see
:mod:`trackdag.slurm_options`), ``setup`` and ``teardown`` (shell text run
around the command, see ProcessNode), and ``group``, ``config``,
``node_dpath``, ``group_dpath`` (see ProcessNode); a top-level
``__doc__``.

``load_result`` is ``file.py::function`` (the file relative to the YAML
file's folder) or ``module:function`` (a module importable from the YAML
file's folder or ``sys.path``).  Relative program paths in ``executable``
(``python train.py``) are found in the launch directory, then in the YAML
file's folder (see :func:`trackdag.plan.absolute_programs`).  Numbers and
booleans follow YAML 1.2 (:mod:`trackdag.yaml12`).

Example:
    >>> p = pipeline_from_dict({'nodes': {'a': {'executable': 'echo', 'out_paths': {'x': 'x.txt'}},
    ...                                   'b': {'executable': 'cat', 'in_paths': ['y']}},
    ...                         'edges': ['a.x -> b.y']})
    >>> p.order
    ['a', 'b']
"""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Mapping

from .errors import PipelineError, did_you_mean
from .node import ProcessNode
from .pipeline import Pipeline

NODE_FIELDS = {
    "executable", "command", "in_paths", "out_paths", "primary_out_key", "algo_params",
    "perf_params", "resources", "load_result", "default_metrics", "default_vantage_points", "timeout",
    # KWDagger's YAML fields (its names for two of the above, and options trackdag accepts)
    "metrics", "vantage_points", "result", "class", "group", "slurm_options", "setup", "teardown", "config",
    "node_dpath", "group_dpath",
}
#: KWDagger's YAML names for trackdag's fields
ALIASES = {"metrics": "default_metrics", "vantage_points": "default_vantage_points"}


def load_yaml_pipeline(path: "str | Path") -> Pipeline:
    """Read a pipeline file; every problem in it is reported together."""
    import yaml

    from . import yaml12

    path = Path(path)
    try:
        data = yaml12.load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark else ""
        raise PipelineError(f"{path}: invalid YAML{line}: {getattr(exc, 'problem', exc)}") from None
    return pipeline_from_dict(data, source=str(path), base_dir=path.resolve().parent)


def pipeline_from_dict(data: Any, *, source: str = "pipeline", base_dir: "str | Path | None" = None) -> Pipeline:
    """Build a :class:`Pipeline` from the parsed YAML structure (``base_dir``: where ``load_result`` files are)."""
    problems: list[str] = []
    if not isinstance(data, Mapping) or not isinstance(data.get("nodes"), Mapping):
        raise PipelineError(f"{source}: expected a mapping with 'nodes:' (node name -> fields) and optional 'edges:'")
    for key in data:
        if key not in ("nodes", "edges", "__doc__"):
            problems.append(f"unknown top-level key {key!r}" + did_you_mean(str(key), ["nodes", "edges"]))
    nodes: dict[str, ProcessNode] = {}
    for name, fields in data["nodes"].items():
        if not isinstance(fields, Mapping):
            problems.append(f"node {name!r}: expected a mapping of fields")
            continue
        node = _node(str(name), fields, base_dir, problems)
        if node is not None:
            nodes[str(name)] = node
    edges = data.get("edges") or []
    if not isinstance(edges, list):
        problems.append("'edges' must be a list such as ['a.out -> b.in']")
        edges = []
    for edge in edges:
        problem = _connect(edge, nodes)
        if problem:
            problems.append(problem)
    try:
        pipeline = Pipeline(nodes, ref=source)
    except PipelineError as exc:
        problems += [line.strip()[2:] for line in str(exc).splitlines()[1:]]
        pipeline = None
    if problems:
        raise PipelineError(f"pipeline {source} is invalid:\n" + "\n".join(f"  - {p}" for p in problems))
    return pipeline  # type: ignore[return-value]


def _node(name: str, fields: Mapping[str, Any], base_dir: Any, problems: list[str]) -> ProcessNode | None:
    """One node of the file: trackdag's fields, or KWDagger's (``metrics``, ``result``, ``class``...)."""
    kwargs: dict[str, Any] = {}
    cls: Any = ProcessNode
    kwdagger_loader: Any = None
    result_spec: Any = None
    for key, value in fields.items():
        if key == "name":
            problems.append(f"node {name!r}: 'name' goes in the key of its mapping, not among its fields")
        elif key not in NODE_FIELDS:
            problems.append(f"node {name!r}: unknown field {key!r}" + did_you_mean(str(key), NODE_FIELDS))
        elif key == "load_result":
            try:
                if isinstance(value, str) and ":" not in value:  # KWDagger: 'pkg.mod.Class.load_result'
                    kwdagger_loader = _import_dotted(value, base_dir)
                else:
                    kwargs[key] = _import_callable(value, base_dir)
            except PipelineError as exc:
                problems.append(f"node {name!r}: {exc}")
        elif key == "class":
            try:
                cls = _import_dotted(value, base_dir)
                if not (isinstance(cls, type) and issubclass(cls, ProcessNode)):
                    raise PipelineError(f"class {value!r} is not a ProcessNode subclass")
            except PipelineError as exc:
                problems.append(f"node {name!r}: {exc}")
        elif key == "result":
            result_spec = value if isinstance(value, Mapping) else {}
        else:
            kwargs[ALIASES.get(key, key)] = value
    try:
        node = cls(name=name, **kwargs)
    except (TypeError, ValueError) as exc:
        problems.append(f"node {name!r}: {exc}")
        return None
    if kwdagger_loader is not None:  # called as func(node, node_dpath), as KWDagger calls it
        import functools

        node.load_result = functools.partial(kwdagger_loader, node)  # type: ignore[method-assign]
    elif (result_spec is not None or "metrics" in fields) and not node.has_load_result:
        from .results import ResultSpec

        if not node.primary_out_key:
            problems.append(f"node {name!r}: 'result' reads the primary output: set primary_out_key")
        else:
            spec = result_spec or {}
            node.load_result = ResultSpec(name, node.out_paths[node.primary_out_key],  # type: ignore[method-assign]
                                          spec.get("metrics", "result.metrics"), spec.get("info", "info"))
    return node


def _import_dotted(ref: Any, base_dir: Any) -> Any:
    """``pkg.mod.Name`` or ``pkg.mod.Class.attr``: the longest importable module prefix, then attributes."""
    import sys

    if not isinstance(ref, str) or "." not in ref:
        raise PipelineError(f"{ref!r} must be a dotted path such as 'pkg.module.name'")
    if base_dir is not None and str(base_dir) not in sys.path:
        sys.path.insert(0, str(base_dir))
    parts = ref.split(".")
    for i in range(len(parts) - 1, 0, -1):
        try:
            found: Any = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        try:
            for attr in parts[i:]:
                found = getattr(found, attr)
        except AttributeError:
            break
        return found
    raise PipelineError(f"{ref!r} cannot be imported (searched {base_dir or 'sys.path'} and sys.path)")


def _connect(edge: Any, nodes: Mapping[str, ProcessNode]) -> str | None:
    gather = None
    if isinstance(edge, Mapping):
        edge = dict(edge)
        gather = edge.pop("gather", None)
        if set(edge) == {"from", "to"}:
            src_text, dst_text = edge["from"], edge["to"]
        elif set(edge) == {"src", "dst"}:
            src_text, dst_text = edge["src"], edge["dst"]
        elif set(edge) == {"src", "src_key", "dst", "dst_key"}:
            src_text, dst_text = f"{edge['src']}.{edge['src_key']}", f"{edge['dst']}.{edge['dst_key']}"
        else:
            return f"edge {edge!r}: write 'node.port -> node.port', {{from: node.port, to: node.port}} or {{src:, dst:}}"
    elif isinstance(edge, str) and "->" in edge:
        src_text, _, dst_text = (part.strip() for part in edge.partition("->"))
    else:
        return f"edge {edge!r}: write 'node.port -> node.port' or {{from: node.port, to: node.port}}"
    ends = []
    for text, default_kind in ((src_text, None), (dst_text, "input")):
        parts = str(text).split(".")
        if len(parts) == 3 and parts[1] in ("inputs", "outputs"):
            node_name, kind, port = parts[0], parts[1][:-1], parts[2]
        elif len(parts) == 2:
            node_name, port = parts
            kind = default_kind
        else:
            return f"edge {edge!r}: {text!r} is not 'node.port'"
        node = nodes.get(node_name)
        if node is None:
            return f"edge {edge!r}: unknown node {node_name!r}" + did_you_mean(node_name, list(nodes))
        if kind is None:  # a source: an output if it names one, else an input, else a param
            if port in node.out_paths and port in node.in_paths:
                return f"edge {edge!r}: {node_name} has an input and an output named {port!r}; write {node_name}.outputs.{port} or {node_name}.inputs.{port}"
            kind = "output" if port in node.out_paths else ("input" if port in node.in_paths or
                                                             port not in node.algo_params else "param")
        elif kind == "input" and ends and ends[0].kind == "param":
            kind = "param"  # a param feeds a param (KWDagger's param_ports)
        ends.append({"output": node.outputs, "input": node.inputs, "param": node.param_ports}[kind][port])
    try:
        ends[0].connect(ends[1], gather=gather)
    except ValueError as exc:
        return f"edge {edge!r}: {exc}"
    return None


def _import_callable(ref: Any, base_dir: "str | Path | None" = None) -> Any:
    """``file.py::function`` (relative to ``base_dir``) or ``module:function`` (``base_dir`` searched first)."""
    import sys

    if isinstance(ref, str) and "::" in ref:
        from .pipeline import _import_file

        file, _, attr = ref.partition("::")
        path = Path(base_dir or ".") / file
        if not path.is_file():
            raise PipelineError(f"load_result {ref!r}: file {str(path)!r} not found")
        module, _ = _import_file(path.resolve())
    elif isinstance(ref, str) and ":" in ref:
        modname, _, attr = ref.partition(":")
        if base_dir is not None and str(base_dir) not in sys.path:
            sys.path.insert(0, str(base_dir))
        try:
            module = importlib.import_module(modname)
        except ImportError as exc:
            raise PipelineError(f"load_result {ref!r} cannot be imported: {exc}") from None
    else:
        raise PipelineError(f"load_result {ref!r} must be 'file.py::function' or 'module:function'")
    found = getattr(module, attr, None)
    if not callable(found):
        raise PipelineError(f"load_result {ref!r}: {module.__name__} has no function {attr!r}")
    return found
