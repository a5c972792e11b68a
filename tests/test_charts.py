"""charts: lanes, Pareto front, the demo's charts, size limits (sampling said, never a MaxRowsError), files."""
import itertools
import json
import random
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import label_catalog, label_pipeline, run_demo
from trackdag.charts import LIMITS, Limits, build_charts, labels_collide, pack_lanes, pareto_front, save_charts
from trackdag.cli import main
from trackdag.report import build_report
from trackdag.sweep import run

@pytest.fixture(scope="module")
def demo_root(tmp_path_factory):
    return run_demo(tmp_path_factory.mktemp("charts") / "demo")


def _datasets(item):
    return item.to_dict().get("datasets", {})


def _values(item, column):
    """Every value of ``column`` over the chart's data sets."""
    return [row[column] for rows in _datasets(item).values() for row in rows if column in row]


# -- pure helpers -----------------------------------------------------------------------------
def test_pack_lanes_never_overlaps_and_uses_the_fewest_lanes():
    rng = random.Random(5)
    intervals = []
    for _ in range(300):
        start = rng.uniform(0, 100)
        intervals.append((start, start + rng.uniform(0, 10)))
    lanes, overflow = pack_lanes(intervals, max_lanes=1000)
    assert overflow == 0
    for lane in set(lanes):
        mine = sorted(iv for iv, ln in zip(intervals, lanes) if ln == lane)
        assert all(a[1] <= b[0] for a, b in zip(mine, mine[1:]))
    # the fewest possible: the peak number of intervals running at once
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals], key=lambda x: (x[0], x[1]))
    peak = max(itertools.accumulate(d for _, d in events))
    assert max(lanes) + 1 == peak
    # back to back in one slot: one lane; past the cap: the last lane, counted
    assert pack_lanes([(0, 1), (1, 2), (2, 3)]) == ([0, 0, 0], 0)
    assert pack_lanes([(0, 5)] * 4, max_lanes=2) == ([0, 1, 1, 1], 2)


def test_pareto_front_matches_brute_force_for_both_objectives():
    rng = random.Random(7)
    pts = [(rng.randint(0, 9), rng.randint(0, 9)) for _ in range(60)]
    for objectives in itertools.product(("maximize", "minimize"), repeat=2):
        s = [1 if o == "maximize" else -1 for o in objectives]

        def beats(q, p):
            return (s[0] * q[0] >= s[0] * p[0] and s[1] * q[1] >= s[1] * p[1]
                    and (s[0] * q[0] > s[0] * p[0] or s[1] * q[1] > s[1] * p[1]))

        expected = sorted(p for p in pts if not any(beats(q, p) for q in pts))
        assert pareto_front(pts, objectives) == expected


def test_labels_collide_in_pixels():
    every = [(0, 0), (100, 100)]
    assert not labels_collide([(0, 0), (50, 50)], every, (500, 300))
    assert labels_collide([(0, 0), (5, 1)], every, (500, 300))      # 25 px apart, 3 px high: overlap


# -- the demo ------------------------------------------------------------------------------------
def test_demo_charts_cover_metrics_params_vantage_timeline_and_durations(demo_root):
    charts = build_charts(demo_root)
    assert charts.pipeline == "example_user_module.pipelines.my_demo_pipeline()" and charts.notes == []
    kinds = [c.kind for c in charts.charts]
    assert kinds == ["metric_vs_param"] * 4 + ["vantage", "timeline", "durations"]
    by_name = {c.name: c for c in charts.charts}
    assert set(by_name) >= {"stage1_evaluate-accuracy-vs-stage1_predict.param1",
                            "stage1_evaluate-hamming_distance-vs-stage1_predict.src_fpath",
                            "stage1_evaluate-vantage-accuracy-vs-hamming_distance", "job-duration-by-node"}
    # numeric parameters on a quantitative axis, the others nominal
    spec = by_name["stage1_evaluate-accuracy-vs-stage1_predict.param1"].to_dict()
    assert {layer["encoding"]["x"]["type"] for layer in spec["layer"]} == {"quantitative"}
    assert sorted(set(_values(by_name["stage1_evaluate-accuracy-vs-stage1_predict.param1"], "x"))) == [32, 33, 123,
                                                                                                      456]
    spec = by_name["stage1_evaluate-accuracy-vs-stage1_predict.src_fpath"].to_dict()
    assert {layer["encoding"]["x"]["type"] for layer in spec["layer"]} == {"nominal"}
    # per value: the mean and the spread of the 4 jobs that have it
    summary = [r for rows in _datasets(by_name["stage1_evaluate-accuracy-vs-stage1_predict.src_fpath"]).values()
               for r in rows if "mean" in r]
    assert {r["x"]: r["n"] for r in summary} == {"README.rst": 4, "run_pipeline.sh": 4}
    assert all(r["lo"] <= r["q1"] <= r["mean"] <= r["hi"] and r["q1"] <= r["q3"] for r in summary)


