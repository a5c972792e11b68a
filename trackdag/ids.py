"""Identity: canonical JSON, full SHA-256 digests and short ids, made in one place.

A job id is ``digest(payload)``: the SHA-256 (64 hex chars) of the canonical
JSON of its payload.  Canonical JSON sorts mapping keys, uses no whitespace
and keeps types apart (``123`` and ``"123"`` and ``true`` differ), so key
order never changes an id.  Folder names use :func:`short_id`, the first 12
base-36 characters of the digest read as an integer.

Example:
    >>> canonical_json({"b": 1, "a": [1.5, "x", None, True]})
    '{"a":[1.5,"x",null,true],"b":1}'
    >>> digest({"a": 1}) == digest({"a": 1})
    True
    >>> len(short_id(digest({"a": 1})))
    12
"""
from __future__ import annotations

import bisect
import functools
import hashlib
import json
import math
from typing import Any, Callable

from .errors import TrackdagError

_ALPHABET36 = "0123456789abcdefghijklmnopqrstuvwxyz"
_ALPHABET26 = "abcdefghijklmnopqrstuvwxyz"
SHORT_LEN = 12

_ENCODER = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)


_PLAIN = (str, int, bool, type(None))


def _check(obj: Any) -> Any:
    # NaN/inf have no JSON spelling; reject them with a readable message
    # instead of letting json raise "Out of range float values".  Plain
    # scalars (most of a payload) are passed over by their exact type.
    kind = type(obj)
    if kind in _PLAIN:
        return obj
    if kind is dict or (kind is not list and kind is not tuple and isinstance(obj, dict)):
        for k, v in obj.items():
            if type(k) is not str and not isinstance(k, str):
                raise TrackdagError(f"mapping key {k!r} must be a string to be part of an id")
            if type(v) not in _PLAIN:
                _check(v)
    elif kind is list or kind is tuple or isinstance(obj, (list, tuple)):
        for v in obj:
            if type(v) not in _PLAIN:
                _check(v)
    elif isinstance(obj, float) and not math.isfinite(obj):
        raise TrackdagError(f"value {obj!r} cannot be part of an id: use a string such as 'nan'")
    return obj


def canonical_json(obj: Any) -> str:
    """Serialise ``obj`` deterministically: sorted keys, compact, UTF-8, no NaN."""
    # json would silently turn the key 1 into "1"; check keys (and NaN) first.
    _check(obj)
    try:
        return _ENCODER.encode(obj)
    except (ValueError, TypeError):
        raise TrackdagError(f"value {obj!r} is not JSON-serialisable and cannot be part of an id") from None


def digest(obj: Any) -> str:
    """Full SHA-256 hex digest of the canonical JSON of ``obj``."""
    return digest_text(canonical_json(obj))


