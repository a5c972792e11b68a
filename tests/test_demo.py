"""The demo (examples/demo) runs end to end exactly as the README says."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb

DEMO = Path(__file__).resolve().parents[1] / "examples" / "demo"


def _run_demo(folder):
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(["bash", str(folder / "run_pipeline.sh")], capture_output=True, text=True, env=env)


def test_demo_end_to_end(tmp_path):
    folder = tmp_path / "demo"
    shutil.copytree(DEMO, folder, ignore=shutil.ignore_patterns("pipeline_output", "__pycache__"))
    first = _run_demo(folder)
    assert first.returncode == 0, first.stderr
    assert "done: 16  already done: 0  failed: 0" in first.stdout
    out = folder / "pipeline_output"
    predicts = sorted((out / "stage1_predict").glob("stage1_predict_id_*"))
    evaluates = sorted((out / "stage1_evaluate").glob("stage1_evaluate_id_*"))
    assert len(predicts) == 8 and len(evaluates) == 8
    for job in predicts + evaluates:
        for name in ("invoke.sh", "job_config.json", "done.json", "stdout.log", "stderr.log"):
            assert (job / name).is_file(), job / name
    assert all((j / "stage1_prediction.json").is_file() for j in predicts)
    assert all((j / "stage1_evaluation.json").is_file() for j in evaluates)
    assert all(len(list((j / ".pred" / "stage1_predict").iterdir())) == 1 for j in evaluates)
    configs = [json.loads((j / "job_config.json").read_text()) for j in evaluates]
    assert {c["requested"]["stage1_predict.param1"] for c in configs} == {123, 456, 32, 33}
    assert {c["requested"]["stage1_evaluate.workers"] for c in configs} == {4}

    con = duckdb.connect(str(out / "catalog.duckdb"), read_only=True)
    assert sorted(con.execute("SELECT node, status, count(*) FROM jobs GROUP BY ALL").fetchall()) == [
        ("stage1_evaluate", "done", 8), ("stage1_predict", "done", 8)]
    con.close()

    # The same command again executes nothing.
    second = _run_demo(folder)
    assert second.returncode == 0 and "done: 0  already done: 16" in second.stdout
    con = duckdb.connect(str(out / "catalog.duckdb"), read_only=True)
    assert con.execute("SELECT count(*) FROM attempts").fetchone() == (16,)
    con.close()

    # invoke.sh redoes an evaluate job by hand, from another directory, with the same result.
    job = evaluates[0]
    before = (job / "stage1_evaluation.json").read_text()
    (job / "stage1_evaluation.json").unlink()
    subprocess.run(["bash", str(job / "invoke.sh")], cwd=tmp_path, check=True,
                   env={**os.environ, "PYTHONPATH": ""})
    assert (job / "stage1_evaluation.json").read_text() == before
    metrics = json.loads(before)
    assert 0 <= metrics["accuracy"] <= 1 and metrics["hamming_distance"] == round((1 - metrics["accuracy"]) * 512)
