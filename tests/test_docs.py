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
    for bullet in re.split(r"\n- ", _cli_section())[1:]:
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
