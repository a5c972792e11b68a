"""A job's folder on disk: invoke.sh, job_config.json, .pred/.succ links, the done record.

``<root>/<node>/<node>_id_<short>/`` holds:

- ``invoke.sh``: cds into the folder and runs the exact command; running
  it by hand from any directory redoes the job;
- ``job_config.json``: the full id, the row's requested params for this node
  and its ancestors, and the resolved arguments;
- ``.pred/<node>/<folder>`` and (in parents) ``.succ/<node>/<folder>``:
  relative symlinks, so the tree can be browsed by lineage;
- ``stdout.log`` / ``stderr.log``: the program's output;
- ``done.json``: written atomically only after exit 0 with every declared
  output present.  A job without it is not done, whatever files it left;
- ``.running``: pid, process group and host of the job while it runs (so a
  driver can stop it, and a resumed run can find what a dead driver left).
- ``.superseded/<UTC time>-<attempt>/``: what a ``run --rerun`` moved aside
  before running a done job again (see :mod:`trackdag.rerun`); kept until
  ``trackdag clean``.  Nothing that reads a job folder looks inside it.

Every file is written to a temporary name and renamed, so a crash never
leaves half a file.

Example:
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> read_done(d) is None
    True
"""
from __future__ import annotations

import json
import os
import shlex
import stat
import time
from pathlib import Path
from typing import Any, Mapping

from .gather import MANIFEST_DIR
from .jsontext import indented
from .shellwords import simple_command
from .plan import Job, Plan

INVOKE = "invoke.sh"
CONFIG = "job_config.json"
DONE = "done.json"
RUNNING = ".running"
STDOUT = "stdout.log"
STDERR = "stderr.log"
#: outputs of earlier done attempts, moved aside by ``run --rerun``
SUPERSEDED = ".superseded"


def atomic_write(path: "str | os.PathLike", text: str, *, mode: int | None = None, parents: bool = False) -> None:
    """Write ``text`` to ``path`` via a temporary file and rename (all or nothing).

    ``parents``: create the missing folders above ``path`` when the write finds none (only then: most
    writes go to a folder that exists, and a look for it would cost as much as the write).
    """
    path = os.fspath(path)
    if parents:
        try:
            atomic_write(path, text, mode=mode)
        except FileNotFoundError:
            parent = os.path.dirname(path)
            try:
                os.mkdir(parent)  # (the usual case: one folder missing, as a job's .attempts/)
            except FileExistsError:
                pass
            except FileNotFoundError:
                os.makedirs(parent, exist_ok=True)
            atomic_write(path, text, mode=mode)
        return
    tmp = f"{path}.tmp{os.getpid()}"
    data = text.encode("utf-8")
    try:
        # os.open/os.write: a job folder's few small files cost a third of what io's layers did
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            if mode is not None:
                os.fchmod(fd, mode)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:  # a full or read-only disk: leave no half file, and say which file
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise OSError(exc.errno, exc.strerror or str(exc), path) from None


def invoke_script(job: Job, *, import_dir: str | None = None, command: str | None = None) -> str:
    """The text of ``invoke.sh`` for ``job`` (``command``: its ``job.command``, when the caller has it)."""
    command = job.command if command is None else command  # made afresh each time it is asked for
    folder = job.folder
    lines = [
        "#!/usr/bin/env bash",
        f"# trackdag job {job.name} (node {job.node})",
        f"# job id: {job.job_id}",
        "# Re-run this job by hand from anywhere: bash " + shlex.quote(os.path.join(folder, INVOKE)),
        f"cd {shlex.quote(folder)} || exit 1",
    ]
    if import_dir:
        # The pipeline's module was found here; `python -m pkg.mod` commands need it.
        lines.append(f'export PYTHONPATH={shlex.quote(import_dir)}"${{PYTHONPATH:+:$PYTHONPATH}}"')
    if job.setup:
        # KWDagger's setup: a gating precondition; if it fails, the command does not run and the job fails
        lines += ["# setup (the node's): if it fails, the job fails without running its command",
                  "{", job.setup, "} || { code=$?; echo \"trackdag: setup failed (exit $code)\" >&2; exit $code; }"]
    if job.teardown:
        # KWDagger's teardown: always after the command once setup succeeded (success, failure, a signal
        # bash can catch); the job's exit code stays the command's
        lines += ["# teardown (the node's): runs after the command, whatever its outcome",
                  "_trackdag_teardown() { code=$?; trap - EXIT; {", job.teardown, "}; exit $code; }",
                  "trap _trackdag_teardown EXIT",
                  "trap 'exit 143' TERM", "trap 'exit 130' INT", "trap 'exit 129' HUP",
                  command]
        return "\n".join(lines) + "\n"
    # A simple command replaces bash (exec), so a signal that kills the program
    # (SIGKILL, the OOM killer, a timeout) reaches trackdag as that signal, not
    # as bash's "exit code 137"; shell text with pipes or lists stays as written.
    lines.append(("exec " if simple_command(command) else "") + command)
    return "\n".join(lines) + "\n"


