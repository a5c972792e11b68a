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

Commands are written by :mod:`trackdag.commands`, which also bounds them.

Most plans are made a column at a time by :mod:`trackdag.plan_columns`
(3x faster: each node over every row at once); this module's row-by-row
loop makes the rest (gathers, ``__enabled__`` keys, Slurm options in rows,
...) and is the reference the column-wise planner is tested against.

Example:
    >>> from trackdag.node import ProcessNode
    >>> from trackdag.pipeline import Pipeline
    >>> node = ProcessNode(name='a', executable='echo', algo_params={'x': 1}, perf_params={'w': 0})
    >>> p = plan(Pipeline([node]), [{'a.x': 1, 'a.w': 1}, {'a.x': 1, 'a.w': 2}], root='/tmp/r')
    >>> len(p.jobs), len(p.rows)
    (1, 2)
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from .errors import ParamsError, PlanError
from .fragments import Fragments
from .ids import canonical_json, digest, digest_text, short_id
from .pipeline import Pipeline

from .row_keys import ENABLED, SLURM, TYPO_CUTOFF, check_row_keys  # noqa: F401
from .commands import (VarArgs, _join_command, absolute_path, absolute_programs, check_command,  # noqa: F401
                       check_row_values, command_words, format_value, render_command, surely_fits)
from .gather import MANIFEST_DIR, members as gather_members
from .job import NOTHING, Job, _new_job, make_command
from .plan_columns import plan_columns
from .plan_nodes import _local_order, _node_info, job_shape

@dataclass(frozen=True)
class Plan:
    """Jobs in dependency order (parents before children) plus the row mapping."""

    pipeline: Pipeline
    root: str
    rows: list[dict[str, Any]]
    jobs: dict[str, Job]
    #: (row index, job id) for every row and every node of the row (a list, or plan_columns.RowJobs)
    row_jobs: Sequence[tuple[int, str]]
    #: (parent job id, child job id)
    edges: list[tuple[str, str]]
    #: human-readable notes (rows whose perf params lost to an earlier row)
    notes: list[str] = field(default_factory=list)

    def children(self) -> dict[str, list[str]]:
        """Parent job id -> its children's ids; only jobs that have children are keys (``.get(j, ())``)."""
        kids: dict[str, list[str]] = {}
        for parent, child in self.edges:
            found = kids.get(parent)
            if found is None:
                kids[parent] = [child]
            else:
                found.append(child)
        return kids


#: False: every plan row by row (the tests compare both planners)
COLUMNS = True


@dataclass
class _Row:
    """One matrix row while it is planned: its values by node, and the jobs it made so far."""

    index: int
    row: dict[str, Any]
    by_node: dict[str, dict[str, Any]]
    jobs: dict[str, Job] = field(default_factory=dict)
    #: input values of this row, with the job that produced them (None = a user value)
    values: dict[tuple[str, str], tuple[Any, "str | None"]] = field(default_factory=dict)
    disabled: set[str] = field(default_factory=set)
    #: the row's keys, in order (rows of one matrix mostly share them: per-node work is looked up by them)
    keys: tuple = ()


def _enabled(value: Any, key: str, source: str) -> "bool | str":
    if value is True or value is False or value == "redo":
        return value
    if value is None or value == 0:
        return False
    if value == 1:
        return True
    raise ParamsError(f"{source}: {key!r} must be true, false or redo, got {value!r}"
                      + (" (a string: write it without quotes)" if isinstance(value, str) else ""))


def plan(pipeline: Pipeline, rows: list[dict[str, Any]], root: "str | os.PathLike",
         *, cwd: "str | None" = None, source: str = "params",
         slurm_options: Mapping[str, Any] | None = None, out_overrides: bool = False,
         missing_as_none: bool = False, connected_overrides: bool = False) -> Plan:
    """Turn rows into de-duplicated jobs; raises ParamsError/PlanError on bad input.

    Nodes are planned one after the other, each over every row, so that a
    gathered input can collect the jobs of every row (:mod:`trackdag.gather`).
    ``slurm_options``: the params' top-level ``slurm_options:`` (see
    :mod:`trackdag.slurm_options`).  ``out_overrides``: a row may name an
    output's file (KWDagger's ``<node>.<output>: name.json``), a path relative
    to the job folder like ``out_paths``; it enters the job id.  An input
    with no value in a row (no default, not in the row, not connected) is an
    error, unless ``missing_as_none`` (KWDagger's rule, for ``trackdag
    schedule``): then the command gets the text ``None``, the id a null, and
    the plan a note naming the inputs.  ``connected_overrides`` (KWDagger's
    rule, for ``trackdag schedule``): a row's value for a connected input
    beats the connection; the job then does not depend on that input's source.

    Python's cyclic garbage collector is paused meanwhile (see
    :mod:`trackdag.gcpause`).
    """
    from .gcpause import paused_gc

    with paused_gc():
        return _plan(pipeline, rows, root, cwd=cwd, source=source, slurm_options=slurm_options,
                     out_overrides=out_overrides, missing_as_none=missing_as_none,
                     connected_overrides=connected_overrides)


