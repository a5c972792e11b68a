"""`trackdag schedule` / `trackdag aggregate` as KWDagger users type them: the messages they get."""
import subprocess
import sys

PIPE = "trackdag.compat.kwdagger.demo.demodata.my_demo_pipeline()"


def trackdag(*args, cwd):
    return subprocess.run([sys.executable, "-m", "trackdag", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def test_aggregate_of_a_target_nothing_was_scheduled_into(tmp_path):
    done = trackdag("aggregate", "--target", "results", f"--pipeline={PIPE}", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr == ("Error: target results does not exist: nothing was scheduled there yet "
                           "(`trackdag schedule --root_dpath=... --run=1` writes it)\n")
    (tmp_path / "kwd_tree").mkdir()
    done = trackdag("aggregate", "kwd_tree", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr == ("Error: kwd_tree has no trackdag catalog: for a tree KWDagger wrote, run "
                           "`trackdag import kwd_tree --pipeline REF` first\n")


def test_print_commands_with_run_says_where_the_commands_are(tmp_path):
    (tmp_path / "a.txt").write_text("data1")
    params = f"{{pipeline: '{PIPE}', matrix: {{stage1_predict.src_fpath: [a.txt], stage1_predict.param1: [1]}}}}"
    done = trackdag("schedule", f"--params={params}", "--root_dpath=out", "--backend=serial", "--run=1",
                    "--print-commands", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert ("note: --print_commands with --run=1: each job's command is in its invoke.sh (`trackdag show JOB`); "
            "--run=0 --print_commands prints them all\n") in done.stderr
    assert "done: 2" in done.stdout
    dry = trackdag("schedule", f"--params={params}", "--root_dpath=out2", "--backend=serial", "--run=0",
                   "--print-commands", cwd=tmp_path)
    assert dry.returncode == 0 and "--print_commands with --run=1" not in dry.stderr
    assert dry.stdout.count("# stage1_") == 2
