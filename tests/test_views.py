"""views: schema/views.sql, the wide results_<node> views, param_hashid, refresh by the writer, robust readers."""
import shlex
import sys
from pathlib import Path

import duckdb
import pytest

import trackdag
from trackdag.ids import letter_id
from trackdag.node import ProcessNode
from trackdag.pipeline import Pipeline
from trackdag.sweep import run
from trackdag.views import VIEWS_SQL, static_views

# prep writes {"p": p} to model.txt (not .json: no default metrics for prep);
# ev writes {"acc": p / 10} (plus "f1" when --extra=True) to eval.json.
TOOL = """
import json, sys
args = dict(a[2:].split("=", 1) for a in sys.argv[1:])
if "model" in args:
    p = json.load(open(args["model"]))["p"]
    metrics = {"acc": p / 10}
    if args.get("extra") == "True":
        metrics["f1"] = p / 20
    json.dump(metrics, open(args["out"], "w"))
else:
    json.dump({"p": float(args["p"])}, open(args["out"], "w"))
"""


def pipeline(tmp_path: Path) -> Pipeline:
    tool = tmp_path / "tool.py"
    tool.write_text(TOOL)
    exe = f"{shlex.quote(sys.executable)} {shlex.quote(str(tool))}"
    prep = ProcessNode(name="prep", executable=exe, in_paths={"src"}, out_paths={"out": "model.txt"},
                       algo_params={"p": 1}, perf_params={"threads": 1})
    ev = ProcessNode(name="ev", executable=exe, in_paths={"model"}, out_paths={"out": "eval.json"},
                     algo_params={"extra": False})
    prep.outputs["out"].connect(ev.inputs["model"])
    return Pipeline([prep, ev])


def _run(tmp_path, params, cwd=None, root=None):
    res = run(params, pipeline=pipeline(tmp_path), root=root or tmp_path / "out", backend="local", workers=2,
              cwd=str(cwd or tmp_path))
    assert res.exit_code == 0
    return res


def _views(path):
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {r[0]: r[1] for r in con.execute(
            "SELECT view_name, comment FROM duckdb_views() WHERE NOT internal AND NOT temporary").fetchall()}
    finally:
        con.close()


def _columns(path, view):
    con = duckdb.connect(str(path), read_only=True)
    try:
        return [r[0] for r in con.execute(f'DESCRIBE "{view}"').fetchall()]
    finally:
        con.close()


def test_views_sql_is_plain_sql_with_a_question_per_view():
    views = static_views()
    assert [v.name for v in views] == ["job_state", "params_long", "metrics", "lineage"]
    assert all(v.comment.endswith("?") for v in views)
    text = VIEWS_SQL.read_text()
    for view in views:
        assert f"-- {view.name}: {view.comment}" in text


def test_the_writer_installs_every_view_with_its_question(tmp_path):
    (tmp_path / "data.txt").write_text("x")
    res = _run(tmp_path, {"prep.src": "data.txt", "prep.p": [1, 2]})
    views = _views(res.catalog)
    assert set(views) == {"job_state", "params_long", "metrics", "lineage", "results_prep", "results_ev"}
    assert views["results_ev"].startswith("How did each ev job do?")
    assert _columns(res.catalog, "results_ev") == [
        "job_id", "short_id", "param_hashid", "params.prep.src", "params.prep.p", "params.prep.threads",
        "params.ev.extra", "metrics.ev.acc", "status", "result_status", "result_error", "error", "attempts",
        "started", "ended", "duration_s", "host", "folder"]
    con = duckdb.connect(res.catalog, read_only=True)
    rows = con.execute('SELECT "params.prep.src", "params.prep.p", "params.ev.extra", "params.prep.threads", '
                       '"metrics.ev.acc", status, result_status FROM results_ev ORDER BY 2').fetchall()
    assert rows == [("data.txt", 1, False, 1, 0.1, "done", "ok"), ("data.txt", 2, False, 1, 0.2, "done", "ok")]
    # lineage: each job with itself (depth 0) and its ancestors
    lineage = con.execute("SELECT node, ancestor_node, depth FROM lineage ORDER BY node, depth").fetchall()
    assert lineage == [("ev", "ev", 0), ("ev", "ev", 0), ("ev", "prep", 1), ("ev", "prep", 1),
                       ("prep", "prep", 0), ("prep", "prep", 0)]
    # metrics long and params long
    assert con.execute("SELECT node, metric, value FROM metrics ORDER BY value").fetchall() == [
        ("ev", "acc", 0.1), ("ev", "acc", 0.2)]
    sources = con.execute("SELECT DISTINCT key, kind, source FROM params_long WHERE job_node = 'ev' "
                          "ORDER BY key").fetchall()
    assert sources == [("ev.extra", "algo", "default"), ("prep.p", "algo", "requested"),
                       ("prep.src", "input", "requested"), ("prep.threads", "perf", "default")]
    states = con.execute("SELECT node, status, result_status FROM job_state ORDER BY node").fetchall()
    assert states == [("ev", "done", "ok"), ("ev", "done", "ok"), ("prep", "done", "none"), ("prep", "done", "none")]
    con.close()


