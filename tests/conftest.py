"""Shared fixtures: a real tool program and small real pipelines."""
from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import duckdb
import pytest

from trackdag.node import ProcessNode
from trackdag.pipeline import Pipeline

SCENARIOS = Path(__file__).parent / "scenarios"
TOOL = f"{shlex.quote(sys.executable)} {shlex.quote(str(SCENARIOS / 'tool.py'))}"


def two_stage() -> Pipeline:
    """predict(src, p, fail, workers) -> evaluate(pred, true=src forwarded, thresh)."""
    predict = ProcessNode(
        name="predict", executable=TOOL, in_paths={"src"},
        out_paths={"out_pred": "pred.json"}, algo_params={"p": 1, "fail": False},
        perf_params={"workers": 0},
    )
    evaluate = ProcessNode(
        name="evaluate", executable=TOOL, in_paths={"pred", "true"},
        out_paths={"out_eval": "eval.json"}, algo_params={"thresh": 0.5, "fail": False},
        perf_params={"workers": 0},
    )
    predict.outputs["out_pred"].connect(evaluate.inputs["pred"])
    predict.inputs["src"].connect(evaluate.inputs["true"])
    return Pipeline([predict, evaluate])


@pytest.fixture
def pipeline() -> Pipeline:
    return two_stage()


@pytest.fixture
def ledger(tmp_path, monkeypatch) -> Path:
    """A file that every real execution of tool.py appends one line to."""
    path = tmp_path / "ledger.txt"
    path.touch()
    monkeypatch.setenv("TRACKDAG_TEST_LEDGER", str(path))
    return path


@pytest.fixture
def src(tmp_path) -> Path:
    path = tmp_path / "data.txt"
    path.write_text("hello\n")
    return path


# scenario files are data for the tests, not test modules (tool.py runs on import)
collect_ignore_glob = ["scenarios/*", "kwdagger/cases/*"]  # pipeline sources, not tests


def single(name="job", resources=None, **algo) -> Pipeline:
    """One node running tool.py; its algo params are tool options (sleep, flaky, spawn...)."""
    node = ProcessNode(name=name, executable=TOOL, out_paths={"out": "out.json"},
                       algo_params={"i": 0, **algo}, resources=resources or {})
    return Pipeline([node])


def score_catalog(folder, formula: str, values=(1, 2, 3)):
    """Run a one-node 'score' pipeline whose program writes ``formula`` (Python, of p) to out.json.

    ``formula`` maps to the JSON written, e.g. '{"score": p * 2}'. Returns the root.
    """
    from trackdag.sweep import run

    tool = folder / "score_tool.py"
    tool.write_text("import json, sys\n"
                    "args = dict(a[2:].split('=', 1) for a in sys.argv[1:])\n"
                    "p = float(args['p'])\n"
                    f"json.dump({formula}, open(args['out'], 'w'))\n")
    node = ProcessNode(name="score", executable=f"{shlex.quote(sys.executable)} {shlex.quote(str(tool))}",
                       out_paths={"out": "out.json"}, algo_params={"p": 0})
    res = run({"score.p": list(values)}, pipeline=Pipeline([node]), root=folder / "out", backend="local", workers=3)
    assert res.exit_code == 0
    return folder / "out"


DEMO = Path(__file__).resolve().parents[1] / "examples" / "demo"
DEMO_PARAMS = """
    pipeline: 'example_user_module.pipelines.my_demo_pipeline()'
    matrix:
        stage1_predict.src_fpath: [README.rst, run_pipeline.sh]
        stage1_predict.param1: [123, 456, 32, 33]
        stage1_evaluate.workers: 4
"""


def run_demo(folder: Path, workers: int = 2) -> Path:
    """The demo pipeline run for real (local backend) in a copy of examples/demo; returns its root."""
    from trackdag.sweep import run

    shutil.copytree(DEMO, folder, ignore=shutil.ignore_patterns("pipeline_output", "__pycache__"))
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(folder)  # the pipeline module is found in the current directory, as in the README
        res = run(DEMO_PARAMS, root=folder / "pipeline_output", backend="local", workers=workers,
                  cwd=str(folder))
    assert res.exit_code == 0
    return folder / "pipeline_output"


LABEL_TOOL = """
import json, sys
args = dict(a[2:].split("=", 1) for a in sys.argv[1:])
x = float(args["x"])
if args["x"] == args["fail_at"]:
    print("tool: <img src=x onerror=alert(2)> failing on purpose", file=sys.stderr)
    sys.exit(1)
json.dump({"score": x / 10 + len(args["label"]) / 100, "<i>odd</i>": x}, open(args["out"], "w"))
"""


