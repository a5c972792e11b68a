"""Plan: matrix rows x pipeline -> de-duplicated jobs with ids, folders and commands.

For every row and every node (in pipeline order) the plan resolves the
node's arguments:

- params: ``algo_params`` and ``perf_params`` defaults, overridden by the row;
- inputs: an output of a parent job (``a.outputs[x] -> b.inputs[y]``), a
  value forwarded from another node's input (``a.inputs[x] -> b.inputs[y]``),
  the row's value, or the ``in_paths`` default.  Path values are made
  absolute against the current directory (URLs such as ``s3://`` are kept);
- outputs: ``<job folder>/<out_paths[name]>``.

The job id is the SHA-256 of the canonical JSON of ``{node, algo params with
defaults, values of inputs not fed by a parent job, sorted parent job ids}``;
perf params never enter it.  Identical jobs from different rows collapse into
one.  Input paths enter the id as absolute paths: the same file spelled two
ways is one job, and a moved data folder is new work.

Bounds (checked here, where commands are rendered, so every way of making
rows is covered; each is a one-line :class:`~trackdag.errors.ParamsError`
naming the key):

- a NUL byte (``\\0``) anywhere in a row (a key, a value, inside a list or
  mapping value) is refused: no command-line argument, file name or
  environment variable can hold one, and it would be cut off or rejected
  later, far from its cause;
- one argument (``--key=value`` or one word of ``--key v1 v2``, counted in
  UTF-8 bytes) may have at most :data:`MAX_ARG_BYTES` (126,976 = 124 KiB):
  Linux refuses to start a program with an argument of 131,072 bytes
  (``MAX_ARG_STRLEN``, 128 KiB with the terminating NUL); 4 KiB are kept spare;
- a whole command (program and arguments) may have at most
  :data:`MAX_COMMAND_BYTES` (1 MiB): ``ARG_MAX`` (usually 2 MiB, a quarter
  of the stack limit) holds the arguments *and* the environment, so half is
  left to the environment.

A value that big belongs in a file whose path is the parameter.

Example:
    >>> from trackdag.node import ProcessNode
    >>> from trackdag.pipeline import Pipeline
    >>> node = ProcessNode(name='a', executable='echo', algo_params={'x': 1}, perf_params={'w': 0})
    >>> p = plan(Pipeline([node]), [{'a.x': 1, 'a.w': 1}, {'a.x': 1, 'a.w': 2}], root='/tmp/r')
    >>> len(p.jobs), len(p.rows)
    (1, 2)
"""
from __future__ import annotations

import json
import os
import re
import shlex
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from .errors import ParamsError, PlanError, did_you_mean
from .ids import digest, short_id
from .node import NO_DEFAULT
from .pipeline import Pipeline

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")

#: Longest single argument a command may pass, in bytes (Linux MAX_ARG_STRLEN 131,072 - 4 KiB).
MAX_ARG_BYTES = 128 * 1024 - 4 * 1024
#: Longest whole command (program + arguments), in bytes: half of Linux's usual 2 MiB ARG_MAX.
MAX_COMMAND_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Job:
    """One unit of work: a node with fully resolved arguments.  Frozen: safe to hand to workers."""

    job_id: str
    short_id: str
    node: str
    folder: str
    params: Mapping[str, Any]
    inputs: Mapping[str, Any]
    outputs: Mapping[str, str]
    parents: tuple[str, ...]
    requested: Mapping[str, Any]
    command: str
    row: int

    @property
    def name(self) -> str:
        """The folder name, e.g. ``predict_id_1a2b3c4d5e6f``."""
        return f"{self.node}_id_{self.short_id}"

    @property
    def resolved(self) -> dict[str, Any]:
        """Every argument the command receives, as ``<node>.<key>`` -> value."""
        merged = {**self.params, **self.inputs, **self.outputs}
        return {f"{self.node}.{k}": merged[k] for k in sorted(merged)}


@dataclass(frozen=True)
class Plan:
    """Jobs in dependency order (parents before children) plus the row mapping."""

    pipeline: Pipeline
    root: str
    rows: list[dict[str, Any]]
    jobs: dict[str, Job]
    #: (row index, job id) for every row and every node of the row
    row_jobs: list[tuple[int, str]]
    #: (parent job id, child job id)
    edges: list[tuple[str, str]]
    #: human-readable notes (rows whose perf params lost to an earlier row)
    notes: list[str] = field(default_factory=list)

    def children(self) -> dict[str, list[str]]:
        kids: dict[str, list[str]] = {j: [] for j in self.jobs}
        for parent, child in self.edges:
            kids[parent].append(child)
        return kids