def test_views_gain_a_new_metric_key(tmp_path):
    (tmp_path / "data.txt").write_text("x")
    first = _run(tmp_path, {"prep.src": "data.txt", "prep.p": [1, 2]})
    assert "metrics.ev.f1" not in _columns(first.catalog, "results_ev")
    # more jobs whose results bring a new key: the writer regenerates the stored view
    second = _run(tmp_path, {"prep.src": "data.txt", "prep.p": [3], "ev.extra": True})
    assert "metrics.ev.f1" in _columns(second.catalog, "results_ev")
    con = duckdb.connect(second.catalog, read_only=True)
    rows = con.execute('SELECT "params.prep.p", "params.ev.extra", "metrics.ev.acc", "metrics.ev.f1" '
                       "FROM results_ev ORDER BY 1").fetchall()
    assert rows == [(1, False, 0.1, None), (2, False, 0.2, None), (3, True, 0.3, 0.15)]
    con.close()


def test_param_hashid_is_stable_across_roots_and_machines_and_ignores_perf_params(tmp_path):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "data.txt").write_text("x")
    # the "same" sweep from two folders: different absolute inputs, so different jobs...
    one = _run(tmp_path, {"prep.src": "data.txt", "prep.p": [1, 2]}, cwd=tmp_path / "a", root=tmp_path / "a" / "o")
    two = _run(tmp_path, {"prep.src": "data.txt", "prep.p": [1, 2], "prep.threads": 8},
               cwd=tmp_path / "b", root=tmp_path / "b" / "o")

    def ids(catalog):
        con = duckdb.connect(catalog, read_only=True)
        try:
            return con.execute('SELECT "params.prep.p", param_hashid, job_id FROM results_ev ORDER BY 1').fetchall()
        finally:
            con.close()

    a, b = ids(one.catalog), ids(two.catalog)
    assert [r[2] for r in a] != [r[2] for r in b]
    # ...but the same param_hashids: inputs enter as written, perf params (threads) not at all
    assert [r[1] for r in a] == [r[1] for r in b]
    assert a[0][1] == letter_id({"ev.extra": False, "prep.p": 1, "prep.src": "data.txt"})
    assert all(len(h) == 12 and h.isalpha() for _, h, _ in a)
    con = duckdb.connect(one.catalog, read_only=True)
    # a predict job and the evaluate job made from it share the hashid only when ev adds no params
    assert con.execute("SELECT count(DISTINCT param_hashid) FROM job_state").fetchall() == [(4,)]
    con.close()


def _strip_derived(path):
    """Make the catalog look like one written before views existed."""
    con = duckdb.connect(str(path))
    for name in ("job_state", "params_long", "metrics", "lineage", "results_ev", "results_prep"):
        con.execute(f'DROP VIEW IF EXISTS "{name}"')
    for name in ("param_values", "param_sets", "view_state"):
        con.execute(f"DROP TABLE IF EXISTS {name}")
    con.close()


