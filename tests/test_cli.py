"""cli: wiring, output and exit codes (the behaviour itself is tested through the library)."""
import subprocess
import sys
import textwrap
from pathlib import Path

from click.testing import CliRunner

from conftest import SCENARIOS
from trackdag.cli import main

PIPE = f"{SCENARIOS / 'pipelines' / 'two_stage.py'}::make()"


def _invoke(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def _params(src, *extra):
    return "\n".join([f"pipeline: '{PIPE}'", "matrix:", f"  predict.src: {src}", "  predict.p: [1, 2]", *extra])


def test_help_is_light():
    code = textwrap.dedent("""
        import sys
        from trackdag.cli import main
        try:
            main(["--help"])
        except SystemExit:
            pass
        heavy = [m for m in ("ray", "altair", "pyarrow", "duckdb", "sqlmodel", "sqlalchemy") if m in sys.modules]
        print("HEAVY:", heavy)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "Usage:" in out and "HEAVY: []" in out


def test_console_script_and_python_m_both_work():
    script = Path(sys.executable).parent / "trackdag"
    for cmd in ([str(script), "--help"], [sys.executable, "-m", "trackdag", "--help"]):
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        assert "run" in out and "Usage:" in out


def test_run_summary_and_exit_zero(tmp_path, src):
    res = _invoke("run", "--params", _params(src), "--root", str(tmp_path / "out"), "--workers", "2",
                  "--backend", "local")
    assert res.exit_code == 0, res.output
    assert "4 jobs from 2 rows" in res.output
    assert "done: 4  already done: 0  failed: 0  skipped: 0" in res.output
    assert f"catalog: {tmp_path / 'out' / 'catalog.duckdb'}" in res.output
    again = _invoke("run", "--params", _params(src), "--root", str(tmp_path / "out"), "--backend", "local")
    assert "done: 0  already done: 4" in again.output


def test_failed_jobs_exit_one_and_name_their_logs(tmp_path, src):
    res = _invoke("run", "--params", _params(src, "  predict.fail: [true]"), "--root", str(tmp_path / "out"),
                  "--backend", "local")
    assert res.exit_code == 1
    assert "failed: 2" in res.output and "skipped: 2" in res.output
    assert "failed jobs:" in res.output and "exit code 3; log: " in res.output
    assert "stderr.log" in res.output


def test_params_file_and_bad_input_exit_two_with_one_line(tmp_path, src):
    good = tmp_path / "params.yaml"
    good.write_text(_params(src))
    res = _invoke("run", "--params", str(good), "--root", str(tmp_path / "out"), "--dry-run")
    assert res.exit_code == 0 and "jobs: 4" in res.output

    bad = tmp_path / "bad.yaml"
    bad.write_text(_params(src, "  predict.workrs: 3"))
    runner = CliRunner()
    res = runner.invoke(main, ["run", "--params", str(bad), "--root", str(tmp_path / "out2")])
    assert res.exit_code == 2
    assert res.output.count("\n") == 1 and res.output.startswith("Error: ")
    assert "declares no param 'workrs' (did you mean 'workers'?)" in res.output
    assert not (tmp_path / "out2").exists()

    res = runner.invoke(main, ["run", "--params", "matrix:\n  a.x: [1\n  b: 2\n", "--pipeline", PIPE])
    assert res.exit_code == 2 and "invalid YAML at line" in res.output and "Traceback" not in res.output


def test_dry_run_prints_plan_and_first_commands(tmp_path, src):
    res = _invoke("run", "--params", _params(src), "--root", str(tmp_path / "out"), "--dry-run", "--show-commands", "1")
    assert res.exit_code == 0
    assert "rows: 2" in res.output
    assert "jobs: 4 (predict: 2, evaluate: 2)" in res.output
    assert "would run: 4" in res.output
    assert res.output.count("\ncd ") == 1
    assert "... 3 more command(s); pass --all-commands" in res.output
    assert not (tmp_path / "out").exists()
    full = _invoke("run", "--params", _params(src), "--root", str(tmp_path / "out"), "--dry-run", "--all-commands")
    assert full.output.count("\ncd ") == 4


def test_unknown_pipeline_is_one_line(tmp_path):
    res = CliRunner().invoke(main, ["run", "--params", "a.x: 1", "--pipeline", "nope_pkg_zz.f()"])
    assert res.exit_code == 2 and "cannot import module 'nope_pkg_zz'" in res.output


def test_an_unreachable_ray_address_fails_at_once_in_one_line(tmp_path):
    import socket
    import subprocess
    import sys

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    pipe = tmp_path / "p.yaml"
    pipe.write_text("nodes: {a: {executable: echo, out_paths: {o: '.'}, algo_params: {n: 1}}}\n")
    res = subprocess.run([sys.executable, "-m", "trackdag.cli", "run", "--params", "a.n: 1", "--pipeline",
                          str(pipe), "--root", str(tmp_path / "out"), "--ray-address", f"127.0.0.1:{port}",
                          "--ray-timeout", "5"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 1
    assert res.stderr == (f"Error: cannot reach the Ray cluster at 127.0.0.1:{port}: connection refused; check the "
                          "address and port (`ray status` on the head node prints it; the default port is 6379), "
                          "that the head node runs `ray start --head`, and that no firewall is in the way\n")
    assert not (tmp_path / "out" / "a").exists()  # nothing was planned into folders
