"""export: every view and table to Parquet / CSV with a manifest; read back by pyarrow, DuckDB, pandas, Polars."""
import csv
import io
import json
import shlex
import sys

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from trackdag.errors import TrackdagError
from trackdag.export import export_catalog, write_table
from trackdag.node import ProcessNode
from trackdag.pipeline import Pipeline
from trackdag.sweep import run

TOOL = """
import json, sys
args = dict(a[2:].split("=", 1) for a in sys.argv[1:])
json.dump({"score": float(args["p"]) / 4, "n": {"k": 1}}, open(args["out"], "w"))
"""
VIEWS = {"job_state", "params_long", "metrics", "lineage", "results_score"}
TABLES = {"runs", "jobs", "run_jobs", "edges", "params", "attempts", "results", "schema_version", "environments",
          "param_values", "param_sets", "view_state"}


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("export")
    (tmp / "tool.py").write_text(TOOL)
    node = ProcessNode(name="score", executable=f"{shlex.quote(sys.executable)} {shlex.quote(str(tmp / 'tool.py'))}",
                       out_paths={"out": "out.json"}, algo_params={"p": 0, "tags": ["a", "b"]})
    res = run({"score.p": [1, 2, 3]}, pipeline=Pipeline([node]), root=tmp / "out", backend="local", workers=3)
    assert res.exit_code == 0
    return tmp / "out"


def _counts(root):
    con = duckdb.connect(str(root / "catalog.duckdb"), read_only=True)
    try:
        return {name: con.execute(f'SELECT count(*) FROM "{name}"').fetchall()[0][0] for name in VIEWS | TABLES}
    finally:
        con.close()


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_export_writes_every_view_and_table_and_a_manifest(root, tmp_path, fmt):
    out = tmp_path / "exported"
    manifest = export_catalog(root, out, fmt=fmt)
    on_disk = json.loads((out / "manifest.json").read_text())
    assert on_disk == manifest
    assert manifest["format"] == fmt and manifest["schema_version"] >= 2
    assert manifest["exported_at"].endswith("+00:00")
    objects = {o["name"]: o for o in manifest["objects"]}
    assert set(objects) == VIEWS | TABLES
    assert {o["kind"] for n, o in objects.items() if n in VIEWS} == {"view"}
    counts = _counts(root)
    for name, item in objects.items():
        path = out / item["file"]
        assert item["rows"] == counts[name], name
        if fmt == "parquet":
            table = pq.read_table(path)
            meta = pq.ParquetFile(path).metadata  # zstd (level 1: see export.PARQUET_OPTIONS)
            assert {meta.row_group(g).column(c).compression for g in range(meta.num_row_groups)
                    for c in range(meta.num_columns)} <= {"ZSTD"}, name
        else:
            table = pacsv.read_csv(path)
        assert table.num_rows == item["rows"] and table.column_names == item["columns"], name
        # DuckDB reads the same file
        con = duckdb.connect()
        assert con.execute(f"SELECT count(*) FROM '{path}'").fetchall() == [(item["rows"],)]
        con.close()
    results = pq.read_table(out / "results_score.parquet") if fmt == "parquet" else pacsv.read_csv(
        out / "results_score.csv")
    assert sorted(results.column("metrics.score.score").to_pylist()) == [0.25, 0.5, 0.75]
    # JSON columns are plain text, so every reader gets strings
    jobs = pq.read_table(out / "jobs.parquet") if fmt == "parquet" else pacsv.read_csv(out / "jobs.csv")
    assert pa.types.is_string(jobs.schema.field("requested").type)
    assert json.loads(jobs.column("requested").to_pylist()[0])["score.p"] in (1, 2, 3)


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_export_reads_back_with_pandas_and_polars(root, tmp_path, fmt):
    out = tmp_path / "exported"
    export_catalog(root, out, fmt=fmt)
    pd = pytest.importorskip("pandas")
    pl = pytest.importorskip("polars")
    reader_pd = pd.read_parquet if fmt == "parquet" else pd.read_csv
    reader_pl = pl.read_parquet if fmt == "parquet" else pl.read_csv
    frame = reader_pd(out / f"results_score.{fmt}")
    assert sorted(frame["params.score.p"]) == [1, 2, 3]
    assert frame["params.score.tags"].iloc[0] == '["a", "b"]'  # a JSON param column, as text
    polars_frame = reader_pl(out / f"jobs.{fmt}")
    assert polars_frame.height == 3 and polars_frame.schema["requested"] == pl.String


def test_export_refuses_a_file_as_folder(root, tmp_path):
    (tmp_path / "f").write_text("")
    with pytest.raises(TrackdagError, match="is a file, not a folder"):
        export_catalog(root, tmp_path / "f")


def test_write_table_formats(tmp_path):
    table = pa.table({"name": ["a", None], "n": [1, 20], "x": [0.5, float("nan")], "l": [[1], None]})
    buf = io.StringIO()
    write_table(table, "json", buf)
    assert json.loads(buf.getvalue()) == [{"name": "a", "n": 1, "x": 0.5, "l": [1]},
                                          {"name": None, "n": 20, "x": None, "l": None}]
    buf = io.StringIO()
    write_table(table, "csv", buf)
    assert list(csv.reader(io.StringIO(buf.getvalue()))) == [["name", "n", "x", "l"], ["a", "1", "0.5", "[1]"],
                                                             ["", "20", "", ""]]
    buf = io.StringIO()
    write_table(table, "table", buf)
    assert buf.getvalue().splitlines() == ["name   n    x  l", "----  --  ---  ----", "a      1  0.5  [1]",
                                           "NULL  20  nan  NULL", "(2 rows)"]
    write_table(table, "parquet", tmp_path / "t.parquet")
    assert pq.read_table(tmp_path / "t.parquet").num_rows == 2
    with pytest.raises(TrackdagError, match="needs a file"):
        write_table(table, "parquet", io.StringIO())
