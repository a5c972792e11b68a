"""trackdag.compat.kwdagger.demo.demodata: KWDagger's demo pipelines, run for real on trackdag."""
import json
import subprocess
import sys

import duckdb

from trackdag.compat.kwdagger.demo import demodata
from trackdag.sweep import run


def test_the_demo_schedule_and_aggregate_run(tmp_path):
    info = demodata.run_demo_schedule(tmp_path)
    assert info["eval_dpath"] == tmp_path
    with duckdb.connect(str(tmp_path / "catalog.duckdb"), read_only=True) as con:
        counts = dict(con.sql("SELECT node, count(*) FROM jobs WHERE status = 'done' GROUP BY node").fetchall())
    assert counts == {"stage1_predict": 6, "stage1_evaluate": 6}
    text = demodata.run_demo_aggregate(tmp_path)
    assert "ranked by: accuracy (maximize), hamming_distance (minimize)" in text
    table = text[text.index("Top 6 / 6 for stage1_evaluate"):].splitlines()[2:8]
    rows = [(float(line.split()[2]), int(line.split()[3])) for line in table]
    assert rows == sorted(rows, key=lambda r: (-r[0], r[1]))     # best first, both primary metrics
    # a second schedule finds everything done
    demodata.run_demo_schedule(tmp_path)
    with duckdb.connect(str(tmp_path / "catalog.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM jobs").fetchone()[0] == 12


def test_the_demo_programs_write_kwdagger_shaped_records(tmp_path):
    src = tmp_path / "in.txt"
    src.write_text("data1")
    module = [sys.executable, "-m", "trackdag.compat.kwdagger.demo.demodata"]
    subprocess.run([*module, "stage1_predict", f"--src_fpath={src}", f"--dst_fpath={tmp_path / 'p.json'}",
                    "--param1=123"], check=True, capture_output=True)
    subprocess.run([*module, "stage1_evaluate", f"--true_fpath={src}", f"--pred_fpath={tmp_path / 'p.json'}",
                    f"--out_fpath={tmp_path / 'e.json'}"], check=True, capture_output=True)
    evaluation = json.loads((tmp_path / "e.json").read_text())
    assert set(evaluation["result"]) == {"accuracy", "hamming_distance"}
    assert 0 <= evaluation["result"]["accuracy"] <= 1
    node = demodata.Stage1_Evaluate()
    (tmp_path / "job").mkdir()
    (tmp_path / "e.json").rename(tmp_path / "job" / "stage1_evaluation.json")
    row = node.load_result(tmp_path / "job")
    assert row["metrics.stage1_evaluate.accuracy"] == evaluation["result"]["accuracy"]
    assert row["resolved_params.stage1_evaluate.pred_fpath"] == str(tmp_path / "p.json")
    assert row["context.stage1_evaluate.task"] == "stage1_evaluate"


def test_the_four_node_demo_pipeline_runs(tmp_path):
    dag = demodata.demodata_pipeline(tmp_path / "demo")
    inputs = tmp_path / "demo" / "inputs"
    params = {"matrix": {"node_A1.src": str(inputs / "input1.txt"), "node_A2.src": str(inputs / "input2.txt"),
                         "node_A1.algo_param1": ["x", "y"], "node_B1.algo_param2": "-b", "node_C1.algo_param3": "+"}}
    result = run(params, pipeline=dag, root=tmp_path / "out", backend="local", workers=1)
    assert result.exit_code == 0
    outs = sorted(p.read_text() for p in (tmp_path / "out" / "node_C1").glob("*/out.txt"))
    # C1 = its src1 (A2's input, forwarded) + param3 + B1's dst1 (A1's output + param2)
    assert outs == ["eggs+spamx-b", "eggs+spamy-b"]
    assert len(list((tmp_path / "out" / "node_A2").glob("*/out.txt"))) == 1


def test_schedule_and_aggregate_cli_objects_take_kwdaggers_keywords(tmp_path, capsys):
    # as kwdagger.demo.demodata.run_demo_schedule calls them: paths inside params, argv=False
    from trackdag.compat.kwdagger import aggregate, schedule

    files = [tmp_path / "file1.txt", tmp_path / "file2.txt"]
    for path, text in zip(files, ("data1", "data2")):
        path.write_text(text)
    config = {"backend": "serial", "skip_existing": 1, "run": 1, "root_dpath": tmp_path / "out",
              "params": {"pipeline": "trackdag.compat.kwdagger.demo.demodata.my_demo_pipeline()",
                         "matrix": {"stage1_predict.param1": [123, 456], "stage1_evaluate.workers": 4,
                                    "stage1_predict.src_fpath": files}}}
    assert schedule.__cli__.main(argv=False, **config) is None
    with duckdb.connect(str(tmp_path / "out" / "catalog.duckdb"), read_only=True) as con:
        counts = dict(con.execute("SELECT node, count(*) FROM jobs WHERE status = 'done' GROUP BY node").fetchall())
    assert counts == {"stage1_predict": 4, "stage1_evaluate": 4}
    capsys.readouterr()
    aggregate.__cli__.main(argv=False, pipeline="trackdag.compat.kwdagger.demo.demodata.my_demo_pipeline()",
                           target=[tmp_path / "out"], eval_nodes=["stage1_evaluate"], io_workers=0,
                           stdout_report={"top_k": 2, "concise": 1}, plot_params={"enabled": 0},
                           output_dpath=tmp_path / "agg")
    out = capsys.readouterr().out
    assert "Top 2 / 4 for stage1_evaluate" in out
    # a failing command stops the script with trackdag's exit code
    bad = {**config, "params": {**config["params"], "matrix": {"stage1_predict.parm1": [1]}}}
    try:
        schedule.__cli__.main(argv=False, **bad)
    except SystemExit as exc:
        assert exc.code == 2
    else:
        raise AssertionError("a bad params key did not stop the script")
    assert capsys.readouterr().err == ("Error: --params: node 'stage1_predict' declares no param 'parm1' "
                                       "(did you mean 'param1'?)\n")
