"""Lock-aware DuckDB connections.

DuckDB allows one read-write process *or* many read-only ones per file, and
fails at once ("Could not set lock on file ... Conflicting lock is held in
<exe> (PID n)") instead of waiting.  The driver holds the catalog only for
short transactions, so every connection here retries with a short backoff for
a bounded time and then fails with a message naming the lock holder.

Example:
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), 'c.duckdb')
    >>> con = connect(path)
    >>> con.execute('select 42').fetchone()
    (42,)
    >>> con.close()
"""
from __future__ import annotations

import os
import re
import time
from typing import Any

from ..errors import CatalogError, CatalogLockedError, NoCatalogError

#: default bounded wait on another process's lock, in seconds
DEFAULT_TIMEOUT = float(os.environ.get("TRACKDAG_LOCK_TIMEOUT", "30"))

_HOLDER = re.compile(r"Conflicting lock is held in (?P<exe>.*?) \(PID (?P<pid>\d+)\)")


def describe_holder(message: str) -> str:
    """Turn DuckDB's lock message into 'pid N (command line)' when we can."""
    found = _HOLDER.search(message)
    if not found:
        return "another process"
    pid = found.group("pid")
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            cmd = fh.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        cmd = found.group("exe")
    return f"pid {pid} ({cmd[:200]})"


def connect(path: "str | os.PathLike", *, read_only: bool = False, timeout: float | None = None) -> Any:
    """Open the catalog, waiting up to ``timeout`` seconds for another process's lock."""
    import duckdb

    path = os.fspath(path)
    if read_only and not os.path.exists(path):
        raise NoCatalogError(f"no catalog at {path}: run `trackdag run` first (or pass --root / --catalog)")
    timeout = DEFAULT_TIMEOUT if timeout is None else timeout
    deadline = time.monotonic() + timeout
    delay = 0.01
    while True:
        try:
            return duckdb.connect(path, read_only=read_only)
        except duckdb.IOException as exc:
            message = str(exc)
            if "Could not set lock" not in message:
                raise CatalogError(f"cannot open catalog {path}: {message.splitlines()[0]}") from None
            if time.monotonic() >= deadline:
                raise CatalogLockedError(
                    f"catalog {path} is locked by {describe_holder(message)} for more than {timeout:g}s; "
                    "wait for it to finish or stop it"
                ) from None
            time.sleep(delay)
            delay = min(delay * 2, 0.25)
        except duckdb.Error as exc:
            raise CatalogError(f"cannot open catalog {path}: {str(exc).splitlines()[0]}") from None