def _plan(pipeline: Pipeline, rows: list[dict[str, Any]], root: "str | os.PathLike", *, cwd: "str | None",
          source: str, slurm_options: Mapping[str, Any] | None, out_overrides: bool,
          missing_as_none: bool, connected_overrides: bool) -> Plan:
    from .slurm_options import merge, to_resources

    check_row_values(rows, source=source)
    undeclared = check_row_keys(pipeline, rows, source=source, out_overrides=out_overrides,
                                connected_overrides=connected_overrides)
    cwd = os.path.abspath(cwd or os.getcwd())
    root = os.path.abspath(os.fspath(root))
    infos = [_node_info(pipeline, n, cwd) for n in pipeline.order]
    jobs: dict[str, Job] = {}
    edges: dict[tuple[str, str], None] = {}
    short_owner: dict[str, dict[str, str]] = {}  # node -> short id -> the job id that has it
    missing: dict[str, None] = {}
    notes: dict[str, None] = dict.fromkeys(pipeline.notes)
    ignored_slurm: dict[str, None] = {}
    #: each job's effective params (``node.key`` -> value), for gather keys
    lookups: dict[str, dict[str, Any]] = {}
    #: node -> its jobs, in the order rows made them (a gather's candidates)
    by_node_jobs: dict[str, dict[str, Job]] = {}
    fragments = Fragments()
    need_lookups = any(info.gathers for info in infos)  # only a gather looks jobs up by their values
    absolute: dict[str, Any] = {}  # path value -> absolute path (most rows share a few files)
    if undeclared:
        notes[f"undeclared param(s) {', '.join(sorted(undeclared))} passed as algo params (they enter the job id)"] \
            = None
    columns = None if missing_as_none or not COLUMNS else plan_columns(
        infos, rows, root, cwd, fragments=fragments, connected_overrides=connected_overrides,
        base_slurm={info.name: to_resources(merge(slurm_options, info.slurm)) for info in infos})
    if columns is not None:  # the same plan, a column at a time (see trackdag.plan_columns)
        notes.update(dict.fromkeys(columns.notes))
        return _assembled(pipeline, root, rows, columns.jobs, columns.row_jobs, columns.edges, notes,
                          dict.fromkeys(columns.ignored_slurm), fragments, reorder=False)
    states = []
    for index, row in enumerate(rows):
        by_node: dict[str, dict[str, Any]] = {}
        for key, value in row.items():
            node_name, _, param = key.partition(".")
            by_node.setdefault(node_name, {})[param] = value
        states.append(_Row(index, row, by_node, keys=tuple(row)))

    # (node, input) pairs another node forwards from: the only row values kept for later nodes
    forwarded = {(s[1], s[2]) for info in infos for srcs in info.fed.values() for s in srcs if s[0] == "input"}
    for info in infos:
        node_jobs = by_node_jobs.setdefault(info.name, {})
        owners = short_owner.setdefault(info.name, {})
        port_orders: dict[frozenset, list[str]] = {}  # the ports a row sets beyond the node's own -> their order
        ports_by_keys: dict[tuple, list[str]] = {}  # a row's keys -> the same (rows of a matrix share their keys)
        # the same for every row: computed once per node
        upstream = {src for srcs in info.fed.values() for _, src, _ in srcs} | {
            src for srcs in info.param_fed.values() for src, _ in srcs}
        upstream -= {srcs[0][1] for p, srcs in info.fed.items() if p in info.gathers}
        base_ports = set(info.input_defaults) | set(info.fed)
        declared_inputs = set(pipeline.nodes[info.name].in_paths)
        base_slurm = to_resources(merge(slurm_options, info.slurm))
        node_dir = os.path.join(root, info.name, "")
        node_json = canonical_json(info.name)
        shape = job_shape(info, root, fragments)
        out_rel = shape.out_rel
        shared_resources = {**base_slurm[0], **info.resources}  # every job's, unless its row has Slurm options
        requested_keys: dict[tuple, list[str]] = {}  # a row's keys -> those this node's jobs record as requested
        for state in states:
            given = state.by_node.get(info.name, NOTHING)
            if ENABLED in given or SLURM in given:
                given = dict(given)
                enabled = _enabled(given.pop(ENABLED, True), f"{info.name}.{ENABLED}", source)
                row_slurm = given.pop(SLURM, None)
            else:
                enabled, row_slurm = True, None
            if not enabled or (state.disabled and not state.disabled.isdisjoint(upstream)):
                state.disabled.add(info.name)  # off in this row, and so is every node that depends on it
                continue
            algo = dict(info.algo_defaults)
            perf = dict(info.perf_defaults)
            out_given = NOTHING
            if given and not info.out_paths.keys().isdisjoint(given):
                out_given = {k: _out_override(info.name, k, v, source) for k, v in given.items() if k in info.out_paths}
                out_given = {k: v for k, v in out_given.items() if v != os.path.normpath(info.out_paths[k])}
            for key, value in given.items():
                if key in info.perf_keys:
                    perf[key] = value
                elif key not in info.in_keys and key not in info.out_paths:
                    algo[key] = value  # a declared algo param, or an undeclared one (see check_row_keys)
            for key, srcs in info.param_fed.items():
                # one peer or several (KWDagger's aliases): the value of whichever has it in this row
                found = [(f"{src}.{src_key}", state.jobs[src].params[src_key]) for src, src_key in srcs
                         if src in state.jobs and src_key in state.jobs[src].params]
                if found:
                    algo[key] = _one_value(found, f"{info.name}.{key}", source)
            inputs: dict[str, Any] = {}
            id_inputs: dict[str, Any] = {}
            parents: dict[str, None] = {}
            gather_ids: dict[str, Any] = {}
            members_of: dict[str, list[Job]] = {}
            lookup: dict[str, Any] = {f"{info.name}.{k}": v for k, v in algo.items()} if need_lookups else {}
            ports = ports_by_keys.get(state.keys)  # (given's keys follow from the row's)
            if ports is None:
                extra = frozenset(given.keys() & info.in_keys) if given else frozenset()
                ports = port_orders.get(extra)
                if ports is None:
                    ports = port_orders[extra] = _local_order(base_ports | extra, info)
                ports_by_keys[state.keys] = ports
            for port in ports:
                sources = info.fed.get(port)
                if port in info.gathers:
                    members_of[port] = []  # chosen below, once the job's own values are known
                    continue
                if sources and connected_overrides and port in given:
                    sources = None  # the row's value beats the connection (KWDagger's rule, under schedule)
                if sources and sources[0][0] == "output":
                    paths = []
                    for _, src_node, src_port in sources:
                        parent = state.jobs[src_node]
                        parents[parent.job_id] = None
                        paths.append(parent.outputs[src_port])
                        if need_lookups:
                            lookup.update(lookups[parent.job_id])
                    value, origin = (paths[0] if len(paths) == 1 else VarArgs(paths)), "parent"
                elif sources:  # forwarded from another node's input (several peers: whichever has a value)
                    found = [(f"{s[1]}.{s[2]}", state.values[(s[1], s[2])]) for s in sources
                             if state.values.get((s[1], s[2]), (None, None))[0] is not None]
                    if not found and not missing_as_none:
                        missing[f"{sources[0][1]}.{sources[0][2]}"] = None
                        continue
                    value = _one_value([(k, v) for k, (v, _) in found], f"{info.name}.{port}", source) \
                        if found else None
                    origin = found[0][1][1] if found else None
                    for _k, (_v, from_job) in found:
                        if from_job not in (None, "parent"):
                            parents[from_job] = None
                            if need_lookups:
                                lookup.update(lookups[from_job])
                else:
                    raw = given[port] if port in given else info.input_defaults[port]
                    if type(raw) is str:
                        value = absolute.get(raw)
                        if value is None:
                            value = absolute[raw] = absolute_path(raw, cwd)
                    else:
                        value = absolute_path(raw, cwd)
                    origin = None
                if value is None:
                    missing[f"{info.name}.{port}"] = None
                    if not missing_as_none:
                        continue
                inputs[port] = value
                if (info.name, port) in forwarded:
                    state.values[(info.name, port)] = (value, _origin_job(origin, sources, state.jobs))
                if origin is None:
                    id_inputs[port] = value
                    if need_lookups:
                        lookup[f"{info.name}.{port}"] = given.get(port, value)
            for src, _k in (s for srcs in info.param_fed.values() for s in srcs) if need_lookups else ():
                if src in state.jobs:
                    lookup.update(lookups[state.jobs[src].job_id])
            for port in members_of:
                spec = info.gathers[port]
                _, src_node, src_port = info.fed[port][0]
                members = gather_members(spec, info.name, lookup, by_node_jobs.get(src_node, {}).values(), lookups,
                                         source)
                members_of[port] = members
                for member in members:
                    parents[member.job_id] = None
                gather_ids[port] = {"spec": spec.to_dict(), "members": [m.job_id for m in members]}
            # (inputs and members_of are declared ports, apart: when they are all, none is missing)
            for port in sorted(declared_inputs.difference(inputs, members_of)) \
                    if len(inputs) + len(members_of) < len(declared_inputs) else ():
                if (info.name, port) not in state.values and port not in info.fed:
                    missing[f"{info.name}.{port}"] = None
                    if missing_as_none:  # KWDagger's: the command gets the text None, the id a null
                        inputs[port] = id_inputs[port] = None
                        state.values[(info.name, port)] = (None, None)
            if gather_ids or out_given:
                payload: dict[str, Any] = {"node": info.name, "algo": algo, "inputs": id_inputs,
                                           "parents": sorted(parents)}
                if gather_ids:
                    payload["gather"] = gather_ids
                if out_given:
                    payload["outputs"] = out_given
                job_id = digest(payload)
            else:  # the same text as canonical_json of that payload, from cached members
                job_id = digest_text(f'{{"algo":{fragments.json_object(algo)},"inputs":'
                                     f'{fragments.json_object(id_inputs)},"node":{node_json},"parents":['
                                     + ",".join([f'"{p}"' for p in sorted(parents)]) + "]}")
            job = jobs.get(job_id)
            if job is None:
                short = short_id(job_id)
                owner = owners.setdefault(short, job_id)
                if owner != job_id:
                    raise PlanError(f"short id collision in node {info.name!r}: {short} is the prefix of {owner} and {job_id}")
                folder = f"{node_dir}{info.name}_id_{short}"
                outputs = {k: folder if rel is None else f"{folder}/{rel}" for k, rel in out_rel.items()} \
                    if not out_given else {k: (folder if rel in (".", "./") else
                                               os.path.normpath(os.path.join(folder, rel)))
                                           for k, rel in {**info.out_paths, **out_given}.items()}
                gathered = {}
                for port, members in members_of.items():
                    src_port = info.fed[port][0][2]
                    inputs[port] = os.path.join(folder, MANIFEST_DIR, f"{port}.txt")
                    gathered[port] = tuple(m.outputs[src_port] for m in members)
                params = {**algo, **perf}
                row = state.row
                keys = requested_keys.get(state.keys)
                if keys is None:
                    keys = requested_keys[state.keys] = [
                        k for k in row if k.partition(".")[0] in info.config_nodes
                        and k.partition(".")[2] not in (ENABLED, SLURM) and k != SLURM]
                requested = {k: row[k] for k in keys}
                # the command is made when asked for (Job.command); here only whether it can be started
                command = None
                if not surely_fits(info.executable, params, inputs, outputs):  # (rare: count the words)
                    text, words = make_command(shape, params, inputs, outputs, bool(out_given))
                    if words is not None:
                        check_command(info.name, info.executable, words, source=source)  # raises, or it fits
                        command = text  # (kept: made the long way)
                row_wide = row.get(SLURM)
                if row_wide is None and row_slurm is None:
                    resources = shared_resources
                    ignored_slurm.update(dict.fromkeys(base_slurm[1]))
                else:
                    mapped, ignored = to_resources(merge(slurm_options, row_wide, info.slurm, row_slurm))
                    ignored_slurm.update(dict.fromkeys(ignored))
                    resources = {**mapped, **info.resources}
                job = _new_job(job_id, short, info.name, params, inputs, tuple(sorted(parents)), requested,
                               state.index, resources, enabled == "redo", gathered or NOTHING, shape,
                               outputs if out_given else None, command)
                jobs[job_id] = job
                # its outputs' paths too, for a gather grouped by an ancestor's output (KWDagger's
                # group_by=['prepare.data_fpath']: one group per prepare job)
                if need_lookups:
                    lookup.update({f"{info.name}.{k}": v for k, v in outputs.items()})
                    lookups[job_id] = lookup
                for parent in parents:
                    edges[(parent, job_id)] = None
            elif perf and any(job.params.get(k) != v for k, v in perf.items()):
                changed = sorted(k for k, v in perf.items() if job.params.get(k) != v)
                notes[f"{info.name}: rows differing only in perf params {', '.join(changed)} share one job; the first row's values are used"] = None
            if need_lookups:  # a gather's candidates
                node_jobs.setdefault(job_id, job)
            state.jobs[info.name] = job
            for port in members_of:  # a gathered input's value is its manifest, written by this job
                state.values[(info.name, port)] = (job.inputs[port], job.job_id)
    if missing:
        keys = ", ".join(sorted(missing))
        if not missing_as_none:
            raise ParamsError(f"{source}: input(s) {keys} have no value: give each a value in the params "
                              "(<node>.<input>: PATH), a default in in_paths, or a connection from another node")
        notes[f"input(s) {keys} have no value in some row: their commands get the text None, as KWDagger's did "
              "(give each a value in the params, a default in in_paths, or a connection)"] = None
    row_jobs = [(state.index, state.jobs[info.name].job_id) for state in states for info in infos
                if info.name in state.jobs]
    return _assembled(pipeline, root, rows, jobs, row_jobs, list(edges), notes, ignored_slurm, fragments,
                      reorder=not any(info.gathers for info in infos))


