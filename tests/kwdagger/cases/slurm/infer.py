"""Infer: a summary of the prepared values (plain Python)."""
import argparse
import json
from pathlib import Path

from _context import process_record

p = argparse.ArgumentParser()
p.add_argument("--input_fpath", required=True)
p.add_argument("--summary_fpath", required=True)
p.add_argument("--power", type=float, default=1.0)
p.add_argument("--device", default="auto")
args = p.parse_args()
values = json.loads(Path(args.input_fpath).read_text())["values"]
metrics = {"mean": sum(v ** args.power for v in values) / len(values), "n": len(values)}
out = Path(args.summary_fpath)
out.parent.mkdir(parents=True, exist_ok=True)
out.write_text(json.dumps({"info": [process_record("infer", vars(args))], "result": {"metrics": metrics}}))
