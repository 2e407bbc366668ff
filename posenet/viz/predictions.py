"""The visualize stage's report: model outputs over an image (heatmaps, short-range offsets, mid-range
displacements) and skeletons against the ground truth, per val image."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from posenet.constants import NUM_EDGES, NUM_KEYPOINTS, PARENT_IDS, PART_NAMES, POSE_CHAIN
from posenet.errors import PosenetError
from posenet.io.media import read_image
from posenet.pose import Pose
from posenet.viz.drawing import MIN_PART_SCORE, MIN_POSE_SCORE, cell_centres, draw_poses, grid_to_image, part_index
from posenet.viz.figures import contact_sheet, save_figure, show_image, side_by_side

if TYPE_CHECKING:
    from posenet.codec.letterbox import Letterbox
    from posenet.inference.predictor import Prediction, Predictor

__all__ = ["displacement_field", "ground_truth_poses", "heatmap_grid", "offset_field", "render_val_figures",
           "strongest_part", "telling_edge"]


def _strong(poses: Sequence[Pose], min_pose_score: float) -> list[Pose]:
    return [p for p in poses if p.score >= min_pose_score]


def _grid(prediction: Prediction) -> tuple[Letterbox, int]:
    """Where ``prediction``'s output grid sits: its letterbox and output stride."""
    return prediction.letterbox, prediction.output_stride


def heatmap_grid(image_rgb: np.ndarray, prediction: Prediction, title: str | None = None,
                 min_pose_score: float = MIN_POSE_SCORE) -> Figure:
    """3 x 6 figure: the image with its poses, then the 17 per-keypoint heatmap scores over the image.

    Each panel is titled with the part name and its peak score; one shared colour bar (score 0..1).
    """
    aspect = image_rgb.shape[0] / image_rgb.shape[1]
    fig = Figure(figsize=(18, 3 * (3 * aspect + 0.35) + 0.6), constrained_layout=True)
    axes = fig.subplots(3, 6)
    gray = np.repeat(cv2.cvtColor(image_rgb, cv2.COLOR_RGB2GRAY)[:, :, None], 3, axis=2)
    strong = _strong(prediction.poses, min_pose_score)
    show_image(axes.flat[0], draw_poses(image_rgb, strong, min_pose_score=min_pose_score),
          f"{len(strong)} poses with score >= {min_pose_score}")
    mappable = None
    for k in range(NUM_KEYPOINTS):
        ax = axes.flat[k + 1]
        heat = np.clip(grid_to_image(prediction.heatmap_scores[:, :, k], *_grid(prediction)), 0, 1)
        show_image(ax, gray, f"{PART_NAMES[k]} (max {prediction.heatmap_scores[:, :, k].max():.2f})")
        mappable = ax.imshow(heat, cmap="jet", vmin=0.0, vmax=1.0, alpha=0.55)
    fig.colorbar(mappable, ax=axes, shrink=0.6, label="heatmap score (sigmoid)")
    if title:
        fig.suptitle(title, fontsize=14)
    return fig


def _quiver(ax: Axes, xs: np.ndarray, ys: np.ndarray, dx: np.ndarray, dy: np.ndarray, weight: np.ndarray,
            label: str) -> None:
    """Arrows of true image-pixel length from (xs, ys) by (dx, dy), coloured by ``weight`` in [0, 1]."""
    q = ax.quiver(xs, ys, dx, dy, weight, cmap="viridis", clim=(0.0, 1.0), angles="xy", scale_units="xy",
                  scale=1.0, width=0.004, headwidth=3.5, headlength=4.5)
    ax.figure.colorbar(q, ax=ax, shrink=0.7, label=label)


def _field_axes(image_rgb: np.ndarray, title: str) -> tuple[Figure, Axes]:
    height, width = image_rgb.shape[:2]
    fig = Figure(figsize=(9, 9 * height / width + 0.6), constrained_layout=True)
    ax = fig.subplots()
    ax.imshow(image_rgb, alpha=0.75)
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)
    ax.set_title(title, fontsize=11)
    ax.set_xlabel("x (px)")
    ax.set_ylabel("y (px)")
    return fig, ax


