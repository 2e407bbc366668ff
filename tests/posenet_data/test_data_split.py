"""data.split (issue 24): the export's own split per format, group split by data.group_pattern, random, the test
split kept out of training, data_summary.json, and the one-line refusals. Fixtures: tests/data/fixtures and
tests/data/exports (READMEs there), and exports assembled here from their images."""

from __future__ import annotations

import json
import logging
import shutil
import sys
import zlib
from pathlib import Path

import pytest
from click.testing import CliRunner
from data_helpers import FIXTURES, REPO, SAMPLE, params_file

from posenet.data.readers import read_export
from posenet.data.split import group_key, grouped_path, split_dataset, split_groups, split_of_folder
from posenet.errors import ParamsError
from posenet.params import DataParams

sys.path.insert(0, str(REPO / "stages"))
import fetch_annotations  # noqa: E402

EXPORTS = REPO / "tests" / "data" / "exports"
BADMINTON = REPO.parent / "shared" / "eval" / "badminton_clip1"
YOLO_IMAGE = FIXTURES / "roboflow_yolov8" / "train" / "images" / "frame_001_jpg.rf.34a5428ca76d04e910ef6dc2e4bf45e2.jpg"
YOLO_LABEL = FIXTURES / "roboflow_yolov8" / "train" / "labels" / "frame_001_jpg.rf.34a5428ca76d04e910ef6dc2e4bf45e2.txt"


def stage(tmp_path: Path, data: str, *args: str):
    """Run the fetch_annotations stage with params ``data:`` lines ``data``; (result, output folder)."""
    out = tmp_path / "out"
    result = CliRunner().invoke(fetch_annotations.main, [
        "--params", str(params_file(tmp_path, data)), "--annotations-dir", str(out / "annotations"),
        "--images-dir", str(out / "images"), "--summary", str(out / "summary.json"), *args])
    return result, out


def written(out: Path) -> dict[str, list[str]]:
    """{split: the ``source`` paths (inside the export) of its images} of a written dataset."""
    return {p.stem: sorted(img["source"] for img in json.loads(p.read_text(encoding="utf-8"))["images"])
            for p in sorted((out / "annotations").glob("*.json"))}


def splits_of(export) -> dict[str, list[str]]:
    """{export split: sorted image paths} as a reader returns them."""
    found: dict[str, list[str]] = {}
    for record in export.images:
        found.setdefault(record.split, []).append(record.rel)
    return {k: sorted(v) for k, v in found.items()}


def assert_one_line_error(result, out: Path, message: str) -> None:
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and message in errors[0], result.output
    assert "Traceback" not in result.output and not (out / "annotations").exists()


def video_export(root: Path, videos: dict[str, int], split: str = "train") -> Path:
    """A Roboflow YOLOv8 export of video frames (``<video>_mp4-<n>_jpg.rf.<hash>.jpg``), all in folder ``split``;
    each frame the fixture image with its two labelled persons."""
    (root / split / "images").mkdir(parents=True)
    (root / split / "labels").mkdir(parents=True)
    for video, frames in videos.items():
        for n in range(frames):
            stem = f"{video}_mp4-{n:04d}_jpg.rf.{zlib.crc32(f'{video}{n}'.encode()):08x}"
            shutil.copyfile(YOLO_IMAGE, root / split / "images" / f"{stem}.jpg")
            shutil.copyfile(YOLO_LABEL, root / split / "labels" / f"{stem}.txt")
    (root / "data.yaml").write_text(f"{split}: {split}/images\nkpt_shape: [17, 3]\nnames: [person]\n")
    return root


# --- the export's own split, per format ----------------------------------------------------------------------

@pytest.mark.parametrize("fmt, path, want", [
    ("roboflow_yolov8", FIXTURES / "roboflow_yolov8", {"train": 3, "val": 1}),
    ("roboflow_coco", FIXTURES / "roboflow_coco", {"train": 2, "val": 1}),
    ("roboflow_legacy", FIXTURES / "roboflow_legacy", {"train": 2}),
    ("roboflow_yolov8", EXPORTS / "roboflow_yolov8_identity", {"train": 1, "val": 1}),
    ("roboflow_yolov8", EXPORTS / "ultralytics_pose" / "data.yaml", {"train": 2, "val": 1}),
    ("roboflow_yolov8", EXPORTS / "ultralytics_pose" / "lists.yaml", {"train": 2, "val": 1}),
    ("roboflow_yolov8", EXPORTS / "ultralytics_pose" / "txt.yaml", {"train": 2, "val": 1}),
    ("roboflow_yolov8", EXPORTS / "ultralytics_pose" / "other-machine.yaml", {"train": 2, "val": 1}),
    ("roboflow_yolov8", EXPORTS / "ultralytics_xy", {"train": 1}),
    ("dataloop", FIXTURES / "dataloop", {"": 4}),
])
def test_readers_carry_the_export_split(fmt, path, want):
    export = read_export(fmt, path, unknown_labels="error")
    assert {k: len(v) for k, v in splits_of(export).items()} == want


