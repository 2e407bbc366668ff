"""posenet.apps.video.annotate_video: the one frame loop of the infer stage and the app."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from posenet.apps import video
from posenet.io.media import VideoInfo, VideoReader


def _clip(path, n=6, size=(64, 48)):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 8.0, size)
    for i in range(n):
        writer.write(np.full((size[1], size[0], 3), 20 * i, np.uint8))
    writer.release()
    return path


def test_max_frames_annotate_keep_and_progress(tmp_path):
    source = _clip(tmp_path / "in.mp4")
    calls = []
    result = video.annotate_video(source, lambda frame: int(frame.mean()), lambda frame, r: 255 - frame,
                                  tmp_path / "out.mp4", max_frames=4, progress=lambda *a: calls.append(a),
                                  keep=lambda r: {"mean": r})
    assert (result.frames, result.fps, result.path) == (4, pytest.approx(8.0), tmp_path / "out.mp4")
    assert [r["mean"] for r in result.results] == sorted(r["mean"] for r in result.results)
    assert calls == [(i, 4) for i in range(1, 5)]
    with VideoReader(result.path) as reader:
        frames = list(reader)
    assert len(frames) == 4 and frames[0].mean() > 200  # inverted first (dark) frame


def test_track_sees_video_time_and_its_result_is_drawn_and_kept(tmp_path):
    seen = []

    def track(result, seconds, size):
        seen.append((seconds, size))
        return result + 1000

    result = video.annotate_video(_clip(tmp_path / "in.mp4"), lambda frame: int(frame.mean()),
                                  lambda frame, r: frame if r >= 1000 else None, tmp_path / "out.mp4", track=track)
    assert seen == [(pytest.approx(i / 8.0), (64, 48)) for i in range(6)]      # frame index / fps, (width, height)
    assert all(r >= 1000 for r in result.results)


def test_without_annotate_nothing_is_written(tmp_path):
    result = video.annotate_video(_clip(tmp_path / "in.mp4"), lambda frame: frame.shape)
    assert result.path is None and result.results == [(48, 64, 3)] * 6
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]
    with pytest.raises(ValueError, match="target"):
        video.annotate_video(tmp_path / "in.mp4", lambda frame: 0, lambda frame, r: frame)


class _Live:
    """A webcam stand-in: 3 frames, then Ctrl-C."""

    def __init__(self, source, frames=3):
        self.name, self.info, self.frames = f"webcam {source}", VideoInfo(30.0, 0, 64, 48), frames

    def __iter__(self):
        for _ in range(self.frames):
            yield np.zeros((48, 64, 3), np.uint8)
        raise KeyboardInterrupt

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass


def test_ctrl_c_ends_a_live_source_cleanly(tmp_path, monkeypatch):
    monkeypatch.setattr(video, "VideoReader", _Live)
    calls, times = [], []
    result = video.annotate_video(0, lambda frame: 1, lambda frame, r: frame, tmp_path / "cam.mp4",
                                  progress=lambda *a: calls.append(a), track=lambda r, t, size: times.append(t) or r)
    assert result.frames == 3 and calls == [(1, 0), (2, 0), (3, 0)]  # live: total unknown
    assert times == sorted(times) and 0 <= times[0] < 1 and len(set(times)) == 3   # a webcam's time is the clock
    with VideoReader(tmp_path / "cam.mp4") as reader:
        assert len(list(reader)) == 3
    monkeypatch.setattr(video, "VideoReader", lambda source: _Live(source, frames=0))
    with pytest.raises(KeyboardInterrupt):  # no frame yet: the interrupt goes on
        video.annotate_video(0, lambda frame: 1, lambda frame, r: frame, tmp_path / "none.mp4")
    assert not (tmp_path / "none.mp4").exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_poses_record_is_the_per_frame_json():
    from posenet.pose import Pose

    pose = Pose(0.5, np.arange(34, dtype=float).reshape(17, 2), np.full(17, 0.25))
    record = video.poses_record("clip.mp4", 4.0, [[pose], []])
    assert record["source"] == "clip.mp4" and record["fps"] == 4.0
    assert [len(f) for f in record["frames"]] == [1, 0]
    assert record["frames"][0][0] == pose.to_dict()
