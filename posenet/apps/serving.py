"""What the Streamlit app serves, kept out of ``app.py`` so it is testable without a browser.

* which model files exist and which one to serve by default (:func:`default_model`: the trained model
  when its variant is the requested one, else the pretrained one; shared with the infer stage),
  fetching and converting the pretrained weights on first use;
* loading any checkpoint file whatever its variant, and describing it (path, variant, trained/pretrained);
* the output strides the served variant can reach, and the valid input resolutions for a stride;
* tables of poses for display;
* annotating a whole video file with a progress callback, tracking (and smoothing) its poses;
* annotating a live camera's frames as they come (:class:`LiveAnnotator`: tracking on the clock, fps readout).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from posenet import project
from posenet.apps import video
from posenet.apps.video import VideoResult
from posenet.constants import PART_NAMES
from posenet.models import factory
from posenet.models.checkpoint import checkpoint_variant, load_checkpoint
from posenet.models.factory import load_model
from posenet.models.mobilenet import PoseNet
from posenet.models.variants import reachable_strides
from posenet.params import Params
from posenet.pose import Pose, shown_poses
from posenet.tracking.pipeline import VideoTracking
from posenet.viz.drawing import MIN_PART_SCORE, draw_label, draw_poses

__all__ = ["LiveAnnotator", "ModelInfo", "VIDEO_MIME", "VIDEO_SUFFIX", "annotate_video", "default_model",
           "ensure_pretrained", "input_size_choices", "keypoint_rows", "load_serving_model", "model_choices",
           "model_kind", "model_variant", "nearest_choice", "offered_pretrained_path", "pose_rows", "stride_choices"]

log = logging.getLogger(__name__)

# H.264 in MP4 (posenet.io.media.VideoWriter): every current browser plays it, as does any video player.
VIDEO_SUFFIX = ".mp4"
VIDEO_MIME = "video/mp4"


@dataclass(frozen=True)
class ModelInfo:
    """What is serving: checkpoint ``path``, ``variant`` name, output ``stride``, ``kind`` (trained/pretrained)."""

    path: Path
    variant: str
    stride: int
    kind: str
    meta: dict[str, Any]

    def describe(self) -> str:
        """One line for the page, e.g. ``trained mobilenet_v1_075, stride 16, from models/trained/model.pt``."""
        return f"{self.kind} {self.variant}, stride {self.stride}, from {self.path}"


def offered_pretrained_path(params: Params, root: str | os.PathLike | None = None, name: str | None = None) -> Path:
    """The pretrained checkpoint of ``name`` (default ``params.model.name``) to offer: the convert stage's file
    under project ``root`` (default :func:`posenet.project.find_project`), else the user-cache copy when one exists
    or there is no project, else the stage's path (fetched on first use)."""
    name = name or params.model.name
    root = root or project.find_project()
    cached = factory.cached_pretrained_path(name)
    if root is None:
        return cached
    local = project.pretrained_path(name, root)
    return cached if not local.is_file() and cached.is_file() else local


def default_model(params: Params, name: str | None = None, root: str | os.PathLike | None = None) -> Path:
    """The model file that serves variant ``name`` (default ``params.model.name``) when none is chosen: the
    trained model when it holds ``name`` (:func:`posenet.models.factory.trained_model_for`), else
    :func:`offered_pretrained_path` (not fetched: the app lists it and fetches it when it is chosen)."""
    name = name or params.model.name
    return factory.trained_model_for(name, root) or offered_pretrained_path(params, root, name)


def model_choices(params: Params, root: str | os.PathLike | None = None) -> list[Path]:
    """Model files to offer, default first (:func:`default_model`), then the trained model when present, the
    configured pretrained checkpoint (listed even when missing: serving it fetches and converts it), then any
    other converted pretrained checkpoints (those of project ``root``, default
    :func:`posenet.project.find_project`)."""
    root = root or project.find_project()
    trained = project.trained_path(root) if root else None
    choices = [default_model(params, root=root)] + ([trained] if trained and trained.is_file() else [])
    choices.append(offered_pretrained_path(params, root))
    choices += sorted(project.pretrained_dir(root).glob("*.pt")) if root else []
    return list(dict.fromkeys(choices))