def test_ultralytics_split_follows_the_yaml_keys_not_folder_names():
    export = read_export("roboflow_yolov8", EXPORTS / "ultralytics_pose" / "txt.yaml")
    assert splits_of(export) == {"train": ["images/train/stand.jpg", "images/train/walk.jpg"],
                                 "val": ["images/val/run.jpg"]}


def test_dataloop_split_folders(tmp_path):
    root = tmp_path / "dl"
    shutil.copytree(FIXTURES / "dataloop", root)
    for name, split in (("frame_001", "train"), ("frame_002", "valid"), ("frame_004", "test")):
        for sub, ext in (("items", ".jpg"), ("json", ".json")):
            (root / sub / split).mkdir(exist_ok=True)
            (root / sub / f"{name}{ext}").rename(root / sub / split / f"{name}{ext}")
    export = read_export("dataloop", root)
    assert splits_of(export) == {"train": ["items/train/frame_001.jpg"], "val": ["items/valid/frame_002.jpg"],
                                 "test": ["items/test/frame_004.jpg"], "": ["items/outdoor/läufer_003.jpg"]}


def coco_per_split(root: Path, layout: str) -> Path:
    """The sample's COCO JSON cut into train (first 14 images) / val (next 5) / test (last 3) files, in the COCO
    download layout (``annotations/person_keypoints_<split>2017.json`` + ``<split>2017/``) or one folder per split
    (``<split>/annotations.json`` + ``<split>/images/``)."""
    coco = json.loads((SAMPLE / "coco" / "person_keypoints.json").read_text(encoding="utf-8"))
    images = sorted(coco["images"], key=lambda img: img["file_name"])
    for split, chunk in (("train", images[:14]), ("val", images[14:19]), ("test", images[19:])):
        ids = {img["id"] for img in chunk}
        part = coco | {"images": chunk, "annotations": [a for a in coco["annotations"] if a["image_id"] in ids]}
        if layout == "coco":
            json_path, folder = root / "annotations" / f"person_keypoints_{split}2017.json", root / f"{split}2017"
        else:
            json_path, folder = root / split / "annotations.json", root / split / "images"
        json_path.parent.mkdir(parents=True, exist_ok=True)
        folder.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(part), encoding="utf-8")
        for img in chunk:
            shutil.copyfile(SAMPLE / "dataloop" / "items" / img["file_name"], folder / img["file_name"])
    if layout == "coco":  # the other files of COCO's annotation folder are not keypoint files
        (root / "annotations" / "instances_val2017.json").write_text("{}", encoding="utf-8")
    return root


@pytest.mark.parametrize("layout", ["coco", "folders"])
def test_coco_as_one_file_per_split(tmp_path, layout):
    root = coco_per_split(tmp_path / "coco", layout)
    export = read_export("coco", root)
    assert {k: len(v) for k, v in splits_of(export).items()} == {"train": 14, "val": 5, "test": 3}
    result, out = stage(tmp_path, "  format: coco\n", "--path", str(root))
    assert result.exit_code == 0, result.output
    assert {k: len(v) for k, v in written(out).items()} == {"train": 14, "val": 5, "test": 3}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["split"]["rule"] == "export" and summary["test"]["images"] == 3


def test_coco_folder_without_split_names_is_refused(tmp_path):
    (tmp_path / "ann").mkdir()
    (tmp_path / "ann" / "people.json").write_text("{}", encoding="utf-8")
    result, out = stage(tmp_path, "  format: coco\n", "--path", str(tmp_path / "ann"))
    assert_one_line_error(result, out, "no JSON file named by split")


# --- the stage: rules, test split, summary -------------------------------------------------------------------

