"""Real-world export shapes (issue 11): Roboflow / Ultralytics / CVAT YOLO layouts, label-name variants,
non-person skeletons, whole-body files, empty datasets. Fixtures: tests/data/exports (README there)."""

from __future__ import annotations

import json
import logging
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from data_helpers import REPO, expected, params_file

from posenet.data.parts import label_coco_index, normalise_part_name
from posenet.data.readers import read_export
from posenet.errors import AnnotationError

sys.path.insert(0, str(REPO / "stages"))
import fetch_annotations  # noqa: E402

EXPORTS = REPO / "tests" / "data" / "exports"
ULTRALYTICS = EXPORTS / "ultralytics_pose"
SKELETONS = EXPORTS / "coco_skeletons"
BODY25_EXTRAS = ["Neck", "MidHip", "LBigToe", "LSmallToe", "LHeel", "RBigToe", "RSmallToe", "RHeel"]


def persons(export) -> dict[str, list[int]]:
    """{image path relative to the export: labelled keypoints of each person}."""
    return {r.rel: [int((p.keypoints[:, 2] > 0).sum()) for p in r.persons] for r in export.images}


def yolo_truth() -> dict[str, np.ndarray]:
    """The persons the YOLO fixtures were written from: {walk, stand, run: [P, 17, 3]} (COCO order, px)."""
    exp = expected("roboflow_yolov8")["images"]
    by_stem = {key.split("/")[-1].split("_jpg")[0]: np.array(v["persons"]) for key, v in exp.items()}
    return {"walk": by_stem["frame_001"], "stand": by_stem["frame_002"], "run": by_stem["frame_006"]}


def stage(tmp_path: Path, *args: str):
    out = tmp_path / "out"
    result = CliRunner().invoke(fetch_annotations.main, [
        "--params", str(params_file(tmp_path)), "--annotations-dir", str(out / "annotations"),
        "--images-dir", str(out / "images"), "--summary", str(out / "summary.json"), *args])
    return result, out


def assert_refused(result, out: Path, message: str) -> None:
    """Exit 2, one line ``error: ...`` containing ``message``, and nothing written."""
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and message in errors[0], result.output
    assert "Traceback" not in result.output
    assert not out.exists() or list(out.iterdir()) == []  # the stage may make the output folder, but writes nothing


# --- 1. Roboflow YOLOv8 identity flip_idx ----------------------------------------------------------------

def test_roboflow_identity_flip_idx_is_read_in_coco_order(caplog):
    caplog.set_level(logging.INFO)
    export = read_export("roboflow_yolov8", EXPORTS / "roboflow_yolov8_identity")
    got = persons(export)
    assert sorted(got.values()) == [[16, 15], [17]]
    walk = next(r for r in export.images if "walk" in r.rel)
    np.testing.assert_allclose(np.stack([p.keypoints for p in walk.persons]), yolo_truth()["walk"], atol=1e-3)
    assert "identity flip_idx" in caplog.text and "WARNING" not in caplog.text


def test_identity_flip_idx_with_configured_coco_names():
    names = ["nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder", "left_elbow",
             "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee",
             "left_ankle", "right_ankle"]
    export = read_export("roboflow_yolov8", EXPORTS / "roboflow_yolov8_identity", keypoint_names=names)
    assert sum(len(r.persons) for r in export.images) == 3


# --- 2. Ultralytics layouts and data.yaml variants -------------------------------------------------------

@pytest.mark.parametrize("yaml_name", ["", "data.yaml", "lists.yaml", "txt.yaml", "other-machine.yaml"])
def test_ultralytics_layouts(yaml_name):
    export = read_export("roboflow_yolov8", ULTRALYTICS / yaml_name if yaml_name else ULTRALYTICS)
    assert persons(export) == {"images/train/walk.jpg": [16, 15], "images/train/stand.jpg": [17],
                               "images/val/run.jpg": [17]}
    truth = yolo_truth()
    for record in export.images:
        want = truth[Path(record.rel).stem]
        np.testing.assert_allclose(np.stack([p.keypoints for p in record.persons]), want, atol=1e-3)


def test_split_paths_of_another_machine_warn(caplog):
    read_export("roboflow_yolov8", ULTRALYTICS / "other-machine.yaml")
    assert "none of the split paths" in caplog.text and "reading the folders beside it" in caplog.text


def test_path_key_names_the_dataset_folder(tmp_path):
    dataset = tmp_path / "datasets" / "pose"
    shutil.copytree(ULTRALYTICS / "images", dataset / "images")
    shutil.copytree(ULTRALYTICS / "labels", dataset / "labels")
    yaml_path = tmp_path / "config" / "pose.yaml"
    yaml_path.parent.mkdir()
    text = (ULTRALYTICS / "data.yaml").read_text().replace("../datasets/pose-fixture", "../datasets/pose")
    yaml_path.write_text(text.replace("val: images/val", "val: images/val\ntest: images/test"))
    export = read_export("roboflow_yolov8", yaml_path)
    assert sum(map(len, persons(export).values())) == 4 and len(export.images) == 3


