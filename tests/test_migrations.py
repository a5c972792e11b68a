"""Catalogs users already have keep opening (issue 10.10): the fixture was written at schema version 3."""
import gzip
import shutil
from pathlib import Path

import duckdb
import pytest

from trackdag.api import open_catalog
from trackdag.catalog import Catalog
from trackdag.catalog.migrations import LATEST, MIGRATIONS
from trackdag.errors import CatalogError
from trackdag.report import build_report

FIXTURE = Path(__file__).parent / "fixtures" / "catalog-v3.duckdb.gz"


@pytest.fixture
def old_catalog(tmp_path):
    path = tmp_path / "out" / "catalog.duckdb"
    path.parent.mkdir()
    with gzip.open(FIXTURE) as src, open(path, "wb") as dst:
        shutil.copyfileobj(src, dst)
    return path


def _counts(path):
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in ("runs", "jobs", "run_jobs", "edges", "params", "attempts", "results")}
    finally:
        con.close()


def test_an_old_catalog_reads_and_migrates_forward_keeping_every_row(old_catalog):
    before = _counts(old_catalog)
    assert before["jobs"] == 8 and before["results"] > 0
    with open_catalog(old_catalog) as cat:  # read-only: views as TEMP views, nothing written
        states = dict(cat.sql("SELECT status, count(*) FROM job_state GROUP BY ALL").fetchall())
    assert states == {"done": 6, "failed": 1, "skipped": 1}
    report = build_report(old_catalog)
    assert [n.node for n in report.nodes] == ["score"] and report.nodes[0].n_rows == 4
    applied = Catalog(str(old_catalog)).ensure_schema()
    assert applied == [name for number, name in MIGRATIONS if number > 3]
    assert _counts(old_catalog) == before
    con = duckdb.connect(str(old_catalog), read_only=True)
    assert con.execute("SELECT max(version) FROM schema_version").fetchone()[0] == LATEST
    con.close()


def test_a_catalog_from_a_newer_trackdag_is_refused(old_catalog):
    con = duckdb.connect(str(old_catalog))
    con.execute("INSERT INTO schema_version VALUES (99, '0099_future', now())")
    con.close()
    for attempt in (lambda: open_catalog(old_catalog), lambda: Catalog(str(old_catalog)).ensure_schema()):
        with pytest.raises(CatalogError, match="schema version 99, newer than this trackdag knows"):
            attempt()


def test_an_old_catalog_gains_provenance_and_its_runs_say_it_was_not_recorded(old_catalog):
    """0005_provenance (issue 12.6): the environments table and runs' env_id, python, git_dirty, git_diff_hash."""
    from trackdag.status import format_show, show

    def show_lines():
        text = format_show(show("4yruncvmsfaq", catalog=str(old_catalog)))
        return [line for line in text.splitlines() if line.startswith(("  environment:", "  code:"))]

    con = duckdb.connect(str(old_catalog), read_only=True)
    ((run_id,),) = con.execute("SELECT run_id FROM runs").fetchall()
    con.close()
    expected = [f"  environment: - (not recorded: run {run_id} predates provenance)", "  code:    - (not recorded)"]
    assert show_lines() == expected  # read-only, not migrated: the columns are not there yet
    assert "0005_provenance" in Catalog(str(old_catalog)).ensure_schema()
    con = duckdb.connect(str(old_catalog), read_only=True)
    try:
        columns = dict(con.execute("SELECT column_name, data_type FROM information_schema.columns "
                                   "WHERE table_name = 'runs'").fetchall())
        assert {k: columns[k] for k in ("env_id", "python", "git_dirty", "git_diff_hash")} == {
            "env_id": "VARCHAR", "python": "VARCHAR", "git_dirty": "BOOLEAN", "git_diff_hash": "VARCHAR"}
        assert con.execute("SELECT env_id, python, git_dirty, git_diff_hash FROM runs").fetchall() == [
            (None, None, None, None)]
        assert con.execute("SELECT count(*) FROM environments").fetchone()[0] == 0
    finally:
        con.close()
    assert show_lines() == expected  # migrated: the old run still has no provenance, and says so


def test_the_kept_table_ddl_is_what_the_sqlmodel_classes_compile_to():
    from trackdag.catalog.migrations import TABLES_SQL, table_ddl

    kept = TABLES_SQL.read_text(encoding="utf-8")
    assert kept.split("\n\n", 1)[1] == table_ddl(), \
        "a model changed: run trackdag.catalog.migrations.write_tables_sql() and commit sql/tables.sql"
