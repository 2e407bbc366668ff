"""generate_targets stage: outputs, letterbox geometry (round trip to image pixels), negatives, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from posenet.codec.letterbox import letterbox, scale_poses
from posenet.codec.personlab import PersonLabCodec, Targets

PERSON = [  # one person (x, y, v) in image pixels, all labelled, spread out
    (100, 40, 2), (110, 30, 2), (90, 30, 2), (125, 35, 1), (75, 35, 2), (140, 80, 2), (60, 80, 2),
    (160, 130, 2), (40, 130, 2), (170, 180, 2), (30, 180, 2), (130, 180, 2), (70, 180, 2),
    (135, 240, 2), (65, 240, 2), (140, 295, 2), (60, 295, 2),
]


def make_dataset(root: Path) -> Path:
    """train: a landscape image with one person, a portrait one with two (one shifted), one without persons;
    val: one image. Pixels are noise (the targets only need the geometry)."""
    rng = np.random.default_rng(0)
    images = root / "images"
    images.mkdir()
    sizes = {"a.jpg": (320, 480), "b.png": (400, 250), "empty.jpg": (200, 300), "v.jpg": (330, 330)}
    for name, (h, w) in sizes.items():
        cv2.imwrite(str(images / name), rng.integers(0, 255, (h, w, 3), dtype=np.uint8))
    kp = np.array(PERSON, dtype=float)
    shifted = kp.copy()
    shifted[:, 1] = shifted[:, 1] * 0.3 + 290  # b.png: a second, squashed person below the first
    ann_dir = root / "annotations"
    ann_dir.mkdir()

    def split(names: list[str], persons: dict[str, list[np.ndarray]]) -> dict:
        imgs = [{"id": i + 1, "file_name": n, "height": sizes[n][0], "width": sizes[n][1]} for i, n in enumerate(names)]
        anns = [{"id": 100 * (i + 1) + j, "image_id": i + 1, "category_id": 1, "iscrowd": 0,
                 "num_keypoints": 17, "keypoints": p.ravel().tolist()}
                for i, n in enumerate(names) for j, p in enumerate(persons.get(n, []))]
        return {"images": imgs, "annotations": anns, "categories": [{"id": 1, "name": "person"}]}

    (ann_dir / "train.json").write_text(json.dumps(split(["a.jpg", "b.png", "empty.jpg"],
                                                         {"a.jpg": [kp], "b.png": [kp * 0.5, shifted]})))
    (ann_dir / "val.json").write_text(json.dumps(split(["v.jpg"], {"v.jpg": [kp]})))
    (root / "params.yaml").write_text("model:\n  stride: 16\ntargets:\n  input_size: 257\n  radius: 32\n")
    return root


@pytest.fixture
def run(load_stage):
    """Run the stage's click command on a dataset made by ``make_dataset``."""
    main = load_stage("generate_targets").main

    def invoke(root: Path, *extra: str):
        return CliRunner().invoke(main, [
            "--params", str(root / "params.yaml"), "--annotations", str(root / "annotations"),
            "--images", str(root / "images"), "--out", str(root / "targets"),
            "--figure", str(root / "preview.png"), *extra])

    return invoke


def load(root: Path, split: str, image_id: int) -> tuple[Targets, np.ndarray]:
    with np.load(root / "targets" / split / f"{image_id}.npz") as data:
        return Targets(*(data[f] for f in Targets._fields)), data["keypoints"]


def test_writes_targets_index_and_preview(run, tmp_path):
    root = make_dataset(tmp_path)
    result = run(root, "--preview", "2")
    assert result.exit_code == 0, result.output
    for split, count in (("train", 3), ("val", 1)):
        index = json.loads((root / "targets" / split / "index.json").read_text())
        assert (index["input_size"], index["output_stride"], index["radius"]) == (257, 16, 32.0)
        assert len(index["images"]) == count
    targets, kps = load(root, "train", 2)
    assert kps.shape == (2, 17, 3)
    assert targets.heatmaps.shape == (17, 17, 17) and targets.displacements_fwd.shape == (32, 17, 17)
    assert targets.heatmaps.dtype == np.float32 and targets.heatmaps.sum() > 0
    # an image without persons is a valid negative: all-zero targets
    empty, kps = load(root, "train", 3)
    assert kps.shape == (0, 17, 3)
    assert all(not arr.any() for arr in empty)
    png = (root / "preview.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    assert not list(root.glob(".targets*")) and not list(root.glob(".preview*"))  # no temporaries left


@pytest.mark.parametrize("split,image_id,name", [("train", 1, "a.jpg"), ("train", 2, "b.png"), ("val", 1, "v.jpg")])
def test_round_trip_to_image_pixels(run, tmp_path, split, image_id, name):
    """Decoding the stored targets and scaling back with the Predictor's geometry gives the annotations."""
    root = make_dataset(tmp_path)
    assert run(root, "--preview", "0").exit_code == 0
    targets, _ = load(root, split, image_id)
    ann = json.loads((root / "annotations" / f"{split}.json").read_text())
    record = next(i for i in ann["images"] if i["file_name"] == name)
    truth = np.array([a["keypoints"] for a in ann["annotations"] if a["image_id"] == record["id"]]).reshape(-1, 17, 3)
    hwc = lambda a: a.transpose(1, 2, 0)  # noqa: E731
    poses = PersonLabCodec((257, 257), 16).decode(hwc(targets.heatmaps), hwc(targets.offsets),
                                                  hwc(targets.displacements_fwd), hwc(targets.displacements_bwd),
                                                  max_detections=10)
    box = letterbox((record["height"], record["width"]), (257, 257))
    poses = scale_poses(poses, box)
    pixel = max(box.scale_yx)  # one model-input pixel, in image pixels
    for person in truth:
        best = min(poses, key=lambda p: np.abs(p.keypoints - person[:, :2]).sum())
        np.testing.assert_allclose(best.keypoints, person[:, :2], atol=1e-3 * pixel)


def test_missing_image_fails_cleanly_and_keeps_old_output(run, tmp_path):
    root = make_dataset(tmp_path)
    assert run(root, "--preview", "0").exit_code == 0
    before = sorted(p.relative_to(root) for p in (root / "targets").rglob("*"))
    (root / "images" / "v.jpg").unlink()
    result = run(root)
    assert result.exit_code == 2
    assert "error:" in result.output and "v.jpg" in result.output
    assert sorted(p.relative_to(root) for p in (root / "targets").rglob("*")) == before
    assert not list(root.glob(".targets*"))


def test_missing_annotations_is_a_clear_error(run, tmp_path):
    root = make_dataset(tmp_path)
    (root / "annotations" / "val.json").unlink()
    result = run(root)
    assert result.exit_code == 2
    assert "val.json" in result.output
    assert not (root / "targets").exists()


def test_bad_params_is_a_clear_error(run, tmp_path):
    root = make_dataset(tmp_path)
    (root / "params.yaml").write_text("targets:\n  input_size: 250\n")
    result = run(root)
    assert result.exit_code == 2 and "targets.input_size" in result.output
