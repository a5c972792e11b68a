"""catalog: schema, bulk registration, micro-batch records, locks and versions."""
import shutil
import subprocess
import sys
import time

import duckdb
import pytest

from conftest import two_stage
from trackdag.catalog import Catalog, connect
from trackdag.catalog.migrations import LATEST
from trackdag.errors import CatalogError, CatalogLockedError, PlanError
from trackdag.plan import plan


def _cat(tmp_path):
    return Catalog(tmp_path / "catalog.duckdb", timeout=2)


def test_schema_created_once_and_recorded(tmp_path):
    cat = _cat(tmp_path)
    assert cat.ensure_schema() == ["0001_initial", "0002_results", "0003_attempt_node", "0004_result_order", "0005_provenance"]
    assert cat.ensure_schema() == []
    tables = {r[0] for r in cat.query("SELECT table_name FROM information_schema.tables")}
    assert {"runs", "jobs", "run_jobs", "edges", "params", "attempts", "schema_version"} <= tables
    assert cat.query("SELECT version, name FROM schema_version ORDER BY version") == [
        (1, "0001_initial"), (2, "0002_results"), (3, "0003_attempt_node"), (4, "0004_result_order"),
        (5, "0005_provenance")]


def test_an_empty_old_catalog_is_upgraded_and_a_newer_one_refused(tmp_path):
    path = tmp_path / "catalog.duckdb"
    con = duckdb.connect(str(path))  # an "old" catalog: a file with no schema yet
    con.execute("CREATE TABLE keep_me (x INT)")
    con.execute("INSERT INTO keep_me VALUES (7)")
    con.close()
    cat = Catalog(path)
    assert cat.ensure_schema() == ["0001_initial", "0002_results", "0003_attempt_node", "0004_result_order", "0005_provenance"]
    assert cat.query("SELECT x FROM keep_me") == [(7,)]
    con = duckdb.connect(str(path))
    con.execute("INSERT INTO schema_version VALUES (?, 'future', now())", [LATEST + 1])
    con.close()
    with pytest.raises(CatalogError, match="newer than this trackdag knows"):
        Catalog(path).ensure_schema()


def _register(tmp_path, src, rows, run_id="r1"):
    cat = _cat(tmp_path)
    p = plan(two_stage(), rows, tmp_path / "out")
    cat.begin_run({"run_id": run_id, "root": str(tmp_path), "backend": "local", "host": "h", "pid": 1,
                   "trackdag_version": "t", "started": __import__("datetime").datetime.now(), "status": "running"})
    attempts = cat.register_plan(run_id, p, {j: "planned" for j in p.jobs})
    return cat, p, attempts


def test_register_plan_bulk(tmp_path, src):
    rows = [{"predict.src": str(src), "evaluate.thresh": t} for t in (0.1, 0.2)]
    cat, p, attempts = _register(tmp_path, src, rows)
    assert attempts == {j: 0 for j in p.jobs}
    assert cat.query("SELECT node, count(*) FROM jobs GROUP BY node ORDER BY node") == [("evaluate", 2), ("predict", 1)]
    assert cat.query("SELECT count(*) FROM run_jobs") == [(4,)]
    assert cat.query("SELECT count(*) FROM edges") == [(2,)]
    kinds = cat.query("SELECT kind, count(*) FROM params GROUP BY kind ORDER BY kind")
    assert kinds == [("algo", 6), ("input", 5), ("perf", 3)]
    assert cat.query("SELECT value_num FROM params WHERE key = 'thresh' ORDER BY value_num") == [(0.1,), (0.2,)]
    # registering again (a second run) adds no duplicate jobs, edges or params
    p2 = plan(two_stage(), rows, tmp_path / "out")
    cat.begin_run({"run_id": "r2", "root": ".", "backend": "local", "host": "h", "pid": 1,
                   "trackdag_version": "t", "started": __import__("datetime").datetime.now(), "status": "running"})
    cat.register_plan("r2", p2, {j: "done" for j in p2.jobs})
    assert cat.query("SELECT count(*), count(DISTINCT last_run), min(first_run) FROM jobs") == [(3, 1, "r1")]
    assert cat.query("SELECT count(*) FROM edges") == [(2,)]
    assert cat.query("SELECT count(*) FROM params") == [(14,)]
    assert cat.query("SELECT count(*) FROM run_jobs") == [(8,)]


