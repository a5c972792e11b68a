"""Lock-aware DuckDB connections.

DuckDB allows one read-write process *or* many read-only ones per file, and
fails at once ("Could not set lock on file ... Conflicting lock is held in
<exe> (PID n)") instead of waiting.  The driver holds the catalog only for
short transactions, so every connection here retries with a short backoff for
a bounded time and then fails with a message naming the lock holder.

A reader that must neither change the catalog nor touch any other file is
opened with ``sandbox=True`` (:func:`seal`): on top of DuckDB's
``read_only`` (which refuses every write to the catalog), DuckDB's own
settings switch off every file, network and extension access
(``enable_external_access = false``), spilling to ``<catalog>.tmp/``
(``temp_directory = ''``), and any later change of a setting
(``lock_configuration = true``).  ``allowed_directories`` opens chosen
folders again; DuckDB then lets a statement read *and write* there (COPY TO,
ATTACH ... READ_WRITE), so callers that open folders must limit statements
themselves (see :mod:`trackdag.api`).

Example:
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), 'c.duckdb')
    >>> con = connect(path)
    >>> con.execute('select 42').fetchone()
    (42,)
    >>> con.close()
"""
from __future__ import annotations

import contextlib
import os
import re
import time
from typing import Any, Iterator, Sequence

from ..errors import CatalogError, CatalogLockedError, NoCatalogError

def failure(exc: BaseException, path: "str | os.PathLike") -> CatalogError:
    """A DuckDB or OS error met while using catalog ``path``, as one line that says what to do."""
    text = " ".join(str(exc).split())[:300]
    path = os.fspath(path)
    if any(word in text for word in ("Corrupt", "checksum", "not a valid DuckDB database", "malformed")):
        return CatalogError(f"catalog {path} is damaged ({text}); run `trackdag reindex --root "
                            f"{os.path.dirname(os.path.abspath(path))}`: it moves the damaged file aside and "
                            "rebuilds the catalog from the job folders")
    if isinstance(exc, OSError):
        where = exc.filename or path
        return CatalogError(f"cannot write catalog {path}: {exc.strerror or exc} ({where}); free space or fix "
                            "permissions, then run again: the job folders keep every outcome")
    if "No space left" in text or "Read-only file system" in text or "Permission denied" in text:
        return CatalogError(f"cannot write catalog {path}: {text}; free space or fix permissions, then run again: "
                            "the job folders keep every outcome")
    return CatalogError(f"catalog {path}: {text}")


@contextlib.contextmanager
def translated(path: "str | os.PathLike") -> Iterator[None]:
    """Turn DuckDB's (and the file system's) errors inside the block into one-line CatalogErrors."""
    import duckdb

    try:
        yield
    except CatalogError:
        raise
    except (duckdb.Error, OSError) as exc:
        raise failure(exc, path) from None


def lock_timeout() -> float:
    """The default bounded wait on another process's lock, in seconds (``TRACKDAG_LOCK_TIMEOUT``, 30)."""
    try:
        return float(os.environ.get("TRACKDAG_LOCK_TIMEOUT", "30"))
    except ValueError:
        return 30.0

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


def connect(path: "str | os.PathLike", *, read_only: bool = False, timeout: float | None = None,
            sandbox: bool = False, allowed_directories: "Sequence[str | os.PathLike]" = ()) -> Any:
    """Open the catalog, waiting up to ``timeout`` seconds for another process's lock.

    ``sandbox``: no file, network or extension access but the catalog itself
    (and ``allowed_directories``), settings locked (:func:`seal`).
    """
    con = _connect(path, read_only=read_only, timeout=timeout)
    if sandbox:
        try:
            seal(con, allowed_directories, path=os.fspath(path))
        except BaseException:
            con.close()
            raise
    elif allowed_directories:
        con.close()
        raise ValueError("allowed_directories needs sandbox=True")
    return con


def _connect(path: "str | os.PathLike", *, read_only: bool, timeout: float | None) -> Any:
    import duckdb

    path = os.fspath(path)
    if read_only and not os.path.exists(path):
        raise NoCatalogError(f"no catalog at {path}: run `trackdag run` first (or pass --root / --catalog)")
    timeout = lock_timeout() if timeout is None else timeout
    deadline = time.monotonic() + timeout
    delay = 0.01
    while True:
        try:
            con = duckdb.connect(path, read_only=read_only)
            try:  # DuckDB draws a progress bar on the terminal for queries over 2 s (a big plan's
                con.execute("SET enable_progress_bar = false")  # registration): never over our output
            except duckdb.Error:
                pass  # a sealed catalog's locked settings (a second reader in this process): as the first set them
            return con
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


#: the settings of a sealed connection that DuckDB enforces (see :func:`seal`)
_SEALED = {"enable_external_access": False, "temp_directory": "", "lock_configuration": True}


def _folder(path: "str | os.PathLike") -> str:
    """A folder as DuckDB lists it in ``allowed_directories``: absolute, with one trailing slash."""
    return os.path.join(os.path.abspath(os.fspath(path)), "")


def _sql_list(items: Sequence[str]) -> str:
    return "[" + ", ".join("'" + item.replace("'", "''") + "'" for item in items) + "]::VARCHAR[]"


def seal(con: Any, allowed_directories: "Sequence[str | os.PathLike]" = (), *, path: str = "") -> None:
    """Switch off, for good, DuckDB's access to anything but the database (and ``allowed_directories``).

    The order matters: DuckDB accepts ``temp_directory``,
    ``allowed_directories`` and ``allowed_paths`` only while external access
    is still on, and no setting at all once the configuration is locked.
    Registering Arrow tables (``con.register``) and TEMP tables and views
    keep working; scans of Python variables by name (a DataFrame in scope)
    do not.  The settings are read back afterwards: they, not the SET
    statements, are the guarantee.

    DuckDB shares one database instance between the connections of a process
    to the same file, and these settings are the instance's: when the catalog
    is already open in this process through a sealed connection, this one
    must ask for the same folders (otherwise a CatalogError says so).
    """
    import duckdb

    path = os.path.abspath(path) if path else ""
    want = sorted({_folder(d) for d in allowed_directories})

    def setting(name: str) -> Any:
        return con.execute("SELECT current_setting(?)", [name]).fetchall()[0][0]

    try:
        shared = bool(setting("lock_configuration"))  # another sealed connection of this process got here first
        if not shared:
            con.execute("SET temp_directory = ''")  # no spilling to <catalog>.tmp/ (a query needs the memory)
            con.execute(f"SET allowed_directories = {_sql_list(want)}")
            con.execute("SET allowed_paths = []::VARCHAR[]")  # DuckDB adds the database's own files back
            con.execute("SET enable_external_access = false")
            con.execute("SET lock_configuration = true")
        settings = {name: setting(name) for name in _SEALED}
        dirs = sorted({_folder(d) for d in setting("allowed_directories") or ()})
        paths = [os.path.abspath(p) for p in setting("allowed_paths") or ()]
    except duckdb.Error as exc:
        raise CatalogError(f"cannot open catalog {path} read-only without file access: "
                           f"{str(exc).splitlines()[0]}") from None
    strangers = [p for p in paths if path and not p.startswith(path)]
    if settings == _SEALED and dirs == want and not strangers:
        return
    if shared:
        raise CatalogError(f"catalog {path} is already open in this process with other file access (folders: "
                           f"{', '.join(dirs + strangers) or 'none'}; asked for: {', '.join(want) or 'none'}): "
                           "close that connection first")
    raise CatalogError(f"cannot open catalog {path} read-only without file access: DuckDB reports "
                       f"{settings}, folders {dirs + strangers}")
