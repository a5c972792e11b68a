"""KWDagger's own demo, as its documentation runs it, and its port onto trackdag.

The demo's bash invocation (``python -m kwdagger.schedule`` with
``pipeline: 'kwdagger.demo.demodata.my_demo_pipeline()'`` in the params,
then ``python -m kwdagger.aggregate``) is run by the real KWDagger 0.4.1, and
again with ``kwdagger`` replaced as the README says
(``python -m trackdag.schedule``, ``trackdag.compat.kwdagger.demo.demodata``).
"""
from __future__ import annotations

import pytest

from kwd_support import concurrently, kwd, kwdagger_commands, top_table, trackdag_commands, trackdag_run

pytestmark = pytest.mark.slow

SCHEDULE = """
pipeline: 'kwdagger.demo.demodata.my_demo_pipeline()'
matrix:
    stage1_predict.src_fpath:
        - input_file1.txt
        - input_file2.txt
    stage1_predict.param1:
        - 123
        - 456
        - 32
    stage1_evaluate.workers: 4
"""
REPORT = "{top_k: 100, per_group: null, macro_analysis: 0, analyze: 0, print_models: True, concise: 1, show_csv: 0}"


def _demo(run, where, tool: str, package: str):
    where.mkdir()
    (where / "input_file1.txt").write_text("data1\n")
    (where / "input_file2.txt").write_text("data2\n")
    scheduled = run(["python", "-m", f"{tool}.schedule", f"--params={SCHEDULE.replace('kwdagger.demo', package)}",
                     f"--root_dpath={where / 'pipeline_output'}", "--tmux_workers=2", "--backend=serial",
                     "--skip_existing=1", "--run=1"], cwd=where)
    assert scheduled.returncode == 0, scheduled.stdout[-2000:] + scheduled.stderr[-2000:]
    aggregated = run(["python", "-m", f"{tool}.aggregate",
                      f"--pipeline={package}.demodata.my_demo_pipeline()", f"--target={where / 'pipeline_output'}",
                      f"--output_dpath={where / 'pipeline_output' / 'full_aggregate'}", "--resource_report=0",
                      "--io_workers=0", "--eval_nodes=[stage1_evaluate]", f"--stdout_report={REPORT}",
                      "--plot_params={enabled: 0}", "--cache_resolved_results=False"], cwd=where)
    assert aggregated.returncode == 0, aggregated.stdout[-2000:] + aggregated.stderr[-2000:]
    return aggregated.stdout


def _arguments(commands):
    """The command lines without their program (``python -m kwdagger.demo.demodata`` vs trackdag's)."""
    return {node: sorted(c[c.index(next(t for t in c if t.startswith("--"))):] for c in cmds)
            for node, cmds in commands.items()}


def test_the_kwdagger_demo_ports(kwd, tmp_path):
    out_kwd, out_td = concurrently(lambda: _demo(kwd.run, tmp_path / "kwd", "kwdagger", "kwdagger.demo"),
                                   lambda: _demo(trackdag_run, tmp_path / "td", "trackdag",
                                                 "trackdag.compat.kwdagger.demo"))
    kwd_jobs = kwdagger_commands(tmp_path / "kwd" / "pipeline_output")
    td_jobs = trackdag_commands(tmp_path / "td" / "pipeline_output")
    assert {n: len(c) for n, c in td_jobs.items()} == {n: len(c) for n, c in kwd_jobs.items()} == {
        "stage1_predict": 6, "stage1_evaluate": 6}
    assert _arguments(td_jobs) == _arguments(kwd_jobs)
    # The digests (so the metric values) are each tool's own; both rank best-first by the same rule.
    for text in (out_kwd, out_td):
        rows = [(float(r["accuracy"]), int(r["hamming_distance"])) for r in top_table(text, "stage1_evaluate")]
        assert len(rows) == 6
        assert rows == sorted(rows, key=lambda r: (-r[0], r[1]))
