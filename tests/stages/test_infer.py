"""stages/infer.py: images, folders, globs, videos; COCO output; bad inputs named, exit 2, outputs intact."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from posenet.constants import NUM_KEYPOINTS, PART_NAMES
from posenet.inference.predictor import Predictor
from posenet.io.media import read_image

REPO = Path(__file__).resolve().parents[2]
PHOTOS = REPO / "tests" / "data" / "images"
PRETRAINED = REPO / "models" / "pretrained" / "mobilenet_v1_075.pt"
SIZE = "129"                      # 8 * 16 + 1: small and fast, still finds the people in these photos


@pytest.fixture(scope="module")
def weights(pretrained_model, tmp_path_factory) -> str:
    """A checkpoint file of the pretrained model (the stage loads weights from a file)."""
    from posenet.models.checkpoint import save_checkpoint

    if PRETRAINED.is_file():
        return str(PRETRAINED)
    path = tmp_path_factory.mktemp("weights") / "mobilenet_v1_075.pt"
    save_checkpoint(path, pretrained_model, {"variant": "mobilenet_v1_075", "source": "test fixture"})
    return str(path)


@pytest.fixture(scope="module")
def default_params(tmp_path_factory) -> str:
    """A params file of the defaults (= the shipped params.yaml, tests/test_params.py): the tests never read the
    workspace's params.yaml, which `dvc exp run -S ...` rewrites."""
    path = tmp_path_factory.mktemp("params") / "params.yaml"
    path.write_text("{}\n")
    return str(path)


@pytest.fixture
def infer(load_stage, weights, default_params):
    stage = load_stage("infer")

    def run(*args: str):
        argv = ["--weights", weights, "--params", default_params, "--input-size", SIZE, *args]
        return CliRunner().invoke(stage.main, argv, catch_exceptions=False)

    return run


def _bad_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error: ")]


def _assert_no_temp_files(folder: Path) -> None:
    assert not [p.name for p in folder.iterdir() if p.name.startswith(".")]


def test_help(load_stage):
    result = CliRunner().invoke(load_stage("infer").main, ["--help"])
    assert result.exit_code == 0
    for option in ("--webcam", "--format", "--coco-annotations", "--heatmap", "--single-pose", "--stride",
                   "--input-size", "--score-threshold", "--nms-radius", "--max-poses", "--device", "--weights"):
        assert option in result.output


def test_images_give_poses_json_and_overlays(infer, tmp_path):
    out = tmp_path / "out"
    result = infer(str(PHOTOS / "pose.jpg"), str(PHOTOS / "back*.jpg"), "--out", str(out), "--heatmap", "nose",
                   "--input-size", "257")
    assert result.exit_code == 0, result.output
    poses = json.loads((out / "poses.json").read_text())
    assert sorted(Path(k).name for k in poses) == ["backpackman.jpg", "pose.jpg"]
    best = max(poses[str(PHOTOS / "pose.jpg")], key=lambda p: p["score"])
    assert best["score"] > 0.3 and [k["part"] for k in best["keypoints"]] == list(PART_NAMES)
    nose = best["keypoints"][0]
    assert 300 < nose["x"] < 700 and 50 < nose["y"] < 350              # the yoga pose's head, upper middle
    for name in ("pose.jpg", "backpackman.jpg"):
        overlay, photo = read_image(out / name), read_image(PHOTOS / name)
        assert overlay.shape == photo.shape and np.abs(overlay.astype(int) - photo).mean() > 1
    assert "2 images in" in result.stdout and "fps" in result.stdout
    _assert_no_temp_files(out)


@pytest.mark.parametrize("options, served", [(("--batch", "2", "--backend", "fused"), "backend fused, 1 stream)"),
                                             (("--batch", "3", "--streams", "2"), "backend eager, 2 streams)")])
