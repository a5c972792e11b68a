"""evaluate: score the predictions against the truth y = 2 * x + 1 (edit me).

Writes --out_fpath as a flat JSON object of metrics: trackdag reads it as
this node's result (its primary output is a JSON file and it is a leaf).
"""
import argparse
import json
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pred_fpath", required=True, help="predict's output")
    parser.add_argument("--true_fpath", required=True, help="the input the predictions were made from")
    parser.add_argument("--out_fpath", required=True, help="where the metrics go (JSON)")
    args = parser.parse_args()
    xs = [float(line) for line in Path(args.true_fpath).read_text().split()]
    preds = json.loads(Path(args.pred_fpath).read_text())["preds"]
    errors = [abs(p - (2 * x + 1)) for p, x in zip(preds, xs)]
    mae = sum(errors) / len(errors)
    Path(args.out_fpath).write_text(json.dumps({"mae": mae, "max_error": max(errors), "score": 1 / (1 + mae)}))


if __name__ == "__main__":
    main()
