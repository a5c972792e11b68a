"""A fast path for YAML params files that hold long JSON-style lists.

libyaml plus the YAML 1.2 resolvers of :mod:`trackdag.yaml12` take seconds
for a list of a million numbers (each value is a Python-level scalar node and
a regular expression match); :func:`json.loads` reads the same text in
hundredths of a second.  :func:`load` returns exactly what
:func:`trackdag.yaml12.load` returns, and calls it whenever it cannot be
sure.  What is decided:

* Only a value written as ``key: [ ... ]`` is considered: a line that holds
  indentation, optional ``- `` sequence indicators, a plain key of
  ``[A-Za-z0-9_./-]`` (not starting with ``.``, ``-`` or ``/``) or such a key
  in quotes, ``:``, spaces, then ``[``.  Nothing may follow the closing ``]``
  on its line but spaces and a comment.
* The bracketed text must be at least :data:`MIN_LIST_CHARS` characters,
  ``json.loads`` must read it as a flat list of ints, floats, strings,
  ``true``/``false``/``null`` (``NaN``/``Infinity`` refused), and it may hold
  nothing but printable ASCII, spaces and ``\\n``: no backslash (JSON and YAML
  escapes differ), no tab, ``\\r``, DEL or non-ASCII character (YAML reads
  some as line breaks or refuses them).  Such a list means the same in YAML
  1.2 and JSON: JSON numbers match the core schema's int/float patterns and
  convert with the same ``int()``/``float()``, and a double-quoted string
  without escapes is its text.
* Each such list is replaced by a placeholder plain scalar followed by as
  many line breaks as the list spanned (later line numbers stay right), the
  rest is parsed by :func:`trackdag.yaml12.load`, and each placeholder must
  come back exactly once, whole, as a mapping value.  That check is what
  catches every context the line pattern cannot see: inside a block scalar
  (``|``/``>``), a quoted or plain multi-line scalar or a flow collection the
  placeholder comes back as part of a longer string or a key, inside a
  comment it does not come back at all.  Either way, and on any parse error
  of the rest, the whole text goes to :func:`trackdag.yaml12.load`, so every
  error (and its line number) is that loader's own.
* The text left after substitution must hold no ``*``: aliases are counted
  against :data:`trackdag.yaml12.MAX_ALIAS_VALUES` by the values they
  expand to, which a placeholder would understate.  A text containing the
  placeholder prefix itself also goes the normal way.

Example:
    >>> text = "a.x: [" + ", ".join(map(str, range(2000))) + "]\\nb: yes\\n"
    >>> data = load(text)
    >>> data["a.x"][:3], len(data["a.x"]), data["b"]
    ([0, 1, 2], 2000, 'yes')
"""
from __future__ import annotations

import json
import re
from typing import Any

from . import yaml12

#: Lists whose bracketed text is shorter than this are left to the YAML parser.
MIN_LIST_CHARS = 4096

_PREFIX = "trackdag_fast_list_"
_KEY = r"(?:[A-Za-z0-9_][A-Za-z0-9_./-]*|\"[A-Za-z0-9_./ -]*\"|'[A-Za-z0-9_./ -]*')"
_CANDIDATE = re.compile(r"^[ ]*(?:-[ ]+)*" + _KEY + r"[ ]*:[ ]+\[", re.MULTILINE)
_LINE_END = re.compile(r"[ ]*(?:#[^\r\n]*)?(?=\r?\n|\Z)")
_SCALARS = frozenset((int, float, str, bool, type(None)))


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a YAML 1.2 number")


_DECODER = json.JSONDecoder(parse_constant=_no_constant)


def _flat_json_list(text: str, start: int) -> tuple[list | None, int]:
    """``(list, end)`` for the flat JSON scalar list whose ``[`` is at ``start``.

    The list is None when the text there is no JSON (``end`` is then
    ``start``), is shorter than :data:`MIN_LIST_CHARS`, or holds anything the
    module docstring rules out (``end`` is then the end of the JSON value).
    """
    try:
        value, end = _DECODER.raw_decode(text, start)
    except ValueError:  # not JSON, NaN/Infinity, or an integer too long to convert
        return None, start
    if end - start < MIN_LIST_CHARS or type(value) is not list:
        return None, end
    chunk = text[start:end]
    # isprintable() on ASCII is 0x20-0x7e: no tab, \r, DEL or other control character.
    if not chunk.isascii() or "\\" in chunk or not chunk.replace("\n", "").isprintable():
        return None, end
    if not set(map(type, value)) <= _SCALARS:
        return None, end  # a nested list or an object
    return value, end


def split_lists(text: str) -> tuple[str, list[list]] | None:
    """Replace the long JSON lists of ``text`` by placeholders: ``(rest, lists)``.

    Placeholder ``i`` stands for ``lists[i]``.  None when there is nothing to
    replace or the text may not take the fast path (it holds the placeholder
    prefix, or its rest an alias).
    """
    if _PREFIX in text:
        return None
    pieces: list[str] = []
    lists: list[list] = []
    pos = 0
    search = pos
    while True:
        match = _CANDIDATE.search(text, search)
        if match is None:
            break
        start = match.end() - 1  # the '['
        value, end = _flat_json_list(text, start)
        # A JSON value holds no line that looks like `key: [`: search on after it.
        search = max(end, start + 1)
        if value is None:
            continue
        tail = _LINE_END.match(text, end)
        if tail is None:
            continue
        pieces += [text[pos:start], f"{_PREFIX}{len(lists)}", text[end:tail.end()],
                   "\n" * text.count("\n", start, end)]
        lists.append(value)
        pos = search = tail.end()  # lines inside the list are not searched
    if not lists:
        return None
    pieces.append(text[pos:])
    rest = "".join(pieces)
    if "*" in rest:
        return None
    return rest, lists


def _put_back(data: Any, lists: list[list]) -> bool:
    """Replace each placeholder in ``data`` by its list, in place; False if one is not found once, whole, as a mapping value."""
    placed = [False] * len(lists)
    placeholders = {f"{_PREFIX}{i}": i for i in range(len(lists))}
    stack = [data]
    seen: set[int] = set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            return False  # shared containers come from aliases, which never get here
        seen.add(id(node))
        if isinstance(node, dict):
            for key, value in node.items():
                if isinstance(key, str) and _PREFIX in key:
                    return False
                if isinstance(value, str) and _PREFIX in value:
                    index = placeholders.get(value)
                    if index is None or placed[index]:
                        return False  # part of a longer string, or seen twice
                    placed[index] = True
                    node[key] = lists[index]
                elif isinstance(value, (dict, list)):
                    stack.append(value)
        elif isinstance(node, list):
            for item in node:
                if isinstance(item, str) and _PREFIX in item:
                    return False
                if isinstance(item, (dict, list)):
                    stack.append(item)
    return all(placed)


def load_fast(text: str) -> tuple[bool, Any]:
    """``(True, value)`` when the fast path applies, else ``(False, None)``: never raises for bad YAML."""
    if len(text) < MIN_LIST_CHARS:
        return False, None
    split = split_lists(text)
    if split is None:
        return False, None
    rest, lists = split
    try:
        data = yaml12.load(rest)
    except Exception:  # noqa: BLE001 - any failure: the normal path reports it
        return False, None
    if not _put_back(data, lists):
        return False, None
    return True, data


def load(text: str) -> Any:
    """Parse YAML text exactly as :func:`trackdag.yaml12.load` does, faster for long JSON lists."""
    ok, data = load_fast(text)
    return data if ok else yaml12.load(text)


__all__ = ["MIN_LIST_CHARS", "load", "load_fast", "split_lists"]
