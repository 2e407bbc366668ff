"""Edge cases of annotation-formats.md section 5 and bad input: errors name the file and the field."""

from __future__ import annotations

import json
import unicodedata

import numpy as np
import pytest
from data_helpers import FIXTURES, assert_matches_expected, expected

from posenet.data.canonical import keypoint_bbox, sanitise_keypoints, to_coco
from posenet.data.files import load_json
from posenet.data.imagemeta import displayed_size, probe_image
from posenet.data.parts import LabelPolicy, flip_index, label_coco_index, normalise_part_name
from posenet.data.readers import read_export
from posenet.data.split import split_coco
from posenet.data.summary import summarise
from posenet.errors import AnnotationError, ImageError


@pytest.mark.parametrize("label", ["Left Eye", "left eye", "left-eye", "leftEye", "1-leftEye", " left_eye "])
def test_label_normalisation(label):
    assert normalise_part_name(label) == "left_eye"
    assert label_coco_index(label, "x") == 1


def test_unknown_label_names_where():
    with pytest.raises(AnnotationError, match=r"f\.json: annotations\[3\]\.label: unknown keypoint label 'tail'"):
        label_coco_index("tail", "f.json: annotations[3].label")
    assert label_coco_index("17-person", "x") is None


def test_label_policy(caplog):
    """One rule for every keypoint list (COCO categories, YOLOv8 kpt_names, Dataloop points): unknown -> error or
    left out (-1); a person label is never a keypoint; one summary line per left-out label."""
    strict = LabelPolicy()
    assert strict.index("Left Eye", "x") == 1
    with pytest.raises(AnnotationError, match=r"k\.json\[2\]: 'person' is a person label, not a keypoint"):
        strict.index("person", "k.json[2]")
    with pytest.raises(AnnotationError, match="unknown keypoint label 'tail'.*data.ignore_labels"):
        strict.index("tail", "k.json[3]")
    lenient = LabelPolicy("ignore")
    assert lenient.index("tail", "k.json[3]") == lenient.index("person", "k.json[2]") == -1
    assert caplog.text == ""  # reported once, at the end
    lenient.report()
    assert "unknown keypoint label 'tail' left out 1 time(s) (first at k.json[3])" in caplog.text


def test_flip_index_of_coco_order():
    assert flip_index(list(range(17))) == [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]


# --- canonical dataset -------------------------------------------------------------------------------

def test_points_outside_the_image_become_missing_or_clamped():
    kp = np.zeros((17, 3))
    kp[0] = (10, 49.5, 2)   # 1.5 px below a 48 px high image
    kp[1] = (-0.5, 5, 1)
    kp[2] = (3, 4, 2)
    out = sanitise_keypoints(kp, 64, 48)
    assert out[0].tolist() == [0, 0, 0] and out[1].tolist() == [0, 0, 0] and out[2].tolist() == [3, 4, 2]
    out = sanitise_keypoints(kp, 64, 48, tolerance=2)
    assert out[0].tolist() == [10, 48, 2] and out[1].tolist() == [0, 5, 1]


def test_canonical_dataloop_fixture():
    coco, sources, _ = to_coco(read_export("dataloop", FIXTURES / "dataloop"))
    by_name = {img["file_name"]: img for img in coco["images"]}
    assert set(by_name) == {"frame_001.jpg", "frame_002.jpg", "frame_004.jpg", "outdoor__läufer_003.jpg"}
    assert [s.name for s in sources] == [img["source"].split("/")[-1] for img in coco["images"]]
    assert by_name["outdoor__läufer_003.jpg"]["width"] == 48 and by_name["outdoor__läufer_003.jpg"]["height"] == 64
    frame2 = [a for a in coco["annotations"] if a["image_id"] == by_name["frame_002.jpg"]["id"]]
    assert len(frame2) == 1
    assert frame2[0]["keypoints"][15 * 3:15 * 3 + 3] == [0.0, 0.0, 0]  # left ankle y = 49.5 > 48: dropped
    assert frame2[0]["num_keypoints"] == 16
    for ann in coco["annotations"]:
        kp = np.array(ann["keypoints"], dtype=float).reshape(17, 3)
        assert ann["bbox"] == list(keypoint_bbox(kp)) and ann["area"] == ann["bbox"][2] * ann["bbox"][3]
        assert ann["iscrowd"] == 0 and ann["category_id"] == 1
    assert len(coco["images"]) == 4  # frame_004 (no person) kept as a negative sample
    coco, _, _ = to_coco(read_export("dataloop", FIXTURES / "dataloop"), keep_empty=False)
    assert "frame_004.jpg" not in {img["file_name"] for img in coco["images"]}


