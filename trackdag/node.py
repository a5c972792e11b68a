"""ProcessNode: one shell program in a pipeline, with KWDagger's attribute names.

A node is a program invoked as ``executable --key=value ...``.  Its arguments
come in four groups:

- ``in_paths``: input files (a set of names, or a dict name -> default path);
- ``out_paths``: outputs, name -> path relative to the job folder (``'.'`` is
  the folder itself);
- ``algo_params``: parameters that change the result; they enter the job id;
- ``perf_params``: parameters that only change speed (threads, devices); they
  never enter the job id.

``algo_params`` / ``perf_params`` may be a set (no default: the argument is
only passed when the params file sets it) or a dict of defaults (always
passed).  Ports connect nodes: ``a.outputs['x'].connect(b.inputs['y'])`` feeds
a's output path to b (b then depends on a) and
``a.inputs['x'].connect(b.inputs['y'])`` forwards the value given to a's input
to b's input (no file flows, so no dependency, unless a's input is itself fed
by another node's output).

Attributes may be set on a subclass (the KWDagger way) or passed to the
constructor; constructor arguments win.

Example:
    >>> class Predict(ProcessNode):
    ...     name = 'predict'
    ...     executable = 'python predict.py'
    ...     in_paths = {'src_fpath'}
    ...     out_paths = {'dst_fpath': 'pred.json'}
    ...     algo_params = {'param1': 1}
    ...     perf_params = {'workers': 0}
    >>> evaluate = ProcessNode(name='evaluate', executable='python eval.py',
    ...                        in_paths={'pred_fpath', 'true_fpath'},
    ...                        out_paths={'out_fpath': 'eval.json'})
    >>> pred = Predict()
    >>> pred.outputs['dst_fpath'].connect(evaluate.inputs['pred_fpath'])
    <output predict.dst_fpath>
    >>> pred.inputs['src_fpath'].connect(evaluate.inputs['true_fpath'])  # returns itself: chainable
    <input predict.src_fpath>
    >>> pred.primary_out_key
    'dst_fpath'
"""
from __future__ import annotations

from typing import Any, Callable, Iterator, Mapping

#: Marker for a parameter declared without a default (declared in a set).
NO_DEFAULT: Any = type("NoDefault", (), {"__repr__": lambda self: "NO_DEFAULT"})()

#: File names trackdag itself writes into every job folder; outputs may not use them.  (``invoke.sh``,
#: ``job_config.json``, ``.pred`` and ``.succ`` are KWDagger's too; the result record is ``.result.json``,
#: so an output may be called ``result.json``.)
RESERVED_NAMES = frozenset(
    {"invoke.sh", "job_config.json", "stdout.log", "stderr.log", "done.json",
     ".result.json", ".pred", ".succ", ".running", ".attempts", ".superseded", "_gather"}
)


class Port:
    """One named input or output of a node; ``connect`` wires it to another port."""

    __slots__ = ("node", "name", "kind", "declared", "sources", "gather")

    def __init__(self, node: "ProcessNode", name: str, kind: str, declared: bool) -> None:
        self.node = node
        self.name = name
        self.kind = kind  # 'input', 'output' or 'param'
        self.declared = declared
        #: ports this one receives from (only meaningful for inputs and params)
        self.sources: list[Port] = []
        #: for an input fed by a gather connection: its GatherSpec (see trackdag.gather)
        self.gather: Any = None

    @property
    def key(self) -> str:
        return f"{self.node.name}.{self.name}"

    def connect(self, *others: "Port | ProcessNode", gather: Any = None) -> "Port":
        """Feed this port into each of ``others`` (inputs, or params for a param port); returns this port.

        A node among ``others`` stands for its input of this port's name
        (KWDagger's; a ValueError when it has none).  ``gather`` (a
        :class:`trackdag.gather.GatherSpec` or its mapping) makes each target
        job collect this output from many upstream jobs.  Connecting twice
        adds one edge.  Other problems (connecting into an output, unknown
        ports) are not raised here: the pipeline collects and reports all of
        them at once.
        """
        pairs = []
        for other in others:
            if isinstance(other, ProcessNode) and gather is None:
                pairs += _pairs_by_name({self.name: self}, other, self.key)
            elif isinstance(other, Port):
                pairs.append((self, other))
            else:
                raise TypeError(f"{self.key}.connect() expects a port such as node.inputs['name']"
                                + (" (a gather connects an output to an input port)" if gather is not None else "")
                                + f", got {other!r}")
        for src, other in pairs:
            if gather is not None:
                from .gather import GatherSpec

                other.gather = GatherSpec.coerce(gather)
            if src not in other.sources:
                other.sources.append(src)
                src.node._connections.append((src, other))
        return self

    @property
    def pred(self) -> "list[Port]":
        """The ports this one receives from (KWDagger's name)."""
        return list(self.sources)

    @property
    def succ(self) -> "list[Port]":
        """The ports this one feeds (KWDagger's name)."""
        return [dst for src, dst in self.node._connections if src is self]

    def __repr__(self) -> str:
        return f"<{self.kind} {self.key}>"


