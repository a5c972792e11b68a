"""Fan-in ("gather"): one job consumes the outputs of many upstream jobs, across the matrix rows.

``src.outputs['x'].connect(dst.inputs['y'], gather=GatherSpec(group_by=['seed'], order_by=['fold']))``
makes each ``dst`` job read the ``x`` outputs of every ``src`` job (from any
row) whose ``group_by`` values equal its own: cross-validation folds merged
per seed, chunks reduced per document, everything summarised
(``group_by=[]``).  This is KWDagger 0.4's gather, built on trackdag's plan:

- a key is ``'param'`` (looked up on the job, then on its ancestors) or
  ``'node.param'``; a mapping ``{'src': 'a.k', 'dst': 'b.k'}`` compares
  different names on each side.  Values are the jobs' effective parameters
  (algo params, and inputs given in the matrix, as the jobs were planned);
- members are ordered by ``order_by`` (then by job id);
- the consumer gets one argument, ``--y=<job folder>/_gather/y.txt``: a
  manifest with one member output path per line, written into its folder
  with ``invoke.sh``;
- the consumer depends on every member, so it runs when all of them are done
  (``require='all_success'``, the only mode) and is skipped when one fails;
  its job id covers the ids of every member, in order, so a different set of
  members is a different job.  ``edges``, ``lineage`` and the report see
  every member.

Example:
    >>> GatherSpec(group_by=['seed'], order_by=['fold']).to_dict()
    {'group_by': ['seed'], 'order_by': ['fold'], 'require': 'all_success'}
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from .errors import ParamsError
from .ids import canonical_json

if TYPE_CHECKING:
    from .plan import Job

MANIFEST_DIR = "_gather"


@dataclass(frozen=True)
class GatherSpec:
    """Which upstream jobs a gathered input collects; see the module docstring."""

    group_by: tuple = ()
    order_by: tuple = ()
    require: str = "all_success"
    keys: tuple = field(default=(), init=False, repr=False, compare=False)

    def __init__(self, group_by: Sequence[Any] = (), order_by: Sequence[str] | None = None,
                 require: str = "all_success") -> None:
        if isinstance(group_by, str):
            raise ValueError("GatherSpec(group_by=...) takes a list of keys, e.g. ['seed'], not a string")
        pairs = []
        for key in group_by:
            if isinstance(key, Mapping):
                if set(key) != {"src", "dst"}:
                    raise ValueError(f"GatherSpec group_by entry {dict(key)!r}: a mapping needs exactly 'src' and 'dst'")
                pairs.append((str(key["src"]), str(key["dst"])))
            elif isinstance(key, str) and key:
                pairs.append((key, key))
            else:
                raise ValueError(f"GatherSpec group_by entry {key!r} must be a non-empty name or {{src:, dst:}}")
        if len(set(pairs)) != len(pairs):
            raise ValueError("GatherSpec group_by names a key twice")
        order = tuple(order_by or ())
        if isinstance(order_by, str) or len(set(order)) != len(order):
            raise ValueError("GatherSpec order_by takes a list of distinct keys")
        if require != "all_success":
            raise ValueError(f"GatherSpec require={require!r}: only 'all_success' is supported")
        object.__setattr__(self, "group_by", tuple(group_by))
        object.__setattr__(self, "order_by", order)
        object.__setattr__(self, "require", require)
        object.__setattr__(self, "keys", tuple(pairs))

    @classmethod
    def coerce(cls, spec: Any) -> "GatherSpec":
        """A GatherSpec, or one made from its mapping form (YAML)."""
        if isinstance(spec, GatherSpec):
            return spec
        if isinstance(spec, Mapping):
            unknown = set(spec) - {"group_by", "order_by", "require"}
            if unknown:
                raise ValueError(f"gather {dict(spec)!r}: unknown key(s) {', '.join(sorted(unknown))}")
            return cls(spec.get("group_by") or (), spec.get("order_by"), spec.get("require", "all_success"))
        raise ValueError(f"gather must be a GatherSpec or a mapping with group_by/order_by, got {spec!r}")

    def to_dict(self) -> dict[str, Any]:
        return {"group_by": [k if isinstance(k, str) else dict(k) for k in self.group_by],
                "order_by": list(self.order_by), "require": self.require}


def lookup(key: str, params: Mapping[str, Any], node: str) -> tuple[bool, Any]:
    """(found, value) of a group key among a job's effective params (``<node>.<param>`` -> value).

    A qualified key names the node; a bare one is the job's own param, else the
    only ancestor's that has it.

    >>> lookup('seed', {'a.seed': 1, 'b.x': 2}, 'b'), lookup('a.seed', {'a.seed': 1}, 'b')
    ((True, 1), (True, 1))
    """
    if key in params:
        return True, params[key]
    own = f"{node}.{key}"
    if own in params:
        return True, params[own]
    found = [v for k, v in params.items() if k.rsplit(".", 1)[-1] == key and "." in k]
    if len(found) == 1:
        return True, found[0]
    return False, None


def members(spec: Any, node: str, values: Mapping[str, Any], candidates: Iterable["Job"],
            lookups: Mapping[str, Mapping[str, Any]], source: str) -> list["Job"]:
    """The jobs among ``candidates`` a gathered input of ``node`` collects (by the module docstring's rules).

    ``values``: the gathering job's own lookup table; ``lookups``: each candidate's, by job id.
    """
    wanted = []
    for src_key, dst_key in spec.keys:
        found, value = lookup(dst_key, values, node)
        if not found:
            raise ParamsError(f"{source}: {node}: gather group key {dst_key!r} has no value for this node "
                              "(give it as its param, connect a param_port, or write 'node.param')")
        wanted.append((src_key, canonical_json(value)))
    members = []
    src_node = ""
    for job in candidates:
        src_node = job.node
        ok = True
        for src_key, value in wanted:
            found, have = lookup(src_key, lookups[job.job_id], src_node)
            if not found or canonical_json(have) != value:
                ok = False
                break
        if ok:
            members.append(job)
    if not members:
        raise ParamsError(f"{source}: {node}: its gather found no {src_node or 'upstream'} job for group "
                          f"{dict((k, v) for k, v in wanted)}")

    def order(job: Job) -> tuple:
        keys = []
        for key in spec.order_by:
            found, value = lookup(key, lookups[job.job_id], src_node)
            keys.append((0, value) if isinstance(value, (int, float)) and not isinstance(value, bool)
                        else (1, canonical_json(value)))
        return (*keys, job.job_id)

    return sorted(members, key=order)


__all__ = ["GatherSpec", "lookup", "members", "MANIFEST_DIR"]
