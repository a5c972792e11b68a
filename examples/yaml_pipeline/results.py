"""load_result for the evaluate node: its metrics.json as trackdag result keys."""
import json
from pathlib import Path


def load_metrics(job_dpath):
    data = json.loads((Path(job_dpath) / "metrics.json").read_text())
    return {f"metrics.evaluate.{key}": value for key, value in data.items()}