def format_value(value: Any) -> str:
    """How a value is written after ``--key=``: strings verbatim, containers as JSON.

    >>> [format_value(v) for v in ('a b', 3, 0.5, True, None, [1, 'x'])]
    ['a b', '3', '0.5', 'True', 'None', '[1, "x"]']
    """
    if isinstance(value, str):
        return value
    if value is None or isinstance(value, (bool, int, float)):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def command_words(args: Iterable[tuple[str, Any]]) -> list[tuple[str, list[str]]]:
    """The argv words of each argument, before shell quoting: ``(key, words)`` per argument.

    >>> command_words([('x', 1), ('f', VarArgs(['a', 'b']))])
    [('x', ['--x=1']), ('f', ['--f', 'a', 'b'])]
    """
    out = []
    for key, value in args:
        if isinstance(value, VarArgs):
            out.append((key, [f"--{key}"] + [format_value(v) for v in value]))
        else:
            out.append((key, [f"--{key}={format_value(value)}"]))
    return out


def render_command(executable: str, args: Iterable[tuple[str, Any]], *, multiline: bool = True) -> str:
    """Shell text of ``executable --key=value ...``; every value is shell-quoted.

    A list of paths given by several parent outputs is passed as
    ``--key path1 path2`` (KWDagger's var-args form).

    >>> render_command('prog', [('x', '$(id)'), ('y', 'a; b')], multiline=False)
    "prog '--x=$(id)' '--y=a; b'"
    """
    return _join_command(executable, command_words(args), multiline)


def _join_command(executable: str, words: list[tuple[str, list[str]]], multiline: bool = True) -> str:
    parts = [" ".join(shlex.quote(w) for w in ws) for _, ws in words]
    sep = " \\\n    " if multiline else " "
    return sep.join([executable.strip()] + parts)


def _utf8_len(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def check_command(node: str, executable: str, words: list[tuple[str, list[str]]], *,
                  source: str = "params") -> None:
    """Raise ParamsError unless the command can be started (see the module docstring's bounds).

    >>> check_command('a', 'prog', command_words([('x', 'y' * 200_000)]))
    Traceback (most recent call last):
    ...
    trackdag.errors.ParamsError: params: 'a.x': the argument --x=... is 200,004 bytes, more than the 126,976 bytes one command-line argument may have (Linux refuses 131,072); pass a value this big in a file
    """
    total, largest, largest_key = _utf8_len(executable) + 1, 0, ""
    for key, ws in words:
        for word in ws:
            if "\x00" in word:
                raise ParamsError(f"{source}: '{node}.{key}': the value contains a NUL byte (\\0), "
                                  "which a command-line argument cannot hold")
            size = _utf8_len(word)
            if size > MAX_ARG_BYTES:
                raise ParamsError(
                    f"{source}: '{node}.{key}': the argument --{key}{'=' if len(ws) == 1 else ' '}... "
                    f"is {size:,} bytes, more than the {MAX_ARG_BYTES:,} bytes one command-line "
                    "argument may have (Linux refuses 131,072); pass a value this big in a file")
            total += size + 1
            if size > largest:
                largest, largest_key = size, key
    if total > MAX_COMMAND_BYTES:
        raise ParamsError(
            f"{source}: node {node!r}: its command is {total:,} bytes, more than the "
            f"{MAX_COMMAND_BYTES:,} bytes a command line may safely have (ARG_MAX, shared with the "
            f"environment); the largest argument is '{node}.{largest_key}' ({largest:,} bytes): "
            "pass big values in files")


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, (list, tuple)):
        return any(_has_nul(v) for v in value)
    if isinstance(value, Mapping):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    return False


def check_row_values(rows: list[dict[str, Any]], *, source: str = "params") -> None:
    """Reject a NUL byte in any key or value of any row (it cannot reach a command intact).

    >>> check_row_values([{'a.x': ['ok', 'no\\x00pe']}], source='p.yaml')
    Traceback (most recent call last):
    ...
    trackdag.errors.ParamsError: p.yaml: 'a.x': the value contains a NUL byte (\\0), which a command-line argument cannot hold
    """
    for row in rows:
        for key, value in row.items():
            if isinstance(key, str) and "\x00" in key:
                raise ParamsError(f"{source}: key {key!r} contains a NUL byte (\\0), which a "
                                  "command-line argument cannot hold")
            if _has_nul(value):
                raise ParamsError(f"{source}: {key!r}: the value contains a NUL byte (\\0), "
                                  "which a command-line argument cannot hold")


class VarArgs(tuple):
    """An input fed by several outputs: passed as ``--key v1 v2 ...``."""


_PROGRAM_TOKEN = re.compile(r"(?<!\S)([A-Za-z0-9_.+@%,~-][A-Za-z0-9_./+@%,~-]*)(?!\S)")


