"""The column-wise planner: each node over every row at once, for the pipelines most sweeps are.

:func:`trackdag.plan.plan` plans row by row: for each node and each row it
resolves the arguments, writes the id's canonical JSON and makes the Job.
At 100,000 configurations that was 30 us a job, most of it per-row
bookkeeping for features few sweeps use.  This module plans the same jobs a
column at a time.  Rows with the same keys (in the same order) are one
group.  For a node and a group:

- each key's values are one list; each distinct value's JSON member is
  made once;
- a row's id text is one ``%`` of the group's template, with the constant
  members written in;
- a command's length is bounded from each column's longest value, instead
  of counting each job's words.

Only the jobs themselves are made row by row, in row order, so that the
first row of a job decides its perf params and ``requested`` values, as it
does row by row.  Their params and inputs are *packed* (see
:class:`trackdag.job.Job`) when each row's differ: a tuple of the row's
values, a parent's output held as the parent's short id.

:func:`plan_columns` answers only when its answer is exactly the row-by-row
planner's, and returns None otherwise (that planner then runs).  It returns
None for:

- gathered inputs, algo params fed by other nodes, an input fed by several
  peers;
- ``__enabled__`` / ``__slurm_options__`` keys, outputs named in a row, a row
  value for a connected input under ``connected_overrides``;
- an input without a value;
- a value that is not a plain scalar (a list, a dict, a huge int);
- a command that might be too long to skip counting its words.

``tests/test_plan_columns.py`` holds both planners' plans equal on generated
pipelines and rows.
"""
from __future__ import annotations

import hashlib
import operator
import os
from itertools import repeat
from collections.abc import Sequence
from typing import Any, Iterator, Mapping, NamedTuple

from .commands import MAX_ARG_BYTES, MAX_COMMAND_BYTES, absolute_path
from .errors import PlanError
from .fragments import Fragments
from .ids import canonical_json, short_ids
from .job import NOTHING, Job, _JobShape, _new_job
from .plan_nodes import _NodeInfo, _local_order, job_shape, out_rels
from .row_keys import ENABLED, SLURM

#: what :func:`trackdag.commands.surely_fits` counts for a bool, None, float or small int
_SHORT_SCALAR = 24
_LIMIT = min(MAX_ARG_BYTES, MAX_COMMAND_BYTES)


class Planned(NamedTuple):
    """What the column-wise planner found (the parts of a Plan it decides)."""

    jobs: dict[str, Job]
    #: (row index, job id), row by row, nodes in pipeline order
    row_jobs: "RowJobs"
    edges: list[tuple[str, str]]
    #: notes in the order the row-by-row planner makes them (rows sharing a job, differing in perf params)
    notes: list[str]
    #: slurm options without a meaning here, in the order they were met
    ignored_slurm: list[str]


class _Unplannable(Exception):
    """This plan needs the row-by-row planner."""


def plan_columns(infos: Sequence[_NodeInfo], rows: list[dict[str, Any]], root: str, cwd: str, *,
                 fragments: Fragments, base_slurm: Mapping[str, tuple[dict[str, Any], list[str]]],
                 connected_overrides: bool) -> "Planned | None":
    """The plan of ``rows`` over the nodes ``infos`` (pipeline order), or None (see the module docstring).

    ``base_slurm``: each node's ``to_resources(merge(params' slurm_options, node's))``.
    """
    if not rows or any(info.gathers or info.param_fed for info in infos):
        return None
    groups: dict[tuple, list[int]] = {}
    for index, row in enumerate(rows):
        keys = tuple(row)
        found = groups.get(keys)
        if found is None:
            groups[keys] = [index]
        else:
            found.append(index)
    if any(SLURM in keys for keys in groups):
        return None
    try:
        return _Columns(infos, rows, groups, root, cwd, fragments, base_slurm, connected_overrides).plan()
    except _Unplannable:
        return None


