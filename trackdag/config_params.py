"""A node's arguments declared by a config class (``params = SomeConfig``), the KWDagger way.

Instead of ``in_paths`` / ``out_paths`` / ``algo_params`` / ``perf_params``,
a node may set ``params`` to a config class or instance (kwconf's ``Config``,
scriptconfig's ``DataConfig``: anything with a ``__default__`` mapping of
field name -> value, where a value may carry ``tags``), or to a plain
mapping.  Each field's **tags** decide its group; field names do not:

==============================  =============================================
tags of the field               group
==============================  =============================================
``in_path`` / ``in``            in_paths (a default is ignored: inputs come
                                from the params or from another node)
``out_path`` / ``out``          out_paths, when the default is a non-empty
                                path template (with no default, the field is
                                left out: nothing says where it would go)
``algo_param`` / ``algo``       algo_params, with the field's default
``perf_param`` / ``perf``       perf_params, with the field's default
none of these                   algo_params
``primary`` with an out tag     primary_out_key
==============================  =============================================

Two group tags on one field are an error.  Groups the node also declares
itself win (field by field).  Neither kwconf nor scriptconfig is needed:
the classes are read by their shape.

Example:
    >>> class Value:
    ...     def __init__(self, value, tags=()):
    ...         self.value, self.tags = value, tags
    >>> class Cfg:
    ...     __default__ = {'src': Value(None, ['in_path']), 'dst': Value('out.json', ['out_path', 'primary']),
    ...                    'lr': Value(0.1, ['algo']), 'workers': Value(0, 'perf'), 'seed': 3}
    >>> g = groups(Cfg)
    >>> g['in_paths'], g['out_paths'], g['algo_params'], g['perf_params'], g['primary_out_key']
    ({'src': NO_DEFAULT}, {'dst': 'out.json'}, {'lr': 0.1, 'seed': 3}, {'workers': 0}, 'dst')
"""
from __future__ import annotations

from typing import Any, Mapping

GROUP_TAGS = {"in_path": "in_paths", "in": "in_paths", "out_path": "out_paths", "out": "out_paths",
              "algo_param": "algo_params", "algo": "algo_params", "perf_param": "perf_params",
              "perf": "perf_params"}


def _fields(spec: Any) -> dict[str, Any]:
    """Field name -> declared value (maybe a Value with tags) of a config class, instance or mapping."""
    default = getattr(spec, "__default__", None)
    if isinstance(spec, Mapping) and not isinstance(default, Mapping):
        return dict(spec)  # a plain mapping (a config instance is a Mapping too: its __default__ has the tags)
    if not isinstance(default, Mapping):
        raise TypeError(f"params {spec!r} must be a config class or instance (with __default__) or a mapping")
    fields = dict(default)
    if not isinstance(spec, type):  # an instance: its values override the class defaults
        current = spec.to_dict() if hasattr(spec, "to_dict") else (dict(spec) if hasattr(spec, "keys") else {})
        for name, value in current.items():
            if name in fields:
                fields[name] = _Overridden(fields[name], value)
    return fields


class _Overridden:
    """A field of a config instance: the class's tags, the instance's value."""

    def __init__(self, declared: Any, value: Any) -> None:
        self.tags = _tags(declared)
        self.value = value


def _tags(declared: Any) -> set[str]:
    tags = getattr(declared, "tags", None)
    if tags is None:
        return set()
    return {tags} if isinstance(tags, str) else {str(t) for t in tags}


def _value(declared: Any) -> Any:
    if hasattr(declared, "tags") and hasattr(declared, "value"):
        return declared.value
    return declared


def groups(spec: Any) -> dict[str, Any]:
    """The node groups a config class declares (see the module docstring); raises ValueError on a conflict."""
    from .node import NO_DEFAULT

    out: dict[str, Any] = {"in_paths": {}, "out_paths": {}, "algo_params": {}, "perf_params": {},
                           "primary_out_key": None}
    for name, declared in _fields(spec).items():
        tags = _tags(declared)
        kinds = {GROUP_TAGS[t] for t in tags if t in GROUP_TAGS}
        if len(kinds) > 1:
            raise ValueError(f"parameter {name!r} has conflicting tags: {sorted(tags)}")
        kind = kinds.pop() if kinds else "algo_params"
        value = _value(declared)
        if kind == "in_paths":
            out["in_paths"][name] = NO_DEFAULT
        elif kind == "out_paths":
            if isinstance(value, str) and value:
                out["out_paths"][name] = value
                if "primary" in tags:
                    out["primary_out_key"] = name
        else:
            out[kind][name] = value
    return out


__all__ = ["groups", "GROUP_TAGS"]