def absolute_programs(executable: str, bases: Iterable[str]) -> str:
    """``executable`` with each relative path to an existing file made absolute.

    Jobs run inside their own folder, so ``python train.py`` would look for
    ``train.py`` there.  A word of the command that contains ``/`` or has a
    file extension, and names a file in one of ``bases`` (the launch
    directory first, as KWDagger ran commands from it, then the pipeline
    file's folder), is replaced by its absolute path; everything else
    (``python``, ``-m pkg.mod``, options, pipes, quoting) is kept verbatim.

    >>> import tempfile, os
    >>> d = tempfile.mkdtemp(); open(os.path.join(d, 'train.py'), 'w').close()
    >>> absolute_programs('python train.py --fast | tee log.txt', [d]) == f'python {d}/train.py --fast | tee log.txt'
    True
    """
    bases = [b for b in bases if b]

    def replace(match: "re.Match[str]") -> str:
        word = match.group(1)
        name = word.rsplit("/", 1)[-1]
        if word.startswith(("-", "/", "~")) or ("/" not in word and "." not in name.strip(".")):
            return word
        for base in bases:
            candidate = os.path.normpath(os.path.join(base, word))
            if os.path.isfile(candidate):
                return shlex.quote(candidate)
        return word

    return _PROGRAM_TOKEN.sub(replace, executable)


def absolute_path(value: Any, cwd: str) -> Any:
    """Make path-like input values absolute (lists element-wise); keep URLs and non-strings."""
    if isinstance(value, str):
        if not value or _URL.match(value):
            return value
        return os.path.normpath(os.path.join(cwd, os.path.expanduser(value)))
    if isinstance(value, list):
        return [absolute_path(v, cwd) for v in value]
    return value


def check_row_keys(pipeline: Pipeline, rows: list[dict[str, Any]], *, source: str = "params") -> None:
    """Reject keys that name no node, no declared param, an output or a connected input.

    All problems are reported together in one line.
    """
    problems = []
    seen: set[str] = set()
    for row in rows:
        for key in row:
            if key in seen:
                continue
            seen.add(key)
            problem = _key_problem(pipeline, key)
            if problem:
                problems.append(problem)
    if problems:
        raise ParamsError(f"{source}: " + "; ".join(problems))


def _key_problem(pipeline: Pipeline, key: str) -> str | None:
    node_name, dot, param = key.partition(".")
    if not dot or not param:
        return f"key {key!r} is not <node>.<param>"
    node = pipeline.nodes.get(node_name)
    if node is None:
        return f"key {key!r} names no node of the pipeline" + (
            did_you_mean(node_name, list(pipeline.nodes)) or f" (nodes: {', '.join(pipeline.order)})")
    if param in node.out_paths:
        return f"key {key!r} is an output of {node_name}; its path is fixed by out_paths"
    connected = pipeline.connected_inputs(node_name)
    if param in connected:
        src = ", ".join(p.key for p in connected[param])
        return f"key {key!r} is connected to {src}; remove it from the params"
    if param not in node.param_names:
        settable = sorted(node.param_names - set(connected))
        return f"node {node_name!r} declares no param {param!r}" + (
            did_you_mean(param, settable) or f" (it declares: {', '.join(settable) or 'nothing'})")
    return None


@dataclass
class _NodeInfo:
    name: str
    executable: str
    algo_defaults: dict[str, Any]
    perf_defaults: dict[str, Any]
    algo_keys: frozenset[str]
    perf_keys: frozenset[str]
    input_defaults: dict[str, Any]
    out_paths: dict[str, str]
    fed: dict[str, list[tuple[str, str, str]]]  # input -> [(kind, src node, src port)]
    config_nodes: frozenset[str]


def _node_info(pipeline: Pipeline, name: str, cwd: str) -> _NodeInfo:
    node = pipeline.nodes[name]
    fed = {p: [(s.kind, s.node.name, s.name) for s in srcs] for p, srcs in pipeline.connected_inputs(name).items()}
    return _NodeInfo(
        name=name,
        executable=absolute_programs(node.executable, [cwd, pipeline.source_dir or ""]),
        algo_defaults={k: v for k, v in node.algo_params.items() if v is not NO_DEFAULT},
        perf_defaults={k: v for k, v in node.perf_params.items() if v is not NO_DEFAULT},
        algo_keys=frozenset(node.algo_params),
        perf_keys=frozenset(node.perf_params),
        input_defaults={k: v for k, v in node.in_paths.items() if v is not NO_DEFAULT and v is not None},
        out_paths=dict(node.out_paths),
        fed=fed,
        config_nodes=frozenset(pipeline.ancestors(name) + [name]),
    )


