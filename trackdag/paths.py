"""The folders trackdag writes into: check them before anything is written, create them cleanly.

A ``--root`` under a file, in ``/proc``, on a read-only file system or in a
folder without write permission, an unwritable ``--catalog`` or ``--out``:
each is refused with one :class:`PathError` line naming the path and the
reason, before a lock file, a catalog or an empty folder is left behind.

- :func:`check_dir` answers "could a folder be created and written here?"
  and leaves nothing behind: it finds the nearest folder that exists, and
  creates and removes an empty probe folder in it (``access()`` alone cannot
  tell: root may write anywhere by permission, but not in ``/proc`` or on a
  read-only mount).
- :func:`make_dir` creates a folder (parents too) and, when that fails
  half-way, removes the parents it created.

Example:
    >>> import tempfile, os
    >>> base = tempfile.mkdtemp()
    >>> make_dir(os.path.join(base, 'a', 'b'), '--root')
    >>> open(os.path.join(base, 'f'), 'w').close()
    >>> check_dir(os.path.join(base, 'f', 'sub'), '--root')  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    trackdag.paths.PathError: --root .../f/sub: .../f is a file, not a folder
"""
from __future__ import annotations

import os
import tempfile

from .errors import TrackdagError

PROBE_PREFIX = ".trackdag-probe-"


class PathError(TrackdagError):
    """A folder or file trackdag must write cannot be written (bad input: nothing ran)."""

    exit_code = 2


def _existing_ancestor(path: str) -> str:
    current = path
    while not os.path.lexists(current):
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    return current


def _problem(folder: str) -> str | None:
    """Why a folder could not be created and written at ``folder``, or None when it could."""
    found = _existing_ancestor(folder)
    if not os.path.isdir(found):
        return f"{found} is a file, not a folder"
    try:
        os.rmdir(tempfile.mkdtemp(prefix=PROBE_PREFIX, dir=found))
    except OSError as exc:
        return f"cannot write in {found}: {exc.strerror or exc} (choose a folder you can write to)"
    return None


def check_dir(path: "str | os.PathLike", what: str) -> None:
    """Raise :class:`PathError` unless ``path`` is, or could be created as, a writable folder."""
    path = os.path.abspath(os.fspath(path))
    problem = _problem(path)
    if problem:
        raise PathError(f"{what} {path}: {problem}")


def check_file(path: "str | os.PathLike", what: str) -> None:
    """Raise :class:`PathError` unless the file ``path`` can be created or written."""
    path = os.path.abspath(os.fspath(path))
    if os.path.isdir(path):
        raise PathError(f"{what} {path} is a folder; give a file path")
    if os.path.exists(path) and not os.access(path, os.W_OK):
        raise PathError(f"{what} {path} is not writable")
    # (a read-only mount says yes to access() for root: the probe in its folder tells)
    problem = _problem(os.path.dirname(path))
    if problem:
        raise PathError(f"{what} {path}: {problem}")


def make_dir(path: "str | os.PathLike", what: str) -> None:
    """Create the folder ``path`` (and its parents); on failure remove what was created and raise."""
    path = os.path.abspath(os.fspath(path))
    missing = []
    current = path
    while not os.path.lexists(current):
        missing.append(current)
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    try:
        for folder in reversed(missing):
            os.mkdir(folder)
        if not os.path.isdir(path):
            raise NotADirectoryError(20, "Not a directory", path)
    except OSError as exc:
        for folder in missing:
            try:
                os.rmdir(folder)
            except OSError:
                pass
        check_dir(path, what)  # names the reason the way the dry run would
        raise PathError(f"{what} {path}: cannot create it: {exc.strerror or exc}") from None


__all__ = ["PathError", "check_dir", "check_file", "make_dir"]
