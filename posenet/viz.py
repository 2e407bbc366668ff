"""Drawing poses and model outputs.

* :func:`draw_poses`, :func:`heatmap_overlay`: OpenCV drawing on RGB uint8 images (infer, app, video).
* :func:`heatmap_grid`, :func:`offset_field`, :func:`displacement_field`, :func:`side_by_side`,
  :func:`contact_sheet`: matplotlib figures (Agg backend) for reports; save them with :func:`save_figure`.
* :func:`render_val_figures`: every per-image figure of the visualize stage for a set of val images.

Model outputs live on the output grid: cell ``(i, j)`` sits at model-input pixel ``(stride*i, stride*j)``,
which maps to original-image pixel ``(stride*i*scale_y - pad_top, stride*j*scale_x - pad_left)`` (the
letterbox of :class:`posenet.predict.Prediction` undone).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from posenet.constants import (COCO_PART_NAMES, NUM_EDGES, NUM_KEYPOINTS, PARENT_IDS, PART_NAMES,  # noqa: E402
                               POSE_CHAIN, SKELETON)
from posenet.errors import PosenetError  # noqa: E402
from posenet.images import read_image  # noqa: E402
from posenet.io import atomic_path  # noqa: E402
from posenet.pose import Pose  # noqa: E402

if TYPE_CHECKING:
    from posenet.predict import Prediction, Predictor

# RGB colours: left side orange, right side blue, centre (nose, cross-body limbs) green.
LEFT_COLOR = (255, 140, 0)
RIGHT_COLOR = (30, 144, 255)
CENTER_COLOR = (50, 205, 50)


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


# TF.js demo defaults: keypoints and poses below these scores are not drawn.
MIN_PART_SCORE = 0.1
MIN_POSE_SCORE = 0.15


def draw_poses(image_rgb: np.ndarray, poses: Sequence[Pose], min_part_score: float = MIN_PART_SCORE,
               min_pose_score: float = MIN_POSE_SCORE, show_scores: bool = True) -> np.ndarray:
    """Copy of ``image_rgb`` (uint8 [H, W, 3]) with skeletons, keypoints and pose scores drawn.

    Keypoints below ``min_part_score`` and limbs touching them are skipped; poses below
    ``min_pose_score`` are skipped (multi-pose decoding also returns weak duplicates whose keypoints
    belong to stronger poses). Left parts are orange, right parts blue, centre green; each pose's
    score is written above its top-most keypoint, strongest poses drawn last (on top). Line width and
    radius follow the image size.
    """
    out = np.ascontiguousarray(image_rgb, dtype=np.uint8).copy()
    size = min(out.shape[:2])
    thickness = max(1, round(size / 250))
    radius = max(2, round(size / 150))
    font_scale = max(0.4, size / 1200)
    for pose in sorted((p for p in poses if p.score >= min_pose_score), key=lambda p: p.score):
        ok = pose.keypoint_scores >= min_part_score
        pts = np.round(pose.keypoints).astype(np.int32)
        for a, b in SKELETON:
            if ok[a] and ok[b]:
                cv2.line(out, tuple(map(int, pts[a])), tuple(map(int, pts[b])), _color(a, b), thickness, cv2.LINE_AA)
        for k in np.flatnonzero(ok):
            centre = tuple(map(int, pts[k]))
            cv2.circle(out, centre, radius + 1, (255, 255, 255), -1, cv2.LINE_AA)
            cv2.circle(out, centre, radius, _color(int(k)), -1, cv2.LINE_AA)
        if show_scores and ok.any():
            top = int(np.argmin(np.where(ok, pose.keypoints[:, 1], np.inf)))
            _label(out, f"{pose.score:.2f}", pts[top] - np.array([0, 2 * radius + 2]), font_scale)
    return out


def _label(image: np.ndarray, text: str, anchor_xy: np.ndarray, font_scale: float) -> None:
    """White text on a dark box, its bottom-centre at ``anchor_xy``, kept inside the image."""
    font = cv2.FONT_HERSHEY_SIMPLEX
    thick = max(1, round(font_scale * 2))
    (tw, th), base = cv2.getTextSize(text, font, font_scale, thick)
    x = int(np.clip(anchor_xy[0] - tw // 2, 0, max(0, image.shape[1] - tw - 4)))
    y = int(np.clip(anchor_xy[1], th + 4, image.shape[0] - base - 1))
    cv2.rectangle(image, (x, y - th - 4), (x + tw + 4, y + base), (20, 20, 20), -1)
    cv2.putText(image, text, (x + 2, y - 2), font, font_scale, (255, 255, 255), thick, cv2.LINE_AA)


def _geometry(prediction: Prediction) -> tuple[float, float, float, float]:
    """(cell height, cell width, pad top, pad left) in original-image pixels for a Prediction.

    ``prediction.padding`` is (top, bottom, left, right) in image pixels, ``scale_yx`` image px per input px.
    """
    scale_y, scale_x = prediction.scale_yx
    pad_top, _, pad_left, _ = prediction.padding
    stride = prediction.output_stride
    return stride * scale_y, stride * scale_x, float(pad_top), float(pad_left)


def cell_centres(prediction: Prediction) -> tuple[np.ndarray, np.ndarray]:
    """Original-image pixel positions of the output grid: ys [h], xs [w]."""
    cell_h, cell_w, pad_top, pad_left = _geometry(prediction)
    grid_h, grid_w = prediction.heatmap_scores.shape[:2]
    return np.arange(grid_h) * cell_h - pad_top, np.arange(grid_w) * cell_w - pad_left


def grid_to_image(grid: np.ndarray, prediction: Prediction, image_hw: tuple[int, int]) -> np.ndarray:
    """Bilinearly resample an output-grid map ``[h, w]`` (float) to the original image ``[H, W]``."""
    cell_h, cell_w, pad_top, pad_left = _geometry(prediction)
    height, width = image_hw
    map_y = ((np.arange(height, dtype=np.float32) + pad_top) / cell_h)[:, None]
    map_x = ((np.arange(width, dtype=np.float32) + pad_left) / cell_w)[None, :]
    map_y, map_x = np.broadcast_to(map_y, (height, width)), np.broadcast_to(map_x, (height, width))
    return cv2.remap(np.ascontiguousarray(grid, dtype=np.float32), np.ascontiguousarray(map_x),
                     np.ascontiguousarray(map_y), cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def heatmap_overlay(image_rgb: np.ndarray, prediction: Prediction, part: int | str | None = None,
                    alpha: float = 0.7, colormap: int = cv2.COLORMAP_JET) -> np.ndarray:
    """Image blended with the heatmap score of ``part`` (index or name; None: max over all parts).

    Scores in [0, 1] are resampled to the image geometry (letterbox undone) and coloured with
    ``colormap``; the colour's weight is ``alpha * sqrt(score)``, so background stays visible.
    Returns RGB uint8 [H, W, 3].
    """
    scores = prediction.heatmap_scores
    grid = scores.max(axis=2) if part is None else scores[:, :, part_index(part)]
    heat = np.clip(grid_to_image(grid, prediction, image_rgb.shape[:2]), 0.0, 1.0)
    coloured = cv2.cvtColor(cv2.applyColorMap(np.round(heat * 255).astype(np.uint8), colormap), cv2.COLOR_BGR2RGB)
    weight = (alpha * np.sqrt(heat))[:, :, None]                 # background (score ~0) keeps the photo visible
    blended = image_rgb.astype(np.float32) * (1.0 - weight) + coloured.astype(np.float32) * weight
    return np.round(blended).astype(np.uint8)


# ----------------------------------------------------------------------------------------------------------
# matplotlib figures


def save_figure(fig: Figure, path: str | os.PathLike, dpi: int = 100) -> None:
    """Save ``fig`` atomically (format from the extension) and close it."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".") or "png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)


