"""Fan-in across matrix rows (issue 9: KWDagger 0.4's gather), on trackdag's own plan, run and catalog."""
import json
from pathlib import Path

import duckdb
import pytest

from conftest import SCENARIOS
from trackdag.gather import GatherSpec
from trackdag.report import build_report
from trackdag.sweep import prepare, run

PIPE = f"{SCENARIOS / 'pipelines' / 'gathering.py'}::build()"
PARAMS = {"matrix": {"shard.seed": [0, 1], "shard.fold": [2, 0, 1]}}


def _jobs(plan, node):
    return [j for j in plan.jobs.values() if j.node == node]


def test_the_plan_gathers_per_group_in_order(tmp_path):
    plan = prepare(PARAMS, pipeline=PIPE, root=tmp_path / "out").plan
    shards, merges, (summary,) = _jobs(plan, "shard"), _jobs(plan, "merge"), _jobs(plan, "summary")
    assert len(shards) == 6 and len(merges) == 2
    for merge in merges:
        members = [plan.jobs[p] for p in merge.parents]
        assert {m.params["seed"] for m in members} == {merge.params["seed"]} and len(members) == 3
        # the manifest lists the members' outputs ordered by fold
        folds = [next(m for m in members if m.outputs["out_fpath"] == path).params["fold"]
                 for path in merge.gathered["shards_fpath"]]
        assert folds == [0, 1, 2]
        assert merge.inputs["shards_fpath"] == f"{merge.folder}/_gather/shards_fpath.txt"
    assert sorted(summary.parents) == sorted(m.job_id for m in merges)
    # a different member set is a different job: one fold fewer changes the merges' ids
    fewer = prepare({"matrix": {"shard.seed": [0, 1], "shard.fold": [2, 0]}}, pipeline=PIPE,
                    root=tmp_path / "out").plan
    assert not {m.job_id for m in _jobs(fewer, "merge")} & {m.job_id for m in merges}


def test_gathered_jobs_run_and_the_catalog_knows_every_member(tmp_path):
    root = tmp_path / "out"
    res = run(PARAMS, pipeline=PIPE, root=root, backend="local", workers=2)
    assert res.exit_code == 0 and res.counts.done == 9
    (summary,) = _jobs(res.plan, "summary")
    assert json.loads(Path(summary.outputs["summary_fpath"]).read_text()) == {"seeds": [0, 1]}
    con = duckdb.connect(str(root / "catalog.duckdb"), read_only=True)
    edges = con.execute("SELECT count(*) FROM edges").fetchone()[0]
    ancestors = con.execute("SELECT count(*) FROM lineage WHERE job_id = ? AND depth > 0",
                            [summary.job_id]).fetchone()[0]
    folds = con.execute("""SELECT "params.shard.fold" FROM results_merge""").fetchall()
    con.close()
    assert edges == 6 + 2 and ancestors == 2 + 6
    assert folds == [("[0, 1, 2]",)] * 2 or {tuple(json.loads(f[0])) for f in folds} == {(0, 1, 2)}
    report = build_report(root, nodes=["merge"])
    assert [r["metrics"]["n_shards"] for r in report.nodes[0].rows] == [3, 3]


def test_a_failed_member_skips_its_gather(tmp_path):
    params = {**PARAMS, "include": [{"shard.seed": 1, "shard.fold": 0, "shard.fail": True}]}
    res = run(params, pipeline=PIPE, root=tmp_path / "out", backend="local", workers=2)
    assert res.counts.failed == 1 and res.counts.skipped == 2 and res.counts.done == 6


def test_gather_specs_are_checked():
    with pytest.raises(ValueError, match="not a string"):
        GatherSpec(group_by="seed")
    with pytest.raises(ValueError, match="only 'all_success'"):
        GatherSpec(group_by=[], require="any")
    assert GatherSpec.coerce({"group_by": [{"src": "a.k", "dst": "b.k"}]}).keys == (("a.k", "b.k"),)


def _fanout(group_by):
    from trackdag.node import ProcessNode
    from trackdag.pipeline import Pipeline

    prepare_ = ProcessNode(name="prepare", executable="true", out_paths={"data_fpath": "data.json"},
                           algo_params={"dataset": "cats"})
    score = ProcessNode(name="score", executable="true", in_paths={"data_fpath"}, out_paths={"score_fpath": "s.json"},
                        algo_params={"model": "m1"})
    report = ProcessNode(name="report", executable="true", in_paths={"data_fpath", "scores_fpath"},
                         out_paths={"report_fpath": "r.json"})
    prepare_.outputs["data_fpath"].connect(score.inputs["data_fpath"])
    prepare_.outputs["data_fpath"].connect(report.inputs["data_fpath"])
    score.outputs["score_fpath"].connect(report.inputs["scores_fpath"],
                                         gather=GatherSpec(group_by=group_by, order_by=["model"]))
    return Pipeline([prepare_, score, report])


def test_a_gather_may_group_by_an_ancestors_output(tmp_path):
    # KWDagger's group_by=['prepare.data_fpath']: one group per prepare job, as group_by=['prepare.dataset']
    params = {"matrix": {"prepare.dataset": ["cats", "dogs"], "score.model": ["m1", "m2"]}}
    by_output = prepare(params, pipeline=_fanout(["prepare.data_fpath"]), root=tmp_path / "a").plan
    by_param = prepare(params, pipeline=_fanout(["prepare.dataset"]), root=tmp_path / "b").plan
    for plan in (by_output, by_param):
        reports = _jobs(plan, "report")
        assert len(reports) == 2
        for report in reports:
            scores = {j.outputs["score_fpath"]: j for j in _jobs(plan, "score")}
            members = [scores[path] for path in report.gathered["scores_fpath"]]   # in order_by order
            assert [m.params["model"] for m in members] == ["m1", "m2"]
            assert {m.inputs["data_fpath"] for m in members} == {report.inputs["data_fpath"]}
    # the consumer's own connected input is not a group key of its members
    with pytest.raises(Exception, match="gather group key 'report.data_fpath' has no value"):
        prepare(params, pipeline=_fanout(["report.data_fpath"]), root=tmp_path / "c")
