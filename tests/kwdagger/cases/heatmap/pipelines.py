"""A four-node pipeline shaped like KWDagger's heatmap tutorial.

predict_heatmap --dst_coco_fpath--> extract_boxes --dst_coco_fpath--> score_boxes
       |                    \\--------------------------------------> score_heatmap (pred_dataset)
       \\-- its coco_fpath input is forwarded to both scorers' true_dataset (input -> input)

The scorers' load_result return hand-made flat dicts ``{f"metrics.{self.name}.{k}": v}``.
"""
from pathlib import Path

import kwdagger
from kwdagger.utils import util_dotdict

HERE = Path(__file__).resolve().parent
TOOL = f"python {HERE}/heatmap.py"


class PredictHeatmap(kwdagger.ProcessNode):
    name = "predict_heatmap"
    executable = f"{TOOL} predict"
    in_paths = {"coco_fpath"}
    out_paths = {"dst_coco_fpath": "heatmaps.json", "dst_dpath": "."}
    primary_out_key = "dst_coco_fpath"
    algo_params = {"sigma": 1.0}
    perf_params = {"workers": "auto"}


class ExtractBoxes(kwdagger.ProcessNode):
    name = "extract_boxes"
    executable = f"{TOOL} extract"
    in_paths = {"coco_fpath"}
    out_paths = {"dst_coco_fpath": "boxes.json"}
    algo_params = {"threshold": 0.5, "min_area": 1}


class ScoreHeatmap(kwdagger.ProcessNode):
    name = "score_heatmap"
    executable = f"{TOOL} score_heatmap"
    in_paths = {"true_dataset", "pred_dataset"}
    out_paths = {"out_fpath": "heatmap_metrics.json"}

    def load_result(self, node_dpath):
        import json
        data = json.loads((node_dpath / self.out_paths["out_fpath"]).read_text())
        return util_dotdict.DotDict({f"metrics.{self.name}.{k}": v for k, v in data.items()})

    def default_metrics(self):
        return [{"metric": "mse", "objective": "minimize", "primary": True, "display": True}]


class ScoreBoxes(kwdagger.ProcessNode):
    name = "score_boxes"
    executable = f"{TOOL} score_boxes"
    in_paths = {"true_dataset", "pred_dataset"}
    out_paths = {"out_fpath": "box_metrics.json", "out_dpath": "detection_eval"}
    primary_out_key = "out_fpath"
    algo_params = {"iou_thresh": 0.5}

    def load_result(self, node_dpath):
        import json
        data = json.loads((node_dpath / self.out_paths["out_fpath"]).read_text())
        return util_dotdict.DotDict({f"metrics.{self.name}.{k}": v for k, v in data.items()})

    def default_metrics(self):
        return [{"metric": "f1", "objective": "maximize", "primary": True, "display": True},
                {"metric": "mean_iou", "objective": "maximize", "primary": True, "display": True}]


def heatmap_pipeline():
    predict, extract, score_heat, score_boxes = PredictHeatmap(), ExtractBoxes(), ScoreHeatmap(), ScoreBoxes()
    predict.outputs["dst_coco_fpath"].connect(extract.inputs["coco_fpath"])
    predict.outputs["dst_coco_fpath"].connect(score_heat.inputs["pred_dataset"])
    predict.inputs["coco_fpath"].connect(score_heat.inputs["true_dataset"])
    extract.outputs["dst_coco_fpath"].connect(score_boxes.inputs["pred_dataset"])
    predict.inputs["coco_fpath"].connect(score_boxes.inputs["true_dataset"])
    return kwdagger.Pipeline([predict, extract, score_heat, score_boxes])
