"""shellwords: which commands invoke.sh may exec, and which the runner starts itself, with bash's words."""
import json
import os
import shlex
import subprocess
import sys

from hypothesis import example, given, settings, strategies as st

from trackdag import Pipeline, ProcessNode
from trackdag.commands import render_command
from trackdag.execute.base import JobSpec
from trackdag.execute import runner
from trackdag.execute.runner import program_path, run_job
from trackdag.execute.scheduler import job_spec
from trackdag.layout import INVOKE
from trackdag.plan import plan
from trackdag.shellwords import _simple_plain, _simple_shlex, direct_argv, simple_command
from trackdag.sweep import run

# -- simple_command: the plain-words fast path says what shlex says ----------------------------------

_WORD = st.text(alphabet="ab=/-.x'\"\\;|&<>()#$ \t\n", min_size=0, max_size=12) | st.just("\\\n")


@settings(max_examples=1500, deadline=None)
@given(st.lists(_WORD, min_size=0, max_size=5).map(" ".join))
@example(" \\\n '='")  # a continuation before a quoted first word (found in 60,000 examples)
def test_the_fast_path_agrees_with_shlex_on_any_text(command):
    fast = _simple_plain(command)
    assert fast is None or fast == _simple_shlex(command), command
    assert simple_command(command) == _simple_shlex(command)


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(["python -m pkg.mod", "/abs/prog", "A=1 prog", "echo", "cd", "prog | tee", "sh -c 'x' sh"]),
       st.lists(st.tuples(st.sampled_from(["x", "out", "a_b"]), st.text(max_size=8)), max_size=4), st.booleans())
def test_rendered_commands_take_the_fast_path_and_agree(executable, args, multiline):
    command = render_command(executable, args, multiline=multiline)
    assert simple_command(command) == _simple_shlex(command), command
    if "|" not in executable and "'" not in executable and not any("'" in v for _, v in args):
        assert _simple_plain(command) is not None, command  # what a plan renders takes the fast path


# -- direct_argv: what bash would exec, when it would only split and unquote -------------------------

_PIECE = st.sampled_from(["prog", "a", "--x=1", "-", "/p/q.py", "'a b'", "''", "'$HOME'", "'\"'", "it'\"'s", "\\\n",
                          " ", "  ", "\t", "$HOME", "*", "~", "{a,b}", "\"x\"", "a\\ b", ";", "|", "#c", "`id`",
                          "A=1", "%@+:,.", "cd", "x'y'z", "é"])


def _bash_words(command: str) -> list[str]:
    """The words bash itself makes of ``command`` (as ``set --`` arguments), NUL-separated."""
    out = subprocess.run(["bash", "-c", f"set -- {command}\nprintf '%s\\0' \"$@\""], capture_output=True, check=True)
    return out.stdout.decode().split("\0")[:-1]


@settings(max_examples=300, deadline=None)
@given(st.lists(_PIECE, min_size=1, max_size=7).map("".join))
def test_direct_words_are_the_words_bash_would_exec(command):
    words = direct_argv(command)
    if words is None:
        return
    assert simple_command(command), command  # only what invoke.sh would exec
    assert list(words) == _bash_words(command), command  # (shlex keeps an escaped newline; bash drops it)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["python -m pkg.mod", "/abs/prog", "sh -c 'echo \"$1\" > \"$2\"' sh"]),
       st.lists(st.tuples(st.sampled_from(["x", "out", "a_b"]), st.text(max_size=8)), max_size=4), st.booleans())
def test_rendered_commands_start_directly_unless_a_value_needs_the_shell(executable, args, multiline):
    command = render_command(executable, args, multiline=multiline)
    words = direct_argv(command)
    if words is not None:
        assert list(words) == _bash_words(command), command
    if all(v and set(v) <= set("abcxyz019=-_./") for _, v in args):
        assert words is not None, command  # plain values: the usual plan command starts directly