def test_split_list_file_with_missing_image_is_skipped(tmp_path, caplog):
    root = tmp_path / "u"
    shutil.copytree(ULTRALYTICS, root)
    (root / "val.txt").write_text("images/val/run.jpg\nimages/val/gone.jpg\n")
    export = read_export("roboflow_yolov8", root / "txt.yaml")
    assert len(export.images) == 3 and export.skipped == 1
    assert "1 of 2 listed images do not exist here" in caplog.text


# --- 3. zero persons / few labels -------------------------------------------------------------------------

def test_missing_label_folder_is_a_one_line_error(tmp_path):
    root = tmp_path / "u"
    shutil.copytree(ULTRALYTICS, root)
    shutil.rmtree(root / "labels")
    result, out = stage(tmp_path, "--format", "roboflow_yolov8", "--path", str(root))
    assert_refused(result, out, "0 persons with keypoints in 3 images of this roboflow_yolov8 export "
                                "(0 of 3 label files found, e.g. no ")


def test_all_labels_left_out_is_a_one_line_error(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("data:\n  format: coco\n  category: hand\n  unknown_labels: ignore\n")
    out = tmp_path / "out"
    result = CliRunner().invoke(fetch_annotations.main, [
        "--params", str(params), "--path", str(SKELETONS / "person_and_hand.json"),
        "--annotations-dir", str(out / "a"), "--images-dir", str(out / "i"), "--summary", str(out / "s.json")])
    assert_refused(result, out, "0 persons with keypoints in 2 images of this coco export (person_and_hand.json: "
                                "0 person(s) with keypoints among 4 annotation(s) (category 'hand'")


def test_dataloop_without_poses_is_a_one_line_error(tmp_path, fixture_copy):
    root = fixture_copy("dataloop")
    for path in (root / "json").rglob("*.json"):
        item = json.loads(path.read_text(encoding="utf-8"))
        item["annotations"] = [a for a in item["annotations"] if a["type"] not in ("pose", "point")]
        path.write_text(json.dumps(item), encoding="utf-8")
    result, out = stage(tmp_path, "--format", "dataloop", "--path", str(root))
    assert_refused(result, out, "(0 pose annotation(s) in 4 item JSON file(s))")


def test_fewer_than_half_labelled_warns(tmp_path, caplog):
    root = tmp_path / "u"
    shutil.copytree(ULTRALYTICS, root)
    (root / "labels" / "train" / "stand.txt").unlink()
    for extra in ("walk2.jpg", "walk3.jpg"):  # unlabelled images (null images)
        shutil.copyfile(root / "images" / "train" / "walk.jpg", root / "images" / "train" / extra)
    with caplog.at_level(logging.WARNING):
        result, out = stage(tmp_path, "--format", "roboflow_yolov8", "--path", str(root))
    assert result.exit_code == 0, result.output
    assert "only 2 of 5 images have a labelled person (2 of 5 label files found" in caplog.text


# --- 4. label-name variants ---------------------------------------------------------------------------------

@pytest.mark.parametrize("label, name", [
    ("RShoulder", "right_shoulder"), ("LHip", "left_hip"), ("RAnkle", "right_ankle"), ("LEye", "left_eye"),
    ("REar", "right_ear"), ("L_Eye", "left_eye"), ("R_Shoulder", "right_shoulder"), ("left-shoulder", "left_shoulder"),
    ("Left Shoulder", "left_shoulder"), ("leftShoulder", "left_shoulder"), ("left_shoulder", "left_shoulder"),
    ("shoulder_left", "left_shoulder"), ("LEFT_WRIST", "left_wrist")])
def test_label_variants(label, name):
    assert normalise_part_name(label) == name and label_coco_index(label, "x") >= 0


def test_openpose_names_with_extra_points():
    with pytest.raises(AnnotationError, match=r"keypoints\[1\]: unknown keypoint label 'Neck'.*data\.ignore_labels"):
        read_export("coco", SKELETONS / "openpose_names.json")
    export = read_export("coco", SKELETONS / "openpose_names.json", ignore_labels=BODY25_EXTRAS)
    assert persons(export) == {"walk.jpg": [16], "run.jpg": [17]}
    np.testing.assert_allclose(export.images[0].persons[0].keypoints, yolo_truth()["walk"][0])


def test_unknown_labels_reported_once_per_label(caplog, fixture_copy):
    caplog.set_level(logging.INFO)
    export = read_export("coco", SKELETONS / "openpose_names.json", unknown_labels="ignore")
    assert persons(export) == {"walk.jpg": [16], "run.jpg": [17]}
    lines = [r.getMessage() for r in caplog.records if "left out" in r.getMessage()]
    assert len(lines) == len(BODY25_EXTRAS) and all("left out 1 time(s)" in line for line in lines)
    caplog.clear()
    root = fixture_copy("dataloop")  # every point of every pose relabelled 'head': one line, not one per point
    for path in (root / "json").rglob("*.json"):
        item = json.loads(path.read_text(encoding="utf-8"))
        for ann in item["annotations"]:
            if ann["type"] == "point" and ann["label"] in ("nose", "left eye", "leftEye", "left_eye", "Left Eye"):
                ann["label"] = "head"
        path.write_text(json.dumps(item), encoding="utf-8")
    read_export("dataloop", root, unknown_labels="ignore")
    lines = [r.getMessage() for r in caplog.records if "left out" in r.getMessage()]
    assert len(lines) == 1 and lines[0].startswith("unknown keypoint label 'head' left out ")
    caplog.clear()
    read_export("dataloop", root, ignore_labels=["Head"])  # listed: no error in strict mode, one info line
    assert [r.levelname for r in caplog.records if "left out" in r.getMessage()] == ["INFO"]


# --- 5. non-person skeletons ----------------------------------------------------------------------------------

def test_person_category_is_the_default():
    export = read_export("coco", SKELETONS / "person_and_hand.json")
    assert persons(export) == {"walk.jpg": [16, 15], "run.jpg": []}
    assert persons(read_export("coco", SKELETONS / "person_and_hand.json", category="1")) == persons(export)


def test_category_that_does_not_exist():
    with pytest.raises(AnnotationError, match=r"data\.category = 'tiger' names no keypoint category \(there: "
                                              r"'person' \(id 1, 17 keypoints\), 'hand' \(id 2, 21 keypoints\)\)"):
        read_export("coco", SKELETONS / "person_and_hand.json", category="tiger")


def test_animal_export_is_refused_via_the_stage(tmp_path):
    result, out = stage(tmp_path, "--format", "coco", "--path", str(SKELETONS / "animals.json"))
    assert_refused(result, out, "animals.json: no person keypoint category (there: 'dog' (id 1, 17 keypoints), "
                                "'cat' (id 2, 17 keypoints)); only 17-keypoint COCO persons are read")


def test_yolo_classes(tmp_path):
    root = tmp_path / "u"
    shutil.copytree(ULTRALYTICS, root)
    text = (root / "data.yaml").read_text()
    (root / "data.yaml").write_text(text.replace("  0: person\n", "  0: dog\n  1: person\n"))
    walk = root / "labels" / "train" / "walk.txt"
    walk.write_text(walk.read_text().replace("0 ", "1 ", 1))  # first person of walk is class 1 (person)
    assert sorted(persons(read_export("roboflow_yolov8", root)).values()) == [[], [], [16]]
    assert sorted(persons(read_export("roboflow_yolov8", root, category="dog")).values()) == [[15], [17], [17]]
    (root / "data.yaml").write_text(text.replace("  0: person\n", "  0: dog\n  1: cat\n"))
    with pytest.raises(AnnotationError, match=r"no person keypoint category \(there: 'dog' \(id 0, 17 keypoints\)"):
        read_export("roboflow_yolov8", root)


def test_yolo_animal_skeleton_is_refused(tmp_path):
    root = tmp_path / "dog-pose"
    shutil.copytree(ULTRALYTICS, root)
    (root / "data.yaml").write_text("train: images/train\nkpt_shape: [24, 3]\nnames:\n  0: dog\n")
    with pytest.raises(AnnotationError, match=r"24 keypoints without names \(classes \['dog'\]\); only 17-keypoint "
                                              r"COCO persons are read"):
        read_export("roboflow_yolov8", root)


# --- 6. Halpe ---------------------------------------------------------------------------------------------------

def test_halpe_file_is_refused_naming_it(tmp_path):
    result, out = stage(tmp_path, "--format", "coco", "--path", str(SKELETONS / "halpe136.json"))
    assert_refused(result, out, "annotations carry 136 keypoints each (a Halpe full-body file?); only 17-keypoint "
                                "COCO persons with named keypoints are read")


# --- 7. kpt_shape [K, 2] -------------------------------------------------------------------------------------------

def test_xy_only_keypoints_zero_is_unlabelled():
    export = read_export("roboflow_yolov8", EXPORTS / "ultralytics_xy")
    assert persons(export) == {"images/train/walk.jpg": [16, 15]}
    got = np.stack([p.keypoints for p in export.images[0].persons])
    want = yolo_truth()["walk"]
    np.testing.assert_array_equal(got[:, :, 2], np.where(want[:, :, 2] > 0, 2, 0))
    np.testing.assert_allclose(got[:, :, :2], want[:, :, :2], atol=1e-3)