def test_vantage_front_and_labels_agree_with_the_report(demo_root):
    charts = build_charts(demo_root)
    (vantage,) = [c for c in charts.charts if c.kind == "vantage"]
    rows = [r for rows in _datasets(vantage).values() for r in rows]
    points = {r["param_hashid"]: (r["x"], r["y"]) for r in rows if "rank" in r}
    assert len(points) == 8
    report = build_report(demo_root, top_k=LIMITS.labels).nodes[0]
    assert points == {**points, **{r["param_hashid"]: (r["metrics"]["accuracy"], r["metrics"]["hamming_distance"])
                                   for r in report.rows}}
    labelled = [r for r in rows if "label" in r]
    circled = [r for layer in vantage.to_dict()["layer"] if layer["mark"].get("size") == 160
               for r in vantage.to_dict()["datasets"][layer["data"]["name"]]]
    assert [r["param_hashid"] for r in circled] == [r["param_hashid"] for r in report.rows]
    # every top job is named exactly once: by its hashid, or by its rank in a label shared by
    # the points whose labels would overprint (the demo has coinciding points)
    named = [part for r in labelled for part in r["label"].split(", ")]
    ranks = {str(r["rank"]): r["param_hashid"] for r in circled}
    assert sorted(named) == sorted(ranks) or named == [r["param_hashid"] for r in report.rows]
    xy = {(r["x"], r["y"]) for r in labelled}
    assert len(xy) == len(labelled)  # no two labels at one point
    # the dashed line is the Pareto front of (accuracy max, hamming_distance min)
    front = [(r["x"], r["y"]) for rows in _datasets(vantage).values() for r in rows if set(r) == {"x", "y",
                                                                                                   "param_hashid"}]
    assert sorted(front) == pareto_front(points.values(), ("maximize", "minimize"))
    # coloured by the varied parameter with the fewest values
    colour = [layer["encoding"]["color"] for layer in vantage.to_dict()["layer"] if "color" in layer["encoding"]]
    assert colour[0]["title"] == "stage1_predict.src_fpath" and colour[0]["type"] == "nominal"


def test_timeline_has_one_bar_per_attempt_in_non_overlapping_lanes(demo_root):
    charts = build_charts(demo_root)
    (timeline,) = [c for c in charts.charts if c.kind == "timeline"]
    bars = [r for rows in _datasets(timeline).values() for r in rows]
    assert len(bars) == 16 and {b["node"] for b in bars} == {"stage1_predict", "stage1_evaluate"}
    assert {b["status"] for b in bars} == {"done"} and all(b["n"] == 1 for b in bars)
    lanes = {}
    for bar in bars:
        lanes.setdefault(bar["lane"], []).append((bar["start"], bar["end"]))
    assert 1 <= len(lanes) <= 2      # --workers 2: each lane is one slot
    for spans in lanes.values():
        spans.sort()
        assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))
    (durations,) = [c for c in charts.charts if c.kind == "durations"]
    summary = [r for rows in _datasets(durations).values() for r in rows if "median" in r]
    assert {(r["node"], r["status"], r["n"]) for r in summary} == {("stage1_predict", "done", 8),
                                                                     ("stage1_evaluate", "done", 8)}


def test_failed_attempts_stand_out_on_the_timeline(tmp_path, pipeline, src, ledger):
    res = run({"predict.src": str(src), "predict.p": [1, 2], "predict.fail": [False, True]}, pipeline=pipeline,
              root=tmp_path / "out", backend="local", workers=2)
    assert res.exit_code == 1
    charts = build_charts(tmp_path / "out")
    (timeline,) = [c for c in charts.charts if c.kind == "timeline"]
    bars = [r for rows in _datasets(timeline).values() for r in rows]
    failed = [b for b in bars if b["status"] == "failed"]
    assert len(failed) == 4 and all(b["exit"] == "3" for b in failed)
    markers = [b for b in failed if b.get("marker") == "failed attempt"]
    assert len(markers) == 2  # one red cross per failed attempt, in its own layer
    assert any("2 failed attempts" in n for n in timeline.notes)
    (durations,) = [c for c in charts.charts if c.kind == "durations"]
    assert {r["status"] for rows in _datasets(durations).values() for r in rows} >= {"done", "failed"}