def test_readers_build_what_is_missing_as_temp_objects_and_never_write(tmp_path):
    (tmp_path / "data.txt").write_text("x")
    res = _run(tmp_path, {"prep.src": "data.txt", "prep.p": [1, 2]})
    with trackdag.open_catalog(tmp_path / "out") as cat:
        expected = cat.sql('SELECT param_hashid, "metrics.ev.acc" FROM results_ev ORDER BY 2').fetchall()
    _strip_derived(res.catalog)
    assert _views(res.catalog) == {}
    with trackdag.open_catalog(tmp_path / "out") as cat:
        assert cat.sql('SELECT param_hashid, "metrics.ev.acc" FROM results_ev ORDER BY 2').fetchall() == expected
        assert cat.sql("SELECT count(*) FROM job_state").fetchall() == [(4,)]
    assert _views(res.catalog) == {}  # the reader changed nothing on disk


def test_readers_see_keys_the_stored_views_do_not_have_yet(tmp_path):
    (tmp_path / "data.txt").write_text("x")
    res = _run(tmp_path, {"prep.src": "data.txt", "prep.p": [1]})
    con = duckdb.connect(res.catalog)  # a row written behind the writer's back (e.g. an older trackdag)
    con.execute("INSERT INTO results SELECT job_id, 'metrics.ev.late', 5, NULL, 9 FROM jobs WHERE node = 'ev'")
    con.close()
    assert "metrics.ev.late" not in _columns(res.catalog, "results_ev")
    with trackdag.open_catalog(res.catalog) as cat:
        assert cat.sql('SELECT "metrics.ev.late" FROM results_ev').fetchall() == [(5,)]
    # a writer (the next run, or Catalog.refresh_views) installs the new view for good
    assert "results_ev" in trackdag.Catalog(res.catalog).refresh_views()
    assert "metrics.ev.late" in _columns(res.catalog, "results_ev")
    assert trackdag.Catalog(res.catalog).refresh_views() == []  # nothing changed: nothing redone


def test_refresh_on_an_empty_catalog(tmp_path):
    cat = trackdag.Catalog(tmp_path / "c.duckdb")
    assert cat.refresh_views() == ["job_state", "params_long", "metrics", "lineage"]
    with trackdag.open_catalog(tmp_path / "c.duckdb") as open_cat:
        assert open_cat.nodes() == []
        assert open_cat.jobs().fetchall() == []


def test_a_non_catalog_file_is_refused(tmp_path):
    path = tmp_path / "x.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE t (x INT)")
    con.close()
    with pytest.raises(trackdag.TrackdagError, match="not a trackdag catalog"):
        trackdag.open_catalog(path)


def _registered(tmp_path, n_rows):
    """A catalog with run 'r' and the plan of ``n_rows`` rows of ``pipeline`` registered; (catalog, plan)."""
    from datetime import datetime

    from trackdag.plan import plan

    the_plan = plan(pipeline(tmp_path), [{"prep.src": "d.txt", "prep.p": p} for p in range(n_rows)],
                    tmp_path / "out", cwd=str(tmp_path))
    cat = trackdag.Catalog(tmp_path / "out" / "catalog.duckdb")
    cat.begin_run({"run_id": "r", "root": str(tmp_path), "backend": "local", "host": "h", "pid": 1,
                   "trackdag_version": "t", "started": datetime.now(), "status": "running"})
    cat.register_plan("r", the_plan, {j: "planned" for j in the_plan.jobs})
    return cat, the_plan


def test_each_micro_batch_that_brings_a_new_key_or_value_kind_regenerates_the_view(tmp_path):
    cat, the_plan = _registered(tmp_path, 3)
    evs = sorted((j for j in the_plan.jobs.values() if j.node == "ev"), key=lambda j: j.requested["prep.p"])

    def record(job, row):
        cat.record([{"job_id": job.job_id, "status": "done"}], [], [(job.job_id, row, None)])

    def types():
        return {c: t for c, t, *_ in cat.query("DESCRIBE results_ev") if c.startswith("metrics.")}

    record(evs[0], {"metrics.ev.acc": 1})
    assert types() == {"metrics.ev.acc": "BIGINT"}
    record(evs[1], {"metrics.ev.acc": 2, "metrics.ev.f1": 0.5})  # same run, no new job: a new key
    assert types() == {"metrics.ev.acc": "BIGINT", "metrics.ev.f1": "DOUBLE"}
    record(evs[2], {"metrics.ev.acc": 0.25})  # a new kind of value widens the column
    assert types() == {"metrics.ev.acc": "DOUBLE", "metrics.ev.f1": "DOUBLE"}
    assert cat.query('SELECT "metrics.ev.acc" FROM results_ev ORDER BY 1') == [(0.25,), (1.0,), (2.0,)]