def _show(ax: plt.Axes, image: np.ndarray, title: str | None = None) -> None:
    ax.imshow(image)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=10)


def _strong(poses: Sequence[Pose], min_pose_score: float) -> list[Pose]:
    return [p for p in poses if p.score >= min_pose_score]


def heatmap_grid(image_rgb: np.ndarray, prediction: Prediction, title: str | None = None,
                 min_pose_score: float = MIN_POSE_SCORE) -> Figure:
    """3 x 6 figure: the image with its poses, then the 17 per-keypoint heatmap scores over the image.

    Each panel is titled with the part name and its peak score; one shared colour bar (score 0..1).
    """
    aspect = image_rgb.shape[0] / image_rgb.shape[1]
    fig, axes = plt.subplots(3, 6, figsize=(18, 3 * (3 * aspect + 0.35) + 0.6), constrained_layout=True)
    gray = np.repeat(cv2.cvtColor(image_rgb, cv2.COLOR_RGB2GRAY)[:, :, None], 3, axis=2)
    strong = _strong(prediction.poses, min_pose_score)
    _show(axes.flat[0], draw_poses(image_rgb, strong, min_pose_score=min_pose_score), f"{len(strong)} poses with score >= {min_pose_score}")
    mappable = None
    for k in range(NUM_KEYPOINTS):
        ax = axes.flat[k + 1]
        heat = np.clip(grid_to_image(prediction.heatmap_scores[:, :, k], prediction, image_rgb.shape[:2]), 0, 1)
        _show(ax, gray, f"{PART_NAMES[k]} (max {prediction.heatmap_scores[:, :, k].max():.2f})")
        mappable = ax.imshow(heat, cmap="jet", vmin=0.0, vmax=1.0, alpha=0.55)
    fig.colorbar(mappable, ax=axes, shrink=0.6, label="heatmap score (sigmoid)")
    if title:
        fig.suptitle(title, fontsize=14)
    return fig


