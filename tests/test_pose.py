"""Pose record and its JSON (TF.js poses.json schema)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from reference_cases import LOCAL

from posenet.constants import PART_NAMES
from posenet.errors import PosenetError
from posenet.pose import Pose, poses_from_json, poses_to_json


def test_round_trip_reference_json():
    ref = json.loads((LOCAL / "three_people.poses.json").read_text())["multi_poses"]
    poses = poses_from_json(ref)
    assert len(poses) == 4 and poses[0].keypoints.shape == (17, 2)
    assert poses_to_json(poses) == ref
    nose = ref[0]["keypoints"][0]
    assert poses[0].keypoints[0].tolist() == [nose["x"], nose["y"]]


def test_to_dict_schema_and_scaled():
    pose = Pose(0.5, np.arange(34).reshape(17, 2), np.full(17, 0.25))
    d = pose.to_dict()
    assert [k["part"] for k in d["keypoints"]] == list(PART_NAMES)
    assert d["keypoints"][1] == {"part": "leftEye", "score": 0.25, "x": 2.0, "y": 3.0}
    json.dumps(d)
    scaled = pose.scaled((2.0, 3.0), (10.0, 1.0))   # y*2-10, x*3-1
    assert scaled.keypoints[1].tolist() == [5.0, -4.0] and scaled.score == 0.5


def test_malformed_json_raises():
    with pytest.raises(PosenetError, match="keypoints"):
        poses_from_json([{"score": 1.0}])
    with pytest.raises(PosenetError, match="list"):
        poses_from_json({"score": 1.0, "keypoints": []})
    with pytest.raises(PosenetError, match="17"):
        poses_from_json([{"score": 1.0, "keypoints": [{"part": "nose", "score": 1, "x": 0, "y": 0}]}])
