"""A plan's param sets, computed from the plan at registration, equal the catalog's own walk of its edges."""
import duckdb
import pytest

import trackdag.param_sets as param_sets
from conftest import SCENARIOS, two_stage
from trackdag.catalog import Catalog
from trackdag.node import ProcessNode
from trackdag.pipeline import Pipeline
from trackdag.sweep import prepare

GATHER = f"{SCENARIOS / 'pipelines' / 'gathering.py'}::build()"


def _diamond():
    """top -> (left, right) -> bottom, with tuple, float, unicode and nested defaults."""
    top = ProcessNode(name="top", executable="true", in_paths={"src"}, out_paths={"o": "o.txt"},
                      algo_params={"t": (1, 2), "f": 0.1, "u": "é ✓"}, perf_params={"w": 2})
    left = ProcessNode(name="left", executable="true", in_paths={"i"}, out_paths={"o": "o.txt"},
                       algo_params={"k": 1, "nested": [[1, "a"], {"b": None}]})
    right = ProcessNode(name="right", executable="true", in_paths={"i"}, out_paths={"o": "o.txt"},
                        algo_params={"k": 1, "flag": True})
    bottom = ProcessNode(name="bottom", executable="true", in_paths={"a", "b"}, out_paths={"o": "o.txt"},
                         algo_params={"big": 10**20, "neg": -0.0})
    top.outputs["o"].connect(left.inputs["i"])
    top.outputs["o"].connect(right.inputs["i"])
    left.outputs["o"].connect(bottom.inputs["a"])
    right.outputs["o"].connect(bottom.inputs["b"])
    return Pipeline([top, left, right, bottom])


CASES = {
    "two-stage": (two_stage, {"matrix": {"predict.src": ["a.txt", "b.txt"], "predict.p": [1, 2.5, "x"],
                                         "evaluate.thresh": [0.5, 1e-300]}}),
    "gather": (GATHER, {"matrix": {"shard.seed": [0, 1], "shard.fold": [2, 0, 1]}}),
    "diamond": (_diamond, {"matrix": {"top.src": ["s.txt"], "top.f": [0.1, "inf"],
                                      "left.k": [1, 2], "bottom.big": [[3, [4]]]}}),
}


def _rows(con):
    values = con.execute("SELECT * FROM param_values ORDER BY ALL").fetchall()
    sets = con.execute("SELECT * FROM param_sets ORDER BY ALL").fetchall()
    return values, sets


@pytest.mark.parametrize("case", sorted(CASES))
def test_registered_param_sets_equal_the_catalogs_walk(tmp_path, monkeypatch, case):
    pipeline, params = CASES[case]
    plan = prepare(params, pipeline=pipeline() if callable(pipeline) else pipeline, root=tmp_path / "out").plan
    walked = []
    real = param_sets.compute_param_sets
    monkeypatch.setattr(param_sets, "compute_param_sets", lambda con, todo: walked.append(todo) or real(con, todo))
    cat = Catalog(tmp_path / "catalog.duckdb")
    cat.ensure_schema()
    cat.register_plan("r1", plan, dict.fromkeys(plan.jobs, "planned"))
    assert walked == []  # every job's lineage was in the plan: none went through the catalog's walk
    con = duckdb.connect(str(tmp_path / "catalog.duckdb"))
    try:
        ours = _rows(con)
        assert len(ours[1]) == len(plan.jobs)
        con.execute("DELETE FROM param_values")
        con.execute("DELETE FROM param_sets")
        param_sets.complete_param_sets(con, "SELECT job_id FROM jobs", len(plan.jobs))
        assert walked  # (the catalog's walk, this time)
        assert _rows(con) == ours
    finally:
        con.close()


def test_a_job_whose_ancestor_is_not_in_the_plan_gets_its_set_from_the_catalog(tmp_path):
    """A plan holding a child without its parent (as a hand-cut plan could): the registration's refresh
    walks the catalog for it instead."""
    import dataclasses

    from trackdag.catalog.register import plan_param_sets

    plan = prepare(CASES["two-stage"][1], pipeline=two_stage(), root=tmp_path / "out").plan
    child = next(j for j in plan.jobs.values() if j.parents)
    cut = dataclasses.replace(plan, jobs={k: v for k, v in plan.jobs.items() if k not in child.parents})
    values, sets = plan_param_sets([child], cut)
    assert sets["job_id"] == [] and values["job_id"] == []
    values, sets = plan_param_sets([child], plan)
    assert sets["job_id"] == [child.job_id]
