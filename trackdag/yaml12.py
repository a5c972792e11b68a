"""YAML with the YAML 1.2 core schema: what a number, a boolean and null look like.

PyYAML resolves plain scalars by YAML 1.1 rules, which silently change a
sweep: ``1e-3`` stays the *string* ``'1e-3'`` (a learning-rate axis becomes
text), ``yes``/``no``/``on``/``off`` become booleans, ``012`` is octal 10 and
``2024-01-02`` a date.  trackdag reads every params file, ``__include__``
file and YAML pipeline with the 1.2 core schema instead, as KWDagger does
(through ruamel.yaml):

=====================================  ==========================
plain scalar                           value
=====================================  ==========================
``null``, ``Null``, ``NULL``, ``~``,   ``None``
empty
``true``/``True``/``TRUE``,            ``True`` / ``False``
``false``/``False``/``FALSE``
``12``, ``-3``, ``012``                int (decimal; ``012`` is 12)
``0o12``, ``0x1f``                     int (octal 10, hex 31)
``1.5``, ``1e-3``, ``1e3``, ``.5``     float (``1e3`` is 1000.0)
``.inf``, ``-.inf``, ``.nan``          float
anything else (``yes``, ``on``,        str
``2024-01-02``, ``1_000``)
=====================================  ==========================

Quoted scalars are always strings.  Merge keys (``<<: *anchor``) keep
working.  A repeated mapping key is an error (the second ``include:`` would
otherwise silently replace the first).  The C parser (libyaml) is used when
PyYAML has it: it is about 10x faster on large files.

Example:
    >>> load("lr: [1e-3, 1e3]\\nflag: yes\\nn: 012\\nm: 0o12\\non: true")
    {'lr': [0.001, 1000.0], 'flag': 'yes', 'n': 12, 'm': 10, 'on': True}
"""
from __future__ import annotations

import re
from typing import Any

import yaml

_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# The core schema's regular expressions (YAML 1.2.2, section 10.3.2).
_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_INT = re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$")
_FLOAT = re.compile(r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
                    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$")

_TAG = "tag:yaml.org,2002:"


class Loader(_BaseLoader):  # type: ignore[misc, valid-type]
    """A safe loader with the YAML 1.2 core schema and no duplicate keys."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set = set()
        for key_node, _ in node.value:
            if key_node.tag == _TAG + "merge":
                continue  # `<<: *anchor` may legitimately repeat keys
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, (str, int, float, bool)) or key is None:
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key!r}", key_node.start_mark)
                seen.add(key)
        return super().construct_mapping(node, deep)

    def construct_core_int(self, node: yaml.ScalarNode) -> int:
        text = self.construct_scalar(node)
        if text.startswith("0o"):
            return int(text[2:], 8)
        if text.startswith("0x"):
            return int(text[2:], 16)
        return int(text, 10)  # leading zeros are decimal in YAML 1.2

    def construct_core_float(self, node: yaml.ScalarNode) -> float:
        text = self.construct_scalar(node).lower()
        if text.endswith(".inf"):
            return float("-inf") if text.startswith("-") else float("inf")
        if text == ".nan":
            return float("nan")
        return float(text)

    def construct_core_bool(self, node: yaml.ScalarNode) -> bool:
        return self.construct_scalar(node).lower() == "true"


# Replace the YAML 1.1 implicit resolvers (bool/int/float/null/timestamp/value)
# by the core schema's; `<<` (merge) stays.
Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag == _TAG + "merge"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
Loader.yaml_implicit_resolvers = {k: v for k, v in Loader.yaml_implicit_resolvers.items() if v}
for _tag, _regexp, _first in (
    ("null", _NULL, ["~", "n", "N", ""]),
    ("bool", _BOOL, list("tTfF")),
    ("int", _INT, list("-+0123456789")),
    ("float", _FLOAT, list("-+0123456789.")),
):
    Loader.add_implicit_resolver(_TAG + _tag, _regexp, _first)
Loader.add_constructor(_TAG + "int", Loader.construct_core_int)
Loader.add_constructor(_TAG + "float", Loader.construct_core_float)
Loader.add_constructor(_TAG + "bool", Loader.construct_core_bool)
# Explicit !!timestamp and friends are 1.1 types: without a resolver they only
# arise from an explicit tag, and then stay the text written.
Loader.add_constructor(_TAG + "timestamp", Loader.construct_yaml_str)


def load(text: str) -> Any:
    """Parse YAML text with the 1.2 core schema (see the module docstring)."""
    return yaml.load(text, Loader=Loader)  # noqa: S506 - a SafeLoader subclass


__all__ = ["Loader", "load"]
