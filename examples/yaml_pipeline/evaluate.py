"""Score a model written by train.py on data.csv; write accuracy and loss as JSON."""
import argparse
import json
from pathlib import Path

DATA = Path(__file__).with_name("data.csv")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model_fpath", required=True)
    parser.add_argument("--metrics_fpath", required=True)
    args = parser.parse_args()
    w = json.loads(Path(args.model_fpath).read_text())["w"]
    rows = [tuple(map(float, line.split(","))) for line in DATA.read_text().split()[1:]]
    loss = sum((w * x - y) ** 2 for x, y in rows) / len(rows)
    accuracy = sum(abs(w * x - y) < 0.5 for x, y in rows) / len(rows)
    Path(args.metrics_fpath).write_text(json.dumps({"accuracy": accuracy, "loss": loss}))


if __name__ == "__main__":
    main()
