"""Reports of pipelines where several nodes have metrics: every format, library and CLI (issue 8.1).

Each node that declares default_metrics is reported; the report, its JSON
and its HTML page never depend on how many nodes there are.
"""
import json
import shlex
import sys

import pytest
from click.testing import CliRunner

from trackdag.cli import main
from trackdag.html_report import build_html_report
from trackdag.node import ProcessNode
from trackdag.pipeline import Pipeline
from trackdag.report import build_report, format_text
from trackdag.sweep import run

# A program for all three nodes: writes {"<name>": f(x)} for each --out_* argument.
TOOL = """
import json, sys
args = dict(a[2:].split("=", 1) for a in sys.argv[1:])
x = float(args.get("x", 1)) * float(args.get("k", 1))
json.dump({"score": x, "err": 1 / (1 + x), "tag": "t"}, open(args["out"], "w"))
"""


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    folder = tmp_path_factory.mktemp("nodes")
    tool = folder / "tool.py"
    tool.write_text(TOOL)
    exe = f"{shlex.quote(sys.executable)} {shlex.quote(str(tool))}"
    metrics = [{"metric": "score", "objective": "maximize", "primary": True, "display": True},
               {"metric": "err", "objective": "minimize", "display": True}]
    a = ProcessNode(name="a", executable=exe, out_paths={"out": "a.json"}, algo_params={"x": 1},
                    default_metrics=metrics)
    b = ProcessNode(name="b", executable=exe, in_paths={"src"}, out_paths={"out": "b.json"},
                    algo_params={"k": 1}, default_metrics=metrics)
    c = ProcessNode(name="c", executable=exe, in_paths={"src"}, out_paths={"out": "c.json"},
                    algo_params={"k": 2}, default_metrics=[{"metric": "err", "objective": "minimize",
                                                            "primary": True}])
    a.outputs["out"].connect(b.inputs["src"])
    b.outputs["out"].connect(c.inputs["src"])
    res = run({"a.x": [1, 2, 3], "b.k": [1, 2]}, pipeline=Pipeline([a, b, c]), root=folder / "out",
              backend="local", workers=2)
    assert res.exit_code == 0
    return folder / "out", Pipeline([a, b, c])


def test_library_reports_every_node_with_metrics(root):
    out, pipe = root
    report = build_report(out, pipeline=pipe)
    assert [n.node for n in report.nodes] == ["a", "b", "c"]
    assert [n.n_rows for n in report.nodes] == [3, 6, 6]
    assert [m.name for m in report.nodes[2].ranking] == ["err"]
    assert "== a ==" in format_text(report) and "== c ==" in format_text(report)
    chosen = build_report(out, nodes=["c", "a"], pipeline=pipe, average_over="a.x")
    assert [n.node for n in chosen.nodes] == ["c", "a"]
    page, n_charts, _notes = build_html_report(out, pipeline=pipe, average_over="b.k")
    assert n_charts > 3 and page.count('<section class="node"') == 3


@pytest.mark.parametrize("args", [[], ["--node", "a", "--node", "b"], ["--format", "json"],
                                  ["--average-over", "a.x"], ["--node", "b", "--node", "c", "--format", "json",
                                                              "--average-over", "b.k"]])
def test_cli_report_with_several_nodes(root, args):
    out, _ = root
    res = CliRunner().invoke(main, ["report", "--root", str(out), *args])
    assert res.exit_code == 0, res.output
    if "--format" in args:
        nodes = [n["node"] for n in json.loads(res.output)["nodes"]]
        assert nodes == ([n for n in ("a", "b", "c") if n in args] or ["a", "b", "c"])
    else:
        assert res.output.count("== ") == (2 if "--node" in args else 3)


def test_cli_html_with_several_nodes(root, tmp_path):
    out, _ = root
    for extra in ([], ["--node", "a", "--node", "c"], ["--average-over", "a.x"]):
        res = CliRunner().invoke(main, ["report", "--root", str(out), "--html", str(tmp_path / "r.html"), *extra])
        assert res.exit_code == 0, res.output
        page = (tmp_path / "r.html").read_text()
        assert page.count('<section class="node"') == (2 if extra[:1] == ["--node"] else 3)