class PortMap(Mapping[str, Port]):
    """``node.inputs`` / ``node.outputs``: port by name.

    Looking up an undeclared name returns a port marked undeclared instead of
    raising, so a pipeline with several typos reports all of them together.
    """

    def __init__(self, node: "ProcessNode", kind: str, names: "list[str]") -> None:
        self._node = node
        self._kind = kind
        self._ports = {n: Port(node, n, kind, True) for n in names}
        self._unknown: dict[str, Port] = {}

    def __getitem__(self, name: str) -> Port:
        if name in self._ports:
            return self._ports[name]
        if name not in self._unknown:
            self._unknown[name] = Port(self._node, name, self._kind, False)
        return self._unknown[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._ports)

    def __len__(self) -> int:
        return len(self._ports)

    def unknown(self) -> list[Port]:
        return list(self._unknown.values())


def _pairs_by_name(outputs: Mapping[str, Port], target: "ProcessNode", source: str) -> "list[tuple[Port, Port]]":
    """KWDagger's node-level connection: each output paired with ``target``'s input of the same name."""
    common = sorted(set(outputs) & set(target.inputs))
    if not common:
        raise ValueError(f"cannot connect {source} to {target.name!r}: they share no port name ({source} offers "
                         f"{sorted(outputs)}, {target.name!r} takes {sorted(target.inputs)}); connect ports "
                         "named differently explicitly: a.outputs[...].connect(b.inputs[...])")
    return [(outputs[name], target.inputs[name]) for name in common]


def _as_defaults(value: Any) -> dict[str, Any]:
    """A set/list of names -> {name: NO_DEFAULT}; a dict -> a copy; None -> {}."""
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, str):
        return {value: NO_DEFAULT}
    return {name: NO_DEFAULT for name in sorted(value)}


def _groups_of(spec: Any, name: Any) -> dict[str, Any]:
    empty = {"in_paths": {}, "out_paths": {}, "algo_params": {}, "perf_params": {}, "primary_out_key": None}
    if spec is None:
        return empty
    from .config_params import groups

    try:
        return groups(spec)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"node {name!r}: {exc}") from None


def _merged(derived: dict[str, Any], declared: Any) -> dict[str, Any]:
    """Groups from a config class, then what the node declares itself (which wins)."""
    return {**derived, **_as_defaults(declared)}


