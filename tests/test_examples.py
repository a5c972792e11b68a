"""examples/yaml_pipeline runs as its README says, from its folder and from elsewhere (issue 8.10)."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from trackdag.plan import absolute_programs

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "yaml_pipeline"


def _env():
    # `python train.py` must find this interpreter first, as in an activated venv
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}


def _trackdag(args, cwd):
    res = subprocess.run([sys.executable, "-m", "trackdag.cli", *args], cwd=cwd, env=_env(), capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 0 and "Traceback" not in res.stderr, res.stdout + res.stderr
    return res.stdout


@pytest.fixture
def example(tmp_path):
    return Path(shutil.copytree(EXAMPLE, tmp_path / "yaml_pipeline", ignore=shutil.ignore_patterns("out")))


def test_the_yaml_example_from_its_folder(example):
    out = _trackdag(["run", "--params", "params.yaml", "--root", "out", "--backend", "local"], example)
    assert "done: 12" in out
    report = json.loads(_trackdag(["report", "--root", "out", "--format", "json"], example))
    (node,) = report["nodes"]
    assert node["node"] == "evaluate" and node["n_rows"] == 6
    assert [m["metric"] for m in node["ranking"]] == ["accuracy"] and node["display"] == ["accuracy", "loss"]
    assert {r["params"]["params.train.lr"] for r in node["rows"]} == {0.001, 0.01, 0.1}


def test_the_yaml_example_from_another_folder_and_invoke_sh_from_anywhere(example, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    _trackdag(["run", "--params", str(example / "params.yaml"), "--root", "out", "--backend", "local"], elsewhere)
    folder = next((elsewhere / "out" / "evaluate").iterdir())
    invoke = (folder / "invoke.sh").read_text()
    assert f"python {example / 'evaluate.py'}" in invoke  # the relative program path, made absolute
    (folder / "metrics.json").unlink()
    subprocess.run(["bash", str(folder / "invoke.sh")], cwd="/", env=_env(), check=True, timeout=60)
    assert json.loads((folder / "metrics.json").read_text())["loss"] >= 0


def test_relative_programs_resolve_from_the_launch_directory_then_the_pipeline_folder(tmp_path):
    launch, source = tmp_path / "launch", tmp_path / "source"
    for folder in (launch, source, source / "bin"):
        folder.mkdir()
    (launch / "train.py").write_text("")
    (source / "train.py").write_text("")
    (source / "bin" / "eval.sh").write_text("")
    bases = [str(launch), str(source)]
    assert absolute_programs("python train.py --x=1", bases) == f"python {launch}/train.py --x=1"
    assert absolute_programs("bash bin/eval.sh | tee log.txt", bases) == f"bash {source}/bin/eval.sh | tee log.txt"
    for kept in ("python -m pkg.mod", "python missing.py", "A=1 prog 'train.py'", "/usr/bin/env python"):
        assert absolute_programs(kept, bases) == kept