def test_a_rerun_with_known_and_new_jobs_updates_the_known_and_inserts_the_new(tmp_path, src):
    """A chunk mixing jobs the catalog knows (only their state and command change) and new ones."""
    rows = [{"predict.src": str(src), "evaluate.thresh": t} for t in (0.1, 0.2)]
    cat, p1, _ = _register(tmp_path, src, rows[:1])
    p2 = plan(two_stage(), rows, tmp_path / "out")
    cat.begin_run({"run_id": "r2", "root": ".", "backend": "local", "host": "h", "pid": 1,
                   "trackdag_version": "t", "started": __import__("datetime").datetime.now(), "status": "running"})
    with cat.transaction() as con:
        con.execute("UPDATE jobs SET attempts = 2, error = 'old'")
    attempts = cat.register_plan("r2", p2, {j: "done" if j in p1.jobs else "planned" for j in p2.jobs})
    assert attempts == {j: 2 if j in p1.jobs else 0 for j in p2.jobs}
    got = {r[0]: r[1:] for r in cat.query("SELECT job_id, status, first_run, last_run, error, "
                                          "command IS NOT NULL AND folder IS NOT NULL FROM jobs")}
    assert got == {j: ("done", "r1", "r2", None, True) if j in p1.jobs else ("planned", "r2", "r2", None, True)
                   for j in p2.jobs}
    assert cat.query("SELECT count(*) FROM params") == [(14,)]
    assert cat.query("SELECT count(*) FROM edges") == [(2,)]
    assert cat.query("SELECT count(*), count(DISTINCT job_id) FROM param_sets") == [(3, 3)]

def test_registration_by_chunks_gives_the_same_catalog(tmp_path, src, monkeypatch):
    """Jobs go in by chunks of REGISTER_CHUNK, known ones by parts of KNOWN_CHUNK: chunk boundaries change no
    row, first run or second (some of whose jobs are known, some new)."""
    from trackdag.catalog import register

    rows = [{"predict.src": str(src), "predict.p": p, "evaluate.thresh": t} for p in range(4) for t in (0.1, 0.2, 0.3)]
    new = [{"predict.src": str(src), "predict.p": 9, "evaluate.thresh": t} for t in (0.1, 0.2)]

    def dump(cat):
        return {table: cat.query(f"SELECT * FROM {table} ORDER BY ALL") for table in ("jobs", "params", "edges", "run_jobs")}

    found = []
    for chunk, known in ((3, 2), (1000, 200_000)):
        monkeypatch.setattr(register, "REGISTER_CHUNK", chunk)
        monkeypatch.setattr(register, "KNOWN_CHUNK", known)
        shutil.rmtree(tmp_path / "x", ignore_errors=True)  # the same paths both times: equal rows
        cat, p, _ = _register(tmp_path / "x", src, rows)
        cat.begin_run({"run_id": "r2", "root": ".", "backend": "local", "host": "h", "pid": 1,
                       "trackdag_version": "t", "started": __import__("datetime").datetime.now(), "status": "running"})
        second = plan(two_stage(), rows[:5] + new, tmp_path / "x" / "out")
        again = cat.register_plan("r2", second, {j: "done" if j in p.jobs else "planned" for j in second.jobs})
        assert set(again) == set(second.jobs) and set(again.values()) == {0}
        found.append(dump(cat))
        runs = dict(cat.query("SELECT job_id, last_run FROM jobs"))
        assert {j for j, r in runs.items() if r == "r2"} == set(second.jobs)
    assert len(found[0]["jobs"]) == 16 + 3
    assert len(found[0]["run_jobs"]) == 2 * (len(rows) + 7)  # (a row, its two jobs)
    assert found[0] == found[1]


