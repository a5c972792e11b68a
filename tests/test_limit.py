"""run --limit N --order matrix|random|spread: budgeted filling of a sweep (trackdag.order, sweep, status, cli).

Real runs on the local backend, a real DuckDB catalog, real subprocesses.
"""
import json
import re

import duckdb
import pytest
from click.testing import CliRunner

from conftest import SCENARIOS, two_stage
from trackdag.cli import main
from trackdag.matrix import expand, load_params
from trackdag.order import (FillError, check_fill, choose_rows, restrict, row_order, spread_order,
                            varying_axes)
from trackdag.status import format_status, status
from trackdag.sweep import dry_run, prepare, run

PIPE = f"{SCENARIOS / 'pipelines' / 'two_stage.py'}::make()"


def _grid(**axes):
    return expand(load_params({"matrix": axes}))


def _sweep(src, ps=(1, 2, 3), threshes=(0.1, 0.5)):
    """predict.p x evaluate.thresh: rows with the same p share their predict job."""
    return {"matrix": {"predict.src": [str(src)], "predict.p": list(ps), "evaluate.thresh": list(threshes)}}


def _ran(ledger):
    return len(ledger.read_text().splitlines())


def _run_rows(root, run_id):
    con = duckdb.connect(str(root / "catalog.duckdb"), read_only=True)
    try:
        return [r for (r,) in con.execute("SELECT DISTINCT row_index FROM run_jobs WHERE run_id = ? ORDER BY 1",
                                          [run_id]).fetchall()]
    finally:
        con.close()


# -- the orders ------------------------------------------------------------------------------
def test_spread_covers_every_value_of_every_axis_within_the_longest_axis():
    rows = _grid(**{"a.x": [1, 2, 3], "a.y": ["p", "q", "r", "s"], "a.z": [10, 20, 30, 40, 50]})
    order = list(row_order(rows, "spread"))
    assert sorted(order) == list(range(60))
    first = [rows[i] for i in order[:5]]
    for key, n in (("a.x", 3), ("a.y", 4), ("a.z", 5)):
        assert len({r[key] for r in first}) == n, key
    # greedy, ties by matrix order: the diagonal first
    assert [(r["a.x"], r["a.y"], r["a.z"]) for r in first] == [
        (1, "p", 10), (2, "q", 20), (3, "r", 30), (1, "s", 40), (1, "p", 50)]
    assert list(row_order(rows, "spread")) == order  # deterministic


def test_spread_keeps_spreading_after_the_first_round_and_on_grids_with_holes():
    rows = _grid(**{"a.x": [1, 2, 3, 4], "a.y": [1, 2, 3, 4]})
    order = list(row_order(rows, "spread"))
    # each round of 4 rows sees every x and every y once: a Latin square
    for start in range(0, 16, 4):
        block = [rows[i] for i in order[start:start + 4]]
        assert {r["a.x"] for r in block} == {1, 2, 3, 4} and {r["a.y"] for r in block} == {1, 2, 3, 4}
    holes = expand(load_params({"matrix": {"a.x": [1, 2, 3], "a.y": [1, 2, 3],
                                           "exclude": [{"a.x": 1, "a.y": 2}, {"a.x": 2, "a.y": 3}]}}))
    order = list(row_order(holes, "spread"))
    assert sorted(order) == list(range(7))
    assert {holes[i]["a.x"] for i in order[:3]} == {1, 2, 3} and {holes[i]["a.y"] for i in order[:3]} == {1, 2, 3}


def test_spread_past_its_budget_is_still_every_row_once():
    rows = _grid(**{"a.x": list(range(7)), "a.y": list(range(5))})
    order = list(spread_order(rows, budget=1))  # one greedy round, then the random order of seed 0
    assert sorted(order) == list(range(35))
    assert {rows[i]["a.x"] for i in order[:7]} == set(range(7))


