"""posenet.apps.serving: model choice, checkpoint loading by metadata, input sizes, pose tables, video annotation."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from app_support import PHOTO

from posenet.apps import serving
from posenet.constants import PART_NAMES
from posenet.errors import ImageError, ModelError
from posenet.io.media import VideoReader
from posenet.models.checkpoint import save_checkpoint
from posenet.models.mobilenet import create_model
from posenet.params import Params
from posenet.pose import Pose


def test_input_size_choices_are_k_stride_plus_one():
    assert serving.input_size_choices(16, 97, 161) == [97, 113, 129, 145, 161]
    assert serving.input_size_choices(32, 100, 300) == [129, 161, 193, 225, 257, 289]
    assert all((s - 1) % 8 == 0 for s in serving.input_size_choices(8))
    assert serving.nearest_choice(513, serving.input_size_choices(32)) == 513
    assert serving.nearest_choice(260, [257, 273]) == 257


def test_model_choices_prefer_trained_and_kind_follows_folder(tmp_path):
    params = Params()
    pretrained = serving.offered_pretrained_path(params, tmp_path)
    assert serving.model_choices(params, tmp_path) == [pretrained]  # listed before it exists: fetched on use
    other = tmp_path / "models" / "pretrained" / "mobilenet_v1_050.pt"
    other.parent.mkdir(parents=True)
    other.write_bytes(b"x")
    trained = tmp_path / "models" / "trained" / "model.pt"
    save_checkpoint(trained, {}, {"variant": params.model.name})  # only the metadata is read
    assert serving.model_choices(params, tmp_path) == [trained, pretrained, other]
    assert serving.model_kind(trained, tmp_path) == "trained"
    assert serving.model_kind(tmp_path / "models" / "checkpoints" / "step_50.pt", tmp_path) == "trained"
    assert serving.model_kind(other, tmp_path) == "pretrained"


def test_default_model_is_the_trained_file_only_for_its_own_variant(tmp_path, caplog):
    params = Params()  # mobilenet_v1_075
    trained = tmp_path / "models" / "trained" / "model.pt"
    pretrained_050 = tmp_path / "models" / "pretrained" / "mobilenet_v1_050.pt"
    assert serving.default_model(params, root=tmp_path) == serving.offered_pretrained_path(params, tmp_path)
    save_checkpoint(trained, {}, {"variant": "mobilenet_v1_075"})
    assert serving.default_model(params, root=tmp_path) == trained
    assert serving.default_model(params, "mobilenet_v1_075", tmp_path) == trained
    assert serving.default_model(params, "mobilenet_v1_050", tmp_path) == pretrained_050
    save_checkpoint(trained, {}, {"variant": "mobilenet_v1_050"})
    assert serving.default_model(params, "mobilenet_v1_050", tmp_path) == trained
    assert serving.default_model(params, root=tmp_path) == serving.offered_pretrained_path(params, tmp_path)
    # the app offers the same default first, the other-variant trained file after it
    assert serving.model_choices(params, tmp_path)[:2] == [serving.offered_pretrained_path(params, tmp_path), trained]
    trained.write_bytes(b"not a checkpoint")
    with caplog.at_level("WARNING", logger="posenet.apps.serving"):
        assert serving.default_model(params, root=tmp_path) == serving.offered_pretrained_path(params, tmp_path)
    assert "model.pt" in caplog.text and "not a readable checkpoint" in caplog.text


def test_load_serving_model_takes_variant_from_metadata(tmp_path):
    path = tmp_path / "model.pt"
    save_checkpoint(path, create_model("mobilenet_v1_050", 16), {"variant": "mobilenet_v1_050", "source": "test"})
    model, info = serving.load_serving_model(path, 8, root=tmp_path)
    assert (model.variant, model.output_stride, info.variant, info.stride, info.kind) == \
        ("mobilenet_v1_050", 8, "mobilenet_v1_050", 8, "pretrained")
    assert info.describe() == f"pretrained mobilenet_v1_050, stride 8, from {path}"
    with pytest.raises(ModelError, match="not found"):
        serving.load_serving_model(tmp_path / "missing.pt", 16)


def test_strides_offered_are_those_the_variant_reaches(tmp_path):
    params = Params()  # mobilenet_v1_075, stride 16
    offered = serving.offered_pretrained_path(params, tmp_path)
    assert serving.model_variant(offered, params, tmp_path) == params.model.name
    path = tmp_path / "wide.pt"
    save_checkpoint(path, create_model("mobilenet_v1_100", 16), {"variant": "mobilenet_v1_100", "source": "test"})
    assert serving.model_variant(path, params, tmp_path) == "mobilenet_v1_100"
    assert serving.stride_choices("mobilenet_v1_100", 16) == ([8, 16, 32], 16)
    assert serving.stride_choices("mobilenet_v1_075", 32) == ([8, 16], 16)
    with pytest.raises(ModelError, match="not found"):
        serving.model_variant(tmp_path / "missing.pt", params, tmp_path)


def test_pose_and_keypoint_rows():
    xy = np.stack([np.arange(17.0), 100 + np.arange(17.0)], axis=1)
    scores = np.full(17, 0.9)
    scores[:3] = 0.05
    poses = [Pose(0.8, xy, scores), Pose(0.1, xy, np.zeros(17))]
    rows = serving.pose_rows(poses, min_part_score=0.1)
    assert rows[0] == {"pose": 0, "score": 0.8, "keypoints": 14, "parts": ", ".join(PART_NAMES[3:]),
                       "x0": 3.0, "y0": 103.0, "x1": 16.0, "y1": 116.0}
    assert rows[1]["keypoints"] == 0 and rows[1]["parts"] == "" and math.isnan(rows[1]["x0"])
    kps = serving.keypoint_rows(poses)
    assert len(kps) == 34
    assert kps[18] == {"pose": 1, "part": "leftEye", "score": 0.0, "x": 1.0, "y": 101.0}


def _clip(source, frames: int = 5):
    """A 160x112 mp4v clip of ``frames`` copies of the test photo at 10 fps."""
    frame = cv2.resize(cv2.imread(str(PHOTO)), (160, 112))
    writer = cv2.VideoWriter(str(source), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (160, 112))
    for _ in range(frames):
        writer.write(frame)
    writer.release()
    return source


def test_annotate_video_writes_a_playable_video_with_progress(tmp_path):
    source = _clip(tmp_path / "in.mp4")
    seen_shapes, calls = [], []
    xy = np.tile([[40.0, 50.0]], (17, 1))

    def predict(image):
        seen_shapes.append(image.shape)
        return [Pose(0.9, xy, np.ones(17)), Pose(0.05, xy, np.ones(17))]

    result = serving.annotate_video(source, tmp_path / f"out{serving.VIDEO_SUFFIX}", predict, min_pose_score=0.1,
                                    progress=lambda done, total: calls.append((done, total)))
    assert result.frames == 5 and result.fps == pytest.approx(10.0)
    assert [len(p) for p in result.results] == [1] * 5  # the 0.05 pose is below min_pose_score
    assert seen_shapes == [(112, 160, 3)] * 5
    assert calls == [(i, 5) for i in range(1, 6)]
    with VideoReader(result.path) as reader:
        frames = list(reader)
    assert len(frames) == 5
    assert frames[0].shape == (112, 160, 3)
    with VideoReader(source) as reader:
        plain = next(iter(reader))
    drawn = np.abs(frames[0].astype(int) - plain.astype(int)).sum(axis=2) > 100
    assert drawn[48:53, 38:43].mean() > 0.5 and drawn[:, 80:].mean() < 0.01  # keypoint disk drawn at (40, 50) only


def test_annotate_video_draws_every_pose_it_keeps(tmp_path):
    source = _clip(tmp_path / "in.mp4", frames=1)
    xy = np.tile([[40.0, 50.0]], (17, 1))
    result = serving.annotate_video(source, tmp_path / f"out{serving.VIDEO_SUFFIX}",
                                    lambda image: [Pose(0.12, xy, np.ones(17))],
                                    min_pose_score=0.1)  # below drawing.MIN_POSE_SCORE, above the caller's threshold
    assert [len(p) for p in result.results] == [1]
    with VideoReader(result.path) as reader, VideoReader(source) as plain:
        drawn = np.abs(next(iter(reader)).astype(int) - next(iter(plain)).astype(int)).sum(axis=2) > 100
    assert drawn[48:53, 38:43].mean() > 0.5


def test_annotate_video_rejects_a_non_video(tmp_path):
    bad = tmp_path / "clip.mp4"
    bad.write_bytes(b"not a video at all" * 20)
    with pytest.raises(ImageError, match="clip.mp4"):
        serving.annotate_video(bad, tmp_path / f"out{serving.VIDEO_SUFFIX}", lambda image: [])
    assert not (tmp_path / f"out{serving.VIDEO_SUFFIX}").exists()


def _person() -> Pose:
    """A real person found by TF.js PoseNet in a real photo, moved into a 160x112 frame (half size)."""
    import json

    from reference_cases import LOCAL

    from posenet.pose import poses_from_json

    pose = poses_from_json(json.loads((LOCAL / "three_people.poses.json").read_text())["multi_poses"])[0]
    xy = (pose.keypoints - pose.keypoints.min(axis=0)) / np.ptp(pose.keypoints, axis=0) * [60, 100] + [20, 5]
    return Pose(pose.score, xy, pose.keypoint_scores)


def test_annotate_video_tracks_and_smooths_the_drawn_poses(tmp_path):
    from posenet.tracking.pipeline import VideoTracking

    source, person = _clip(tmp_path / "in.mp4"), _person()
    accelerations = {}
    for smooth in (False, True):
        rng = np.random.default_rng(0)                      # the same detection noise for both runs

        def predict(image, rng=rng):
            return [Pose(person.score, person.keypoints + rng.normal(0, 1.0, (17, 2)), person.keypoint_scores)]

        result = serving.annotate_video(source, tmp_path / f"out{serving.VIDEO_SUFFIX}", predict,
                                        tracking=VideoTracking(smooth=smooth))
        assert [[p.track_id for p in poses] for poses in result.results] == [[1]] * 5
        xy = np.array([poses[0].keypoints for poses in result.results])
        accelerations[smooth] = np.abs(np.diff(xy, 2, axis=0)).mean()
    assert accelerations[True] < 0.8 * accelerations[False]


def test_live_annotator_tracks_on_the_clock_and_counts_fps():
    from posenet.tracking.pipeline import VideoTracking

    person, times, seen = _person(), iter([10.0, 10.1, 10.2, 10.4]), []

    def predict(image):
        seen.append(image.shape)
        return [person, Pose(0.01, person.keypoints + 60, person.keypoint_scores)]

    tracking = VideoTracking()
    annotator = serving.LiveAnnotator(predict, tracking, min_pose_score=0.1, clock=lambda: next(times))
    frame = cv2.cvtColor(cv2.resize(cv2.imread(str(PHOTO)), (160, 112)), cv2.COLOR_BGR2RGB)
    outputs = [annotator(frame) for _ in range(4)]
    assert annotator.frames == 4 and seen == [(112, 160, 3)] * 4
    assert [p.track_id for p in annotator.poses] == [1]                     # the weak pose is not kept
    assert [t.last_seen for t in tracking.tracker.tracks] == [pytest.approx(0.4)]   # the clock, from the first frame
    assert annotator.fps == pytest.approx(0.9 * (0.9 * 10 + 0.1 * 10) + 0.1 * 5)    # 10, 10, then 5 frames per second
    assert all(out.shape == frame.shape and np.abs(out.astype(int) - frame).sum() > 0 for out in outputs)
    assert (outputs[-1][:20, :60] == 20).all(axis=2).any()                  # the fps label's dark box, top left
