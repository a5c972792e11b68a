"""Redo what you choose: ``trackdag run --rerun SELECTOR`` picks done jobs to run again, and moves their outputs aside.

:func:`select` turns selectors into a :class:`Rerun`: the done jobs of the
plan they name, and (unless ``downstream=False``) the done jobs downstream
of them (edges of the plan).  Each selector is read, in this order, as:

1. a job ref, as ``trackdag show`` reads it: a full id, a short id, a folder
   name (``<node>_id_<short>``) or the path of (or in) a job folder;
2. a node name of the pipeline: every job of that node;
3. a unique prefix of a short id (after node names: ``--rerun eval`` means
   the node ``eval`` even if some short id starts with ``eval``);
4. else a SQL predicate, run on a sealed read-only catalog connection over
   ``job_state`` with each node's ``results_<node>`` columns
   (``"params.<node>.<key>"``, ``"metrics.<node>.<name>"``) joined in; a
   column of another node is NULL for a job.

Only jobs of the current plan count.  A selector that names no job of the
plan (or a SQL predicate that errors) is a :class:`SelectorError` (exit 2,
nothing ran).  A named job that is not done is not an error: it runs anyway,
as any job not done does, and :attr:`Rerun.not_done` counts it.

:func:`set_aside` then moves, before a selected job runs again, every entry
of its folder but ``invoke.sh``, ``job_config.json``, ``.pred``, ``.succ``,
``.attempts`` and ``.superseded`` (outputs, ``done.json`` first,
``.result.json``, logs, ``_gather``) into
``.superseded/<UTC time>-<attempt>/`` (one ``os.rename`` each, atomic; the
attempt that produced them), with a ``superseded.json`` saying what moved,
when, and by which run.  They stay there until ``trackdag clean``.

Example:
    >>> Rerun(("a", "b"), ("c",)).line()
    'rerun: 3 jobs (2 selected, 1 downstream)'
"""
from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from .errors import TrackdagError
from .layout import CONFIG, DONE, INVOKE, SUPERSEDED, atomic_write

#: what stays in a job folder when its outputs are moved aside
KEEP = frozenset({INVOKE, CONFIG, ".pred", ".succ", ".attempts", SUPERSEDED})
#: the record in each ``.superseded/<stamp>/`` folder
RECORD = "superseded.json"


class SelectorError(TrackdagError):
    """A ``--rerun`` selector names nothing of the plan, or its SQL fails (bad input: exit 2)."""


@dataclass(frozen=True)
class Rerun:
    """What ``--rerun`` redoes: job ids, in plan order."""

    #: done jobs the selectors named
    selected: tuple[str, ...] = ()
    #: done jobs downstream of them, redone with them
    downstream: tuple[str, ...] = ()
    #: jobs the selectors named that are not done: they run anyway
    not_done: tuple[str, ...] = ()

    @property
    def job_ids(self) -> tuple[str, ...]:
        return self.selected + self.downstream

    def within(self, job_ids: Iterable[str]) -> "Rerun":
        """Only the jobs among ``job_ids`` (what ``--limit`` took)."""
        keep = set(job_ids)
        return Rerun(*(tuple(j for j in ids if j in keep) for ids in (self.selected, self.downstream, self.not_done)))

    def reason(self, job_id: str) -> str:
        """Why a job of :attr:`job_ids` runs (``run --dry-run --explain``)."""
        return "done, but --rerun selects it" if job_id in self.selected else \
            "done, but downstream of a job --rerun selects"

    def line(self) -> str:
        """``rerun: 3 jobs (2 selected, 1 downstream)``, for the run summary."""
        n = len(self.job_ids)
        text = (f"rerun: {n} job{'' if n == 1 else 's'} ({len(self.selected)} selected, "
                f"{len(self.downstream)} downstream)")
        if self.not_done:
            text += f"; {len(self.not_done)} selected not done, run anyway"
        return text

    def lines(self, plan: Any, limit: int | None = None) -> list[str]:
        """The summary line, then one line per job (``--dry-run``), at most ``limit`` of them."""
        items = [(j, "selected") for j in self.selected] + [(j, "downstream") for j in self.downstream] \
            + [(j, "selected, not done") for j in self.not_done]
        shown = items if limit is None else items[:limit]
        out = [self.line()] + [f"  {plan.jobs[j].node}/{plan.jobs[j].name} ({why})" for j, why in shown]
        if len(shown) < len(items):
            out.append(f"  ... {len(items) - len(shown)} more job(s); pass --all-commands to list them all")
        return out


def select(plan: Any, disk: Mapping[str, str], selectors: Iterable[str], *, downstream: bool = True,
           catalog: "str | os.PathLike | None" = None) -> Rerun:
    """The jobs ``selectors`` redo (their union); ``disk``: job id -> 'done' or not, as the folders say.

    ``catalog``: the catalog file SQL predicates are evaluated in (read-only).
    """
    named: set[str] = set()
    for selector in selectors:
        named |= resolve(plan, selector, catalog)
    order = list(plan.jobs)
    selected = [j for j in order if j in named and disk.get(j) == "done"]
    not_done = [j for j in order if j in named and disk.get(j) != "done"]
    below: set[str] = set()
    if downstream:
        children: dict[str, list[str]] = {}
        for job_id, job in plan.jobs.items():
            for parent in job.parents:
                children.setdefault(parent, []).append(job_id)
        stack = list(selected)
        while stack:
            for child in children.get(stack.pop(), ()):
                if child not in below:
                    below.add(child)
                    stack.append(child)
    picked = set(selected)
    return Rerun(tuple(selected), tuple(j for j in order if j in below and j not in picked and disk.get(j) == "done"),
                 tuple(not_done))


