"""One exception family for everything a user can get wrong.

The library raises these and never prints or exits; ``cli.py`` turns them
into one clear line on stderr and a non-zero exit code.  Messages are written
for users: they name the file, node or key at fault and say how to fix it.

Example:
    >>> raise ParamsError("params.yaml: unknown top-level key 'matrx' (did you mean 'matrix'?)")
    Traceback (most recent call last):
    ...
    trackdag.errors.ParamsError: params.yaml: unknown top-level key 'matrx' (did you mean 'matrix'?)
"""
from __future__ import annotations


class TrackdagError(Exception):
    """Base class: an expected problem with a message meant for the user."""

    #: exit code the CLI uses for this family (2 = bad input, nothing ran).
    exit_code: int = 2


class ParamsError(TrackdagError):
    """The parameter matrix (``--params``) is malformed or names unknown keys."""


class PipelineError(TrackdagError):
    """The pipeline cannot be found, loaded, or fails validation."""


class PlanError(TrackdagError):
    """Rows and pipeline do not make a consistent set of jobs (e.g. id collision)."""


class CatalogError(TrackdagError):
    """The DuckDB catalog cannot be opened, migrated or written."""

    exit_code = 1


class NoCatalogError(CatalogError):
    """There is no catalog where one was asked for (a wrong --root or --catalog): bad input."""

    exit_code = 2


class CatalogLockedError(CatalogError):
    """Another process holds the catalog's lock for longer than we wait."""


class ExecutionError(TrackdagError):
    """A backend could not start or run jobs (not: a job failed)."""

    exit_code = 1


def closest(name: str, candidates: "list[str] | set[str] | tuple[str, ...]") -> str | None:
    """Return the candidate most similar to ``name``, or None if none is close.

    >>> closest('parm1', ['param1', 'workers'])
    'param1'
    """
    import difflib

    found = difflib.get_close_matches(name, sorted(candidates), n=1, cutoff=0.6)
    return found[0] if found else None


def did_you_mean(name: str, candidates) -> str:
    """`` (did you mean 'x'?)`` when a close candidate exists, else an empty string."""
    best = closest(name, candidates)
    return f" (did you mean {best!r}?)" if best else ""


class QueryError(TrackdagError):
    """A query over the catalog failed or would write (``trackdag sql``, ``--where``)."""

    exit_code = 1


class ReportError(TrackdagError):
    """A report cannot be made as asked (unknown node or metric, bad option)."""
