"""Provenance a user can trust: which Python, which packages and which code each run ran under.

Every ``trackdag run`` records, in its ``runs`` row and its run record
(``<root>/.trackdag/runs/<run>.json``):

- ``python``: the interpreter's version (``platform.python_version()``);
- ``env_id``: the id of the environment, the first 16 hex digits of the
  sha256 of its canonical text (:func:`environment_text`: the python version,
  the platform and the installed distributions as ``name==version``, one a
  line, sorted).  The distributions come from :mod:`importlib.metadata`
  (no ``pip freeze`` subprocess: ~1 ms instead of ~1 s), names normalized
  as pip does (PEP 503), the first of a name on ``sys.path`` winning, as
  for an import.  Each environment is stored once, however many runs use
  it: a row of the ``environments`` table and a file
  ``<root>/.trackdag/environments/<env_id>.txt``, which is a requirements
  file (``pip install -r`` takes it; its header lines are comments);
- ``git_sha``, ``git_dirty``, ``git_diff_hash``: the commit checked out in
  **the launch directory's repository** (the ``cwd`` of the run, where the
  pipeline's code is normally found), whether its tracked files differ from
  that commit (``git diff HEAD`` is not empty; untracked files do not count,
  since outputs often live untracked in the work tree) and the sha256 of
  that diff.  Outside a repository (or in one without a commit) the three
  are NULL.  Each git call has a short timeout (:data:`GIT_TIMEOUT`); a
  timed out call records NULL, it never holds a run back.

All of it costs a few milliseconds at a run's start (two git calls and a
scan of ``sys.path``'s ``*.dist-info`` folder names).  The files on disk are
the record: ``trackdag reindex`` rebuilds the ``environments`` table and
the runs' columns from them.  A job ran under the environment and code of
the run of its latest done attempt (:func:`job_provenance`), which
``trackdag show`` prints and ``trackdag diff`` compares.

Example:
    >>> env = Environment.make("3.11.7", "cpython-linux-x86_64", ["numpy==2.1.0", "duckdb==1.1.3"])
    >>> env.packages, len(env.env_id)
    (('duckdb==1.1.3', 'numpy==2.1.0'), 16)
    >>> package_changes(["numpy==2.0.0", "six==1.0"], env.packages)
    ['+duckdb==1.1.3', '+numpy==2.1.0', '-numpy==2.0.0', '-six==1.0']
"""
from __future__ import annotations

import hashlib
import os
import platform
import re
import subprocess
import sys
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any, Iterable

ENVIRONMENTS = os.path.join(".trackdag", "environments")
#: seconds each git call may take before provenance gives up on it (and records NULL)
GIT_TIMEOUT = 2.0
#: how many differing packages ``trackdag diff``'s text names
MAX_CHANGES = 10

_DIST_INFO = re.compile(r"^(?P<name>.+)-(?P<version>[^-]+)\.dist-info$")


def canonical_name(name: str) -> str:
    """A distribution's name as pip compares them (PEP 503): ``Typing_Extensions`` -> ``typing-extensions``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _name_version(dist: Any) -> tuple[str | None, str | None]:
    # The wheel spec names the folder <name>-<version>.dist-info: reading that
    # is ~50x faster than parsing every METADATA file (dist.version does).
    path = getattr(dist, "_path", None)
    found = _DIST_INFO.match(os.path.basename(os.fspath(path))) if path is not None else None
    if found:
        return found["name"], found["version"]
    try:  # egg-info and other layouts: ask the metadata
        return dist.metadata["Name"], dist.version
    except Exception:  # a broken distribution is not one
        return None, None


def installed_packages(path: list[str] | None = None) -> list[str]:
    """The installed distributions as sorted ``name==version`` lines (of ``sys.path``, or of ``path``)."""
    from importlib import metadata

    found: dict[str, str] = {}
    dists = metadata.distributions() if path is None else metadata.distributions(path=path)
    for dist in dists:
        name, version = _name_version(dist)
        if not name or not version or name.startswith("~"):  # pip's leftovers of an interrupted upgrade
            continue
        found.setdefault(canonical_name(name), version)  # the first on sys.path is the one imported
    return sorted(f"{name}=={version}" for name, version in found.items())  # as lines: the order ids hash


def environment_text(python: str, platform_: str, packages: Iterable[str]) -> str:
    """The canonical text an environment's id is the hash of."""
    return f"python {python}\nplatform {platform_}\n" + "".join(f"{p}\n" for p in packages)


