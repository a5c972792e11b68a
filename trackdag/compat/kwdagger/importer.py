"""``trackdag import DIR --pipeline REF``: index a result tree KWDagger 0.4.1 wrote, reading it only.

Nothing is written into the tree: the catalog learns everything from the
folders and the pipeline, so importing again rebuilds it.  A job folder
``<DIR>[/<group>]/<node>/<node>_id_<12>/`` gives:

- **the job**: its id digests KWDagger's identity (node and process id, which
  KWDagger hashed from the job's config); the 12 characters are its short id.
- **its params**: ``job_config.json`` (the requested ``<node>.<key>`` of the
  node and its ancestors) with the pipeline's defaults, as a trackdag run has
  them; provenance records (``__input__.*``...), connected ports and keys of
  nodes reached only through a gather are not requested params, and keys are
  ordered as the pipeline declares them.  KWDagger pipes the file
  through jq, which writes ``1.0`` as ``1``: a number is typed as the job's
  ``invoke.sh`` spells it (``--scale=1.0``), an ancestor's key as that
  ancestor's job did, so param_hashids are those of trackdag's own run.
- **its parents**: ``.pred/<node>/<process id>`` links, and the ``__input__`` /
  ``__gather__`` records naming a source process id.
- **its state**: done when its primary output exists (all outputs when there
  is no primary), KWDagger's rule; then ``load_result`` runs, as in a trackdag
  run (:func:`trackdag.results.collect_result`).  Without them it is
  ``failed``: KWDagger writes the folder just before running the job and keeps
  no outcome, so it failed, was stopped or is still running.  Start and end
  are the modification times of ``invoke.sh`` and of the newest output; no
  attempt is recorded (trackdag saw none).

One transaction writes a run row ``import-<time>`` naming the pipeline, the new
jobs (params, edges), states and results; an unchanged tree writes nothing.
New folders, jobs done (or rewritten) since, and broken results are taken in
again.  A folder whose ``job_config.json`` cannot be read is not imported, nor
are its descendants (they are listed); node folders the pipeline lacks are
named in one warning (an error when no node matches).

Reading the tree is :mod:`trackdag.compat.kwdagger.tree`; this module turns
its folders into catalog rows and writes them.

Example:
    >>> print(format_summary(ImportResult("/data/results", "/data/results/catalog.duckdb", "pipe.py::p")))
    nothing new: the 0 jobs of /data/results are in the catalog as they are
      catalog: /data/results/catalog.duckdb
      time: 0.0s
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from typing import Any, Mapping

from ...errors import TrackdagError
from .tree import (CONFIG, FOLDER, INVOKE, SCHEDULE_DIR, Folder, job_folders, job_id_of, launch_dir, match_numbers,
                   parse_invoke, read_folder)

BACKEND = "kwdagger-import"
NOT_DONE = ("KWDagger job without its {what}: it failed, was stopped or is still running (KWDagger records no "
            "outcome); run it again, then import again")


class TreeError(TrackdagError):
    """The folder to import is missing or is not a KWDagger result tree (bad input: nothing imported)."""


# -- one job as the catalog has it --------------------------------------------------------------------
class _Shape:
    """A node's keys: its defaults, what a params row may set, the nodes its config comes from."""

    def __init__(self, pipeline: Any, name: str) -> None:
        from ...node import NO_DEFAULT

        self.node = node = pipeline.nodes[name]
        self.connected = set(pipeline.connected_inputs(name)) | {
            k for k in node.algo_params if node.param_ports[k].sources}
        self.declared = list(node.in_paths) + list(node.algo_params) + list(node.perf_params)
        self.algo = {k: v for k, v in node.algo_params.items() if v is not NO_DEFAULT}
        self.perf = {k: v for k, v in node.perf_params.items() if v is not NO_DEFAULT}
        self.inputs = {k: v for k, v in node.in_paths.items() if v is not NO_DEFAULT and v is not None}
        #: the node and the nodes it takes config from, not through a gathered input (as trackdag's plan counts)
        self.config_nodes, stack = {name}, [name]
        while stack:
            up = pipeline.nodes[stack.pop()]
            for src in ([s.node.name for p in up.in_paths if up.inputs[p].gather is None for s in up.inputs[p].sources]
                        + [s.node.name for k in up.algo_params for s in up.param_ports[k].sources]):
                if src not in self.config_nodes:
                    self.config_nodes.add(src)
                    stack.append(src)

    def takes(self, param: str) -> bool:
        """A key a params row may set (not a connected port or a row directive)."""
        return bool(param) and param not in self.connected and param not in ("__enabled__", "__slurm_options__")


