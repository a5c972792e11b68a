"""Toy evaluator: predictions against the truth (2 * x)."""
import argparse
import json
from pathlib import Path

from _context import process_record

p = argparse.ArgumentParser()
p.add_argument("--pred_fpath", required=True)
p.add_argument("--true_fpath", required=True)
p.add_argument("--out_fpath", required=True)
p.add_argument("--workers", type=int, default=0)
args = p.parse_args()
truth = [float(x) for x in Path(args.true_fpath).read_text().split()]
preds = json.loads(Path(args.pred_fpath).read_text())["result"]["preds"]
err = sum(abs(p - 2 * t) for p, t in zip(preds, truth)) / len(truth)
metrics = {"mae": err, "score": 1.0 / (1.0 + err), "n": len(truth)}
out = Path(args.out_fpath)
out.parent.mkdir(parents=True, exist_ok=True)
out.write_text(json.dumps({"info": [process_record("toy_evaluate", vars(args))], "result": {"metrics": metrics}}))
