"""Test-time augmentation on PoseNet output maps: horizontal flip and multi-scale map fusion.

Maps are one image's outputs, channels last, in the layout posenet.codec.decode reads: heatmap scores [h, w, 17]
(after sigmoid), offsets [h, w, 34] (dy for 17 parts, then dx), displacements fwd / bwd [h, w, 32] (dy for 16
edges, then dx), all vectors in model-input pixels. A model input of (Rh, Rw) = stride * (h - 1, w - 1) + 1
pixels has cell (i, j) at input pixel (stride * i, stride * j).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from posenet.codec.decode import sigmoid_like_tfjs
from posenet.codec.letterbox import Letterbox
from posenet.codec.personlab import output_grid_size
from posenet.constants import EDGE_FLIP_PERMUTATION, FLIP_PERMUTATION, NUM_EDGES, NUM_KEYPOINTS

__all__ = ["PoseMaps", "average_maps", "flip_maps", "fuse_scales", "image_maps", "resample_maps"]

_OFFSET_CHANNELS = np.concatenate([FLIP_PERMUTATION, FLIP_PERMUTATION + NUM_KEYPOINTS])
_OFFSET_SIGNS = np.concatenate([np.ones(NUM_KEYPOINTS), -np.ones(NUM_KEYPOINTS)]).astype(np.float32)
_EDGE_CHANNELS = np.concatenate([EDGE_FLIP_PERMUTATION, EDGE_FLIP_PERMUTATION + NUM_EDGES])
_EDGE_SIGNS = np.concatenate([np.ones(NUM_EDGES), -np.ones(NUM_EDGES)]).astype(np.float32)


class PoseMaps(NamedTuple):
    """One image's decodable maps (see the module docstring for shapes and units)."""

    heatmap_scores: np.ndarray
    offsets: np.ndarray
    displacements_fwd: np.ndarray
    displacements_bwd: np.ndarray


def flip_maps(maps: PoseMaps) -> PoseMaps:
    """Maps of the mirrored model input (``input[:, ::-1]``) -> maps of the input itself.

    Mirroring input pixel x to Rw - 1 - x sends cell column j to w - 1 - j exactly, so: columns reversed,
    left/right parts swapped, x offsets negated, each displacement edge moved to its mirror edge with x negated.
    Exact in float32 and its own inverse.
    """
    return PoseMaps(
        np.ascontiguousarray(maps.heatmap_scores[:, ::-1, FLIP_PERMUTATION]),
        np.ascontiguousarray(maps.offsets[:, ::-1, _OFFSET_CHANNELS] * _OFFSET_SIGNS),
        np.ascontiguousarray(maps.displacements_fwd[:, ::-1, _EDGE_CHANNELS] * _EDGE_SIGNS),
        np.ascontiguousarray(maps.displacements_bwd[:, ::-1, _EDGE_CHANNELS] * _EDGE_SIGNS),
    )


def _source_cells(dst_cells: int, output_stride: int, dst_scale: float, dst_pad: int, src_scale: float,
                  src_pad: int, src_cells: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Along one axis: the two source cells and the weight of the second for every destination cell.

    Destination cell i sits at input pixel stride*i, image pixel ``stride*i*dst_scale - dst_pad``, which is source
    cell ``(image + src_pad) / src_scale / stride`` (clamped to the grid).
    """
    pos = (np.arange(dst_cells) * output_stride * dst_scale - dst_pad + src_pad) / src_scale / output_stride
    pos = np.clip(pos, 0.0, src_cells - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, src_cells - 1)
    return lo, hi, (pos - lo).astype(np.float32)


def resample_maps(maps: PoseMaps, src: Letterbox, dst: Letterbox, output_stride: int) -> PoseMaps:
    """Maps on the output grid of letterbox ``src`` -> the output grid of ``dst`` (the same image at another input
    size): bilinear in image coordinates, vectors rescaled to ``dst`` input pixels. Same box: maps returned as is."""
    if src == dst:
        return maps
    if src.image_hw != dst.image_hw:
        raise ValueError(f"letterboxes of different images: {src.image_hw} vs {dst.image_hw}")
    h, w = output_grid_size(dst.input_hw, output_stride)
    src_h, src_w = maps.heatmap_scores.shape[:2]
    (sy, sx), (dy, dx) = src.scale_yx, dst.scale_yx
    y0, y1, wy = _source_cells(h, output_stride, dy, dst.padding[0], sy, src.padding[0], src_h)
    x0, x1, wx = _source_cells(w, output_stride, dx, dst.padding[2], sx, src.padding[2], src_w)
    wy, wx = wy[:, None, None], wx[None, :, None]

    def resample(m: np.ndarray) -> np.ndarray:
        top = m[y0][:, x0] * (1 - wx) + m[y0][:, x1] * wx
        bottom = m[y1][:, x0] * (1 - wx) + m[y1][:, x1] * wx
        return (top * (1 - wy) + bottom * wy).astype(np.float32)

    def vector_scale(channels: int) -> np.ndarray:
        return np.repeat(np.array([sy / dy, sx / dx], dtype=np.float32), channels // 2)

    return PoseMaps(
        resample(maps.heatmap_scores),
        resample(maps.offsets) * vector_scale(2 * NUM_KEYPOINTS),
        resample(maps.displacements_fwd) * vector_scale(2 * NUM_EDGES),
        resample(maps.displacements_bwd) * vector_scale(2 * NUM_EDGES),
    )


def average_maps(maps: Sequence[PoseMaps]) -> PoseMaps:
    """Element-wise mean of maps on one grid (heatmap scores, offsets and displacements alike)."""
    if len(maps) == 1:
        return maps[0]
    return PoseMaps(*(np.mean(np.stack(group), axis=0, dtype=np.float32) for group in zip(*maps)))


def fuse_scales(maps: Sequence[PoseMaps], boxes: Sequence[Letterbox], target: Letterbox,
                output_stride: int) -> PoseMaps:
    """Map-level multi-scale fusion: every scale's maps resampled to ``target``'s grid, then averaged."""
    return average_maps([resample_maps(m, box, target, output_stride) for m, box in zip(maps, boxes)])


def image_maps(maps: Sequence[np.ndarray], b: int, n: int, flip: bool) -> PoseMaps:
    """Image ``b``'s maps from a batch's outputs ``[heatmap logits, offsets, fwd, bwd]`` (each [B, h, w, C]) of
    ``n`` images: sigmoid heatmaps, averaged with its mirrored copy's (image ``n + b``) under ``flip``."""
    heat, off, fwd, bwd = maps
    own = PoseMaps(sigmoid_like_tfjs(heat[b]), off[b], fwd[b], bwd[b])
    if not flip:
        return own
    mirrored = PoseMaps(sigmoid_like_tfjs(heat[n + b]), off[n + b], fwd[n + b], bwd[n + b])
    return average_maps([own, flip_maps(mirrored)])