def test_auto_keeps_the_export_split_and_the_test_split_out_of_training(tmp_path):
    root = tmp_path / "rf"
    shutil.copytree(FIXTURES / "roboflow_yolov8", root)
    shutil.copytree(root / "valid", root / "test")
    for sub in ("images", "labels"):  # a test frame of its own name
        for path in (root / "test" / sub).iterdir():
            path.rename(path.with_name(path.name.replace("frame_006", "frame_009")))
    result, out = stage(tmp_path, "", "--format", "roboflow_yolov8", "--path", str(root))
    assert result.exit_code == 0, result.output
    splits = written(out)
    assert {k: len(v) for k, v in splits.items()} == {"train": 3, "val": 1, "test": 1}
    assert all(p.startswith("train/") for p in splits["train"]) and splits["val"][0].startswith("valid/")
    assert splits["test"][0].startswith("test/") and not set(splits["test"]) & set(splits["train"] + splits["val"])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["split"] | {"group_pattern": None} == {
        "rule": "export", "requested": "auto", "val_fraction": 0.25, "seed": 0, "group_pattern": None,
        "groups": {"train": 1, "val": 1, "test": 1}, "straddling_groups": 1}
    assert [(summary[s]["images"], summary[s]["persons"]) for s in ("train", "val", "test")] == [(3, 3), (1, 1), (1, 1)]
    assert summary["all"]["images"] == 5
    assert "roboflow_yolov8, export split: train 3 images / 3 persons, val 1 images / 1 persons, test 1" \
        in result.output


def test_random_and_group_keep_the_export_test_split_out(tmp_path):
    root = video_export(tmp_path / "v", {"rally1": 6, "rally2": 6})
    shutil.copytree(video_export(tmp_path / "t", {"final": 2}, split="test") / "test", root / "test")
    (root / "data.yaml").write_text("train: train/images\ntest: test/images\nkpt_shape: [17, 3]\nnames: [person]\n")
    for rule in ("random", "group"):
        result, out = stage(tmp_path, f"  split: {rule}\n  val_fraction: 0.5\n", "--format", "roboflow_yolov8",
                            "--path", str(root))
        assert result.exit_code == 0, result.output
        splits = written(out)
        assert [len(splits[s]) for s in ("train", "val", "test")] == [6, 6, 2], rule
        assert all("final_mp4" in p for p in splits["test"])


def test_group_split_never_straddles_and_follows_the_fraction(tmp_path):
    root = video_export(tmp_path / "v", {"rally1": 9, "rally2": 4, "rally3": 5, "serve": 3, "smash": 3})
    for seed in range(4):
        result, out = stage(tmp_path, f"  seed: {seed}\n", "--format", "roboflow_yolov8", "--path", str(root))
        assert result.exit_code == 0, result.output
        splits = written(out)
        videos = {s: {p.split("/")[-1].split("_mp4-")[0] for p in paths} for s, paths in splits.items()}
        assert not videos["train"] & videos["val"], seed
        assert sum(map(len, splits.values())) == 24 and 3 <= len(splits["val"]) <= 9, (seed, splits)
        summary = json.loads((out / "summary.json").read_text())
        assert summary["split"]["rule"] == "group" and summary["split"]["requested"] == "auto"
        assert summary["split"]["groups"]["train"] + summary["split"]["groups"]["val"] == 5
        assert summary["split"]["straddling_groups"] == 0 and "test" not in summary


def test_random_split_is_by_image(tmp_path):
    root = video_export(tmp_path / "v", {"rally1": 10, "rally2": 10})
    result, out = stage(tmp_path, "  split: random\n", "--format", "roboflow_yolov8", "--path", str(root))
    assert result.exit_code == 0, result.output
    assert [len(v) for v in written(out).values()] == [15, 5]
    assert json.loads((out / "summary.json").read_text())["split"]["straddling_groups"] >= 1


def test_export_split_that_straddles_clips_warns(tmp_path, caplog):
    root = video_export(tmp_path / "v", {"rally": 6})
    shutil.copytree(video_export(tmp_path / "w", {"rally": 2}, split="valid") / "valid", root / "valid")
    (root / "data.yaml").write_text("train: train/images\nval: valid/images\nkpt_shape: [17, 3]\nnames: [person]\n")
    with caplog.at_level(logging.WARNING):
        result, out = stage(tmp_path, "", "--format", "roboflow_yolov8", "--path", str(root))
    assert result.exit_code == 0, result.output
    assert "1 group(s) of frames have images in both train and val (e.g. 'rally')" in caplog.text


# --- refusals: one line, exit 2, nothing written --------------------------------------------------------------

def test_export_rule_without_val_split(tmp_path):
    result, out = stage(tmp_path, "  split: export\n", "--format", "roboflow_legacy",
                        "--path", str(FIXTURES / "roboflow_legacy"))
    assert_one_line_error(result, out, "data.split = export: the export has no val split (splits found: train)")


def test_group_rule_with_one_group(tmp_path):
    root = video_export(tmp_path / "v", {"rally": 8})
    result, out = stage(tmp_path, "", "--format", "roboflow_yolov8", "--path", str(root))
    assert_one_line_error(result, out, "data.split = auto (group) leaves val without a labelled person "
                                       "(train 8 images / 16 persons, val 0 images / 0 persons")
    assert "all 1 group(s) by data.group_pattern" in result.output