def test_a_reruns_registration_looks_its_known_jobs_up_once_not_once_a_chunk(tmp_path, src, monkeypatch):
    """Counts, not timings: each look-up of known jobs and each update scans the whole jobs table, so a
    rerun of N jobs by chunks of REGISTER_CHUNK made them N / REGISTER_CHUNK times over (the square of
    its size); they are made once per KNOWN_CHUNK jobs, and no new job's param set walks the catalog."""
    import trackdag.param_sets as param_sets
    from trackdag.catalog import register

    monkeypatch.setattr(register, "REGISTER_CHUNK", 2)
    rows = [{"predict.src": str(src), "predict.p": p, "evaluate.thresh": t} for p in range(4) for t in (0.1, 0.2)]
    cat, p, _ = _register(tmp_path, src, rows)
    sql = []
    real_put = register.put
    monkeypatch.setattr(register, "put", lambda con, name, *a, **k: sql.append(name) or real_put(con, name, *a, **k))
    monkeypatch.setattr(param_sets, "compute_param_sets", lambda *a: pytest.fail("walked the catalog"))
    cat.begin_run({"run_id": "r2", "root": ".", "backend": "local", "host": "h", "pid": 1,
                   "trackdag_version": "t", "started": __import__("datetime").datetime.now(), "status": "running"})
    more = plan(two_stage(), rows + [{"predict.src": str(src), "predict.p": 9, "evaluate.thresh": 0.1}],
                tmp_path / "out")
    cat.register_plan("r2", more, {j: "done" if j in p.jobs else "planned" for j in more.jobs})
    assert len(p.jobs) == 12 and len(more.jobs) == 14
    assert sql.count("td_chunk_ids") == 1 and sql.count("td_again") == 1  # 12 known jobs: one pass
    assert sql.count("td_plan") == 1  # the 2 new ones: one chunk
    assert dict(cat.query("SELECT last_run, count(*) FROM jobs GROUP BY ALL")) == {"r2": 14}


def _dump(cat):
    return {table: cat.query(f"SELECT * FROM {table} ORDER BY ALL")
            for table in ("jobs", "params", "edges", "run_jobs", "param_sets", "param_values")}


@pytest.mark.parametrize("hurried_after", [0, 1])
def test_a_hurried_registration_takes_in_only_the_jobs_asked_for_and_the_next_completes_it(
        tmp_path, src, monkeypatch, hurried_after):
    """A stopping run's registration ends after its chunk with the jobs it has outcomes of (Ctrl-C at 200,000 jobs)."""
    from trackdag.catalog import register

    monkeypatch.setattr(register, "REGISTER_CHUNK", 4)
    rows = [{"predict.src": str(src), "predict.p": p, "evaluate.thresh": t} for p in range(4) for t in (0.1, 0.2, 0.3)]
    p = plan(two_stage(), rows, tmp_path / "x" / "out")
    order = list(p.jobs)
    needed = {order[-1], next(j for j in reversed(order) if p.jobs[j].node == "predict")}
    asked = []

    def hurry():
        asked.append(1)
        return needed if len(asked) > hurried_after else None

    cat = _cat(tmp_path / "x")
    cat.begin_run({"run_id": "r1", "root": ".", "backend": "local", "host": "h", "pid": 1,
                   "trackdag_version": "t", "started": __import__("datetime").datetime.now(), "status": "running"})
    attempts = cat.register_plan("r1", p, {j: "planned" for j in p.jobs}, hurry=hurry)
    expected = set(order[:4 * hurried_after]) | needed  # the chunks before it, then only those asked for
    assert set(attempts) == expected
    assert {j for (j,) in cat.query("SELECT job_id FROM jobs")} == expected
    assert {j for (j,) in cat.query("SELECT job_id FROM param_sets")} == expected  # each one complete
    assert {j for (j,) in cat.query("SELECT DISTINCT job_id FROM run_jobs")} == expected
    assert len(asked) == hurried_after + 1  # asked before each chunk until it said so, then no more
    # the next run registers the rest: the same catalog as one registration of the whole plan
    cat.register_plan("r1", p, {j: "planned" for j in p.jobs})
    whole = _cat(tmp_path / "y")
    whole.begin_run({"run_id": "r1", "root": ".", "backend": "local", "host": "h", "pid": 1,
                     "trackdag_version": "t", "started": __import__("datetime").datetime.now(), "status": "running"})
    whole.register_plan("r1", p, {j: "planned" for j in p.jobs})
    assert len(_dump(whole)["jobs"]) == len(p.jobs)
    assert _dump(cat) == _dump(whole)


def test_record_states_and_attempts(tmp_path, src):
    cat, p, _ = _register(tmp_path, src, [{"predict.src": str(src)}])
    job_id = next(iter(p.jobs))
    now = time.time()
    cat.record([{"job_id": job_id, "status": "running", "started": now, "attempts": 1},
                {"job_id": job_id, "status": "failed", "ended": now + 1, "attempts": 1, "error": "exit code 3"}],
               [{"job_id": job_id, "attempt": 1, "run_id": "r1", "status": "failed", "exit_code": 3,
                 "started": now, "ended": now + 1, "duration": 1.0, "host": "h", "stderr_tail": "boom"}])
    assert cat.query("SELECT status, attempts, error, ended IS NOT NULL FROM jobs WHERE job_id = ?", [job_id]) == [
        ("failed", 1, "exit code 3", True)]
    assert cat.query("SELECT attempt, exit_code, stderr_tail FROM attempts") == [(1, 3, "boom")]


