"""The real KWDagger 0.4.1, in a test-only virtual environment, and the import rewrite a port is.

This is a plain module, not a ``conftest.py``: the suite's test files say
``from conftest import ...`` for ``tests/conftest.py``, and a second,
non-package ``conftest`` module would replace it in ``sys.modules``.  Test
modules here import the :func:`kwd` fixture and the helpers by name.

``kwdagger`` is never a trackdag dependency: the session fixture :func:`kwd`
builds its own venv (``pip install kwdagger==0.4.1``) once, under
``$TRACKDAG_KWDAGGER_VENV`` or ``~/.cache/trackdag-tests/kwdagger-0.4.1``,
and reuses it afterwards.  Where pip cannot install it (no index), the tests
that need it skip and say why; ``TRACKDAG_REQUIRE_KWDAGGER=1`` (set by
``.ci/run``) makes that a failure instead.

:func:`port_source` is the port a user makes: the import lines of a KWDagger
pipeline file rewritten as the README's "Coming from KWDagger" table says,
nothing else.  Pipeline sources under ``cases/`` are written for KWDagger (a
user's file) and are not collected by pytest.
"""
from __future__ import annotations

import fcntl
import functools
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).parent
CASES = HERE / "cases"
KWDAGGER = "kwdagger==0.4.1"
TRACKDAG_BIN = Path(sys.executable).parent


@dataclass
class Kwd:
    """The test-only KWDagger install."""

    venv: Path

    @property
    def bin(self) -> Path:
        return self.venv / "bin"

    def run(self, args: list[str], cwd: Path, env: dict | None = None, timeout: float = 600) \
            -> subprocess.CompletedProcess:
        """Run a command with this venv first on PATH (``kwdagger``, its ``python``)."""
        return _run(args, cwd, self.bin, env, timeout)


def trackdag_run(args: list[str], cwd: Path, env: dict | None = None, timeout: float = 600) \
        -> subprocess.CompletedProcess:
    """Run a command with trackdag's venv first on PATH (``trackdag``, its ``python``)."""
    return _run(args, cwd, TRACKDAG_BIN, env, timeout)


def concurrently(first, second):
    """``(first(), second())``, run side by side: a KWDagger command and trackdag's, in folders of their own.

    The parity cases run each command of a case under both tools; on two
    cores the pair takes the time of the slower one, not of both.  An
    exception of either is raised (the first's first).
    """
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=2) as pool:
        a, b = pool.submit(first), pool.submit(second)
        return a.result(), b.result()


def _run(args, cwd, bin_dir, env, timeout):
    full = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    full.update(PATH=f"{bin_dir}:{full.get('PATH', '')}", COLUMNS="200", PYTHONHASHSEED="0",
                RAY_AUTH_MODE="disabled")
    full.update(env or {})
    return subprocess.run(args, cwd=cwd, env=full, capture_output=True, text=True, timeout=timeout)


def _venv_path() -> Path:
    default = Path.home() / ".cache" / "trackdag-tests" / "kwdagger-0.4.1"
    return Path(os.environ.get("TRACKDAG_KWDAGGER_VENV", default))


def _unavailable(reason: str):
    if os.environ.get("TRACKDAG_REQUIRE_KWDAGGER") == "1":
        pytest.fail(f"KWDagger 0.4.1 is required (TRACKDAG_REQUIRE_KWDAGGER=1): {reason}")
    pytest.skip(f"KWDagger 0.4.1 could not be installed in a test venv: {reason}")


@pytest.fixture(scope="session")
def kwd() -> Kwd:
    """The test venv with KWDagger 0.4.1 (built on first use, then reused)."""
    return _kwd()


