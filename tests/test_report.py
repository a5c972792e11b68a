"""report: the seed's four blocks, ranking (both objectives, ties), average-over, fallbacks, the demo's numbers."""
import json
import shlex
import sys
from pathlib import Path

import pytest

from trackdag.errors import ReportError
from trackdag.ids import letter_id
from trackdag.node import ProcessNode
from trackdag.pipeline import Pipeline
from conftest import run_demo
from trackdag.report import build_report, format_json, format_text
from trackdag.sweep import run

DEMO = Path(__file__).resolve().parents[1] / "examples" / "demo"

# train writes {"lr": lr} to model.txt; evaluate looks its (lr, dataset) up in the
# scores file named by $SCORES and writes {"acc", "loss", "secs"} to eval.json.
TOOL = """
import json, os, sys
args = dict(a[2:].split("=", 1) for a in sys.argv[1:])
if "model" in args:
    lr = json.load(open(args["model"]))["lr"]
    dataset = os.path.splitext(os.path.basename(args["dataset"]))[0]
    scores = json.load(open(os.environ["SCORES"]))[f"{lr}|{dataset}"]
    json.dump(scores, open(args["out"], "w"))
else:
    json.dump({"lr": float(args["lr"])}, open(args["out"], "w"))
"""

# (acc, loss): on dataset a, lr 0.2 and 0.4 tie on both metrics; 0.1 has the same acc
# but a worse loss; 0.3 the best loss but a worse acc.
SCORES = {
    "0.1|a": [0.9, 0.3], "0.2|a": [0.9, 0.2], "0.3|a": [0.8, 0.1], "0.4|a": [0.9, 0.2],
    "0.1|b": [0.5, 0.6], "0.2|b": [0.7, 0.4], "0.3|b": [0.65, 0.2], "0.4|b": [0.3, 0.9],
}


def _load(job_dpath):
    acc, loss = json.loads((Path(job_dpath) / "eval.json").read_text())
    return {"metrics.evaluate.acc": acc, "metrics.evaluate.loss": loss, "metrics.evaluate.secs": 1.5}


def ml_pipeline(tmp_path: Path, with_metrics: bool = True) -> Pipeline:
    tool = tmp_path / "tool.py"
    tool.write_text(TOOL)
    exe = f"{shlex.quote(sys.executable)} {shlex.quote(str(tool))}"
    train = ProcessNode(name="train", executable=exe, out_paths={"out": "model.txt"}, algo_params={"lr": 0.1},
                        perf_params={"workers": 0})
    metrics = [
        {"metric": "acc", "objective": "maximize", "primary": True, "display": True},
        {"metric": "loss", "objective": "minimize", "primary": True, "display": True},
        {"metric": "secs", "objective": "minimize", "primary": False, "display": False},
    ]
    evaluate = ProcessNode(name="evaluate", executable=exe, in_paths={"model", "dataset"},
                           out_paths={"out": "eval.json"}, load_result=_load,
                           default_metrics=metrics if with_metrics else None)
    train.outputs["out"].connect(evaluate.inputs["model"])
    return Pipeline([train, evaluate])


@pytest.fixture
def ml_root(tmp_path, monkeypatch):
    """A finished sweep: 4 learning rates x 2 datasets, evaluated by a real subprocess each."""
    scores = tmp_path / "scores.json"
    scores.write_text(json.dumps(SCORES))
    monkeypatch.setenv("SCORES", str(scores))
    for name in ("a", "b"):
        (tmp_path / f"{name}.txt").write_text(name)
    res = run({"train.lr": [0.1, 0.2, 0.3, 0.4], "evaluate.dataset": ["a.txt", "b.txt"]},
              pipeline=ml_pipeline(tmp_path), root=tmp_path / "out", backend="local", workers=4, cwd=str(tmp_path))
    assert res.exit_code == 0
    return tmp_path / "out"


def _rows(node_report):
    return [(r["params"]["params.train.lr"], r["params"].get("params.evaluate.dataset"),
             r["metrics"]["acc"], r["metrics"]["loss"]) for r in node_report.rows]


def test_ranking_by_both_objectives_with_deterministic_ties(tmp_path, ml_root):
    pipe = ml_pipeline(tmp_path)
    rep = build_report(ml_root, pipeline=pipe, where="\"params.evaluate.dataset\" = 'a.txt'")
    (node,) = rep.nodes
    assert [(m.name, m.objective) for m in node.ranking] == [("acc", "maximize"), ("loss", "minimize")]
    assert [m.name for m in node.display] == ["acc", "loss"]  # secs: neither primary nor display
    rows = _rows(node)
    assert [r[2:] for r in rows] == [(0.9, 0.2), (0.9, 0.2), (0.9, 0.3), (0.8, 0.1)]
    assert [r[0] for r in rows[2:]] == [0.1, 0.3]
    # the tie between lr 0.2 and 0.4 is broken by param_hashid, so it never flips
    tied = node.rows[:2]
    assert {r["params"]["params.train.lr"] for r in tied} == {0.2, 0.4}
    assert tied[0]["param_hashid"] < tied[1]["param_hashid"]
    assert [r["rank"] for r in node.rows] == [1, 2, 3, 4] and node.n_rows == 4
    # hashids are the effective params as written in the matrix
    assert node.rows[3]["param_hashid"] == letter_id({"train.lr": 0.3, "evaluate.dataset": "a.txt"})


