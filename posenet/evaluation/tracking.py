"""How well poses are tracked through labelled video frames: identity switches, labelled people still found once
tracked, the share of poses whose track goes on, jitter and keypoint error (``tools/track_eval.py``, docs/tracking.md
*Tracking*).

A labelled person counts as found in a frame when a pose matches it with COCO OKS >= 0.5 (one pose per person,
the pairs maximising the summed OKS). An identity switch is a labelled person found with another track id than
the last time it was found (CLEAR-MOT's ID switch).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from posenet.pose import Pose, keypoint_similarity

__all__ = ["LabelledFrame", "TrackingScore", "link_identities", "match_labels", "oks", "score_tracking"]


@dataclass
class LabelledFrame:
    """The labelled people of one frame: ``keypoints`` float64 [N, 17, 3] (x, y, v) px (v 0: unlabelled),
    ``areas`` [N] px^2 (COCO: the box area when there is no mask), ``identities`` [N] who each person is."""

    keypoints: np.ndarray
    areas: np.ndarray
    identities: list[int]


def oks(label: np.ndarray, area: float, xy: np.ndarray) -> float:
    """COCO object keypoint similarity of a pose's keypoints ``xy`` [17, 2] with a labelled person ``label``
    [17, 3] of box area ``area`` (px^2): the mean over labelled keypoints of exp(-d^2 / (2 area (2 sigma)^2))."""
    labelled = label[:, 2] > 0
    if not labelled.any():
        return 0.0
    d2 = ((label[:, :2] - xy) ** 2).sum(axis=1)
    return float(keypoint_similarity(d2, max(area, 1.0))[labelled].mean())


def match_labels(frame: LabelledFrame, poses: Sequence[Pose], threshold: float = 0.5) -> dict[int, int]:
    """{labelled person index: pose index} of the one-to-one pairs with the largest summed OKS, OKS >= threshold."""
    if not len(frame.identities) or not poses:
        return {}
    sim = np.array([[oks(label, area, pose.keypoints) for pose in poses]
                    for label, area in zip(frame.keypoints, frame.areas)])
    rows, cols = linear_sum_assignment(sim, maximize=True)
    return {int(r): int(c) for r, c in zip(rows, cols) if sim[r, c] >= threshold}


def link_identities(people: Sequence[np.ndarray]) -> list[list[int]]:
    """Identities for labels that have none (a YOLO export of consecutive frames): each frame's people [N, 17, 3]
    are linked to the previous frame's by the nearest centre of their labelled keypoints; a person left over gets
    a new identity."""
    identities: list[list[int]] = []
    previous: tuple[np.ndarray, list[int]] = (np.zeros((0, 2)), [])
    next_id = 0
    for persons in people:
        centres = np.array([p[p[:, 2] > 0, :2].mean(axis=0) for p in persons]).reshape(-1, 2)
        ids = [-1] * len(centres)
        if len(centres) and len(previous[0]):
            dist = np.linalg.norm(centres[:, None] - previous[0][None], axis=-1)
            for r, c in zip(*linear_sum_assignment(dist)):
                ids[r] = previous[1][c]
        for i in range(len(ids)):
            if ids[i] < 0:
                ids[i], next_id = next_id, next_id + 1
        identities.append(ids)
        previous = (centres, ids)
    return identities


@dataclass
class TrackingScore:
    """``person_frames`` labelled; ``found_untracked`` / ``found_tracked``: of them, found by the poses before /
    after tracking (and smoothing); ``lost``: (frame, identity) found before and not after; ``id_switches``;
    ``continued``: share of the shown poses (score >= the drawing threshold) whose track id was already in an
    earlier frame; ``jitter_px``: mean frame-to-frame acceleration |p[t+1] - 2 p[t] + p[t-1]| (px) of the found
    people's confident keypoints, over three frames of one track; ``label_jitter_px``: the same of the labels
    (real motion plus labelling noise); ``error_px``: mean distance of the found people's keypoints to the labels."""

    person_frames: int
    found_untracked: int
    found_tracked: int
    lost: list[tuple[int, int]]
    id_switches: int
    continued: float
    jitter_px: float
    label_jitter_px: float
    error_px: float


def _acceleration(points: dict[int, dict[int, np.ndarray]]) -> float:
    """Mean |p[t+1] - 2 p[t] + p[t-1]| over keys (who) and frames t with points [17, 2] (NaN: not counted)."""
    values = []
    for series in points.values():
        for t, p in series.items():
            if t - 1 in series and t + 1 in series:
                values.append(np.linalg.norm(series[t + 1] - 2 * p + series[t - 1], axis=1))
    stacked = np.concatenate(values) if values else np.zeros(0)
    stacked = stacked[np.isfinite(stacked)]
    return float(stacked.mean()) if stacked.size else float("nan")


def score_tracking(labels: Sequence[LabelledFrame], untracked: Sequence[Sequence[Pose]],
                   tracked: Sequence[Sequence[Pose]], keypoint_threshold: float = 0.3,
                   shown_score: float = 0.15) -> TrackingScore:
    """Score the ``tracked`` poses of each frame (``track_id`` set) against ``labels``; ``untracked``: the same
    frames' poses before tracking (what would be found without it)."""
    found_untracked = found_tracked = switches = 0
    lost: list[tuple[int, int]] = []
    last_id: dict[int, int] = {}
    seen_ids: set[int] = set()
    shown = continued = 0
    pose_points: dict[tuple[int, int], dict[int, np.ndarray]] = {}
    label_points: dict[int, dict[int, np.ndarray]] = {}
    errors = []
    for t, (frame, before, after) in enumerate(zip(labels, untracked, tracked)):
        before_match, after_match = match_labels(frame, before), match_labels(frame, after)
        found_untracked += len(before_match)
        found_tracked += len(after_match)
        for i, identity in enumerate(frame.identities):
            label = frame.keypoints[i]
            label_points.setdefault(identity, {})[t] = np.where(label[:, 2:] > 0, label[:, :2], np.nan)
            if i in before_match and i not in after_match:
                lost.append((t, identity))
            if i not in after_match:
                continue
            pose = after[after_match[i]]
            if identity in last_id and last_id[identity] != pose.track_id:
                switches += 1
            last_id[identity] = pose.track_id
            confident = (pose.keypoint_scores >= keypoint_threshold)[:, None]
            pose_points.setdefault((identity, pose.track_id), {})[t] = np.where(confident, pose.keypoints, np.nan)
            labelled = label[:, 2] > 0
            errors.extend(np.linalg.norm(pose.keypoints[labelled] - label[labelled, :2], axis=1))
        for pose in after:
            if pose.score >= shown_score:
                shown += 1
                continued += pose.track_id in seen_ids
        seen_ids.update(p.track_id for p in after)
    return TrackingScore(
        person_frames=sum(len(f.identities) for f in labels), found_untracked=found_untracked,
        found_tracked=found_tracked, lost=lost, id_switches=switches, continued=continued / shown if shown else 0.0,
        jitter_px=_acceleration(pose_points), label_jitter_px=_acceleration(label_points),
        error_px=float(np.mean(errors)) if errors else float("nan"))
