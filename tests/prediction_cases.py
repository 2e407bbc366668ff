"""Synthetic poses and predictions for the drawing and figure tests (real letterbox geometry, chosen maps)."""

from __future__ import annotations

import numpy as np

from posenet.codec.letterbox import letterbox
from posenet.constants import NUM_KEYPOINTS
from posenet.inference.predictor import Prediction
from posenet.pose import Pose


def synthetic_pose(score: float, xy: tuple[float, float], part_score: float = 0.9) -> Pose:
    keypoints = np.array(xy, float) + np.stack([np.arange(NUM_KEYPOINTS) * 3.0, np.arange(NUM_KEYPOINTS) * 4.0], 1)
    return Pose(score, keypoints, np.full(NUM_KEYPOINTS, part_score))


def synthetic_prediction(image_hw: tuple[int, int], input_size: int = 65, stride: int = 8, poses=()) -> Prediction:
    """Synthetic prediction with zero maps, geometry from the real letterbox."""
    box = letterbox(image_hw, (input_size, input_size))
    g = (input_size - 1) // stride + 1
    return Prediction(poses=list(poses), heatmap_scores=np.zeros((g, g, 17), np.float32),
                      offsets=np.zeros((g, g, 34), np.float32), displacements_fwd=np.zeros((g, g, 32), np.float32),
                      displacements_bwd=np.zeros((g, g, 32), np.float32), letterbox=box,
                      output_stride=stride)
