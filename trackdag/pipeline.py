"""Pipeline: a validated DAG of ProcessNodes, and finding one from a reference.

``Pipeline(nodes)`` takes a list or a dict of nodes whose ports were already
connected.  Construction validates everything and raises one
:class:`~trackdag.errors.PipelineError` listing *every* problem: duplicate
node names, unknown ports, bad connections, cycles (named), outputs that
escape the job folder, a ``primary_out_key`` that is not an output.

:func:`load_pipeline` finds a pipeline from a reference:

- a :class:`Pipeline` object (Python API);
- ``'pkg.mod.func()'``: import the longest importable module prefix and
  evaluate the rest on it; the current directory is searched first;
- ``'path/to/file.py::func()'``: import that file and evaluate ``func()``;
- ``'path/to/pipeline.yaml'``: a declarative pipeline (see
  :mod:`trackdag.pipeline_yaml`), no Python needed.

Example:
    >>> from trackdag.node import ProcessNode
    >>> a = ProcessNode(name='a', executable='echo', out_paths={'x': 'x.txt'})
    >>> b = ProcessNode(name='b', executable='cat', in_paths={'y'})
    >>> a.outputs['x'].connect(b.inputs['y'])
    <output a.x>
    >>> Pipeline([a, b]).order
    ['a', 'b']
"""
from __future__ import annotations

import functools
import importlib
import importlib.util
import os
import posixpath
import re
import sys
from pathlib import Path
from typing import Any, Iterable, Mapping

from .errors import PipelineError, did_you_mean
from .node import NO_DEFAULT, RESERVED_NAMES, Port, ProcessNode

NODE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
PARAM_NAME = re.compile(r"^[^\s=]+$")