@dataclass
class Record:
    """One job as ``trackdag.reindex`` registers jobs (``config``), its state, and its retyped values."""

    config: dict[str, Any]
    done: bool
    state: dict[str, Any]
    values: dict[str, Any]  # job_config.json, numbers retyped (what descendants match theirs against)


def build_record(f: Folder, pipeline: Any, shapes: Mapping[str, _Shape], launch: str,
                 ancestors: Mapping[str, Record], parent_folders: Mapping[str, str]) -> Record:
    """The catalog's rows of one readable folder (``ancestors``: node -> the nearest ancestor job's record)."""
    from ...commands import absolute_path

    shape, node = shapes[f.node], shapes[f.node].node
    values: dict[str, Any] = {}
    for key, value in (f.config or {}).items():
        n, _, p = key.partition(".")
        if n == f.node:
            value = match_numbers(value, f.args.get(p))
        elif n in ancestors and key in ancestors[n].values:
            value = match_numbers(value, ancestors[n].values[key])
        values[key] = value
    own = {k.partition(".")[2]: v for k, v in values.items() if k.partition(".")[0] == f.node}
    algo, perf = dict(shape.algo), dict(shape.perf)
    for key, value in own.items():
        if key in node.perf_params:
            perf[key] = value
        elif key not in node.in_paths and key not in node.out_paths:
            algo[key] = value  # declared, or undeclared (KWDagger passes and hashes it like an algo param)
    outputs = {k: absolute_path(own[k], launch) if isinstance(own.get(k), str)  # a path the matrix overrode
               else (f.path if rel in (".", "./") else os.path.normpath(os.path.join(f.path, rel)))
               for k, rel in node.out_paths.items()}
    inputs = {p: v for p in node.in_paths
              if (v := _input(f, p, values, own, pipeline, parent_folders, launch, shape.inputs)) is not None}
    order = {n: i for i, n in enumerate(pipeline.order)}

    def rank(key: str) -> tuple:  # the pipeline's order: its nodes, then each node's declarations
        n, _, p = key.partition(".")
        declared = shapes[n].declared
        return order[n], declared.index(p) if p in declared else len(declared), p

    requested = {k: values[k] for k in sorted((k for k in values if not k.startswith("__")
                                               and k.partition(".")[0] in shape.config_nodes
                                               and shapes[k.partition(".")[0]].takes(k.partition(".")[2])), key=rank)}
    primary = node.primary_out_key
    missing = [k for k in ([primary] if primary in outputs else outputs) if not os.path.exists(outputs[k])]
    started = _mtime(os.path.join(f.path, INVOKE))
    if missing:
        what = ("primary output " if primary in outputs else "output(s) ") + ", ".join(
            os.path.relpath(outputs[k], f.path) for k in missing)
        state = {"status": "failed", "error": NOT_DONE.format(what=what), "started": started, "attempts": 0}
    else:
        ended = max((t for t in map(_mtime, outputs.values()) if t is not None), default=None)
        state = {"status": "done", "error": None, "ended": ended, "attempts": 0,
                 "started": started if started is not None and ended is not None and started <= ended else None}
    config = {"job_id": f.job_id, "short_id": f.short, "node": f.node, "folder": f.path, "command": f.command,
              "requested": requested, "algo": algo, "perf": perf, "inputs": inputs, "outputs": outputs,
              "resolved": {f"{f.node}.{k}": v for k, v in sorted({**algo, **perf, **inputs, **outputs}.items())},
              "parents": {f"{FOLDER.match(p)['node']}/{p}": job_id_of(FOLDER.match(p)["node"], p)
                          for p in f.parents}}
    return Record(config, not missing, state, values)


