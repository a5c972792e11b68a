"""Read-only means read-only: `trackdag sql`, `report --where` and open_catalog() change no file (issue 10.6).

Every attempt runs on a real catalog; afterwards the tree under the test's
folder is the same (no new file, no new folder) and the catalog file is
byte-identical.  The guarantee comes from DuckDB's settings
(``enable_external_access``, ``temp_directory``, ``lock_configuration``), so
statements that `trackdag sql`'s statement check lets through (EXPLAIN
ANALYZE COPY, CALL enable_logging, PRAGMA ...) are refused as well, and so is
anything smuggled in through ``--where``.
"""
import hashlib
import os
import shlex
import shutil
import sys
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

import trackdag
from conftest import score_catalog
from trackdag.api import query
from trackdag.cli import main
from trackdag.errors import CatalogError, QueryError, TrackdagError
from trackdag.node import ProcessNode
from trackdag.pipeline import Pipeline
from trackdag.report import build_report, node_report
from trackdag.views import prepare_reader

VIEWS = ("job_state", "params_long", "metrics", "lineage", "results_score")
TABLES = ("jobs", "params", "edges", "results", "attempts", "runs", "param_values", "param_sets")


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return score_catalog(tmp_path_factory.mktemp("ro"), '{"score": p * 2}')


@pytest.fixture
def here(root, monkeypatch):
    """The folder around the catalog, as the current directory (relative paths land in it)."""
    monkeypatch.chdir(root.parent)
    return root.parent


def _snapshot(folder: Path) -> tuple[frozenset, str]:
    """Every path under ``folder`` (files and folders) and the catalog's sha256."""
    paths = frozenset(str(p.relative_to(folder)) for p in folder.rglob("*"))
    catalogs = sorted(folder.rglob("catalog.duckdb"))
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in catalogs)).hexdigest()
    return paths, digest


