"""The programs of the gather pipelines (plain Python): cross-validation and a map-reduce.

Run from the case folder, as ``python gather_demo.py <step> --key=value ...``.
"""
import argparse
import json
import os
from pathlib import Path

from _context import process_record


def write(path, data):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1))


def members(manifest):
    """The paths a gather manifest lists, one per line."""
    return [line for line in Path(manifest).read_text().splitlines() if line]


p = argparse.ArgumentParser()
sub = p.add_subparsers(dest="step", required=True)
s = sub.add_parser("train")
s.add_argument("--data_fpath", required=True)
s.add_argument("--algorithm", required=True)
s.add_argument("--seed", type=int, required=True)
s.add_argument("--fold", type=int, required=True)
s.add_argument("--checkpoint_fpath", required=True)
s = sub.add_parser("ensemble")
s.add_argument("--checkpoints_fpath", required=True)
s.add_argument("--algorithm", required=True)
s.add_argument("--seed", type=int, required=True)
s.add_argument("--ensemble_fpath", required=True)
s = sub.add_parser("evaluate")
s.add_argument("--ensemble_fpath", required=True)
s.add_argument("--algorithm", required=True)
s.add_argument("--seed", type=int, required=True)
s.add_argument("--test_set", required=True)
s.add_argument("--metrics_fpath", required=True)
s = sub.add_parser("analyze")
s.add_argument("--corpus_fpath", required=True)
s.add_argument("--document", required=True)
s.add_argument("--chunk_index", type=int, required=True)
s.add_argument("--num_chunks", type=int, default=2)
s.add_argument("--out_fpath", required=True)
s = sub.add_parser("reduce")
s.add_argument("--document", required=True)
s.add_argument("--chunks_fpath", required=True)
s.add_argument("--out_fpath", required=True)
s = sub.add_parser("summarize")
s.add_argument("--docs_fpath", required=True)
s.add_argument("--out_fpath", required=True)
a = p.parse_args()

if a.step == "train":
    n = len(Path(a.data_fpath).read_text().split())
    weight = {"linear": 1.0, "forest": 1.5}[a.algorithm] * (a.seed + 1) + a.fold * 0.25
    write(a.checkpoint_fpath, {"algorithm": a.algorithm, "seed": a.seed, "fold": a.fold, "weight": weight, "n": n})
elif a.step == "ensemble":
    parts = [json.loads(Path(m).read_text()) for m in members(a.checkpoints_fpath)]
    assert all(q["algorithm"] == a.algorithm and q["seed"] == a.seed for q in parts), parts
    write(a.ensemble_fpath, {"folds": [q["fold"] for q in parts], "weight": sum(q["weight"] for q in parts) / len(parts),
                             "cwd": os.getcwd()})
elif a.step == "evaluate":
    ens = json.loads(Path(a.ensemble_fpath).read_text())
    score = ens["weight"] * {"clean": 1.0, "shifted": 0.8}[a.test_set]
    metrics = {"score": round(score, 6), "n_folds": len(ens["folds"])}
    write(a.metrics_fpath, {"info": [process_record("evaluate", vars(a))], "result": {"metrics": metrics}})
elif a.step == "analyze":
    lines = [line.split() for line in Path(a.corpus_fpath).read_text().splitlines()]
    words = next(line[1:] for line in lines if line and line[0] == a.document)
    chunk = words[a.chunk_index::a.num_chunks]
    write(a.out_fpath, {"document": a.document, "chunk_index": a.chunk_index, "words": len(chunk),
                        "letters": sum(len(w) for w in chunk)})
elif a.step == "reduce":
    parts = [json.loads(Path(m).read_text()) for m in members(a.chunks_fpath)]
    write(a.out_fpath, {"document": a.document, "chunks": [q["chunk_index"] for q in parts],
                        "words": sum(q["words"] for q in parts), "letters": sum(q["letters"] for q in parts)})
else:
    parts = [json.loads(Path(m).read_text()) for m in members(a.docs_fpath)]
    metrics = {"total_words": sum(q["words"] for q in parts), "total_letters": sum(q["letters"] for q in parts),
               "num_documents": len(parts)}
    write(a.out_fpath, {"info": [process_record("summarize", vars(a))], "result": {"metrics": metrics}})
