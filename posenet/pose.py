"""The Pose record shared by decoding, prediction, evaluation, drawing and the JSON outputs.

JSON schema (the same as TF.js PoseNet's ``poses.json``)::

    {"score": float, "keypoints": [{"part": "nose", "score": float, "x": float, "y": float}, ... x17]}

plus ``"track_id": int`` on poses that a tracker (:mod:`posenet.tracking`) has linked across video frames.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from posenet.constants import COCO_SIGMAS, NUM_KEYPOINTS, PART_NAMES
from posenet.errors import PosenetError

__all__ = ["Pose", "keypoint_similarity", "poses_from_json", "poses_to_json", "shown_poses"]


@dataclass
class Pose:
    """One person.

    score: instance score in [0, 1].
    keypoints: float64 [17, 2] positions ``(x, y)`` in pixels (model-input or image pixels, as the producer says).
    keypoint_scores: float64 [17] scores in [0, 1], COCO keypoint order.
    track_id: the person's id across video frames (set by :mod:`posenet.tracking`), None when untracked.
    """

    score: float
    keypoints: np.ndarray
    keypoint_scores: np.ndarray
    track_id: int | None = None

    def __post_init__(self) -> None:
        self.score = float(self.score)
        self.keypoints = np.asarray(self.keypoints, dtype=np.float64).reshape(NUM_KEYPOINTS, 2)
        self.keypoint_scores = np.asarray(self.keypoint_scores, dtype=np.float64).reshape(NUM_KEYPOINTS)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict in the TF.js ``poses.json`` schema (``track_id`` added when the pose has one)."""
        data: dict[str, Any] = {
            "score": self.score,
            "keypoints": [
                {"part": PART_NAMES[k], "score": float(self.keypoint_scores[k]),
                 "x": float(self.keypoints[k, 0]), "y": float(self.keypoints[k, 1])}
                for k in range(NUM_KEYPOINTS)
            ],
        }
        if self.track_id is not None:
            data["track_id"] = self.track_id
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Pose:
        """Inverse of :meth:`to_dict`; keypoints may come in any order, they are placed by ``part`` name."""
        try:
            kps = data["keypoints"]
            if len(kps) != NUM_KEYPOINTS:
                raise PosenetError(f"pose has {len(kps)} keypoints, expected {NUM_KEYPOINTS}")
            xy = np.zeros((NUM_KEYPOINTS, 2))
            scores = np.zeros(NUM_KEYPOINTS)
            seen = set()
            for kp in kps:
                k = PART_NAMES.index(kp["part"])
                seen.add(k)
                xy[k] = (kp["x"], kp["y"])
                scores[k] = kp["score"]
            if len(seen) != NUM_KEYPOINTS:
                raise PosenetError("pose keypoints repeat a part name")
            track_id = data.get("track_id")
            if track_id is not None and (isinstance(track_id, bool) or not isinstance(track_id, int)):
                raise PosenetError(f"pose track_id {track_id!r} is not an integer")
            return cls(score=data["score"], keypoints=xy, keypoint_scores=scores, track_id=track_id)
        except (KeyError, TypeError, ValueError) as err:
            raise PosenetError(f"not a pose in poses.json schema: bad or missing field ({err})") from err

    def scaled(self, scale_yx: Sequence[float], offset_yx: Sequence[float]) -> Pose:
        """Pose with positions ``y * scale_y - offset_y``, ``x * scale_x - offset_x`` (float64); scores and
        track id kept."""
        xy = self.keypoints * np.array([scale_yx[1], scale_yx[0]]) - np.array([offset_yx[1], offset_yx[0]])
        return Pose(self.score, xy, self.keypoint_scores.copy(), self.track_id)


def shown_poses(poses: Iterable[Pose], min_pose_score: float) -> list[Pose]:
    """The poses a user sees: those scoring at least ``min_pose_score`` (params ``predict.min_pose_score``), in
    order. PoseNet's decoder also returns weak duplicates and background poses; COCO evaluation keeps them."""
    return [p for p in poses if p.score >= min_pose_score]


def poses_to_json(poses: Iterable[Pose]) -> list[dict[str, Any]]:
    """List of poses -> JSON-ready list of dicts (TF.js ``poses.json`` schema)."""
    return [p.to_dict() for p in poses]


def poses_from_json(data: Iterable[dict[str, Any]]) -> list[Pose]:
    """Inverse of :func:`poses_to_json`; raises PosenetError naming the problem on malformed input."""
    if isinstance(data, dict):
        raise PosenetError("poses JSON must be a list of poses, got an object")
    return [Pose.from_dict(d) for d in data]


def keypoint_similarity(d2: np.ndarray, area: float | np.ndarray) -> np.ndarray:
    """COCO's per-keypoint similarity ``exp(-d^2 / (2 area (2 sigma_k)^2))`` of squared distances ``d2`` [..., 17]
    (px^2) for persons of ``area`` (px^2, broadcast against ``d2``); OKS is its mean over the keypoints compared."""
    return np.exp(-d2 / (2.0 * area * (2.0 * COCO_SIGMAS) ** 2))