def model_kind(path: str | os.PathLike, root: str | os.PathLike | None = None) -> str:
    """``trained`` for files under ``models/trained`` or ``models/checkpoints`` of project ``root`` (default
    :func:`posenet.project.find_project`), else ``pretrained``."""
    root = root or project.find_project()
    if root is None:
        return "pretrained"
    parts = Path(os.path.relpath(Path(path).resolve(), Path(root).resolve())).parts
    trained_dirs = (project.TRAINED_MODEL.parent.parts, project.CHECKPOINTS_DIR.parts)
    return "trained" if parts[:2] in trained_dirs else "pretrained"


def ensure_pretrained(params: Params, root: str | os.PathLike | None = None) -> Path:
    """The pretrained checkpoint of ``params.model.name``, fetched from the ``params.weights`` sources and
    converted into the user cache on first use (:func:`posenet.models.factory.pretrained_checkpoint`).
    Raises WeightsError when no source can provide it."""
    return factory.pretrained_checkpoint(params.model.name, root, **params.weights.fetch_options())


def model_variant(path: str | os.PathLike, params: Params, root: str | os.PathLike | None = None) -> str:
    """Variant of the checkpoint at ``path`` (from its metadata); ``params.model.name`` for the configured
    pretrained checkpoint while it is yet to be fetched. Raises ModelError for a missing/unreadable file."""
    path = Path(path)
    if path == offered_pretrained_path(params, root) and not path.is_file():
        return params.model.name
    return checkpoint_variant(load_checkpoint(path)[1])


def stride_choices(variant: str, preferred: int) -> tuple[list[int], int]:
    """The output strides ``variant`` can reach and the default among them: ``preferred`` (params
    ``model.stride``) when reachable, else the nearest reachable one."""
    strides = list(reachable_strides(variant))
    return strides, nearest_choice(preferred, strides)


def load_serving_model(path: str | os.PathLike, stride: int, device: str | torch.device | None = None,
                       root: str | os.PathLike | None = None) -> tuple[PoseNet, ModelInfo]:
    """Load any posenet checkpoint at output ``stride``; the variant comes from the file's metadata.

    Raises ModelError for a missing/unreadable file, a stride the variant cannot reach, or weights that do
    not fit.
    """
    path = Path(path)
    _, meta = load_checkpoint(path)
    variant = checkpoint_variant(meta)
    model = load_model(variant, stride=stride, weights=path, device=device)
    return model, ModelInfo(path=path, variant=variant, stride=stride, kind=model_kind(path, root), meta=meta)