def _input(f: Folder, port: str, values: Mapping[str, Any], own: Mapping[str, Any], pipeline: Any,
           parent_folders: Mapping[str, str], launch: str, defaults: Mapping[str, Any]) -> Any:
    """An input's value: the gather manifest, a parent's output, or the path KWDagger passed (made absolute)."""
    from ...commands import absolute_path

    if f"__gather__.{port}" in values:
        return os.path.join(f.path, "_gather", f"{port}.txt")
    record = values.get(f"__input__.{port}")
    if isinstance(record, dict) and record.get("source_kind") == "output":
        found = FOLDER.match(str(record.get("source_process_id")))
        src = pipeline.nodes.get(found["node"]) if found else None
        rel = src.out_paths.get(record.get("source_port")) if src is not None else None
        parent = parent_folders.get(found.string) if found else None
        if parent and rel:
            return parent if rel in (".", "./") else os.path.normpath(os.path.join(parent, rel))
    for given in (f.args.get(port), own.get(port), record.get("value") if isinstance(record, dict) else None,
                  defaults.get(port)):
        if given is not None and given != []:
            return absolute_path(given, launch)
    return None


def _mtime(path: str) -> float | None:
    try:
        return os.stat(path).st_mtime_ns // 1000 / 1e6
    except OSError:
        return None


# -- the import -----------------------------------------------------------------------------------
@dataclass
class ImportResult:
    """What one import found and did."""

    tree: str
    catalog: str
    pipeline: str | None
    run_id: str | None = None  # None: nothing new, nothing written
    found: int = 0
    new: int = 0
    changed: int = 0
    done: int = 0
    not_done: int = 0
    results: dict[str, int] = field(default_factory=lambda: {"ok": 0, "none": 0, "broken": 0})
    broken: list[tuple[str, str]] = field(default_factory=list)  # (folder, error)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (folder, why it was not imported)
    unknown_nodes: dict[str, int] = field(default_factory=dict)  # node folder -> job folders
    elapsed: float = 0.0

    @property
    def exit_code(self) -> int:
        """0, or 1 when some job folders could not be imported."""
        return 1 if self.skipped else 0

    @property
    def warning(self) -> str | None:
        """The one line about node folders the pipeline does not know, or None."""
        if not self.unknown_nodes:
            return None
        named = ", ".join(f"{n} ({k} job folders)" for n, k in sorted(self.unknown_nodes.items()))
        return f"warning: {named} in {self.tree}: not a node of the pipeline {self.pipeline}, not imported"


def import_tree(tree: "str | os.PathLike", pipeline: Any, *, root: "str | os.PathLike | None" = None,
                catalog: "str | os.PathLike | None" = None, argv: list[str] | None = None) -> ImportResult:
    """Index the KWDagger result tree ``tree`` in the catalog of ``root`` (default: ``tree``); see the module.

    ``pipeline``: the ported pipeline (a reference as ``trackdag run
    --pipeline`` takes, or a Pipeline).  Only the catalog file
    (``<root>/catalog.duckdb``, or ``catalog``) is written.
    """
    from ...api import catalog_path
    from ...paths import PathError, check_file, make_dir
    from ...pipeline import load_pipeline

    t0 = time.time()
    if not os.path.isdir(tree):
        raise TreeError(f"{tree}: no such folder; give the --root_dpath KWDagger wrote (it holds "
                        f"<node>/<node>_id_<id>/ folders and {SCHEDULE_DIR}/)")
    tree = os.path.realpath(tree)
    pipe = load_pipeline(pipeline)
    ref = pipe.ref
    if isinstance(pipeline, (str, os.PathLike)):  # file references absolute, so reports find them from anywhere
        path, sep, expr = os.fspath(pipeline).strip().partition("::")
        if os.path.isfile(path) and (sep or path.endswith((".yaml", ".yml", ".json"))):
            ref = os.path.abspath(path) + sep + expr
    folders = job_folders(tree)
    theirs = [f for f in folders if not (f.config and "job_id" in f.config and "trackdag_version" in f.config)]
    if not theirs:
        raise TreeError(f"{tree} holds trackdag job folders, not KWDagger's: `trackdag reindex --root {tree}` "
                        "indexes them" if folders else
                        f"{tree} is not a KWDagger result tree: no <node>/<node>_id_<12 characters>/ folder with a "
                        f"{CONFIG} in it; give the --root_dpath of a `kwdagger schedule` run")
    unknown: dict[str, int] = {}
    for f in theirs:
        if f.node not in pipe.nodes:
            unknown[f.node] = unknown.get(f.node, 0) + 1
    if len(unknown) == len({f.node for f in theirs}):
        raise TreeError(f"none of the node folders of {tree} ({', '.join(sorted(unknown))}) is a node of the "
                        f"pipeline {ref} ({', '.join(pipe.order)}): give the pipeline this tree was made with")
    path = os.path.abspath(catalog_path(root if root is not None else tree, catalog))
    try:
        check_file(path, "--catalog" if catalog is not None else "the catalog")
    except PathError as exc:
        raise PathError(f"{exc}; the tree itself is only read: give --root (or --catalog) elsewhere") from None
    make_dir(os.path.dirname(path), "--root")
    result = ImportResult(tree, path, ref, found=len(theirs), unknown_nodes=unknown)
    _import(pipe, tree, [f for f in theirs if f.node in pipe.nodes], result, argv)
    result.elapsed = time.time() - t0
    return result


