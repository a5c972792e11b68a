"""Prepare: the numbers of a text file, upper or lower bound clipped (plain Python)."""
import argparse
import json
from pathlib import Path

p = argparse.ArgumentParser()
p.add_argument("--src_fpath", required=True)
p.add_argument("--prepared_fpath", required=True)
p.add_argument("--clip", type=float, default=100.0)
args = p.parse_args()
values = [min(float(x), args.clip) for x in Path(args.src_fpath).read_text().split()]
out = Path(args.prepared_fpath)
out.parent.mkdir(parents=True, exist_ok=True)
out.write_text(json.dumps({"values": values}))
