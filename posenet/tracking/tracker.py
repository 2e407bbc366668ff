"""Pose tracking across video frames: each pose gets an integer ``track_id``, stable while the person stays in view.

As TF.js pose-detection's trackers: every frame the poses are compared with the live tracks (the last pose linked
to each), pairs are assigned, a pose left over starts a new track, and a track not linked for ``max_age`` seconds
of video time is dropped (its id is never reused). Two similarity measures:

* ``oks``: keypoint OKS (TF.js ``KeypointTracker``), the mean over the keypoints confident in both poses
  (score >= ``keypoint_threshold``) of ``exp(-d^2 / (2 area (2 sigma_k)^2))``, ``d`` the keypoint distance, ``area``
  the track's keypoint box, ``sigma_k`` COCO's falloff; 0 when fewer than ``min_keypoints`` keypoints count;
* ``iou``: intersection over union of the boxes around the confident keypoints (TF.js ``BoundingBoxTracker``, with
  the keypoint box as PoseNet has no person box); 0 for a box of fewer than ``min_keypoints`` keypoints.

Assignment: ``greedy`` (TF.js): poses in decreasing pose score, each linked to the free track it is most similar
to, if that similarity reaches ``min_similarity``; ``optimal``: the pairs that maximise the summed similarity
(SciPy's ``linear_sum_assignment``), pairs below ``min_similarity`` left unlinked.

PoseNet's multi-pose decoder also returns weak poses: duplicates of a person already found (their keypoints were
taken by the stronger pose, so their pose score is near 0) and fragments. So that they cannot take a person's
track, matching runs in two rounds (as ByteTrack does with weak detections): first the strong poses (score >=
``min_pose_score``, at least ``min_keypoints`` confident keypoints) with the tracks a strong pose made, then every
pose left with every track left. A pose that repeats a stronger pose of the same frame (keypoint OKS >=
``DUPLICATE_OKS``) is that person decoded twice: it gets the stronger pose's id and leaves the tracks alone. Every
pose gets an id; a pose that no track can be compared with (fewer than ``min_keypoints`` confident keypoints) gets a
fresh id and no track, and when more than ``max_tracks`` tracks live, those of strong poses are kept first, then the
most recently linked.

The defaults were measured on real footage (``tools/track_eval.py``, docs/tracking.md): PoseNet's poses of one
person change a lot from frame to frame (a keypoint misplaced, a frame missed), so the OKS of the same person in
consecutive frames is often below TF.js's ``min_similarity`` 0.2 while two different people score ~0; a low
``min_similarity`` (0.001) and ``keypoint_threshold`` (0.1), with each track given to one pose, keep the ids. The
optimal assignment never did worse than the greedy one and did better in crowds, at the same speed.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from posenet.constants import TRACK_SIMILARITIES
from posenet.pose import Pose, keypoint_similarity

__all__ = ["ASSIGNMENTS", "DUPLICATE_OKS", "SIMILARITIES", "PoseTracker", "Track", "assign", "iou_similarity",
           "oks_similarity"]

SIMILARITIES = TRACK_SIMILARITIES
ASSIGNMENTS: tuple[str, ...] = ("greedy", "optimal")
# Keypoint OKS from which a pose repeats a stronger pose of its frame (the same person decoded twice).
DUPLICATE_OKS = 0.5


@dataclass
class Track:
    """A person followed across frames: the last pose linked to it (image px), when (seconds of video time), and
    whether that pose was strong (module docstring)."""

    track_id: int
    keypoints: np.ndarray          # float64 [17, 2] (x, y)
    keypoint_scores: np.ndarray    # float64 [17]
    last_seen: float
    strong: bool


def _boxes(xy: np.ndarray, confident: np.ndarray) -> np.ndarray:
    """[N, 4] boxes (x0, y0, x1, y1) around the confident keypoints of ``xy`` [N, 17, 2] (``confident`` [N, 17]);
    a row without any confident keypoint gives an empty box (all zeros)."""
    inf = np.where(confident[..., None], xy, np.inf)
    neg = np.where(confident[..., None], xy, -np.inf)
    boxes = np.concatenate([inf.min(axis=1), neg.max(axis=1)], axis=1)
    return np.where(np.isfinite(boxes), boxes, 0.0)


def oks_similarity(pose_xy: np.ndarray, pose_ok: np.ndarray, track_xy: np.ndarray, track_ok: np.ndarray,
                   min_keypoints: int) -> np.ndarray:
    """Keypoint OKS [P, T] of poses (``pose_xy`` [P, 17, 2], ``pose_ok`` [P, 17] confident keypoints) against tracks
    (``track_xy`` [T, 17, 2], ``track_ok``); the area is the track's confident-keypoint box (px^2)."""
    box = _boxes(track_xy, track_ok)
    area = (box[:, 2] - box[:, 0]) * (box[:, 3] - box[:, 1]) + 1e-6                          # [T]
    d2 = ((pose_xy[:, None] - track_xy[None]) ** 2).sum(axis=-1)                             # [P, T, 17]
    both = pose_ok[:, None] & track_ok[None]                                                  # [P, T, 17]
    e = keypoint_similarity(d2, area[None, :, None])
    count = both.sum(axis=-1)
    oks = np.where(both, e, 0.0).sum(axis=-1) / np.maximum(count, 1)
    return np.where(count >= min_keypoints, oks, 0.0)


