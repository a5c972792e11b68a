"""The text of a job folder's JSON records: ``json.dumps(value, indent=2)``, made faster.

With ``indent`` the standard library leaves its C encoder for a Python one
(a generator per container), which made the few small records a job
writes (``job_config.json``, ``done.json``, ``.result.json``) about a
tenth of the driver's time per job.  :func:`indented` writes the same
text, character for character, walking the containers itself and
encoding the strings with the C function json uses; anything it does not
know (a key that is not a string, a value json would refuse or convert)
goes to ``json.dumps`` whole, so errors and conversions stay json's.

Example:
    >>> print(indented({"a": [1, 2.5, None], "b": {}, "c": "é"}, ensure_ascii=False))
    {
      "a": [
        1,
        2.5,
        null
      ],
      "b": {},
      "c": "é"
    }
"""
from __future__ import annotations

import json
from json.encoder import encode_basestring, encode_basestring_ascii
from typing import Any, Callable

_INF = float("inf")


class _Unknown(Exception):
    """A value or key the fast walk leaves to json."""


def indented(value: Any, *, ensure_ascii: bool = True) -> str:
    """``json.dumps(value, indent=2, ensure_ascii=ensure_ascii)``, equal text."""
    out: list[str] = []
    try:
        _walk(value, "\n", out, encode_basestring_ascii if ensure_ascii else encode_basestring)
    except (_Unknown, RecursionError):
        return json.dumps(value, indent=2, ensure_ascii=ensure_ascii)
    return "".join(out)


def _float(value: float) -> str:
    if value != value:
        return "NaN"
    if value == _INF:
        return "Infinity"
    if value == -_INF:
        return "-Infinity"
    return float.__repr__(value)


def _walk(value: Any, newline: str, out: list[str], text: Callable[[str], str]) -> None:
    """Append ``value``'s text to ``out``; ``newline`` is the line break and indent of its own level."""
    if isinstance(value, str):
        out.append(text(value))
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        out.append(int.__repr__(value))
    elif isinstance(value, float):
        out.append(_float(value))
    elif isinstance(value, (list, tuple)):
        if not value:
            out.append("[]")
            return
        inner = newline + "  "
        out.append("[")
        sep = inner
        for item in value:
            out.append(sep)
            _walk(item, inner, out, text)
            sep = "," + inner
        out.append(newline + "]")
    elif isinstance(value, dict):
        if not value:
            out.append("{}")
            return
        inner = newline + "  "
        out.append("{")
        sep = inner
        for key, item in value.items():
            if not isinstance(key, str):
                raise _Unknown  # json turns 1 into "1", True into "true": let it
            out.append(sep)
            out.append(text(key))
            out.append(": ")
            _walk(item, inner, out, text)
            sep = "," + inner
        out.append(newline + "}")
    else:
        raise _Unknown
