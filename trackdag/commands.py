"""How a job's command is written: ``executable --key=value ...``, every value shell-quoted.

- strings are written verbatim, numbers and booleans as Python prints them,
  lists and mappings as JSON; several parent outputs feeding one input are
  passed as ``--key path1 path2`` (KWDagger's var-args form);
- relative program paths in a node's ``executable`` are made absolute
  (:func:`absolute_programs`), and input paths too (:func:`absolute_path`).

Bounds (checked where commands are rendered, so every way of making rows
is covered; each is a one-line :class:`~trackdag.errors.ParamsError`
naming the key):

- a NUL byte (``\\0``) anywhere in a row (a key, a value, inside a list or
  mapping value) is refused: no command-line argument, file name or
  environment variable can hold one, and it would be cut off or rejected
  later, far from its cause;
- one argument (``--key=value`` or one word of ``--key v1 v2``, counted in
  UTF-8 bytes) may have at most :data:`MAX_ARG_BYTES` (126,976 = 124 KiB):
  Linux refuses to start a program with an argument of 131,072 bytes
  (``MAX_ARG_STRLEN``, 128 KiB with the terminating NUL); 4 KiB are kept spare;
- a whole command (program and arguments) may have at most
  :data:`MAX_COMMAND_BYTES` (1 MiB): ``ARG_MAX`` (usually 2 MiB, a quarter
  of the stack limit) holds the arguments *and* the environment, so half is
  left to the environment.

A value that big belongs in a file whose path is the parameter.

Example:
    >>> render_command('prog', [('lr', 0.1), ('name', 'a b')], multiline=False)
    "prog --lr=0.1 '--name=a b'"
"""
from __future__ import annotations

import json
import os
import re
import shlex
from typing import Any, Iterable, Mapping

from .errors import ParamsError

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")

#: Longest single argument a command may pass, in bytes (Linux MAX_ARG_STRLEN 131,072 - 4 KiB).
MAX_ARG_BYTES = 128 * 1024 - 4 * 1024
#: Longest whole command (program + arguments), in bytes: half of Linux's usual 2 MiB ARG_MAX.
MAX_COMMAND_BYTES = 1024 * 1024


def format_value(value: Any) -> str:
    """How a value is written after ``--key=``: strings verbatim, containers as JSON.

    >>> [format_value(v) for v in ('a b', 3, 0.5, True, None, [1, 'x'])]
    ['a b', '3', '0.5', 'True', 'None', '[1, "x"]']
    """
    if isinstance(value, str):
        return value
    if value is None or isinstance(value, (bool, int, float)):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def command_words(args: Iterable[tuple[str, Any]]) -> list[tuple[str, list[str]]]:
    """The argv words of each argument, before shell quoting: ``(key, words)`` per argument.

    >>> command_words([('x', 1), ('f', VarArgs(['a', 'b']))])
    [('x', ['--x=1']), ('f', ['--f', 'a', 'b'])]
    """
    out = []
    for key, value in args:
        if isinstance(value, VarArgs):
            out.append((key, [f"--{key}"] + [format_value(v) for v in value]))
        else:
            out.append((key, [f"--{key}={format_value(value)}"]))
    return out


def render_command(executable: str, args: Iterable[tuple[str, Any]], *, multiline: bool = True) -> str:
    """Shell text of ``executable --key=value ...``; every value is shell-quoted.

    A list of paths given by several parent outputs is passed as
    ``--key path1 path2`` (KWDagger's var-args form).

    >>> render_command('prog', [('x', '$(id)'), ('y', 'a; b')], multiline=False)
    "prog '--x=$(id)' '--y=a; b'"
    """
    return _join_command(executable, command_words(args), multiline)


def _join_command(executable: str, words: list[tuple[str, list[str]]], multiline: bool = True) -> str:
    parts = [" ".join(shlex.quote(w) for w in ws) for _, ws in words]
    sep = " \\\n    " if multiline else " "
    return sep.join([executable.strip()] + parts)