def test_limits_sample_and_say_so_never_exceeding_the_budget(demo_root):
    small = Limits(points=3, groups=2, bins=2, scatter=4, front=1, labels=2, timeline=3, lanes=1)
    charts = build_charts(demo_root, limits=small)
    by_kind = {}
    for c in charts.charts:
        by_kind.setdefault(c.kind, []).append(c)
    for item in by_kind["metric_vs_param"]:
        assert all(len(rows) <= small.groups + 1 for rows in _datasets(item).values())
        assert any("no single points" in n for n in item.notes)
    param1 = [c for c in by_kind["metric_vs_param"] if c.name.endswith("param1")][0]
    assert any("4 values binned into 2 bins" in n for n in param1.notes)
    assert len(set(_values(param1, "x"))) == 2
    src = [c for c in by_kind["metric_vs_param"] if c.name.endswith("src_fpath")][0]
    assert not any("other values" in n for n in src.notes)       # 2 values fit in 2 groups
    (vantage,) = by_kind["vantage"]
    main_points = max(_datasets(vantage).values(), key=len)
    assert len(main_points) == 4
    assert any("4 of 8 jobs shown" in n for n in vantage.notes)
    (timeline,) = by_kind["timeline"]
    bars = max(_datasets(timeline).values(), key=len)
    assert len(bars) <= 3 and sum(b["n"] for b in bars) >= 3
    assert any("merged" in n or "kept" in n for n in timeline.notes)
    tiny = build_charts(demo_root, nodes=["stage1_predict"], limits=Limits(timeline=1, lanes=1))
    (timeline,) = [c for c in tiny.charts if c.kind == "timeline"]
    assert len(max(_datasets(timeline).values(), key=len)) == 1
    assert any(n.startswith("only 1 of ") and "bars kept" in n for n in timeline.notes), timeline.notes
    # same data, same sample: the page does not change between two builds
    again = build_charts(demo_root, limits=small)
    assert [c.to_dict() for c in again.charts] == [c.to_dict() for c in charts.charts]


def test_nominal_params_with_many_values_keep_the_most_frequent(tmp_path):
    root = label_catalog(tmp_path, ["a", "b", "c", "d", "e"], [1, 2])
    charts = build_charts(root, pipeline=label_pipeline(tmp_path), limits=Limits(groups=3))
    (chart,) = [c for c in charts.charts if c.name.endswith("score-vs-ev.label")]
    assert set(_values(chart, "x")) == {"a", "b", "(3 other values)"}
    assert any("the 2 most frequent of 5 values" in n for n in chart.notes)


def test_no_metrics_and_filters_are_said_not_raised(demo_root):
    charts = build_charts(demo_root, nodes=["stage1_predict"])
    assert [c.kind for c in charts.charts] == ["timeline", "durations"]
    assert charts.notes == ["stage1_predict: no numeric metric to chart"]
    charts = build_charts(demo_root, where='"params.stage1_predict.param1" > 1000')
    assert "stage1_evaluate: no done job with a usable result (after the filter)" in charts.notes
    from trackdag.errors import ReportError

    with pytest.raises(ReportError, match="no such node"):
        build_charts(demo_root, nodes=["nope"])


def test_save_charts_writes_png_svg_and_offline_html(demo_root, tmp_path):
    charts = build_charts(demo_root).charts[-2:]       # the timeline and the durations: quick
    pngs = save_charts(charts, tmp_path / "png", "png")
    assert [Path(p).name for p in pngs] == [f"{c.name}.png" for c in charts]
    assert all(Path(p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    svgs = save_charts(charts, tmp_path / "svg", "svg")
    assert all("<svg" in Path(p).read_text() for p in svgs)
    (page,) = save_charts(charts[-1:], tmp_path / "html", "html")
    text = Path(page).read_text()
    assert "vegaEmbed" in text and "<script src" not in text.lower()


def test_plot_command_writes_the_files_and_prints_their_paths(demo_root, tmp_path):
    res = CliRunner().invoke(main, ["plot", "--root", str(demo_root), "--out", str(tmp_path / "p"),
                                    "--format", "svg", "--node", "stage1_evaluate"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    paths = res.stdout.split()
    assert len(paths) == 7 and all(Path(p).is_file() and p.endswith(".svg") for p in paths)
    res = CliRunner().invoke(main, ["plot", "--root", str(demo_root), "--out", str(tmp_path / "q"), "--node", "x"])
    assert res.exit_code != 0 and res.output.startswith("Error: --node 'x': no such node")
    res = CliRunner().invoke(main, ["plot", "--root", str(demo_root), "--out", str(tmp_path / "q"),
                                    "--format", "gif"])
    assert res.exit_code == 2


def test_charts_json_is_plain_data(demo_root):
    # specs go into a page as JSON: no NaN, no objects json cannot write
    for item in build_charts(demo_root).charts:
        json.dumps(item.to_dict(), allow_nan=False)


def test_a_pareto_front_of_one_job_says_so(tmp_path):
    from conftest import score_catalog
    from trackdag.node import ProcessNode
    from trackdag.pipeline import Pipeline

    root = score_catalog(tmp_path, '{"a": p, "b": 2 * p}', values=(1, 2, 3))  # p = 3 is best on both
    node = ProcessNode(name="score", executable="x", out_paths={"out": "out.json"}, algo_params={"p": 0},
                       default_metrics=[{"metric": "a", "objective": "maximize", "primary": True},
                                        {"metric": "b", "objective": "maximize", "primary": True}])
    (vantage,) = [c for c in build_charts(root, pipeline=Pipeline([node])).charts if c.kind == "vantage"]
    assert any(n.startswith("the Pareto front is a single point") for n in vantage.notes)
    assert not any("dashed: the Pareto front" in n for n in vantage.notes)
    assert all(layer["mark"]["type"] != "line" for layer in vantage.to_dict()["layer"])
