"""TF.js PoseNet 2.2.2 reference cases for the decode/preprocess/predict tests (local copies + ../shared)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from posenet.pose import Pose, poses_from_json

TESTS = Path(__file__).resolve().parent
LOCAL = TESTS / "data" / "tfjs_reference"
SHARED_EVAL = TESTS.parents[1] / "shared" / "eval"
SHARED = SHARED_EVAL / "tfjs_reference"
LOCAL_CASES = sorted(LOCAL.rglob("*.npz"))
SHARED_CASES = sorted(SHARED.rglob("*.npz"))
# Where the photos of the local cases live (the shared ones: ../shared/eval/unlabeled, coco_mini/images).
LOCAL_IMAGE_DIRS = (LOCAL, TESTS / "data" / "coco_tiny" / "images")
KP_TOL, SCORE_TOL = 0.5, 1e-3


def load_case(npz: Path) -> tuple[dict[str, np.ndarray], dict]:
    """(arrays of <stem>.npz, <stem>.poses.json) of one reference case."""
    with np.load(npz) as data:
        arrays = {k: data[k] for k in data.files}
    return arrays, json.loads(npz.with_name(npz.stem + ".poses.json").read_text())


def image_path(npz: Path, ref: dict) -> Path:
    """The photo a case was made from."""
    if npz.is_relative_to(SHARED):
        folder = SHARED_EVAL / ("unlabeled" if npz.parent.name == "unlabeled" else "coco_mini/images")
        return folder / ref["source_file"]
    for folder in LOCAL_IMAGE_DIRS:
        if (folder / ref["source_file"]).is_file():
            return folder / ref["source_file"]
    raise FileNotFoundError(f"no photo {ref['source_file']} for {npz}")


def read_like_harness(path: Path) -> np.ndarray:
    """RGB uint8 as the reference harness decoded photos: OpenCV ignoring EXIF, BGR -> RGB."""
    import cv2

    return cv2.imread(str(path), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)[:, :, ::-1]


def case_id(npz: Path) -> str:
    return "/".join(npz.parts[-2:]).removesuffix(".npz")


def pose_diffs(got: list[Pose], ref: list[dict]) -> tuple[float, float]:
    """(max keypoint |dx|,|dy| px, max score diff over pose and keypoint scores); counts must match."""
    want = poses_from_json(ref)
    assert len(got) == len(want), f"{len(got)} poses, reference has {len(want)}"
    kp = max((float(np.abs(g.keypoints - w.keypoints).max()) for g, w in zip(got, want)), default=0.0)
    sc = max((max(abs(g.score - w.score), float(np.abs(g.keypoint_scores - w.keypoint_scores).max()))
              for g, w in zip(got, want)), default=0.0)
    return kp, sc
