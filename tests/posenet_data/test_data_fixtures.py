"""Every fixture export parses to exactly the result in its README / expected.json."""

from __future__ import annotations

import cv2
import numpy as np
from data_helpers import FIXTURES, assert_matches_expected, expected

from posenet.data.imagemeta import displayed_size
from posenet.data.readers import read_export


def test_dataloop_fixture(caplog):
    export = read_export("dataloop", FIXTURES / "dataloop")
    assert_matches_expected(export, expected("dataloop"))
    assert export.skipped == 0
    assert "labelled twice" in caplog.text  # duplicate nose in frame_002: the later one is kept
    assert "belong to no pose" in caplog.text  # orphan + standalone points


def test_roboflow_coco_fixture():
    export = read_export("roboflow_coco", FIXTURES / "roboflow_coco")
    assert_matches_expected(export, expected("roboflow_coco"))


def test_roboflow_yolov8_fixture():
    exp = expected("roboflow_yolov8")
    export = read_export("roboflow_yolov8", FIXTURES / "roboflow_yolov8", keypoint_names=exp["project_keypoint_order"])
    assert_matches_expected(export, exp)


def test_roboflow_legacy_fixture(caplog):
    exp = expected("roboflow_legacy")
    export = read_export("roboflow_legacy", FIXTURES / "roboflow_legacy")
    assert_matches_expected(export, exp)
    boxes = {r.rel: r.persons[0].bbox for r in export.images}
    for key, want in exp["images"].items():
        np.testing.assert_allclose(boxes[key], want["person_box_xywh_px"], atol=1e-4)
    assert "labelled twice" in caplog.text


def test_yolov8_flip_idx_that_contradicts_the_order_only_warns(caplog):
    """flip_idx is an augmentation hint, not a naming: the export is read (COCO order for 17 points), with a warning."""
    export = read_export("roboflow_yolov8", FIXTURES / "roboflow_yolov8")
    assert [len(r.persons) for r in export.images] == [2, 1, 0, 1]
    assert "flip_idx [0, 3, 4, 1, 2," in caplog.text and "set data.keypoint_names" in caplog.text


def test_exif_rotated_image_size_matches_opencv():
    path = FIXTURES / "dataloop" / "items" / "outdoor" / "läufer_003.jpg"
    image = cv2.imdecode(np.fromfile(path, dtype=np.uint8), cv2.IMREAD_COLOR)  # applies EXIF orientation
    assert displayed_size(path) == (48, 64) == (image.shape[1], image.shape[0])
