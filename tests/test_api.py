"""api: trackdag.open_catalog -> relations (Arrow, Polars, pandas), shortcuts, read-only, lifetime."""

import duckdb
import pytest

import trackdag
from conftest import score_catalog
from trackdag.api import query
from trackdag.catalog import connect
from trackdag.errors import CatalogError, QueryError, TrackdagError

@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return score_catalog(tmp_path_factory.mktemp("api"), '{"score": p * 2}')


def test_open_catalog_by_root_or_file_and_query(root):
    for target in (root, root / "catalog.duckdb", str(root)):
        with trackdag.open_catalog(target) as cat:
            assert cat.read_only and cat.path == str(root / "catalog.duckdb")
            rel = cat.sql('SELECT "params.score.p" AS p, "metrics.score.score" AS s FROM results_score ORDER BY p')
            assert rel.fetchall() == [(1, 2), (2, 4), (3, 6)]


def test_relations_convert_to_arrow_polars_and_pandas(root):
    with trackdag.open_catalog(root) as cat:
        table = cat.results("score").to_arrow_table()
        assert table.num_rows == 3 and "param_hashid" in table.column_names
        reader = cat.sql("SELECT * FROM metrics").arrow()  # DuckDB 2: a RecordBatchReader
        assert reader.read_all().num_rows == 3
        pl = pytest.importorskip("polars")
        frame = cat.sql("SELECT * FROM job_state").pl()
        assert isinstance(frame, pl.DataFrame) and frame.height == 3
        pd = pytest.importorskip("pandas")
        df = cat.results("score").df()
        assert isinstance(df, pd.DataFrame) and sorted(df["metrics.score.score"]) == [2, 4, 6]


def test_shortcuts(root):
    with trackdag.open_catalog(root) as cat:
        assert cat.nodes() == ["score"]
        jobs = cat.jobs().fetchall()
        assert len(jobs) == 3
        assert cat.jobs().columns[:4] == ["job_id", "short_id", "node", "param_hashid"]
        with pytest.raises(TrackdagError, match=r"no jobs of node 'scor' .*did you mean 'score'"):
            cat.results("scor")
        assert "read-only" in repr(cat)


def test_read_only_by_default(root):
    with trackdag.open_catalog(root) as cat:
        with pytest.raises(duckdb.Error, match="read-only"):
            cat.sql("DELETE FROM jobs")
        # a session's own TEMP objects are fine
        cat.sql("CREATE TEMP TABLE mine AS SELECT 1 AS x")
        assert cat.sql("SELECT x FROM mine").fetchall() == [(1,)]
    with pytest.raises(QueryError, match="read-only: refusing a DELETE statement"):
        query(root, "DELETE FROM jobs")


def test_close_releases_the_lock(root):
    cat = trackdag.open_catalog(root)
    cat.close()
    con = connect(root / "catalog.duckdb", timeout=1)  # a writer can get in now
    con.close()


def test_missing_catalog_is_a_clear_error(tmp_path):
    with pytest.raises(CatalogError, match="no catalog at .*run `trackdag run` first"):
        trackdag.open_catalog(tmp_path / "nowhere")


def test_read_write_installs_views_for_good(tmp_path):
    with trackdag.open_catalog(tmp_path / "new.duckdb", read_only=False) as cat:
        assert cat.sql("SELECT count(*) FROM job_state").fetchall() == [(0,)]
    con = duckdb.connect(str(tmp_path / "new.duckdb"), read_only=True)
    assert con.execute("SELECT count(*) FROM duckdb_views() WHERE view_name = 'job_state'").fetchall() == [(1,)]
    con.close()
