"""PersonLab ground truth for PoseNet: heatmap disks, short-range offsets, mid-range displacements.

Everything is in the model's own layout (TF.js PoseNet): channels first, offsets ``[17 dy | 17 dx]``,
displacements ``[16 dy | 16 dx]`` with edge ``e = POSE_CHAIN[e]``; forward goes parent -> child, backward
child -> parent. Grid cell ``(i, j)`` sits at model-input pixel ``(stride * i, stride * j)`` (no half-cell
shift), so ``keypoint = cell + offset`` exactly as the decoder reads it.

Labelled keypoints: every keypoint with ``v > 0`` (COCO ``v = 1`` "labelled, not visible" and ``v = 2``
"labelled, visible") counts, as in PersonLab: an occluded joint still has a known position that the network
should learn to point at. Keypoints with ``v <= 0`` or non-finite coordinates are ignored. Keypoints outside
the input canvas still own the disk pixels that fall inside it (a crop keeps the part of the disk it shows).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from posenet.constants import CHILD_IDS, NUM_KEYPOINTS, PARENT_IDS, PART_NAMES
from posenet.errors import ImageError
from posenet.io import atomic_path, write_json_atomic, write_npz_atomic

log = logging.getLogger(__name__)


class Targets(NamedTuple):
    """Ground truth of one image, float32, channels first. ``h, w`` = output grid size."""

    heatmaps: np.ndarray  # [17, h, w] 1 inside a disk of radius R around a labelled keypoint, else 0
    offsets: np.ndarray  # [34, h, w] keypoint - cell position (dy for 17 parts, then dx), input px
    offset_mask: np.ndarray  # [17, h, w] where offsets are defined (= heatmaps)
    displacements_fwd: np.ndarray  # [32, h, w] child - cell, in the parent's disk (dy 16 edges, then dx)
    displacements_bwd: np.ndarray  # [32, h, w] parent - cell, in the child's disk
    fwd_mask: np.ndarray  # [16, h, w] parent disk pixel whose owner also has the child labelled
    bwd_mask: np.ndarray  # [16, h, w] child disk pixel whose owner also has the parent labelled


def output_grid_size(input_hw: tuple[int, int], output_stride: int) -> tuple[int, int]:
    """Model output grid ``(h, w) = ((H - 1) // stride + 1, (W - 1) // stride + 1)``."""
    return (int(input_hw[0]) - 1) // output_stride + 1, (int(input_hw[1]) - 1) // output_stride + 1


def build_targets(
    keypoints: np.ndarray,
    input_hw: tuple[int, int],
    output_stride: int,
    radius: float,
) -> Targets:
    """Build the PersonLab targets of one image.

    Args:
        keypoints: ``[P, 17, 3]`` ``(x, y, v)`` per person in model-input pixels; ``P`` may be 0.
        input_hw: model input size ``(H, W)`` in pixels.
        output_stride: 8, 16 or 32.
        radius: disk radius R in model-input pixels (PersonLab: 32).

    Where the disks of several people overlap, the person whose keypoint is nearest owns the pixel
    (offsets and displacements both follow that owner). A displacement is only defined (masked in) when
    both ends of the edge are labelled for the owning person.
    """
    kps = np.asarray(keypoints, dtype=np.float64).reshape(-1, NUM_KEYPOINTS, 3)
    h, w = output_grid_size(input_hw, output_stride)
    ys = (np.arange(h, dtype=np.float64) * output_stride)[:, None]  # [h, 1]
    xs = (np.arange(w, dtype=np.float64) * output_stride)[None, :]  # [1, w]
    if kps.shape[0] == 0:  # no person: one without labelled keypoints gives the all-zero targets
        kps = np.zeros((1, NUM_KEYPOINTS, 3))
    kx, ky = kps[..., 0], kps[..., 1]  # [P, 17]
    labelled = (kps[..., 2] > 0) & np.isfinite(kx) & np.isfinite(ky)  # [P, 17]

    # Squared distance (float32: the hot spot) of every (person, part, cell); unlabelled keypoints are
    # infinitely far. The nearest person owns the cell (first person on exact ties); a running minimum
    # over the few persons is faster than argmin over the strided person axis.
    far_y = np.where(labelled, ky, np.inf).astype(np.float32)[..., None, None]
    far_x = np.where(labelled, kx, np.inf).astype(np.float32)[..., None, None]
    d2 = (ys.astype(np.float32) - far_y) ** 2 + (xs.astype(np.float32) - far_x) ** 2  # [P, 17, h, w]
    best = d2[0].copy()
    owner = np.zeros(best.shape, dtype=np.intp)  # [17, h, w] nearest person per part and cell
    for p in range(1, len(kps)):
        nearer = d2[p] < best
        owner[nearer] = p
        np.minimum(best, d2[p], out=best)
    in_disk = best <= np.float32(radius) ** 2  # [17, h, w]

    parts = np.arange(NUM_KEYPOINTS)[:, None, None]
    offsets = np.concatenate([ky[owner, parts] - ys, kx[owner, parts] - xs])  # [34, h, w]
    offsets *= np.concatenate([in_disk, in_disk])

    def _displacements(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Vectors from the cells in the disk of part ``src[e]`` to part ``dst[e]`` of the same owner."""
        own = owner[src]  # [16, h, w]
        dst_ = dst[:, None, None]
        mask = in_disk[src] & labelled[own, dst_]
        disp = np.concatenate([ky[own, dst_] - ys, kx[own, dst_] - xs])  # [32, h, w]
        disp *= np.concatenate([mask, mask])
        return np.nan_to_num(disp, posinf=0.0, neginf=0.0), mask

    fwd, fwd_mask = _displacements(PARENT_IDS, CHILD_IDS)
    bwd, bwd_mask = _displacements(CHILD_IDS, PARENT_IDS)
    heat = in_disk.astype(np.float32)
    return Targets(
        heatmaps=heat,
        offsets=np.nan_to_num(offsets, posinf=0.0, neginf=0.0).astype(np.float32),
        offset_mask=heat.copy(),
        displacements_fwd=fwd.astype(np.float32),
        displacements_bwd=bwd.astype(np.float32),
        fwd_mask=fwd_mask.astype(np.float32),
        bwd_mask=bwd_mask.astype(np.float32),
    )


def collate_targets(
    targets: Sequence[Targets] | Sequence[Mapping[str, np.ndarray]],
    device: torch.device | str | None = None,
) -> dict[str, torch.Tensor]:
    """Stack per-image targets into a dict of float32 tensors ``[N, C, h, w]`` (the loss's input)."""
    if not targets:
        raise ValueError("collate_targets needs at least one Targets")
    items = [t._asdict() if isinstance(t, Targets) else t for t in targets]
    return {
        name: torch.from_numpy(np.stack([np.asarray(item[name], dtype=np.float32) for item in items])).to(device)
        for name in Targets._fields
    }


TARGETS_INDEX = "index.json"  # per-split index of the materialised targets (generate_targets stage)
SPLITS: tuple[str, ...] = ("train", "val")


def save_targets(path: str | os.PathLike, targets: Targets, keypoints: np.ndarray) -> None:
    """Write one image's targets and its keypoints ``[P, 17, 3]`` (x, y, v; model-input px) to a compressed
    ``.npz`` (float32 arrays named like the ``Targets`` fields, plus ``keypoints``). Read back by ``load_targets``."""
    write_npz_atomic(path, {"keypoints": np.asarray(keypoints, dtype=np.float32), **targets._asdict()})


def load_targets(path: str | os.PathLike) -> tuple[Targets, np.ndarray]:
    """Read a ``save_targets`` file -> (Targets, keypoints ``[P, 17, 3]`` model-input px)."""
    with np.load(path) as data:
        return Targets(*(data[name] for name in Targets._fields)), data["keypoints"]


def write_split_targets(annotations: str | os.PathLike, images_dir: str | os.PathLike, out: str | os.PathLike,
                        input_size: int, output_stride: int, radius: float) -> dict[str, Any]:
    """Materialise the targets of one split (canonical COCO keypoints file ``annotations``) into the existing,
    empty folder ``out``: one ``<image_id>.npz`` per image (``save_targets``; keypoints letterboxed to a square
    ``input_size`` with the Predictor's geometry) plus ``index.json``. Returns the index.

    Raises ImageError when an image named by the annotations is missing from ``images_dir``.
    """
    from tqdm import tqdm

    from posenet.augment import letterbox_matrix, transform_keypoints
    from posenet.data.dataset import load_split  # imports this module: load lazily

    annotations, images_dir, out = Path(annotations), Path(images_dir), Path(out)
    images, keypoints = load_split(annotations)
    input_hw = (input_size, input_size)
    entries, build_ms = [], 0.0
    for record in tqdm(images, desc=f"targets {annotations.stem}", unit="img", leave=False):
        if not (images_dir / record["file_name"]).is_file():
            raise ImageError(f"{images_dir / record['file_name']}: image of {annotations} not found")
        image_hw = (int(record["height"]), int(record["width"]))
        kps = transform_keypoints(keypoints[int(record["id"])], letterbox_matrix(image_hw, input_hw), input_hw)
        start = time.perf_counter()
        targets = build_targets(kps, input_hw, output_stride, radius)
        build_ms += (time.perf_counter() - start) * 1e3
        name = f"{int(record['id'])}.npz"
        save_targets(out / name, targets, kps)
        entries.append({"image_id": int(record["id"]), "file_name": record["file_name"], "targets": name,
                        "persons": int(len(kps)), "labelled_keypoints": int((kps[..., 2] > 0).sum())})
    if not entries:
        log.warning("%s: no images; the split's targets are empty", annotations)
    else:
        log.info("%s: %d images, build_targets %.2f ms/image", annotations, len(entries), build_ms / len(entries))
    index = {"input_size": input_size, "output_stride": output_stride, "radius": radius, "labelled": "v > 0",
             "fields": list(Targets._fields) + ["keypoints"], "images": entries}
    write_json_atomic(out / TARGETS_INDEX, index)
    return index


def write_targets(annotations_dir: str | os.PathLike, images_dir: str | os.PathLike, out: str | os.PathLike,
                  input_size: int, output_stride: int, radius: float,
                  splits: Sequence[str] = SPLITS) -> dict[str, dict[str, Any]]:
    """``write_split_targets`` for ``<annotations_dir>/<split>.json`` into new folders ``<out>/<split>/``;
    returns ``{split: index}``. ``out`` must exist (make it atomic with ``posenet.io.atomic_dir``)."""
    indexes = {}
    for split in splits:
        (Path(out) / split).mkdir()
        indexes[split] = write_split_targets(Path(annotations_dir) / f"{split}.json", images_dir, Path(out) / split,
                                             input_size, output_stride, radius)
    return indexes


PreviewSample = tuple[str, np.ndarray, np.ndarray, Targets]  # title, model-input RGB image, keypoints, targets


def preview_samples(indexes: Mapping[str, Mapping[str, Any]], targets_dir: str | os.PathLike,
                    images_dir: str | os.PathLike, count: int) -> list[PreviewSample]:
    """Up to ``count`` annotated images of the ``write_targets`` output ``targets_dir`` (``indexes``: its
    ``{split: index}``), letterboxed like the Predictor: (title, RGB uint8 [S, S, 3], keypoints [P, 17, 3]
    model-input px, Targets). Readable ones first: 1 to 4 persons, most labelled keypoints; train before val.
    """
    from posenet.images import read_image
    from posenet.preprocess import letterbox, resize_letterboxed

    order = list(indexes)
    candidates = [(split, e) for split in order for e in indexes[split]["images"] if e["labelled_keypoints"]]
    candidates.sort(key=lambda se: (not 1 <= se[1]["persons"] <= 4, order.index(se[0]),
                                    -se[1]["labelled_keypoints"]))
    samples = []
    for split, entry in candidates[:count]:
        size = indexes[split]["input_size"]
        image = read_image(Path(images_dir) / entry["file_name"])
        pixels = resize_letterboxed(image, letterbox(image.shape[:2], (size, size)))
        targets, kps = load_targets(Path(targets_dir) / split / entry["targets"])
        title = f"{split}: {entry['file_name']} ({entry['persons']} persons)"
        samples.append((title, np.clip(pixels, 0, 255).astype(np.uint8), kps, targets))
    return samples


def save_targets_preview(path: str | os.PathLike, samples: Sequence[PreviewSample], input_size: int,
                         output_stride: int, radius: float, empty_note: str) -> None:
    """Preview figure (PNG, written atomically): one row per sample of ``preview_samples``, four panels of
    ``plot_targets`` (disks, offsets, fwd, bwd displacements); ``empty_note`` is written instead when there is
    no sample."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = max(len(samples), 1)
    fig, axes = plt.subplots(rows, 4, figsize=(20, 5 * rows + 0.6), squeeze=False)
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
    plt.close(fig)


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
    import matplotlib.pyplot as plt

    colours = plt.get_cmap("tab10")(np.arange(10))[:, :3]
    h, w = targets.heatmaps.shape[1:]
    s = output_stride
    extent = (-s / 2, s * (w - 1) + s / 2, s * (h - 1) + s / 2, -s / 2)  # cell (i, j) centred at (s*i, s*j)
    cy, cx = np.mgrid[0:h, 0:w] * s
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