class RowJobs(Sequence):
    """A plan's ``row_jobs``: (row index, job id) for each row and each node, made from the nodes' id columns.

    As a list of tuples they were 156 MB of a million-configuration plan.
    Read only; equal to a list of the same pairs.
    """

    __slots__ = ("_columns",)

    def __init__(self, columns: "list[list[str]]") -> None:
        self._columns = columns  # one per node, each a job id per row

    def __len__(self) -> int:
        return len(self._columns) * len(self._columns[0]) if self._columns else 0

    def __iter__(self) -> Iterator[tuple[int, str]]:
        for i, row in enumerate(zip(*self._columns)):
            for job_id in row:
                yield i, job_id

    def __getitem__(self, k: Any) -> Any:
        if isinstance(k, slice):
            return list(self)[k]
        width = len(self._columns)
        row, node = divmod(range(len(self))[k], width)
        return row, self._columns[node][row]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, (list, tuple, RowJobs)):
            return NotImplemented
        return len(self) == len(other) and all(a == tuple(b) for a, b in zip(self, other))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(list(self))


class _Column:
    """One argument's values over a group's rows: a constant, or a list (one per row).

    ``fmt``: (prefix, suffix) when each value is ``prefix + held + suffix`` and
    ``values`` holds the middles (a parent's output: the parent's short ids).
    """

    __slots__ = ("const", "values", "few", "fmt")

    def __init__(self, *, const: Any = None, values: "list | None" = None,
                 fmt: "tuple[str, str] | None" = None) -> None:
        self.const, self.values, self.fmt = const, values, fmt
        #: the values are of one kind, and few are distinct (rows may share dicts of them; see _dicts)
        self.few = False

    def each(self, n: int) -> Any:
        return self.values if self.values is not None else repeat(self.const, n)


class _Group:
    """A node's work for one group of rows: its job ids and, per row, what makes its Job."""

    __slots__ = ("ids", "shorts", "param_keys", "input_keys", "requested_keys", "perf_keys", "items", "shape")

    ids: list[str]
    shorts: list[str]
    items: Iterator[tuple]
    shape: _JobShape  # (the node's, or its copy for packed jobs)