class Pipeline:
    """A validated DAG of nodes; see the module docstring."""

    def __init__(self, nodes: "Mapping[str, ProcessNode] | Iterable[ProcessNode] | None" = None, config: Any = None,
                 root_dpath: Any = None, *, ref: str | None = None) -> None:
        problems: list[str] = []
        #: what trackdag accepts from a KWDagger pipeline but does not follow, said once per run
        self.notes: list[str] = []
        if config or root_dpath not in (None, "."):
            self.notes.append("Pipeline(config=, root_dpath=) are KWDagger's: the params and --root decide here")
        if isinstance(nodes, Mapping):
            items = list(nodes.items())
            for key, node in items:
                if isinstance(node, ProcessNode) and node.name is None:
                    node.name = key  # a dict key names an unnamed node
                elif isinstance(node, ProcessNode) and node.name != key:
                    problems.append(f"node {node.name!r} is listed under the key {key!r}: use the same name")
            node_list = [n for _, n in items]
        else:
            node_list = list(nodes or [])
        self.ref = ref
        #: the sys.path entry the pipeline's module came from (exported as
        #: PYTHONPATH by invoke.sh so `python -m pkg.mod` commands work)
        self.import_dir: str | None = None
        #: the folder of the pipeline's file (YAML, .py or the module's): relative
        #: program paths in commands are looked up there after the launch directory
        self.source_dir: str | None = None
        self._own_notes = list(self.notes)
        self._build(node_list, problems)

    def _build(self, node_list: list[Any], problems: list[str]) -> None:
        """Index, check and order the nodes; raises PipelineError listing every problem."""
        self.__dict__.pop("result_nodes", None)  # a cached answer about the nodes before
        self.nodes: dict[str, ProcessNode] = {}
        for node in node_list:
            if not isinstance(node, ProcessNode):
                problems.append(f"{node!r} is not a ProcessNode")
                continue
            if node.name in self.nodes:
                problems.append(f"duplicate node name {node.name!r}: node names must be unique")
                continue
            self.nodes[node.name] = node
        #: parent node names (outputs feeding this node), in connection order
        self.parents: dict[str, list[str]] = {n: [] for n in self.nodes}
        #: input -> the port whose value it receives (after following in->in chains)
        problems += self._check_nodes()
        problems += self._check_connections()
        self.order: list[str] = self._toposort(problems)
        self.notes = self._own_notes + _ignored_notes([self.nodes[name] for name in self.order])
        if problems:
            where = f"pipeline {self.ref}" if self.ref else "pipeline"
            raise PipelineError(f"{where} is invalid:\n" + "\n".join(f"  - {p}" for p in problems))

    def submit(self, executable: str, **kwargs: Any) -> ProcessNode:
        """Add a new node, ``ProcessNode(executable=executable, **kwargs)``, and return it (KWDagger's).

        ``Pipeline()`` then ``submit(...)`` per node builds a pipeline the
        way KWDagger's tests do.  A name submitted twice raises; the pipeline
        is checked again with the node in it, and a problem raises
        :class:`~trackdag.errors.PipelineError` (the pipeline is left as it was).
        """
        name = kwargs.get("name")
        if name is not None and name in self.nodes:
            raise PipelineError(f"Pipeline.submit: a node named {name!r} was already submitted (names are unique)")
        node = ProcessNode(executable=executable, **kwargs)
        before = list(self.nodes.values())
        try:
            self._build([*before, node], [])
        except PipelineError:
            self._build(before, [])
            raise
        return node

    # -- validation -----------------------------------------------------------
    def _check_nodes(self) -> list[str]:
        problems = []
        for name, node in self.nodes.items():
            if not isinstance(name, str) or not NODE_NAME.match(name):
                problems.append(f"node name {name!r} must be letters, digits, '_' or '-' (it names folders and prefixes keys)")
                continue
            if not node.executable or not isinstance(node.executable, str):
                problems.append(f"node {name!r} has no executable")
            for hook in ("setup", "teardown"):
                if getattr(node, hook, None) is not None and not isinstance(getattr(node, hook), str):
                    problems.append(f"node {name!r}: {hook} must be shell text (a string), got "
                                    f"{type(getattr(node, hook)).__name__}")
            raw = node._raw_out_paths
            if raw is not None and not isinstance(raw, Mapping):
                problems.append(f"node {name!r}: out_paths must map each output name to a path relative to the job folder")
            groups = {"in_paths": node.in_paths, "out_paths": node.out_paths,
                      "algo_params": node.algo_params, "perf_params": node.perf_params}
            seen: dict[str, str] = {}
            for group, names in groups.items():
                for key in names:
                    if not isinstance(key, str) or not PARAM_NAME.match(key):
                        problems.append(f"node {name!r}: {group} name {key!r} must be a non-empty string without spaces or '='")
                    elif key in seen:
                        problems.append(f"node {name!r}: {key!r} is declared in both {seen[key]} and {group}")
                    else:
                        seen[key] = group
            for key, rel in node.out_paths.items():
                problems += _check_out_path(name, key, rel)
            if node.primary_out_key is not None and node.primary_out_key not in node.out_paths:
                problems.append(
                    f"node {name!r}: primary_out_key {node.primary_out_key!r} is not an output"
                    + did_you_mean(node.primary_out_key, list(node.out_paths))
                )
            timeout = node.timeout
            if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
                                        or not timeout > 0):
                problems.append(f"node {name!r}: timeout must be a number of seconds above 0, got {timeout!r}")
            if not isinstance(node.resources, Mapping):
                problems.append(f"node {name!r}: resources must be a mapping such as {{'num_cpus': 1}}")
        return problems

    def _check_connections(self) -> list[str]:
        problems = []
        for name, node in self.nodes.items():
            for port in node.inputs.unknown() + node.outputs.unknown() + node.param_ports.unknown():
                group, names = {"input": ("in_paths", node.in_paths), "output": ("out_paths", node.out_paths),
                                "param": ("algo_params", node.algo_params)}[port.kind]
                label = "param_ports" if port.kind == "param" else f"{port.kind}s"
                problems.append(f"{name}.{label}[{port.name!r}] is not declared in {group}"
                                + did_you_mean(port.name, list(names)))
            for src, dst in node._connections:
                if (src.kind == "param") != (dst.kind == "param"):
                    problems.append(f"{src.key} is connected to {dst.key}: a param port connects to a param port")
                    continue
                if dst.gather is not None and src.kind != "output":
                    problems.append(f"{src.key} gathers into {dst.key}: only an output can be gathered")
                    continue
                if dst.node.name not in self.nodes or self.nodes[dst.node.name] is not dst.node:
                    problems.append(f"{src.key} is connected to {dst.key}, but node {dst.node.name!r} is not in the pipeline")
                    continue
                if dst.kind == "output":
                    problems.append(f"{src.key} is connected to {dst.key}, which is an output: connect outputs to inputs")
                    continue
                if dst.node is src.node and (src.kind != "input" or src is dst or src.gather is not None):
                    # forwarding one input to another of the same node is KWDagger's and fine; an output
                    # would be a cycle, and a gathered input's manifest is written by the job itself
                    why = " (a gathered input's manifest is written by its own job)" if src.gather is not None else ""
                    problems.append(f"{src.key} is connected to an input of its own node{why}")
                    continue
                if src.kind == "output" and src.declared and dst.declared:
                    if src.node.name not in self.parents[dst.node.name]:
                        self.parents[dst.node.name].append(src.node.name)
        for name, node in self.nodes.items():
            # several param_ports, or several peers' inputs, may feed one port (KWDagger's aliases: the
            # value comes from whichever peer has it in a row; see trackdag.plan); outputs and inputs
            # may not both feed one input
            for port_name in node.in_paths:
                sources = node.inputs[port_name].sources
                kinds = {s.kind for s in sources}
                if len(kinds) > 1:
                    problems.append(f"{name}.inputs[{port_name!r}] is fed by outputs and by inputs; "
                                    "connect it to one kind")
                if node.inputs[port_name].gather is not None and len(sources) > 1:
                    problems.append(f"{name}.inputs[{port_name!r}] is gathered: it cannot have another source")
                for src in sources:
                    if src.node.name not in self.nodes or self.nodes[src.node.name] is not src.node:
                        problems.append(f"{name}.inputs[{port_name!r}] is fed by {src.key}, but node {src.node.name!r} is not in the pipeline")
        return problems

    def _toposort(self, problems: list[str]) -> list[str]:
        # Dependencies: output->input edges, plus in->in forwarding (the
        # target must be planned after the source to know the forwarded value).
        deps = {n: set(self.parents[n]) for n in self.nodes}
        for name in self.nodes:
            deps[name] |= {s for s in self._config_sources(name) if s in self.nodes and s != name}
        order: list[str] = []
        remaining = {n: set(d) for n, d in deps.items()}
        ready = [n for n in self.nodes if not remaining[n]]
        while ready:
            current = ready.pop(0)
            order.append(current)
            for n in self.nodes:
                if current in remaining[n]:
                    remaining[n].discard(current)
                    if not remaining[n]:
                        ready.append(n)
        stuck = [n for n in self.nodes if n not in order]
        if stuck:
            problems.append("cycle: " + " -> ".join(_find_cycle(stuck, deps)))
            order += stuck
        return order

    # -- queries ----------------------------------------------------------------
    def ancestors(self, name: str) -> list[str]:
        """Every node ``name`` depends on (directly or not), in pipeline order."""
        found: set[str] = set()
        stack = [name]
        while stack:
            for src in self._config_sources(stack.pop()):
                if src not in found:
                    found.add(src)
                    stack.append(src)
        return [n for n in self.order if n in found]

    @functools.cached_property
    def result_nodes(self) -> frozenset[str]:
        """The nodes whose done jobs get a result row (see :mod:`trackdag.results`).

        Results come from the nodes that produce them: every node that
        declares ``load_result`` or ``default_metrics``; when no node declares
        either, the leaf nodes (no other node reads their outputs) whose
        primary output is a JSON file.  A ``train`` node writing its model as
        JSON is therefore not an evaluation.
        """
        declared = {n for n, node in self.nodes.items() if node.has_load_result or node.declares_metrics}
        if declared:
            return frozenset(declared)
        fed = {p for parents in self.parents.values() for p in parents}
        return frozenset(n for n, node in self.nodes.items() if n not in fed and node.primary_out_key
                         and str(node.out_paths.get(node.primary_out_key, "")).endswith(".json"))

    def _config_sources(self, name: str) -> set[str]:
        node = self.nodes[name]
        return ({s.node.name for p in node.in_paths for s in node.inputs[p].sources}
                | {s.node.name for p in node.algo_params for s in node.param_ports[p].sources})

    # -- KWDagger's inspection calls ------------------------------------------------------
    def build_nx_graphs(self) -> None:
        """KWDagger's graph building: here the graph is built and checked when the Pipeline is made."""
        return None

    @property
    def node_dict(self) -> dict[str, ProcessNode]:
        """Node by name (KWDagger's name for :attr:`nodes`)."""
        return dict(self.nodes)

    def print_graphs(self, **_: Any) -> None:
        """Print the process graph: each node and the nodes it reads from (KWDagger prints it with networkx)."""
        print("Process Graph")
        for name in self.order:
            sources = self.parents[name] + sorted(self._config_sources(name) - set(self.parents[name]))
            print(f"  {name}" + (f" <- {', '.join(sources)}" if sources else ""))

    def inspect_configurables(self) -> None:
        """Print every ``<node>.<param>`` a params file may set, with its default and kind."""
        for name in self.order:
            node = self.nodes[name]
            connected = set(self.connected_inputs(name))
            for group, values in (("in_path", node.in_paths), ("algo", node.algo_params),
                                  ("perf", node.perf_params)):
                for key, default in values.items():
                    if key in connected:
                        continue
                    shown = "" if default is NO_DEFAULT else f" (default {default!r})"
                    print(f"{name}.{key}: {group}{shown}")

    def connected_inputs(self, name: str) -> dict[str, list[Port]]:
        """Inputs of ``name`` fed by a connection: input name -> source ports."""
        node = self.nodes[name]
        return {p: list(node.inputs[p].sources) for p in node.in_paths if node.inputs[p].sources}

    def __repr__(self) -> str:
        return f"<Pipeline {' -> '.join(self.order)}>"