def iou_similarity(pose_xy: np.ndarray, pose_ok: np.ndarray, track_xy: np.ndarray, track_ok: np.ndarray,
                   min_keypoints: int) -> np.ndarray:
    """IoU [P, T] of the confident-keypoint boxes of poses and tracks (arguments as :func:`oks_similarity`);
    0 for a pose or track with fewer than ``min_keypoints`` confident keypoints."""
    a, b = _boxes(pose_xy, pose_ok), _boxes(track_xy, track_ok)
    w = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    h = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = w * h
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    iou = np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)
    enough = (pose_ok.sum(axis=1) >= min_keypoints)[:, None] & (track_ok.sum(axis=1) >= min_keypoints)[None, :]
    return np.where(enough, iou, 0.0)


def assign(similarity: np.ndarray, min_similarity: float, method: str) -> list[tuple[int, int]]:
    """Pairs (pose row, track column) of ``similarity`` [P, T], each row and column at most once, every pair's
    similarity >= ``min_similarity``. Rows must come in decreasing pose score (the greedy order)."""
    if similarity.size == 0:
        return []
    if method == "greedy":
        free = np.ones(similarity.shape[1], dtype=bool)
        pairs = []
        for row in range(similarity.shape[0]):
            candidates = np.where(free, similarity[row], -np.inf)
            col = int(np.argmax(candidates))
            if candidates[col] >= min_similarity:
                pairs.append((row, col))
                free[col] = False
        return pairs
    if method == "optimal":
        from scipy.optimize import linear_sum_assignment

        rows, cols = linear_sum_assignment(similarity, maximize=True)
        return [(int(r), int(c)) for r, c in zip(rows, cols) if similarity[r, c] >= min_similarity]
    raise ValueError(f"unknown assignment {method!r} (one of {', '.join(ASSIGNMENTS)})")