def test_batches_streams_and_fused_backend_give_the_same_poses(infer, tmp_path, caplog, options, served):
    """--batch 2 (one forward pass for both photos) with --backend fused, and --batch 3 over two streams: the
    poses of a plain run."""
    args = (str(PHOTOS / "pose.jpg"), str(PHOTOS / "back*.jpg"), "--input-size", "257", "--no-render")
    assert infer(*args, "--out", str(tmp_path / "a")).exit_code == 0
    with caplog.at_level("INFO"):
        result = infer(*args, "--out", str(tmp_path / "b"), *options)
    assert served in caplog.text
    assert result.exit_code == 0, result.output
    plain, batched = (json.loads((tmp_path / d / "poses.json").read_text()) for d in ("a", "b"))
    assert plain.keys() == batched.keys()
    for key in plain:
        for p, q in zip(plain[key], batched[key], strict=True):
            assert abs(p["score"] - q["score"]) < 1e-4
            assert all(abs(a["x"] - b["x"]) < 1e-2 and abs(a["y"] - b["y"]) < 1e-2
                       for a, b in zip(p["keypoints"], q["keypoints"]))


def test_single_pose_gives_one_pose_per_image(infer, tmp_path):
    result = infer(str(PHOTOS / "multi_skiing.jpg"), "--out", str(tmp_path), "--single-pose", "--no-render")
    assert result.exit_code == 0, result.output
    poses = json.loads((tmp_path / "poses.json").read_text())
    assert [len(v) for v in poses.values()] == [1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["poses.json"]


def test_preset_runs_its_settings_and_given_options_win(infer, tmp_path, pretrained_model, caplog):
    photo = PHOTOS / "multi_skiing.jpg"
    with caplog.at_level("INFO"):
        result = infer(str(photo), "--out", str(tmp_path), "--preset", "accurate", "--max-poses", "3", "--no-render",
                       "--min-pose-score", "0", "--backend", "eager")
    assert result.exit_code == 0, result.output
    assert "input 193+257 px, each cut to the image's aspect ratio, and mirrored (cpu, backend eager" in caplog.text
    (poses,) = json.loads((tmp_path / "poses.json").read_text()).values()
    expected = Predictor(pretrained_model, input_size=int(SIZE), max_poses=3, score_threshold=0.2, scales=(1.5, 2.0),
                         flip=True, fit_aspect=True)(read_image(photo))
    assert len(poses) == len(expected) == 3
    np.testing.assert_allclose([[(k["x"], k["y"]) for k in p["keypoints"]] for p in poses],
                               [p.keypoints for p in expected], atol=1e-3)


def test_video_comes_back_annotated_with_every_frame(infer, tmp_path):
    frames = [cv2.resize(cv2.imread(str(PHOTOS / name)), (320, 240))
              for name in ("backpackman.jpg", "multi_skiing.jpg", "pose.jpg", "backpackman.jpg")]
    clip = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"mp4v"), 4.0, (320, 240))
    for frame in frames:
        writer.write(frame)
    writer.release()
    out = tmp_path / "out"
    result = infer(str(clip), "--out", str(out))
    assert result.exit_code == 0, result.output
    import av

    with av.open(str(out / "clip_pose.mp4")) as container:                # H.264: browsers play it
        assert container.streams.video[0].codec_context.name == "h264"
    cap = cv2.VideoCapture(str(out / "clip_pose.mp4"))
    got = []
    while (frame := cap.read()[1]) is not None:
        got.append(frame)
    fps = cap.get(cv2.CAP_PROP_FPS)
    cap.release()
    assert len(got) == len(frames) and got[0].shape == frames[0].shape and fps == pytest.approx(4.0)
    assert np.abs(got[0].astype(int) - frames[0]).mean() > 1           # skeletons drawn
    per_frame = json.loads((out / "clip_poses.json").read_text())
    assert per_frame["fps"] == pytest.approx(4.0) and len(per_frame["frames"]) == len(frames)
    assert all(len(p["keypoints"]) == NUM_KEYPOINTS for f in per_frame["frames"] for p in f)
    assert "4 video frames" in result.stdout
    result = infer(str(clip), "--out", str(tmp_path / "two"), "--max-frames", "2")  # videos stop there too
    assert result.exit_code == 0, result.output
    assert len(json.loads((tmp_path / "two" / "clip_poses.json").read_text())["frames"]) == 2