def _quiver(ax: plt.Axes, xs: np.ndarray, ys: np.ndarray, dx: np.ndarray, dy: np.ndarray, weight: np.ndarray,
            label: str) -> None:
    """Arrows of true image-pixel length from (xs, ys) by (dx, dy), coloured by ``weight`` in [0, 1]."""
    q = ax.quiver(xs, ys, dx, dy, weight, cmap="viridis", clim=(0.0, 1.0), angles="xy", scale_units="xy",
                  scale=1.0, width=0.004, headwidth=3.5, headlength=4.5)
    ax.figure.colorbar(q, ax=ax, shrink=0.7, label=label)


def _field_axes(image_rgb: np.ndarray, title: str) -> tuple[Figure, plt.Axes]:
    height, width = image_rgb.shape[:2]
    fig, ax = plt.subplots(figsize=(9, 9 * height / width + 0.6), constrained_layout=True)
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
    scale_y, scale_x = prediction.scale_yx
    ys, xs = cell_centres(prediction)
    score = prediction.heatmap_scores[:, :, k]
    sel = np.nonzero(score >= min_score)
    dy = prediction.offsets[:, :, k][sel] * scale_y
    dx = prediction.offsets[:, :, k + NUM_KEYPOINTS][sel] * scale_x
    fig, ax = _field_axes(image_rgb, f"short-range offsets: {PART_NAMES[k]} ({len(dy)} cells with score >= {min_score})")
    _quiver(ax, xs[sel[1]], ys[sel[0]], dx, dy, score[sel], "heatmap score of the cell")
    _mark_keypoints(ax, _strong(prediction.poses, min_pose_score), [k])
    return fig


def _mark_keypoints(ax: plt.Axes, poses: Sequence[Pose], parts: Sequence[int]) -> None:
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
    scale_y, scale_x = prediction.scale_yx
    ys, xs = cell_centres(prediction)
    score = prediction.heatmap_scores[:, :, source]
    sel = np.nonzero(score >= min_score)
    dy = disp[:, :, edge][sel] * scale_y
    dx = disp[:, :, edge + NUM_EDGES][sel] * scale_x
    fig, ax = _field_axes(image_rgb, f"mid-range displacements ({direction}): {PART_NAMES[source]} -> "
                                     f"{PART_NAMES[target]} ({len(dy)} cells)")
    _quiver(ax, xs[sel[1]], ys[sel[0]], dx, dy, score[sel], f"heatmap score of {PART_NAMES[source]}")
    _mark_keypoints(ax, _strong(prediction.poses, min_pose_score), [source, target])
    return fig


