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