def test_roboflow_coco_keeps_export_bbox_and_area():
    coco, _, _ = to_coco(read_export("roboflow_coco", FIXTURES / "roboflow_coco"))
    raw = json.loads((FIXTURES / "roboflow_coco" / "train" / "_annotations.coco.json").read_text())
    assert coco["annotations"][0]["bbox"] == raw["annotations"][0]["bbox"]


def test_split_is_deterministic_and_disjoint():
    coco = {"images": [{"id": i, "file_name": f"{i:03d}.jpg"} for i in range(20)],
            "annotations": [{"id": i, "image_id": i, "keypoints": [0] * 51} for i in range(20)], "categories": []}
    train, val = split_coco(coco, 0.25, seed=0)
    again_train, again_val = split_coco(coco, 0.25, seed=0)
    assert [i["id"] for i in val["images"]] == [i["id"] for i in again_val["images"]]
    assert len(val["images"]) == 5 and len(train["images"]) == 15
    assert not {i["id"] for i in train["images"]} & {i["id"] for i in val["images"]}
    assert {a["image_id"] for a in val["annotations"]} == {i["id"] for i in val["images"]}
    other = {i["id"] for i in split_coco(coco, 0.25, seed=1)[1]["images"]}
    assert other != {i["id"] for i in val["images"]}
    assert len(split_coco(coco, 0.0, 0)[1]["images"]) == 0


def test_summary_counts_fixture():
    coco, _, _ = to_coco(read_export("dataloop", FIXTURES / "dataloop"))
    s = summarise(coco)
    assert (s["images"], s["persons"], s["images_without_persons"]) == (4, 4, 1)
    assert s["visible_per_part"]["left_ear"] == 3 and s["labelled_per_part"]["right_wrist"] == 4
    assert s["keypoints_labelled"] == 17 + 15 + 16 + 17


def test_duplicate_file_names_made_unique(tmp_path, fixture_copy):
    root = fixture_copy("dataloop")
    (root / "items" / "sub").mkdir()
    (root / "json" / "sub").mkdir()
    # a second item whose flattened name collides with outdoor__läufer_003.jpg
    (root / "items" / "outdoor__läufer_003.jpg").write_bytes((root / "items" / "frame_001.jpg").read_bytes())
    item = json.loads((root / "json" / "frame_004.json").read_text())
    item["filename"] = "/outdoor__läufer_003.jpg"
    (root / "json" / "outdoor__läufer_003.json").write_text(json.dumps(item))
    coco, _, _ = to_coco(read_export("dataloop", root))
    names = [img["file_name"] for img in coco["images"]]
    assert len(names) == len(set(names)) == 5


# --- Dataloop variants -----------------------------------------------------------------------------

def test_dataloop_v2_naming_and_no_filename(fixture_copy):
    root = fixture_copy("dataloop")
    item = json.loads((root / "json" / "frame_001.json").read_text())
    del item["filename"]
    (root / "json" / "frame_001.json").unlink()
    (root / "json" / "frame_001.jpg.json").write_text(json.dumps(item))  # ExportVersion.V2
    item2 = json.loads((root / "json" / "frame_002.json").read_text())
    del item2["filename"]  # V1 name, no filename field: matched by stem
    (root / "json" / "frame_002.json").write_text(json.dumps(item2))
    assert_matches_expected(read_export("dataloop", root), expected("dataloop"))


def test_dataloop_nfd_file_name_on_disk(fixture_copy):
    root = fixture_copy("dataloop")
    nfc_path = root / "items" / "outdoor" / "läufer_003.jpg"
    nfc_path.rename(nfc_path.with_name(unicodedata.normalize("NFD", "läufer_003.jpg")))
    export = read_export("dataloop", root)
    assert "items/outdoor/läufer_003.jpg" in {r.rel for r in export.images}