def side_by_side(images: Sequence[np.ndarray], titles: Sequence[str] | None = None,
                 suptitle: str | None = None) -> Figure:
    """One row of RGB images with titles (e.g. pretrained vs trained skeletons)."""
    n = len(images)
    aspect = images[0].shape[0] / images[0].shape[1]
    fig, axes = plt.subplots(1, n, figsize=(6 * n, 6 * aspect + 0.8), constrained_layout=True, squeeze=False)
    for i, (ax, image) in enumerate(zip(axes.flat, images)):
        _show(ax, image, titles[i] if titles else None)
    if suptitle:
        fig.suptitle(suptitle, fontsize=14)
    return fig


def contact_sheet(images: Sequence[np.ndarray | str | os.PathLike], titles: Sequence[str] | None = None,
                  cols: int = 4, suptitle: str | None = None) -> Figure:
    """Grid of images (arrays or file paths; paths are titled by file name when ``titles`` is None)."""
    arrays = [read_image(im) if isinstance(im, (str, os.PathLike)) else im for im in images]
    if titles is None:
        titles = [Path(im).name if isinstance(im, (str, os.PathLike)) else "" for im in images]
    cols = max(1, min(cols, len(arrays)))
    rows = max(1, -(-len(arrays) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 4 * rows + 0.5), constrained_layout=True, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, title in zip(axes.flat, arrays, titles):
        _show(ax, image, title)
    if suptitle:
        fig.suptitle(suptitle, fontsize=14)
    return fig


# ----------------------------------------------------------------------------------------------------------
# visualize stage: ground truth vs pretrained vs trained on val images


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


# ----------------------------------------------------------------------------------------------------------
# training curves (DVCLive)


def read_dvclive_metrics(metrics_dir: str | os.PathLike) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """DVCLive step metrics ``<metrics_dir>/<group>/<name>.tsv`` -> {"group/name": (steps, values)}."""
    root = Path(metrics_dir)
    curves: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for path in sorted(root.rglob("*.tsv")):
        key = path.relative_to(root).with_suffix("").as_posix()
        lines = [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        if len(lines) < 2 or "step" not in lines[0]:
            continue
        header = lines[0]
        column = header.index(path.stem) if path.stem in header else len(header) - 1
        try:
            rows = np.array([[float(r[header.index("step")]), float(r[column])] for r in lines[1:]])
        except (ValueError, IndexError):
            raise PosenetError(f"{path}: not a DVCLive metric table (step and {path.stem} columns)") from None
        curves[key] = (rows[:, 0], rows[:, 1])
    return curves


def training_curves(metrics_dir: str | os.PathLike) -> Figure:
    """Training losses, validation loss, validation AP and learning rate against the step, one panel each
    (panels without data are left out); PosenetError when the folder holds no DVCLive metrics."""
    curves = read_dvclive_metrics(metrics_dir)
    if not curves:
        raise PosenetError(f"{metrics_dir}: no DVCLive metrics (*.tsv) found (run the train stage)")
    lr = [k for k in curves if k.rsplit("/", 1)[-1] == "lr"]
    ap = [k for k in curves if k.rsplit("/", 1)[-1].startswith(("AP", "AR")) and k not in lr]
    train = [k for k in curves if k.startswith("train/") and k not in lr + ap]
    val = [k for k in curves if k not in lr + ap + train]
    panels = [(t, ks, y) for t, ks, y in (("training losses", train, "loss"), ("validation loss", val, "loss"),
                                          ("validation AP / AR (COCO OKS)", ap, "AP, AR"), ("learning rate", lr, "lr"))
              if ks]
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4.2), constrained_layout=True, squeeze=False)
    for ax, (title, keys, ylabel) in zip(axes.flat, panels):
        for key in keys:
            steps, values = curves[key]
            ax.plot(steps, values, marker="o" if len(steps) <= 30 else None, markersize=4, label=key)
        ax.set_title(title, fontsize=11)
        ax.set_xlabel("step")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        if ylabel == "lr":
            ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
    fig.suptitle(f"training curves ({metrics_dir})", fontsize=12)
    return fig