def _utf8_len(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


#: the longest ``str()`` of a bool, None, float or int in (-10**18, 10**18): ``-1.2345678901234567e-300``
_SHORT_SCALAR = 24


def surely_fits(executable: str, *args: Mapping[str, Any]) -> bool:
    """True when a command of these arguments surely passes :func:`check_command`, from lengths alone.

    No word is written: each argument counts ``--key=`` plus its string's
    length, or 24 for a bool, None, float or small int.  Mappings may share
    keys (the count is then above the command's).  False means "write the
    words and check them": a NUL byte, a list or dict value, a huge int,
    or a command that may be long.  Planning a million jobs checks each
    command this way (its words are written when the command is asked for).

    >>> surely_fits('prog', {'x': 1, 's': 'a b'}, {'out': '/r/a/o.json'})
    True
    >>> surely_fits('prog', {'x': 'y' * 40_000}), surely_fits('prog', {'x': [1, 2]})
    (False, False)
    """
    if "\x00" in executable:
        return False
    chars = len(executable) + 1
    for mapping in args:
        for key, value in mapping.items():
            kind = type(value)
            if kind is str:
                if "\x00" in value:
                    return False
                chars += len(value)
            elif kind is float or kind is bool or value is None or (kind is int and -10 ** 18 < value < 10 ** 18):
                chars += _SHORT_SCALAR
            else:
                return False
            if "\x00" in key:
                return False
            chars += len(key) + 4  # --key= and a space
    return 4 * chars <= min(MAX_ARG_BYTES, MAX_COMMAND_BYTES)


def check_command(node: str, executable: str, words: list[tuple[str, list[str]]], *,
                  source: str = "params") -> None:
    """Raise ParamsError unless the command can be started (see the module docstring's bounds).

    >>> check_command('a', 'prog', command_words([('x', 'y' * 200_000)]))
    Traceback (most recent call last):
    ...
    trackdag.errors.ParamsError: params: 'a.x': the argument --x=... is 200,004 bytes, more than the 126,976 bytes one command-line argument may have (Linux refuses 131,072); pass a value this big in a file
    """
    flat = [w for _, ws in words for w in ws]
    if "\x00" not in executable and not any("\x00" in w for w in flat):
        # the common case: every byte count is at most 4 per character, so a command this short fits
        chars = len(executable) + 1 + sum(map(len, flat)) + len(flat)
        if 4 * chars <= min(MAX_ARG_BYTES, MAX_COMMAND_BYTES):
            return
    total, largest, largest_key = _utf8_len(executable) + 1, 0, ""
    for key, ws in words:
        for word in ws:
            if "\x00" in word:
                raise ParamsError(f"{source}: '{node}.{key}': the value contains a NUL byte (\\0), "
                                  "which a command-line argument cannot hold")
            size = _utf8_len(word)
            if size > MAX_ARG_BYTES:
                raise ParamsError(
                    f"{source}: '{node}.{key}': the argument --{key}{'=' if len(ws) == 1 else ' '}... "
                    f"is {size:,} bytes, more than the {MAX_ARG_BYTES:,} bytes one command-line "
                    "argument may have (Linux refuses 131,072); pass a value this big in a file")
            total += size + 1
            if size > largest:
                largest, largest_key = size, key
    if total > MAX_COMMAND_BYTES:
        raise ParamsError(
            f"{source}: node {node!r}: its command is {total:,} bytes, more than the "
            f"{MAX_COMMAND_BYTES:,} bytes a command line may safely have (ARG_MAX, shared with the "
            f"environment); the largest argument is '{node}.{largest_key}' ({largest:,} bytes): "
            "pass big values in files")


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, (list, tuple)):
        return any(_has_nul(v) for v in value)
    if isinstance(value, Mapping):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    return False


def check_row_values(rows: list[dict[str, Any]], *, source: str = "params") -> None:
    """Reject a NUL byte in any key or value of any row (it cannot reach a command intact).

    >>> check_row_values([{'a.x': ['ok', 'no\\x00pe']}], source='p.yaml')
    Traceback (most recent call last):
    ...
    trackdag.errors.ParamsError: p.yaml: 'a.x': the value contains a NUL byte (\\0), which a command-line argument cannot hold
    """
    plain = (int, float, bool, type(None))
    for row in rows:
        for key, value in row.items():
            if isinstance(key, str) and "\x00" in key:
                raise ParamsError(f"{source}: key {key!r} contains a NUL byte (\\0), which a "
                                  "command-line argument cannot hold")
            kind = type(value)  # (the common kinds first: this runs for every value of every row)
            if kind is str:
                if "\x00" not in value:
                    continue
            elif kind in plain:
                continue
            if _has_nul(value):
                raise ParamsError(f"{source}: {key!r}: the value contains a NUL byte (\\0), "
                                  "which a command-line argument cannot hold")


class VarArgs(tuple):
    """An input fed by several outputs: passed as ``--key v1 v2 ...``."""


_PROGRAM_TOKEN = re.compile(r"(?<!\S)([A-Za-z0-9_.+@%,~-][A-Za-z0-9_./+@%,~-]*)(?!\S)")


def absolute_programs(executable: str, bases: Iterable[str]) -> str:
    """``executable`` with each relative path to an existing file made absolute.

    Jobs run inside their own folder, so ``python train.py`` would look for
    ``train.py`` there.  A word of the command that contains ``/`` or has a
    file extension, and names a file in one of ``bases`` (the launch
    directory first, as KWDagger ran commands from it, then the pipeline
    file's folder), is replaced by its absolute path; everything else
    (``python``, ``-m pkg.mod``, options, pipes, quoting) is kept verbatim.

    >>> import tempfile, os
    >>> d = tempfile.mkdtemp(); open(os.path.join(d, 'train.py'), 'w').close()
    >>> absolute_programs('python train.py --fast | tee log.txt', [d]) == f'python {d}/train.py --fast | tee log.txt'
    True
    """
    bases = [b for b in bases if b]

    def replace(match: "re.Match[str]") -> str:
        word = match.group(1)
        name = word.rsplit("/", 1)[-1]
        if word.startswith(("-", "/", "~")) or ("/" not in word and "." not in name.strip(".")):
            return word
        for base in bases:
            candidate = os.path.normpath(os.path.join(base, word))
            if os.path.isfile(candidate):
                return shlex.quote(candidate)
        return word

    return _PROGRAM_TOKEN.sub(replace, executable)


def absolute_path(value: Any, cwd: str) -> Any:
    """Make path-like input values absolute (lists element-wise); keep URLs and non-strings."""
    if isinstance(value, str):
        if not value or _URL.match(value):
            return value
        return os.path.normpath(os.path.join(cwd, os.path.expanduser(value)))
    if isinstance(value, list):
        return [absolute_path(v, cwd) for v in value]
    return value