def test_param_sets_computed_by_chunks_equal_those_computed_at_once(tmp_path, monkeypatch):
    """A registration completes its jobs' param sets by chunks of PARAM_SET_CHUNK: the same rows either way."""
    import shutil

    from trackdag import param_sets

    found = []
    for chunk in (2, 10_000):
        monkeypatch.setattr(param_sets, "PARAM_SET_CHUNK", chunk)
        shutil.rmtree(tmp_path / "out", ignore_errors=True)
        cat, _ = _registered(tmp_path, 5)
        found.append((cat.query("SELECT * FROM param_sets ORDER BY ALL"),
                      cat.query("SELECT * FROM param_values ORDER BY ALL")))
    assert len(found[0][0]) == 10  # every job of both nodes has its set
    assert found[0] == found[1]


def test_a_reader_builds_the_views_from_the_keys_the_writer_kept(tmp_path, monkeypatch):
    """At a million jobs reading every key again cost a reader seconds; the writer keeps them with its views."""
    import trackdag.views as views

    (tmp_path / "data.txt").write_text("x")
    res = _run(tmp_path, {"prep.src": "data.txt", "prep.p": [1, 2, 3]})
    reads = []
    real = views.data_keys
    monkeypatch.setattr(views, "data_keys", lambda con: reads.append(1) or real(con))
    with trackdag.open_catalog(res.catalog) as cat:
        assert len(cat.sql('SELECT "metrics.ev.acc" FROM results_ev').fetchall()) == 3
    assert reads == []  # every batch of the run kept the keys current
    con = duckdb.connect(res.catalog)  # a row behind the writer's back: the reader reads the data itself
    con.execute("INSERT INTO results SELECT job_id, 'metrics.ev.late', 5, NULL, 9 FROM jobs WHERE node = 'ev'")
    con.close()
    with trackdag.open_catalog(res.catalog) as cat:
        assert cat.sql('SELECT DISTINCT "metrics.ev.late" FROM results_ev').fetchall() == [(5,)]
    assert reads == [1]


def test_lineage_keeps_one_row_per_ancestor_at_its_shortest_depth(tmp_path):
    # a diamond with a shortcut: c reads a directly and through b, so a is c's ancestor by two paths
    # (depths 1 and 2); lineage has one row for it, at depth 1.
    tool = tmp_path / "cat.py"
    tool.write_text("import sys\nargs = dict(a[2:].split('=', 1) for a in sys.argv[1:])\n"
                    "open(args.pop('out'), 'w').write(repr(sorted(args.items())))\n")
    exe = f"{shlex.quote(sys.executable)} {shlex.quote(str(tool))}"
    a = ProcessNode(name="a", executable=exe, out_paths={"out": "a.txt"}, algo_params={"k": 1})
    b = ProcessNode(name="b", executable=exe, in_paths={"src"}, out_paths={"out": "b.txt"})
    c = ProcessNode(name="c", executable=exe, in_paths={"x", "y"}, out_paths={"out": "c.txt"})
    a.outputs["out"].connect(b.inputs["src"])
    a.outputs["out"].connect(c.inputs["x"])
    b.outputs["out"].connect(c.inputs["y"])
    res = run({"a.k": [1, 2]}, pipeline=Pipeline([a, b, c]), root=tmp_path / "out", backend="local", workers=2,
              cwd=str(tmp_path))
    assert res.exit_code == 0
    con = duckdb.connect(res.catalog, read_only=True)
    try:
        rows = con.execute("SELECT node, ancestor_node, depth, count(*) FROM lineage "
                           "GROUP BY ALL ORDER BY node, depth, ancestor_node").fetchall()
        pairs = con.execute("SELECT count(*), count(DISTINCT (job_id, ancestor_id)) FROM lineage").fetchone()
    finally:
        con.close()
    assert rows == [("a", "a", 0, 2), ("b", "b", 0, 2), ("b", "a", 1, 2),
                    ("c", "c", 0, 2), ("c", "a", 1, 2), ("c", "b", 1, 2)]
    assert pairs == (12, 12)