class PoseTracker:
    """Links the poses of consecutive frames into tracks (module docstring); one instance per video.

    similarity: ``oks`` or ``iou``. keypoint_threshold: keypoint score from which a keypoint counts.
    min_keypoints: confident keypoints a pose needs to be compared. min_pose_score: pose score of a strong pose
    (matched first). max_tracks: live tracks kept. max_age: seconds of video time a track survives without a pose.
    min_similarity: the least similarity that links a pose to a track. assignment: ``greedy`` or ``optimal``.
    """

    def __init__(self, similarity: str = "oks", keypoint_threshold: float = 0.1, min_keypoints: int = 4,
                 min_pose_score: float = 0.15, max_tracks: int = 18, max_age: float = 1.0,
                 min_similarity: float = 0.001, assignment: str = "optimal") -> None:
        if similarity not in SIMILARITIES:
            raise ValueError(f"unknown similarity {similarity!r} (one of {', '.join(SIMILARITIES)})")
        if assignment not in ASSIGNMENTS:
            raise ValueError(f"unknown assignment {assignment!r} (one of {', '.join(ASSIGNMENTS)})")
        self.similarity = similarity
        self.keypoint_threshold = float(keypoint_threshold)
        self.min_keypoints = int(min_keypoints)
        self.min_pose_score = float(min_pose_score)
        self.max_tracks = int(max_tracks)
        self.max_age = float(max_age)
        self.min_similarity = float(min_similarity)
        self.assignment = assignment
        self.tracks: list[Track] = []
        self._ids = itertools.count(1)

    @property
    def track_ids(self) -> set[int]:
        """Ids of the live tracks."""
        return {t.track_id for t in self.tracks}

    def _match(self, xy: np.ndarray, ok: np.ndarray, rows: list[int], track_xy: np.ndarray, track_ok: np.ndarray,
               cols: list[int]) -> list[tuple[int, int]]:
        """Pairs (pose index, track index) among poses ``rows`` (in greedy order) and tracks ``cols``; ``xy``, ``ok``:
        every pose's keypoints [P, 17, 2] and confident keypoints [P, 17], ``track_xy``, ``track_ok`` the tracks'."""
        if not rows or not cols:
            return []
        measure = oks_similarity if self.similarity == "oks" else iou_similarity
        sim = measure(xy[rows], ok[rows], track_xy[cols], track_ok[cols], self.min_keypoints)
        return [(rows[r], cols[c]) for r, c in assign(sim, self.min_similarity, self.assignment)]

    def _duplicates(self, xy: np.ndarray, ok: np.ndarray, order: list[int]) -> dict[int, int]:
        """{pose index: the stronger pose it repeats (keypoint OKS >= DUPLICATE_OKS)} among poses ``order`` (in
        decreasing score); a pose repeating a repeat maps to the first one."""
        if len(order) < 2:
            return {}
        sim = oks_similarity(xy[order], ok[order], xy[order], ok[order], self.min_keypoints)  # [later, earlier]
        duplicates: dict[int, int] = {}
        for r in range(1, len(order)):
            firsts = [c for c in range(r) if order[c] not in duplicates]
            c = max(firsts, key=lambda c: sim[r, c])
            if sim[r, c] >= DUPLICATE_OKS:
                duplicates[order[r]] = order[c]
        return duplicates

    def update(self, poses: Sequence[Pose], timestamp: float) -> list[Pose]:
        """Copies of ``poses`` (same order), each carrying its ``track_id``; ``timestamp``: the frame's time in s."""
        if not poses:
            self._expire(timestamp)
            return []
        xy = np.stack([p.keypoints for p in poses])
        ok = np.stack([p.keypoint_scores for p in poses]) >= self.keypoint_threshold
        track_xy = np.stack([t.keypoints for t in self.tracks]) if self.tracks else np.zeros((0, *xy.shape[1:]))
        track_ok = (np.stack([t.keypoint_scores for t in self.tracks]) if self.tracks
                    else np.zeros((0, ok.shape[1]))) >= self.keypoint_threshold
        counts = ok.sum(axis=1)
        comparable = sorted((i for i in range(len(poses)) if counts[i] >= self.min_keypoints),
                            key=lambda i: -poses[i].score)
        duplicates = self._duplicates(xy, ok, comparable)
        people = [i for i in comparable if i not in duplicates]
        strong = [i for i in people if poses[i].score >= self.min_pose_score]
        pairs = self._match(xy, ok, strong, track_xy, track_ok, [j for j, t in enumerate(self.tracks) if t.strong])
        taken_poses, taken_tracks = {i for i, _ in pairs}, {j for _, j in pairs}
        pairs += self._match(xy, ok, [i for i in people if i not in taken_poses], track_xy, track_ok,
                             [j for j in range(len(self.tracks)) if j not in taken_tracks])
        ids: dict[int, int] = {}
        for i, j in pairs:
            track = self.tracks[j]
            track.keypoints, track.keypoint_scores = poses[i].keypoints, poses[i].keypoint_scores
            track.last_seen, track.strong = float(timestamp), poses[i].score >= self.min_pose_score
            ids[i] = track.track_id
        for i in (i for i in range(len(poses)) if i not in ids and i not in duplicates):
            ids[i] = next(self._ids)
            if counts[i] >= self.min_keypoints:
                self.tracks.append(Track(ids[i], poses[i].keypoints, poses[i].keypoint_scores, float(timestamp),
                                         poses[i].score >= self.min_pose_score))
        for duplicate, original in duplicates.items():
            ids[duplicate] = ids[original]
        self._expire(timestamp)
        return [Pose(p.score, p.keypoints, p.keypoint_scores, ids[i]) for i, p in enumerate(poses)]

    def _expire(self, timestamp: float) -> None:
        """Drop the tracks older than max_age; keep the max_tracks first: strong ones, then the most recent."""
        self.tracks = [t for t in self.tracks if timestamp - t.last_seen <= self.max_age]
        self.tracks.sort(key=lambda t: (not t.strong, -t.last_seen))
        del self.tracks[self.max_tracks:]

    def reset(self) -> None:
        """Forget every track (ids keep counting up, so no id is reused)."""
        self.tracks = []