def test_metric_override_changes_objective_and_order(tmp_path, ml_root):
    rep = build_report(ml_root, pipeline=ml_pipeline(tmp_path), metrics=["loss:min", "acc"],
                       where="\"params.evaluate.dataset\" = 'a.txt'")
    (node,) = rep.nodes
    assert [(m.name, m.objective) for m in node.ranking] == [("loss", "minimize"), ("acc", "maximize")]
    assert [r[3] for r in _rows(node)] == [0.1, 0.2, 0.2, 0.3]
    rep = build_report(ml_root, pipeline=ml_pipeline(tmp_path), metrics=["loss:max"], top_k=2)
    assert [r[3] for r in _rows(rep.nodes[0])] == [0.9, 0.6]
    assert rep.nodes[0].n_rows == 8 and len(rep.nodes[0].rows) == 2


def test_blocks_follow_the_seed_layout(tmp_path, ml_root):
    rep = build_report(ml_root, pipeline=ml_pipeline(tmp_path), top_k=3)
    node = rep.nodes[0]
    # only the reported (top 3) rows count in the basis
    assert sum(n for _, n in node.varied_basis["params.train.lr"]) == 3
    assert node.constant_params == {"params.evaluate.dataset": "a.txt", "params.train.workers": 0}
    assert list(node.varied_lut) == [r["param_hashid"] for r in node.rows]
    assert all(set(v) == set(node.varied_basis) for v in node.varied_lut.values())
    text = format_text(rep)
    lines = text.splitlines()
    assert lines[0] == "== evaluate =="
    assert lines[1] == "ranked by: acc (maximize), loss (minimize); best first (rank 1 is the best)"
    assert lines[2] == "Varied Basis: = {"
    # strings without Python quotes: README.rst, not 'README.rst'
    assert "Constant Params: {\n    params.evaluate.dataset: a.txt,\n    params.train.workers: 0,\n}" in text
    assert "Varied Parameter LUT: {" in text
    top = text.split("---\n", 1)[1].splitlines()
    assert top[0] == "Top 3 / 8 for evaluate"
    assert top[1] == "rank param_hashid  acc  loss"
    first = node.rows[0]
    assert top[2] == f"   1 {first['param_hashid']}  0.9   0.2"
    lut = text.split("Varied Parameter LUT: {\n", 1)[1]
    assert lut.startswith(f"    {first['param_hashid']}: {{\n        params.train.lr: 0.2,\n")
    assert json.loads(format_json(rep))["nodes"][0]["rows"] == node.rows


def test_average_over_a_dataset_reports_coverage(tmp_path, ml_root):
    rep = build_report(ml_root, pipeline=ml_pipeline(tmp_path), average_over="dataset")
    (node,) = rep.nodes
    assert node.average_over == "params.evaluate.dataset"
    assert node.average_values == ["a.txt", "b.txt"]
    got = [(r["params"]["params.train.lr"], round(r["metrics"]["acc"], 6), round(r["metrics"]["loss"], 6),
            r["n_values"], r["n_rows"]) for r in node.rows]
    assert got == [(0.2, 0.8, 0.3, 2, 2), (0.3, 0.725, 0.15, 2, 2), (0.1, 0.7, 0.45, 2, 2), (0.4, 0.6, 0.55, 2, 2)]
    # a group's hashid hashes its params without the averaged one: here, the train job's own hashid
    assert node.rows[0]["param_hashid"] == letter_id({"train.lr": 0.2})
    assert "params.evaluate.dataset" not in node.varied_lut[node.rows[0]["param_hashid"]]
    assert node.rows[0]["covers"] == ["a.txt", "b.txt"]
    # a filter that drops one dataset for lr 0.4 leaves that average covering 1 value
    rep = build_report(ml_root, pipeline=ml_pipeline(tmp_path), average_over="params.evaluate.dataset",
                       where="NOT (\"params.train.lr\" = 0.4 AND \"params.evaluate.dataset\" = 'b.txt')")
    coverage = {r["params"]["params.train.lr"]: (r["n_values"], r["covers"]) for r in rep.nodes[0].rows}
    assert coverage[0.4] == (1, ["a.txt"]) and coverage[0.2] == (2, ["a.txt", "b.txt"])
    text = format_text(rep)
    assert "averaged over params.evaluate.dataset (2 values: a.txt, b.txt)" in text
    assert "rank param_hashid    acc  loss  n_values  n_rows" in text


