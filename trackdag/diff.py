"""``trackdag diff A B``: how two jobs differ, and therefore why their ids differ.

A and B are anything ``trackdag show`` takes (a short id or a unique prefix
of one, a full id, a folder name, a path in a job folder) or a
``param_hashid`` (the report's 12-letter column).  A job and its descendants
share a param_hashid when the descendants add no parameter (the demo's
``stage1_predict`` and ``stage1_evaluate`` jobs do): such a hashid names the
most downstream of them, the job whose row the report shows.  The answer
holds:

- each job's node, state and param_hashid;
- the **effective parameters** that differ: the algo and perf params and
  matrix-given inputs of the job and of every ancestor job, as the
  ``param_values`` table (and the report's ``params.<node>.<key>`` columns)
  know them; a key one job lacks shows as ``(absent)``;
- the **ancestor jobs** that differ, node by node;
- **why the ids differ**, following how a job id is made (its node, its algo
  params, its inputs not produced by a parent, its parents' ids): which of
  these differ, in that order; perf params never enter an id;
- the **metrics** side by side (the ``results_<node>`` columns) when both
  jobs have results;
- whether they ran under **different environments or code**
  (:mod:`trackdag.provenance`: the runs of their latest done attempts):
  another env id names the packages added and removed from A to B, another
  git commit, dirty state or diff hash says so; both only when both runs
  recorded their provenance, and only when they differ (the JSON keys
  ``environment`` and ``code`` are then present).

The catalog is opened read-only (:func:`trackdag.open_catalog`), so this
works from another shell during a run.

Example:
    >>> _show(ABSENT), _show('README.rst'), _show(0.5)
    ('(absent)', '"README.rst"', '0.5')
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from .errors import TrackdagError

_HASHID = re.compile(r"^[a-z]{12}$")
#: how a parameter one of the two jobs does not have is shown (text and JSON)
ABSENT = "(absent)"


class DiffError(TrackdagError):
    """A or B names no job (or several)."""

    exit_code = 2


@dataclass
class DiffSide:
    job_id: str
    short_id: str
    node: str
    status: str
    folder: str
    param_hashid: str | None

    @property
    def name(self) -> str:
        """``<node>/<node>_id_<short>``: the folder relative to the root."""
        return f"{self.node}/{self.node}_id_{self.short_id}"


@dataclass
class ParamDiff:
    key: str
    kind: str
    a: Any
    b: Any


@dataclass
class JobDiff:
    a: DiffSide
    b: DiffSide
    #: effective params (own and ancestors') whose values differ, in the report's column order
    params: list[ParamDiff] = field(default_factory=list)
    #: how many effective params are the same
    same: int = 0
    #: node -> (A's ancestor jobs of that node, B's), as <node>/<node>_id_<short>, for the nodes where they differ
    ancestors: dict[str, tuple[list[str], list[str]]] = field(default_factory=dict)
    #: why the job ids differ, most direct reason first
    why: list[str] = field(default_factory=list)
    #: metric key -> (A's value, B's value), when both have results
    metrics: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    #: when the environments differ: {"a": env id, "b": env id, "python": {"a", "b"}, "packages": ["+x==2", "-x==1"]}
    environment: dict[str, Any] | None = None
    #: when the code differs: {"a": {"git_sha", "git_dirty", "git_diff_hash", "text"}, "b": {...}}
    code: dict[str, Any] | None = None

    @property
    def same_job(self) -> bool:
        return self.a.job_id == self.b.job_id

    def as_dict(self) -> dict[str, Any]:
        """What ``trackdag diff --format json`` prints."""
        out = asdict(self)
        out["same_job"] = self.same_job
        out["ancestors"] = {k: {"a": v[0], "b": v[1]} for k, v in self.ancestors.items()}
        out["metrics"] = {k: {"a": v[0], "b": v[1]} for k, v in self.metrics.items()}
        for key in ("environment", "code"):
            if out[key] is None:  # present only when they differ
                del out[key]
        return out


def diff_jobs(a: str, b: str, root: "str | os.PathLike | None" = None, *,
              catalog: "str | os.PathLike | None" = None) -> JobDiff:
    """Compare the jobs ``a`` and ``b`` name (see the module docstring).

    Without ``root`` and ``catalog``, the root of the job folder ``a`` (or
    ``b``) is in is used, else ``trackdag_output``, as for ``trackdag show``.
    """
    from .api import open_catalog
    from .catalog.connection import translated
    from .status import _catalog_for, job_folder_of, resolve_ref_kind

    root_s = None if root is None else os.fspath(root)
    catalog_s = None if catalog is None else os.fspath(catalog)
    ref = next((r for r in (a, b) if resolve_ref_kind(r) == "folder path" and job_folder_of(r)), a)
    path = _catalog_for(ref, root_s, catalog_s)
    with translated(path), open_catalog(path) as cat:
        con = cat.connection
        found_a, found_b = _candidates(con, a, path), _candidates(con, b, path)
        side_a = _pick(con, a, found_a, found_b)
        side_b = _pick(con, b, found_b, found_a)
        return _diff(con, side_a, side_b)


def _candidates(con: Any, ref: str, path: str) -> list[dict[str, Any]]:
    """The jobs ``ref`` may name: the one ``trackdag show`` finds, else those of a param_hashid."""
    from .status import JobNotFound, _rows, find_job

    try:
        return [find_job(con, ref, path)]
    except JobNotFound as exc:
        if not _HASHID.match(ref):
            raise DiffError(str(exc)) from None
    found = _rows(con, "SELECT j.* FROM param_sets s JOIN jobs j USING (job_id) WHERE s.param_hashid = ? "
                       "ORDER BY j.node, j.short_id", [ref])
    if not found:
        raise DiffError(f"no job and no param_hashid {ref!r} in {path} (give a short id or a prefix of one, "
                        "a full id, a job folder, or a param_hashid from `trackdag report`)")
    return found


def _pick(con: Any, ref: str, found: list[dict[str, Any]], other: list[dict[str, Any]]) -> DiffSide:
    """One job of ``found``: of the other side's nodes if that decides, else the most downstream one."""
    if len(found) > 1:
        nodes = {j["node"] for j in other}
        found = [j for j in found if j["node"] in nodes] or found
    if len(found) > 1:
        ids = [j["job_id"] for j in found]
        marks = ", ".join("?" for _ in ids)
        below = {row[0] for row in con.execute(
            f"SELECT ancestor_id FROM lineage WHERE job_id IN ({marks}) AND ancestor_id IN ({marks}) AND depth > 0",
            ids + ids).fetchall()}
        found = [j for j in found if j["job_id"] not in below] if len(below) == len(found) - 1 else found
    if len(found) > 1:
        names = ", ".join(f"{j['node']}_id_{j['short_id']}" for j in found[:10])
        more = f" and {len(found) - 10} more" if len(found) > 10 else ""
        raise DiffError(f"param_hashid {ref!r} is shared by {len(found)} jobs ({names}{more}); give a short id "
                        "or a job folder instead")
    job = found[0]
    hashid = con.execute("SELECT param_hashid FROM param_sets WHERE job_id = ?", [job["job_id"]]).fetchone()
    return DiffSide(job["job_id"], job["short_id"], job["node"], job["status"], job["folder"],
                    hashid[0] if hashid else None)