class Unchanged:
    """``with Unchanged(folder):`` fails when a file or folder appeared, or the catalog changed."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def __enter__(self) -> "Unchanged":
        self.before = _snapshot(self.folder)
        return self

    def __exit__(self, *exc) -> None:
        paths, digest = _snapshot(self.folder)
        assert paths == self.before[0], f"new paths: {sorted(paths - self.before[0])}"
        assert digest == self.before[1], "the catalog file changed"


def _one_line(message: str) -> str:
    assert message.strip() and "\n" not in message.strip(), repr(message)
    return message


def _attempts(d: Path) -> list[str]:
    """Statements that would write (a file, the catalog, a setting) if DuckDB let them."""
    return [
        "COPY (SELECT 1) TO 'x.csv'",
        f"COPY (SELECT 1) TO '{d}/x.csv'",
        f"COPY jobs TO '{d}/jobs.parquet' (FORMAT parquet)",
        f"EXPLAIN ANALYZE COPY (SELECT 1) TO '{d}/x.csv'",
        "EXPLAIN ANALYZE COPY (SELECT 1) TO 'x.csv'",
        f"CALL enable_logging(storage='file', storage_path='{d}/logs')",
        "CALL enable_logging()",
        f"ATTACH '{d}/new.duckdb'",
        f"ATTACH '{d}/new.duckdb' (READ_WRITE)",
        f"EXPORT DATABASE '{d}/dump'",
        "INSTALL httpfs",
        "LOAD httpfs",
        "SET enable_external_access = true",
        "RESET enable_external_access",
        "SET lock_configuration = false",
        f"SET allowed_directories = ['{d}']",
        f"SET temp_directory = '{d}/spill'",
        "CREATE TABLE t AS SELECT 1",
        "INSERT INTO jobs SELECT * FROM jobs",
        "DELETE FROM results",
        "DROP VIEW job_state",
        "PRAGMA enable_profiling = 'json'",
        f"PRAGMA profiling_output = '{d}/profile.json'",
        "PRAGMA enable_checkpoint_on_shutdown",
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM read_text('/etc/hostname')",
        f"SELECT * FROM glob('{d}/*')",
        f"SELECT count(*) FROM read_csv('{d}/out/catalog.duckdb.tmp/*')",
        "SELECT 1; COPY (SELECT 1) TO 'x.csv'",
    ]


# -- trackdag sql --------------------------------------------------------------------------------------
def test_trackdag_sql_refuses_every_write_with_one_line(root, here):
    for statement in _attempts(here):
        with Unchanged(here):
            res = CliRunner().invoke(main, ["sql", statement, "--root", str(root)])
        assert res.exit_code == 1, (statement, res.output)
        assert res.stdout == "", statement
        assert _one_line(res.stderr).startswith("Error: "), statement


def test_query_refuses_every_write_with_one_line(root, here):
    for statement in _attempts(here):
        with Unchanged(here), pytest.raises(QueryError) as err:
            query(root, statement)
        _one_line(str(err.value))
    # the guarantee is DuckDB's, not the statement check's: what the check lets through says so
    with Unchanged(here), pytest.raises(QueryError, match=r"Permission Error.*disabled by configuration.*read-only"):
        query(root, f"EXPLAIN ANALYZE COPY (SELECT 1) TO '{here}/x.csv'")
    with Unchanged(here), pytest.raises(QueryError, match="configuration has been locked"):
        query(root, f"CALL enable_logging(storage='file', storage_path='{here}/logs')")
    with Unchanged(here), pytest.raises(QueryError, match="Permission Error: Cannot access file \"/etc/passwd\""):
        query(root, "SELECT * FROM read_csv('/etc/passwd')")


def test_the_guarantee_does_not_rest_on_the_statement_check(root, here, monkeypatch):
    """With `trackdag sql`'s statement check switched off, DuckDB's settings alone refuse every attempt."""
    monkeypatch.setattr(trackdag.api, "check_read_only", lambda *a, **k: None)
    for statement in _attempts(here):
        with Unchanged(here), pytest.raises(QueryError) as err:
            query(root, statement)
        _one_line(str(err.value))


# -- open_catalog --------------------------------------------------------------------------------------
def test_open_catalog_sql_refuses_every_write(root, here):
    with Unchanged(here):
        with trackdag.open_catalog(root) as cat:
            for statement in _attempts(here):
                with pytest.raises(duckdb.Error) as err:
                    rel = cat.sql(statement)
                    if rel is not None:
                        rel.fetchall()
                _one_line(str(err.value))
            # the raw connection is sealed too, settings included
            for statement in _attempts(here)[:8]:
                with pytest.raises(duckdb.Error):
                    cat.connection.execute(statement)
            assert cat.sql("SELECT current_setting('enable_external_access'), current_setting('lock_configuration'),"
                           " current_setting('temp_directory')").fetchall() == [(False, True, "")]
            assert cat.sql("SELECT count(*) FROM jobs").fetchall() == [(3,)]


def test_harmless_statements_leave_the_file_as_it_was(root, here):
    """What DuckDB runs on a read-only file without complaint still writes nothing."""
    with Unchanged(here):
        with trackdag.open_catalog(root) as cat:
            for statement in ("CHECKPOINT", "FORCE CHECKPOINT", "VACUUM", "ANALYZE", "LOAD json",
                              "CREATE TEMP TABLE mine AS SELECT * FROM range(100000)",
                              "CREATE TEMP MACRO twice(x) AS 2 * x", "CALL truncate_duckdb_logs()"):
                cat.sql(statement)
            assert cat.sql("SELECT twice(count(*)) FROM mine").fetchall() == [(200000,)]
        assert query(root, "PRAGMA database_size").num_rows == 1


def test_writes_through_relation_helpers_are_refused(root, here):
    with Unchanged(here), trackdag.open_catalog(root) as cat:
        rel = cat.sql("SELECT * FROM job_state")
        for write in (lambda: rel.to_csv(str(here / "r.csv")), lambda: rel.to_parquet(str(here / "r.parquet")),
                      lambda: cat.connection.read_csv("/etc/passwd")):
            with pytest.raises(duckdb.Error, match="disabled by configuration"):
                write()


# -- report --where ------------------------------------------------------------------------------------
def _smuggled(statement: str) -> str:
    """A --where that ends the report's first statement, runs ``statement``, and reopens a valid one."""
    return (f"1=1)) SELECT 1; {statement}; "
            "WITH base AS (SELECT * FROM results_score WHERE (1=1")


def _where_attempts(d: Path) -> list[str]:
    return [
        _smuggled(f"COPY (SELECT 1) TO '{d}/x.csv'"),
        _smuggled("COPY (SELECT 1) TO 'x.csv'"),
        _smuggled(f"EXPLAIN ANALYZE COPY (SELECT 1) TO '{d}/x.csv'"),
        _smuggled(f"CALL enable_logging(storage='file', storage_path='{d}/logs')"),
        _smuggled(f"ATTACH '{d}/new.duckdb' (READ_WRITE)"),
        _smuggled(f"EXPORT DATABASE '{d}/dump'"),
        _smuggled("INSTALL httpfs"),
        _smuggled("LOAD httpfs"),
        _smuggled("SET enable_external_access = true"),
        _smuggled("CREATE TABLE t AS SELECT 1"),
        _smuggled("INSERT INTO jobs SELECT * FROM jobs"),
        _smuggled(f"PRAGMA profiling_output = '{d}/profile.json'"),
        "(SELECT count(*) FROM read_csv('/etc/passwd')) > 0",
        "1=1) UNION ALL SELECT * FROM read_csv('/etc/passwd') WHERE (1=1",
        f"1=1 OR EXISTS (SELECT * FROM read_blob('{d}/*.py'))",
    ]