def test_without_the_pipeline_the_first_metric_is_maximized_and_the_report_says_so(tmp_path, ml_root):
    rep = build_report(ml_root)  # the sweep ran a Python Pipeline object: the catalog names no pipeline
    assert rep.pipeline is None
    assert any("names no pipeline" in n for n in rep.notes)
    node = rep.nodes[0]
    assert [(m.name, m.objective) for m in node.ranking] == [("acc", "maximize")]
    assert any("ranking by the first metric, acc (maximize)" in n for n in node.notes)
    assert [m.name for m in node.display] == ["acc", "loss", "secs"]
    assert "Note: the catalog names no pipeline" in format_text(rep)
    # a node without default_metrics: the same fallback, said differently
    rep = build_report(ml_root, pipeline=ml_pipeline(tmp_path, with_metrics=False))
    assert any("declares no default_metrics" in n for n in rep.nodes[0].notes)


def test_report_errors_are_one_clear_line(tmp_path, ml_root):
    with pytest.raises(ReportError, match=r"--node 'evaluat': no such node .*did you mean 'evaluate'"):
        build_report(ml_root, nodes=["evaluat"])
    with pytest.raises(ReportError, match=r"--metric 'accuracy': node 'evaluate' has no such metric"):
        build_report(ml_root, metrics=["accuracy"])
    with pytest.raises(ReportError, match=r"objective after ':' must be min or max"):
        build_report(ml_root, metrics=["acc:up"])
    with pytest.raises(ReportError, match=r"Referenced column .*nope.* \(in --where"):
        build_report(ml_root, where="nope > 1")
    with pytest.raises(ReportError, match=r"--average-over 'region': no such parameter"):
        build_report(ml_root, average_over="region")
    rep = build_report(ml_root, nodes=["train"])  # a node without metrics: said, not an error
    assert rep.nodes[0].rows == [] and "no train job has recorded metrics" in format_text(rep)
    rep = build_report(ml_root, where="\"params.train.lr\" > 5")
    assert rep.nodes[0].n_rows == 0 and "No evaluate results to report (after the filter)" in format_text(rep)


def test_the_demo_report_matches_the_outputs_on_disk(tmp_path):
    folder = tmp_path / "demo"
    run_demo(folder, workers=4)
    rep = build_report(folder / "pipeline_output")  # objectives from the run's pipeline_ref
    assert rep.pipeline == "example_user_module.pipelines.my_demo_pipeline()" and rep.notes == []
    (node,) = rep.nodes
    assert node.node == "stage1_evaluate" and node.n_rows == 8 and len(node.rows) == 8
    assert [(m.name, m.objective) for m in node.ranking] == [("accuracy", "maximize"),
                                                             ("hamming_distance", "minimize")]
    for row in node.rows:
        on_disk = json.loads((Path(row["folder"]) / "stage1_evaluation.json").read_text())
        assert row["metrics"] == on_disk
    keys = [(-r["metrics"]["accuracy"], r["metrics"]["hamming_distance"], r["param_hashid"]) for r in node.rows]
    assert keys == sorted(keys)
    assert {v: n for v, n in node.varied_basis["params.stage1_predict.src_fpath"]} == {
        "README.rst": 4, "run_pipeline.sh": 4}
    assert {v: n for v, n in node.varied_basis["params.stage1_predict.param1"]} == {32: 2, 33: 2, 123: 2, 456: 2}
    assert node.constant_params == {"params.stage1_evaluate.workers": 4, "params.stage1_predict.workers": 0}
    text = format_text(rep)
    for title in ("Varied Basis: = {", "Constant Params: {", "Varied Parameter LUT: {",
                  "Top 8 / 8 for stage1_evaluate"):
        assert title in text
    table = text.split("Top 8 / 8 for stage1_evaluate\n", 1)[1].splitlines()
    assert table[0] == "rank param_hashid  accuracy  hamming_distance"
    best = node.rows[0]
    assert table[1].split() == ["1", best["param_hashid"], f"{best['metrics']['accuracy']:.6f}",
                                str(best["metrics"]["hamming_distance"])]


def test_the_top_rows_are_the_first_of_the_full_ranking_for_every_top_k(tmp_path, ml_root):
    """The report takes a top-N of its rows, not a window over all of them: the same rows, ranks and count."""
    import trackdag
    from trackdag.report import TOP, _base_sql, _top_sql
    from trackdag.report_model import Metric, order_by

    ranking = [Metric("metrics.evaluate.acc", "acc", "maximize"), Metric("metrics.evaluate.loss", "loss", "minimize")]
    with trackdag.open_catalog(ml_root) as cat:
        con = cat.connection
        base = _base_sql("results_evaluate", None, ranking, [], {}, None)
        full = con.execute(
            f"{base}\nSELECT row_number() OVER (ORDER BY {order_by(ranking)}param_hashid NULLS LAST, job_id), "
            "count(*) OVER (), job_id FROM base ORDER BY 1").fetchall()
        assert len(full) == 8 and len({r[0] for r in full}) == 8
        for top_k in (1, 3, 8, 20):
            con.execute(f"CREATE OR REPLACE TEMP TABLE {TOP} AS {_top_sql(base, ranking, top_k)}")
            assert con.execute(f"SELECT rank, n_total, job_id FROM {TOP} ORDER BY rank").fetchall() == full[:top_k]