def test_what_needs_the_shell_goes_through_bash():
    for command in ["echo $HOME", "prog *.txt", "prog ~/x", "prog {a,b}", 'prog "x"', "prog a\\ b", "prog | tee log",
                    "A=1 prog", "cd /tmp", "prog; other", "prog `id`", "prog # note", "prog\nother", ""]:
        assert direct_argv(command) is None, command


# -- a job started directly sees what bash invoke.sh would have given it ----------------------------

SHOW = """import json, os, sys
args = dict(a[2:].split('=', 1) for a in sys.argv[1:] if a.startswith('--'))
seen = {"argv": sys.argv[1:], "cwd": os.getcwd(), "PWD": os.environ.get("PWD"),
        "PYTHONPATH": os.environ.get("PYTHONPATH"), "SHLVL": os.environ.get("SHLVL"), "_": os.environ.get("_"),
        "EXTRA": os.environ.get("TD_TEST_EXTRA")}
with open(args.get("out", "by_hand.json"), "w") as fh:
    json.dump(seen, fh)
"""


def _show_pipeline(tmp_path, executable_tail=""):
    prog = tmp_path / "show.py"
    prog.write_text(SHOW)
    node = ProcessNode(name="show", executable=f"{shlex.quote(sys.executable)} {prog}{executable_tail}",
                       out_paths={"out": "seen.json"}, algo_params={"word": "w", "spaced": "a b"})
    pipe = Pipeline([node])
    pipe.import_dir = str(tmp_path / "lib dir")  # as a pipeline loaded from a file has: invoke.sh exports it
    return pipe