def _assembled(pipeline: Pipeline, root: str, rows: list[dict[str, Any]], jobs: dict[str, Job],
               row_jobs: Sequence[tuple[int, str]], edges: list[tuple[str, str]], notes: dict[str, None],
               ignored_slurm: dict[str, None], fragments: Fragments, *, reorder: bool) -> Plan:
    """The Plan of either planner: the last notes; ``reorder``: jobs in row order (parents still first).

    (Without gathers the row-by-row planner reorders its jobs; the column-wise one makes them in that order.)
    """
    if ignored_slurm:
        notes[f"slurm options without a meaning here, ignored: {', '.join(sorted(ignored_slurm))} "
              "(cpus, gpus and mem became resources; trackdag runs on Ray or locally, not under Slurm)"] = None
    fragments.clear()  # every value planned was cached; commands made later fill it again, a job at a time
    if reorder:  # row by row, as rows come: parents still come first
        ordered = {j: jobs[j] for _, j in row_jobs}
        jobs = ordered if len(ordered) == len(jobs) else {**ordered, **jobs}  # (every job is some row's)
    return Plan(pipeline, root, rows, jobs, row_jobs, edges, list(notes))


def _out_override(node: str, key: str, value: Any, source: str) -> str:
    """A row's name for an output (``<node>.<output>: name``): a path inside the job folder, or ParamsError."""
    from .pipeline import _check_out_path

    problems = _check_out_path(node, key, value)
    if problems:
        raise ParamsError(f"{source}: '{node}.{key}': " + problems[0].split(": ", 1)[1].replace(
            f"out_paths[{key!r}]", "the output's path") + " (an output set in the params is a file in the job folder)")
    return os.path.normpath(value)


def _one_value(found: list[tuple[str, Any]], key: str, source: str) -> Any:
    """The value several peers forward to ``key`` in one row: they must agree (KWDagger's aliases)."""
    value = found[0][1]
    for other, candidate in found[1:]:
        if canonical_json(candidate) != canonical_json(value):
            raise ParamsError(f"{source}: {key} is fed by {found[0][0]} ({value!r}) and by {other} ({candidate!r}) "
                              "in one row; peers feeding one port must agree: give it one value")
    return value


def _origin_job(origin: Any, sources: Any, row_job: Mapping[str, Job]) -> str | None:
    """Which job produced a value: a parent's id when it came from an output."""
    if origin == "parent":
        return row_job[sources[0][1]].job_id
    return origin