def offset_field(image_rgb: np.ndarray, prediction: Prediction, part: int | str, min_score: float = 0.05,
                 min_pose_score: float = MIN_POSE_SCORE) -> Figure:
    """Short-range offsets of ``part``: from each grid cell whose heatmap score >= ``min_score``, an
    arrow to where that cell places the keypoint (image pixels), coloured by the cell's score; the
    part's keypoints of poses scoring >= ``min_pose_score`` are marked with crosses."""
    k = part_index(part)
    scale_y, scale_x = prediction.letterbox.scale_yx
    ys, xs = cell_centres(*_grid(prediction), prediction.heatmap_scores.shape[:2])
    score = prediction.heatmap_scores[:, :, k]
    sel = np.nonzero(score >= min_score)
    dy = prediction.offsets[:, :, k][sel] * scale_y
    dx = prediction.offsets[:, :, k + NUM_KEYPOINTS][sel] * scale_x
    fig, ax = _field_axes(image_rgb,
                          f"short-range offsets: {PART_NAMES[k]} ({len(dy)} cells with score >= {min_score})")
    _quiver(ax, xs[sel[1]], ys[sel[0]], dx, dy, score[sel], "heatmap score of the cell")
    _mark_keypoints(ax, _strong(prediction.poses, min_pose_score), [k])
    return fig


def _mark_keypoints(ax: Axes, poses: Sequence[Pose], parts: Sequence[int]) -> None:
    for j, k in enumerate(parts):
        pts = np.array([p.keypoints[k] for p in poses]).reshape(-1, 2)
        ax.scatter(pts[:, 0], pts[:, 1], marker="x", s=80, linewidths=2.5, color=["red", "magenta"][j % 2],
                   label=f"decoded {PART_NAMES[k]}", zorder=5)
    if poses:
        ax.legend(loc="lower right", fontsize=9)


def displacement_field(image_rgb: np.ndarray, prediction: Prediction, edge: int, direction: str = "fwd",
                       min_score: float = 0.05, min_pose_score: float = MIN_POSE_SCORE) -> Figure:
    """Mid-range displacements of pose-chain edge ``edge`` (0..15): ``fwd`` arrows point from cells near
    the parent keypoint to the child, ``bwd`` from cells near the child to the parent. Cells whose
    source-part heatmap score >= ``min_score`` are drawn, coloured by that score."""
    if not 0 <= edge < NUM_EDGES:
        raise PosenetError(f"edge {edge} is not in 0..{NUM_EDGES - 1}")
    if direction not in ("fwd", "bwd"):
        raise PosenetError(f"direction {direction!r} is not fwd or bwd")
    parent, child = POSE_CHAIN[edge]
    source, target = (parent, child) if direction == "fwd" else (child, parent)
    disp = prediction.displacements_fwd if direction == "fwd" else prediction.displacements_bwd
    scale_y, scale_x = prediction.letterbox.scale_yx
    ys, xs = cell_centres(*_grid(prediction), prediction.heatmap_scores.shape[:2])
    score = prediction.heatmap_scores[:, :, source]
    sel = np.nonzero(score >= min_score)
    dy = disp[:, :, edge][sel] * scale_y
    dx = disp[:, :, edge + NUM_EDGES][sel] * scale_x
    fig, ax = _field_axes(image_rgb, f"mid-range displacements ({direction}): {PART_NAMES[source]} -> "
                                     f"{PART_NAMES[target]} ({len(dy)} cells)")
    _quiver(ax, xs[sel[1]], ys[sel[0]], dx, dy, score[sel], f"heatmap score of {PART_NAMES[source]}")
    _mark_keypoints(ax, _strong(prediction.poses, min_pose_score), [source, target])
    return fig


def ground_truth_poses(keypoints: np.ndarray) -> list[Pose]:
    """Annotated persons ``[P, 17, 3]`` (x, y, v; image px) with at least one labelled keypoint as Poses:
    labelled keypoints score 1, unlabelled 0."""
    return [Pose(score=1.0, keypoints=person[:, :2], keypoint_scores=(person[:, 2] > 0).astype(np.float64))
            for person in keypoints if (person[:, 2] > 0).any()]


