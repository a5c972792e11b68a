"""A job of a plan: a node with fully resolved arguments (made by :mod:`trackdag.plan`).

A big plan holds hundreds of thousands of them, so a :class:`Job` keeps few
fields in slots and shares the rest with the other jobs of its node (a
``_JobShape``): its folder, outputs and command are made from those when
asked for.  At 100,000 configurations the commands, outputs dicts and
folder strings had been 40% of a plan's memory, and a frozen dataclass's
``__init__`` a tenth of the time planning a job took.

Example:
    >>> from trackdag.node import ProcessNode
    >>> from trackdag.pipeline import Pipeline
    >>> from trackdag.plan import plan
    >>> node = ProcessNode(name='a', executable='echo', out_paths={'o': 'o.txt'}, algo_params={'x': 1})
    >>> (job,) = plan(Pipeline([node]), [{'a.x': 2}], root='/r').jobs.values()
    >>> job.outputs == {'o': job.folder + '/o.txt'}, '--o=' + job.folder + '/o.txt' in job.command
    (True, True)
"""
from __future__ import annotations

from typing import Any, Mapping

from .commands import _join_command, command_words
from .fragments import Fragments, join_parts


#: an empty mapping shared by the jobs (and rows) that have nothing there (never written to)
NOTHING: Mapping[str, Any] = {}


class _JobShape:
    """What every job of one node shares: how a job's folder, outputs and command follow from its fields."""

    __slots__ = ("node_dir", "out_rel", "executable", "unique", "unique_quoted", "fragments", "setup", "teardown",
                 "param_keys", "input_keys", "input_formats")

    def __init__(self, node_dir: str, out_rel: Mapping[str, "str | None"], executable: str,
                 unique: Mapping[str, bool], fragments: Fragments, setup: "str | None",
                 teardown: "str | None") -> None:
        self.node_dir = node_dir  # <root>/<node>/
        self.out_rel = out_rel  # output -> its path below the job folder (None: the folder itself)
        self.executable = executable
        # arguments whose values are new in every job (its outputs, its parents' outputs, its manifests):
        # not worth caching; True when the word surely needs no quoting (see Fragments.command_parts)
        self.unique = unique
        self.unique_quoted = dict.fromkeys(unique, False)  # the same, for a job whose row named its outputs
        self.fragments = fragments
        self.setup = setup
        self.teardown = teardown
        # Packed jobs (see Job.params): the keys of their params' / inputs' tuples (None: they hold dicts), and
        # each input's (prefix, suffix) around the value held, or None (a parent's output path is
        # <prefix><the parent's short id><suffix>: the child holds the parent's short id string, not a path)
        self.param_keys: "tuple[str, ...] | None" = None
        self.input_keys: "tuple[str, ...] | None" = None
        self.input_formats: "tuple[tuple[str, str] | None, ...] | None" = None

    def packed(self, param_keys: "tuple[str, ...] | None", input_keys: "tuple[str, ...] | None",
               input_formats: "tuple[tuple[str, str] | None, ...] | None") -> "_JobShape":
        """A copy for jobs whose params (``param_keys``) and / or inputs (``input_keys``) are packed."""
        copy = _JobShape(self.node_dir, self.out_rel, self.executable, self.unique, self.fragments, self.setup,
                         self.teardown)
        copy.param_keys, copy.input_keys, copy.input_formats = param_keys, input_keys, input_formats
        return copy


class _JobFields:
    """The stored fields of a :class:`Job` (assignable: only the planner makes one, see ``_new_job``)."""

    __slots__ = ("job_id", "short_id", "node", "_params", "_inputs", "parents", "requested", "row", "resources",
                 "redo", "gathered", "_shape", "_outputs", "_command")


