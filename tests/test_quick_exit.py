"""The installed command ends a dry run with os._exit, its report whole; nothing else does (trackdag.quick_exit)."""
import gc
import json
import subprocess
import sys

from click.testing import CliRunner

from trackdag.cli import main

PIPE = "trackdag.compat.kwdagger.demo.demodata.my_demo_pipeline()"
# the command as its own process, with an atexit hook that says whether Python's normal exit ran
COMMAND = ("import atexit, sys; atexit.register(lambda: print('normal exit', file=sys.stderr)); "
           "from trackdag.cli import entry; sys.argv = ['trackdag'] + sys.argv[1:]; entry()")


def _params(tmp_path, n=50):
    (tmp_path / "a.txt").write_text("a\n")
    path = tmp_path / "params.json"
    path.write_text(json.dumps({"pipeline": PIPE, "matrix": {"stage1_predict.src_fpath": [str(tmp_path / "a.txt")],
                                                              "stage1_predict.param1": list(range(n))}}))
    return path


def _command(*args, cwd):
    return subprocess.run([sys.executable, "-c", COMMAND, *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=120)


def test_a_dry_run_ends_quickly_with_its_whole_report(tmp_path):
    params = _params(tmp_path)
    done = _command("run", "--dry-run", "--params", params, "--root", tmp_path / "out", "--all-commands",
                    cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "normal exit" not in done.stderr  # os._exit: no atexit hooks, no freeing one object at a time
    out = done.stdout.splitlines()
    assert out[0] == "rows: 50" and out[2].startswith("would run: 100")
    assert sum(line.startswith("cd ") for line in out) == 100  # every command printed, the last one too
    assert not (tmp_path / "out").exists()


def test_a_dry_run_that_would_fail_still_says_why_and_exits_2(tmp_path):
    params = _params(tmp_path)
    (tmp_path / "file").write_text("")
    done = _command("run", "--dry-run", "--params", params, "--root", tmp_path / "file" / "out", cwd=tmp_path)
    assert done.returncode == 2
    assert "normal exit" not in done.stderr
    assert "Error: the run would fail" in done.stderr and "rows: 50" in done.stdout


def test_other_commands_and_bad_input_exit_the_normal_way(tmp_path):
    done = _command("--version", cwd=tmp_path)
    assert done.returncode == 0 and "normal exit" in done.stderr
    done = _command("run", "--dry-run", "--params", "nope: [", cwd=tmp_path)  # fails before it plans
    assert done.returncode == 2 and "normal exit" in done.stderr and "Traceback" not in done.stderr


def test_under_clicks_runner_nothing_is_frozen(tmp_path):
    """A notebook's or a test's process is not the command's own: the collector keeps seeing everything."""
    params = _params(tmp_path, n=3)
    result = CliRunner().invoke(main, ["run", "--dry-run", "--params", str(params), "--root", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    assert gc.get_freeze_count() == 0