def test_random_is_deterministic_for_a_seed_and_differs_for_another():
    rows = _grid(**{"a.x": list(range(10)), "a.y": list(range(10))})
    a, again, b = (list(row_order(rows, "random", s)) for s in (0, 0, 1))
    assert a == again and a != b and sorted(a) == sorted(b) == list(range(100))
    assert a != list(range(100))
    assert choose_rows(rows, set(), 5, "random", 7) == choose_rows(rows, set(), 5, "random", 7)


def test_choose_rows_skips_complete_rows_in_the_order():
    rows = _grid(**{"a.x": [1, 2, 3], "a.y": ["x", "y", "z"]})
    assert choose_rows(rows, {0, 1}, 3, "matrix") == [2, 3, 4]
    assert choose_rows(rows, {0, 4}, 2, "spread") == [8, 1]
    assert choose_rows(rows, set(range(9)), 3, "spread") == []
    assert choose_rows(rows, {5}, None, "matrix") == [0, 1, 2, 3, 4, 6, 7, 8]


def test_axes_are_the_keys_that_vary():
    assert varying_axes([{"a.x": 1, "a.y": [1, 2]}, {"a.x": 2, "a.y": [1, 2]}]) == ["a.x"]
    assert varying_axes([{"a.x": 1}, {"a.x": 1, "a.z": 0}]) == ["a.z"]  # missing counts as a value
    assert varying_axes([{"a.x": 1}, {"a.x": 1.0}]) == ["a.x"]  # 1 and 1.0 are different rows
    assert list(row_order([{"a.x": 1}] * 3, "spread")) == [0, 1, 2]


@pytest.mark.parametrize("args, message", [
    ((0, None, None), "--limit must be at least 1 (got 0); leave it out to fill every row"),
    (("ten", None, None), "--limit must be a whole number (got 'ten')"),
    ((3, "bogus", None), "--order must be one of matrix, random, spread (got 'bogus')"),
    ((3, "spread", 4), "--seed goes with --order random"),
    ((3, None, 4), "--seed goes with --order random"),
])
def test_bad_fill_options_are_refused(args, message):
    with pytest.raises(FillError) as err:
        check_fill(*args)
    assert str(err.value) == message
    assert check_fill(3, "random", None) == (3, "random", 0)
    assert check_fill(None, None, None) == (None, None, None)


def test_restrict_keeps_parents_first_and_the_rows_indices(src, tmp_path):
    the_plan = prepare(_sweep(src), pipeline=two_stage(), root=tmp_path / "out").plan
    part = restrict(the_plan, [5, 0])
    assert len(part.rows) == 6 and sorted({r for r, _ in part.row_jobs}) == [0, 5]
    nodes = [part.jobs[j].node for j in part.jobs]
    assert nodes == ["predict", "evaluate", "predict", "evaluate"]  # row 5 first, then row 0
    assert all(p in part.jobs for j in part.jobs.values() for p in j.parents)
    assert set(part.edges) <= set(the_plan.edges) and len(part.edges) == 2


# -- runs ------------------------------------------------------------------------------------
def test_repeated_limits_fill_the_sweep_and_a_run_without_limit_runs_only_the_rest(tmp_path, src, ledger):
    root = tmp_path / "out"
    first = run(_sweep(src), pipeline=two_stage(), root=root, backend="local", workers=2, limit=2)
    assert first.exit_code == 0
    assert first.fill.taken == (0, 1) and (first.fill.filled, first.fill.total, first.fill.left) == (2, 6, 4)
    assert (first.counts.done, first.counts.cached, _ran(ledger)) == (3, 0, 3)  # p=1: one predict, two evaluate
    assert status(str(root)).filled == 2
    assert format_status(status(str(root))).splitlines()[1] == "filled: 2 of 6 configurations; 4 left"

    second = run(_sweep(src), pipeline=two_stage(), root=root, backend="local", workers=2, limit=2)
    assert second.fill.taken == (2, 3) and second.fill.filled == 4
    assert (second.counts.done, second.counts.cached, _ran(ledger)) == (3, 3, 6)
    assert _run_rows(root, second.run_id) == [0, 1, 2, 3]  # the complete rows stay in the run, as already done

    rest = run(_sweep(src), pipeline=two_stage(), root=root, backend="local", workers=2)
    assert rest.fill is None and (rest.counts.done, rest.counts.cached, _ran(ledger)) == (3, 6, 9)
    assert format_status(status(str(root))).splitlines()[1] == "filled: 6 of 6 configurations"

    done = run(_sweep(src), pipeline=two_stage(), root=root, backend="local", workers=2, limit=2)
    assert done.fill.taken == () and done.fill.filled == 6 and done.counts.done == 0 and _ran(ledger) == 9