class Job(_JobFields):
    """One unit of work: a node with fully resolved arguments.  Frozen: safe to hand to workers.

    Fields: ``job_id``, ``short_id``, ``node``, ``folder``, ``params``,
    ``inputs``, ``outputs``, ``parents``, ``requested``, ``command``,
    ``row``, ``resources`` (the node's request, with the row's Slurm
    options mapped in), ``redo`` (``<node>.__enabled__: redo``: run again
    even when done), ``gathered`` (gathered input -> the member output paths
    its manifest lists, in order), ``setup`` / ``teardown`` (the node's
    lifecycle shell text; not part of the id, like the command).

    ``folder``, ``outputs`` and ``command`` are made from the others when
    asked for, not kept: at 100,000 configurations they were 40% of a plan's
    memory (a command is hundreds of characters), and most of a big plan's
    commands are only needed when their job is submitted.  So are the
    ``params`` and ``inputs`` dicts of a *packed* job (made by the column-wise
    planner): it holds their values as a tuple, and its node's shape the keys;
    a parent's output path is held as the parent's short id.  At a million
    configurations a dict and a path per job had been a quarter of a plan's
    memory.  Each access makes a new dict (never write to it).
    """

    __slots__ = ()

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"a Job is frozen: {name!r} cannot be set (use Job.replace)")

    @property
    def params(self) -> Mapping[str, Any]:
        params = self._params
        if type(params) is not tuple:
            return params
        return dict(zip(self._shape.param_keys, params))  # type: ignore[arg-type]

    @property
    def inputs(self) -> Mapping[str, Any]:
        inputs = self._inputs
        if type(inputs) is not tuple:
            return inputs
        shape = self._shape
        return {k: v if f is None else f"{f[0]}{v}{f[1]}"
                for k, f, v in zip(shape.input_keys, shape.input_formats, inputs)}  # type: ignore[arg-type]

    @property
    def folder(self) -> str:
        return f"{self._shape.node_dir}{self.node}_id_{self.short_id}"

    @property
    def node_dir(self) -> str:
        """The folder of the node's job folders, ``<root>/<node>/`` (one string shared by the node's jobs)."""
        return self._shape.node_dir

    @property
    def outputs(self) -> Mapping[str, str]:
        if self._outputs is not None:
            return self._outputs
        folder = self.folder
        return {k: folder if rel is None else f"{folder}/{rel}" for k, rel in self._shape.out_rel.items()}

    @property
    def command(self) -> str:
        if self._command is not None:
            return self._command
        return make_command(self._shape, self.params, self.inputs, self.outputs, self._outputs is not None)[0]

    @property
    def setup(self) -> "str | None":
        return self._shape.setup

    @property
    def teardown(self) -> "str | None":
        return self._shape.teardown

    @property
    def name(self) -> str:
        """The folder name, e.g. ``predict_id_1a2b3c4d5e6f``."""
        return f"{self.node}_id_{self.short_id}"

    @property
    def resolved(self) -> dict[str, Any]:
        """Every argument the command receives, as ``<node>.<key>`` -> value."""
        merged = {**self.params, **self.inputs, **self.outputs}
        return {f"{self.node}.{k}": merged[k] for k in sorted(merged)}

    def replace(self, **changes: Any) -> "Job":
        """A copy with some stored fields changed (``resources``, ...), as ``dataclasses.replace``."""
        # (params and inputs as they are stored: a packed job's copy is packed, or holds the dicts given)
        fields = {k.lstrip("_") if k in ("_params", "_inputs") else k: getattr(self, k) for k in _JobFields.__slots__}
        unknown = set(changes) - set(fields)
        if unknown:
            raise TypeError(f"Job.replace: unknown field(s) {', '.join(sorted(unknown))}")
        fields.update(changes)
        return _new_job(**fields)

    _PUBLIC = ("job_id", "short_id", "node", "folder", "params", "inputs", "outputs", "parents", "requested",
               "command", "row", "resources", "redo", "gathered", "setup", "teardown")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Job):
            return NotImplemented
        return all(getattr(self, k) == getattr(other, k) for k in Job._PUBLIC)

    __hash__ = None  # type: ignore[assignment]  (its fields are dicts, as a frozen dataclass's were)

    def __repr__(self) -> str:
        return "Job(" + ", ".join(f"{k}={getattr(self, k)!r}" for k in Job._PUBLIC) + ")"


def make_command(shape: _JobShape, params: Mapping[str, Any], inputs: Mapping[str, Any],
                 outputs: Mapping[str, str], named_outputs: bool) -> "tuple[str, list | None]":
    """(the command text, its words when it took the long way and must be checked, else None).

    The long way (:func:`trackdag.commands.command_words`) is for a command
    that may be too long or holds a NUL byte: :func:`trackdag.commands.check_command`
    looks at its words.  ``named_outputs``: the row named the job's outputs.
    """
    args = sorted({**params, **inputs, **outputs}.items())
    built = shape.fragments.command_parts(args, shape.unique_quoted if named_outputs else shape.unique)
    if built is None or not Fragments.fits(shape.executable, built[1]):
        words = command_words(args)
        return _join_command(shape.executable, words), words
    return join_parts(shape.executable, built[0]), None


def _new_job(job_id: str, short_id: str, node: str, params: "Mapping[str, Any] | tuple",
             inputs: "Mapping[str, Any] | tuple",
             parents: tuple[str, ...], requested: Mapping[str, Any], row: int, resources: Mapping[str, Any],
             redo: bool, gathered: Mapping[str, tuple[str, ...]], _shape: _JobShape,
             _outputs: "Mapping[str, str] | None" = None, _command: "str | None" = None) -> Job:
    """A :class:`Job`: its fields set while it is still a ``_JobFields``, then frozen.

    (A frozen dataclass's ``__init__`` sets each field through
    ``object.__setattr__``: 4 us a job, a tenth of planning one.)
    """
    job = _JobFields()
    job.job_id, job.short_id, job.node, job._params, job._inputs = job_id, short_id, node, params, inputs
    job.parents, job.requested, job.row, job.resources, job.redo = parents, requested, row, resources, redo
    job.gathered, job._shape, job._outputs, job._command = gathered, _shape, _outputs, _command
    job.__class__ = Job
    return job


__all__ = ["Job"]
