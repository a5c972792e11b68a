"""``trackdag import``: a tree the real KWDagger 0.4.1 wrote, indexed in a catalog without being touched.

The same sweep is run twice: by ``kwdagger schedule --backend=serial`` (the
tree to import) and by ``trackdag schedule`` on the ported copy.  The report
of the imported catalog must be the report of trackdag's own run: the same
rows in the same order, the same param_hashids, param columns and metrics
(only job ids, folders and the catalog's path differ).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import stat
import subprocess
from pathlib import Path
from types import SimpleNamespace

import duckdb
import pytest
from click.testing import CliRunner

from kwd_support import kwd, lay_out, trackdag_run
from trackdag.cli import main
from trackdag.compat.kwdagger.importer import import_tree
from trackdag.report import build_report

pytestmark = pytest.mark.slow

SCHEDULE = ["schedule", "--pipeline=pipelines.py::make_pipeline()", "--root_dpath=results", "--backend=serial",
            "--skip_existing=1", "--run=1"]
BIGGER = """
matrix:
    toy_predict.src_fpath: [data.txt]
    toy_predict.scale: [0.5, 1.5, 2.0, 3.0, 4.0]
    toy_predict.offset: [0.0, 1.0]
    toy_evaluate.workers: 0
"""
TABLES = ("runs", "jobs", "run_jobs", "edges", "params", "results", "attempts", "param_sets")


def schedule(kwd, folder: Path, params: str = "--params=params.yaml") -> None:
    """``kwdagger schedule`` (with the test venv ``kwd``) or, with ``kwd=None``, ``trackdag schedule`` in ``folder``."""
    ran = (kwd.run if kwd else trackdag_run)(["kwdagger" if kwd else "trackdag", *SCHEDULE, params], cwd=folder)
    assert ran.returncode == 0, ran.stdout[-2000:] + ran.stderr[-2000:]


@pytest.fixture(scope="module")
def twostage(kwd, tmp_path_factory):
    """The two-stage sweep (8 rows, 16 jobs) run by KWDagger and, ported, by trackdag."""
    base = tmp_path_factory.mktemp("twostage")
    kwd_dir = lay_out("twostage", base / "kwd", port=False)
    schedule(kwd, kwd_dir)
    td_dir = lay_out("twostage", base / "td", port=True)
    schedule(None, td_dir)
    return SimpleNamespace(kwd=kwd_dir, tree=kwd_dir / "results", td=td_dir, own=td_dir / "results",
                           pipeline=f"{td_dir}/pipelines.py::make_pipeline()")


def comparable(catalog, **options) -> dict:
    """The report as a dict without what names the catalog and its jobs (their ids, folders, paths)."""
    report = build_report(catalog, **options).to_dict()
    for key in ("catalog", "pipeline"):
        report.pop(key)
    for node in report["nodes"]:
        for row in node["rows"]:
            for key in ("job_id", "short_id", "folder"):
                row.pop(key)
    return report


def assert_same_report(imported, own, **options) -> None:
    a, b = comparable(imported, **options), comparable(own, **options)
    assert a["nodes"] and a["nodes"][0]["rows"]
    assert json.dumps(a, indent=1) == json.dumps(b, indent=1)  # keys in the same order too


def counts(catalog) -> dict[str, int]:
    with duckdb.connect(str(catalog), read_only=True) as con:
        return {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}


def query(catalog, sql: str) -> list[tuple]:
    with duckdb.connect(str(catalog), read_only=True) as con:
        return con.execute(sql).fetchall()


def listing(root: Path) -> dict[str, tuple]:
    """Every entry under ``root``: kind, mode, size, mtime and content hash (or link target)."""
    out = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(folder, name)
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                out[os.path.relpath(path, root)] = ("link", os.readlink(path), st.st_mtime_ns)
            elif stat.S_ISDIR(st.st_mode):
                out[os.path.relpath(path, root)] = ("dir", st.st_mode, st.st_mtime_ns)
            else:
                digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
                out[os.path.relpath(path, root)] = ("file", st.st_mode, st.st_size, st.st_mtime_ns, digest)
    return out


def copy_tree(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, symlinks=True)  # copy2: modification times kept
    return dst


@contextlib.contextmanager
def read_only_copy(src: Path, dst: Path):
    """``src`` copied into a folder nobody can write in: a tmpfs remounted read-only as root, mode 555 otherwise."""
    dst.mkdir()
    if os.geteuid() != 0:
        copy_tree(src, dst / src.name)
        subprocess.run(["chmod", "-R", "a-w", str(dst)], check=True)
        try:
            yield dst / src.name
        finally:
            subprocess.run(["chmod", "-R", "u+w", str(dst)], check=True)
        return
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(dst)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (root without CAP_SYS_ADMIN)")
    try:
        copy_tree(src, dst / src.name)
        subprocess.run(["mount", "-o", "remount,ro", str(dst)], check=True, capture_output=True)
        yield dst / src.name
    finally:
        subprocess.run(["umount", "-l", str(dst)], capture_output=True)


def cli(*args: str):
    return CliRunner().invoke(main, list(args))


# -- the report ------------------------------------------------------------------------------------
def test_the_report_equals_trackdags_own_run(twostage, tmp_path):
    res = import_tree(twostage.tree, twostage.pipeline, root=tmp_path / "cat")
    assert (res.found, res.new, res.done, res.not_done, res.results) == (16, 16, 16, 0, {"ok": 16, "none": 0,
                                                                                          "broken": 0})
    assert res.exit_code == 0 and res.run_id.startswith("import-") and not res.skipped
    catalog = tmp_path / "cat" / "catalog.duckdb"
    assert_same_report(catalog, twostage.own / "catalog.duckdb")
    assert_same_report(catalog, twostage.own / "catalog.duckdb", metrics=["mae:min"], top_k=3)
    # jq wrote 3.0 as 3 in job_config.json; the catalog has the 3.0 the matrix (and invoke.sh) had
    folder = next(p.parent for p in twostage.tree.glob("toy_predict/*/job_config.json")
                  if json.loads(p.read_text())["toy_predict.scale"] == 3)
    assert isinstance(json.loads((folder / "job_config.json").read_text())["toy_predict.scale"], int)
    [(requested,)] = query(catalog, f"SELECT requested FROM jobs WHERE folder = '{folder}'")
    assert json.loads(requested)["toy_predict.scale"] == 3.0 and "3.0" in requested
    # the rows are KWDagger's folders, by their short ids
    rows = build_report(catalog).nodes[0].rows
    assert {Path(r["folder"]).name for r in rows} == {p.name for p in twostage.tree.glob("toy_evaluate/*_id_*")}
    assert all(Path(r["folder"]).name.endswith("_id_" + r["short_id"]) for r in rows)
    # the CLI reports agree, as text and as JSON; the HTML page and the export work on the import
    for fmt in ("text", "json"):
        mine = cli("report", "--root", str(tmp_path / "cat"), "--format", fmt)
        theirs = cli("report", "--root", str(twostage.own), "--format", fmt)
        assert mine.exit_code == theirs.exit_code == 0, mine.output
        if fmt == "text":
            assert mine.stdout == theirs.stdout
    page = cli("report", "--root", str(tmp_path / "cat"), "--html", str(tmp_path / "report.html"))
    assert page.exit_code == 0, page.output
    assert "toy_evaluate" in (tmp_path / "report.html").read_text()
    exported = cli("export", "--root", str(tmp_path / "cat"), "--out", str(tmp_path / "export"))
    assert exported.exit_code == 0 and (tmp_path / "export" / "results_toy_evaluate.parquet").exists()


# -- read only -----------------------------------------------------------------------------------
def test_the_tree_is_only_read(twostage, tmp_path):
    tree = copy_tree(twostage.tree, tmp_path / "copy" / "results")
    before = listing(tree)
    res = import_tree(tree, twostage.pipeline)  # default: the catalog in the tree, the only file written
    after = listing(tree)
    assert set(after) - set(before) == {"catalog.duckdb"}
    assert {k: v for k, v in after.items() if k != "catalog.duckdb"} == before
    assert res.catalog == str(tree / "catalog.duckdb")
    assert_same_report(tree, twostage.own)
    with read_only_copy(twostage.tree, tmp_path / "ro") as ro:
        refused = cli("import", str(ro), "--pipeline", twostage.pipeline)
        assert refused.exit_code == 2
        assert refused.stderr.startswith("Error: ") and refused.stderr.count("\n") == 1, refused.stderr
        assert str(ro) in refused.stderr and "--root" in refused.stderr
        before = listing(ro)
        done = cli("import", str(ro), "--pipeline", twostage.pipeline, "--root", str(tmp_path / "elsewhere"))
        assert done.exit_code == 0, done.output
        assert listing(ro) == before
    assert_same_report(tmp_path / "elsewhere", twostage.own)


# -- again -----------------------------------------------------------------------------------------
def test_importing_again_adds_nothing_then_only_the_new_jobs(kwd, twostage, tmp_path):
    kwd_dir = copy_tree(twostage.kwd, tmp_path / "kwd")
    catalog = tmp_path / "cat" / "catalog.duckdb"
    assert import_tree(kwd_dir / "results", twostage.pipeline, root=tmp_path / "cat").new == 16
    first = counts(catalog)
    again = import_tree(kwd_dir / "results", twostage.pipeline, root=tmp_path / "cat")
    assert (again.run_id, again.new, again.changed, again.done) == (None, 0, 0, 16)
    assert counts(catalog) == first
    # KWDagger runs a bigger matrix in the same tree: 2 predict and 2 evaluate jobs more
    schedule(kwd, kwd_dir, f"--params={BIGGER}")
    more = import_tree(kwd_dir / "results", twostage.pipeline, root=tmp_path / "cat")
    assert (more.new, more.changed, more.done, more.results["ok"]) == (4, 0, 20, 4)
    now = counts(catalog)
    assert (now["runs"], now["jobs"], now["edges"], now["results"] > first["results"]) == (2, 20, 10, True)
    assert query(catalog, "SELECT count(*) FROM jobs WHERE first_run = last_run AND first_run LIKE 'import-%'") \
        == [(4,)]
    td_dir = lay_out("twostage", tmp_path / "td", port=True)  # trackdag's own run of the bigger matrix
    schedule(None, td_dir, f"--params={BIGGER}")
    assert_same_report(catalog, td_dir / "results")
    assert build_report(catalog).nodes[0].n_rows == 10


# -- a failed job, a broken result, a job that became done -----------------------------------------
def test_a_failed_kwdagger_job_is_failed_until_it_is_done(kwd, tmp_path):
    kwd_dir = lay_out("import_flaky", tmp_path / "kwd", port=False)
    (kwd_dir / "broken.flag").touch()  # predict fails for scale 2.5; KWDagger skips its evaluate
    schedule(kwd, kwd_dir)
    td_dir = lay_out("import_flaky", tmp_path / "td", port=True)
    pipeline = f"{td_dir}/pipelines.py::make_pipeline()"
    res = import_tree(kwd_dir / "results", pipeline, root=tmp_path / "cat")
    assert (res.found, res.done, res.not_done, res.exit_code) == (5, 4, 1, 0)
    [(status, error, result_status, short)] = query(tmp_path / "cat" / "catalog.duckdb", "SELECT status, error, "
                                                    "result_status, short_id FROM jobs WHERE status <> 'done'")
    assert status == "failed" and "primary output preds.json" in error and result_status is None
    assert not (kwd_dir / "results" / "toy_predict" / f"toy_predict_id_{short}" / "preds.json").exists()
    status_out = cli("status", "--root", str(tmp_path / "cat"))
    assert status_out.exit_code == 0 and f"toy_predict_id_{short}" in status_out.stdout
    assert build_report(tmp_path / "cat").nodes[0].n_rows == 2
    # a load_result that raises: the job is done, its result broken and not reported; the import goes on
    strict = cli("import", str(kwd_dir / "results"), "--pipeline", f"{td_dir}/pipelines.py::make_pipeline(strict=True)",
                 "--root", str(tmp_path / "strict"))
    assert strict.exit_code == 0, strict.output
    assert "broken results" in strict.stdout and "load_result raised ValueError: score 0.286" in strict.stdout
    assert query(tmp_path / "strict" / "catalog.duckdb", "SELECT status, result_status, result_error FROM jobs "
                 "WHERE result_status = 'broken'")[0][:2] == ("done", "broken")
    assert build_report(tmp_path / "strict").nodes[0].n_rows == 1
    # the failure is fixed and KWDagger runs again: the job becomes done, its evaluate is new
    (kwd_dir / "broken.flag").unlink()
    schedule(kwd, kwd_dir)
    fixed = import_tree(kwd_dir / "results", pipeline, root=tmp_path / "cat")
    assert (fixed.new, fixed.changed, fixed.done, fixed.not_done) == (1, 1, 6, 0)
    assert query(tmp_path / "cat" / "catalog.duckdb", f"SELECT status, result_status FROM jobs "
                 f"WHERE short_id = '{short}'") == [("done", "none")]
    schedule(None, td_dir)
    assert_same_report(tmp_path / "cat", td_dir / "results")


# -- the CLI, show and sql ---------------------------------------------------------------------------
def test_show_and_sql_find_the_kwdagger_jobs_and_edges(twostage, tmp_path):
    ran = trackdag_run(["trackdag", "import", str(twostage.tree), "--pipeline", twostage.pipeline,
                        "--root", str(tmp_path / "cat")], cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert "16 KWDagger job folders" in ran.stdout and "new: 16" in ran.stdout and not ran.stderr
    links = {(link.name, link.parent.parent.parent.name) for link in twostage.tree.glob("toy_evaluate/*/.pred/*/*")}
    assert len(links) == 8
    child = sorted(links)[0][1]
    shown = trackdag_run(["trackdag", "show", child.rpartition("_id_")[2], "--root", str(tmp_path / "cat")],
                         cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert str(twostage.tree / "toy_evaluate" / child) in shown.stdout and "state:   done" in shown.stdout
    parent = next(p for p, c in links if c == child)
    assert f"toy_predict/{parent} (done)" in shown.stdout  # the ancestor, from the .pred link
    sql = trackdag_run(["trackdag", "sql", "SELECT p.node || '_id_' || p.short_id AS parent, c.node || '_id_' || "
                        "c.short_id AS child FROM edges e JOIN jobs p ON p.job_id = e.parent_id "
                        "JOIN jobs c ON c.job_id = e.child_id", "--root", str(tmp_path / "cat"), "--format", "json"],
                       cwd=tmp_path)
    assert sql.returncode == 0, sql.stderr
    assert {(r["parent"], r["child"]) for r in json.loads(sql.stdout)} == links
    lineage = trackdag_run(["trackdag", "sql", "SELECT count(*) AS n FROM lineage WHERE depth = 1", "--root",
                            str(tmp_path / "cat"), "--format", "csv"], cwd=tmp_path)
    assert lineage.stdout.split() == ["n", "8"]


# -- bad input -----------------------------------------------------------------------------------
def one_error(res, *words: str) -> None:
    assert res.exit_code == 2, res.output
    assert res.stderr.startswith("Error: ") and res.stderr.count("\n") == 1, res.stderr
    assert "Traceback" not in res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)
    for word in words:
        assert word in res.stderr, res.stderr


def test_bad_input_is_one_error_line(twostage, tmp_path):
    pipeline = ["--pipeline", twostage.pipeline, "--root", str(tmp_path / "cat")]
    one_error(cli("import", str(tmp_path / "nope"), *pipeline), "nope: no such folder", "--root_dpath")
    (tmp_path / "empty").mkdir()
    one_error(cli("import", str(tmp_path / "empty"), *pipeline), "is not a KWDagger result tree")
    one_error(cli("import", str(twostage.own), *pipeline), "trackdag job folders", "trackdag reindex")
    one_error(cli("import", str(twostage.tree), "--pipeline", f"{tmp_path}/nope.py::make()", "--root",
                  str(tmp_path / "cat")), "nope.py", "not found")
    other = tmp_path / "other.yaml"
    other.write_text("nodes: {other: {executable: echo, out_paths: {o: o.txt}}}\n")
    one_error(cli("import", str(twostage.tree), "--pipeline", str(other), "--root", str(tmp_path / "cat")),
              "none of the node folders", "toy_evaluate, toy_predict", "other")
    assert not (tmp_path / "cat").exists()  # nothing was written


def test_an_unreadable_job_config_and_an_unknown_node_folder(twostage, tmp_path):
    tree = copy_tree(twostage.tree, tmp_path / "results")
    child = sorted(tree.glob("toy_evaluate/*/.pred/toy_predict/*"))[0]
    parent = tree / "toy_predict" / child.name
    (parent / "job_config.json").write_text("{broken")
    (tree / "stray" / "stray_id_000000000000").mkdir(parents=True)
    (tree / "stray" / "stray_id_000000000000" / "job_config.json").write_text("{}")
    res = cli("import", str(tree), "--pipeline", twostage.pipeline, "--root", str(tmp_path / "cat"))
    assert res.exit_code == 1, res.output
    assert res.stderr.startswith("warning: stray (1 job folders)") and res.stderr.count("\n") == 1, res.stderr
    assert "not imported: 2 job folders" in res.stdout
    assert f"{parent}/job_config.json is not readable JSON" in res.stdout and "restore it" in res.stdout
    assert f"{child.parent.parent.parent}: its parent {parent.name} is not imported either" in res.stdout
    assert counts(tmp_path / "cat" / "catalog.duckdb")["jobs"] == 14
    shutil.copy2(twostage.tree / "toy_predict" / parent.name / "job_config.json", parent / "job_config.json")
    again = cli("import", str(tree), "--pipeline", twostage.pipeline, "--root", str(tmp_path / "cat"))
    assert again.exit_code == 0 and "new: 2" in again.stdout, again.output
    assert_same_report(tmp_path / "cat", twostage.own)


# -- a big tree ----------------------------------------------------------------------------------------
def b36(i: int) -> str:
    digits = ""
    while i:
        i, rem = divmod(i, 36)
        digits = "0123456789abcdefghijklmnopqrstuvwxyz"[rem] + digits
    return digits.rjust(12, "0")


def grow(template: Path, tree: Path, n: int) -> None:
    """``n`` predict -> evaluate pairs laid out as KWDagger writes them, made from one real pair of ``template``."""
    evaluate = sorted(template.glob("toy_evaluate/*_id_*"))[0]
    predict = next((evaluate / ".pred" / "toy_predict").iterdir()).resolve()
    files = {f: (predict / f).read_text() for f in ("job_config.json", "invoke.sh", "preds.json")}
    efiles = {f: (evaluate / f).read_text() for f in ("job_config.json", "invoke.sh", "metrics.json")}
    pconfig, econfig = json.loads(files["job_config.json"]), json.loads(efiles["job_config.json"])
    spelled = next(w for w in files["invoke.sh"].split() if w.startswith("--scale="))
    for i in range(n):
        scale = i / 8
        jq = int(scale) if scale.is_integer() else scale  # what jq writes
        p, e = f"toy_predict_id_{b36(i)}", f"toy_evaluate_id_{b36(i)}"
        pdir, edir = tree / "toy_predict" / p, tree / "toy_evaluate" / e
        (pdir / ".succ" / "toy_evaluate").mkdir(parents=True)
        (edir / ".pred" / "toy_predict").mkdir(parents=True)
        (pdir / "job_config.json").write_text(json.dumps({**pconfig, "toy_predict.scale": jq}, indent=2))
        (pdir / "invoke.sh").write_text(files["invoke.sh"].replace(predict.name, p).replace(spelled, f"--scale={scale}"))
        (pdir / "preds.json").write_text(files["preds.json"])
        inputs = {**econfig["__input__.pred_fpath"], "source_process_id": p}
        (edir / "job_config.json").write_text(json.dumps({**econfig, "toy_predict.scale": jq,
                                                          "__input__.pred_fpath": inputs}, indent=2))
        (edir / "invoke.sh").write_text(efiles["invoke.sh"].replace(predict.name, p).replace(evaluate.name, e))
        (edir / "metrics.json").write_text(efiles["metrics.json"])
        os.symlink(f"../../../../toy_predict/{p}", edir / ".pred" / "toy_predict" / p)
        os.symlink(f"../../../../toy_evaluate/{e}", pdir / ".succ" / "toy_evaluate" / e)


def test_a_big_tree_imports_whole_and_once(twostage, tmp_path):
    # counts, not timings (speed belongs in benchmarks/): every pair, every edge, and nothing the second time
    grow(twostage.tree, tmp_path / "results", 600)
    res = import_tree(tmp_path / "results", twostage.pipeline, root=tmp_path / "cat")
    assert (res.new, res.done, res.results["ok"]) == (1200, 1200, 1200)
    assert import_tree(tmp_path / "results", twostage.pipeline, root=tmp_path / "cat").run_id is None
    report = build_report(tmp_path / "cat")
    assert report.nodes[0].n_rows == 600 and len(report.nodes[0].rows) == 10
    catalog = tmp_path / "cat" / "catalog.duckdb"
    assert query(catalog, "SELECT count(*) FROM edges") == [(600,)]
    [(requested,)] = query(catalog, f"SELECT requested FROM jobs WHERE short_id = '{b36(16)}' AND node = 'toy_predict'")
    assert json.loads(requested)["toy_predict.scale"] == 2.0 and '"toy_predict.scale": 2.0' in requested
