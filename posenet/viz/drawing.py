"""OpenCV drawing on RGB uint8 images for runtime overlays (infer, app, video); no matplotlib.

* :func:`draw_poses`: skeletons, keypoints and pose scores; a tracked pose in its track's colour with ``#id``.
* :func:`draw_label`: white text on a dark box (pose labels, the live view's fps).
* :func:`heatmap_overlay`: a part's heatmap score blended over the image, letterbox undone.

Model outputs live on the output grid: cell ``(i, j)`` sits at model-input pixel ``(stride*i, stride*j)``
(``posenet.codec.personlab``), which maps to original-image pixel ``(stride*i*scale_y - pad_top, stride*j*scale_x -
pad_left)`` (the letterbox of :class:`posenet.predict.Prediction` undone).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import cv2
import numpy as np

from posenet.constants import COCO_PART_NAMES, MIN_PART_SCORE, MIN_POSE_SCORE, NUM_KEYPOINTS, PART_NAMES, SKELETON
from posenet.errors import PosenetError
from posenet.pose import Pose

if TYPE_CHECKING:
    from posenet.codec.letterbox import Letterbox

__all__ = ["CENTER_COLOR", "LEFT_COLOR", "MIN_PART_SCORE", "MIN_POSE_SCORE", "RIGHT_COLOR", "TRACK_COLORS",
           "cell_centres", "draw_label", "draw_poses", "grid_to_image", "heatmap_overlay", "part_index", "track_color"]

# RGB colours: left side orange, right side blue, centre (nose, cross-body limbs) green.
LEFT_COLOR = (255, 140, 0)
RIGHT_COLOR = (30, 144, 255)
CENTER_COLOR = (50, 205, 50)


# RGB colours of tracked people, one per track id (cycled): Sasha Trubetskoy's 20 distinct colours, without white,
# black and the greys, which vanish on bright or dark frames.
TRACK_COLORS: tuple[tuple[int, int, int], ...] = (
    (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180), (70, 240, 240),
    (240, 50, 230), (210, 245, 60), (250, 190, 212), (0, 128, 128), (220, 190, 255), (170, 110, 40),
    (255, 250, 200), (128, 0, 0), (170, 255, 195), (128, 128, 0), (255, 215, 180), (0, 0, 128),
)


def track_color(track_id: int) -> tuple[int, int, int]:
    """The RGB colour of track ``track_id`` (ids 1, 2, ... take the palette in order)."""
    return TRACK_COLORS[(track_id - 1) % len(TRACK_COLORS)]


def _side(k: int) -> int:
    """-1 centre (nose), 0 left, 1 right: COCO puts left parts at odd indices, right at even."""
    return -1 if k == 0 else (0 if k % 2 == 1 else 1)


def _color(*parts: int) -> tuple[int, int, int]:
    sides = {_side(k) for k in parts}
    if sides == {0}:
        return LEFT_COLOR
    if sides == {1}:
        return RIGHT_COLOR
    return CENTER_COLOR


def part_index(part: int | str) -> int:
    """Keypoint index from an index, a TF.js name (``leftWrist``) or a COCO name (``left_wrist``)."""
    if isinstance(part, (int, np.integer)) and 0 <= part < NUM_KEYPOINTS:
        return int(part)
    if isinstance(part, str):
        if part.isdigit():
            return part_index(int(part))
        for names in (PART_NAMES, COCO_PART_NAMES):
            if part in names:
                return names.index(part)
    raise PosenetError(f"unknown keypoint {part!r} (use 0..16 or one of {', '.join(PART_NAMES)})")




def draw_poses(image_rgb: np.ndarray, poses: Sequence[Pose], min_part_score: float = MIN_PART_SCORE,
               min_pose_score: float = MIN_POSE_SCORE, show_scores: bool = True) -> np.ndarray:
    """Copy of ``image_rgb`` (uint8 [H, W, 3]) with skeletons, keypoints and pose scores drawn.

    Keypoints below ``min_part_score`` and limbs touching them are skipped; poses below
    ``min_pose_score`` are skipped (multi-pose decoding also returns weak duplicates whose keypoints
    belong to stronger poses). Left parts are orange, right parts blue, centre green; a pose with a
    ``track_id`` is drawn whole in its track's colour (:func:`track_color`) and labelled ``#id``. Each
    pose's label (score, ``#id score`` when tracked) sits above its top-most keypoint, strongest poses
    drawn last (on top). Line width and radius follow the image size.
    """
    out = np.ascontiguousarray(image_rgb, dtype=np.uint8).copy()
    size = min(out.shape[:2])
    thickness = max(1, round(size / 250))
    radius = max(2, round(size / 150))
    font_scale = max(0.4, size / 1200)
    for pose in sorted((p for p in poses if p.score >= min_pose_score), key=lambda p: p.score):
        ok = pose.keypoint_scores >= min_part_score
        pts = np.round(pose.keypoints).astype(np.int32)
        tracked = pose.track_id is not None
        for a, b in SKELETON:
            if ok[a] and ok[b]:
                color = track_color(pose.track_id) if tracked else _color(a, b)
                cv2.line(out, tuple(map(int, pts[a])), tuple(map(int, pts[b])), color, thickness, cv2.LINE_AA)
        for k in np.flatnonzero(ok):
            centre = tuple(map(int, pts[k]))
            cv2.circle(out, centre, radius + 1, (255, 255, 255), -1, cv2.LINE_AA)
            cv2.circle(out, centre, radius, track_color(pose.track_id) if tracked else _color(int(k)), -1, cv2.LINE_AA)
        text = " ".join(([f"#{pose.track_id}"] if tracked else []) + ([f"{pose.score:.2f}"] if show_scores else []))
        if text and ok.any():
            top = int(np.argmin(np.where(ok, pose.keypoints[:, 1], np.inf)))
            draw_label(out, text, pts[top] - np.array([0, 2 * radius + 2]), font_scale)
    return out


def draw_label(image: np.ndarray, text: str, anchor_xy: np.ndarray, font_scale: float) -> None:
    """White text on a dark box drawn into ``image`` (RGB uint8, in place), its bottom-centre at ``anchor_xy``
    (x, y px), kept inside the image."""
    font = cv2.FONT_HERSHEY_SIMPLEX
    thick = max(1, round(font_scale * 2))
    (tw, th), base = cv2.getTextSize(text, font, font_scale, thick)
    x = int(np.clip(anchor_xy[0] - tw // 2, 0, max(0, image.shape[1] - tw - 4)))
    y = int(np.clip(anchor_xy[1], th + 4, image.shape[0] - base - 1))
    cv2.rectangle(image, (x, y - th - 4), (x + tw + 4, y + base), (20, 20, 20), -1)
    cv2.putText(image, text, (x + 2, y - 2), font, font_scale, (255, 255, 255), thick, cv2.LINE_AA)


def _geometry(box: Letterbox, output_stride: int) -> tuple[float, float, float, float]:
    """(cell height, cell width, pad top, pad left) in original-image pixels of an output grid at ``output_stride``
    for an image placed in the model input by ``box``."""
    scale_y, scale_x = box.scale_yx
    pad_top, _, pad_left, _ = box.padding
    return output_stride * scale_y, output_stride * scale_x, float(pad_top), float(pad_left)


def cell_centres(box: Letterbox, output_stride: int, grid_hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Original-image pixel positions of an output grid of ``grid_hw`` cells: ys [h], xs [w]."""
    cell_h, cell_w, pad_top, pad_left = _geometry(box, output_stride)
    return np.arange(grid_hw[0]) * cell_h - pad_top, np.arange(grid_hw[1]) * cell_w - pad_left


