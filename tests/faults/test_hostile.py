"""Hostile input through the CLI (issue 10.7): refused in one line, at once, with its size; nothing written."""
import json
import subprocess
import sys
import time

import pytest


def _pipe(tmp_path):
    path = tmp_path / "p.yaml"
    params = ", ".join(["x: 1", "y: 1"] + [f"x{i}: 0" for i in range(10)])
    path.write_text(f"nodes: {{a: {{executable: echo, out_paths: {{o: '.'}}, algo_params: {{{params}}}}}}}\n")
    return str(path)


def _run(tmp_path, params_text, *extra):
    params = tmp_path / "params.yaml"
    params.write_text(params_text)
    started = time.monotonic()
    res = subprocess.run([sys.executable, "-m", "trackdag.cli", "run", "--params", str(params), "--pipeline",
                          _pipe(tmp_path), "--root", str(tmp_path / "out"), "--backend", "local", *extra],
                         capture_output=True, text=True, timeout=120)
    return res, time.monotonic() - started


BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)) + "a.x: *i\n"
AXES = "matrix:\n" + "".join(f"  a.x{i}: [{', '.join(map(str, range(10)))}]\n" for i in range(10))


@pytest.mark.parametrize("name, text, words", [
    ("alias bomb", BOMB, ["aliases", "values"]),
    ("1e10 rows", AXES.replace("a.x", "a.x"), ["10,000,000,000 rows", "--grid-limit"]),
    ("a NUL byte", json.dumps({"a.x": "evil\u0000value"}), ["NUL"]),
    ("a 200 KB value", json.dumps({"a.x": "v" * 200_000}), ["a.x", "200,0", "bytes"]),
])
def test_refused_in_one_line_and_at_once(tmp_path, name, text, words):
    res, took = _run(tmp_path, text)
    assert res.returncode == 2, (name, res.stdout, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:") and "Traceback" not in res.stderr, lines
    for word in words:
        assert word in lines[0], (word, lines[0])
    assert took < 15  # (the bound is loose: a fresh interpreter; the checks themselves take milliseconds)
    assert not (tmp_path / "out").exists()


def test_max_configs_takes_ten_rows_of_a_huge_grid_lazily(tmp_path):
    text = "matrix:\n  a.x: " + json.dumps(list(range(1000))) + "\n  a.y: " + json.dumps(list(range(1000))) + "\n"
    res, took = _run(tmp_path, text, "--max-configs", "10", "--dry-run")
    assert res.returncode == 0, res.stderr
    assert "rows: 10" in res.stdout and took < 15


def test_max_configs_of_a_ten_billion_row_grid(tmp_path):
    res, took = _run(tmp_path, AXES, "--max-configs", "10", "--dry-run")
    assert res.returncode == 0, res.stderr
    assert "rows: 10" in res.stdout and took < 15