def test_the_where_injections_would_write_without_the_seal(root, tmp_path):
    """The control: the same --where on an unsealed read-only connection does write (so the tests have teeth)."""
    con = duckdb.connect(str(root / "catalog.duckdb"), read_only=True)
    try:
        prepare_reader(con)
        try:  # the smuggled statements run; what the report reads after them may then not parse
            node_report(con, "score", specs=None, where=_smuggled(f"COPY (SELECT 1) TO '{tmp_path}/x.csv'"))
        except TrackdagError:
            pass
    finally:
        con.close()
    assert (tmp_path / "x.csv").is_file()


def test_report_where_refuses_every_write_with_one_line(root, here):
    for where in _where_attempts(here):
        with Unchanged(here), pytest.raises(TrackdagError) as err:
            build_report(root, where=where)
        assert "--where" in _one_line(str(err.value)), where
    with Unchanged(here), pytest.raises(TrackdagError, match="disabled by configuration"):
        build_report(root, where=_smuggled(f"COPY (SELECT 1) TO '{here}/x.csv'"))
    with Unchanged(here), pytest.raises(TrackdagError, match="configuration has been locked"):
        build_report(root, where=_smuggled("CALL enable_logging(storage='file', storage_path='logs')"))
    # ... and through the CLI, with one line (a ReportError: exit code 2)
    with Unchanged(here):
        res = CliRunner().invoke(main, ["report", "--root", str(root), "--where",
                                        _smuggled(f"COPY (SELECT 1) TO '{here}/x.csv'")])
    assert res.exit_code == 2 and _one_line(res.stderr).startswith("Error: Permission Error")


def test_report_where_still_filters(root, here):
    with Unchanged(here):
        report = build_report(root, where='"params.score.p" >= 2', metrics=["score:max"])
        assert [r["metrics"]["score"] for r in report.nodes[0].rows] == [6, 4]
        averaged = build_report(root, average_over="p")  # registers an Arrow table on the sealed connection
        assert averaged.nodes[0].rows[0]["n_values"] == 3


# -- ordinary reads --------------------------------------------------------------------------------------
def test_every_view_and_table_reads_through_open_catalog_and_query(root, here):
    with Unchanged(here):
        with trackdag.open_catalog(root) as cat:
            for name in VIEWS + TABLES:  # a one-node pipeline: no edges
                assert (cat.sql(f'SELECT * FROM "{name}"').to_arrow_table().num_rows > 0) == (name != "edges"), name
            assert cat.results("score").to_arrow_table().num_rows == 3
            assert len(cat.jobs().fetchall()) == 3
            cat.refresh()  # prepares again on the sealed connection
            assert sorted(cat.sql('SELECT "metrics.score.score" FROM results_score').fetchall()) == [(2,), (4,), (6,)]
            lineage = cat.sql("SELECT count(*) FROM lineage WHERE depth = 0").fetchall()
            assert lineage == [(3,)]
        for name in VIEWS + TABLES:
            assert (query(root, f'SELECT * FROM "{name}"').num_rows > 0) == (name != "edges"), name
        table = query(root, 'SELECT p.key, count(*) AS n FROM params_long p GROUP BY 1 ORDER BY 1')
        assert table.column("key").to_pylist() == ["score.p"]
        assert query(root, "EXPLAIN SELECT * FROM metrics").num_rows >= 1
        assert query(root, "DESCRIBE results_score").num_rows > 3
        assert trackdag.api.describe_catalog(root)


def test_two_readers_in_one_process_share_the_sealed_catalog(root, here):
    with Unchanged(here):
        with trackdag.open_catalog(root) as a, trackdag.open_catalog(root) as b:
            assert a.sql("SELECT count(*) FROM job_state").fetchall() == b.sql(
                "SELECT count(*) FROM job_state").fetchall() == [(3,)]
        data = here / "data"
        data.mkdir(exist_ok=True)
        try:
            with trackdag.open_catalog(root):
                # DuckDB shares one instance per file and process, and file access is the instance's
                with pytest.raises(CatalogError, match="already open in this process with other file access"):
                    trackdag.open_catalog(root, read_files=[data])
        finally:
            data.rmdir()


