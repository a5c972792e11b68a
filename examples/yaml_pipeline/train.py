"""Fit a one-weight 'model' to data.csv with plain gradient descent; write it as JSON."""
import argparse
import json
import random
from pathlib import Path

DATA = Path(__file__).with_name("data.csv")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lr", type=float, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--model_fpath", required=True)
    args = parser.parse_args()
    rows = [tuple(map(float, line.split(","))) for line in DATA.read_text().split()[1:]]
    rng = random.Random(args.seed)
    w = rng.uniform(-1, 1)
    for _ in range(50):
        grad = sum(2 * (w * x - y) * x for x, y in rows) / len(rows)
        w -= args.lr * grad
    Path(args.model_fpath).write_text(json.dumps({"lr": args.lr, "seed": args.seed, "w": w}))


if __name__ == "__main__":
    main()