@functools.lru_cache(maxsize=None)
def _kwd() -> Kwd:
    # Each test module that imports ``kwd`` gets its own fixture definition;
    # the cache makes the check (and a build) once per process.
    venv = _venv_path()
    stamp = venv / ".trackdag-tests-ok"
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / f".{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)   # several pytest processes may build it at once
        if not stamp.exists():
            shutil.rmtree(venv, ignore_errors=True)
            made = subprocess.run([sys.executable, "-m", "venv", str(venv)], capture_output=True, text=True)
            if made.returncode:
                _unavailable(f"python -m venv failed: {made.stderr.strip()[-300:]}")
            pip = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q",
                                  "--disable-pip-version-check", KWDAGGER], capture_output=True, text=True)
            if pip.returncode:
                shutil.rmtree(venv, ignore_errors=True)
                _unavailable(f"pip install {KWDAGGER} failed: {pip.stderr.strip()[-300:]}")
            check = subprocess.run([str(venv / "bin" / "python"), "-c",
                                    "import kwdagger; print(kwdagger.__version__)"], capture_output=True, text=True)
            if check.stdout.strip() != "0.4.1":
                _unavailable(f"kwdagger in {venv} reports {check.stdout.strip() or check.stderr[-200:]!r}")
            stamp.write_text(KWDAGGER + "\n")
    return Kwd(venv)


# --- the port: import lines only -------------------------------------------------------------

_CORE = {"ProcessNode", "Pipeline", "GatherSpec"}


def port_line(line: str) -> str:
    """One import line of a KWDagger pipeline file, as the README's table ports it.

    >>> port_line('import kwdagger')
    'import trackdag as kwdagger'
    >>> port_line('from kwdagger import ProcessNode, Pipeline')
    'from trackdag import ProcessNode, Pipeline'
    >>> port_line('    from kwdagger.utils import util_dotdict')
    '    from trackdag.compat.kwdagger.utils import util_dotdict'
    >>> port_line('from kwdagger import load_yaml_pipeline')
    'from trackdag.compat.kwdagger import load_yaml_pipeline'
    >>> port_line("x = 'kwdagger'")
    "x = 'kwdagger'"
    """
    m = re.match(r"^(\s*)import kwdagger(\s+as\s+\w+)?\s*$", line)
    if m:
        return f"{m[1]}import trackdag as {(m[2] or ' as kwdagger').split()[-1]}"
    m = re.match(r"^(\s*)from kwdagger import (.*)$", line)
    if m:
        names = {n.strip().split(" as ")[0] for n in m[2].strip("() ").split(",")}
        target = "trackdag" if names <= _CORE else "trackdag.compat.kwdagger"
        return f"{m[1]}from {target} import {m[2]}"
    m = re.match(r"^(\s*)(from|import) kwdagger\.(.*)$", line)
    if m:
        return f"{m[1]}{m[2]} trackdag.compat.kwdagger.{m[3]}"
    return line


def port_source(text: str) -> str:
    """A KWDagger pipeline file with its import lines ported (and nothing else)."""
    return "\n".join(port_line(line) for line in text.split("\n"))


def lay_out(case: str, dst: Path, *, port: bool) -> Path:
    """Copy ``cases/<case>`` into ``dst``; with ``port``, every .py file's imports are ported.

    The toy programs several cases share (``_context.py``, ``predict.py``,
    ``evaluate.py``) live once in ``cases/_shared/``; a case's own file of
    the same name wins.
    """
    shutil.copytree(CASES / case, dst, ignore=shutil.ignore_patterns("__pycache__"))
    for shared in sorted((CASES / "_shared").iterdir()):
        if shared.is_file() and not (dst / shared.name).exists():
            shutil.copy2(shared, dst / shared.name)
    if port:
        for path in dst.rglob("*.py"):
            path.write_text(port_source(path.read_text()))
    return dst


# --- reading what each tool wrote --------------------------------------------------------------

def _norm_token(token: str, root: Path) -> str:
    """A command token with its paths aside: a path in the result tree keeps its node folder and
    file name (``<node>/*/<file>``), any other path its file name."""
    key, eq, value = token.partition("=")
    if not eq:
        key, value = "", token
    if "/" in value:
        path = Path(value)
        parts = path.parts
        try:
            rel = (path if path.is_absolute() else (root.parent / path)).resolve().relative_to(root.resolve())
            parts = rel.parts
            value = "/".join([parts[0], "*", *parts[2:]]) if len(parts) >= 2 else "/".join(parts)
        except ValueError:
            value = path.name
    return f"{key}={value}" if eq else value


