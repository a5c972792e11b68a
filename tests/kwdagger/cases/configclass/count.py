"""Count the tokens of a text file (plain argparse; the schema is in configs.py)."""
import argparse
import json
from pathlib import Path

from _context import process_record


def flag(text):
    return str(text).lower() in ("1", "true", "yes")


p = argparse.ArgumentParser()
p.add_argument("--src_fpath", required=True)
p.add_argument("--dst_fpath", required=True)
p.add_argument("--dst_dpath")
p.add_argument("--minlen", type=int, default=1)
p.add_argument("--lower", type=flag, default=True)
p.add_argument("--plain_default", type=int, default=5)
p.add_argument("--workers", type=int, default=0)
args = p.parse_args()
tokens = Path(args.src_fpath).read_text().split()
if args.lower:
    tokens = [t.lower() for t in tokens]
tokens = [t for t in tokens if len(t) >= args.minlen]
metrics = {"n_tokens": len(tokens), "n_unique": len(set(tokens)),
           "unique_ratio": len(set(tokens)) / max(1, len(tokens))}
out = Path(args.dst_fpath)
out.parent.mkdir(parents=True, exist_ok=True)
out.write_text(json.dumps({"info": [process_record("count", vars(args))], "result": {"metrics": metrics}}))