def _import(pipe: Any, tree: str, folders: list[Folder], result: ImportResult, argv: list[str] | None) -> None:
    """Compare the folders with what the catalog knows, run load_result where needed, write what changed."""
    import pyarrow as pa

    from ...catalog import Catalog
    from ...results import collect_result

    cat = Catalog(result.catalog)
    order = {n: i for i, n in enumerate(pipe.order)}
    folders.sort(key=lambda f: (order[f.node], f.name))  # parents before children
    by_name = {f.name: f for f in folders}
    ids = sorted({f.job_id for f in folders} | {job_id_of(FOLDER.match(p)["node"], p) for f in folders
                                                for p in f.parents})
    with cat.transaction() as con:  # (creates the catalog when there is none)
        con.register("td_kwd_ids", pa.table({"job_id": pa.array(ids, pa.string())}))
        known = {r[0]: r[1:] for r in con.execute(
            "SELECT job_id, status, epoch_us(ended), result_status, result_error FROM jobs "
            "SEMI JOIN td_kwd_ids USING (job_id)").fetchall()}
        con.register("td_kwd_names", pa.table({"job_id": [f.job_id for f in folders], "node": [f.node for f in folders],
                                               "short_id": [f.short for f in folders]}))
        clash = set(con.execute("SELECT j.node, j.short_id FROM jobs j JOIN td_kwd_names t ON j.node = t.node "
                                "AND j.short_id = t.short_id AND j.job_id <> t.job_id").fetchall())
        con.unregister("td_kwd_ids")
        con.unregister("td_kwd_names")
    shapes = {n: _Shape(pipe, n) for n in pipe.order}
    launch = launch_dir(tree, folders, pipe)
    records: dict[str, Record] = {}
    nearest: dict[str, dict[str, Record]] = {}  # process id -> node -> the nearest ancestor's record
    for f in folders:
        why = f.problem or (f"short id {f.short} of {f.node} is another job's in {result.catalog}; import into "
                            "another --root" if (f.node, f.short) in clash else None)
        for parent in f.parents if why is None else ():
            if parent not in records and job_id_of(FOLDER.match(parent)["node"], parent) not in known:
                why = (f"its parent {parent} is not imported either" if parent in by_name
                       else f"its parent {parent} is not in the tree")
        if why is not None:
            result.skipped.append((f.path, why))
            continue
        ancestors: dict[str, Record] = {}
        for parent in (p for p in f.parents if p in records):
            for n, rec in {records[parent].config["node"]: records[parent], **nearest[parent]}.items():
                ancestors.setdefault(n, rec)
        nearest[f.name] = ancestors
        records[f.name] = build_record(f, pipe, shapes, launch, ancestors,
                                       {p: by_name[p].path for p in f.parents if p in by_name})
    states, results, new = [], [], []
    for rec in records.values():
        job_id = rec.config["job_id"]
        status, ended_us, result_status, result_error = known.get(job_id, (None, None, None, None))
        ended = rec.state.get("ended")
        rewritten = status == "done" and rec.done and (ended_us is None or ended is None
                                                       or abs(ended_us - round(ended * 1e6)) > 2)
        fresh = job_id not in known or status != rec.state["status"] or rewritten
        if job_id not in known:
            new.append(rec)
        if fresh:
            states.append({"job_id": job_id, **rec.state})
        if rec.done and (fresh or result_status in (None, "broken")):
            node = pipe.nodes[rec.config["node"]]
            key = node.primary_out_key
            primary = rec.config["outputs"].get(key) if key and node.name in pipe.result_nodes else None
            row, error = collect_result(node.name, node.load_result if node.has_load_result else None, primary,
                                        rec.config["folder"])
            if fresh or (result_status, result_error) != ("broken", error):
                results.append((job_id, row, error))
                result.results["broken" if error else ("ok" if row is not None else "none")] += 1
                if error:
                    result.broken.append((rec.config["folder"], error))
        result.done += rec.done
    result.not_done = len(records) - result.done
    result.new = len(new)
    result.changed = len({s["job_id"] for s in states} | {r[0] for r in results}) - len(new)
    if states or results:  # else nothing is new and nothing is written
        _write(cat, result, list(records.values()), new, states, results, argv)


