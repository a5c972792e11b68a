"""Cached pieces of job ids and commands, so planning a million jobs does each distinct value once.

A sweep repeats most of its values: every job of a node carries the node's
defaults, thousands share one input file.  :class:`Fragments` keeps, per
``(key, value)``, the value's canonical-JSON member (``"key":value``) and
its shell-quoted command word (``'--key=value'``), and assembles them into
exactly what :func:`trackdag.ids.canonical_json` and
:func:`trackdag.commands.render_command` would give for the whole job (the
tests compare both ways on generated values).  Values that are not plain
scalars (lists, dicts, several paths) are not cached; they go the long way.

Cache keys keep types apart (``1``, ``1.0``, ``True`` and ``"1"`` differ)
and floats by their ``repr`` (``0.0`` and ``-0.0`` are equal in Python but
not in JSON).  Each cache is cleared when it reaches :data:`CACHE_LIMIT`
entries, so a sweep of distinct values costs no more memory than a bounded
dictionary.

Example:
    >>> f = Fragments()
    >>> f.json_object({"b": 1, "a": [1, "x"]})
    '{"a":[1,"x"],"b":1}'
    >>> f.command("prog", [("x", 1), ("y", "a b")], multiline=False)
    "prog --x=1 '--y=a b'"
"""
from __future__ import annotations

import shlex
from typing import Any, Iterable, Mapping

from .commands import MAX_ARG_BYTES, MAX_COMMAND_BYTES, VarArgs, format_value
from .ids import canonical_json

#: entries per cache before it is cleared
CACHE_LIMIT = 200_000

_SCALARS = (str, int, float, bool, type(None))
#: how many bytes a command may have before its exact size is worth counting (UTF-8: <= 4 per character)
_SAFE_CHARS = min(MAX_ARG_BYTES, MAX_COMMAND_BYTES) // 4


class Fragments:
    """The caches of one planning pass (see the module docstring)."""

    def __init__(self) -> None:
        self._members: dict[Any, str] = {}
        self._words: dict[Any, tuple[str, int, bool]] = {}

    def clear(self) -> None:
        """Forget every cached fragment (they are made again when asked for)."""
        self._members.clear()
        self._words.clear()

    # -- canonical JSON -------------------------------------------------------------
    def member(self, key: str, value: Any) -> str:
        """``"key":<canonical JSON of value>``, as in a canonical object."""
        kind = type(value)
        if kind not in _SCALARS:
            return canonical_json(key) + ":" + canonical_json(value)
        ck = (key, value) if kind is str else ((key, kind, repr(value)) if kind is float else (key, kind, value))
        found = self._members.get(ck)
        if found is None:
            if len(self._members) >= CACHE_LIMIT:
                self._members.clear()
            found = self._members[ck] = canonical_json(key) + ":" + canonical_json(value)
        return found

    def json_object(self, mapping: Mapping[str, Any]) -> str:
        """``canonical_json(mapping)`` for a mapping with string keys."""
        members, out = self._members, []
        for key in sorted(mapping):
            value = mapping[key]
            kind = type(value)  # the cache key, as in member() (inlined: this runs for every job)
            if kind is str:
                found = members.get((key, value))
            elif kind is float or kind not in _SCALARS:
                found = None
            else:
                found = members.get((key, kind, value))
            out.append(found if found is not None else self.member(key, value))
        return "{" + ",".join(out) + "}"

    # -- commands ---------------------------------------------------------------------
    def _word(self, key: str, value: Any) -> tuple[str, int, bool]:
        """(shell-quoted ``--key=value``, its length in characters plus a space, whether it holds a NUL)."""
        kind = type(value)
        ck = (key, value) if kind is str else ((key, kind, repr(value)) if kind is float else (key, kind, value))
        found = self._words.get(ck)
        if found is None:
            if len(self._words) >= CACHE_LIMIT:
                self._words.clear()
            word = f"--{key}={format_value(value)}"
            found = self._words[ck] = (shlex.quote(word), len(word) + 1, "\x00" in word)
        return found

    def command_parts(self, args: Iterable[tuple[str, Any]],
                      unique: Mapping[str, bool] = {}) -> "tuple[list[str], int] | None":  # noqa: B006 (read only)
        """The quoted words of each argument and the characters of the unquoted words (with a space each).

        None when an argument holds a NUL byte, or when the command may
        be too long: then :func:`trackdag.commands.check_command` must look
        at it (and will refuse it or say it fits).  ``unique``: keys whose
        values are new in every job (outputs' paths), not worth caching;
        True when their word surely needs no quoting (see :meth:`plain`).
        """
        words, parts, chars = self._words, [], 0
        for key, value in args:
            if key in unique and type(value) is str:
                word = f"--{key}={value}"
                if "\x00" in word:
                    return None
                parts.append(word if unique[key] else shlex.quote(word))
                chars += len(word) + 1
                continue
            kind = type(value)  # the cache key, as in _word() (inlined: this runs for every argument)
            if kind is str:
                found = words.get((key, value))
            elif kind is float or kind not in _SCALARS:
                found = None
            else:
                found = words.get((key, kind, value))
            if found is None:
                if kind not in _SCALARS:
                    several = isinstance(value, VarArgs)
                    unquoted = [f"--{key}"] + [format_value(v) for v in value] if several \
                        else [f"--{key}={format_value(value)}"]
                    if any("\x00" in w for w in unquoted):
                        return None
                    parts.append(" ".join(shlex.quote(w) for w in unquoted))
                    chars += sum(len(w) + 1 for w in unquoted)
                    continue
                found = self._word(key, value)
            if found[2]:
                return None
            parts.append(found[0])
            chars += found[1]
        return parts, chars

    def command(self, executable: str, args: Iterable[tuple[str, Any]], *, multiline: bool = True) -> str:
        """``render_command(executable, args, multiline=...)``, from cached words."""
        done = self.command_parts(args)
        if done is None:
            from .commands import render_command

            return render_command(executable, args, multiline=multiline)
        return join_parts(executable, done[0], multiline)

    @staticmethod
    def plain(word: str) -> bool:
        """Whether ``word`` is its own shell quoting (``shlex.quote`` returns it unchanged)."""
        return bool(word) and shlex.quote(word) == word

    @staticmethod
    def fits(executable: str, chars: int) -> bool:
        """Whether a command of ``chars`` characters after ``executable`` surely fits the bounds."""
        return "\x00" not in executable and len(executable) + 1 + chars <= _SAFE_CHARS


def join_parts(executable: str, parts: list[str], multiline: bool = True) -> str:
    """The command text from its quoted parts (as :func:`trackdag.commands._join_command` joins them)."""
    sep = " \\\n    " if multiline else " "
    return sep.join([executable.strip()] + parts)


__all__ = ["Fragments", "join_parts", "CACHE_LIMIT"]