def test_short_id_collision_with_the_catalog(tmp_path, src):
    cat, p, _ = _register(tmp_path, src, [{"predict.src": str(src)}])
    job_id = next(iter(p.jobs))
    con = duckdb.connect(str(cat.path))
    con.execute("UPDATE jobs SET job_id = 'x' || job_id[2:] WHERE job_id = ?", [job_id])
    con.close()
    with pytest.raises(PlanError, match="short id collision in node 'predict'"):
        _register(tmp_path, src, [{"predict.src": str(src)}], run_id="r9")


HOLD = """
import duckdb, sys, time
con = duckdb.connect(sys.argv[1])
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
"""


def _holder(path, seconds):
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(path), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_lock_wait_succeeds_when_holder_lets_go(tmp_path):
    path = tmp_path / "c.duckdb"
    duckdb.connect(str(path)).close()
    proc = _holder(path, 0.5)
    con = connect(path, timeout=20)  # waits for the holder instead of failing at once
    con.close()
    proc.wait()


def test_lock_timeout_names_the_holder(tmp_path):
    path = tmp_path / "c.duckdb"
    duckdb.connect(str(path)).close()
    proc = _holder(path, 30)
    try:
        with pytest.raises(CatalogLockedError) as info:
            connect(path, read_only=True, timeout=0.3)
        assert f"pid {proc.pid}" in str(info.value) and "import duckdb" in str(info.value)
    finally:
        proc.kill()
        proc.wait()


def test_reading_a_missing_catalog_says_so(tmp_path):
    with pytest.raises(CatalogError, match="no catalog at"):
        connect(tmp_path / "none.duckdb", read_only=True)


def test_a_version_one_catalog_is_upgraded_to_results(tmp_path, src):
    cat, p, _ = _register(tmp_path, src, [{"predict.src": str(src)}])
    con = duckdb.connect(str(cat.path))  # turn it back into what 0001 made, with data in it
    con.execute("DROP TABLE results")
    con.execute("ALTER TABLE jobs DROP COLUMN result_status")
    con.execute("ALTER TABLE jobs DROP COLUMN result_error")
    con.execute("ALTER TABLE attempts DROP COLUMN node_id")
    con.execute("DELETE FROM schema_version WHERE version >= 2")
    con.close()
    assert Catalog(cat.path).ensure_schema() == ["0002_results", "0003_attempt_node", "0004_result_order", "0005_provenance"]
    job_id = next(iter(p.jobs))
    Catalog(cat.path).record([], [], [(job_id, {"metrics.predict.acc": 0.5, "context.predict.tag": "x"}, None)])
    assert cat.query("SELECT count(*) FROM jobs") == [(2,)]
    assert cat.query("SELECT result_status FROM jobs WHERE job_id = ?", [job_id]) == [("ok",)]
    assert cat.query("SELECT key, value_num, value_text FROM results ORDER BY key") == [
        ("context.predict.tag", None, "x"), ("metrics.predict.acc", 0.5, None)]


def test_a_reader_holding_the_catalog_delays_a_flush_without_losing_it(tmp_path, src):
    from trackdag.execute.scheduler import FLUSH_SECONDS, Recorder

    cat, p, _ = _register(tmp_path, src, [{"predict.src": str(src)}])
    job_id = next(iter(p.jobs))
    blocked = Catalog(cat.path, timeout=0.2)
    recorder = Recorder(blocked, "r1")
    recorder.state(job_id, "running", started=time.time(), attempts=1)
    proc = _holder(cat.path, 30)
    try:
        recorder._last -= FLUSH_SECONDS
        recorder.maybe_flush()  # written in the background ...
        recorder.written()  # ... where the lock is held: no exception, the batch is kept
        assert recorder.delayed == 1 and len(recorder.states) == 1
    finally:
        proc.kill()
        proc.wait()
    recorder.flush()
    assert cat.query("SELECT status FROM jobs WHERE job_id = ?", [job_id]) == [("running",)]