def test_export_val_without_persons(tmp_path):
    result, out = stage(tmp_path, "", "--format", "roboflow_coco", "--path", str(FIXTURES / "roboflow_coco"))
    assert_one_line_error(result, out, "data.split = auto (export) leaves val without a labelled person")


@pytest.mark.parametrize("data, message", [
    ("  split: video\n", "data.split = 'video' is not one of auto, export, random, group"),
    ("  group_pattern: '(unclosed'\n", "data.group_pattern = '(unclosed' is not a regular expression"),
])
def test_bad_split_params_fail_before_reading(tmp_path, data, message):
    result, out = stage(tmp_path, data, "--path", str(tmp_path / "does-not-exist"))
    assert_one_line_error(result, out, message)


# --- group keys and the group draw ----------------------------------------------------------------------------

@pytest.mark.parametrize("rel, key", [
    ("train/images/1_13_14_mp4-0000_jpg.rf.05d43652d331254002775baa246f8134.jpg", "1_13_14"),
    ("valid/images/match_2_MOV-17_jpg.rf.0c590bdc.jpg", "match_2"),
    ("frame_001_jpg.rf.34a5428ca76d04e910ef6dc2e4bf45e2.jpg", "frame"),
    ("train/images/000000000785_jpg.rf.499f3a154b1c7d7019e15db5373c7a48.jpg", "000000000785"),
    ("items/outdoor/läufer_003.jpg", "outdoor/läufer"),
    ("images/train/clip01/000123.jpg", "clip01"),
    ("cam2-0042.png", "cam2"),
    ("items/000000000785.jpg", "000000000785.jpg"),  # no clip: its own group
    ("IMG_1234.jpg", "IMG_1234.jpg"),  # camera numbering is no clip
    ("DSC_0001.JPG", "DSC_0001.JPG"),
])
def test_default_group_pattern(rel, key):
    assert group_key(rel, DataParams().group_regex()) == key


def test_custom_group_pattern_takes_the_first_group():
    pattern = DataParams(group_pattern=r"^(cam\d)_|^(\w+)-").group_regex()
    assert group_key("train/cam1_0001.jpg", pattern) == "cam1"
    assert group_key("day3-0001.jpg", pattern) == "day3"
    assert group_key("other.jpg", pattern) == "other.jpg"
    assert group_key("x/cam2_1.jpg", DataParams(group_pattern=r"cam\d").group_regex()) == "cam2"  # no group


def test_grouped_path_and_split_words():
    assert grouped_path("train/images/a/b.jpg") == "a/b.jpg" and grouped_path("b.jpg") == "b.jpg"
    assert [split_of_folder(w) for w in ("Valid", "validation", "TEST", "training", "images")] == \
        ["val", "val", "test", "train", ""]


def test_split_groups_is_seeded_and_leaves_train_a_group():
    sizes = {"a": 80, "b": 49}
    assert split_groups(sizes, 0.25, 0) == {"b"}  # 49 is nearer 32 than 0 or 80
    assert split_groups({"a": 5, "b": 5}, 0.9, 0) in ({"a"}, {"b"})  # never every group
    assert split_groups({"a": 100, "b": 90}, 0.1, 3) == {"b"}  # no group brings val nearer: the smallest
    many = {f"g{i}": 1 + i % 4 for i in range(40)}
    assert split_groups(many, 0.25, 1) == split_groups(many, 0.25, 1) != split_groups(many, 0.25, 2)
    assert abs(sum(many[g] for g in split_groups(many, 0.25, 1)) - 25) <= 2
    assert split_groups({"only": 10}, 0.25, 0) == set()


def test_split_dataset_unknown_rule():
    coco = {"images": [{"id": 1, "file_name": "a.jpg", "source": "a.jpg"}], "annotations": []}
    with pytest.raises(ParamsError, match="data.split = 'nope'"):
        split_dataset(coco, {}, DataParams(split="nope"))


# --- a real export -------------------------------------------------------------------------------------------

@pytest.mark.skipif(not BADMINTON.is_dir(), reason="shared eval data not present")
def test_real_roboflow_export_val_is_exactly_its_val_folder(tmp_path):
    result, out = stage(tmp_path, "", "--format", "roboflow_yolov8", "--path", str(BADMINTON))
    assert result.exit_code == 0, result.output
    splits = written(out)
    for split, folder in (("train", "train"), ("val", "valid")):
        files = sorted(p.name for p in (BADMINTON / folder / "images").iterdir())
        assert [p.split("/")[-1] for p in splits[split]] == files
    summary = json.loads((out / "summary.json").read_text())
    assert summary["split"]["rule"] == "export" and summary["split"]["groups"] == {"train": 1, "val": 1}
    assert summary["split"]["straddling_groups"] == 1  # one video: its two blocks share the key