def _load(value: Any) -> Any:
    try:
        return json.loads(value) if isinstance(value, str) else value
    except ValueError:
        return value


def _same(x: Any, y: Any) -> bool:
    """Equal as their canonical JSON (so 1, 1.0 and true differ, as they do in ids and hashids)."""
    from .ids import canonical_json

    try:
        return canonical_json(x) == canonical_json(y)
    except TrackdagError:
        return x == y


def _effective(con: Any, job_id: str) -> dict[str, tuple[str, Any, int]]:
    """key -> (kind, value, ord) of a job's effective params (``param_values``)."""
    rows = con.execute("SELECT key, kind, value, ord FROM param_values WHERE job_id = ? ORDER BY ord",
                       [job_id]).fetchall()
    return {key: (kind, _load(value), order) for key, kind, value, order in rows}


def _own(con: Any, job_id: str) -> dict[str, tuple[str, Any]]:
    """name -> (kind, value) of a job's own resolved arguments (``params``)."""
    rows = con.execute("SELECT key, kind, value FROM params WHERE job_id = ?", [job_id]).fetchall()
    return {key: (kind, _load(value)) for key, kind, value in rows}


def _ancestors(con: Any, job_id: str) -> dict[str, list[str]]:
    """node -> the ancestor jobs of that node (``lineage``), as <node>/<node>_id_<short>."""
    rows = con.execute("SELECT DISTINCT ancestor_node, ancestor_short_id FROM lineage "
                       "WHERE job_id = ? AND depth > 0 ORDER BY 1, 2", [job_id]).fetchall()
    out: dict[str, list[str]] = {}
    for node, short in rows:
        out.setdefault(node, []).append(f"{node}/{node}_id_{short}")
    return out


