"""Python columns into DuckDB (trackdag.catalog.batch): list parameters and pyarrow give the same rows."""
from __future__ import annotations

import math
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone

import duckdb
import pytest
from hypothesis import given, settings, strategies as st

from trackdag.catalog.batch import LIST_VALUES, drop, put

TYPES = {"s": "VARCHAR", "i": "BIGINT", "n": "INTEGER", "d": "DOUBLE", "b": "BOOLEAN", "t": "TIMESTAMPTZ"}
EPOCH = datetime(2020, 1, 1, tzinfo=timezone.utc)

row = st.fixed_dictionaries({
    "s": st.none() | st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=8),
    "i": st.none() | st.integers(-2**63, 2**63 - 1),
    "n": st.none() | st.integers(-2**31, 2**31 - 1),
    "d": st.none() | st.floats(allow_nan=True, allow_infinity=True),
    "b": st.none() | st.booleans(),
    "t": st.none() | st.integers(0, 10**12).map(lambda us: EPOCH + timedelta(microseconds=us)),
})


def fetched(con, name):
    rows = con.execute(f"SELECT * FROM {name}").fetchall()
    # NaN != NaN: compare it as a marker
    return [tuple("NaN" if isinstance(v, float) and math.isnan(v) else v for v in r) for r in rows]


@settings(max_examples=60, deadline=None)
@given(st.lists(row, max_size=12))
def test_lists_and_arrow_give_the_same_rows(rows):
    con = duckdb.connect()
    columns = {k: [r[k] for r in rows] for k in TYPES}
    put(con, "td_a", columns, TYPES, arrow=False)
    put(con, "td_b", columns, TYPES, arrow=True)
    assert con.execute("DESCRIBE td_a").fetchall() == con.execute("DESCRIBE td_b").fetchall()
    assert fetched(con, "td_a") == fetched(con, "td_b")
    assert len(fetched(con, "td_a")) == len(rows)
    drop(con, "td_a")
    drop(con, "td_b")
    assert con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE 'td_%'").fetchall() == [(0,)]


def test_a_name_is_remade_either_way_and_drop_undoes_both(tmp_path):
    con = duckdb.connect(str(tmp_path / "c.duckdb"))
    for arrow in (False, True, False, False, True, True):
        put(con, "td_x", {"a": [str(arrow)]}, {"a": "VARCHAR"}, arrow=arrow)
        assert con.execute("SELECT a FROM td_x").fetchall() == [(str(arrow),)]
    drop(con, "td_x")
    drop(con, "td_x")  # (nothing left: no error)
    with pytest.raises(duckdb.CatalogException):
        con.execute("SELECT * FROM td_x")


def test_unequal_columns_are_refused():
    with pytest.raises(ValueError, match="td_x: columns of different lengths"):
        put(duckdb.connect(), "td_x", {"a": [1], "b": [1, 2]}, {"a": "BIGINT", "b": "BIGINT"})


PROGRAM = """\
import json, sys
args = dict(a[2:].split("=", 1) for a in sys.argv[1:])
value = json.load(open(args["src"]))["x"] + 1 if "src" in args else int(args["p"])
json.dump({"x": value}, open(args["out"], "w"))
"""

SCRIPT = """\
import json, sys
import duckdb
from trackdag import Pipeline, ProcessNode
from trackdag.catalog.batch import LIST_VALUES, put
from trackdag.sweep import run


def load(folder):  # (KWDagger's load_result: the job folder)
    return {"metrics." + k: v for k, v in json.load(open(folder / "out.json")).items()}


exe = sys.executable + " " + sys.argv[1]
a = ProcessNode(name="a", executable=exe, out_paths={"out": "out.json"}, algo_params={"p": 0},
                primary_out_key="out", load_result=load)
b = ProcessNode(name="b", executable=exe, in_paths={"src"}, out_paths={"out": "out.json"},
                primary_out_key="out", load_result=load)
a.outputs["out"].connect(b.inputs["src"])
res = run({"a.p": list(range(30))}, pipeline=Pipeline([a, b]), root="r", backend="local", workers=2)
assert res.exit_code == 0 and res.counts.done == 60, res.counts
again = run({"a.p": list(range(30))}, pipeline=Pipeline([a, b]), root="r", backend="local", workers=2)
assert again.exit_code == 0 and again.counts.cached == 60, again.counts  # (a rerun checks for stale folders)
print(sorted(m for m in ("pyarrow", "pandas") if m in sys.modules))
con = duckdb.connect("r/catalog.duckdb", read_only=True)
print(con.execute("SELECT count(*), sum(value_num) FROM results WHERE key LIKE '%x'").fetchall())
print(con.execute("SELECT count(*), count(DISTINCT job_id) FROM param_sets").fetchall())
put(duckdb.connect(), "td_big", {"a": list(range(LIST_VALUES + 1))}, {"a": "BIGINT"})  # bulk: pyarrow
print("pyarrow" in sys.modules)
"""


def test_a_small_run_with_results_never_imports_pyarrow_or_pandas(tmp_path):
    """Two nodes with results, 60 jobs, run then rerun: registration, outcome batches, results, param sets
    and the rerun's look for stale folders, no pyarrow."""
    (tmp_path / "prog.py").write_text(PROGRAM)
    (tmp_path / "script.py").write_text(SCRIPT)
    out = subprocess.run([sys.executable, "script.py", str(tmp_path / "prog.py")], capture_output=True, text=True,
                         cwd=tmp_path, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.splitlines()
    assert lines[0] == "[]", out.stdout
    # every result went in: a.x = p (0..29: 435), b.x = p + 1 (465)
    assert lines[1] == "[(60, 900.0)]", out.stdout
    assert lines[2] == "[(60, 60)]", out.stdout
    assert lines[3] == "True", out.stdout


BUDGET = """\
import sys
import duckdb
from trackdag.catalog.batch import LIST_VALUES, put
con = duckdb.connect()
size = LIST_VALUES // 4
for i in range(4):  # the budget's worth of batches, each far below it, go in as lists
    put(con, f"td_{i}", {"a": list(range(size))}, {"a": "BIGINT"})
    assert "pyarrow" not in sys.modules, i
put(con, "td_next", {"a": [1]}, {"a": "BIGINT"})  # the budget is spent: pyarrow from now on
assert "pyarrow" in sys.modules
assert con.execute("SELECT count(*), sum(a) FROM td_3").fetchone() == (size, size * (size - 1) // 2)
print("ok")
"""


def test_batches_go_in_as_lists_until_the_process_has_put_its_budget_through_them(tmp_path):
    out = subprocess.run([sys.executable, "-c", BUDGET], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-3000:]
