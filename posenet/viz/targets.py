"""The generate_targets stage's report: a preview of the materialised PersonLab ground truth."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from posenet.codec.personlab import PersonLabCodec, Targets
from posenet.constants import CHILD_IDS, NUM_KEYPOINTS, PARENT_IDS, PART_NAMES
from posenet.io.atomic import atomic_path

if TYPE_CHECKING:
    from posenet.training.target_store import PreviewSample

__all__ = ["PREVIEW_EDGES", "PREVIEW_PARTS", "plot_targets", "save_targets_preview"]


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
