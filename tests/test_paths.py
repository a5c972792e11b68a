"""Bad places to write (issue 8.5): one Error line naming the path, exit 2, nothing left behind."""
import os
import sys

import pytest
from click.testing import CliRunner

from trackdag.cli import main
from trackdag.paths import PathError, check_dir, check_file, make_dir

PARAMS = "a.n: [1, 2]"


@pytest.fixture
def pipe(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("nodes: {a: {executable: echo, out_paths: {o: '.'}, algo_params: {n: 1}}}\n")
    return str(path)


def _run(*args):
    res = CliRunner().invoke(main, list(args))
    return res.exit_code, res.output


def _one_error_line(output, *names):
    errors = [line for line in output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "Traceback" not in output, output
    for name in names:
        assert str(name) in errors[0], (name, errors[0])
    return errors[0]


def _listing(folder):
    return sorted(os.listdir(folder))


def test_check_and_make_dir(tmp_path, readonly_dir):
    check_dir(tmp_path / "new" / "deeper", "--root")
    make_dir(tmp_path / "new" / "deeper", "--root")
    assert (tmp_path / "new" / "deeper").is_dir()
    (tmp_path / "file").write_text("x")
    for bad in (tmp_path / "file", tmp_path / "file" / "sub", readonly_dir / "out", "/proc/trackdag-x"):
        with pytest.raises(PathError):
            check_dir(bad, "--root")
        with pytest.raises(PathError):
            make_dir(bad, "--root")
    with pytest.raises(PathError, match="is a folder"):
        check_file(tmp_path, "--catalog")
    check_file(tmp_path / "new" / "c.duckdb", "--catalog")
    assert _listing(readonly_dir) == [] and _listing(tmp_path / "new") == ["deeper"]  # probes leave nothing


@pytest.mark.parametrize("where", ["readonly", "proc", "under_a_file"])
def test_run_with_a_bad_root(tmp_path, pipe, readonly_dir, where):
    (tmp_path / "afile").write_text("x")
    root = {"readonly": readonly_dir / "out", "proc": "/proc/trackdag-out",
            "under_a_file": tmp_path / "afile" / "out"}[where]
    code, output = _run("run", "--params", PARAMS, "--pipeline", pipe, "--root", str(root), "--backend", "local")
    assert code == 2
    _one_error_line(output, root)
    assert not os.path.exists(root)
    code, output = _run("run", "--params", PARAMS, "--pipeline", pipe, "--root", str(root), "--dry-run")
    assert code == 2 and "would run: 2" in output  # the plan, then why the run would fail
    assert _one_error_line(output, root).startswith("Error: the run would fail: --root")
    assert _listing(readonly_dir) == []


def test_an_unwritable_catalog_leaves_no_lock_and_no_root(tmp_path, pipe, readonly_dir):
    for catalog in ("/proc/trackdag.duckdb", readonly_dir / "c.duckdb"):
        root = tmp_path / "out"
        code, output = _run("run", "--params", PARAMS, "--pipeline", pipe, "--root", str(root), "--catalog",
                            str(catalog), "--backend", "local")
        assert code == 2
        _one_error_line(output, catalog)
        assert not root.exists()
    root.mkdir()
    code, _ = _run("run", "--params", PARAMS, "--pipeline", pipe, "--root", str(root), "--catalog",
                   str(readonly_dir / "c.duckdb"), "--backend", "local")
    assert code == 2 and _listing(root) == []  # no .trackdag.lock


def test_readers_with_a_bad_root_or_target(tmp_path, pipe, readonly_dir):
    out = tmp_path / "exported"
    code, output = _run("export", "--root", str(tmp_path / "nowhere"), "--out", str(out))
    assert code == 2 and not out.exists()
    _one_error_line(output, tmp_path / "nowhere")
    root = tmp_path / "ok"
    assert _run("run", "--params", PARAMS, "--pipeline", pipe, "--root", str(root), "--backend", "local")[0] == 0
    for args, target in ((["export", "--out", str(readonly_dir / "x")], readonly_dir / "x"),
                         (["sql", "SELECT 1", "--format", "csv", "--out", "/proc/x.csv"], "/proc/x.csv"),
                         (["report", "--html", str(readonly_dir / "r.html")], readonly_dir / "r.html"),
                         (["plot", "--out", "/proc/charts"], "/proc/charts")):
        code, output = _run(*args, "--root", str(root))
        assert code == 2, (args, output)
        _one_error_line(output, target)
    assert _listing(readonly_dir) == []


def test_a_bad_root_from_a_real_shell(tmp_path, pipe):
    import subprocess

    res = subprocess.run([sys.executable, "-m", "trackdag.cli", "run", "--params", PARAMS, "--pipeline", pipe,
                          "--root", "/proc/trackdag-out"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and res.stderr.startswith("Error: --root")
