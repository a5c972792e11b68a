"""Disk faults mid-run: read-only root, deleted or damaged catalog, full disk.

Each ends in one ``Error:`` line naming the file and what to do, a non-zero
exit and no traceback; the job folders stay intact, so a later run or
``trackdag reindex`` brings everything back (``trackdag verify`` agrees).
"""
import json
import os
import shlex
import subprocess
import sys

from pathlib import Path

from conftest import wait_for

WRITER = """
import sys
args = dict(a[2:].split("=", 1) for a in sys.argv[1:])
import time; time.sleep(float(args.get("sleep", 0)))
with open(args["out"], "wb") as fh:
    fh.write(b"x" * int(args["size"]))
"""


def _project(tmp_path):
    prog = tmp_path / "writer.py"
    prog.write_text(WRITER)
    pipe = tmp_path / "pipe.yaml"
    pipe.write_text(json.dumps({"nodes": {"w": {
        "executable": f"{shlex.quote(sys.executable)} {shlex.quote(str(prog))}",
        "out_paths": {"out": "out.bin"}, "algo_params": {"i": 0, "size": 1000, "sleep": 0.2}}}}))
    return str(pipe)


def _trackdag(*args, wait=True):
    cmd = [sys.executable, "-m", "trackdag.cli", *args]
    if not wait:
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600)


def _one_error(stderr, *words):
    assert "Traceback" not in stderr, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, stderr
    for word in words:
        assert word in errors[0], errors[0]
    return errors[0]


def _done(root):
    return len(list(root.glob("w/*/done.json")))


def _restored(root, pipe, params, n):
    """A clean run finishes the sweep; verify agrees; every job done once in the catalog."""
    res = _trackdag("run", "--params", params, "--pipeline", pipe, "--root", str(root), "--backend", "local")
    assert res.returncode == 0 and "Traceback" not in res.stderr, res.stdout + res.stderr
    res = _trackdag("verify", "--root", str(root))
    assert res.returncode == 0, res.stdout
    res = _trackdag("sql", "SELECT status, count(*) AS n FROM jobs GROUP BY ALL", "--root", str(root),
                    "--format", "json")
    assert json.loads(res.stdout) == [{"status": "done", "n": n}]


def _chmod_tree(base, writable):
    import stat

    bits = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH
    for folder, dirs, files in os.walk(base):
        for name in dirs + files + ["."]:
            path = os.path.join(folder, name)
            if not os.path.islink(path):
                mode = os.stat(path).st_mode
                os.chmod(path, (mode | stat.S_IWUSR) if writable else (mode & ~bits))


def test_a_root_made_unwritable_mid_run(tmp_path):
    """The root loses write permission mid-run (a mount cannot go read-only while the run holds files open).

    Root ignores permissions, so the driver then runs without the
    capabilities that let it (CAP_DAC_OVERRIDE); files the run already holds
    open stay writable, as they would on a remount.
    """
    root, pipe = tmp_path / "out", _project(tmp_path)
    prefix = []
    if os.geteuid() == 0:
        prefix = ["setpriv", "--inh-caps=-dac_override,-dac_read_search",
                  "--bounding-set=-dac_override,-dac_read_search"]
    params = json.dumps({"w.i": list(range(40))})
    run = prefix + [sys.executable, "-m", "trackdag.cli", "run", "--params", params, "--pipeline", pipe,
                    "--root", str(root), "--backend", "local", "--workers", "2"]
    proc = subprocess.Popen(run, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: _done(root) >= 5, what="five jobs done")
        _chmod_tree(root, writable=False)
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
        _chmod_tree(root, writable=True)
    assert proc.returncode not in (0, None), out + err
    _one_error(err, str(root))
    res = subprocess.run(run, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0 and "Traceback" not in res.stderr, res.stdout + res.stderr
    assert _trackdag("verify", "--root", str(root)).returncode == 0


def test_a_catalog_deleted_mid_run(tmp_path):
    root, pipe = tmp_path / "out", _project(tmp_path)
    params = json.dumps({"w.i": list(range(30))})
    proc = _trackdag("run", "--params", params, "--pipeline", pipe, "--root", str(root), "--backend", "local",
                     "--workers", "2", wait=False)
    wait_for(lambda: _done(root) >= 5, what="five jobs done")
    os.unlink(root / "catalog.duckdb")
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 1
    _one_error(err, str(root / "catalog.duckdb"), "trackdag reindex")
    assert _done(root) == 30  # the jobs went on
    res = _trackdag("reindex", "--root", str(root))
    assert res.returncode == 0, res.stderr
    _restored(root, pipe, params, 30)


def test_a_damaged_catalog(tmp_path):
    root, pipe = tmp_path / "out", _project(tmp_path)
    params = json.dumps({"w.i": list(range(30))})
    assert _trackdag("run", "--params", params, "--pipeline", pipe, "--root", str(root), "--backend",
                     "local").returncode == 0
    before = _trackdag("report", "--root", str(root), "--format", "json").stdout
    catalog = root / "catalog.duckdb"
    size = catalog.stat().st_size
    with open(catalog, "r+b") as fh:
        fh.seek(size // 4)
        fh.write(os.urandom(size // 2))
    for args in (["report"], ["sql", "SELECT * FROM results_w"], ["status"], ["export", "--out", str(tmp_path / "x")],
                 ["run", "--params", params, "--pipeline", pipe, "--backend", "local"]):
        res = _trackdag(*args, "--root", str(root))
        if res.returncode != 0:  # DuckDB checks a block when it reads it: untouched blocks still answer
            _one_error(res.stderr, str(catalog), "trackdag reindex")
    res = _trackdag("reindex", "--root", str(root))
    assert res.returncode == 0 and "moved" in res.stderr, res.stderr
    assert _trackdag("report", "--root", str(root), "--format", "json").stdout.replace(
        "", "") == before
    _restored(root, pipe, params, 30)


def test_a_full_disk(tmp_path, tmpfs):
    fs = tmpfs("6m")
    root, pipe = fs.path / "out", _project(tmp_path)
    params = json.dumps({"w.i": list(range(24)), "w.size": 400_000})  # 9.6 MB of outputs on a 6 MB disk
    res = _trackdag("run", "--params", params, "--pipeline", pipe, "--root", str(root), "--backend", "local",
                    "--workers", "2")
    assert res.returncode != 0
    assert "Traceback" not in res.stderr, res.stderr
    errors = [line for line in res.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) <= 1, res.stderr  # failed jobs are listed as failures; the catalog, if hit, in one line
    if not errors:
        assert "failed jobs:" in res.stdout
    fs.remount("size=64m")
    _restored(root, pipe, params, 24)


def test_two_gigabytes_of_stdout_are_capped(tmp_path):
    pipe = tmp_path / "loud.yaml"
    pipe.write_text(json.dumps({"nodes": {"loud": {
        "executable": "head -c 2000000000 /dev/zero && echo > o.txt && printf THE-END",
        "out_paths": {"o": "o.txt"}, "algo_params": {"i": 0}}}}))
    root = tmp_path / "out"
    res = _trackdag("run", "--params", "loud.i: 1", "--pipeline", str(pipe), "--root", str(root), "--backend",
                    "local", "--log-limit", "20000000")
    assert res.returncode == 0, res.stderr
    (log,) = root.glob("loud/*/stdout.log")
    assert log.stat().st_size <= 20_000_000 + 300
    with open(log, "rb") as fh:
        fh.seek(-7, os.SEEK_END)
        assert fh.read() == b"THE-END"
    assert not list(root.glob("loud/*/stdout.log.tail*"))