def _parents(con: Any, job_id: str) -> dict[str, tuple[str, str]]:
    """parent id -> (<node>/<node>_id_<short>, its folder)."""
    rows = con.execute("SELECT j.job_id, j.node || '/' || j.node || '_id_' || j.short_id, j.folder FROM edges e "
                       "JOIN jobs j ON j.job_id = e.parent_id WHERE e.child_id = ? ORDER BY 2", [job_id]).fetchall()
    return {job: (name, folder) for job, name, folder in rows}


def _metrics(con: Any, side: DiffSide) -> dict[str, Any]:
    """The job's ``metrics.*`` columns of ``results_<node>``; empty when it has no result."""
    from .views import quote, result_view_name

    cur = con.execute(f"SELECT * FROM {quote(result_view_name(side.node))} WHERE job_id = ?", [side.job_id])
    names = [d[0] for d in cur.description]
    row = cur.fetchone()
    if row is None:
        return {}
    found = {k: v for k, v in zip(names, row) if k.startswith("metrics.")}
    return found if any(v is not None for v in found.values()) else {}


def _diff(con: Any, a: DiffSide, b: DiffSide) -> JobDiff:
    out = JobDiff(a, b)
    eff_a, eff_b = _effective(con, a.job_id), _effective(con, b.job_id)
    keys = sorted(set(eff_a) | set(eff_b), key=lambda k: ((eff_a.get(k) or eff_b[k])[2], k))
    for key in keys:
        va = eff_a[key][1] if key in eff_a else ABSENT
        vb = eff_b[key][1] if key in eff_b else ABSENT
        if key in eff_a and key in eff_b and _same(va, vb):
            out.same += 1
        else:
            out.params.append(ParamDiff(key, (eff_a.get(key) or eff_b[key])[0], va, vb))
    anc_a, anc_b = _ancestors(con, a.job_id), _ancestors(con, b.job_id)
    for node in sorted(set(anc_a) | set(anc_b)):
        if anc_a.get(node, []) != anc_b.get(node, []):
            out.ancestors[node] = (anc_a.get(node, []), anc_b.get(node, []))
    out.why = _why(con, a, b, out)
    met_a, met_b = _metrics(con, a), _metrics(con, b)
    if met_a and met_b:
        out.metrics = {k: (met_a.get(k), met_b.get(k)) for k in [*met_a, *[k for k in met_b if k not in met_a]]}
    out.environment, out.code = _provenance(con, a, b)
    return out


def _provenance(con: Any, a: DiffSide, b: DiffSide) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """How the environments and the code of the two jobs' latest done attempts differ (None: the same)."""
    from .provenance import format_code, job_provenance, package_changes

    pa, pb = job_provenance(con, a.job_id), job_provenance(con, b.job_id)
    if pa is None or pb is None or pa.env_id is None or pb.env_id is None:
        return None, None  # not both recorded: nothing to compare
    environment = None
    if pa.env_id != pb.env_id:
        environment = {"a": pa.env_id, "b": pb.env_id, "python": {"a": pa.python, "b": pb.python},
                       "packages": package_changes(pa.packages or (), pb.packages or ())
                       if pa.packages is not None and pb.packages is not None else None}
    code = None
    if pa.code != pb.code:
        code = {side: {"git_sha": p.git_sha, "git_dirty": p.git_dirty, "git_diff_hash": p.git_diff_hash,
                       "text": format_code(p)} for side, p in (("a", pa), ("b", pb))}
    return environment, code