class _Columns:
    """One column-wise planning pass (see :func:`plan_columns`)."""

    def __init__(self, infos: Sequence[_NodeInfo], rows: list[dict[str, Any]], groups: dict[tuple, list[int]],
                 root: str, cwd: str, fragments: Fragments,
                 base_slurm: Mapping[str, tuple[dict[str, Any], list[str]]], connected_overrides: bool) -> None:
        self.infos, self.rows, self.groups, self.root, self.cwd = infos, rows, groups, root, cwd
        self.fragments, self.base_slurm, self.connected_overrides = fragments, base_slurm, connected_overrides
        self.whole = len(groups) == 1  # one group holds every row: its lists are the plan's
        #: node -> each row's job id / short id (rows in order)
        self.ids: dict[str, list[str]] = {}
        self.shorts: dict[str, list[str]] = {}
        #: (node, input) another node forwards: each row's value, and the job it came from (None: the row's)
        self.values: dict[tuple[str, str], tuple[list, "list | None"]] = {}
        self.forwarded = {(s[1], s[2]) for info in infos for srcs in info.fed.values() for s in srcs
                          if s[0] == "input"}
        self._outputs: dict[tuple[str, str], list[str]] = {}
        self._absolute: dict[str, Any] = {}

    # -- helpers ---------------------------------------------------------------------
    def take(self, column: list, index: list[int]) -> list:
        """``column``'s values at the rows ``index`` (the column itself when the group is every row)."""
        return column if self.whole else [column[i] for i in index]

    @staticmethod
    def put(column: list, index: list[int], values: list) -> None:
        """Set ``column`` at the rows ``index`` (of one group, when there are several) to ``values``."""
        for i, value in zip(index, values):
            column[i] = value

    def output_format(self, node: str, port: str, info_of: Mapping[str, _NodeInfo]) -> tuple[str, str]:
        """(prefix, suffix): the path of ``node``'s output ``port`` is prefix + short id + suffix (as Job.outputs)."""
        rel = out_rels(info_of[node])[port]
        return f"{os.path.join(self.root, node, '')}{node}_id_", "" if rel is None else f"/{rel}"

    def outputs_of(self, node: str, port: str, info_of: Mapping[str, _NodeInfo]) -> list[str]:
        """Each row's path of ``node``'s output ``port`` (as ``Job.outputs`` makes it)."""
        found = self._outputs.get((node, port))
        if found is None:
            prefix, suffix = self.output_format(node, port, info_of)
            found = self._outputs[(node, port)] = [f"{prefix}{s}{suffix}" for s in self.shorts[node]]
        return found

    def member_column(self, key: str, column: _Column) -> list[str]:
        """Each value's canonical-JSON member ``"key":value``, each distinct value made once."""
        member, values = self.fragments.member, column.values
        kinds = set(map(type, values))
        if len(kinds) == 1 and kinds <= {str, int, bool, type(None)}:  # (1, 1.0 and True would share a dict key)
            made = {v: member(key, v) for v in dict.fromkeys(values)}
            column.few = 4 * len(made) <= len(values)
            return [made[v] for v in values]
        return [member(key, v) for v in values]  # (Fragments tells 1.0 from -0.0 and 1 from True)

    def absolute_column(self, values: list) -> list:
        absolute, cwd = self._absolute, self.cwd
        if set(map(type, values)) == {str}:
            for value in dict.fromkeys(values):
                if value not in absolute:
                    absolute[value] = absolute_path(value, cwd)
            return [absolute[v] for v in values]
        return [absolute_path(v, cwd) for v in values]

    # -- the pass --------------------------------------------------------------------
    def plan(self) -> Planned:
        """Each node's ids a column at a time (parents first), then the jobs row by row, nodes in order.

        Jobs are made in the order rows name them, the row-by-row planner's
        final order, so that no reordered copy of a million jobs is needed.
        """
        info_of = {info.name: info for info in self.infos}
        n_rows = len(self.rows)
        group_of = None
        if not self.whole:
            group_of = [0] * n_rows
            for number, index in enumerate(self.groups.values()):
                for i in index:
                    group_of[i] = number
        nodes = []
        for info in self.infos:
            shape = job_shape(info, self.root, self.fragments)
            made = [self.group(info, keys, index, info_of, shape) for keys, index in self.groups.items()]
            if self.whole:
                self.ids[info.name], self.shorts[info.name] = made[0].ids, made[0].shorts
            else:
                ids, shorts = [None] * n_rows, [None] * n_rows
                for group, index in zip(made, self.groups.values()):
                    self.put(ids, index, group.ids)
                    self.put(shorts, index, group.shorts)
                self.ids[info.name], self.shorts[info.name] = ids, shorts
            resources = {**self.base_slurm[info.name][0], **info.resources}
            # two ids of the node with one short id: then (only) each job's is checked as it is made
            ids, shorts = self.ids[info.name], self.shorts[info.name]
            owners = {} if len(set(shorts)) != len(set(ids)) else None
            nodes.append((info.name, made[0] if self.whole else None, made, owners, resources, [], {}))
        jobs: dict[str, Job] = {}
        for i in range(n_rows):
            for name, lone, made, owners, resources, edges, notes in nodes:
                group = lone or made[group_of[i]]
                job_id, short, params, inputs, raw_parents, requested, perf = next(group.items)
                job = jobs.get(job_id)
                if job is None:
                    owner = job_id if owners is None else owners.setdefault(short, job_id)
                    if owner != job_id:
                        raise PlanError(f"short id collision in node {name!r}: {short} is the prefix of {owner} "
                                        f"and {job_id}")
                    parents = raw_parents if len(raw_parents) < 2 else tuple(sorted(set(raw_parents)))
                    jobs[job_id] = _new_job(job_id, short, name, params, inputs, parents, requested, i, resources,
                                            False, NOTHING, group.shape, None, None)
                    # (a new job's edges are new: a list, not a dict of a million of them)
                    for parent in (raw_parents if len(raw_parents) < 2 else dict.fromkeys(raw_parents)):
                        edges.append((parent, job_id))
                elif perf and any(job.params.get(k) != v for k, v in zip(group.perf_keys, perf)):
                    changed = sorted(k for k, v in zip(group.perf_keys, perf) if job.params.get(k) != v)
                    notes[f"{name}: rows differing only in perf params {', '.join(changed)} share one job; "
                          "the first row's values are used"] = None
        ignored = {k: None for info in self.infos for k in self.base_slurm[info.name][1]}
        row_jobs = RowJobs([self.ids[info.name] for info in self.infos])
        # edges and notes node by node, as the row-by-row planner makes them
        return Planned(jobs, row_jobs, [edge for node in nodes for edge in node[5]],
                       [note for node in nodes for note in node[6]], list(ignored))

    def group(self, info: _NodeInfo, keys: tuple, index: list[int], info_of: Mapping[str, _NodeInfo],
              shape: _JobShape) -> _Group:
        """Node ``info`` over the rows ``index``, whose keys are ``keys`` (raises _Unplannable); ``shape``: the node's."""
        n, rows, name = len(index), self.rows, info.name
        given: dict[str, str] = {}  # param -> the row key giving it
        for key in keys:
            node, _, param = key.partition(".")
            if node == name:
                if param in (ENABLED, SLURM) or param in info.out_paths:
                    raise _Unplannable(key)
                given[param] = key

        def row_values(key: str) -> list:
            return [rows[i][key] for i in index] if not self.whole else [row[key] for row in rows]

        algo = {k: _Column(const=v) for k, v in info.algo_defaults.items()}
        perf = {k: _Column(const=v) for k, v in info.perf_defaults.items()}
        for param, key in given.items():
            if param in info.perf_keys:
                perf[param] = _Column(values=row_values(key))
            elif param not in info.in_keys:
                algo[param] = _Column(values=row_values(key))
        params = {**algo, **perf}
        # inputs, in the row-by-row planner's port order
        inputs: dict[str, _Column] = {}
        id_inputs: dict[str, _Column] = {}
        parent_columns: list[list[str]] = []
        extra = given.keys() & info.in_keys
        for port in _local_order(set(info.input_defaults) | set(info.fed) | extra, info):
            sources = info.fed.get(port)
            if sources and (len(sources) > 1 or (self.connected_overrides and port in given)):
                raise _Unplannable(port)
            origins = None
            if sources and sources[0][0] == "output":
                _, src_node, src_port = sources[0]
                if (name, port) in self.forwarded:  # (its paths go on to other nodes' columns)
                    column = _Column(values=self.take(self.outputs_of(src_node, src_port, info_of), index))
                else:  # the parent's short ids, the path around them made on access (Job.inputs)
                    column = _Column(values=self.take(self.shorts[src_node], index),
                                     fmt=self.output_format(src_node, src_port, info_of))
                origins = self.take(self.ids[src_node], index)
                parent_columns.append(origins)
            elif sources:
                found = self.values.get((sources[0][1], sources[0][2]))
                if found is None:
                    raise _Unplannable(port)  # (no value: the row-by-row planner says so)
                column = _Column(values=self.take(found[0], index))
                origins = self.take(found[1], index) if found[1] is not None else None
                if origins is not None and None in origins:  # (some rows' values are their own)
                    if any(o is not None for o in origins):
                        raise _Unplannable(port)
                    origins = None
                if origins is not None:
                    parent_columns.append(origins)
            elif port in given:
                column = _Column(values=self.absolute_column(row_values(given[port])))
            else:
                column = _Column(const=absolute_path(info.input_defaults[port], self.cwd))
            if (column.const is None) if column.values is None else (None in column.values):
                raise _Unplannable(port)  # an input without a value
            inputs[port] = column
            if (name, port) in self.forwarded:
                self._keep((name, port), column, origins, index)
            if origins is None:
                id_inputs[port] = column
        if not set(info.in_keys) <= inputs.keys():
            raise _Unplannable("missing input")
        self._check_fits(info, params, inputs)
        ids = self._ids(info, algo, id_inputs, parent_columns, n)
        group = _Group()
        group.ids = ids
        group.shorts = short_ids(ids)
        group.param_keys, group.input_keys, group.perf_keys = tuple(params), tuple(inputs), tuple(perf)
        group.requested_keys = tuple(k for k in keys if k.partition(".")[0] in info.config_nodes)
        if len(parent_columns) == 0:
            parents = repeat((), n)
        elif len(parent_columns) == 1:
            parents = [(p,) for p in parent_columns[0]]
        else:
            parents = list(zip(*parent_columns))
        if group.requested_keys == keys:  # (the whole row: the row itself, as most sweeps' jobs have it)
            requested = iter(self.take(rows, index))
        else:
            requested = _dicts(group.requested_keys, [_Column(values=row_values(k)) for k in group.requested_keys], n)
        param_rows, packed_params = _packs(group.param_keys, list(params.values()), n)
        input_rows, packed_inputs = _packs(group.input_keys, list(inputs.values()), n)
        group.shape = shape if not (packed_params or packed_inputs) else shape.packed(
            group.param_keys if packed_params else None, group.input_keys if packed_inputs else None,
            tuple(c.fmt for c in inputs.values()) if packed_inputs else None)
        group.items = zip(ids, group.shorts, param_rows, input_rows, parents, requested, _rows_of(perf.values(), n))
        return group

    def _keep(self, key: tuple[str, str], column: _Column, origins: "list | None", index: list[int]) -> None:
        """Remember a forwarded input's values (and origins) of the group's rows, for the nodes it feeds."""
        values = column.values if column.values is not None else [column.const] * len(index)
        if self.whole:
            self.values[key] = (values, origins)
            return
        found = self.values.get(key)
        if found is None:
            found = self.values[key] = ([None] * len(self.rows), [None] * len(self.rows))
        for i, value in zip(index, values):
            found[0][i] = value
        for i, origin in zip(index, origins if origins is not None else repeat(None)):
            found[1][i] = origin

    def _ids(self, info: _NodeInfo, algo: Mapping[str, _Column], id_inputs: Mapping[str, _Column],
             parent_columns: list[list[str]], n: int) -> list[str]:
        """Each row's job id: the SHA-256 of the text ``canonical_json`` gives its payload."""
        slots: list[list[str]] = []

        def members(columns: Mapping[str, _Column]) -> str:
            out = []
            for key in sorted(columns):
                column = columns[key]
                if column.values is None:
                    out.append(self.fragments.member(key, column.const).replace("%", "%%"))
                else:
                    out.append("%s")
                    slots.append(self.member_column(key, column))
            return ",".join(out)

        template = (f'{{"algo":{{{members(algo)}}},"inputs":{{{members(id_inputs)}}},"node":'
                    + canonical_json(info.name).replace("%", "%%") + ',"parents":[')
        if len(parent_columns) == 1:
            template += '"%s"]}'
            slots.append(parent_columns[0])
        elif parent_columns:
            template += "%s]}"
            slots.append(['"' + '","'.join(sorted(set(t))) + '"' for t in zip(*parent_columns)])
        else:
            template += "]}"
        sha256 = hashlib.sha256
        if not slots:
            return [sha256((template % ()).encode("utf-8")).hexdigest()] * n
        return [sha256((template % t).encode("utf-8")).hexdigest() for t in zip(*slots)]

    def _check_fits(self, info: _NodeInfo, params: Mapping[str, _Column], inputs: Mapping[str, _Column]) -> None:
        """Raise _Unplannable unless every command surely fits (as ``surely_fits`` bounds one command)."""
        if "\x00" in info.executable:
            raise _Unplannable("executable")
        chars = len(info.executable) + 1
        for columns in (params, inputs):
            for key, column in columns.items():
                if "\x00" in key:
                    raise _Unplannable(key)
                chars += len(key) + 4 + _longest(column)
        folder = len(self.root) + 1 + 2 * len(info.name) + 4 + 12 + 1  # <root>/<node>/<node>_id_<short>
        for key, rel in out_rels(info).items():
            chars += len(key) + 4 + folder + (0 if rel is None else 1 + len(rel))
        if 4 * chars > _LIMIT:
            raise _Unplannable("a long command")