def plan(pipeline: Pipeline, rows: list[dict[str, Any]], root: "str | os.PathLike",
         *, cwd: "str | None" = None, source: str = "params") -> Plan:
    """Turn rows into de-duplicated jobs; raises ParamsError/PlanError on bad input."""
    check_row_values(rows, source=source)
    check_row_keys(pipeline, rows, source=source)
    cwd = os.path.abspath(cwd or os.getcwd())
    root = os.path.abspath(os.fspath(root))
    infos = [_node_info(pipeline, n, cwd) for n in pipeline.order]
    jobs: dict[str, Job] = {}
    row_jobs: list[tuple[int, str]] = []
    edges: dict[tuple[str, str], None] = {}
    short_owner: dict[tuple[str, str], str] = {}
    missing: dict[str, None] = {}
    notes: dict[str, None] = {}

    for index, row in enumerate(rows):
        by_node: dict[str, dict[str, Any]] = {}
        for key, value in row.items():
            node_name, _, param = key.partition(".")
            by_node.setdefault(node_name, {})[param] = value
        row_job: dict[str, Job] = {}
        # input values of this row, with the job that produced them (None = user value)
        values: dict[tuple[str, str], tuple[Any, str | None]] = {}
        for info in infos:
            given = by_node.get(info.name, {})
            algo = dict(info.algo_defaults)
            perf = dict(info.perf_defaults)
            inputs: dict[str, Any] = {}
            id_inputs: dict[str, Any] = {}
            parents: dict[str, None] = {}
            for key, value in given.items():
                if key in info.algo_keys:
                    algo[key] = value
                elif key in info.perf_keys:
                    perf[key] = value
            for port in sorted(set(info.input_defaults) | set(info.fed) | (given.keys() - info.algo_keys - info.perf_keys)):
                sources = info.fed.get(port)
                if sources and sources[0][0] == "output":
                    paths = []
                    for _, src_node, src_port in sources:
                        parent = row_job[src_node]
                        parents[parent.job_id] = None
                        paths.append(parent.outputs[src_port])
                    value, origin = (paths[0] if len(paths) == 1 else VarArgs(paths)), "parent"
                elif sources:  # forwarded from another node's input
                    value, origin = values.get((sources[0][1], sources[0][2]), (None, None))
                    if origin not in (None, "parent"):
                        parents[origin] = None
                    if value is None:
                        missing[f"{sources[0][1]}.{sources[0][2]}"] = None
                        continue
                elif port in given:
                    value, origin = absolute_path(given[port], cwd), None
                else:
                    value, origin = absolute_path(info.input_defaults[port], cwd), None
                if value is None:
                    missing[f"{info.name}.{port}"] = None
                    continue
                inputs[port] = value
                values[(info.name, port)] = (value, _origin_job(origin, sources, row_job))
                if origin is None:
                    id_inputs[port] = value
            for port in sorted(set(pipeline.nodes[info.name].in_paths) - set(inputs)):
                if (info.name, port) not in values and port not in info.fed:
                    missing[f"{info.name}.{port}"] = None
            payload = {"node": info.name, "algo": algo, "inputs": id_inputs, "parents": sorted(parents)}
            job_id = digest(payload)
            job = jobs.get(job_id)
            if job is None:
                short = short_id(job_id)
                owner = short_owner.setdefault((info.name, short), job_id)
                if owner != job_id:
                    raise PlanError(f"short id collision in node {info.name!r}: {short} is the prefix of {owner} and {job_id}")
                folder = os.path.join(root, info.name, f"{info.name}_id_{short}")
                outputs = {k: (folder if rel in (".", "./") else os.path.normpath(os.path.join(folder, rel)))
                           for k, rel in info.out_paths.items()}
                params = {**algo, **perf}
                args = sorted({**params, **inputs, **outputs}.items())
                requested = {k: v for k, v in row.items() if k.partition(".")[0] in info.config_nodes}
                words = command_words(args)
                check_command(info.name, info.executable, words, source=source)
                job = Job(job_id, short, info.name, folder, params, inputs, outputs, tuple(sorted(parents)),
                          requested, _join_command(info.executable, words), index)
                jobs[job_id] = job
                for parent in parents:
                    edges[(parent, job_id)] = None
            elif perf and any(job.params.get(k) != v for k, v in perf.items()):
                changed = sorted(k for k, v in perf.items() if job.params.get(k) != v)
                notes[f"{info.name}: rows differing only in perf params {', '.join(changed)} share one job; the first row's values are used"] = None
            row_job[info.name] = job
            row_jobs.append((index, job_id))
    if missing:
        keys = ", ".join(sorted(missing))
        raise ParamsError(f"{source}: input(s) {keys} have no value: set them in the params or give in_paths a default")
    return Plan(pipeline, root, rows, jobs, row_jobs, list(edges), list(notes))


def _origin_job(origin: Any, sources: Any, row_job: Mapping[str, Job]) -> str | None:
    """Which job produced a value: a parent's id when it came from an output."""
    if origin == "parent":
        return row_job[sources[0][1]].job_id
    return origin