def _ignored_notes(nodes: list[ProcessNode]) -> list[str]:
    """One note per node naming the KWDagger layout options it gives, and one for every node_dpath."""
    notes = []
    for node in nodes:
        others = [o for o in node.ignored_options if o != "node_dpath"]
        if others:
            notes.append(f"{node.name}: {', '.join(others)} accepted but not followed "
                         f"(trackdag keeps <root>/{node.name}/{node.name}_id_<hash>/ and runs the command alone)")
    shared = [node.name for node in nodes if "node_dpath" in node.ignored_options]
    if shared:
        notes.append(f"node_dpath ({', '.join(shared)}) is not followed: each job keeps its own folder "
                     "<root>/<node>/<node>_id_<hash>/ (the job folder is the record), so jobs that KWDagger "
                     "collapsed because they wrote one shared file there run separately here")
    return notes


def _check_out_path(node: str, key: str, rel: Any) -> list[str]:
    if not isinstance(rel, str) or not rel:
        return [f"node {node!r}: out_paths[{key!r}] must be a relative path string, got {rel!r}"]
    if rel.startswith("/") or os.path.isabs(rel) or rel.startswith("~"):
        return [f"node {node!r}: out_paths[{key!r}] = {rel!r} is absolute; outputs must stay inside the job folder"]
    norm = posixpath.normpath(rel)
    if norm == ".." or norm.startswith("../"):
        return [f"node {node!r}: out_paths[{key!r}] = {rel!r} escapes the job folder; remove the '..'"]
    if norm.split("/")[0] in RESERVED_NAMES:
        return [f"node {node!r}: out_paths[{key!r}] = {rel!r} is a name trackdag writes itself ({', '.join(sorted(RESERVED_NAMES))})"]
    return []


