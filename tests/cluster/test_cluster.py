"""A real two-node Ray cluster on this machine: `trackdag run --ray-address` spreads jobs over both.

The cluster is started with `ray start` (a head and a second worker node, each
in its own session) and stopped by killing those sessions: never `ray stop`,
which would kill every Ray on the machine.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import duckdb
import pytest

from conftest import SCENARIOS

RAY = str(Path(sys.executable).parent / "ray")
ENV = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(args):
    proc = subprocess.Popen([RAY, "start", *args, "--disable-usage-stats"], env=ENV, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    return proc.pid  # its session holds the node's daemons


@pytest.fixture(scope="module")
def cluster():
    port = _free_port()
    temp = f"/tmp/tdrc-{uuid.uuid4().hex[:6]}"
    sessions = []
    try:
        sessions.append(_start(["--head", "--node-ip-address=127.0.0.1", f"--port={port}", "--num-cpus=1",
                                "--include-dashboard=false", f"--temp-dir={temp}"]))
        sessions.append(_start([f"--address=127.0.0.1:{port}", "--node-ip-address=127.0.0.1", "--num-cpus=1"]))
        yield f"127.0.0.1:{port}"
    finally:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for sid in sessions:
                for pid in os.listdir("/proc"):
                    if pid.isdigit():
                        try:
                            if os.getsid(int(pid)) == sid:
                                os.kill(int(pid), sig)
                        except (ProcessLookupError, PermissionError):
                            pass
            time.sleep(2)


def test_jobs_run_on_both_nodes(tmp_path, cluster):
    root = tmp_path / "out"
    params = tmp_path / "params.yaml"
    params.write_text(json.dumps({"job.i": [1, 2, 3, 4], "job.sleep": 1.5}))
    pipe = f"{SCENARIOS / 'pipelines' / 'two_stage.py'}::sleeper()"
    out = subprocess.run([sys.executable, "-m", "trackdag", "run", "--params", str(params), "--pipeline", pipe,
                          "--root", str(root), "--ray-address", cluster, "--workers", "2"],
                         capture_output=True, text=True, env=ENV, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "done: 4" in out.stdout
    con = duckdb.connect(str(root / "catalog.duckdb"), read_only=True)
    nodes = con.execute("SELECT count(DISTINCT node_id), count(*) FROM attempts WHERE status = 'done'").fetchone()
    backend = con.execute("SELECT backend FROM runs").fetchone()[0]
    con.close()
    assert nodes == (2, 4)  # each node has 1 CPU and jobs ask for 1: both nodes took work
    assert backend == "ray"


def test_a_file_pipelines_load_result_runs_on_the_cluster(tmp_path, cluster):
    root = tmp_path / "out"
    out = subprocess.run([sys.executable, "-m", "trackdag", "run", "--params", '{"score.p": [1, 2, 3]}',
                          "--pipeline", f"{SCENARIOS / 'pipelines' / 'scored.py'}::scored()", "--root", str(root),
                          "--ray-address", cluster, "--workers", "2"], capture_output=True, text=True, env=ENV,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    con = duckdb.connect(str(root / "catalog.duckdb"), read_only=True)
    assert con.execute("SELECT result_status, count(*) FROM jobs GROUP BY ALL").fetchall() == [("ok", 3)]
    con.close()
