"""One loop for every annotated video: read frames, predict, optionally draw and write, report progress.

Used by the infer stage (:mod:`posenet.apps.inferencer`) and the app (:mod:`posenet.apps.serving`): H.264 MP4 that
browsers play, plus the per-frame poses JSON.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import numpy as np

from posenet.io.media import VideoReader, VideoWriter
from posenet.pose import Pose, poses_to_json

__all__ = ["R", "VideoResult", "annotate_video", "poses_record"]

log = logging.getLogger(__name__)

R = TypeVar("R")


@dataclass(frozen=True)
class VideoResult(Generic[R]):
    """``frames`` processed at ``fps``; ``results``: what ``keep`` made of each frame's prediction;
    ``path``: the annotated video (None when nothing was rendered)."""

    path: Path | None
    frames: int
    fps: float
    results: list[Any]


def annotate_video(source: str | os.PathLike | int, predict: Callable[[np.ndarray], R],
                   annotate: Callable[[np.ndarray, R], np.ndarray] | None = None,
                   target: str | os.PathLike | None = None, max_frames: int = 0,
                   progress: Callable[[int, int], None] | None = None,
                   keep: Callable[[R], Any] | None = None,
                   track: Callable[[R, float, tuple[int, int]], R] | None = None) -> VideoResult[R]:
    """Run ``predict`` (RGB uint8 ``[H, W, 3]`` -> result) on each frame of ``source`` (a video file, or a
    webcam index) and, when ``annotate(frame, result) -> frame`` is given, write the annotated frames to
    ``target`` (atomically, every frame checked; ``.mp4``: H.264, ``.webm``: VP9, see
    :class:`posenet.io.media.VideoWriter`).

    max_frames: stop after this many frames (0: all; a webcam then runs until Ctrl-C, which ends a live
    source cleanly once at least one frame was processed). progress(done, total): after each frame;
    ``total`` is the expected frame count (container count and ``max_frames``; never below ``done``),
    0 when unknown. keep(result): what the returned :class:`VideoResult` lists per frame (default: the
    result itself). track(result, seconds, (width, height)) -> result: called on each prediction before it is
    drawn or kept (tracking, smoothing); ``seconds`` is the frame's time: frame index / the video's frame rate for
    a file, the clock since the first frame for a webcam. Raises ImageError when ``source`` is not a readable video.
    """
    if annotate is not None and target is None:
        raise ValueError("annotate_video: annotate needs a target path")
    keep = keep or (lambda result: result)
    results: list[Any] = []
    live = isinstance(source, int)
    with VideoReader(source) as reader:
        expected = min((n for n in (reader.info.frame_count, max_frames) if n > 0), default=0)
        start = time.monotonic()
        writer = VideoWriter(target, reader.info.fps) if annotate is not None else nullcontext()
        with writer:
            try:
                for frame in reader:
                    seconds = time.monotonic() - start if live else len(results) / reader.info.fps
                    result = predict(frame)
                    if track is not None:
                        result = track(result, seconds, (frame.shape[1], frame.shape[0]))
                    results.append(keep(result))
                    if annotate is not None:
                        writer.write(annotate(frame, result))
                    if progress is not None:
                        progress(len(results), max(expected, len(results)) if expected else 0)
                    if max_frames and len(results) >= max_frames:
                        break
            except KeyboardInterrupt:
                if not live or not results:
                    raise
                log.info("%s: stopped after %d frames", reader.name, len(results))
    return VideoResult(path=Path(target) if annotate is not None else None, frames=len(results),
                       fps=reader.info.fps, results=results)


def poses_record(source: str, fps: float, frames: Sequence[Sequence[Pose]]) -> dict[str, Any]:
    """The per-frame poses JSON of a video (the infer stage's ``<stem>_poses.json``, the app's download):
    ``{"source": source, "fps": fps, "frames": [[pose dicts] per frame]}`` (poses in image px)."""
    return {"source": source, "fps": fps, "frames": [poses_to_json(poses) for poses in frames]}