def _find_cycle(stuck: list[str], deps: Mapping[str, set[str]]) -> list[str]:
    """Walk dependencies among ``stuck`` nodes until a node repeats."""
    stuck_set = set(stuck)
    path = [stuck[0]]
    while True:
        nxt = sorted(d for d in deps[path[-1]] if d in stuck_set)[0]
        if nxt in path:
            cycle = path[path.index(nxt):] + [nxt]
            return list(reversed(cycle))
        path.append(nxt)


# -- loading ------------------------------------------------------------------
def load_pipeline(ref: "str | os.PathLike | Pipeline", *, base_dir: "str | os.PathLike | None" = None) -> Pipeline:
    """Find a pipeline from a reference; see the module docstring.

    ``base_dir`` (the params file's folder) is tried after the current
    directory for file references.
    """
    if isinstance(ref, Pipeline):
        return ref
    if isinstance(ref, Mapping) or (isinstance(ref, str) and ref.lstrip().startswith("{")):
        # a YAML pipeline written inline (KWDagger's `pipeline: {nodes: ..., edges: ...}` in the params)
        import json

        from .pipeline_yaml import pipeline_from_dict

        data = ref if isinstance(ref, Mapping) else _inline(ref)
        pipeline = pipeline_from_dict(data, source="the inline pipeline", base_dir=base_dir)
        pipeline.ref = json.dumps(data, sort_keys=True, default=str)
        pipeline.import_dir = pipeline.source_dir = os.fspath(base_dir) if base_dir is not None else None
        return pipeline
    text = os.fspath(ref).strip()
    if not text:
        raise PipelineError("no pipeline given: pass --pipeline or put 'pipeline:' in the params")
    if "::" in text:
        path, _, expr = text.partition("::")
        module, import_dir = _import_file(_find_file(path, base_dir, text))
        pipeline = _evaluate(module, expr or "", text)
        source_dir: str | None = import_dir
    elif text.endswith((".yaml", ".yml", ".json")):
        from .pipeline_yaml import load_yaml_pipeline

        found = _find_file(text, base_dir, text)
        pipeline = load_yaml_pipeline(found)
        import_dir = source_dir = str(found.parent)  # its load_result modules live beside it
    else:
        module, expr, import_dir = _import_longest_prefix(text)
        pipeline = _evaluate(module, expr, text)
        file = getattr(module, "__file__", None)
        source_dir = str(Path(file).resolve().parent) if file else None
    pipeline.ref = text
    pipeline.import_dir = import_dir
    pipeline.source_dir = source_dir
    return pipeline