def resolve(plan: Any, selector: str, catalog: "str | os.PathLike | None") -> set[str]:
    """The ids of the plan's jobs one selector names (done or not); SelectorError when none."""
    from .status import job_folder_of, resolve_ref_kind

    if not selector.strip():
        raise SelectorError("--rerun '': give a job id, a node name or a SQL predicate")
    kind = resolve_ref_kind(selector)
    jobs = plan.jobs
    if kind == "full id":
        return _named(selector, {selector} & set(jobs), kind)
    if kind == "short id":
        return _named(selector, {j for j, job in jobs.items() if job.short_id == selector}, kind)
    if kind in ("folder name", "folder path"):  # a path: of (or in) a job folder, or ending in its name
        inside = job_folder_of(selector) if kind == "folder path" and os.path.exists(selector) else None
        name = os.path.basename((inside or selector).rstrip("/"))
        if resolve_ref_kind(name) == "folder name":
            return _named(selector, {j for j, job in jobs.items() if job.name == name}, kind)
    if selector in plan.pipeline.nodes:
        return {j for j, job in jobs.items() if job.node == selector}
    if kind == "short id prefix":
        found = {j for j, job in jobs.items() if job.short_id.startswith(selector)}
        if len(found) > 1:
            names = ", ".join(sorted(jobs[j].name for j in found)[:5])
            raise SelectorError(f"--rerun {selector!r} names several jobs ({names}...); give more characters, "
                                "the folder name or the full id")
        if found:
            return found
    return _by_sql(plan, selector, catalog)


def _named(selector: str, found: set[str], kind: str) -> set[str]:
    if not found:
        raise SelectorError(f"--rerun {selector!r}: no job of this plan has this {kind}")
    return found


def _by_sql(plan: Any, predicate: str, catalog: "str | os.PathLike | None") -> set[str]:
    """Jobs of the plan the predicate selects in the catalog (read-only, sealed: see :mod:`trackdag.api`)."""
    import duckdb

    from .api import check_read_only, one_line, open_catalog
    from .errors import QueryError
    from .views import quote, result_view_name

    what = (f"--rerun {predicate!r}: not a job or a node of this plan "
            f"(nodes: {', '.join(plan.pipeline.order)})")
    if catalog is None or not os.path.isfile(catalog):
        raise SelectorError(f"{what}, and there is no catalog to evaluate it as SQL in")
    with open_catalog(catalog) as cat:
        con = cat.connection
        base = [d[0] for d in con.execute("SELECT * FROM job_state LIMIT 0").description]
        parts = []
        for node in cat.nodes():
            view = quote(result_view_name(node))
            extra = [c for c in (d[0] for d in con.execute(f"SELECT * FROM {view} LIMIT 0").description)
                     if c not in base]
            parts.append(f"SELECT s.*{''.join(', r.' + quote(c) for c in extra)} FROM job_state s "
                         f"JOIN {view} r ON r.job_id = s.job_id")
        union = "\n    UNION ALL BY NAME\n    ".join(parts or ["SELECT * FROM job_state"])
        sql = f"WITH selectable AS (\n    {union}\n)\nSELECT job_id FROM selectable WHERE ({predicate}\n)"
        try:
            check_read_only(con, sql, select_only=True)
            if len(con.extract_statements(sql)) != 1:
                raise QueryError("give one SQL expression (no ';')")
            found = {r[0] for r in con.execute(sql).fetchall()}
        except QueryError as exc:
            raise SelectorError(f"{what}, and as SQL: {str(exc).split(' LINE ')[0]}") from None
        except duckdb.Error as exc:
            # DuckDB's "LINE n: <the query>" would show our wrapper, not the user's predicate
            raise SelectorError(f"{what}, and as SQL over job_state: {one_line(exc).split(' LINE ')[0]}") from None
    found &= set(plan.jobs)
    if not found:
        raise SelectorError(f"--rerun {predicate!r} selects no job of this plan")
    return found


# -- moving aside ------------------------------------------------------------------------------------
def set_aside(folder: "str | os.PathLike", job_id: str, run_id: str, now: float | None = None) -> str | None:
    """Move a done job's outputs and records into ``.superseded/<stamp>-<attempt>/``; returns it (None: nothing).

    ``done.json`` moves first, so a crash midway leaves a job that is not
    done (it runs again), never a done record over half its outputs.
    """
    from .records import read_attempts

    folder = os.fspath(folder)
    now = time.time() if now is None else now
    entries = sorted((n for n in os.listdir(folder) if n not in KEEP), key=lambda n: (n != DONE, n))
    if not entries:
        return None
    done = [a["attempt"] for a in read_attempts(folder) if a.get("status") == "done"]
    tag = str(done[-1]) if done else uuid.uuid4().hex[:6]
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    dest = os.path.join(folder, SUPERSEDED, f"{stamp}-{tag}")
    if os.path.exists(dest):
        dest += "-" + uuid.uuid4().hex[:6]
    os.makedirs(dest)
    for name in entries:
        os.rename(os.path.join(folder, name), os.path.join(dest, name))
    record = {"job_id": job_id, "moved": entries, "run_id": run_id, "time": now,
              "utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)), "attempt": done[-1] if done else None}
    atomic_write(os.path.join(dest, RECORD), json.dumps(record, indent=2) + "\n")
    return dest


__all__ = ["Rerun", "SelectorError", "select", "resolve", "set_aside", "KEEP", "RECORD"]