def test_spread_limit_on_rows_sharing_upstream_jobs(tmp_path, src, ledger):
    root = tmp_path / "out"
    res = run(_sweep(src), pipeline=two_stage(), root=root, backend="local", workers=2, limit=3, order="spread")
    # every p and every thresh within 3 rows: (1, 0.1), (2, 0.5), (3, 0.1)
    assert res.fill.taken == (0, 3, 4)
    assert [res.plan.rows[i]["predict.p"] for i in res.fill.taken] == [1, 2, 3]
    assert (res.counts.done, _ran(ledger)) == (6, 6)  # three predict jobs, three evaluate jobs
    more = run(_sweep(src), pipeline=two_stage(), root=root, backend="local", workers=2, limit=2, order="spread")
    assert more.fill.taken == (1, 2) and more.fill.filled == 5
    assert (more.counts.done, more.counts.cached, _ran(ledger)) == (2, 6, 8)  # their predict jobs were done


def test_random_limit_is_recorded_and_repeatable(tmp_path, src, ledger):
    a = run(_sweep(src), pipeline=two_stage(), root=tmp_path / "a", backend="local", limit=2, order="random",
            seed=5)
    b = run(_sweep(src), pipeline=two_stage(), root=tmp_path / "b", backend="local", limit=2, order="random",
            seed=5)
    assert a.fill.taken == b.fill.taken and a.fill.seed == 5
    record = json.loads((tmp_path / "a" / ".trackdag" / "runs" / f"{a.run_id}.json").read_text())
    assert (record["row_limit"], record["row_order"], record["row_seed"]) == (2, "random", 5)
    assert record["rows_taken"] == list(a.fill.taken) and record["n_rows"] == 6


def test_limit_composes_with_max_configs_and_failed_rows_stay_unfilled(tmp_path, src, ledger):
    root = tmp_path / "out"
    params = _sweep(src, threshes=(0.1, 0.5))
    res = run(params, pipeline=two_stage(), root=root, backend="local", max_configs=4, limit=3, order="spread")
    assert res.fill.total == 4 and set(res.fill.taken) <= {0, 1, 2, 3} and res.fill.filled == 3
    rest = run(params, pipeline=two_stage(), root=root, backend="local", max_configs=4)
    assert rest.counts.done == 1 and format_status(status(str(root))).splitlines()[1] == (
        "filled: 4 of 4 configurations")

    failing = {"matrix": {"predict.fail": [True, False], **params["matrix"]}}
    bad = run(failing, pipeline=two_stage(), root=tmp_path / "f", backend="local", limit=2)
    assert bad.exit_code == 1 and bad.fill.filled == 0 and bad.fill.left == 12
    again = run(failing, pipeline=two_stage(), root=tmp_path / "f", backend="local", limit=2)
    assert again.fill.taken == (0, 1)  # not complete: a failed row is taken again first


def test_dry_run_with_limit_says_which_rows_and_writes_nothing(tmp_path, src):
    root = tmp_path / "out"
    report = dry_run(prepare(_sweep(src), pipeline=two_stage(), root=root), limit=2, order="spread")
    assert report.fill.taken == (0, 3)
    assert len(report.would_run) == 4 and not report.already_done  # two predict, two evaluate
    assert not root.exists()