def test_a_direct_job_sees_what_bash_invoke_sh_gives_it(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", "/before")
    monkeypatch.setenv("SHLVL", "7")
    monkeypatch.setenv("_", "the driver's")
    monkeypatch.setenv("TD_TEST_EXTRA", "x")
    res = run({"show.word": ["w1"]}, pipeline=_show_pipeline(tmp_path), root=tmp_path / "out", backend="local")
    assert res.exit_code == 0
    (job,) = res.plan.jobs.values()
    seen = json.loads(open(job.outputs["out"]).read())
    # invoke.sh run by hand, from elsewhere, with the same environment
    by_hand = dict(os.environ, PWD=str(tmp_path))
    subprocess.run(["bash", os.path.join(job.folder, INVOKE)], cwd=tmp_path, env=by_hand, check=True)
    again = json.loads(open(job.outputs["out"]).read())
    assert seen == again and seen["SHLVL"] == "7" and seen["_"] is None  # (bash's exec gives back its SHLVL, drops _)
    assert seen["cwd"] == seen["PWD"] == job.folder
    assert seen["PYTHONPATH"] == str(tmp_path / "lib dir") + ":/before" and seen["EXTRA"] == "x"
    assert sorted(seen["argv"]) == [f"--out={job.outputs['out']}", "--spaced=a b", "--word=w1"]
    assert job_spec(res.plan, job, 1).direct == (sys.executable, str(tmp_path / "show.py"), *seen["argv"])


def test_the_runner_starts_the_direct_words_and_falls_back_to_invoke_sh(tmp_path):
    def ran(direct):
        folder = tmp_path / str(len(list(tmp_path.iterdir())))
        folder.mkdir()
        spec = JobSpec("id1", "n", str(folder), ("sh", "-c", "echo bash > out.txt"), {"out": str(folder / "out.txt")},
                       {}, 1, direct=direct)
        assert run_job(spec).status == "done"
        return (folder / "out.txt").read_text()

    assert ran(("sh", "-c", "echo direct > out.txt")) == "direct\n"
    assert ran((str(tmp_path / "no-such-program"),)) == "bash\n"  # could not start: the bash way says why
    assert ran(None) == "bash\n"


def test_a_direct_program_is_found_on_path_as_exec_finds_it_and_looked_up_again(tmp_path, monkeypatch):
    def program(folder, says, executable=True):
        folder.mkdir(exist_ok=True)
        path = folder / "prog"
        path.write_text(f"#!/bin/sh\necho {says} > out.txt\n")
        path.chmod(0o755 if executable else 0o644)
        return path

    program(tmp_path / "a", "not-executable", executable=False)  # skipped, as execve's EACCES is
    b = program(tmp_path / "b", "b")
    search = f"{tmp_path / 'a'}:{tmp_path / 'b'}:{os.environ['PATH']}"

    def ran(path=search):
        folder = tmp_path / f"job{len(list(tmp_path.glob('job*')))}"
        folder.mkdir()
        spec = JobSpec("id1", "n", str(folder), ("sh", "-c", "echo bash > out.txt"), {"out": str(folder / "out.txt")},
                       {}, 1, env={"PATH": path}, direct=("prog",))
        assert run_job(spec).status == "done"
        return (folder / "out.txt").read_text().strip()

    monkeypatch.setattr(runner, "WHICH_SECONDS", 3600.0)  # (a slow test must not see the second go by)
    assert program_path("prog", {b"PATH": os.fsencode(search)}) == str(b)
    assert ran() == "b"
    program(tmp_path / "a", "a")  # installed first on PATH during the run: found once WHICH_SECONDS are over
    assert ran() == "b"
    monkeypatch.setattr(runner, "WHICH_SECONDS", 0.0)
    assert ran() == "a"
    monkeypatch.setattr(runner, "WHICH_SECONDS", 3600.0)
    (tmp_path / "a" / "prog").unlink()  # gone from where it was found: this job goes the bash way, the next looks again
    assert ran() == "bash" and ran() == "b"
    # no search of its own for a word with a slash, or when a relative PATH entry (the job's folder) comes first
    assert program_path("./prog", {b"PATH": os.fsencode(search)}) is None
    assert program_path("prog", {b"PATH": b"rel:" + os.fsencode(search)}) is None
    assert ran(path=f"rel:{search}") == "b"  # (subprocess searched)


def test_setup_and_teardown_keep_the_bash_way(tmp_path):
    node = ProcessNode(name="n", executable="touch", out_paths={"out": "o"}, algo_params={"i": 0}, setup="true")
    p = plan(Pipeline([node]), [{"n.i": 1}], tmp_path)
    (job,) = p.jobs.values()
    assert direct_argv(job.command) is not None and job_spec(p, job, 1).direct is None


def test_a_command_bash_must_expand_still_runs_through_bash(tmp_path, monkeypatch):
    monkeypatch.setenv("TD_TEST_EXTRA", "expanded")
    res = run({"show.word": ["w1"]}, pipeline=_show_pipeline(tmp_path, " --extra=$TD_TEST_EXTRA"),
              root=tmp_path / "out", backend="local")
    (job,) = res.plan.jobs.values()
    seen = json.loads(open(job.outputs["out"]).read())
    assert seen["argv"][0] == "--extra=expanded"
    assert job_spec(res.plan, job, 1).direct is None


def test_a_program_that_cannot_start_fails_as_bash_says(tmp_path):
    node = ProcessNode(name="gone", executable=str(tmp_path / "no-such-program"), out_paths={"out": "o"},
                       algo_params={"i": 0})
    res = run({"gone.i": [1]}, pipeline=Pipeline([node]), root=tmp_path / "out", backend="local")
    (job,) = res.plan.jobs.values()
    assert res.exit_code != 0 and res.counts.failed == 1
    attempt = json.loads(open(os.path.join(job.folder, ".attempts", "1.json")).read())
    assert attempt["exit_code"] == 127  # bash's "not found", from invoke.sh
    assert "no-such-program" in open(os.path.join(job.folder, "stderr.log")).read()


def test_a_long_command_is_read_in_one_pass():
    # (with nested repeats the pattern would backtrack exponentially on a late bad character: this would hang)
    for tail in ("$", '"', "*"):
        assert direct_argv("a" * 100_000 + tail) is None
        assert direct_argv("a 'b' " * 20_000 + tail) is None
    assert len(direct_argv("a 'b' " * 20_000)) == 40_000
