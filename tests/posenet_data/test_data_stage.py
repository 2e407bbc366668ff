"""stages/fetch_annotations.py: outputs, --help, exit code 2 without traceback, never a half-written dataset."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from data_helpers import FIXTURES, REPO, params_file

from posenet.data import writer
from posenet.errors import ImageError

sys.path.insert(0, str(REPO / "stages"))
import fetch_annotations  # noqa: E402


def run(tmp_path: Path, *args: str, data: str = ""):
    out = tmp_path / "out"
    return CliRunner().invoke(fetch_annotations.main, [
        "--params", str(params_file(tmp_path, data)), "--annotations-dir", str(out / "annotations"),
        "--images-dir", str(out / "images"), "--summary", str(out / "summary.json"), *args])


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_help():
    result = CliRunner().invoke(fetch_annotations.main, ["--help"])
    assert result.exit_code == 0 and "--source" in result.output and "data/annotations" in result.output


def test_stage_writes_dataset(tmp_path):
    result = run(tmp_path, "--format", "dataloop", "--path", str(FIXTURES / "dataloop"))
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    train = json.loads((out / "annotations" / "train.json").read_text(encoding="utf-8"))
    val = json.loads((out / "annotations" / "val.json").read_text(encoding="utf-8"))
    assert len(train["images"]) + len(val["images"]) == 4 and len(val["images"]) == 1
    names = {img["file_name"] for img in train["images"] + val["images"]}
    assert names == {p.name for p in (out / "images").iterdir()}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["all"]["persons"] == 4 and summary["train"]["persons"] + summary["val"]["persons"] == 4
    assert set(summary["train"]["visible_per_part"]) >= {"nose", "right_ankle"}
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []  # no temp folder left


def test_bad_export_exit_2_and_previous_dataset_intact(tmp_path):
    assert run(tmp_path, "--format", "dataloop", "--path", str(FIXTURES / "dataloop")).exit_code == 0
    before = snapshot(tmp_path / "out")
    bad = tmp_path / "bad"
    shutil.copytree(FIXTURES / "dataloop", bad)
    (bad / "json" / "frame_004.json").write_text("{oops", encoding="utf-8")
    result = run(tmp_path, "--format", "dataloop", "--path", str(bad))
    assert result.exit_code == 2
    assert "frame_004.json: malformed JSON" in result.output and "Traceback" not in result.output
    assert snapshot(tmp_path / "out") == before
    assert [p.name for p in (tmp_path / "out").iterdir() if p.name.startswith(".")] == []


def test_failure_while_copying_leaves_previous_dataset(tmp_path, monkeypatch):
    assert run(tmp_path, "--format", "roboflow_yolov8", "--path", str(FIXTURES / "roboflow_yolov8")).exit_code == 0
    before = snapshot(tmp_path / "out")
    calls, real_copy = [], shutil.copyfile

    def flaky_copy(src, dst, **kwargs):
        calls.append(src)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        return real_copy(src, dst, **kwargs)

    monkeypatch.setattr(writer.shutil, "copyfile", flaky_copy)
    result = run(tmp_path, "--format", "dataloop", "--path", str(FIXTURES / "dataloop"))
    assert result.exit_code == 2 and "cannot copy image (No space left on device)" in result.output
    assert snapshot(tmp_path / "out") == before


def test_unknown_format_is_a_params_error(tmp_path):
    result = run(tmp_path, "--format", "pascal", "--path", str(FIXTURES / "dataloop"))
    assert result.exit_code == 2 and "data.format = 'pascal'" in result.output


def test_missing_credentials_subprocess(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("data:\n  source: dataloop\n  dataloop: {project: p, dataset: d}\n")
    env = {k: v for k, v in os.environ.items() if k != "DATALOOP_API_KEY"}
    proc = subprocess.run([sys.executable, str(REPO / "stages" / "fetch_annotations.py"), "--params", str(params),
                           "--annotations-dir", str(tmp_path / "a"), "--images-dir", str(tmp_path / "i"),
                           "--summary", str(tmp_path / "s.json")],
                          capture_output=True, text=True, env=env, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == ("error: Dataloop needs an API key: "
                                                    "set the environment variable DATALOOP_API_KEY")
    assert "Traceback" not in proc.stderr and not (tmp_path / "a").exists()


def test_writer_error_type(tmp_path):
    with pytest.raises(ImageError, match="missing.jpg: cannot copy image"):
        writer.write_dataset({"train": {}}, {"x.jpg": tmp_path / "missing.jpg"}, tmp_path / "a", tmp_path / "i")
    assert not (tmp_path / "a").exists() and not (tmp_path / "i").exists()


def test_malformed_params_yaml(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("data: [source: local\n", encoding="utf-8")
    result = CliRunner().invoke(fetch_annotations.main, ["--params", str(params)])
    assert result.exit_code == 2 and "params.yaml: not valid YAML" in result.output


def test_dropped_annotations_are_summarised_and_counted(tmp_path, fixture_copy, caplog):
    """An annotation of no category and keypoints beyond data.outside_tolerance: one summary line each, with counts,
    and the counts in the summary JSON (reports/data_summary.json in the pipeline)."""
    root = fixture_copy("roboflow_coco")
    path = root / "train" / "_annotations.coco.json"
    data = json.loads(path.read_text())
    data["annotations"][0]["category_id"] = 7                           # no category has id 7
    width = next(img["width"] for img in data["images"] if img["id"] == data["annotations"][1]["image_id"])
    keypoints = data["annotations"][1]["keypoints"]
    labelled = [k for k in range(17) if keypoints[3 * k + 2] > 0]
    for k in labelled[:2]:
        keypoints[3 * k] = width + 50.0                                 # 50 px right of the image
    path.write_text(json.dumps(data))
    # the fixture's valid/ holds a null image only, which cannot measure val AP: split the images at random
    result = run(tmp_path, "--format", "roboflow_coco", "--path", str(root), data="  split: random\n  seed: 1\n")
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["dropped"] == {"annotations_of_unknown_category": 1, "keypoints_outside_image": 2,
                                  "persons_outside_image": 0}
    lines = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("left out 1 annotation(s) whose category_id is the id of no category (first: annotations[0]"
               ".category_id = 7)" in line for line in lines)
    assert any("dropped 2 labelled keypoint(s) of 1 person(s) lying more than data.outside_tolerance = 0 px outside"
               in line for line in lines)


def test_every_format_counts_keypoints_outside_the_image(tmp_path):
    """The Dataloop fixture's left ankle lies 1.5 px below its image (fixture README): counted, not silent."""
    assert run(tmp_path, "--format", "dataloop", "--path", str(FIXTURES / "dataloop")).exit_code == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["dropped"] == {"annotations_of_unknown_category": 0, "keypoints_outside_image": 1,
                                  "persons_outside_image": 0}