def test_track_gives_every_person_one_id_in_the_json(infer, tmp_path):
    """A real photo panned across 12 frames: with --track the person keeps one track_id in <stem>_poses.json;
    --smooth keeps the ids and moves the keypoints; without tracking there is no track_id."""
    photo = cv2.resize(cv2.imread(str(PHOTOS / "pose.jpg")), (480, 320))
    clip = tmp_path / "walk.mp4"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (320, 320))
    for i in range(12):
        writer.write(np.ascontiguousarray(photo[:, 10 * i:10 * i + 320]))
    writer.release()
    records = {}
    for name, options in (("plain", ()), ("track", ("--track",)), ("smooth", ("--smooth",))):
        result = infer(str(clip), "--out", str(tmp_path / name), *options)
        assert result.exit_code == 0, result.output
        records[name] = json.loads((tmp_path / name / "walk_poses.json").read_text())["frames"]
    assert not any("track_id" in pose for frame in records["plain"] for pose in frame)
    for name in ("track", "smooth"):
        frames = records[name]
        assert len(frames) == 12 and all(frame for frame in frames)
        for frame in frames:            # schema: an int id on every pose (a duplicate of a person shares its id)
            ids = [pose.get("track_id") for pose in frame]
            assert all(isinstance(i, int) and not isinstance(i, bool) for i in ids)
        assert {max(frame, key=lambda p: p["score"])["track_id"] for frame in frames} == {1}   # the person: one id
    ids = [[p.get("track_id") for p in frame] for frame in records["track"]]
    assert ids == [[p.get("track_id") for p in frame] for frame in records["smooth"]]
    xy = {name: np.array([[k["x"] for k in max(f, key=lambda p: p["score"])["keypoints"]] for f in records[name]])
          for name in ("plain", "track", "smooth")}
    np.testing.assert_array_equal(xy["plain"], xy["track"])       # tracking alone moves nothing
    assert np.abs(xy["smooth"] - xy["track"])[1:].max() > 0.1                     # later frames smoothed,
    np.testing.assert_allclose(xy["smooth"][0], xy["track"][0], rtol=1e-12)     # the first one as found


def _limit_file_size(limit: int) -> None:
    """In the child: writes past ``limit`` bytes fail with EFBIG, as on a full disk (SIGXFSZ ignored)."""
    import resource
    import signal

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))


