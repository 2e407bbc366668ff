"""PoseDataset: real images -> normalised input + PersonLab targets; negatives, bad splits, determinism."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from posenet.codec.letterbox import prepare_input
from posenet.data.canonical import load_split
from posenet.errors import AnnotationError, TrainingError
from posenet.io.media import read_image
from posenet.params import AugmentParams
from posenet.training.dataset import PoseDataset

DATA = Path(__file__).parents[1] / "data" / "train_mini"
ANNOTATIONS = DATA / "annotations.json"
IMAGES = DATA / "images"


def _split(tmp_path: Path, images: list, annotations: list) -> Path:
    path = tmp_path / "split.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": []}))
    return path


def test_sample_shapes_range_and_targets():
    ds = PoseDataset(ANNOTATIONS, IMAGES, 129, 16, 32.0)
    item = ds[0]
    assert item["image"].shape == (3, 129, 129) and item["image"].dtype == torch.float32
    assert -1.0 <= float(item["image"].min()) and float(item["image"].max()) <= 1.0
    assert item["heatmaps"].shape == (17, 9, 9) and item["offsets"].shape == (34, 9, 9)
    assert item["displacements_fwd"].shape == (32, 9, 9) and item["fwd_mask"].shape == (16, 9, 9)
    assert item["heatmaps"].sum() > 0  # one large person with 17 labelled keypoints
    batch = torch.utils.data.default_collate([ds[0], ds[1]])
    assert batch["image"].shape == (2, 3, 129, 129)


def test_without_augmentation_input_is_the_predictor_input():
    ds = PoseDataset(ANNOTATIONS, IMAGES, 257, 16, 32.0)
    ours = ds[1]["image"].permute(1, 2, 0).numpy()
    theirs, _ = prepare_input(read_image(IMAGES / ds.images[1]["file_name"]), (257, 257))
    assert np.abs(ours - theirs).max() <= 1.5 / 127.5


def test_augmentation_is_seeded_per_sample_and_epoch():
    aug = AugmentParams()
    a = PoseDataset(ANNOTATIONS, IMAGES, 129, 16, 32.0, aug, seed=3)
    b = PoseDataset(ANNOTATIONS, IMAGES, 129, 16, 32.0, aug, seed=3)
    assert torch.equal(a[2]["image"], b[2]["image"]) and torch.equal(a[2]["offsets"], b[2]["offsets"])
    b.set_epoch(1)
    assert not torch.equal(a[2]["image"], b[2]["image"])


def test_image_without_persons_is_a_valid_negative(tmp_path):
    record = json.loads(ANNOTATIONS.read_text())["images"][0]
    crowd = {"id": 1, "image_id": record["id"], "iscrowd": 1, "keypoints": [0] * 51}
    ds = PoseDataset(_split(tmp_path, [record], [crowd]), IMAGES, 129, 16, 32.0, AugmentParams())
    item = ds[0]
    for name in ("heatmaps", "offset_mask", "fwd_mask", "bwd_mask"):
        assert float(item[name].abs().sum()) == 0.0, name


def test_empty_split_is_a_clear_training_error(tmp_path):
    with pytest.raises(TrainingError, match="no images"):
        PoseDataset(_split(tmp_path, [], []), IMAGES, 129, 16, 32.0)
    with pytest.raises(TrainingError, match="not found"):
        PoseDataset(tmp_path / "missing.json", IMAGES, 129, 16, 32.0)


def test_malformed_annotations_name_the_field(tmp_path):
    record = {"id": 7, "file_name": "x.jpg", "width": 10, "height": 10}
    with pytest.raises(AnnotationError, match=r"annotations\[0\]\.keypoints"):
        load_split(_split(tmp_path, [record], [{"image_id": 7, "keypoints": [1, 2, 3]}]))
    with pytest.raises(AnnotationError, match="image_id 8"):
        load_split(_split(tmp_path, [record], [{"image_id": 8, "keypoints": [0] * 51}]))
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(AnnotationError, match="bad.json"):
        load_split(tmp_path / "bad.json")
