"""Pipeline: validation reports every problem at once; references load pipelines."""
import os
import sys
import textwrap

import pytest

from conftest import SCENARIOS, two_stage
from trackdag.errors import PipelineError
from trackdag.node import ProcessNode
from trackdag.pipeline import Pipeline, load_pipeline


def test_demo_shape_order_parents_and_ancestors():
    p = two_stage()
    assert p.order == ["predict", "evaluate"]
    assert p.parents == {"predict": [], "evaluate": ["predict"]}
    assert p.ancestors("evaluate") == ["predict"]
    assert set(p.connected_inputs("evaluate")) == {"pred", "true"}


def test_dict_form_names_nodes_and_list_form_works():
    a = ProcessNode(executable="echo")
    p = Pipeline({"a": a})
    assert a.name == "a" and p.order == ["a"]


def test_kwdagger_style_subclass_attributes_and_constructor_override():
    class Predict(ProcessNode):
        name = "predict"
        executable = "python predict.py"
        in_paths = {"src"}
        out_paths = {"dst": "out.json"}
        algo_params = {"param1": 1}
        perf_params = {"workers"}

    node = Predict(executable="other")
    assert node.executable == "other"
    assert node.primary_out_key == "dst"
    assert node.perf_params == {"workers": node.perf_params["workers"]}
    assert ProcessNode(name="x", command="echo").executable == "echo"


def test_all_problems_reported_together():
    a = ProcessNode(name="a", executable="echo", out_paths={"x": "../x.txt", "y": "/abs.txt", "z": "ok.txt"},
                    primary_out_key="nope")
    b = ProcessNode(name="b", executable="cat", in_paths={"inp"})
    dup = ProcessNode(name="b", executable="cat")
    a.outputs["zz"].connect(b.inputs["inpt"])
    with pytest.raises(PipelineError) as info:
        Pipeline([a, b, dup])
    msg = str(info.value)
    assert "duplicate node name 'b'" in msg
    assert "escapes the job folder" in msg and "'../x.txt'" in msg
    assert "is absolute" in msg
    assert "primary_out_key 'nope' is not an output" in msg
    assert "a.outputs['zz'] is not declared in out_paths" in msg
    assert "b.inputs['inpt'] is not declared in in_paths (did you mean 'inp'?)" in msg
    assert len(msg.splitlines()) == 7  # the header plus one line per problem


def test_cycle_is_named():
    a = ProcessNode(name="a", executable="x", in_paths={"i"}, out_paths={"o": "o"})
    b = ProcessNode(name="b", executable="x", in_paths={"i"}, out_paths={"o": "o"})
    c = ProcessNode(name="c", executable="x", in_paths={"i"}, out_paths={"o": "o"})
    a.outputs["o"].connect(b.inputs["i"])
    b.outputs["o"].connect(c.inputs["i"])
    c.outputs["o"].connect(a.inputs["i"])
    with pytest.raises(PipelineError, match=r"cycle: (a -> b -> c -> a|b -> c -> a -> b|c -> a -> b -> c)"):
        Pipeline([a, b, c])


def test_reserved_output_names_and_set_out_paths_are_refused():
    a = ProcessNode(name="a", executable="x", out_paths={"o": "job_config.json"})
    b = ProcessNode(name="b", executable="x", out_paths={"o"})
    with pytest.raises(PipelineError) as info:
        Pipeline([a, b])
    assert "a name trackdag writes itself" in str(info.value)
    assert "out_paths must map each output name" in str(info.value)


def test_connecting_into_an_output_and_outside_node():
    a = ProcessNode(name="a", executable="x", out_paths={"o": "o"})
    b = ProcessNode(name="b", executable="x", out_paths={"o": "o"})
    stray = ProcessNode(name="stray", executable="x", in_paths={"i"})
    a.outputs["o"].connect(b.outputs["o"])
    a.outputs["o"].connect(stray.inputs["i"])
    with pytest.raises(PipelineError) as info:
        Pipeline([a, b])
    assert "which is an output" in str(info.value)
    assert "node 'stray' is not in the pipeline" in str(info.value)


