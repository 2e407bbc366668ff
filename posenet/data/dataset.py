"""Torch Dataset over a canonical COCO-keypoints split: image -> (augmented) model input + PersonLab targets.

Each sample is letterboxed to the training input size with the Predictor's geometry (posenet.augment),
optionally augmented by one random affine, normalised to ``x / 127.5 - 1`` and paired with targets built by
``posenet.targets.build_targets`` from the transformed keypoints. The randomness of sample ``i`` in epoch
``e`` comes from ``numpy.random.default_rng([seed, e, i])`` only, so a run is reproducible whatever the
worker count, batch order or resume point.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from posenet import augment
from posenet.constants import NUM_KEYPOINTS
from posenet.errors import AnnotationError, TrainingError
from posenet.images import read_image
from posenet.params import AugmentParams
from posenet.targets import build_targets


def load_split(annotations: str | os.PathLike | dict[str, Any]) -> tuple[list[dict[str, Any]], dict[int, np.ndarray]]:
    """Read a canonical COCO-keypoints split: (image records, image id -> keypoints [P,17,3] float64).

    Crowd annotations (``iscrowd = 1``) are left out; images without persons get an empty ``[0,17,3]``.
    """
    name = "annotations" if isinstance(annotations, dict) else str(annotations)
    if isinstance(annotations, dict):
        data = annotations
    else:
        try:
            data = json.loads(Path(annotations).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise TrainingError(f"{name}: annotation file not found (run the fetch_annotations stage)") from None
        except (OSError, ValueError) as err:
            raise AnnotationError(f"{name}: not a readable JSON file ({err.__class__.__name__})") from None
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise AnnotationError(f"{name}: field 'images' missing or not a list")
    images = data["images"]
    persons: dict[int, list[np.ndarray]] = {int(im["id"]): [] for im in images}
    for i, ann in enumerate(data.get("annotations") or []):
        if ann.get("iscrowd", 0):
            continue
        kps = np.asarray(ann.get("keypoints", ()), dtype=np.float64)
        if kps.size != NUM_KEYPOINTS * 3:
            raise AnnotationError(f"{name}: annotations[{i}].keypoints has {kps.size} values, expected 51")
        image_id = int(ann["image_id"])
        if image_id not in persons:
            raise AnnotationError(f"{name}: annotations[{i}].image_id {image_id} is not in 'images'")
        persons[image_id].append(kps.reshape(NUM_KEYPOINTS, 3))
    keypoints = {k: (np.stack(v) if v else np.zeros((0, NUM_KEYPOINTS, 3))) for k, v in persons.items()}
    return images, keypoints


class PoseDataset(Dataset):
    """Samples of one split: ``{"image": float32 [3,H,W] in [-1,1], <Targets fields>: float32 [C,h,w], "index"}``.

    Args:
        annotations: canonical COCO-keypoints JSON path (or its dict).
        images_dir: folder holding ``images[].file_name``.
        input_size: square training input size (``k * stride + 1``), model-input pixels.
        output_stride: model output stride.
        radius: target disk radius R, model-input pixels.
        augment_params: augmentation settings; None for the plain letterbox (eval geometry).
        seed: base seed of the per-sample RNG.
    """

    def __init__(self, annotations: str | os.PathLike | dict[str, Any], images_dir: str | os.PathLike,
                 input_size: int, output_stride: int, radius: float,
                 augment_params: AugmentParams | None = None, seed: int = 0) -> None:
        self.images, self.keypoints = load_split(annotations)
        if not self.images:
            name = "annotations" if isinstance(annotations, dict) else str(annotations)
            raise TrainingError(f"{name}: the split has no images; nothing to train on")
        self.images_dir = Path(images_dir)
        self.input_hw = (int(input_size), int(input_size))
        self.output_stride = int(output_stride)
        self.radius = float(radius)
        self.augment_params = augment_params
        self.seed = int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose augmentations ``__getitem__`` draws."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.images)

    def sample(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """The model-input image (RGB uint8 [H,W,3]) and keypoints [P,17,3] (model-input px) of one sample."""
        record = self.images[index]
        image = read_image(self.images_dir / record["file_name"])
        keypoints = self.keypoints[int(record["id"])]
        rng = None
        if self.augment_params is not None:
            rng = np.random.default_rng([self.seed, self.epoch, index])
        return augment.apply(image, keypoints, self.input_hw, rng, self.augment_params)

    def __getitem__(self, index: int) -> dict[str, Any]:
        image, keypoints = self.sample(index)
        targets = build_targets(keypoints, self.input_hw, self.output_stride, self.radius)
        item: dict[str, Any] = {name: torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32))
                                for name, value in targets._asdict().items()}
        pixels = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float()
        item["image"] = pixels / 127.5 - 1.0
        item["index"] = index
        return item