def _stale_copy(root: Path, folder: Path) -> Path:
    """A copy of the catalog with a result key its stored views do not have (written behind the writer's back)."""
    folder.mkdir()
    shutil.copy(root / "catalog.duckdb", folder / "catalog.duckdb")
    con = duckdb.connect(str(folder / "catalog.duckdb"))
    con.execute("INSERT INTO results SELECT job_id, 'metrics.score.late', 5, NULL, 9 FROM jobs")
    con.close()
    return folder


def _temp_views(cat) -> set[str]:
    return {r[0] for r in cat.sql("SELECT view_name FROM duckdb_views() WHERE temporary").fetchall()}


def test_a_catalog_whose_views_are_rebuilt_as_temp_views(root, tmp_path):
    stale = _stale_copy(root, tmp_path / "stale")
    with Unchanged(tmp_path):
        with trackdag.open_catalog(stale) as cat:
            assert "results_score" in _temp_views(cat)
            assert cat.sql('SELECT DISTINCT "metrics.score.late" FROM results_score').fetchall() == [(5,)]
            for name in VIEWS:
                assert cat.sql(f'SELECT count(*) FROM "{name}"').fetchall()[0][0] > 0, name
        assert query(stale, 'SELECT count(*) FROM results_score WHERE "metrics.score.late" = 5').to_pylist() == [
            {"count_star()": 3}]
        report = build_report(stale, metrics=["late:max"])
        assert len(report.nodes[0].rows) == 3
        with pytest.raises(QueryError):
            query(stale, f"COPY results_score TO '{tmp_path}/x.csv'")


def test_a_catalog_of_a_run_in_which_no_job_finished(tmp_path):
    """No results ever: the views still answer (the registration of the plan installed them)."""
    from trackdag.sweep import run

    tool = tmp_path / "fail.py"
    tool.write_text("import sys; sys.exit(3)\n")
    node = ProcessNode(name="score", executable=f"{shlex.quote(sys.executable)} {shlex.quote(str(tool))}",
                       out_paths={"out": "out.json"}, algo_params={"p": 0})
    res = run({"score.p": [1, 2]}, pipeline=Pipeline([node]), root=tmp_path / "out", backend="local", workers=2)
    assert res.exit_code != 0
    with Unchanged(tmp_path):
        with trackdag.open_catalog(tmp_path / "out") as cat:
            assert not {"job_state", "results_score"} & _temp_views(cat)  # stored ones: no TEMP stand-ins
            assert sorted(r[0] for r in cat.sql("SELECT status FROM job_state").fetchall()) == ["failed", "failed"]
            assert cat.sql("SELECT count(*) FROM params_long").fetchall() == [(2,)]
            assert cat.sql("SELECT count(DISTINCT param_hashid) FROM results_score").fetchall() == [(2,)]
        assert query(tmp_path / "out", "SELECT count(*) AS n FROM lineage").to_pylist() == [{"n": 2}]


# -- the opt-ins: read_files and allow_writes_to --------------------------------------------------------
@pytest.fixture
def data(here):
    folder = here / "data"
    folder.mkdir()
    (folder / "labels.csv").write_text("p,label\n1,one\n2,two\n3,three\n")
    yield folder
    shutil.rmtree(folder)


