"""COCO OKS keypoint AP with pycocotools: results writer, evaluation, and a Predictor-on-a-dataset helper.

pycocotools prints its progress and summary on stdout; here that text goes to the log (DEBUG).
"""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from posenet.data.files import load_json
from posenet.errors import AnnotationError
from posenet.io.progress import progress_bar
from posenet.pose import Pose

if TYPE_CHECKING:
    import torch

    from posenet.inference.predictor import Predictor
    from posenet.params import Params

__all__ = ["METRIC_NAMES", "PERSON_CATEGORY_ID", "coco_results", "evaluate_keypoints", "evaluate_predictor",
           "evaluate_presets", "load_annotations"]

log = logging.getLogger(__name__)

PERSON_CATEGORY_ID = 1
# The first six of COCOeval.stats for keypoints (AP, AP50, AP75, APm, APl, AR, AR50, AR75, ARm, ARl).
METRIC_NAMES: tuple[str, ...] = ("AP", "AP50", "AP75", "APm", "APl", "AR")


def coco_results(image_id_to_poses: Mapping[int, Sequence[Pose]]) -> list[dict[str, Any]]:
    """Poses (ORIGINAL image pixels) per COCO image id -> COCO keypoint results (``[x, y, 1] * 17``, pose score)."""
    results = []
    for image_id, poses in image_id_to_poses.items():
        for pose in poses:
            kps = np.concatenate([pose.keypoints, np.ones((len(pose.keypoints), 1))], axis=1)
            results.append({"image_id": int(image_id), "category_id": PERSON_CATEGORY_ID,
                            "keypoints": [float(v) for v in kps.ravel()], "score": float(pose.score),
                            "keypoint_scores": [float(s) for s in pose.keypoint_scores]})
    return results


def load_annotations(annotations: str | os.PathLike | Mapping[str, Any]) -> dict[str, Any]:
    """COCO keypoint annotations from a JSON path or an already loaded dict (AnnotationError if unusable)."""
    if isinstance(annotations, Mapping):
        data, name = dict(annotations), "annotations"
    else:
        name, data = str(annotations), load_json(annotations)
        if not isinstance(data, dict):
            raise AnnotationError(f"{name}: not a COCO annotation file (a JSON object)")
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise AnnotationError(f"{name}: missing list field '{key}'")
    return data


def _quiet(fn, *args):
    """Call a pycocotools function with its stdout captured into the log."""
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        out = fn(*args)
    if buf.getvalue().strip():
        log.debug("pycocotools: %s", buf.getvalue().strip())
    return out


def evaluate_keypoints(annotations: str | os.PathLike | Mapping[str, Any],
                       results: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """COCOeval (iouType keypoints) -> {"AP", "AP50", "AP75", "APm", "APl", "AR"}; no results -> all 0."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    data = load_annotations(annotations)
    if not results:
        log.warning("no detections to evaluate: every metric is 0")
        return {name: 0.0 for name in METRIC_NAMES}
    gt = COCO()
    gt.dataset = copy.deepcopy(data)
    _quiet(gt.createIndex)
    known = set(gt.getImgIds())
    unknown = sorted({int(r["image_id"]) for r in results} - known)
    if unknown:
        raise AnnotationError(f"results name image ids not in the annotations: {unknown[:5]}")
    dt = _quiet(gt.loadRes, [dict(r) for r in results])   # loadRes adds fields to each result: give it copies
    ev = COCOeval(gt, dt, iouType="keypoints")
    _quiet(ev.evaluate)
    _quiet(ev.accumulate)
    _quiet(ev.summarize)
    # -1 marks "no ground truth in this area range": report it as 0.
    return {name: max(float(stat), 0.0) for name, stat in zip(METRIC_NAMES, ev.stats)}


def evaluate_predictor(predictor: Predictor, annotations: str | os.PathLike | Mapping[str, Any],
                       images_dir: str | os.PathLike) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """Run ``predictor`` on every image of a COCO keypoint file -> (metrics, COCO results).

    Images are read from ``images_dir`` by ``Predictor.run_file`` (EXIF applied, as the annotations are; at a
    reduced JPEG scale when the predictor's config says so), poses in the files' pixels.
    """
    data = load_annotations(annotations)
    images_dir = Path(images_dir)
    poses = {}
    for img in progress_bar(data["images"], desc="evaluate", unit="img"):
        poses[int(img["id"])] = predictor.run_file(images_dir / img["file_name"]).poses
    results = coco_results(poses)
    return evaluate_keypoints(data, results), results


def evaluate_presets(params: Params, model: torch.nn.Module, annotations: str | os.PathLike | Mapping[str, Any],
                     images_dir: str | os.PathLike, presets: Sequence[str]) -> dict[str, dict[str, float]]:
    """Metrics of ``model`` under each Predictor preset (over ``params.predict``) -> {preset: metrics}."""
    from posenet.inference.predictor import Predictor

    data = load_annotations(annotations)
    return {preset: evaluate_predictor(Predictor.from_params(params, model=model, preset=preset), data, images_dir)[0]
            for preset in presets}
