"""The four programs of the heatmap pipeline (plain Python): predict, extract boxes, score both.

A "dataset" is a JSON file of images, each a 1-D signal with true intervals.
"""
import argparse
import json
from pathlib import Path


def load(path):
    return json.loads(Path(path).read_text())


def save(path, data):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1))


def smooth(signal, sigma):
    radius = max(0, int(sigma))
    out = []
    for i in range(len(signal)):
        window = signal[max(0, i - radius): i + radius + 1]
        out.append(round(sum(window) / len(window), 6))
    return out


def overlap(a, b):
    inter = max(0, min(a[1], b[1]) - max(a[0], b[0]))
    union = max(a[1], b[1]) - min(a[0], b[0])
    return inter / union if union else 0.0


p = argparse.ArgumentParser()
sub = p.add_subparsers(dest="step", required=True)
s = sub.add_parser("predict")
s.add_argument("--coco_fpath", required=True)
s.add_argument("--dst_coco_fpath", required=True)
s.add_argument("--dst_dpath", required=True)
s.add_argument("--sigma", type=float, default=1.0)
s.add_argument("--workers", default="auto")
s = sub.add_parser("extract")
s.add_argument("--coco_fpath", required=True)
s.add_argument("--dst_coco_fpath", required=True)
s.add_argument("--threshold", type=float, default=0.5)
s.add_argument("--min_area", type=int, default=1)
s = sub.add_parser("score_heatmap")
s.add_argument("--true_dataset", required=True)
s.add_argument("--pred_dataset", required=True)
s.add_argument("--out_fpath", required=True)
s = sub.add_parser("score_boxes")
s.add_argument("--true_dataset", required=True)
s.add_argument("--pred_dataset", required=True)
s.add_argument("--out_fpath", required=True)
s.add_argument("--out_dpath", required=True)
s.add_argument("--iou_thresh", type=float, default=0.5)
a = p.parse_args()

if a.step == "predict":
    data = load(a.coco_fpath)
    save(a.dst_coco_fpath, {"images": [{"id": im["id"], "heat": smooth(im["signal"], a.sigma)} for im in data["images"]]})
    (Path(a.dst_dpath) / "heatmaps.txt").write_text("predicted\n")
elif a.step == "extract":
    boxes = []
    for im in load(a.coco_fpath)["images"]:
        found, start = [], None
        for i, v in enumerate(im["heat"] + [0.0]):
            if v >= a.threshold and start is None:
                start = i
            elif v < a.threshold and start is not None:
                if i - start >= a.min_area:
                    found.append([start, i])
                start = None
        boxes.append({"id": im["id"], "boxes": found})
    save(a.dst_coco_fpath, {"images": boxes})
elif a.step == "score_heatmap":
    truth = {im["id"]: im for im in load(a.true_dataset)["images"]}
    errs = []
    for im in load(a.pred_dataset)["images"]:
        mask = [0.0] * len(im["heat"])
        for lo, hi in truth[im["id"]]["truth"]:
            for i in range(lo, hi):
                mask[i] = 1.0
        errs += [(h - m) ** 2 for h, m in zip(im["heat"], mask)]
    save(a.out_fpath, {"mse": round(sum(errs) / len(errs), 6), "n_pixels": len(errs)})
else:
    truth = {im["id"]: im["truth"] for im in load(a.true_dataset)["images"]}
    tp = fp = n_true = 0
    best = []
    for im in load(a.pred_dataset)["images"]:
        n_true += len(truth[im["id"]])
        best += [max([overlap(b, t) for b in im["boxes"]] or [0.0]) for t in truth[im["id"]]]
        for box in im["boxes"]:
            if any(overlap(box, t) >= a.iou_thresh for t in truth[im["id"]]):
                tp += 1
            else:
                fp += 1
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / n_true if n_true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    Path(a.out_dpath).mkdir(parents=True, exist_ok=True)
    save(a.out_fpath, {"f1": round(f1, 6), "mean_iou": round(sum(best) / len(best), 6),
                       "precision": round(precision, 6), "recall": round(recall, 6)})