@dataclass(frozen=True)
class Environment:
    """One Python environment: interpreter version, platform, installed packages."""

    env_id: str
    python: str
    platform: str
    packages: tuple[str, ...]
    #: when this root first saw it (None until saved)
    created: datetime | None = None

    @classmethod
    def make(cls, python: str, platform_: str, packages: Iterable[str]) -> "Environment":
        packages = tuple(sorted(set(packages)))
        text = environment_text(python, platform_, packages)
        return cls(hashlib.sha256(text.encode()).hexdigest()[:16], python, platform_, packages)


def collect_environment() -> Environment:
    """This process's environment (the one the driver, and so ``--backend local`` jobs, run in)."""
    implementation = sys.implementation.name
    return Environment.make(platform.python_version(), f"{implementation}-{sys.platform}-{platform.machine()}",
                            installed_packages())


# -- on disk -----------------------------------------------------------------------------------------
def environment_path(root: "str | os.PathLike", env_id: str) -> str:
    return os.path.join(os.fspath(root), ENVIRONMENTS, f"{env_id}.txt")


def read_environment(path: "str | os.PathLike") -> Environment | None:
    """An environment file; None when missing, unreadable or not matching its id (a damaged file)."""
    try:
        with open(path, encoding="utf-8") as fh:
            lines = fh.read().splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    header: dict[str, str] = {}
    packages = []
    for line in lines:
        if line.startswith("# "):
            key, _, value = line[2:].partition(" ")
            header[key] = value
        elif line.strip():
            packages.append(line.strip())
    env = Environment.make(header.get("python", ""), header.get("platform", ""), packages)
    if env.env_id != os.path.basename(os.fspath(path))[:-len(".txt")]:
        return None
    try:
        created = datetime.fromisoformat(header["created"])
    except (KeyError, ValueError):
        created = None
    return replace(env, created=created)


def save_environment(root: "str | os.PathLike", env: Environment) -> Environment:
    """Write ``<root>/.trackdag/environments/<env_id>.txt`` unless it is there; returns it with ``created``.

    Best effort: a disk that refuses the file does not stop the run (the run
    record keeps the id; the next run writes the file again).
    """
    from .layout import atomic_write

    path = environment_path(root, env.env_id)
    existing = read_environment(path)
    if existing is not None:
        return existing
    env = replace(env, created=datetime.now(timezone.utc))
    text = (f"# trackdag environment {env.env_id}\n# created {env.created.isoformat()}\n# python {env.python}\n"
            f"# platform {env.platform}\n" + "".join(f"{p}\n" for p in env.packages))
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        atomic_write(path, text)
    except OSError:
        pass
    return env


def environment_ids(root: "str | os.PathLike") -> list[str]:
    """The ids of a root's environment files, sorted."""
    try:
        names = os.listdir(os.path.join(os.fspath(root), ENVIRONMENTS))
    except OSError:
        return []
    return sorted(n[:-len(".txt")] for n in names if n.endswith(".txt"))


def read_environments(root: "str | os.PathLike", ids: Iterable[str] | None = None) -> list[Environment]:
    """The environment files of a root (all, or those of ``ids``), by id; damaged ones are skipped."""
    found = (read_environment(environment_path(root, i)) for i in (environment_ids(root) if ids is None else ids))
    return [env for env in found if env is not None]


