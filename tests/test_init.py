"""trackdag init: a project a new user edits, which runs and reports at once (issue 12, item 5)."""
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from trackdag.cli import main
from trackdag.init import InitError, init_project, project_files
from trackdag.report import build_report

TRACKDAG = [sys.executable, "-m", "trackdag"]


def _run(args, cwd):
    return subprocess.run([*TRACKDAG, *args], cwd=cwd, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("as_yaml", [False, True], ids=["python", "yaml"])
def test_init_then_run_then_report_works_at_once(tmp_path, as_yaml):
    made = _run(["init", "proj", *(["--yaml"] if as_yaml else [])], cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    project = tmp_path / "proj"
    pipeline_file = "pipeline.yaml" if as_yaml else "pipelines.py"
    assert sorted(p.name for p in project.iterdir()) == sorted(
        ["README.md", "data.txt", "evaluate.py", "params.yaml", "predict.py", pipeline_file])
    assert "next: cd proj && trackdag run --params params.yaml && trackdag report" in made.stderr
    ran = _run(["run", "--params", "params.yaml", "--backend", "local"], cwd=project)
    assert ran.returncode == 0, ran.stderr
    assert "16 jobs from 8 rows" in ran.stdout and "done: 16" in ran.stdout
    shown = _run(["report"], cwd=project)
    assert shown.returncode == 0, shown.stderr
    assert "ranked by: score (maximize); best first" in shown.stdout
    report = build_report(project / "trackdag_output", nodes=["evaluate"])
    best = report.nodes[0].rows[0]
    # the truth is y = 2x + 1: scale 2, offset 1 is exact
    assert best["params"]["params.predict.scale"] == 2.0 and best["params"]["params.predict.offset"] == 1.0
    assert best["metrics"]["mae"] == 0.0
    again = _run(["run", "--params", "params.yaml", "--backend", "local"], cwd=project)
    assert "already done: 16" in again.stdout


def test_init_never_overwrites(tmp_path):
    (tmp_path / "params.yaml").write_text("mine\n")
    runner = CliRunner()
    result = runner.invoke(main, ["init", str(tmp_path)])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"Error: {tmp_path}: params.yaml already exists; nothing was written (init never overwrites: "
        "pick a new folder, or move those files)"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.yaml"]
    assert (tmp_path / "params.yaml").read_text() == "mine\n"


def test_init_into_a_file_or_a_read_only_disk_is_one_line(tmp_path, tmpfs):
    (tmp_path / "afile").write_text("x")
    result = CliRunner().invoke(main, ["init", str(tmp_path / "afile")])
    assert result.exit_code == 2 and result.output.startswith("Error: ") and "is a file" in result.output
    fs = tmpfs("1m")
    fs.remount("ro")
    result = CliRunner().invoke(main, ["init", str(fs.path / "proj")])
    assert result.exit_code == 2 and "Read-only file system" in result.output
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output


def test_a_full_disk_takes_back_what_was_written(tmpfs):
    """All or nothing: a disk that fills half-way through leaves no partial project."""
    fs = tmpfs("12k")   # three pages: the fourth file does not fit
    with pytest.raises(InitError, match="No space left on device"):
        init_project(fs.path / "proj")
    assert list((fs.path / "proj").iterdir()) == []


def test_the_templates_name_the_pipeline_they_come_with():
    assert "pipeline: pipelines.py::build()" in project_files()["params.yaml"]
    assert "pipeline: pipeline.yaml" in project_files(yaml=True)["params.yaml"]
    assert "`pipeline.yaml`: the nodes" in project_files(yaml=True)["README.md"]
    assert all("{pipeline" not in text for text in project_files().values())
