"""posenet.evaluation.tracking: COCO OKS as pycocotools has it, identity switches, people lost by tracking, jitter."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from reference_cases import LOCAL

from posenet.evaluation.tracking import LabelledFrame, link_identities, match_labels, oks, score_tracking
from posenet.pose import Pose, poses_from_json


def person() -> Pose:
    """A real person found by TF.js PoseNet in a real photo (three_people)."""
    return poses_from_json(json.loads((LOCAL / "three_people.poses.json").read_text())["multi_poses"])[0]


def label_of(pose: Pose, shift=(0.0, 0.0)) -> np.ndarray:
    return np.column_stack([pose.keypoints + shift, np.where(pose.keypoint_scores > 0.3, 2.0, 0.0)])


def test_oks_is_pycocotools():
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    pose = person()
    label = label_of(pose, (4.0, -3.0))
    area = 5000.0
    gt = {"images": [{"id": 1, "width": 1000, "height": 1000}], "categories": [{"id": 1, "name": "person"}],
          "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "area": area,
                           "bbox": [0, 0, 100, 50], "keypoints": label.ravel().tolist(),
                           "num_keypoints": int((label[:, 2] > 0).sum())}]}
    coco = COCO()
    coco.dataset = gt
    coco.createIndex()
    dt = coco.loadRes([{"image_id": 1, "category_id": 1, "score": 1.0,
                        "keypoints": np.column_stack([pose.keypoints, np.ones(17)]).ravel().tolist()}])
    evaluator = COCOeval(coco, dt, "keypoints")
    evaluator.evaluate()
    assert oks(label, area, pose.keypoints) == pytest.approx(float(evaluator.ious[(1, 1)][0, 0]), rel=1e-9)


def test_match_labels_is_one_to_one():
    pose = person()
    frame = LabelledFrame(np.stack([label_of(pose), label_of(pose, (300, 0))]), np.array([8000.0, 8000.0]), [0, 1])
    near = dataclasses.replace(pose, keypoints=pose.keypoints + 1)
    far = dataclasses.replace(pose, keypoints=pose.keypoints + 150)                 # halfway: matches no one
    assert match_labels(frame, [far, near, near]) in ({0: 1}, {0: 2})


def test_link_identities_follows_the_nearest_centre():
    a, b = label_of(person()), label_of(person(), (400, 0))
    frames = [np.stack([a, b]), np.stack([b + [[5, 0, 0]], a + [[5, 0, 0]]]), np.stack([a]),
              np.stack([a, b, a + [[0, 300, 0]]])]
    assert link_identities(frames) == [[0, 1], [1, 0], [0], [0, 2, 3]]


def test_score_counts_switches_losses_and_continuation():
    pose = person()
    labels, untracked, tracked = [], [], []
    for t in range(6):
        shift = np.array([5.0 * t, 0.0])
        labels.append(LabelledFrame(label_of(pose, shift)[None], np.array([8000.0]), [0]))
        moved = dataclasses.replace(pose, keypoints=pose.keypoints + shift)
        untracked.append([moved])
        track_id = 1 if t < 3 else 2                                                   # one identity switch
        tracked.append([dataclasses.replace(moved, track_id=track_id)] if t != 4 else [])   # frame 4: lost
    s = score_tracking(labels, untracked, tracked)
    assert (s.person_frames, s.found_untracked, s.found_tracked, s.lost, s.id_switches) == (6, 6, 5, [(4, 0)], 1)
    assert s.continued == pytest.approx(3 / 5)                                        # t = 1, 2, 5 go on
    assert s.jitter_px == pytest.approx(0.0, abs=1e-9)                               # uniform motion
    assert s.label_jitter_px == pytest.approx(0.0, abs=1e-9) and s.error_px == pytest.approx(0.0, abs=1e-9)