def normalize_command(command: str, root: Path) -> tuple[str, ...]:
    import shlex
    return tuple(_norm_token(t, root) for t in shlex.split(command) if t.strip())


def kwdagger_commands(root: Path) -> dict[str, list[tuple[str, ...]]]:
    """node -> the sorted normalized commands of the jobs KWDagger wrote (from each invoke.sh)."""
    found: dict[str, list] = {}
    for invoke in sorted(root.glob("*/*_id_*/invoke.sh")):
        lines = [ln for ln in invoke.read_text().splitlines() if ln and not ln.startswith("#")]
        text = "\n".join(lines)
        if text.startswith("test -e "):   # the cache guard: `test -e OUT || \`
            text = text.split("|| \\\n", 1)[1]
        found.setdefault(invoke.parent.parent.name, []).append(normalize_command(text, root))
    return {k: sorted(v) for k, v in found.items()}


def trackdag_commands(root: Path) -> dict[str, list[tuple[str, ...]]]:
    """node -> the sorted normalized commands of trackdag's jobs (from each job_config.json)."""
    import json
    found: dict[str, list] = {}
    for config in sorted(root.glob("*/*_id_*/job_config.json")):
        data = json.loads(config.read_text())
        found.setdefault(data["node"], []).append(normalize_command(data["command"], root))
    return {k: sorted(v) for k, v in found.items()}


def top_table(text: str, node: str) -> list[dict[str, str]]:
    """The rows of the 'Top N / M for <node>' table an aggregate printed, best first.

    KWDagger prints its best row last; trackdag first, with a ``rank`` column.
    """
    lines = text.splitlines()
    start = next(i for i, ln in enumerate(lines) if re.match(rf"Top \d+ / \d+ for {re.escape(node)}\b", ln))
    header = lines[start + 1].split()
    rows = []
    for line in lines[start + 2:]:
        cells = line.split()
        if len(cells) != len(header):
            break
        rows.append(dict(zip(header, cells)))
    return rows if "rank" in header else rows[::-1]


# --- jobs of either tool, by folder (added for the feature cases) -------------------------------

def norm_path_token(token: str, root: Path) -> str:
    """Like the command normalizer, but a job folder itself is ``<node>/*`` too (no id in it).

    >>> norm_path_token('--d=/r/a/a_id_x', Path('/r')), norm_path_token('--f=/r/a/a_id_x/o.json', Path('/r'))
    ('--d=a/*', '--f=a/*/o.json')
    >>> norm_path_token('python', Path('/r')), norm_path_token('/elsewhere/prog.py', Path('/r'))
    ('python', 'prog.py')
    """
    key, eq, value = token.partition("=")
    if not eq:
        key, value = "", token
    if "/" in value:
        path = Path(value)
        try:
            full = path if path.is_absolute() else (root.parent / path)
            parts = full.resolve().relative_to(root.resolve()).parts
            if len(parts) >= 2 and "_id_" in parts[1]:
                value = "/".join([parts[0], "*", *parts[2:]])
            else:
                value = "/".join(parts)
        except ValueError:
            value = path.name
    return f"{key}={value}" if eq else value


def norm_command(command: str, root: Path) -> tuple[str, ...]:
    import shlex
    return tuple(norm_path_token(t, root) for t in shlex.split(command) if t.strip())


def _kwdagger_program(text: str) -> str:
    """The program's command in a KWDagger invoke.sh: no comments, no cache guard, no gather heredocs."""
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    text = "\n".join(lines)
    if text.startswith("test -e "):
        text = text.split("|| \\\n", 1)[1]
    if text.startswith("{"):   # a gathered input: { mkdir -p ... && cat > manifest <<'DELIM' && ... DELIM \n cmd }
        body = text.strip()[1:-1]
        delims = re.findall(r"<<'([A-Z0-9_]+)'", body)
        if delims:
            body = body.rsplit("\n" + delims[-1] + "\n", 1)[1]
        text = body.strip()
    return text


def kwdagger_job_table(root: Path) -> dict[Path, tuple[str, tuple[str, ...]]]:
    """Job folder (resolved) -> (node, normalized command), from each invoke.sh KWDagger wrote."""
    found = {}
    for invoke in sorted(root.glob("*/*_id_*/invoke.sh")):
        found[invoke.parent.resolve()] = (invoke.parent.parent.name,
                                          norm_command(_kwdagger_program(invoke.read_text()), root))
    return found


