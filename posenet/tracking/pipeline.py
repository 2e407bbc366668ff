"""Tracking and optional smoothing of a video's poses, frame after frame: what ``posenet infer --track [--smooth]``
and the app run on each frame's poses."""

from __future__ import annotations

from collections.abc import Sequence

from posenet.pose import Pose
from posenet.tracking.one_euro import KeypointSmoother
from posenet.tracking.tracker import PoseTracker

__all__ = ["VideoTracking"]


class VideoTracking:
    """A :class:`PoseTracker` and, with ``smooth``, a :class:`KeypointSmoother` over its tracks (filter state dropped
    with the track). One instance per video or camera session.

    tracker_options: keyword arguments of :class:`PoseTracker`; min_cutoff, beta, d_cutoff: the One Euro settings.
    """

    def __init__(self, smooth: bool = False, min_cutoff: float = 2.5, beta: float = 100.0, d_cutoff: float = 2.5,
                 **tracker_options: object) -> None:
        self.tracker = PoseTracker(**tracker_options)
        self.smoother = KeypointSmoother(min_cutoff, beta, d_cutoff) if smooth else None

    def __call__(self, poses: Sequence[Pose], timestamp: float, image_size: tuple[int, int]) -> list[Pose]:
        """``poses`` of the frame at ``timestamp`` (s) with their ``track_id`` and, when smoothing, smoothed
        keypoints (image px; ``image_size`` (width, height) px)."""
        tracked = self.tracker.update(poses, timestamp)
        if self.smoother is None:
            return tracked
        self.smoother.keep_only(self.tracker.track_ids)
        return self.smoother(tracked, timestamp, image_size)