def input_size_choices(stride: int, low: int = 97, high: int = 801) -> list[int]:
    """Valid model input sides ``k * stride + 1`` within ``[low, high]`` pixels."""
    first = -(-(low - 1) // stride)
    return [k * stride + 1 for k in range(max(first, 1), (high - 1) // stride + 1)]


def nearest_choice(value: int, choices: Sequence[int]) -> int:
    """The element of ``choices`` closest to ``value`` (ties: the smaller)."""
    return min(choices, key=lambda c: (abs(c - value), c))


def pose_rows(poses: Sequence[Pose], min_part_score: float) -> list[dict[str, Any]]:
    """One row per pose: ``pose`` index, ``score``, number of keypoints with score >= ``min_part_score`` and their
    names (``parts``, TF.js names), and the bounding box (x0, y0, x1, y1, image px) of those keypoints (NaN when
    none)."""
    rows = []
    for i, pose in enumerate(poses):
        ok = pose.keypoint_scores >= min_part_score
        xy = pose.keypoints[ok]
        box = (*xy.min(axis=0), *xy.max(axis=0)) if len(xy) else (float("nan"),) * 4
        rows.append({"pose": i, "score": pose.score, "keypoints": int(ok.sum()),
                     "parts": ", ".join(name for name, shown in zip(PART_NAMES, ok) if shown),
                     "x0": float(box[0]), "y0": float(box[1]), "x1": float(box[2]), "y1": float(box[3])})
    return rows


def keypoint_rows(poses: Sequence[Pose]) -> list[dict[str, Any]]:
    """One row per (pose, keypoint): ``pose``, ``part`` (TF.js name), ``score``, ``x``, ``y`` (image px)."""
    return [{"pose": i, **keypoint} for i, pose in enumerate(poses) for keypoint in pose.to_dict()["keypoints"]]


def annotate_video(source: str | os.PathLike, target: str | os.PathLike, predict: Callable[[Any], list[Pose]],
                   min_part_score: float = MIN_PART_SCORE, min_pose_score: float = 0.0,
                   progress: Callable[[int, int], None] | None = None,
                   tracking: VideoTracking | None = None) -> VideoResult:
    """Run ``predict`` (RGB uint8 [H, W, 3] -> poses) on every frame of ``source`` and write the frames with the
    skeletons of poses scoring >= ``min_pose_score`` drawn to ``target`` (atomically; H.264 MP4, which browsers
    play). ``tracking``: tracks (and smooths) those poses over the video's time, each drawn in its track's colour.
    ``result.results``: the drawn poses of each frame (image px). ``progress(done, total)`` as in
    :func:`posenet.apps.video.annotate_video`. Raises ImageError when ``source`` is not a readable video.
    """
    return video.annotate_video(source, lambda frame: shown_poses(predict(frame), min_pose_score),
                                lambda frame, poses: draw_poses(frame, poses, min_part_score, min_pose_score), target,
                                progress=progress, track=tracking)


class LiveAnnotator:
    """A live camera's frames, one call per frame as they arrive (from the app's WebRTC thread): poses of the
    frame (``predict``, kept from ``min_pose_score``), tracked (and smoothed) by ``tracking`` with the clock as
    video time, drawn, and the frame rate drawn in the top-left corner.

    ``fps``: frames annotated per second (exponential average of the intervals between frames, over ~10 frames);
    ``frames``: frames annotated; ``poses``: the last frame's poses. ``clock``: seconds (monotonic).
    """

    def __init__(self, predict: Callable[[np.ndarray], list[Pose]], tracking: VideoTracking | None = None,
                 min_part_score: float = MIN_PART_SCORE, min_pose_score: float = 0.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.predict = predict
        self.tracking = tracking
        self.min_part_score = min_part_score
        self.min_pose_score = min_pose_score
        self.clock = clock
        self.fps = 0.0
        self.frames = 0
        self.poses: list[Pose] = []
        self._start: float | None = None
        self._last: float | None = None
        self._lock = threading.Lock()      # one frame at a time: the tracker's state follows the frame order

    def __call__(self, frame_rgb: np.ndarray) -> np.ndarray:
        """The annotated copy of ``frame_rgb`` (RGB uint8 [H, W, 3])."""
        with self._lock:
            now = self.clock()
            self._start = now if self._start is None else self._start
            poses = shown_poses(self.predict(frame_rgb), self.min_pose_score)
            if self.tracking is not None:
                poses = self.tracking(poses, now - self._start, (frame_rgb.shape[1], frame_rgb.shape[0]))
            if self._last is not None and now > self._last:
                rate = 1.0 / (now - self._last)
                self.fps = rate if self.frames == 1 else 0.9 * self.fps + 0.1 * rate
            self._last, self.frames, self.poses = now, self.frames + 1, poses
            fps = self.fps
        out = draw_poses(frame_rgb, poses, self.min_part_score, self.min_pose_score)
        scale = max(0.4, min(out.shape[:2]) / 600)
        draw_label(out, f"{fps:.1f} fps", np.array([80 * scale, 30 * scale]), scale)
        return out
