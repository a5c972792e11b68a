"""A toy benchmark: a made-up throughput for a model at a concurrency (plain Python).

It accepts options its node does not declare (``--concurrency``, ``--notes``).
"""
import argparse
import json
from pathlib import Path

from _context import process_record

p = argparse.ArgumentParser()
p.add_argument("--dst_fpath", required=True)
p.add_argument("--dst_dpath", required=True)
p.add_argument("--model", required=True)
p.add_argument("--cold_reset_cmd", default="None")
p.add_argument("--concurrency", type=int, default=1)
p.add_argument("--notes", default="")
p.add_argument("--repeats", type=int, default=1)
args = p.parse_args()
speed = {"small": 40.0, "large": 10.0}[args.model]
throughput = speed * args.concurrency / (1 + 0.25 * (args.concurrency - 1))
metrics = {"throughput": round(throughput, 6), "latency": round(args.concurrency / throughput, 6),
           "notes_len": len(args.notes)}
out = Path(args.dst_fpath)
out.parent.mkdir(parents=True, exist_ok=True)
out.write_text(json.dumps({"info": [process_record("bench", vars(args))], "result": {"metrics": metrics}}))
(Path(args.dst_dpath) / "cold_reset.txt").write_text(args.cold_reset_cmd)
