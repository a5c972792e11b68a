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

Aliases are bounded.  A few lines of nested anchors and aliases (the
"billion laughs" alias bomb) describe a document of billions of values; the
node graph libyaml composes is only as big as the text, so before anything is
constructed the document's size with every alias expanded is counted
(linear in the text, shared nodes counted once by memo).  Aliases may add at
most :data:`MAX_ALIAS_VALUES` (1,000,000) values to what the text writes, so
a file with a million values written out still loads; an alias that refers
to the node containing it (a recursive document) is refused too, since no
params value or pipeline can be infinite.  Both errors are
:class:`yaml.constructor.ConstructorError` (a ``yaml.YAMLError``) with the
line, so callers report them like any other YAML mistake.

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

#: How many values aliases may add to a document beyond the values its text writes.
MAX_ALIAS_VALUES = 1_000_000


def _expanded_size(root: yaml.Node, limit: int) -> None:
    """Raise ConstructorError if expanding the aliases under ``root`` adds more than ``limit`` values.

    Only a shared collection (an alias of a sequence or mapping) multiplies a
    document; an alias of a scalar adds one value per ``*name`` written.  So
    the sizes of collections are memoised per node (an alias is the same node
    object as its anchor), which is linear in the composed graph however much
    aliases multiply it, and scalars are counted where they stand.  A
    collection reached again while it is being sized is a recursive alias.
    """
    scalar = yaml.ScalarNode
    if root.__class__ is scalar:
        return
    size: dict[int, int] = {}  # id(collection) -> its size with aliases expanded
    active: set[int] = set()  # collections being sized: the path from the root
    written = 0  # every collection once, plus the scalar slots it holds
    first_big: yaml.Node | None = None
    stack: list[tuple[yaml.Node, list | None]] = [(root, None)]
    while stack:
        node, kids = stack[-1]
        if kids is None:  # first visit: find the collections it holds
            if id(node) in size:  # listed twice by one parent: sized at the first
                stack.pop()
                continue
            value = node.value
            if node.__class__ is yaml.MappingNode:
                kids = [n for pair in value for n in pair if n.__class__ is not scalar]
                slots = 2 * len(value)
            else:
                kids = [n for n in value if n.__class__ is not scalar]
                slots = len(value)
            written += 1 + slots - len(kids)
            active.add(id(node))
            stack[-1] = (node, kids)
            for kid in kids:
                if id(kid) in active:
                    raise yaml.constructor.ConstructorError(
                        None, None, "recursive alias: an alias refers to the node that contains it "
                        "(a value cannot contain itself)", kid.start_mark)
            pending = [kid for kid in kids if id(kid) not in size]
            stack.extend((kid, None) for kid in reversed(pending))
            continue
        stack.pop()
        key = id(node)
        slots = 2 * len(node.value) if node.__class__ is yaml.MappingNode else len(node.value)
        total = 1 + slots - len(kids) + sum(size[id(kid)] for kid in kids)
        size[key] = total
        active.discard(key)
        if first_big is None and total > limit:
            first_big = node  # the smallest subtree already too big: point there
    expanded = size[id(root)]
    if expanded - written > limit:
        where = first_big if first_big is not None else root
        raise yaml.constructor.ConstructorError(
            None, None, f"aliases (*name) expand the document to {expanded:,} values from "
            f"{written:,} written; at most {limit:,} values may come from aliases "
            "(an alias bomb?)", where.start_mark)


class Loader(_BaseLoader):  # type: ignore[misc, valid-type]
    """A safe loader with the YAML 1.2 core schema, no duplicate keys and bounded aliases."""

    #: values aliases may add (see :data:`MAX_ALIAS_VALUES`); a class attribute to tune in tests
    max_alias_values: int = MAX_ALIAS_VALUES

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        # Without a '*' there is no alias, and nothing to count.
        self._may_alias = not isinstance(stream, (str, bytes)) or (
            ("*" if isinstance(stream, str) else b"*") in stream)

    def construct_document(self, node: yaml.Node) -> Any:
        if self._may_alias:
            _expanded_size(node, self.max_alias_values)
        return super().construct_document(node)

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
        try:
            if text.startswith("0o"):
                return int(text[2:], 8)
            if text.startswith("0x"):
                return int(text[2:], 16)
            return int(text, 10)  # leading zeros are decimal in YAML 1.2
        except ValueError:  # more digits than Python converts (sys.get_int_max_str_digits)
            raise yaml.constructor.ConstructorError(
                None, None, f"the integer has {len(text):,} digits, too many to read; quote it "
                "to keep it a string", node.start_mark) from None

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


__all__ = ["Loader", "MAX_ALIAS_VALUES", "load"]
