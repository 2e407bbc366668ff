"""Report figures (matplotlib ``Figure`` objects, no pyplot, no global backend); save with :func:`save_figure`.

* Model outputs over an image: :func:`heatmap_grid`, :func:`offset_field`, :func:`displacement_field`.
* Layouts: :func:`side_by_side`, :func:`contact_sheet`.
* The visualize stage's per-image figures: :func:`render_val_figures`; its training curves:
  :func:`training_curves`.
* The generate_targets stage's preview of the ground truth: :func:`save_targets_preview`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from posenet.codec import PersonLabCodec, Targets
from posenet.constants import CHILD_IDS, NUM_EDGES, NUM_KEYPOINTS, PARENT_IDS, PART_NAMES, POSE_CHAIN
from posenet.drawing import MIN_PART_SCORE, MIN_POSE_SCORE, cell_centres, draw_poses, grid_to_image, part_index
from posenet.errors import PosenetError
from posenet.images import read_image
from posenet.io import atomic_path
from posenet.metrics_log import read_dvclive_metrics
from posenet.pose import Pose

if TYPE_CHECKING:
    from posenet.predict import Prediction, Predictor
    from posenet.target_store import PreviewSample

__all__ = ["PREVIEW_EDGES", "PREVIEW_PARTS", "benchmark_figure", "contact_sheet", "displacement_field",
           "ground_truth_poses", "heatmap_grid", "offset_field", "plot_targets", "render_val_figures", "save_figure",
           "save_targets_preview", "side_by_side", "strongest_part", "telling_edge", "training_curves"]


def save_figure(fig: Figure, path: str | os.PathLike, dpi: int = 100) -> None:
    """Save ``fig`` atomically (format from the extension, cropped to its content)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".") or "png", dpi=dpi, bbox_inches="tight")


def _show(ax: Axes, image: np.ndarray, title: str | None = None) -> None:
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
    fig = Figure(figsize=(18, 3 * (3 * aspect + 0.35) + 0.6), constrained_layout=True)
    axes = fig.subplots(3, 6)
    gray = np.repeat(cv2.cvtColor(image_rgb, cv2.COLOR_RGB2GRAY)[:, :, None], 3, axis=2)
    strong = _strong(prediction.poses, min_pose_score)
    _show(axes.flat[0], draw_poses(image_rgb, strong, min_pose_score=min_pose_score),
          f"{len(strong)} poses with score >= {min_pose_score}")
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
    scale_y, scale_x = prediction.scale_yx
    ys, xs = cell_centres(prediction)
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
    fig = Figure(figsize=(6 * n, 6 * aspect + 0.8), constrained_layout=True)
    axes = fig.subplots(1, n, squeeze=False)
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
    fig = Figure(figsize=(4 * cols, 4 * rows + 0.5), constrained_layout=True)
    axes = fig.subplots(rows, cols, squeeze=False)
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
    fig = Figure(figsize=(5 * len(panels), 4.2), constrained_layout=True)
    axes = fig.subplots(1, len(panels), squeeze=False)
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


# ----------------------------------------------------------------------------------------------------------
# generate_targets stage: the targets preview


def save_targets_preview(path: str | os.PathLike, samples: Sequence[PreviewSample], input_size: int,
                         output_stride: int, radius: float, empty_note: str) -> None:
    """Preview figure (PNG, written atomically): one row per sample of ``posenet.target_store.preview_samples``,
    four panels of ``plot_targets`` (disks, offsets, fwd, bwd displacements); ``empty_note`` is written instead
    when there is no sample."""
    rows = max(len(samples), 1)
    fig = Figure(figsize=(20, 5 * rows + 0.6))
    axes = fig.subplots(rows, 4, squeeze=False)
    for row, (title, image, kps, targets) in zip(axes, samples):
        plot_targets(row, image, kps, targets, output_stride, radius)
        row[0].set_ylabel(title, fontsize=9)
    if not samples:
        for ax in axes[0]:
            ax.axis("off")
        axes[0][0].text(0.0, 0.5, empty_note, fontsize=14)
    fig.suptitle(f"PersonLab targets over the letterboxed input ({input_size} px, stride {output_stride}, "
                 f"R = {radius:g} px); white: labelled keypoints and pose chain; arrows start at grid cells",
                 fontsize=12)
    fig.tight_layout(rect=(0, 0, 1, 0.97), h_pad=2.0)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=90)