def grid_to_image(grid: np.ndarray, box: Letterbox, output_stride: int) -> np.ndarray:
    """Bilinearly resample an output-grid map ``[h, w]`` (float) to the original image ``[H, W]`` (``box.image_hw``)."""
    cell_h, cell_w, pad_top, pad_left = _geometry(box, output_stride)
    height, width = box.image_hw
    map_y = ((np.arange(height, dtype=np.float32) + pad_top) / cell_h)[:, None]
    map_x = ((np.arange(width, dtype=np.float32) + pad_left) / cell_w)[None, :]
    map_y, map_x = np.broadcast_to(map_y, (height, width)), np.broadcast_to(map_x, (height, width))
    return cv2.remap(np.ascontiguousarray(grid, dtype=np.float32), np.ascontiguousarray(map_x),
                     np.ascontiguousarray(map_y), cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def heatmap_overlay(image_rgb: np.ndarray, heatmap_scores: np.ndarray, box: Letterbox, output_stride: int,
                    part: int | str | None = None, alpha: float = 0.7, colormap: int = cv2.COLORMAP_JET) -> np.ndarray:
    """Image blended with the heatmap score of ``part`` (index or name; None: max over all parts).

    heatmap_scores: [h, w, 17] in [0, 1] on the output grid of the model input ``box`` placed the image in.
    Scores are resampled to the image geometry (letterbox undone) and coloured with
    ``colormap``; the colour's weight is ``alpha * sqrt(score)``, so background stays visible.
    Returns RGB uint8 [H, W, 3].
    """
    grid = heatmap_scores.max(axis=2) if part is None else heatmap_scores[:, :, part_index(part)]
    heat = np.clip(grid_to_image(grid, box, output_stride), 0.0, 1.0)
    coloured = cv2.cvtColor(cv2.applyColorMap(np.round(heat * 255).astype(np.uint8), colormap), cv2.COLOR_BGR2RGB)
    weight = (alpha * np.sqrt(heat))[:, :, None]                 # background (score ~0) keeps the photo visible
    blended = image_rgb.astype(np.float32) * (1.0 - weight) + coloured.astype(np.float32) * weight
    return np.round(blended).astype(np.uint8)