def test_load_dotted_reference_searches_cwd_first(tmp_path, monkeypatch):
    pkg = tmp_path / "mypkg_cwd_first"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "pipes.py").write_text(textwrap.dedent("""
        from trackdag import Pipeline, ProcessNode
        def make(n=1):
            return Pipeline([ProcessNode(name=f"n{n}", executable="echo")])
    """))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", os.getcwd())])
    p = load_pipeline("mypkg_cwd_first.pipes.make(n=2)")
    assert p.order == ["n2"]
    assert p.import_dir == str(tmp_path)
    assert p.ref == "mypkg_cwd_first.pipes.make(n=2)"


def test_load_file_reference_and_errors():
    ref = f"{SCENARIOS / 'pipelines' / 'two_stage.py'}::make()"
    assert load_pipeline(ref).order == ["predict", "evaluate"]
    with pytest.raises(PipelineError, match="returned int, not a trackdag.Pipeline"):
        load_pipeline(f"{SCENARIOS / 'pipelines' / 'two_stage.py'}::not_a_pipeline()")
    with pytest.raises(PipelineError, match="raised ValueError: boom"):
        load_pipeline(f"{SCENARIOS / 'pipelines' / 'two_stage.py'}::broken()")
    with pytest.raises(PipelineError, match="file 'missing.py' not found"):
        load_pipeline("missing.py::make()")
    with pytest.raises(PipelineError, match="cannot import module 'no_such_pkg_xyz'"):
        load_pipeline("no_such_pkg_xyz.make()")
    with pytest.raises(PipelineError, match="is not a reference"):
        load_pipeline("justaname")


def test_yaml_pipeline(tmp_path):
    p = load_pipeline(str(SCENARIOS / "pipelines" / "two_stage.yaml"))
    assert p.order == ["predict", "evaluate"]
    assert p.nodes["evaluate"].metric_specs()[0]["metric"] == "acc"
    assert set(p.connected_inputs("evaluate")) == {"pred", "true"}


def test_yaml_pipeline_reports_every_problem(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(textwrap.dedent("""
        nodes:
          a: {executable: echo, out_paths: {o: ../o}, colour: red}
          b: {executable: echo, in_paths: [i]}
        edges:
          - a.o -> c.i
          - a.o -> b.j
        extra: 1
    """))
    with pytest.raises(PipelineError) as info:
        load_pipeline(str(bad))
    msg = str(info.value)
    assert "unknown top-level key 'extra'" in msg
    assert "unknown field 'colour'" in msg
    assert "unknown node 'c'" in msg
    assert "b.inputs['j'] is not declared" in msg
    assert "escapes the job folder" in msg


def test_yaml_pipeline_syntax_error_names_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("nodes:\n  a: {executable: echo\n  b: x\n")
    with pytest.raises(PipelineError, match=r"bad.yaml: invalid YAML at line \d"):
        load_pipeline(str(bad))


# -- which nodes produce results (issue 8.3) -----------------------------------
def _chain(**extra):
    train = ProcessNode(name="train", executable="t", out_paths={"model": "model.json"}, **extra.get("train", {}))
    evaluate = ProcessNode(name="evaluate", executable="e", in_paths={"model"}, out_paths={"out": "m.json"},
                           **extra.get("evaluate", {}))
    report = ProcessNode(name="plot", executable="p", in_paths={"model"}, out_paths={"png": "plot.png"})
    train.outputs["model"].connect(evaluate.inputs["model"])
    train.outputs["model"].connect(report.inputs["model"])
    return Pipeline([train, evaluate, report])


def test_without_declarations_the_json_leaves_are_the_results():
    # train's model.json is an input of others: not an evaluation; plot.png is not JSON
    assert _chain().result_nodes == {"evaluate"}


def test_declared_nodes_are_the_results_and_only_them():
    declared = {"default_metrics": [{"metric": "loss", "objective": "minimize"}]}
    assert _chain(train=declared).result_nodes == {"train"}
    assert _chain(train={"load_result": lambda d: None}, evaluate=declared).result_nodes == {"train", "evaluate"}

    class Scored(ProcessNode):
        name = "scored"
        executable = "s"
        out_paths = {"o": "o.txt"}

        def default_metrics(self):
            return []

    assert Pipeline([Scored()]).result_nodes == {"scored"}
