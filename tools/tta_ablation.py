"""Test-time augmentation ablation behind "Speed and accuracy per preset" in docs/benchmarks.md (pretrained weights).

    python tools/tta_ablation.py ../shared/eval/coco_val200 [--cache /tmp/posenet_tta_cache]

Runs the model once per image and input size on the input and its mirror image (cached as .npz, ~7 MB per
image at 1025), then replays every setting from the cache: decoding as the Predictor does (posenet.inference.tta map
fusion, posenet.codec.decode) or, for the pose-level fusion rows, decoding each scale alone and merging the poses
with greedy OKS-NMS. Prints COCO OKS AP (pycocotools) per setting. Choose settings on coco_val200 only.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np
import torch

from posenet.codec.decode import decode_multiple_poses
from posenet.codec.letterbox import letterbox, prepare_input, scale_poses, to_batch
from posenet.evaluation.coco import coco_results, evaluate_keypoints
from posenet.inference.tta import fuse_scales, image_maps
from posenet.io.media import read_image
from posenet.models.factory import load_model
from posenet.pose import Pose, keypoint_similarity

SIZES = (513, 577, 609, 641, 769, 1025)
# (label, input sizes, flip, max poses, part score threshold, fusion, OKS-NMS threshold or 0, rescoring)
SETTINGS = (
    ("tfjs (TF.js exactly)", (513,), False, 10, 0.5, "maps", 0.0, "tfjs"),
    ("513 + flip", (513,), True, 10, 0.5, "maps", 0.0, "tfjs"),
    ("513 + flip, 20 poses, threshold 0.2", (513,), True, 20, 0.2, "maps", 0.0, "tfjs"),
    ("577, 20 poses, threshold 0.2", (577,), False, 20, 0.2, "maps", 0.0, "tfjs"),
    ("609, 20 poses, threshold 0.2", (609,), False, 20, 0.2, "maps", 0.0, "tfjs"),
    ("641, 20 poses, threshold 0.2", (641,), False, 20, 0.2, "maps", 0.0, "tfjs"),
    ("769 + flip, 20 poses, threshold 0.2", (769,), True, 20, 0.2, "maps", 0.0, "tfjs"),
    ("1025 + flip, 20 poses, threshold 0.2", (1025,), True, 20, 0.2, "maps", 0.0, "tfjs"),
    ("769 + 1025 + flip, 10 poses, threshold 0.5", (769, 1025), True, 10, 0.5, "maps", 0.0, "tfjs"),
    ("769 + 1025, 20 poses, threshold 0.2", (769, 1025), False, 20, 0.2, "maps", 0.0, "tfjs"),
    ("769 + 1025 + flip, 20 poses, threshold 0.2 (accurate's)", (769, 1025), True, 20, 0.2, "maps", 0.0, "tfjs"),
    ("513 + 769 + 1025 + flip, 20 poses, threshold 0.2", (513, 769, 1025), True, 20, 0.2, "maps", 0.0, "tfjs"),
    ("accurate + OKS-NMS 0.5", (769, 1025), True, 20, 0.2, "maps", 0.5, "tfjs"),
    ("accurate, rescored by mean keypoint score", (769, 1025), True, 20, 0.2, "maps", 0.0, "mean"),
    ("accurate with pose-level fusion (OKS-NMS 0.5)", (769, 1025), True, 20, 0.2, "poses", 0.5, "tfjs"),
)


def cache_outputs(dataset: Path, cache: Path, sizes: tuple[int, ...]) -> None:
    """Raw outputs [2, h, w, C] (the input, then its mirror image) per image and size -> cache/<size>/<id>.npz."""
    model = load_model("mobilenet_v1_075", 16)
    images = json.loads((dataset / "annotations.json").read_text())["images"]
    for size in sizes:
        (cache / str(size)).mkdir(parents=True, exist_ok=True)
        for img in images:
            path = cache / str(size) / f"{img['id']}.npz"
            if path.exists():
                continue
            x, _ = prepare_input(read_image(dataset / "images" / img["file_name"]), (size, size))
            batch = to_batch([x])
            with torch.inference_mode():
                out = model(torch.cat([batch, batch.flip(-1)]))
            heat, off, fwd, bwd = (t.permute(0, 2, 3, 1).numpy() for t in out)
            np.savez(path.with_suffix(".tmp.npz"), heat=heat, off=off, fwd=fwd, bwd=bwd)
            path.with_suffix(".tmp.npz").rename(path)


def oks_nms(poses: list[Pose], threshold: float, max_poses: int) -> list[Pose]:
    """Greedy by score: drop a pose whose COCO OKS (area = the kept pose's keypoint box) with a kept one > threshold."""
    kept: list[Pose] = []
    for pose in sorted(poses, key=lambda p: -p.score):
        if all(_oks(k, pose) <= threshold for k in kept):
            kept.append(pose)
        if len(kept) == max_poses:
            break
    return kept


def _oks(ref: Pose, other: Pose) -> float:
    extent = ref.keypoints.max(axis=0) - ref.keypoints.min(axis=0)
    d2 = ((ref.keypoints - other.keypoints) ** 2).sum(axis=1)
    return float(keypoint_similarity(d2, max(extent[0] * extent[1], 1.0)).mean())


def image_poses(cache: Path, image_id: int, hw: tuple[int, int], setting: tuple) -> list[Pose]:
    _, sizes, flip, max_poses, threshold, fusion, oks, rescoring = setting
    maps, boxes = [], []
    for size in sizes:
        raw = np.load(cache / str(size) / f"{image_id}.npz")
        maps.append(image_maps([raw["heat"], raw["off"], raw["fwd"], raw["bwd"]], 0, 1, flip))
        boxes.append(letterbox(hw, (size, size)))
    if fusion == "maps":
        target = boxes[int(np.argmax(sizes))]
        poses = scale_poses(decode_multiple_poses(*fuse_scales(maps, boxes, target, 16), 16, max_poses, threshold),
                            target)
    else:
        poses = [p for m, box in zip(maps, boxes)
                 for p in scale_poses(decode_multiple_poses(*m, 16, max_poses, threshold), box)]
    if rescoring == "mean":
        poses = [Pose(float(np.mean(p.keypoint_scores)), p.keypoints, p.keypoint_scores) for p in poses]
    return oks_nms(poses, oks, max_poses) if oks else poses


@click.command()
@click.argument("dataset", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--cache", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Cache folder [/tmp/posenet_tta_cache/<dataset name>]")
def main(dataset: Path, cache: Path | None) -> None:
    """AP of every ablation setting on DATASET (a folder with annotations.json and images/)."""
    cache = cache or Path("/tmp/posenet_tta_cache") / dataset.name
    cache_outputs(dataset, cache, SIZES)
    data = json.loads((dataset / "annotations.json").read_text())
    for setting in SETTINGS:
        poses = {img["id"]: image_poses(cache, img["id"], (img["height"], img["width"]), setting)
                 for img in data["images"]}
        metrics = evaluate_keypoints(data, coco_results(poses))
        click.echo(f"{setting[0]:<55} AP {metrics['AP']:.3f}  APm {metrics['APm']:.3f}  APl {metrics['APl']:.3f}")


if __name__ == "__main__":
    main()
