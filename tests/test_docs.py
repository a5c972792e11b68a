"""The README's CLI reference is checked against the real `--help`, so it cannot drift."""
import re
from pathlib import Path

from click.testing import CliRunner

from trackdag.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"


def _cli_section():
    text = README.read_text()
    start = text.index("\n## CLI\n")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def _documented():
    """command -> the --options its README bullet names."""
    found = {}
    for bullet in re.split(r"\n- ", "\n" + _cli_section().split("\n\n", 2)[1])[1:]:
        m = re.match(r"`trackdag (\w+)", bullet)
        if m:
            found[m.group(1)] = set(re.findall(r"--[a-z][a-z-]*", bullet))
    return found


def test_every_command_is_documented_with_options_that_exist():
    documented = _documented()
    assert set(documented) == set(main.commands), "README's CLI list and the real commands differ"
    runner = CliRunner()
    for command, options in documented.items():
        help_text = runner.invoke(main, [command, "--help"]).output
        for option in options:
            assert option in help_text, f"README documents {option} for `trackdag {command}`, --help does not"


def test_readme_opens_with_the_two_commands():
    head = README.read_text().splitlines()[:10]
    assert any(line.startswith("make demo") for line in head)
    assert any(line.startswith("make test") for line in head)


def test_the_quickstart_runs_as_written(tmp_path):
    """The Quickstart's commands, copied out of the README, in a copy of the repository's layout."""
    import os
    import shutil
    import subprocess
    import sys

    text = README.read_text()
    section = text[text.index("\n## Quickstart\n"):text.index("\n## ", text.index("\n## Quickstart\n") + 1)]
    block = re.search(r"```bash\n(.*?)```", section, re.S)[1]
    assert block.startswith("source .venv/bin/activate\n")
    demo = README.parent / "examples" / "demo"
    shutil.copytree(demo, tmp_path / "examples" / "demo", ignore=shutil.ignore_patterns("pipeline_output",
                                                                                       "__pycache__"))
    venv = Path(sys.prefix)
    if (venv / "bin" / "activate").is_file():
        (tmp_path / ".venv").symlink_to(venv)  # the environment `make demo` made
    else:  # tests run outside a venv: an activate script that does what a venv's does for PATH
        (tmp_path / ".venv" / "bin").mkdir(parents=True)
        (tmp_path / ".venv" / "bin" / "activate").write_text(f'export PATH="{Path(sys.executable).parent}:$PATH"\n')
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "RAY_ADDRESS")}
    env["PATH"] = "/usr/local/bin:/usr/bin:/bin"  # no trackdag on PATH until the block activates it
    res = subprocess.run(["bash", "-e", "-c", block], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "done: 16" in res.stdout and "Top 8 / 8 for stage1_evaluate" in res.stdout
