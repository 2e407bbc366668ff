"""The PersonLab codec of PoseNet: keypoints <-> model-output maps, with the geometry stated once.

Layout (TF.js PoseNet, the model's own): heatmaps 17 channels; short-range offsets ``[17 dy | 17 dx]``;
mid-range displacements ``[16 dy | 16 dx]`` with edge ``e = POSE_CHAIN[e]``, forward parent -> child, backward
child -> parent. Grid cell ``(i, j)`` sits at model-input pixel ``(stride * i, stride * j)`` (no half-cell
shift), so ``keypoint = cell + offset`` both when encoding and when decoding. Ground truth (``Targets``) is
channels first ``[C, h, w]``; the decoder reads one image's maps channels last ``[h, w, C]``.

:class:`PersonLabCodec` holds the geometry (model input size, output stride, disk radius R): ``encode`` builds
the ground truth from keypoints, ``decode`` turns the maps back into poses with the TF.js decoders of
``posenet.codec.decode``.

Labelled keypoints: every keypoint with ``v > 0`` (COCO ``v = 1`` "labelled, not visible" and ``v = 2``
"labelled, visible") counts, as in PersonLab: an occluded joint still has a known position that the network
should learn to point at. Keypoints with ``v <= 0`` or non-finite coordinates are ignored. Keypoints outside
the input canvas still own the disk pixels that fall inside it (a crop keeps the part of the disk it shows).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch

from posenet.codec.decode import decode_multiple_poses, decode_single_pose
from posenet.constants import CHILD_IDS, NUM_KEYPOINTS, PARENT_IDS
from posenet.pose import Pose

__all__ = ["PERSONLAB_RADIUS", "PersonLabCodec", "Targets", "collate_targets", "output_grid_size"]

PERSONLAB_RADIUS = 32.0  # disk radius R of the PersonLab paper, model-input pixels


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


@dataclass(frozen=True)
class PersonLabCodec:
    """Encode keypoints to PersonLab targets and decode model maps to poses, for one model geometry.

    Args:
        input_hw: model input size ``(H, W)`` in pixels (``k * stride + 1`` for a real model input).
        output_stride: 8, 16 or 32.
        radius: disk radius R in model-input pixels; only ``encode`` uses it.
    """

    input_hw: tuple[int, int]
    output_stride: int
    radius: float = PERSONLAB_RADIUS

    @property
    def grid_hw(self) -> tuple[int, int]:
        """Output grid size ``(h, w)``."""
        return output_grid_size(self.input_hw, self.output_stride)

    def cell_positions(self) -> tuple[np.ndarray, np.ndarray]:
        """Model-input pixel positions of the grid cells: ys ``[h]`` = ``stride * i``, xs ``[w]`` = ``stride * j``
        (float64)."""
        h, w = self.grid_hw
        return (np.arange(h, dtype=np.float64) * self.output_stride,
                np.arange(w, dtype=np.float64) * self.output_stride)

    def encode(self, keypoints: np.ndarray) -> Targets:
        """The PersonLab targets of one image from its keypoints ``[P, 17, 3]`` ``(x, y, v)`` per person in
        model-input pixels (``P`` may be 0).

        Where the disks of several people overlap, the person whose keypoint is nearest owns the pixel
        (offsets and displacements both follow that owner). A displacement is only defined (masked in) when
        both ends of the edge are labelled for the owning person.
        """
        kps = np.asarray(keypoints, dtype=np.float64).reshape(-1, NUM_KEYPOINTS, 3)
        cell_y, cell_x = self.cell_positions()
        ys, xs = cell_y[:, None], cell_x[None, :]  # [h, 1], [1, w]
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
        in_disk = best <= np.float32(self.radius) ** 2  # [17, h, w]

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

    def decode(self, heatmap_scores: np.ndarray, offsets: np.ndarray, displacements_fwd: np.ndarray,
               displacements_bwd: np.ndarray, max_detections: int = 10, score_threshold: float = 0.5,
               nms_radius: float = 20.0) -> list[Pose]:
        """Multi-person poses (model-input pixels, acceptance order) from one image's maps, channels last:
        heatmap scores ``[h, w, 17]`` (after sigmoid), offsets ``[h, w, 34]``, displacements ``[h, w, 32]``;
        ``nms_radius`` in model-input pixels (``posenet.decode.decode_multiple_poses``, TF.js-exact)."""
        return decode_multiple_poses(heatmap_scores, offsets, displacements_fwd, displacements_bwd,
                                     self.output_stride, max_detections, score_threshold, nms_radius)

    def decode_single(self, heatmap_scores: np.ndarray, offsets: np.ndarray) -> Pose:
        """The single pose (model-input pixels) of one image's maps ``[h, w, 17]``, ``[h, w, 34]``
        (``posenet.decode.decode_single_pose``, TF.js-exact)."""
        return decode_single_pose(heatmap_scores, offsets, self.output_stride)


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