def label_pipeline(folder: Path):
    """One node 'ev' (params: label, a string; x, a number; fail_at) scored from its params."""
    tool = folder / "label_tool.py"
    tool.write_text(LABEL_TOOL)
    node = ProcessNode(name="ev", executable=f"{shlex.quote(sys.executable)} {shlex.quote(str(tool))}",
                       out_paths={"out": "out.json"}, algo_params={"label": "", "x": 0, "fail_at": "none"},
                       default_metrics=[{"metric": "score", "objective": "maximize", "primary": True,
                                         "display": True}])
    return Pipeline([node])


def label_catalog(folder: Path, labels, xs, fail_at="none") -> Path:
    """A finished sweep of ``label_pipeline`` over labels x xs (jobs with x == fail_at fail)."""
    from trackdag.sweep import run

    run({"ev.label": list(labels), "ev.x": list(xs), "ev.fail_at": fail_at}, pipeline=label_pipeline(folder),
        root=folder / "out", backend="local", workers=2)
    return folder / "out"


RAY_TEMP = "/tmp/tdray-tests"


@pytest.fixture(scope="session")
def ray_session():
    """One real local Ray for the whole session (start-up costs ~5 s): 2 CPUs,
    2 declared GPUs and one custom resource, so resource requests can be tested
    on a machine without GPUs. RayExecutor reuses it and leaves it running."""
    import logging
    import os

    for key, value in {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0",
                       "RAY_IGNORE_UNHANDLED_ERRORS": "1"}.items():
        os.environ.setdefault(key, value)
    import ray

    os.makedirs(RAY_TEMP, exist_ok=True)
    ray.init(address="local", num_cpus=2, num_gpus=2, resources={"special": 1}, include_dashboard=False,
             log_to_driver=False, logging_level=logging.ERROR, _node_ip_address="127.0.0.1", _temp_dir=RAY_TEMP)
    yield ray
    ray.shutdown()


@pytest.fixture
def readonly_dir(tmp_path):
    """A folder nobody can write in: a read-only tmpfs as root (root ignores permissions), mode 555 otherwise."""
    import os
    import subprocess

    folder = tmp_path / "ro"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a read-only tmpfs here (root without CAP_SYS_ADMIN)")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


# -- real driver processes (lifecycle and fault tests) ------------------------------------
SLEEPER = f"{SCENARIOS / 'pipelines' / 'two_stage.py'}::sleeper()"


def driver(tmp_path, params, backend, *extra, ledger=None, env_extra=None):
    params_file = tmp_path / f"params-{uuid.uuid4().hex[:6]}.yaml"
    params_file.write_text(json.dumps(params))
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
    if ledger:
        env["TRACKDAG_TEST_LEDGER"] = str(ledger)
    env.update(env_extra or {})
    cmd = [sys.executable, "-m", "trackdag", "run", "--params", str(params_file), "--pipeline", SLEEPER,
           "--root", str(tmp_path / "out"), "--backend", backend, "--workers", "2", *extra]
    # Its own session, like a shell job: a terminal's Ctrl-C reaches the whole group.
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)


def wait_for(predicate, timeout=90, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def running_markers(root):
    return sorted(Path(root).glob("job/*/.running"))


def procs_with(token):
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if token.encode() in cmd:
            found.append(int(pid))
    return found


def descendants(pid):
    kids = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            kids.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry))
    out, stack = [], [pid]
    while stack:
        for child in kids.get(stack.pop(), []):
            out.append(child)
            stack.append(child)
    return out


def alive(pid):
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def spawned_jobs(token):
    """How many jobs run with their ``--spawn=TOKEN`` child up: the children are named TOKEN.

    (Each such job is two processes with the token in their command line, its own and its
    child's; counting those would take one job for two.)
    """
    return len([pid for pid in procs_with(token) if cmdline(pid).startswith(token)])


def cmdline(pid):
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def cwd_of(pid):
    try:
        return os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return ""


def job_counts(root):
    con = duckdb.connect(str(Path(root) / "catalog.duckdb"), read_only=True)
    try:
        return dict(con.execute("SELECT status, count(*) FROM jobs GROUP BY status").fetchall())
    finally:
        con.close()




# -- small file systems the fault tests can fill up or make read-only ---------------------------
class Tmpfs:
    """A tmpfs mounted at ``path`` (root only): ``remount('ro')``, ``remount('rw')``, ``remount('size=64m')``."""

    def __init__(self, path, size):
        self.path = path
        path.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}): the disk fault tests need root")

    def remount(self, options):
        subprocess.run(["mount", "-o", f"remount,{options}", str(self.path)], check=True)

    def unmount(self):
        subprocess.run(["umount", "-l", str(self.path)], capture_output=True)


@pytest.fixture
def tmpfs(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("the disk fault tests mount a tmpfs: they need root")
    mounts = []

    def make(size="64m"):
        fs = Tmpfs(tmp_path / f"fs{len(mounts)}", size)
        mounts.append(fs)
        return fs

    yield make
    for fs in mounts:
        fs.unmount()