def trackdag_job_table(root: Path) -> dict[Path, tuple[str, tuple[str, ...]]]:
    """Job folder (resolved) -> (node, normalized command), from each job_config.json trackdag wrote."""
    import json
    found = {}
    for config in sorted(root.glob("*/*_id_*/job_config.json")):
        data = json.loads(config.read_text())
        found[config.parent.resolve()] = (data["node"], norm_command(data["command"], root))
    return found


def by_node(table) -> dict[str, list[tuple[str, ...]]]:
    out: dict[str, list] = {}
    for node, command in table.values():
        out.setdefault(node, []).append(command)
    return {k: sorted(v) for k, v in sorted(out.items())}


def gather_manifests(root: Path, table) -> list[tuple[str, tuple[str, ...], tuple[tuple[str, ...], ...]]]:
    """Every ``_gather/<input>.txt`` under ``root``: (consumer node, its command, member commands in order).

    A member is named by the command of the job whose folder holds the listed
    path, so the two tools' manifests compare without their ids.
    """
    out = []
    for manifest in sorted(root.glob("*/*_id_*/_gather/*.txt")):
        members = []
        for line in manifest.read_text().splitlines():
            path = Path(line) if Path(line).is_absolute() else root.parent / line
            folder = path.resolve().parent
            while folder not in table and folder != folder.parent:
                folder = folder.parent
            members.append(table[folder][1] if folder in table else (line,))
        node, command = table[manifest.parent.parent.resolve()]
        out.append((node, command, tuple(members)))
    return sorted(out)


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def kwdagger_printed_commands(text: str, root: Path) -> dict[str, list[tuple[str, ...]]]:
    """node -> sorted normalized commands of ``kwdagger schedule --run=0 --print-commands``'s listing.

    Each job is printed as ``### Command i / N - <process_id>`` followed by
    ``(test -e OUT || \\`` ... ``) 2>&1 | tee LOG`` (the serial backend).
    """
    found: dict[str, list] = {}
    lines = _ANSI.sub("", text).splitlines()
    for i, line in enumerate(lines):
        head = re.match(r"^### Command \d+ / \d+ - (\S+)_id_\w+$", line)
        if not head:
            continue
        body = []
        for nxt in lines[i + 1:]:
            if nxt.startswith("#") or not nxt.strip():
                break
            body.append(nxt)
        command = "\n".join(body).strip()
        command = re.sub(r"\)\s*2>&1\s*\|\s*tee\s+\S+$", "", command).lstrip("(")
        if command.startswith("test -e "):
            command = command.split("|| \\\n", 1)[1]
        found.setdefault(head[1], []).append(norm_command(command, root))
    return {k: sorted(v) for k, v in sorted(found.items())}


def trackdag_printed_commands(text: str, root: Path) -> dict[str, list[tuple[str, ...]]]:
    """node -> sorted normalized commands of ``trackdag schedule --run=0 --print-commands``'s listing
    (``# <node>/<folder>`` then ``cd <folder> && <command>``)."""
    found: dict[str, list] = {}
    for block in re.split(r"\n(?=# \S+/\S+_id_\w+\n)", text):
        head = re.match(r"# (\S+)/\S+_id_\w+\ncd \S+ && (.*)", block, re.S)
        if head:
            command = head[2].split("\n\n", 1)[0]
            found.setdefault(head[1], []).append(norm_command(command, root))
    return {k: sorted(v) for k, v in sorted(found.items())}


if __name__ == "__main__":
    # `make test` builds the venv before the suite, so the suite's own time is the tests' (a fresh
    # machine spends about a minute in pip here); in the suite, the fixture then finds it made.
    try:
        print(f"KWDagger test venv: {_kwd().venv}")
    except BaseException as exc:  # pytest.skip / pytest.fail, outside pytest
        print(f"KWDagger test venv: {exc}", file=sys.stderr)
        sys.exit(1 if os.environ.get("TRACKDAG_REQUIRE_KWDAGGER") == "1" else 0)
