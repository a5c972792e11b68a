"""``kwdagger.utils.util_dotdict``: a flat dict with dotted keys, as KWDagger pipelines build results.

``DotDict.from_nested(d)`` flattens nested mappings into ``'a.b.c'`` keys;
within each mapping the plain values come first, in order, then the nested
mappings, **last one first** (KWDagger walks them with a stack, and
reports rank metrics in that order when no ``default_metrics`` is given, so
the order is kept exactly).  Empty mappings vanish; lists are values.
``insert_prefix(prefix, index)`` inserts a key part: ``metrics.acc`` with
``('my_eval', 1)`` becomes ``metrics.my_eval.acc``.

Example:
    >>> list(DotDict.from_nested({'a': 1, 'b': {'c': 2}, 'd': 3, 'e': {'f': 4}}))
    ['a', 'd', 'e.f', 'b.c']
    >>> dict(DotDict({'metrics.acc': 0.9}).insert_prefix('my_eval', index=1))
    {'metrics.my_eval.acc': 0.9}
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping


class DotDict(dict):
    """A dict whose keys are dotted paths; see the module docstring."""

    @classmethod
    def from_nested(cls, data: Mapping[str, Any]) -> "DotDict":
        """Flatten ``data`` (see the module docstring for the key order)."""
        from ....results import flatten_nested

        return cls(flatten_nested(data))

    def to_nested(self) -> dict[str, Any]:
        """The nested form again.

        >>> DotDict({'a.b': 1, 'a.c': 2, 'd': 3}).to_nested()
        {'a': {'b': 1, 'c': 2}, 'd': 3}
        """
        out: dict[str, Any] = {}
        for key, value in self.items():
            *parents, leaf = key.split(".")
            node = out
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = value
        return out

    def insert_prefix(self, prefix: str, index: int) -> "DotDict":
        """Every key with ``prefix`` inserted as its ``index``-th part (appended when the key is shorter)."""
        out = type(self)()
        for key, value in self.items():
            parts = key.split(".")
            parts.insert(index, prefix)
            out[".".join(parts)] = value
        return out

    def add_prefix(self, prefix: str) -> "DotDict":
        """Every key as ``prefix.key``.

        >>> dict(DotDict({'n.k': 1}).add_prefix('params'))
        {'params.n.k': 1}
        """
        return type(self)((f"{prefix}.{key}", value) for key, value in self.items())

    def prefix_get(self, prefix: str, default: Any = ...) -> "DotDict":
        """The keys under ``prefix``, without it.

        >>> dict(DotDict({'metrics.e.acc': 1, 'machine.e.host': 'h'}).prefix_get('metrics.e'))
        {'acc': 1}
        """
        found = type(self)((key[len(prefix) + 1:], value) for key, value in self.items()
                           if key.startswith(prefix + "."))
        if not found and default is not ...:
            return default
        return found

    def suffix_get(self, suffix: str, default: Any = ...) -> "DotDict":
        """The keys ending with ``suffix``, without it."""
        found = type(self)((key[:-len(suffix) - 1], value) for key, value in self.items()
                           if key.endswith("." + suffix))
        if not found and default is not ...:
            return default
        return found

    def query_keys(self, part: str) -> list[str]:
        """The keys that have ``part`` as one of their dotted parts.

        >>> DotDict({'metrics.e.acc': 1, 'machine.e.host': 'h'}).query_keys('metrics')
        ['metrics.e.acc']
        """
        return [key for key in self if part in key.split(".")]

    def subdict(self, keys: Iterable[str]) -> "DotDict":
        return type(self)((key, self[key]) for key in keys)


__all__ = ["DotDict"]
