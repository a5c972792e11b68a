"""predict: fit y = scale * x + offset to nothing at all, and write the predictions (edit me).

Reads numbers from --src_fpath (one per line), writes --dst_fpath as JSON.
"""
import argparse
import json
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--src_fpath", required=True, help="input numbers, one per line")
    parser.add_argument("--dst_fpath", required=True, help="where the predictions go (JSON)")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--offset", type=float, default=0.0)
    parser.add_argument("--workers", type=int, default=0, help="a perf param: never changes the result")
    args = parser.parse_args()
    xs = [float(line) for line in Path(args.src_fpath).read_text().split()]
    preds = [args.scale * x + args.offset for x in xs]
    Path(args.dst_fpath).write_text(json.dumps({"preds": preds}))


if __name__ == "__main__":
    main()
