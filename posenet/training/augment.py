"""Training-time geometry: one 2x3 affine matrix maps an original image to the model input.

Without augmentation the matrix is exactly the Predictor's geometry (TF.js ``padAndResizeTo``: symmetric
letterbox rounded with ``floor(x + 0.5)``, then a resize with ``src = dst * in / out``, no half-pixel
shift), so train and eval see the same input (up to uint8 rounding; when upscaling, the last row/column fades to
black where TF repeats the edge). Augmentation (horizontal flip with left/right swap, scale,
rotation, crop/shift) composes further affine steps in model-input space; the image is warped once with
``cv2.warpAffine`` and the keypoints go through the same matrix. Coordinates are pixel indices (pixel
``i`` at coordinate ``i``), the convention of both ``cv2.warpAffine`` and the TF.js resize.
"""

from __future__ import annotations

import cv2
import numpy as np

from posenet.codec.letterbox import letterbox
from posenet.constants import FLIP_PERMUTATION
from posenet.params import AugmentParams

__all__ = ["apply", "hflip_matrix", "letterbox_matrix", "random_matrix", "transform_keypoints",
           "warp"]


def letterbox_matrix(image_hw: tuple[int, int], input_hw: tuple[int, int]) -> np.ndarray:
    """The 3x3 matrix taking original-image pixels to model-input pixels (the Predictor's letterbox + resize).

    image_hw: (h, w) of the original image; input_hw: (Rh, Rw) of the model input.
    """
    box = letterbox(image_hw, input_hw)
    top, _, left, _ = box.padding
    scale_y, scale_x = box.scale_yx
    return np.array([[1.0 / scale_x, 0.0, left / scale_x],
                     [0.0, 1.0 / scale_y, top / scale_y],
                     [0.0, 0.0, 1.0]])


def hflip_matrix(width: int) -> np.ndarray:
    """Mirror in model-input space: ``x -> width - 1 - x`` (the TF.js flip convention)."""
    return np.array([[-1.0, 0.0, width - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])


def random_matrix(rng: np.random.Generator, input_hw: tuple[int, int], aug: AugmentParams) -> tuple[np.ndarray, bool]:
    """Draw one augmentation in model-input space; returns (3x3 matrix, flipped).

    Scale s uniform in ``aug.scale`` and rotation uniform in ``[-aug.rotate, aug.rotate]`` degrees about
    the canvas centre; with ``aug.crop`` a shift uniform in ``+-|s - 1| / 2`` of the canvas per axis, so
    a zoomed-in view stays inside the zoomed canvas and a zoomed-out one inside the canvas.
    """
    h, w = input_hw
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    flipped = bool(rng.random() < aug.hflip)
    scale = float(rng.uniform(aug.scale[0], aug.scale[1]))
    angle = float(rng.uniform(-aug.rotate, aug.rotate))
    shift = rng.uniform(-0.5, 0.5, size=2) * abs(scale - 1.0) * np.array([w, h]) if aug.crop else np.zeros(2)
    rot = np.eye(3)
    rot[:2] = cv2.getRotationMatrix2D((cx, cy), angle, scale)
    rot[:2, 2] += shift
    return (rot @ hflip_matrix(w) if flipped else rot), flipped


def transform_keypoints(keypoints: np.ndarray, matrix: np.ndarray, input_hw: tuple[int, int],
                        flipped: bool = False) -> np.ndarray:
    """Map keypoints [P,17,3] (x, y, v) through a 3x3 matrix; a flip swaps left/right parts.

    Points that leave the canvas ``[0, W-1] x [0, H-1]`` get v = 0 (their x, y are kept).
    """
    kps = np.asarray(keypoints, dtype=np.float64).reshape(-1, 17, 3).copy()
    xy1 = np.concatenate([kps[..., :2], np.ones_like(kps[..., :1])], axis=-1)
    kps[..., :2] = xy1 @ matrix[:2].T
    if flipped:
        kps = kps[:, FLIP_PERMUTATION]
    h, w = input_hw
    inside = (kps[..., 0] >= 0) & (kps[..., 0] <= w - 1) & (kps[..., 1] >= 0) & (kps[..., 1] <= h - 1)
    kps[..., 2] = np.where(inside, kps[..., 2], 0.0)
    return kps


def warp(image: np.ndarray, matrix: np.ndarray, input_hw: tuple[int, int]) -> np.ndarray:
    """Warp an RGB uint8 image [H,W,3] to the model input [Rh,Rw,3] (bilinear, black outside)."""
    h, w = input_hw
    return cv2.warpAffine(image, matrix[:2], (w, h), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))


def apply(image: np.ndarray, keypoints: np.ndarray, input_hw: tuple[int, int],
          rng: np.random.Generator | None = None, aug: AugmentParams | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Letterbox an image and its keypoints [P,17,3] to ``input_hw``, augmenting when ``rng`` and ``aug`` are given.

    Returns (RGB uint8 [Rh,Rw,3], keypoints [P,17,3] float64 in model-input pixels).
    """
    matrix = letterbox_matrix(image.shape[:2], input_hw)
    flipped = False
    if rng is not None and aug is not None:
        extra, flipped = random_matrix(rng, input_hw, aug)
        matrix = extra @ matrix
    return warp(image, matrix, input_hw), transform_keypoints(keypoints, matrix, input_hw, flipped)
