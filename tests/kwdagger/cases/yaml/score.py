"""Score predictions: flat metrics, no process context (plain Python)."""
import argparse
import json
from pathlib import Path

p = argparse.ArgumentParser()
p.add_argument("--pred_fpath", required=True)
p.add_argument("--out_fpath", required=True)
p.add_argument("--target", type=float, default=5.0)
p.add_argument("--workers", default="auto")
args = p.parse_args()
preds = json.loads(Path(args.pred_fpath).read_text())["result"]["preds"]
out = Path(args.out_fpath)
out.parent.mkdir(parents=True, exist_ok=True)
out.write_text(json.dumps({"closeness": -abs(sum(preds) / len(preds) - args.target), "spread": max(preds) - min(preds)}))