# -- the command line ------------------------------------------------------------------------
def _cli(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def _params(src):
    return "\n".join([f"pipeline: '{PIPE}'", "matrix:", f"  predict.src: {src}", "  predict.p: [1, 2, 3]",
                      "  evaluate.thresh: [0.1, 0.5]"])


def test_cli_run_limit_then_status_then_the_rest(tmp_path, src, ledger):
    root = str(tmp_path / "out")
    res = _cli("run", "--params", _params(src), "--root", root, "--backend", "local", "--limit", "2")
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert re.fullmatch(r"run \S+: 3 jobs from 2 of 6 rows \(--limit 2, order matrix\)", lines[0])
    assert lines[1] == "  done: 3  already done: 0  failed: 0  skipped: 0"
    assert lines[2] == "  filled: 2 of 6 configurations; 4 left"

    res = _cli("status", "--root", root)
    assert res.exit_code == 0 and res.output.splitlines()[1] == "filled: 2 of 6 configurations; 4 left"
    assert json.loads(_cli("status", "--root", root, "--format", "json").output)["filled"] == 2

    res = _cli("run", "--params", _params(src), "--root", root, "--backend", "local", "--limit", "3",
               "--order", "random", "--seed", "1")
    lines = res.stdout.splitlines()
    assert res.exit_code == 0
    assert re.fullmatch(r"run \S+: \d+ jobs from 5 of 6 rows \(--limit 3, order random, seed 1\)", lines[0])
    assert lines[2] == "  filled: 5 of 6 configurations; 1 left"

    res = _cli("run", "--params", _params(src), "--root", root, "--backend", "local")
    lines = res.stdout.splitlines()
    assert res.exit_code == 0 and re.fullmatch(r"run \S+: 9 jobs from 6 rows", lines[0])
    assert "filled" not in res.stdout and _ran(ledger) == 9
    assert _cli("status", "--root", root).output.splitlines()[1] == "filled: 6 of 6 configurations"


def test_cli_dry_run_limit_lists_the_rows(tmp_path, src):
    root = tmp_path / "out"
    res = _cli("run", "--params", _params(src), "--root", str(root), "--dry-run", "--limit", "2",
               "--order", "spread", "--show-commands", "1")
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert lines[:6] == [
        "rows: 6",
        "taking: 2 of 6 rows not complete (--limit 2, order spread); 0 complete",
        "  row 0: predict.p=1 evaluate.thresh=0.1",
        "  ... 1 more row(s)",
        "jobs: 4 (predict: 2, evaluate: 2)",
        "would run: 4 (predict: 2, evaluate: 2)",
    ]
    full = _cli("run", "--params", _params(src), "--root", str(root), "--dry-run", "--limit", "2",
                "--order", "spread", "--all-commands")
    assert "  row 3: predict.p=2 evaluate.thresh=0.5" in full.output.splitlines()
    assert not root.exists()


@pytest.mark.parametrize("extra, message", [
    (["--limit", "0"], "Error: --limit must be at least 1 (got 0); leave it out to fill every row\n"),
    (["--limit", "-3"], "Error: --limit must be at least 1 (got -3); leave it out to fill every row\n"),
    (["--limit", "x"], "Error: --limit must be a whole number (got 'x')\n"),
    (["--limit", "2", "--order", "bogus"], "Error: --order must be one of matrix, random, spread (got 'bogus')\n"),
    (["--limit", "2", "--order", "spread", "--seed", "3"], "Error: --seed goes with --order random\n"),
])
def test_cli_bad_fill_options_are_one_line_exit_two(tmp_path, src, extra, message):
    for dry in ([], ["--dry-run"]):
        res = CliRunner().invoke(main, ["run", "--params", _params(src), "--root", str(tmp_path / "out"),
                                        "--backend", "local", *dry, *extra])
        assert res.exit_code == 2 and res.output == message
    assert not (tmp_path / "out").exists()