def test_read_files_lets_a_query_join_a_csv_of_that_folder_only(root, here, data):
    join = (f"SELECT l.label, r.\"metrics.score.score\" AS s FROM results_score r "
            f"JOIN read_csv('{data}/labels.csv') l ON l.p = r.\"params.score.p\" ORDER BY s")
    with Unchanged(here):
        with pytest.raises(QueryError, match="disabled by configuration"):
            query(root, join)  # off by default
        assert query(root, join, read_files=[data]).to_pylist() == [
            {"label": "one", "s": 2}, {"label": "two", "s": 4}, {"label": "three", "s": 6}]
        assert query(root, "SELECT count(*) AS n FROM read_csv('data/labels.csv')", read_files=data).to_pylist() == [
            {"n": 3}]
        with trackdag.open_catalog(root, read_files=[data]) as cat:
            assert cat.sql(join).fetchall()[0] == ("one", 2)
        # other files stay closed, and nothing can write into the open folder
        for statement in ("SELECT * FROM read_csv('/etc/passwd')",
                          f"SELECT * FROM read_text('{data}/../out/catalog.duckdb')",
                          f"COPY (SELECT 1) TO '{data}/x.csv'",
                          f"EXPLAIN ANALYZE COPY (SELECT 1) TO '{data}/x.csv'",
                          f"ATTACH '{data}/new.duckdb' (READ_WRITE)",
                          f"EXPORT DATABASE '{data}/dump'",
                          f"COPY FROM DATABASE memory TO memory",
                          f"SELECT 1; COPY (SELECT 1) TO '{data}/x.csv'",
                          f"CALL enable_logging(storage='file', storage_path='{data}/logs')",
                          f"PRAGMA profiling_output = '{data}/profile.json'",
                          "SET allowed_directories = ['/']"):
            with pytest.raises(QueryError) as err:
                query(root, statement, read_files=[data])
            _one_line(str(err.value))
            with trackdag.open_catalog(root, read_files=[data]) as cat, pytest.raises((QueryError, duckdb.Error)):
                cat.sql(statement).fetchall()
        res = CliRunner().invoke(main, ["sql", f"SELECT * FROM read_csv('{data}/labels.csv')", "--root", str(root)])
        assert res.exit_code == 1 and "disabled by configuration" in _one_line(res.stderr)


@pytest.mark.skipif(not os.path.isfile("/etc/passwd"), reason="needs /etc/passwd")
def test_read_files_opens_etc_for_etc_passwd(root, here):
    sql = "SELECT count(*) AS n FROM read_csv('/etc/passwd', sep=':', header=false)"
    with Unchanged(here):
        with pytest.raises(QueryError, match="Permission Error"):
            query(root, sql)
        assert query(root, sql, read_files=["/etc"]).to_pylist()[0]["n"] > 0
        with trackdag.open_catalog(root, read_files="/etc") as cat:
            assert cat.sql(sql).fetchall()[0][0] > 0


def test_read_files_must_be_folders(root, here, data):
    with pytest.raises(TrackdagError, match="read_files: .*labels.csv is not a folder"):
        query(root, "SELECT 1", read_files=[data / "labels.csv"])
    with pytest.raises(TrackdagError, match="read_files: .*nowhere is not a folder"):
        trackdag.open_catalog(root, read_files=here / "nowhere")
    with pytest.raises(TrackdagError, match="for a read-only catalog"):
        trackdag.open_catalog(root, read_only=False, read_files=[data])


def test_allow_writes_to_opens_one_folder_to_copy(root, here, tmp_path):
    out = tmp_path / "export"
    with Unchanged(here):
        with trackdag.open_catalog(root, allow_writes_to=out) as cat:
            out.mkdir()
            cat.connection.execute(f"COPY (SELECT * FROM job_state) TO '{out}/job_state.parquet' (FORMAT parquet)")
            for statement in (f"COPY (SELECT 1) TO '{here}/x.csv'", "SELECT * FROM read_csv('/etc/passwd')",
                              "SET enable_external_access = true"):
                with pytest.raises(duckdb.Error):
                    cat.connection.execute(statement)
            with pytest.raises(QueryError, match="SELECT statements only"):
                cat.sql(f"COPY (SELECT 1) TO '{out}/y.csv'")
    assert sorted(os.listdir(out)) == ["job_state.parquet"]


def test_the_sql_command_reads_a_folder_given_with_read_files(tmp_path):
    from click.testing import CliRunner

    from conftest import score_catalog
    from trackdag.cli import main

    root = score_catalog(tmp_path, '{"score": p}')
    data = tmp_path / "data"
    data.mkdir()
    (data / "extra.csv").write_text("p,label\n1,one\n2,two\n")
    query = (f"SELECT e.label FROM read_csv('{data / 'extra.csv'}') e JOIN results_score r "
             'ON r."params.score.p" = e.p ORDER BY 1')
    refused = CliRunner().invoke(main, ["sql", query, "--root", str(root), "--format", "csv"])
    assert refused.exit_code == 1 and refused.output.startswith("Error:")
    res = CliRunner().invoke(main, ["sql", query, "--root", str(root), "--format", "csv", "--read-files", str(data)])
    assert res.exit_code == 0, res.output
    assert res.output == "label\none\ntwo\n"
    before = sorted(p.name for p in data.iterdir())
    res = CliRunner().invoke(main, ["sql", f"COPY (SELECT 1) TO '{data / 'x.csv'}'", "--root", str(root),
                                    "--read-files", str(data)])
    assert res.exit_code == 1 and sorted(p.name for p in data.iterdir()) == before