def _longest(column: _Column) -> int:
    """The most characters ``surely_fits`` counts for one of ``column``'s values (raises _Unplannable).

    (Every pass over the values runs in C: a million rows' column takes milliseconds.)
    """
    values = [column.const] if column.values is None else column.values
    kinds = set(map(type, values))
    most = 0
    if str in kinds:
        strings = [v for v in values if type(v) is str] if len(kinds) > 1 else values
        if any(map(operator.contains, strings, repeat("\x00"))):
            raise _Unplannable("NUL")
        most = max(map(len, strings))
    if kinds - {str}:
        if not kinds - {str} <= {int, float, bool, type(None)}:
            raise _Unplannable("a value that is not a plain scalar")
        if int in kinds:
            ints = values if kinds == {int} else [v for v in values if type(v) is int]
            if not -10 ** 18 < min(ints) <= max(ints) < 10 ** 18:
                raise _Unplannable("a huge int")
        most = max(most, _SHORT_SCALAR)
    if column.fmt is not None:
        if "\x00" in column.fmt[0] + column.fmt[1]:
            raise _Unplannable("NUL")
        most += len(column.fmt[0]) + len(column.fmt[1])
    return most


def _dicts(keys: tuple, columns: "list[_Column]", n: int) -> Iterator[dict]:
    """Each row's dict of ``keys`` -> its columns' values.

    Rows with equal values share one dict: every row when all columns are
    constant, and rows alike when each varying column has few distinct
    values of one kind (a sweep's few input files).  At a million
    configurations a dict per job and argument kind was a fifth of a plan's memory.
    """
    varying = [c for c in columns if c.values is not None]
    if not varying:
        return repeat(dict(zip(keys, (c.const for c in columns))), n)
    values = zip(*(c.each(n) for c in columns))
    if all(c.few for c in varying):  # (one kind per column: 1 and True never meet in one tuple slot)
        made: dict[tuple, dict] = {}
        return (made[t] if t in made else made.setdefault(t, dict(zip(keys, t))) for t in values)
    return map(dict, map(zip, repeat(keys), values))  # dict(zip(keys, t)) for each row's t, in C


def _packs(keys: tuple, columns: "list[_Column]", n: int) -> tuple[Iterator, bool]:
    """(each row's params or inputs, whether packed): shared dicts where rows share them (see _dicts), else
    each row's tuple of the values held (see :class:`trackdag.job.Job`: a dict and a path per job were a
    quarter of a million-configuration plan's memory)."""
    varying = [c for c in columns if c.values is not None]
    if not varying or (all(c.few for c in varying) and not any(c.fmt for c in varying)):
        return _dicts(keys, columns, n), False
    return zip(*(c.each(n) for c in columns)), True


def _rows_of(columns: Any, n: int) -> Iterator[tuple]:
    """The columns' values row by row, as tuples (empty tuples when there are no columns)."""
    columns = [c.each(n) for c in columns]
    return zip(*columns) if columns else repeat((), n)