PREVIEW_PARTS: tuple[int, ...] = (0, 9, 10, 15, 16)  # nose, wrists, ankles
PREVIEW_EDGES: tuple[int, ...] = (5, 6, 14, 15)  # left shoulder->elbow->wrist, right hip->knee->ankle


def plot_targets(axes: Sequence[Any], image: np.ndarray, keypoints: np.ndarray, targets: Targets,
                 output_stride: int, radius: float, parts: Sequence[int] = PREVIEW_PARTS,
                 edges: Sequence[int] = PREVIEW_EDGES) -> None:
    """Draw one image's targets on four matplotlib axes over the model-input image (RGB uint8 [H, W, 3]).

    Panels: heatmap disks of ``parts`` (skeleton of the labelled keypoints on top), their short-range
    offsets (cell -> keypoint arrows), forward and backward mid-range displacements of ``edges``
    (cell -> other end of the edge). One colour per part / edge, named in each panel's legend.
    """
    colours = matplotlib.colormaps["tab10"](np.arange(10))[:, :3]
    h, w = targets.heatmaps.shape[1:]
    s = output_stride
    cell_y, cell_x = PersonLabCodec(image.shape[:2], s, radius).cell_positions()
    extent = (cell_x[0] - s / 2, cell_x[-1] + s / 2, cell_y[-1] + s / 2, cell_y[0] - s / 2)  # cells centred
    cy, cx = np.meshgrid(cell_y, cell_x, indexing="ij")
    kps = np.asarray(keypoints, dtype=np.float64).reshape(-1, NUM_KEYPOINTS, 3)
    lab = kps[..., 2] > 0

    def base(ax: Any, title: str) -> None:
        ax.imshow(image, alpha=0.6)
        for a, b in zip(PARENT_IDS, CHILD_IDS):
            for p in np.flatnonzero(lab[:, a] & lab[:, b]):
                ax.plot(kps[p, [a, b], 0], kps[p, [a, b], 1], color="white", linewidth=0.8, zorder=2)
        ax.scatter(kps[lab, 0], kps[lab, 1], s=6, color="white", edgecolors="black", linewidths=0.4, zorder=3)
        ax.set_xlim(-0.5, image.shape[1] - 0.5)
        ax.set_ylim(image.shape[0] - 0.5, -0.5)
        ax.set_title(title, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])

    def arrows(ax: Any, vectors: np.ndarray, mask: np.ndarray, channels: Sequence[int],
               labels: Sequence[str]) -> None:
        n = mask.shape[0]
        for colour, c, label in zip(colours, channels, labels):
            m = mask[c] > 0
            ax.quiver(cx[m], cy[m], vectors[n + c][m], vectors[c][m], color=colour, angles="xy", scale_units="xy",
                      scale=1, width=0.005, headwidth=3.5, headlength=4, label=label, zorder=4)
        ax.legend(loc="lower left", fontsize=7, framealpha=0.8, handlelength=1.2)

    base(axes[0], f"heatmap disks (R = {radius:g} px, stride {s})")
    for colour, k in zip(colours, parts):
        rgba = np.zeros((h, w, 4))
        rgba[..., :3] = colour
        rgba[..., 3] = targets.heatmaps[k] * 0.55
        axes[0].imshow(rgba, extent=extent, interpolation="nearest", zorder=1)
        axes[0].scatter([], [], marker="s", color=colour, label=PART_NAMES[k])
    axes[0].legend(loc="lower left", fontsize=7, framealpha=0.8, handlelength=1.2)
    base(axes[1], "short-range offsets: cell -> keypoint")
    arrows(axes[1], targets.offsets, targets.offset_mask, parts, [PART_NAMES[k] for k in parts])
    names = [f"{PART_NAMES[PARENT_IDS[e]]}-{PART_NAMES[CHILD_IDS[e]]}" for e in edges]
    base(axes[2], "mid-range fwd: parent disk -> child")
    arrows(axes[2], targets.displacements_fwd, targets.fwd_mask, edges, [n.replace("-", " > ") for n in names])
    base(axes[3], "mid-range bwd: child disk -> parent")
    arrows(axes[3], targets.displacements_bwd, targets.bwd_mask, edges, [n.replace("-", " < ") for n in names])