# -- in the catalog ----------------------------------------------------------------------------------
def insert_environments(con: Any, envs: Iterable[Environment]) -> int:
    """Insert the environments the catalog lacks (in the caller's transaction); returns how many."""
    envs = list(envs)
    if not envs:
        return 0
    have = {e for (e,) in con.execute("SELECT env_id FROM environments WHERE env_id IN (SELECT unnest(?))",
                                      [[e.env_id for e in envs]]).fetchall()}
    new = [e for e in envs if e.env_id not in have]
    for env in new:
        con.execute("INSERT OR IGNORE INTO environments (env_id, python, platform, packages, created) "
                    "VALUES (?, ?, ?, ?, ?)", [env.env_id, env.python, env.platform, "\n".join(env.packages),
                                               env.created or datetime.now(timezone.utc)])
    return len(new)


def import_environments(con: Any, root: "str | os.PathLike") -> int:
    """Insert the environment files of ``root`` the catalog lacks (``trackdag reindex``, every run's start).

    Only the files the catalog lacks are read, so this costs a directory listing when nothing is new.
    """
    ids = environment_ids(root)
    if not ids:
        return 0
    have = {e for (e,) in con.execute("SELECT env_id FROM environments WHERE env_id IN (SELECT unnest(?))",
                                      [ids]).fetchall()}
    return insert_environments(con, read_environments(root, [i for i in ids if i not in have]))


# -- git ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CodeState:
    """The launch directory's git state: commit, dirty or not, the hash of ``git diff HEAD``."""

    git_sha: str | None
    git_dirty: bool | None
    git_diff_hash: str | None