def test_batches_written_in_the_background_land_in_order(tmp_path, src):
    from trackdag.execute.scheduler import FLUSH_SECONDS, Recorder

    cat, p, _ = _register(tmp_path, src, [{"predict.src": str(src)}])
    job_id = next(iter(p.jobs))
    recorder = Recorder(Catalog(cat.path), "r1")
    recorder.state(job_id, "running", started=time.time(), attempts=1)
    recorder._last -= FLUSH_SECONDS
    recorder.maybe_flush()  # a thread writes it; the loop goes on
    assert not recorder.states
    recorder.state(job_id, "failed", ended=time.time(), error="boom")
    recorder.maybe_flush()  # within the second, or while the first is in flight: kept
    assert len(recorder.states) == 1
    recorder.flush()  # after the first batch, never before it
    assert cat.query("SELECT status, error FROM jobs WHERE job_id = ?", [job_id]) == [("failed", "boom")]
    assert recorder.delayed == 0 and recorder.error is None and recorder._writing is None


_OPEN = "import duckdb, sys\ntry:\n    duckdb.connect(sys.argv[1]).close()\nexcept duckdb.IOException as e:\n" \
        "    sys.exit('locked' if 'lock' in str(e) else str(e))\n"


def _other_process_opens(path) -> str:
    out = subprocess.run([sys.executable, "-c", _OPEN, str(path)], capture_output=True, text=True, timeout=60)
    return "opened" if out.returncode == 0 else out.stderr.strip()


def test_kept_holds_the_catalog_open_meanwhile_then_lets_go(tmp_path):
    """Catalog.kept: a small run's start goes through one open database (each transaction's connect is then
    cheap); another process waits meanwhile, as for one long transaction, and gets in afterwards."""
    cat = Catalog(tmp_path / "c.duckdb")
    with cat.kept() as kept:
        assert kept
        cat.ensure_schema()
        cat.begin_run({"run_id": "r1", "root": ".", "backend": "local", "host": "h", "pid": 1, "trackdag_version": "t",
                       "started": __import__("datetime").datetime.now(), "status": "running"})
        with cat.transaction() as con:
            assert con.execute("SELECT run_id FROM runs").fetchall() == [("r1",)]
        assert _other_process_opens(cat.path) == "locked"
    assert _other_process_opens(cat.path) == "opened"
    assert cat.query("SELECT status FROM runs") == [("running",)]


def test_kept_keeps_nothing_while_another_process_holds_the_catalog(tmp_path):
    cat = Catalog(tmp_path / "c.duckdb")
    cat.ensure_schema()
    holder = subprocess.Popen([sys.executable, "-c", "import duckdb, sys, time\ncon = duckdb.connect(sys.argv[1])\n"
                               "print('held', flush=True)\ntime.sleep(60)\n", cat.path], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with cat.kept() as kept:  # (no wait: each transaction waits for the lock as it always does)
            assert not kept
            with pytest.raises(CatalogLockedError):
                with cat.transaction(timeout=0):
                    pass
    finally:
        holder.kill()
        holder.wait()
    with cat.kept() as kept:
        assert kept


@pytest.mark.parametrize("spacing, expected", [(0, 1.0), (1e9, 5.0)])
def test_batches_are_spaced_by_how_long_the_last_took_to_write_within_bounds(tmp_path, src, monkeypatch,
                                                                             spacing, expected):
    from trackdag.execute import scheduler

    monkeypatch.setattr(scheduler, "FLUSH_SECONDS", 1.0)
    monkeypatch.setattr(scheduler, "BATCH_SPACING", spacing)
    cat, p, _ = _register(tmp_path, src, [{"predict.src": str(src)}])
    job_id = next(iter(p.jobs))
    recorder = scheduler.Recorder(Catalog(cat.path), "r1")
    assert recorder.interval == 1.0
    recorder.state(job_id, "running", started=time.time(), attempts=1)
    recorder._last -= recorder.interval
    recorder.maybe_flush()
    recorder.written()
    # a write takes milliseconds: 0 x that is below the floor, 1e9 x that above the cap
    assert recorder.interval == expected and recorder._writing is None
    recorder.state(job_id, "failed", ended=time.time(), error="boom")
    recorder._last = time.monotonic() - 2.0  # 2 s since the last: due at the floor, not at the cap
    recorder.maybe_flush()
    assert (not recorder.states) == (expected == 1.0)
    recorder.flush()
    assert cat.query("SELECT status FROM jobs WHERE job_id = ?", [job_id]) == [("failed",)]