@pytest.mark.slow
def test_a_full_disk_leaves_no_broken_video(weights, tmp_path):
    """Issue 20: `posenet infer clip.mp4` onto a disk that fills up: exit 2, one line naming the video, and no
    clip_pose.mp4 (nor temp file) left behind."""
    import subprocess
    import sys

    clip = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (320, 240))
    rng = np.random.default_rng(0)
    for _ in range(30):                                                    # noise: incompressible, ~1 MB of video
        writer.write(rng.integers(0, 256, (240, 320, 3), dtype=np.uint8))
    writer.release()
    out = tmp_path / "out"
    out.mkdir()
    done = subprocess.run(
        [sys.executable, str(REPO / "stages" / "infer.py"), str(clip), "--out", str(out), "--weights", weights,
         "--params", str(REPO / "params.yaml"), "--input-size", SIZE], capture_output=True, text=True, timeout=300,
        preexec_fn=lambda: _limit_file_size(2 * clip.stat().st_size // 3))
    assert done.returncode == 2, done.stdout + done.stderr
    bad = _bad_lines(done.stderr)
    assert len(bad) == 1 and "clip_pose.mp4" in bad[0] and "Traceback" not in done.stderr, done.stderr
    assert list(out.iterdir()) == []


def test_folder_mixing_good_and_bad_inputs(infer, tmp_path):
    folder = tmp_path / "mix"
    folder.mkdir()
    shutil.copy(PHOTOS / "pose.jpg", folder / "a_good.jpg")
    shutil.copy(PHOTOS / "backpackman.jpg", folder / "z_good.jpg")
    (folder / "b_empty.jpg").write_bytes(b"")
    (folder / "c_text.jpg").write_text("I am not a picture\n")
    (folder / "d_truncated.jpg").write_bytes((PHOTOS / "pose.jpg").read_bytes()[:15000])
    (folder / "e_broken.mp4").write_bytes(b"\x00not a video" * 300)
    out = tmp_path / "out"
    result = infer(str(folder), str(tmp_path / "missing.jpg"), "--out", str(out))
    assert result.exit_code == 2
    assert "Traceback" not in result.stderr
    bad = _bad_lines(result.stderr)
    expected = {"b_empty.jpg": "empty", "c_text.jpg": "not an image", "d_truncated.jpg": "truncated",
                "missing.jpg": "no such file", "e_broken.mp4": "e_broken.mp4"}
    assert len(bad) == len(expected)
    for name, why in expected.items():
        assert sum(name in line and why in line for line in bad) == 1, (name, bad)
    poses = json.loads((out / "poses.json").read_text())
    assert sorted(Path(k).name for k in poses) == ["a_good.jpg", "z_good.jpg"]
    assert sorted(p.name for p in out.iterdir()) == ["a_good.jpg", "poses.json", "z_good.jpg"]
    assert "5 input(s) failed" in result.stdout


def test_failed_run_leaves_earlier_outputs_intact(infer, tmp_path):
    out = tmp_path / "out"
    assert infer(str(PHOTOS / "backpackman.jpg"), "--out", str(out)).exit_code == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    (tmp_path / "bad.jpg").write_text("nope")
    result = infer(str(tmp_path / "bad.jpg"), "--out", str(out))
    assert result.exit_code == 2 and "bad.jpg: not an image" in result.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_min_pose_score_drops_weak_poses_except_from_coco_results(infer, tmp_path, pretrained_model):
    """Default predict.min_pose_score (0.15): poses.json holds only the poses scoring that much; 0 with the tfjs
    preset is every pose TF.js PoseNet returns; --format coco keeps every pose (COCO AP rewards them)."""
    photo = PHOTOS / "multi_skiing.jpg"                          # three skiers, and weak poses around them
    everything = Predictor(pretrained_model, input_size=257)(read_image(photo))
    scores = sorted((p.score for p in everything), reverse=True)
    assert scores[0] > 0.5 and scores[-1] < 0.15                 # the case the threshold is for
    runs = {}
    for name, args in {"default": (), "zero": ("--min-pose-score", "0", "--preset", "tfjs")}.items():
        assert infer(str(photo), "--out", str(tmp_path / name), "--no-render", "--input-size", "257",
                     *args).exit_code == 0
        (runs[name],) = json.loads((tmp_path / name / "poses.json").read_text()).values()
    np.testing.assert_allclose([p["score"] for p in runs["zero"]], [p.score for p in everything], atol=1e-6)
    assert [p["score"] for p in runs["default"]] == [p["score"] for p in runs["zero"] if p["score"] >= 0.15]
    ann = tmp_path / "ann.json"
    ann.write_text(json.dumps({"images": [{"id": 1, "file_name": "multi_skiing.jpg"}], "annotations": [],
                               "categories": [{"id": 1, "name": "person"}]}))
    assert infer(str(photo), "--out", str(tmp_path / "coco"), "--format", "coco", "--coco-annotations", str(ann),
                 "--no-render", "--input-size", "257").exit_code == 0
    assert len(json.loads((tmp_path / "coco" / "coco_results.json").read_text())) == len(everything)


def test_coco_format_uses_annotation_ids(infer, tmp_path):
    ann = tmp_path / "ann.json"
    ann.write_text(json.dumps({"images": [{"id": 42, "file_name": "pose.jpg", "width": 1000, "height": 667},
                                          {"id": 7, "file_name": "sub/backpackman.jpg"}],
                               "annotations": [], "categories": [{"id": 1, "name": "person"}]}))
    out = tmp_path / "out"
    result = infer(str(PHOTOS / "pose.jpg"), str(PHOTOS / "backpackman.jpg"), str(PHOTOS / "multi_skiing.jpg"),
                   "--out", str(out), "--format", "coco", "--coco-annotations", str(ann), "--no-render",
                   "--input-size", "257")
    assert result.exit_code == 2                                          # multi_skiing.jpg has no id
    assert [line for line in _bad_lines(result.stderr) if "multi_skiing.jpg" in line and "no image id" in line]
    results = json.loads((out / "coco_results.json").read_text())
    assert {r["image_id"] for r in results} == {42, 7}
    assert all(len(r["keypoints"]) == 3 * NUM_KEYPOINTS and r["category_id"] == 1 for r in results)
    assert not (out / "poses.json").exists()


@pytest.mark.parametrize("args, message", [
    (["--format", "coco"], "--coco-annotations"),
    (["--heatmap", "tail"], "unknown keypoint"),
    (["--coco-annotations", "/nonexistent/ann.json"], "no such file"),
    (["--device", "gpu"], "device 'gpu' is not one of auto, cpu, cuda, cuda:N"),
    (["--input-size", "500"], "nearest valid: 497 or 513"),
])
def test_bad_options_fail_with_one_line(infer, tmp_path, args, message):
    result = infer(str(PHOTOS / "pose.jpg"), "--out", str(tmp_path / "out"), *args)
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0]


def test_input_size_must_fit_stride(load_stage, weights, tmp_path):
    result = CliRunner().invoke(load_stage("infer").main, [str(PHOTOS / "pose.jpg"), "--input-size", "100",
                                                           "--weights", weights, "--out", str(tmp_path)])
    assert result.exit_code == 2 and "k * stride + 1" in result.stderr


def test_no_input_is_a_usage_error(load_stage):
    result = CliRunner().invoke(load_stage("infer").main, ["--out", "x"])
    assert result.exit_code == 2 and "--webcam" in result.output


def test_unopenable_webcam_is_named(infer, tmp_path):
    result = infer("--webcam", "57", "--out", str(tmp_path))
    assert result.exit_code == 2 and "webcam 57: no camera found at index 57" in result.stderr


@pytest.mark.parametrize("trained_variant, served", [
    ("mobilenet_v1_075", "models/pretrained/mobilenet_v1_050.pt (the pretrained model"),
    ("mobilenet_v1_050", "models/trained/model.pt (the trained model"),
])
def test_trained_model_serves_only_its_own_variant(load_stage, tmp_path, monkeypatch, caplog, trained_variant,
                                                   served, default_params):
    """--model mobilenet_v1_050 with a trained 0.75 file in models/trained: the 0.50 pretrained file serves."""
    from posenet.models.checkpoint import save_checkpoint
    from posenet.models.mobilenet import create_model

    monkeypatch.chdir(tmp_path)
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")  # a project: dvc.yaml and models/
    save_checkpoint(tmp_path / "models" / "pretrained" / "mobilenet_v1_050.pt", create_model("mobilenet_v1_050"),
                    {"variant": "mobilenet_v1_050"})
    save_checkpoint(tmp_path / "models" / "trained" / "model.pt", create_model(trained_variant),
                    {"variant": trained_variant})
    with caplog.at_level("INFO"):
        result = CliRunner().invoke(load_stage("infer").main, [
            str(PHOTOS / "pose.jpg"), "--model", "mobilenet_v1_050", "--params", default_params,
            "--input-size", SIZE, "--no-render", "--out", str(tmp_path / "out")], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert f"model mobilenet_v1_050: {tmp_path / served}" in caplog.text


def test_a_second_run_on_the_same_out_folder_fails_in_one_line(infer, tmp_path):
    """Two runs writing one --out at once left a poses.json of the last writer only: the second now stops at once."""
    from posenet.io.atomic import folder_lock

    out = tmp_path / "out"
    with folder_lock(out, "posenet infer"):                             # the first run, still writing
        result = infer(str(PHOTOS / "pose.jpg"), "--out", str(out))
    assert result.exit_code == 2
    assert _bad_lines(result.stderr) == [f"error: {out}: another posenet infer is writing to this folder (pid "
                                         f"{os.getpid()}); wait for it or choose another output folder"]
    assert list(out.iterdir()) == []