def test_dataloop_data_key_instead_of_coordinates(fixture_copy):
    root = fixture_copy("dataloop")
    path = root / "json" / "frame_001.json"
    item = json.loads(path.read_text())
    for ann in item["annotations"]:
        if ann["type"] == "point":
            ann["data"] = ann.pop("coordinates")
    path.write_text(json.dumps(item))
    assert_matches_expected(read_export("dataloop", root), expected("dataloop"))


def test_dataloop_unknown_label(fixture_copy):
    root = fixture_copy("dataloop")
    path = root / "json" / "frame_001.json"
    item = json.loads(path.read_text())
    i = next(i for i, a in enumerate(item["annotations"]) if a["type"] == "point" and a["label"] == "nose")
    item["annotations"][i]["label"] = "snout"
    path.write_text(json.dumps(item))
    with pytest.raises(AnnotationError,
                       match=rf"frame_001\.json: annotations\[{i}\]\.label: unknown keypoint label 'snout'"):
        read_export("dataloop", root)
    export = read_export("dataloop", root, unknown_labels="ignore")
    frame1 = next(r for r in export.images if r.rel == "items/frame_001.jpg")
    assert frame1.persons[0].keypoints[0].tolist() == [0, 0, 0]


def test_dataloop_malformed_json(fixture_copy):
    root = fixture_copy("dataloop")
    (root / "json" / "frame_004.json").write_text('{"annotations": [', encoding="utf-8")
    with pytest.raises(AnnotationError, match=r"frame_004\.json: malformed JSON at line 1"):
        read_export("dataloop", root)


