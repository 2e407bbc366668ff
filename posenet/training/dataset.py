"""Torch Dataset over a canonical COCO-keypoints split: image -> (augmented) model input + PersonLab targets.

Each sample is letterboxed to the training input size with the Predictor's geometry (posenet.training.augment),
optionally augmented by one random affine, normalised to ``x / 127.5 - 1`` and paired with targets built by
``posenet.codec.PersonLabCodec.encode`` from the transformed keypoints. The randomness of sample ``i`` in epoch
``e`` comes from ``numpy.random.default_rng([seed, e, i])`` only, so a run is reproducible whatever the
worker count, batch order or resume point.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from posenet.codec.personlab import PersonLabCodec
from posenet.data.canonical import load_split
from posenet.errors import TrainingError
from posenet.io.media import read_image
from posenet.params import AugmentParams
from posenet.training import augment

__all__ = ["PoseDataset"]


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
        self.codec = PersonLabCodec(self.input_hw, int(output_stride), float(radius))
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
        targets = self.codec.encode(keypoints)
        item: dict[str, Any] = {name: torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32))
                                for name, value in targets._asdict().items()}
        pixels = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float()
        item["image"] = pixels / 127.5 - 1.0
        item["index"] = index
        return item