def _latency_bar(phase: str) -> Callable[[dict[str, Any]], tuple[float, float, float, str]]:
    """A result -> (median ms, p10 gap, p90 gap, bar label: ms and the speed-up against eager) of ``phase``."""
    def bar(r: dict[str, Any]) -> tuple[float, float, float, str]:
        t = r[phase]
        label = f"{t['median_ms']:.0f}" + (f"\n{r['vs_eager'][phase]:.1f}x" if "vs_eager" in r else "")
        return t["median_ms"], t["median_ms"] - t["p10_ms"], t["p90_ms"] - t["median_ms"], label
    return bar


def _throughput_bar(r: dict[str, Any]) -> tuple[float, float, float, str] | None:
    """A result -> (images/s of its batch as streams, p10/p90 gaps, label: the gain over one image at a time);
    None when it has no batch timings."""
    if "batch" not in r:
        return None
    t = r["batch"]["streams"]
    fps = 1000.0 / np.array([t["median_ms"], t["p90_ms"], t["p10_ms"]])
    return fps[0], fps[0] - fps[1], fps[2] - fps[0], f"{fps[0]:.0f}\n{r['batch']['throughput_gain']:.1f}x"


def benchmark_figure(report: dict[str, Any]) -> Figure:
    """A ``posenet.bench`` report with backends side by side: grouped bars of median end-to-end and forward ms
    (p10-p90 error bars) per configuration, each bar labelled with its ms and its speed-up against eager, and,
    where the report has batch timings, the batch throughput in images/s labelled with its gain over batch 1."""
    results = report["results"]
    configs = list(dict.fromkeys((r["variant"], r["stride"], r["input_size"], r["device"], r["weights"])
                                 for r in results))
    backends = list(dict.fromkeys(r["backend"] for r in results))
    by_key = {(r["variant"], r["stride"], r["input_size"], r["device"], r["weights"], r["backend"]): r
              for r in results}
    labels = [f"{v.replace('mobilenet_', '')} s{s}, {n} px\n{d}" + (" (random init)" if w == "random" else "")
              for v, s, n, d, w in configs]
    panels = [("end to end", "end to end per image (ms)", _latency_bar("end_to_end")),
              ("forward", "forward per image (ms)", _latency_bar("forward"))]
    batched = [r for r in results if "batch" in r]
    if batched:
        b = batched[0]["batch"]
        panels.append((f"batch {b['size']} as {b['streams_used']} streams, {b['threads']} threads (x batch 1)",
                       "images per second", _throughput_bar))
    colors = ("#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860")
    width = 0.8 / len(backends)
    xs = np.arange(len(configs))
    fig = Figure(figsize=(max(8.0, 2.4 * len(configs) * len(panels) + 2), 4.8), dpi=120)
    axes = fig.subplots(1, len(panels))
    for ax, (title, ylabel, bar) in zip(axes, panels):
        for i, (backend, color) in enumerate(zip(backends, colors * 2)):
            rows = [by_key.get((*c, backend)) for c in configs]
            values = [(bar(r) if r else None) or (np.nan, 0.0, 0.0, "") for r in rows]
            bars = ax.bar(xs + (i - (len(backends) - 1) / 2) * width, [v[0] for v in values], width,
                          yerr=np.array([v[1:3] for v in values]).T, capsize=2, color=color, label=backend,
                          error_kw={"elinewidth": 1})
            ax.bar_label(bars, labels=[v[3] for v in values], padding=2, fontsize=6)
        ax.set_xticks(xs, labels, fontsize=8)
        ax.set_ylabel(ylabel)
        ax.set_title(title, fontsize=9)
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
        ax.margins(y=0.2)
    axes[0].legend(title="backend (median, p10-p90)", fontsize=7, title_fontsize=7)
    env = report["environment"]
    threads = env["torch_threads"]
    fig.suptitle(f"PoseNet speed per backend ({env['cpu']}, latency on {threads} torch thread{'s' * (threads != 1)}"
                 + (f", {env['cuda_device']}" if env.get("cuda_device") else "") + "; interleaved runs)", fontsize=9)
    fig.tight_layout()
    return fig