def _git(cwd: str, *args: str) -> bytes | None:
    try:
        out = subprocess.run(["git", "-C", cwd, *args], capture_output=True, stdin=subprocess.DEVNULL,
                             timeout=GIT_TIMEOUT, env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"})
    except (OSError, subprocess.SubprocessError):  # no git, or too slow (a huge tree on a network disk)
        return None
    return out.stdout if out.returncode == 0 else None


def collect_code(cwd: "str | os.PathLike") -> CodeState:
    """The git state of the repository ``cwd`` is in (all None outside one, or before its first commit)."""
    cwd = os.fspath(cwd)
    sha = _git(cwd, "rev-parse", "--verify", "-q", "HEAD")
    if not sha:
        return CodeState(None, None, None)
    # Fixed options, so the hash does not depend on a user's diff settings.
    diff = _git(cwd, "diff", "HEAD", "--no-color", "--no-ext-diff", "--no-textconv", "--binary",
                "--src-prefix=a/", "--dst-prefix=b/")
    if diff is None:
        return CodeState(sha.decode().strip(), None, None)
    return CodeState(sha.decode().strip(), bool(diff), hashlib.sha256(diff).hexdigest() if diff else None)


def run_provenance(cwd: "str | os.PathLike", root: "str | os.PathLike", cat: Any = None) -> dict[str, Any]:
    """Collect and record a starting run's provenance; returns its ``runs`` columns.

    An environment new to the root is written to disk and, with ``cat``, to
    the ``environments`` table, trying the catalog's lock once: when a reader
    holds it, the file is imported by the next run or ``trackdag reindex``.
    One the root has seen costs no catalog transaction: the run's start
    (:func:`trackdag.reindex.recover`) imported its file already if the
    catalog lacked it.  ``cwd``: the launch directory, whose repository gives
    the git columns.  Measured: ~7 ms for a known environment, ~35 ms for a
    new one (a catalog connection), with 67 packages.
    """
    from .errors import CatalogError

    env = collect_environment()
    saved = read_environment(environment_path(root, env.env_id))
    if saved is None:
        saved = save_environment(root, env)
        if cat is not None:
            try:
                with cat.transaction(timeout=0) as con:
                    insert_environments(con, [saved])
            except CatalogError:
                pass
    env = saved
    code = collect_code(cwd)
    return {"git_sha": code.git_sha, "env_id": env.env_id, "python": env.python, "git_dirty": code.git_dirty,
            "git_diff_hash": code.git_diff_hash}


# -- reading: which environment a job ran under ---------------------------------------------------------
@dataclass(frozen=True)
class JobProvenance:
    """The provenance of the run of a job's latest done attempt (env fields None: not recorded)."""

    run_id: str | None
    env_id: str | None
    python: str | None
    platform: str | None
    #: None when the environment's package list is known neither to the catalog nor on disk
    packages: tuple[str, ...] | None
    git_sha: str | None
    git_dirty: bool | None
    git_diff_hash: str | None

    @property
    def code(self) -> tuple[Any, ...]:
        return (self.git_sha, self.git_dirty, self.git_diff_hash)


def has_provenance(con: Any) -> bool:
    """Whether the catalog has the provenance columns (an old catalog opened read-only has not)."""
    return con.execute("SELECT count(*) FROM information_schema.columns WHERE table_name = 'runs' "
                       "AND column_name = 'env_id'").fetchone()[0] > 0 and con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'environments'").fetchone()[0] > 0


def job_provenance(con: Any, job_id: str) -> JobProvenance | None:
    """The provenance a job ran under: the run of its latest done attempt; None when it has none."""
    if has_provenance(con):
        row = con.execute("""
            SELECT a.run_id, r.env_id, coalesce(r.python, e.python), e.platform, e.packages, r.git_sha, r.git_dirty,
                   r.git_diff_hash, r.root
            FROM attempts a LEFT JOIN runs r ON r.run_id = a.run_id LEFT JOIN environments e ON e.env_id = r.env_id
            WHERE a.job_id = ? AND a.status = 'done' ORDER BY a.attempt DESC LIMIT 1""", [job_id]).fetchone()
    else:
        row = con.execute("""
            SELECT a.run_id, NULL, NULL, NULL, NULL, r.git_sha, NULL, NULL, NULL
            FROM attempts a LEFT JOIN runs r ON r.run_id = a.run_id
            WHERE a.job_id = ? AND a.status = 'done' ORDER BY a.attempt DESC LIMIT 1""", [job_id]).fetchone()
    if row is None:
        return None
    run_id, env_id, python, platform_, packages, sha, dirty, diff_hash, root = row
    listed = tuple(packages.split("\n")) if packages else (() if packages == "" else None)
    if env_id and listed is None and root:  # the catalog lacks the row (a reader held it): the disk has it
        env = read_environment(environment_path(root, env_id))
        if env is not None:
            listed, platform_ = env.packages, env.platform
    return JobProvenance(run_id, env_id, python, platform_, listed, sha, dirty, diff_hash)


def format_environment(p: JobProvenance | None) -> str:
    """``3f2a1b2c3d4e5f60 (python 3.11.7, 142 packages)``, as ``trackdag show`` prints it."""
    if p is None:
        return "- (no done attempt)"
    if p.env_id is None:
        return f"- (not recorded: run {p.run_id} predates provenance)"
    count = f"{len(p.packages)} packages" if p.packages is not None else "package list not found"
    return f"{p.env_id} (python {p.python}, {count})"


def format_code(p: JobProvenance | None) -> str:
    """``git 1a2b3c4 (dirty, diff 9e8d7c6b5a49)``, ``git 1a2b3c4 (clean)``, ``- (not in a git repository)``."""
    if p is None:
        return "-"
    if p.git_sha is None:
        return "- (not in a git repository)" if p.env_id is not None else "- (not recorded)"
    text = f"git {p.git_sha[:7]}"
    if p.git_dirty is None:
        return text + " (dirty or not: not recorded)"
    return text + (f" (dirty, diff {(p.git_diff_hash or '')[:12]})" if p.git_dirty else " (clean)")


def package_changes(a: Iterable[str], b: Iterable[str]) -> list[str]:
    """From A's packages to B's: ``+name==v`` only in B, ``-name==v`` only in A, by name, ``+`` first."""
    set_a, set_b = set(a), set(b)
    changes = [("+", p) for p in set_b - set_a] + [("-", p) for p in set_a - set_b]
    changes.sort(key=lambda c: (c[1].partition("==")[0], c[0] != "+", c[1]))
    return [sign + p for sign, p in changes]


__all__ = ["Environment", "CodeState", "JobProvenance", "collect_environment", "collect_code", "installed_packages",
           "run_provenance", "save_environment", "read_environment", "read_environments", "insert_environments",
           "import_environments", "environment_ids", "job_provenance", "format_environment", "format_code", "package_changes",
           "environment_path", "canonical_name"]