class ProcessNode:
    """A shell program in a pipeline.  See the module docstring."""

    name: str | None = None
    executable: str | None = None
    in_paths: Any = None
    out_paths: Any = None
    primary_out_key: str | None = None
    algo_params: Any = None
    perf_params: Any = None
    resources: Mapping[str, Any] | None = None
    default_vantage_points: Any = None
    #: seconds an attempt may run before its process group is killed (None: the run's --timeout)
    timeout: float | None = None

    #: KWDagger: a config class whose fields' tags declare the groups (see trackdag.config_params)
    params: Any = None
    #: KWDagger's Slurm options: cpus, gpus and mem become resources (see trackdag.slurm_options)
    slurm_options: Mapping[str, Any] | None = None
    #: KWDagger's resource lifecycle: shell text run before the command (a failing setup fails the job
    #: without running it) and after it (on success, failure or a catchable signal, once setup succeeded)
    setup: str | None = None
    teardown: str | None = None

    def __init__(
        self,
        name: str | None = None,
        executable: str | None = None,
        *,
        command: str | None = None,
        in_paths: Any = None,
        out_paths: Any = None,
        primary_out_key: str | None = None,
        algo_params: Any = None,
        perf_params: Any = None,
        resources: Mapping[str, Any] | None = None,
        load_result: Callable[[Any], Any] | None = None,
        default_metrics: Any = None,
        default_vantage_points: Any = None,
        timeout: float | None = None,
        params: Any = None,
        slurm_options: Mapping[str, Any] | None = None,
        config: Mapping[str, Any] | None = None,
        group: str | None = None,
        root_dpath: Any = None,
        node_dpath: Any = None,
        group_dpath: Any = None,
        setup: str | None = None,
        teardown: str | None = None,
        **aliases: Any,
    ) -> None:
        cls = type(self)
        for alias, meant in (("perf_config", "perf_params"), ("algo_config", "algo_params")):
            if alias in aliases:
                raise TypeError(f"ProcessNode({alias}=...): you probably meant {meant}=")
        if aliases:
            raise TypeError(f"ProcessNode() got unexpected keyword argument(s): {', '.join(sorted(aliases))}")
        self.name = name if name is not None else cls.name
        # `command=` is KWDagger's alias for `executable=`.
        self.executable = executable or command or cls.executable
        spec = params if params is not None else cls.params
        derived = _groups_of(spec, self.name)
        self.in_paths = _merged(derived["in_paths"], in_paths if in_paths is not None else cls.in_paths)
        raw_out = out_paths if out_paths is not None else cls.out_paths
        if derived["out_paths"] and (raw_out is None or isinstance(raw_out, Mapping)):
            raw_out = {**derived["out_paths"], **(raw_out or {})}
        #: kept so validation can say "out_paths must be a dict" for a set
        self._raw_out_paths = raw_out
        self.out_paths = dict(raw_out) if isinstance(raw_out, Mapping) else {}
        self.algo_params = _merged(derived["algo_params"], algo_params if algo_params is not None else cls.algo_params)
        self.perf_params = _merged(derived["perf_params"], perf_params if perf_params is not None else cls.perf_params)
        for key, value in (config or {}).items():  # KWDagger's initial config: defaults for what it names
            group_ = self.in_paths if key in self.in_paths else (
                self.perf_params if key in self.perf_params else self.algo_params)
            group_[key] = value
        self.slurm_options = dict(slurm_options if slurm_options is not None else (cls.slurm_options or {}))
        from .slurm_options import to_resources

        from_slurm, self._ignored_slurm = to_resources(self.slurm_options)
        self.resources = {**from_slurm, **dict(resources if resources is not None else (cls.resources or {}))}
        self.setup = setup if setup is not None else cls.setup
        self.teardown = teardown if teardown is not None else cls.teardown
        #: KWDagger options trackdag accepts but does not follow (its folder layout is fixed); node_dpath
        #: counts even as '.': jobs sharing a folder there wrote one file, and here each has its own
        self.ignored_options = [name for name, value in (("group", group), ("root_dpath", root_dpath),
                                                         ("node_dpath", node_dpath), ("group_dpath", group_dpath))
                                if value is not None and (value != "." or name == "node_dpath")]
        key = primary_out_key if primary_out_key is not None else cls.primary_out_key
        if key is None and derived["primary_out_key"] in self.out_paths:
            key = derived["primary_out_key"]
        if key is None and len(self.out_paths) == 1:
            key = next(iter(self.out_paths))  # KWDagger: the only output is primary
        self.primary_out_key = key
        if load_result is not None:
            self.load_result = load_result  # type: ignore[method-assign]
        if default_metrics is not None:
            self._default_metrics_override = default_metrics
        if default_vantage_points is not None:
            self.default_vantage_points = default_vantage_points
        if timeout is not None:
            self.timeout = timeout
        self._connections: list[tuple[Port, Port]] = []
        self.inputs = PortMap(self, "input", list(self.in_paths))
        self.outputs = PortMap(self, "output", list(self.out_paths))
        #: one port per algo param: ``a.param_ports['k'].connect(b.param_ports['k'])`` gives b a's value
        self.param_ports = PortMap(self, "param", list(self.algo_params))

    def connect(self, *others: "ProcessNode | Port") -> "ProcessNode":
        """Connect each output to the input of the same name of every node in ``others`` (KWDagger's).

        A port among ``others`` pins that side to its name.  A ValueError
        when a target shares no name with this node's outputs; nothing is
        connected then.  Returns this node.
        """
        pairs = []
        for other in others:
            if isinstance(other, Port):
                if other.name not in self.outputs:
                    raise ValueError(f"cannot connect {self.name!r} to {other.key}: {self.name!r} has no output "
                                     f"{other.name!r} (it offers {sorted(self.outputs)})")
                pairs.append((self.outputs[other.name], other))
            elif isinstance(other, ProcessNode):
                pairs += _pairs_by_name(self.outputs, other, repr(self.name))
            else:
                raise TypeError(f"{self.name}.connect() expects nodes or ports, got {other!r}")
        for src, dst in pairs:
            src.connect(dst)
        return self

    # -- hooks users override -------------------------------------------------
    def load_result(self, job_dpath: Any) -> Mapping[str, Any] | None:
        """Return a flat dict ``{'metrics.<node>.<name>': value, ...}`` for a done job.

        The base implementation returns None ("no loader"); results ingestion
        then falls back to the numeric leaves of the primary output.
        """
        return None

    @property
    def has_load_result(self) -> bool:
        """True when the user supplied ``load_result`` (subclass or constructor)."""
        return "load_result" in self.__dict__ or type(self).load_result is not ProcessNode.load_result

    @property
    def declares_metrics(self) -> bool:
        """True when the node says what its metrics are (``default_metrics``, even an empty list)."""
        return hasattr(self, "_default_metrics_override") or getattr(self, "default_metrics", None) is not None

    def metric_specs(self) -> list[dict[str, Any]]:
        """``default_metrics`` as a list of dicts, whether it was a method or a list."""
        if hasattr(self, "_default_metrics_override"):
            found = self._default_metrics_override
        else:
            found = getattr(self, "default_metrics", None)
        if callable(found):
            found = found()
        return [dict(m) for m in (found or [])]

    def vantage_points(self) -> list[dict[str, Any]]:
        """``default_vantage_points`` as a list of dicts (property, method or list)."""
        found = self.default_vantage_points
        if callable(found):
            found = found()
        return [dict(v) for v in (found or [])]

    # -- derived views ----------------------------------------------------------
    @property
    def param_names(self) -> set[str]:
        """Every name a params file may set for this node (before connections)."""
        return set(self.in_paths) | set(self.algo_params) | set(self.perf_params)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"