def test_json_errors_name_the_file_and_keep_the_cause(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"images": [', encoding="utf-8")
    with pytest.raises(AnnotationError, match=r"bad\.json: malformed JSON at line 1") as caught:
        load_json(bad)
    assert isinstance(caught.value.__cause__, json.JSONDecodeError)
    with pytest.raises(AnnotationError, match=r"missing\.json: no such file"):
        load_json(tmp_path / "missing.json")


def test_dataloop_annotations_not_a_list(fixture_copy):
    root = fixture_copy("dataloop")
    (root / "json" / "frame_004.json").write_text('{"filename": "/frame_004.jpg", "annotations": "https://x"}')
    with pytest.raises(AnnotationError, match=r"frame_004\.json: field 'annotations' must be a list"):
        read_export("dataloop", root)


def test_dataloop_bad_coordinates(fixture_copy):
    root = fixture_copy("dataloop")
    path = root / "json" / "frame_001.json"
    item = json.loads(path.read_text())
    i = next(i for i, a in enumerate(item["annotations"]) if a["type"] == "point")
    item["annotations"][i]["coordinates"] = {"x": "left"}
    path.write_text(json.dumps(item))
    with pytest.raises(AnnotationError, match=rf"annotations\[{i}\]\.coordinates"):
        read_export("dataloop", root)


def test_missing_and_unreadable_images_are_skipped(fixture_copy, caplog):
    root = fixture_copy("dataloop")
    (root / "items" / "frame_001.jpg").unlink()
    (root / "items" / "frame_002.jpg").write_bytes(b"not a jpeg")
    export = read_export("dataloop", root)
    assert export.skipped == 2 and len(export.images) == 2
    assert "frame_001.json: no image" in caplog.text and "frame_002.jpg: not an image" in caplog.text


def test_declared_size_that_differs_is_warned_and_the_image_wins(caplog):
    image = FIXTURES / "dataloop" / "items" / "frame_001.jpg"
    size = displayed_size(image)
    assert probe_image(image, size, "a.json") == probe_image(image, (None, 0), "b.json") == size
    assert "says" not in caplog.text
    assert probe_image(image, (size[1], f"{size[0]}"), "c.json: images[4]") == size
    assert f"c.json: images[4]: says {size[1]}x{size[0]} but" in caplog.text and "using the image" in caplog.text


def test_all_images_bad_is_an_error(fixture_copy):
    root = fixture_copy("roboflow_legacy")
    for image in (root / "train" / "images").iterdir():
        image.write_bytes(image.read_bytes()[:200])  # truncated JPEG
    with pytest.raises(AnnotationError, match=r"no usable image .* \(2 skipped\)"):
        read_export("roboflow_legacy", root)


def test_truncated_image_detected(tmp_path):
    src = FIXTURES / "dataloop" / "items" / "frame_001.jpg"
    bad = tmp_path / "t.jpg"
    bad.write_bytes(src.read_bytes()[: len(src.read_bytes()) // 2])
    with pytest.raises(ImageError, match="t.jpg: corrupt or truncated image"):
        displayed_size(bad)


# --- Roboflow / COCO ---------------------------------------------------------------------------------

def test_coco_missing_width_height_read_from_image(fixture_copy):
    root = fixture_copy("roboflow_coco")
    path = root / "train" / "_annotations.coco.json"
    data = json.loads(path.read_text())
    for img in data["images"]:
        del img["width"], img["height"]
    path.write_text(json.dumps(data))
    assert_matches_expected(read_export("roboflow_coco", root), expected("roboflow_coco"))


def test_coco_bad_keypoint_array(fixture_copy):
    root = fixture_copy("roboflow_coco")
    path = root / "train" / "_annotations.coco.json"
    data = json.loads(path.read_text())
    data["annotations"][1]["keypoints"] = data["annotations"][1]["keypoints"][:-3]
    path.write_text(json.dumps(data))
    with pytest.raises(AnnotationError, match=r"_annotations\.coco\.json: annotations\[1\]\.keypoints: expected 51"):
        read_export("roboflow_coco", root)


def test_coco_unknown_keypoint_name(fixture_copy):
    root = fixture_copy("roboflow_coco")
    path = root / "valid" / "_annotations.coco.json"
    data = json.loads(path.read_text())
    data["categories"][1]["keypoints"][4] = "tail"
    path.write_text(json.dumps(data))
    with pytest.raises(AnnotationError, match=r"valid/_annotations\.coco\.json: categories\[1\]\.keypoints\[4\]"):
        read_export("roboflow_coco", root)


def test_coco_crowd_and_empty_persons_left_out(tmp_path):
    image = FIXTURES / "dataloop" / "items" / "frame_001.jpg"
    (tmp_path / "a.jpg").write_bytes(image.read_bytes())
    kp = [10, 10, 2] + [0, 0, 0] * 16
    data = {"images": [{"id": 7, "file_name": "a.jpg", "width": 64, "height": 48}],
            "categories": [{"id": 1, "name": "person", "keypoints": ["nose"] + [f"x{i}" for i in range(16)]}],
            "annotations": [{"id": 1, "image_id": 7, "category_id": 1, "keypoints": kp, "iscrowd": 1},
                            {"id": 2, "image_id": 7, "category_id": 1, "keypoints": [0] * 51, "iscrowd": 0},
                            {"id": 3, "image_id": 7, "category_id": 1, "keypoints": kp, "iscrowd": 0}]}
    (tmp_path / "k.json").write_text(json.dumps(data))
    with pytest.raises(AnnotationError, match=r"categories\[0\]\.keypoints\[1\]: unknown keypoint label 'x0'"):
        read_export("coco", tmp_path / "k.json")
    export = read_export("coco", tmp_path / "k.json", unknown_labels="ignore")
    assert len(export.images[0].persons) == 1


def test_yolo_malformed_yaml(fixture_copy):
    root = fixture_copy("roboflow_yolov8")
    (root / "data.yaml").write_text("train: [../train/images\nnames: {", encoding="utf-8")
    with pytest.raises(AnnotationError, match=r"data\.yaml: malformed YAML at line"):
        read_export("roboflow_yolov8", root)


def test_yolo_class_id_out_of_range(fixture_copy):
    root = fixture_copy("roboflow_legacy")
    label = next((root / "train" / "labels").glob("pose_a*.txt"))
    lines = label.read_text().splitlines()
    lines[2] = "18 " + lines[2].split(" ", 1)[1]
    label.write_text("\n".join(lines) + "\n")
    with pytest.raises(AnnotationError, match=rf"{label.name}:3: class id 18 out of range 0\.\.17"):
        read_export("roboflow_legacy", root)


def test_yolov8_wrong_column_count(fixture_copy):
    root = fixture_copy("roboflow_yolov8")
    label = next((root / "valid" / "labels").glob("*.txt"))
    label.write_text(label.read_text().strip() + " 0.5\n")
    exp = expected("roboflow_yolov8")
    with pytest.raises(AnnotationError, match=rf"{label.name}:1: expected 56 finite numbers, got 57"):
        read_export("roboflow_yolov8", root, keypoint_names=exp["project_keypoint_order"])


def test_yolov8_split_paths_without_dotdot(fixture_copy):
    root = fixture_copy("roboflow_yolov8")
    text = ((root / "data.yaml").read_text().replace("../train/images", "train/images")
            .replace("../valid/images", "valid/images"))
    (root / "data.yaml").write_text(text)
    exp = expected("roboflow_yolov8")
    assert_matches_expected(read_export("roboflow_yolov8", root, keypoint_names=exp["project_keypoint_order"]), exp)


def test_missing_export_path(tmp_path):
    with pytest.raises(AnnotationError, match="export not found"):
        read_export("dataloop", tmp_path / "nope")
    with pytest.raises(AnnotationError, match="no json/ folder"):
        read_export("dataloop", tmp_path)


@pytest.mark.parametrize("section, index, key, value, message", [
    ("images", 0, "id", [1, 2], r"images\[0\]\.id = \[1, 2\] is not an id \(an integer or a string\)"),
    ("images", 1, "id", None, r"images\[1\]\.id = None is not an id"),
    ("images", 1, "id", "same", r"images\[1\]\.id = 'same' is also the id of images\[0\]"),
    ("annotations", 1, "image_id", {"id": 1}, r"annotations\[1\]\.image_id = \{'id': 1\} is not an id"),
    ("annotations", 0, "category_id", 1.0, r"annotations\[0\]\.category_id = 1\.0 is not an id"),
    ("annotations", 0, "iscrowd", [0], r"annotations\[0\]\.iscrowd = \[0\] must be 0 or 1"),
    ("annotations", 1, "bbox", [1, 2, "w", 4], r"annotations\[1\]\.bbox\[2\] = 'w' is not a finite number"),
    ("annotations", 1, "area", "big", r"annotations\[1\]\.area = 'big' is not a finite number"),
    ("annotations", 2, None, "not a record", r"annotations\[2\] is not an object \(got str\)"),
    ("categories", 1, "id", [0], r"categories\[1\]\.id = \[0\] is not an id"),
    ("categories", 1, "keypoints", "nose", r"categories\[1\]\.keypoints must be a list of names"),
])
def test_coco_ids_and_types_of_every_record_are_checked(fixture_copy, section, index, key, value, message):
    root = fixture_copy("roboflow_coco")
    path = root / "train" / "_annotations.coco.json"
    data = json.loads(path.read_text())
    if key is None:
        data[section][index] = value
    else:
        if value == "same":
            data["images"][0]["id"] = value
        data[section][index][key] = value
    path.write_text(json.dumps(data))
    with pytest.raises(AnnotationError, match=rf"^{path}: {message}") as info:
        read_export("roboflow_coco", root)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("value, shown", [(float("nan"), "nan"), (float("inf"), "inf"), ("12", "'12'"), (None, "None")])
def test_coco_keypoint_that_is_not_a_finite_number_is_named(fixture_copy, value, shown):
    root = fixture_copy("roboflow_coco")
    path = root / "train" / "_annotations.coco.json"
    data = json.loads(path.read_text())
    data["annotations"][1]["keypoints"][4] = value
    path.write_text(json.dumps(data))                                   # json writes NaN / Infinity, as exporters do
    with pytest.raises(AnnotationError,
                       match=rf"annotations\[1\]\.keypoints\[4\] = {shown} is not a finite number$"):
        read_export("roboflow_coco", root)


def test_canonical_split_with_a_list_id_is_one_line():
    from posenet.data.canonical import load_split

    split = {"images": [{"id": [3], "file_name": "a.jpg"}], "annotations": []}
    with pytest.raises(AnnotationError, match=r"annotations: images\[0\]\.id = \[3\] is not an integer id"):
        load_split(split)
