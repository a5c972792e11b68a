"""A notebook holds the catalog for a minute in the middle of a run: jobs keep starting at the same pace."""
import subprocess
import sys
import threading
import time

import duckdb

from conftest import single
from trackdag.sweep import run

HOLD = 60.0


def _hold(catalog, seconds, held):
    code = ("import duckdb, time\n"
            "while True:\n"
            "    try:\n"
            f"        con = duckdb.connect({str(catalog)!r}, read_only=True); break\n"
            "    except duckdb.IOException:\n"
            "        time.sleep(0.01)\n"
            "print('holding', flush=True)\n"
            f"time.sleep({seconds})\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "holding"
    held["from"] = time.time()
    proc.wait()
    held["until"] = time.time()


def test_a_reader_held_for_a_minute_mid_run(tmp_path):
    root = tmp_path / "out"
    pipe = single("job", sleep=0.5)
    run({"job.i": [-1]}, pipeline=pipe, root=root, backend="local")
    held: dict = {}

    def later():
        time.sleep(5)
        _hold(root / "catalog.duckdb", HOLD, held)

    thread = threading.Thread(target=later)
    thread.start()
    res = run({"job.i": list(range(320))}, pipeline=pipe, root=root, backend="local", workers=2)
    thread.join()
    assert res.exit_code == 0 and res.counts.done == 320 and not res.catalog_held
    con = duckdb.connect(str(root / "catalog.duckdb"), read_only=True)
    starts = [s for (s,) in con.execute("SELECT epoch(started) FROM attempts WHERE run_id = ? ORDER BY 1",
                                        [res.run_id]).fetchall()]
    con.close()
    assert len(starts) == 320  # every outcome reached the catalog once the reader let go
    during = [s for s in starts if held["from"] <= s < held["until"]]
    outside = [s for s in starts if s < held["from"] or s >= held["until"]]
    span_out = (starts[-1] - starts[0]) - (held["until"] - held["from"])
    rate_during = len(during) / (held["until"] - held["from"])
    rate_outside = len(outside) / max(span_out, 1.0)
    assert rate_during >= 0.8 * rate_outside, (rate_during, rate_outside)
