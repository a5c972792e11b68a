"""Toy predictor: every number of a text file times ``scale`` plus ``offset``."""
import argparse
import json
from pathlib import Path

from _context import process_record

p = argparse.ArgumentParser()
p.add_argument("--src_fpath", required=True)
p.add_argument("--dst_fpath", required=True)
p.add_argument("--scale", type=float, default=1.0)
p.add_argument("--offset", type=float, default=0.0)
p.add_argument("--workers", type=int, default=0)
args = p.parse_args()
values = [float(x) for x in Path(args.src_fpath).read_text().split()]
preds = [v * args.scale + args.offset for v in values]
out = Path(args.dst_fpath)
out.parent.mkdir(parents=True, exist_ok=True)
out.write_text(json.dumps({"info": [process_record("toy_predict", vars(args))], "result": {"preds": preds}}))