def _write(cat: Any, result: ImportResult, records: list[Record], new: list[Record],
           states: list[dict[str, Any]], results: list[tuple], argv: list[str] | None) -> None:
    """One transaction: the run row, the new jobs (params, edges), the jobs this import saw, states, results."""
    import uuid
    from datetime import datetime, timezone

    import pyarrow as pa

    from ... import __version__
    from ...reindex import FolderRows, _register
    from ...views import refresh

    now = datetime.now(timezone.utc)
    run_id = f"import-{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"
    run = {"run_id": run_id, "argv": json.dumps(argv) if argv is not None else None, "params_text": None,
           "pipeline_ref": result.pipeline, "root": result.tree, "backend": BACKEND, "host": os.uname().nodename,
           "user": os.environ.get("USER") or os.environ.get("LOGNAME"), "pid": os.getpid(),
           "trackdag_version": __version__, "started": now, "status": "done",
           "n_jobs": len(records), "n_done": result.done, "n_failed": result.not_done, "n_skipped": 0,
           "n_cached": len(records) - result.new - result.changed}
    with cat.transaction() as con:
        run["ended"] = datetime.now(timezone.utc)
        con.execute(f"INSERT INTO runs ({', '.join(run)}) VALUES ({', '.join('?' for _ in run)})", list(run.values()))
        _register(con, [FolderRows(r.config, [], r.done, None) for r in new],
                  {r.config["job_id"]: (run_id, run_id) for r in new})
        con.register("td_kwd_seen", pa.table({
            "run_id": pa.array([run_id] * len(records), pa.string()),
            "row_index": pa.array(range(len(records)), pa.int32()),  # one row per job: KWDagger keeps no rows
            "job_id": pa.array([r.config["job_id"] for r in records], pa.string())}))
        con.execute("INSERT INTO run_jobs SELECT * FROM td_kwd_seen")
        con.execute("UPDATE jobs SET last_run = ? WHERE job_id IN (SELECT job_id FROM td_kwd_seen)", [run_id])
        con.unregister("td_kwd_seen")
        cat.record_on(con, states, [], results)
        refresh(con)  # param_hashids of new jobs without a result, and the views
    result.run_id = run_id


def format_summary(result: ImportResult) -> str:
    """What ``trackdag import`` prints on stdout."""
    r = result.results
    lines = [f"nothing new: the {result.done + result.not_done} jobs of {result.tree} are in the catalog as they are"
             ] if result.run_id is None else [
        f"import {result.run_id}: {result.found} KWDagger job folders in {result.tree}",
        f"  new: {result.new}  changed: {result.changed}  done: {result.done}  not done: {result.not_done}"
        f"  results: {r['ok']} ok, {r['none']} none, {r['broken']} broken"]
    lines += [f"  catalog: {result.catalog}", f"  time: {result.elapsed:.1f}s"]
    for title, items, limit in (("broken results (the jobs are done; load_result failed on them)", result.broken, 10),
                                ("not imported", result.skipped, 20)):
        if items:
            lines.append(f"{title}: {len(items)} job folders")
            lines += [f"  {folder}: {why}" for folder, why in items[:limit]]
            lines += [f"  ... and {len(items) - limit} more"] if len(items) > limit else []
    return "\n".join(lines)


__all__ = ["import_tree", "ImportResult", "TreeError", "format_summary", "build_record",
           # re-exported from trackdag.compat.kwdagger.tree
           "job_id_of", "match_numbers", "parse_invoke", "job_folders", "read_folder", "launch_dir",
           "CONFIG", "FOLDER", "INVOKE", "SCHEDULE_DIR", "Folder"]