def _why(con: Any, a: DiffSide, b: DiffSide, out: JobDiff) -> list[str]:
    """Which parts of the job id differ: node, algo params, inputs not produced by a parent, parents."""
    if a.job_id == b.job_id:
        return ["A and B are the same job"]
    if a.node != b.node:
        return [f"they are jobs of different nodes ({a.node}, {b.node}): a job id always covers its node"]
    why: list[str] = []
    own_a, own_b = _own(con, a.job_id), _own(con, b.job_id)
    parents_a, parents_b = _parents(con, a.job_id), _parents(con, b.job_id)

    def produced(value: Any, folders: list[str]) -> bool:
        """An input under a parent's folder (an output wired from it: lineage) or under the job's own
        (a gather's list of its members: the members are its parents); neither enters the id as a value."""
        values = value if isinstance(value, list) else [value]
        return bool(values) and all(isinstance(v, str) and any(v == f or v.startswith(f + os.sep)
                                                               for f in folders) for v in values)

    folders_a = [a.folder] + [f for _, f in parents_a.values()]
    folders_b = [b.folder] + [f for _, f in parents_b.values()]

    def differing(kind: str) -> list[str]:
        keys = []
        for key in sorted(set(own_a) | set(own_b)):
            if (own_a.get(key) or own_b[key])[0] != kind:
                continue
            va, vb = own_a.get(key, (kind, ABSENT))[1], own_b.get(key, (kind, ABSENT))[1]
            if kind == "input" and (produced(va, folders_a) or produced(vb, folders_b)):
                continue
            if not (key in own_a and key in own_b and _same(va, vb)):
                keys.append(f"{a.node}.{key} ({_show(va)} vs {_show(vb)})")
        return keys

    algo = differing("algo")
    if algo:
        why.append(f"their own algo params differ: {', '.join(algo)}")
    inputs = differing("input")
    if inputs:
        why.append(f"their inputs not produced by a parent differ: {', '.join(inputs)}")
    if set(parents_a) != set(parents_b):
        only_a = [name for j, (name, _) in parents_a.items() if j not in parents_b]
        only_b = [name for j, (name, _) in parents_b.items() if j not in parents_a]
        upstream = [d.key for d in out.params if d.kind != "perf" and not d.key.startswith(f"{a.node}.")]
        because = (f", because of {', '.join(upstream)}" if upstream
                   else "; their params are the same: `trackdag diff` the parents to see why")
        why.append(f"their parent jobs differ: {', '.join(only_a) or '(none)'} vs {', '.join(only_b) or '(none)'}"
                   + because)
    if not why:
        perf = [d.key for d in out.params if d.kind == "perf"]
        why.append("no param, input or parent that enters an id differs"
                   + (f" (perf params differ: {', '.join(perf)}; they never enter an id)" if perf else "")
                   + ": a gathered input's members or an output path set in the params differ, or a "
                     "different trackdag made one of them")
    return why


def _show(value: Any) -> str:
    if isinstance(value, str) and value == ABSENT:
        return ABSENT
    return json.dumps(value, ensure_ascii=False, default=str)


def format_diff(d: JobDiff) -> str:
    """The text ``trackdag diff`` prints."""
    lines = []
    for label, side in (("A", d.a), ("B", d.b)):
        lines.append(f"{label}  {side.name}  {side.status}"
                     + (f"  param_hashid {side.param_hashid}" if side.param_hashid else ""))
    lines += _provenance_lines(d)
    lines.append("why:" if d.same_job else "why the ids differ:")
    lines += [f"  - {reason}" for reason in d.why]
    if d.params:
        width = max(len(p.key) for p in d.params)
        lines.append(f"params that differ (own and ancestors'; {d.same} the same):")
        lines += [f"  {p.key.ljust(width)}  {p.kind:<5}  A {_show(p.a)}  B {_show(p.b)}" for p in d.params]
    else:
        lines.append(f"params: all {d.same} the same")
    if d.ancestors:
        lines.append("ancestor jobs that differ:")
        for node, (fa, fb) in d.ancestors.items():
            lines.append(f"  {node}: A {', '.join(fa) or '(none)'}  B {', '.join(fb) or '(none)'}")
    if d.metrics:
        width = max(len(k) for k in d.metrics)
        lines.append("metrics:")
        lines += [f"  {k.ljust(width)}  A {_show(va)}  B {_show(vb)}" for k, (va, vb) in d.metrics.items()]
    return "\n".join(lines)


def _provenance_lines(d: JobDiff) -> list[str]:
    """``environments differ: A <id> B <id> (python ...; packages: +x==2 -x==1 ...)`` and ``code differs: ...``."""
    from .provenance import MAX_CHANGES

    lines = []
    env = d.environment
    if env is not None:
        notes = []
        if env["python"]["a"] != env["python"]["b"]:
            notes.append(f"python {env['python']['a']} vs {env['python']['b']}")
        changes = env["packages"]
        if changes is None:
            notes.append("package lists not found")
        elif changes:
            more = f" ... {len(changes) - MAX_CHANGES} more" if len(changes) > MAX_CHANGES else ""
            notes.append(f"packages: {' '.join(changes[:MAX_CHANGES])}{more}")
        lines.append(f"environments differ: A {env['a']} B {env['b']}" + (f" ({'; '.join(notes)})" if notes else ""))
    if d.code is not None:
        lines.append(f"code differs: A {d.code['a']['text']} B {d.code['b']['text']}")
    return lines


__all__ = ["diff_jobs", "format_diff", "JobDiff", "DiffSide", "ParamDiff", "DiffError", "ABSENT"]