def strongest_part(prediction: Prediction) -> int:
    """Index (0..16) of the keypoint whose heatmap score peaks highest anywhere on the output grid."""
    return int(np.argmax(prediction.heatmap_scores.reshape(-1, NUM_KEYPOINTS).max(axis=0)))


def telling_edge(prediction: Prediction) -> int:
    """The pose-chain edge with the longest forward displacement at its parent's heatmap peak, among edges
    whose parent peaks at >= 0.5 (long limbs show the mid-range field best; face edges are a few pixels)."""
    scores = prediction.heatmap_scores.reshape(-1, NUM_KEYPOINTS)
    peaks, cells = scores.max(axis=0), scores.argmax(axis=0)
    disp = prediction.displacements_fwd.reshape(-1, 2 * NUM_EDGES)
    edges = np.arange(NUM_EDGES)
    lengths = np.hypot(disp[cells[PARENT_IDS], edges], disp[cells[PARENT_IDS], edges + NUM_EDGES])
    strong = peaks[PARENT_IDS] >= 0.5
    return int(np.argmax(np.where(strong, lengths, -1.0))) if strong.any() else int(np.argmax(peaks[PARENT_IDS]))


def render_val_figures(records: Sequence[Mapping[str, Any]], persons: Mapping[int, np.ndarray],
                       images_dir: str | os.PathLike, pretrained: Predictor, trained: Predictor,
                       out_dir: str | os.PathLike, min_score: float = MIN_PART_SCORE) -> None:
    """Write the per-image figures of the visualize stage into ``out_dir`` for each COCO image ``record``
    (``id``, ``file_name`` under ``images_dir``; ``persons[id]``: annotated keypoints ``[P, 17, 3]`` image px):

    ``<stem>_skeletons.png`` (ground truth, pretrained, trained side by side; keypoints drawn from
    ``min_score``), the trained model's ``<stem>_heatmaps.png``, ``<stem>_offsets.png`` (strongest part) and
    ``<stem>_displacements.png`` (:func:`telling_edge`, forward), then ``contact_sheet.png`` of the trained
    model's skeletons on every image. Raises ImageError for an unreadable image.
    """
    out_dir = Path(out_dir)
    predictors = {"pretrained": pretrained, "trained": trained}
    sheet, sheet_titles = [], []
    for record in records:
        image = read_image(Path(images_dir) / record["file_name"])
        stem = Path(record["file_name"]).stem
        truth = ground_truth_poses(persons[int(record["id"])])
        runs = {tag: predictor.run(image) for tag, predictor in predictors.items()}
        panels = [draw_poses(image, truth, 0.5, min_pose_score=0.0, show_scores=False)] + [
            draw_poses(image, runs[t].poses, min_score) for t in ("pretrained", "trained")]
        titles = [f"ground truth: annotated persons: {len(truth)}"] + [
            f"{t}: poses with score >= {MIN_POSE_SCORE}: "
            f"{len(_strong(runs[t].poses, MIN_POSE_SCORE))}" for t in ("pretrained", "trained")]
        save_figure(side_by_side(panels, titles, suptitle=record["file_name"]), out_dir / f"{stem}_skeletons.png")
        run = runs["trained"]
        save_figure(heatmap_grid(image, run, title=f"{record['file_name']}: trained model heatmaps"),
                    out_dir / f"{stem}_heatmaps.png")
        save_figure(offset_field(image, run, strongest_part(run)), out_dir / f"{stem}_offsets.png")
        save_figure(displacement_field(image, run, telling_edge(run), "fwd"), out_dir / f"{stem}_displacements.png")
        sheet.append(panels[2])
        sheet_titles.append(f"{record['file_name']}\n{titles[2]}")
    save_figure(contact_sheet(sheet, sheet_titles, cols=3, suptitle="trained model on the val images"),
                out_dir / "contact_sheet.png")