def digest_text(text: str) -> str:
    """Full SHA-256 hex digest of ``text`` already in canonical JSON (see :mod:`trackdag.fragments`)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _encode(number: int, alphabet: str) -> str:
    base = len(alphabet)
    out = []
    while number:
        number, rem = divmod(number, base)
        out.append(alphabet[rem])
    return "".join(reversed(out)) or alphabet[0]


@functools.lru_cache(maxsize=None)
def _powers(base: int) -> tuple[int, ...]:
    """base**0, base**1, ... up to the first power above 2**256 (a SHA-256 digest)."""
    out = [1]
    while out[-1] <= 1 << 256:
        out.append(out[-1] * base)
    return tuple(out)


def _leading(number: int, alphabet: str, length: int) -> str:
    """The first ``length`` digits of ``number`` in base ``len(alphabet)`` (all of them when fewer).

    The same as ``_encode(number, alphabet)[:length]``, without encoding the
    other digits: one division by the right power of the base, then
    ``length`` digits.
    """
    powers = _powers(len(alphabet))
    if number >= powers[-1]:
        return _encode(number, alphabet)[:length]
    digits = bisect.bisect_right(powers, number)  # how many digits number has (0 for 0)
    if digits > length:
        number //= powers[digits - length]
    return _encode(number, alphabet)


@functools.lru_cache(maxsize=None)
def _triples36() -> tuple[str, ...]:
    """Every 3-digit base-36 string, zero-padded, by value (46,656 of them)."""
    return tuple(a + b + c for a in _ALPHABET36 for b in _ALPHABET36 for c in _ALPHABET36)


_POW36_3, _POW36_6, _POW36_9 = 36 ** 3, 36 ** 6, 36 ** 9


def short_id(full: str, length: int = SHORT_LEN) -> str:
    """First ``length`` base-36 characters of a hex digest (for folder names).

    >>> short_id('0' * 63 + '1')
    '000000000001'
    """
    if length == SHORT_LEN:  # every job's: the 12 leading digits in four table look-ups
        number = int(full, 16)
        powers = _powers(36)
        if number < powers[-1]:
            digits = bisect.bisect_right(powers, number)
            if digits > SHORT_LEN:
                number //= powers[digits - SHORT_LEN]
            table = _triples36()
            high, low = divmod(number, _POW36_6)
            return (table[high // _POW36_3] + table[high % _POW36_3]
                    + table[low // _POW36_3] + table[low % _POW36_3])
    text = _leading(int(full, 16), _ALPHABET36, length)
    # Only digests with many leading zero bits are shorter than 12 chars;
    # pad on the left so the result is always `length` characters.
    return text[:length].rjust(length, "0")


_POW36_37, _POW36_38, _POW36_48, _POW36_49 = 36 ** 37, 36 ** 38, 36 ** 48, 36 ** 49


def short_ids(fulls: "list[str]") -> "list[str]":
    """``[short_id(f) for f in fulls]``, faster: a plan's every job id at once.

    Nearly every SHA-256 digest has 50 base-36 digits (it is at least
    ``36**49``, as 1 - 2**-3.3 of them are) or 49; their leading 12 are one
    division away, with no search for the number of digits.
    """
    table = _triples36()
    out = []
    append = out.append
    for full in fulls:
        number = int(full, 16)
        if number >= _POW36_49:
            number //= _POW36_38
        elif number >= _POW36_48:
            number //= _POW36_37
        else:
            append(short_id(full))
            continue
        high, low = divmod(number, _POW36_6)
        append(table[high // _POW36_3] + table[high % _POW36_3] + table[low // _POW36_3] + table[low % _POW36_3])
    return out


def letter_id(obj: Any, length: int = SHORT_LEN) -> str:
    """A ``length``-letter id (a-z) of ``obj``, like KWDagger's param_hashid.

    >>> letter_id({"a": 1}).isalpha()
    True
    """
    text = _leading(int(digest(obj), 16), _ALPHABET26, length)
    return text[:length].rjust(length, "a")


def scalar_memo(fn: "Callable[[Any], Any]", limit: int = 200_000) -> "Callable[[Any], Any]":
    """``fn`` remembered for scalar values (str, int, float, bool, None); other values go to ``fn`` each time.

    Values are told apart as canonical JSON tells them (``1``, ``1.0``,
    ``True`` and ``"1"`` differ, and so do ``0.0`` and ``-0.0``, by
    ``repr``); the memory is cleared when it holds ``limit`` values.  For
    bulk rows where values repeat (defaults, shared inputs).

    >>> seen = []
    >>> typed = scalar_memo(lambda v: seen.append(v) or type(v).__name__)
    >>> [typed(v) for v in (1, 1, True, 1.0, -0.0, 0.0, [1], [1])], len(seen)
    (['int', 'int', 'bool', 'float', 'float', 'float', 'list', 'list'], 7)
    """
    memory: dict[tuple, Any] = {}

    def remembered(value: Any) -> Any:
        kind = type(value)
        if kind not in _SCALAR_TYPES:
            return fn(value)
        key = (kind, repr(value)) if kind is float else (kind, value)
        found = memory.get(key, _MISSING)
        if found is _MISSING:
            if len(memory) >= limit:
                memory.clear()
            found = memory[key] = fn(value)
        return found

    return remembered


_SCALAR_TYPES = (str, int, float, bool, type(None))
_MISSING = object()