def job_config(job: Job, plan: Plan, *, command: str | None = None) -> dict[str, Any]:
    """The content of ``job_config.json`` (``command``: its ``job.command``, when the caller has it)."""
    from . import __version__

    perf = set(plan.pipeline.nodes[job.node].perf_params)
    return {
        "job_id": job.job_id,
        "short_id": job.short_id,
        "node": job.node,
        "folder": job.folder,
        "command": job.command if command is None else command,
        **({"setup": job.setup} if job.setup else {}),
        **({"teardown": job.teardown} if job.teardown else {}),
        "requested": dict(job.requested),
        "resolved": _jsonable(job.resolved),
        # each argument by kind, as the catalog's params table holds them (trackdag reindex reads these)
        "algo": _jsonable({k: v for k, v in job.params.items() if k not in perf}),
        "perf": _jsonable({k: v for k, v in job.params.items() if k in perf}),
        "inputs": _jsonable(dict(job.inputs)),
        "outputs": dict(job.outputs),
        "resources": dict(job.resources),
        "gathered": {port: list(paths) for port, paths in job.gathered.items()},
        "parents": {plan.jobs[p].node + "/" + plan.jobs[p].name: p for p in job.parents},
        "trackdag_version": __version__,
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def write_job_folder(job: Job, plan: Plan, *, command: str | None = None) -> None:
    """Create the folder, ``invoke.sh``, ``job_config.json`` and the lineage links.

    ``command``: the job's ``job.command``, when the caller has it.

    Only called for jobs that are about to run; a done job's folder is never
    rewritten, so its metadata always describes the outputs it holds.
    """
    folder = job.folder
    try:
        os.mkdir(folder)
    except FileExistsError:
        if not os.path.isdir(folder):
            raise  # a file where the folder goes: the run ends with this error (see execute)
    except FileNotFoundError:
        os.makedirs(folder, exist_ok=True)
    command = job.command if command is None else command
    atomic_write(os.path.join(folder, INVOKE), invoke_script(job, import_dir=plan.pipeline.import_dir,
                                                             command=command), mode=0o755)
    atomic_write(os.path.join(folder, CONFIG), indented(job_config(job, plan, command=command),
                                                        ensure_ascii=False) + "\n")
    for port, paths in job.gathered.items():  # a gathered input: the manifest of its members' outputs
        os.makedirs(os.path.join(folder, MANIFEST_DIR), exist_ok=True)
        atomic_write(job.inputs[port], "".join(f"{path}\n" for path in paths))
    for parent_id in job.parents:
        parent = plan.jobs[parent_id]
        _link(Path(folder, ".pred", parent.node, parent.name), Path(parent.folder))
        _link(Path(parent.folder, ".succ", job.node, job.name), Path(folder))


def _link(link: Path, target: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    rel = os.path.relpath(target, link.parent)
    try:
        if os.readlink(link) == rel:
            return
        link.unlink()
    except FileNotFoundError:
        pass
    except OSError:  # exists but is not a symlink: leave the user's file alone
        return
    tmp = link.with_name(f"{link.name}.tmp{os.getpid()}")
    os.symlink(rel, tmp)
    os.replace(tmp, link)


def read_record(folder: "str | os.PathLike", name: str) -> dict[str, Any] | None:
    """A JSON object trackdag wrote in a job folder (None if absent, unreadable or not an object)."""
    # os.open/os.read: a no-op rerun reads every done record, and io's layers cost more than the read
    try:
        fd = os.open(os.path.join(folder, name), os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        chunks = []
        while True:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
        record = json.loads(b"".join(chunks).decode("utf-8"))
    except (OSError, ValueError):
        return None
    finally:
        os.close(fd)
    return record if isinstance(record, dict) else None


def read_config_id(folder: "str | os.PathLike") -> str | None:
    """The job id recorded in a folder's ``job_config.json`` (None if absent/unreadable)."""
    return (read_record(folder, CONFIG) or {}).get("job_id")


def read_done(folder: "str | os.PathLike") -> dict[str, Any] | None:
    """The done record of a folder, or None when there is none (or it is unreadable)."""
    return read_record(folder, DONE)


def read_running(folder: "str | os.PathLike") -> dict[str, Any] | None:
    """The ``.running`` record of a job folder (pid, pgid, host, started), or None."""
    return read_record(folder, RUNNING)


def is_done(job: Job, record: dict[str, Any] | None = None) -> bool:
    """A job is done when its done record names its full id and its outputs are as it recorded them.

    ``record`` is the folder's done record when the caller already read it.
    """
    record = read_done(job.folder) if record is None else record
    if record is None or record.get("job_id") != job.job_id:
        return False
    return not changed_outputs(job.outputs, record)


def missing_outputs(outputs: Mapping[str, str]) -> list[str]:
    """Names of declared outputs that do not exist."""
    return [k for k, p in outputs.items() if not os.path.exists(p)]


def output_stats(outputs: Mapping[str, str], *, content: bool = False) -> dict[str, Any]:
    """Output name -> [size, mtime_ns] (and a sha256 with ``content``) of each file; None for a folder."""
    stats: dict[str, Any] = {}
    for name, path in outputs.items():
        try:
            st = os.stat(path)
        except OSError:
            stats[name] = "missing"
            continue
        if not stat.S_ISREG(st.st_mode):
            stats[name] = None  # a folder changes whenever trackdag or the job adds a file: existence only
            continue
        stats[name] = [st.st_size, st.st_mtime_ns] + ([file_sha256(path)] if content else [])
    return stats


def file_sha256(path: str) -> str:
    """The sha256 of a file's content, read in 1 MiB blocks."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def changed_outputs(outputs: Mapping[str, str], record: Mapping[str, Any], *,
                    content: bool = False) -> dict[str, str]:
    """Outputs that are missing or differ from the done record: name -> what is wrong.

    Size and modification time are compared with what the done record kept
    (a record from before trackdag kept them is checked for existence only);
    ``content`` also compares the sha256 when the record has one.
    """
    kept = record.get("stats") or {}
    hashed = content and any(isinstance(v, list) and len(v) > 2 for v in kept.values())
    now = output_stats(outputs, content=hashed)
    wrong = {}
    for name in outputs:
        was, is_ = kept.get(name), now[name]
        if is_ == "missing":
            wrong[name] = "missing"
        elif isinstance(was, list) and isinstance(is_, list):
            if is_[0] != was[0]:
                wrong[name] = f"size {is_[0]} bytes, recorded {was[0]}"
            elif is_[1] != was[1]:
                wrong[name] = "modified since the job finished"
            elif hashed and len(was) > 2 and is_[2] != was[2]:
                wrong[name] = "content differs from the recorded sha256"
    return wrong


def write_done(folder: "str | os.PathLike", job_id: str, *, started: float, ended: float,
               host: str, outputs: Mapping[str, str], content: bool = False,
               stats: Mapping[str, Any] | None = None) -> None:
    """Record success atomically (the caller checked exit 0 and the outputs), with each output's stats.

    ``stats``: the outputs' :func:`output_stats`, when the caller has just taken them.
    """
    record = {
        "job_id": job_id,
        "started": started,
        "ended": ended,
        "host": host,
        "outputs": dict(outputs),
        "stats": dict(stats) if stats is not None else output_stats(outputs, content=content),
        "written": time.time(),
    }
    atomic_write(os.path.join(folder, DONE), indented(record) + "\n")


def clear_done(folder: "str | os.PathLike") -> None:
    """Forget a previous success before running a job again."""
    try:
        os.unlink(os.path.join(folder, DONE))
    except FileNotFoundError:
        pass