def _inline(text: str) -> Any:
    from . import yaml12

    try:
        return yaml12.load(text)
    except Exception as exc:  # a malformed reference: say so in one line
        raise PipelineError(f"inline pipeline: invalid YAML/JSON: {' '.join(str(exc).split())[:200]}") from None


def _find_file(path: str, base_dir: Any, ref: str) -> Path:
    candidates = [Path(path)]
    if base_dir is not None and not Path(path).is_absolute():
        candidates.append(Path(base_dir) / path)
    for cand in candidates:
        if cand.is_file():
            return cand.resolve()
    raise PipelineError(f"pipeline {ref!r}: file {path!r} not found (relative paths are resolved from the current directory)")


def _import_file(path: Path) -> tuple[Any, str]:
    name = "trackdag_user_" + re.sub(r"\W", "_", str(path))
    if name in sys.modules:
        return sys.modules[name], str(path.parent)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    # The file's folder goes on sys.path so it can import its siblings.
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)  # type: ignore[union-attr]
    except Exception as exc:
        del sys.modules[name]
        raise PipelineError(f"importing {path} failed: {type(exc).__name__}: {exc}") from exc
    return module, str(path.parent)


def _import_longest_prefix(text: str) -> tuple[Any, str, str | None]:
    head = text.split("(", 1)[0]
    parts = head.split(".")
    if len(parts) < 2:
        raise PipelineError(
            f"pipeline {text!r} is not a reference: write 'pkg.module.function()', 'file.py::function()' or 'pipeline.yaml'"
        )
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)  # the current directory is searched first
    for i in range(len(parts) - 1, 0, -1):
        modname = ".".join(parts[:i])
        try:
            module = importlib.import_module(modname)
        except ModuleNotFoundError as exc:
            # Only "this prefix does not exist" means: try a shorter one.
            if exc.name and (modname == exc.name or modname.startswith(exc.name + ".")):
                continue
            raise PipelineError(f"importing {modname!r} failed: {exc}") from exc
        except Exception as exc:
            raise PipelineError(f"importing {modname!r} failed: {type(exc).__name__}: {exc}") from exc
        expr = text[len(modname) + 1:]
        return module, expr, _import_root(module, modname)
    raise PipelineError(
        f"pipeline {text!r}: cannot import module {'.'.join(parts[:-1])!r} "
        f"(searched the current directory {cwd} and sys.path)"
    )


def _import_root(module: Any, modname: str) -> str | None:
    """The sys.path entry a module was imported from (None for installed packages)."""
    file = getattr(module, "__file__", None)
    if not file:
        return None
    root = Path(file).resolve().parent
    depth = modname.count(".") + (1 if Path(file).name == "__init__.py" else 0)
    for _ in range(depth):
        root = root.parent
    return None if "site-packages" in root.parts else str(root)


def _evaluate(module: Any, expr: str, ref: str) -> Pipeline:
    if not expr:
        raise PipelineError(f"pipeline {ref!r}: say which function to call, e.g. '{ref}::make_pipeline()'")
    try:
        value = eval(expr, vars(module))  # the user's own module: trusted like an import
        if callable(value) and not isinstance(value, Pipeline):
            value = value()
    except PipelineError as exc:
        raise PipelineError(str(exc).replace("pipeline is invalid", f"pipeline {ref!r} is invalid", 1)) from exc
    except Exception as exc:
        raise PipelineError(f"pipeline {ref!r} raised {type(exc).__name__}: {exc}") from exc
    if not isinstance(value, Pipeline):
        raise PipelineError(f"pipeline {ref!r} returned {type(value).__name__}, not a trackdag.Pipeline")
    return value
