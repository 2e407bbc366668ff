"""Single- and multi-pose decoding, equal to @tensorflow-models/posenet 2.2.2.

Inputs are the model outputs of ONE image in TF.js layout (numpy, channels last):
``heatmap_scores`` [H, W, 17] (after sigmoid), ``offsets`` [H, W, 34] (dy for 17 parts, then dx),
``displacements_fwd`` / ``displacements_bwd`` [H, W, 32] (dy for 16 edges, then dx).
Positions are returned in model-input pixels; cell (i, j) sits at pixel (stride*i, stride*j).
The rules (and where they matter numerically) are written up in
``docs/tfjs-posenet-algorithm.md`` sections 6-7. Candidate search is vectorised; the loops run
over popped candidates and the 16 edges of accepted poses only.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from posenet.constants import CHILD_IDS, NUM_EDGES, NUM_KEYPOINTS, PARENT_IDS
from posenet.pose import Pose

__all__ = ["OFFSET_REFINE_STEPS", "decode_multiple_poses", "decode_single_pose", "sigmoid_like_tfjs"]

_PARENTS = PARENT_IDS.tolist()
_CHILDREN = CHILD_IDS.tolist()
OFFSET_REFINE_STEPS = 2


def _check_maps(heatmap_scores: np.ndarray, offsets: np.ndarray) -> tuple[int, int]:
    if heatmap_scores.ndim != 3 or heatmap_scores.shape[2] != NUM_KEYPOINTS:
        raise ValueError(f"heatmap_scores must be [H, W, {NUM_KEYPOINTS}], got {heatmap_scores.shape}")
    if offsets.shape != heatmap_scores.shape[:2] + (2 * NUM_KEYPOINTS,):
        raise ValueError(f"offsets must be [H, W, {2 * NUM_KEYPOINTS}], got {offsets.shape}")
    return heatmap_scores.shape[0], heatmap_scores.shape[1]


def decode_single_pose(heatmap_scores: np.ndarray, offsets: np.ndarray, output_stride: int) -> Pose:
    """Per keypoint: argmax cell (first on ties) + its short-range offset (float32 sum). Score = mean of 17."""
    height, width = _check_maps(heatmap_scores, offsets)
    flat = heatmap_scores.reshape(height * width, NUM_KEYPOINTS)
    idx = np.argmax(flat, axis=0)
    rows, cols = idx // width, idx % width
    parts = np.arange(NUM_KEYPOINTS)
    scores = flat[idx, parts].astype(np.float64)
    off = offsets.astype(np.float32, copy=False)
    y = (rows * output_stride).astype(np.float32) + off[rows, cols, parts]
    x = (cols * output_stride).astype(np.float32) + off[rows, cols, parts + NUM_KEYPOINTS]
    return Pose(score=math.fsum(scores.tolist()) / NUM_KEYPOINTS, keypoints=np.stack([x, y], axis=1),
                keypoint_scores=scores)


def _local_maximum_candidates(heatmap_scores: np.ndarray, score_threshold: float) -> tuple[np.ndarray, ...]:
    """Cells with score >= threshold that no cell of their clipped 3x3 window (same part) strictly exceeds.

    Returns (rows, cols, parts, scores) in TF.js scan order (row, then column, then part).
    """
    height, width = heatmap_scores.shape[:2]
    padded = np.pad(heatmap_scores, ((1, 1), (1, 1), (0, 0)), constant_values=-np.inf)
    rowmax = np.maximum(np.maximum(padded[:-2], padded[1:-1]), padded[2:])         # [H, W+2, K]
    windowmax = np.maximum(np.maximum(rowmax[:, :-2], rowmax[:, 1:-1]), rowmax[:, 2:])  # [H, W, K]
    mask = (heatmap_scores >= score_threshold) & (heatmap_scores >= windowmax)
    rows, cols, parts = np.nonzero(mask)
    return rows, cols, parts, heatmap_scores[rows, cols, parts]


def _max_heap_order(scores: list[float]):
    """Yield indices into ``scores`` in the pop order of posenet's MaxHeap (pushed in list order).

    With distinct scores this is descending order; with ties it reproduces posenet's exact
    order (its heap keeps slot 0 above a 1-based binary heap, comparisons are strict).
    """
    heap: list[int] = []
    for idx, value in enumerate(scores):           # enqueue + swim
        heap.append(idx)
        k = len(heap) - 1
        while k > 0 and scores[heap[k // 2]] < value:
            heap[k], heap[k // 2] = heap[k // 2], heap[k]
            k //= 2
    last = len(heap) - 1
    while last >= 0:                               # dequeue + sink
        top = heap[0]
        heap[0], heap[last] = heap[last], heap[0]
        last -= 1
        k = 0
        while 2 * k <= last:
            j = 2 * k
            if j < last and scores[heap[j]] < scores[heap[j + 1]]:
                j += 1
            if not scores[heap[k]] < scores[heap[j]]:
                break
            heap[k], heap[j] = heap[j], heap[k]
            k = j
        yield top


def _pop_order(scores: np.ndarray) -> Iterable[int]:
    """Indices into ``scores`` in posenet's MaxHeap pop order: by descending score (one sort) when the scores are
    distinct, else through the heap itself (:func:`_max_heap_order`), whose order among ties is its own."""
    if np.unique(scores).size == scores.size:
        return np.argsort(-scores).tolist()
    return _max_heap_order(scores.tolist())


def decode_multiple_poses(
    heatmap_scores: np.ndarray,
    offsets: np.ndarray,
    displacements_fwd: np.ndarray,
    displacements_bwd: np.ndarray,
    output_stride: int,
    max_detections: int = 10,
    score_threshold: float = 0.5,
    nms_radius: float = 20.0,
) -> list[Pose]:
    """Multi-person decoding (TF.js ``decodeMultiplePoses``): poses in acceptance order, model-input pixels.

    nms_radius is in model-input pixels. No final sorting or pose-score filter (as TF.js).
    """
    height, width = _check_maps(heatmap_scores, offsets)
    for name, disp in (("displacements_fwd", displacements_fwd), ("displacements_bwd", displacements_bwd)):
        if disp.shape != (height, width, 2 * NUM_EDGES):
            raise ValueError(f"{name} must be [H, W, {2 * NUM_EDGES}], got {disp.shape}")
    rows, cols, parts, cand_scores = _local_maximum_candidates(heatmap_scores, score_threshold)
    if len(rows) == 0 or max_detections < 1:
        return []
    # float64 copies: every position below is computed in double from float32 values, as in JS.
    heat = heatmap_scores.astype(np.float64)
    off = offsets.astype(np.float64)
    fwd = displacements_fwd.astype(np.float64)
    bwd = displacements_bwd.astype(np.float64)
    s = float(output_stride)
    hmax, wmax = height - 1, width - 1
    r2 = float(nms_radius) ** 2
    K = NUM_KEYPOINTS

    def cell(y: float, x: float) -> tuple[int, int]:
        a = math.floor(y / s + 0.5)
        b = math.floor(x / s + 0.5)
        return (0 if a < 0 else hmax if a > hmax else a), (0 if b < 0 else wmax if b > wmax else b)

    # Element reads, no row views; ndarray.item gives Python floats, the same double arithmetic as numpy
    # scalars and cheaper to compute with.
    def traverse(edge: int, src_y: float, src_x: float, target: int, disp: np.ndarray) -> tuple[float, float, float]:
        a, b = cell(src_y, src_x)
        y = src_y + disp.item(a, b, edge)
        x = src_x + disp.item(a, b, NUM_EDGES + edge)
        for _ in range(OFFSET_REFINE_STEPS):
            a, b = cell(y, x)
            y = a * s + off.item(a, b, target)
            x = b * s + off.item(a, b, K + target)
        a, b = cell(y, x)
        return y, x, heat.item(a, b, target)

    accepted: list[tuple[list[float], list[float]]] = []  # (ys, xs) per pose
    # the same keypoints as arrays [pose, part]: the keypoint-level NMS of each new pose's score in one pass
    taken_y, taken_x = np.empty((max_detections, K)), np.empty((max_detections, K))
    poses: list[Pose] = []
    cand_rows, cand_cols, cand_parts = rows.tolist(), cols.tolist(), parts.tolist()
    for c in _pop_order(cand_scores):
        i, j, k = cand_rows[c], cand_cols[c], cand_parts[c]
        ry = i * s + off.item(i, j, k)
        rx = j * s + off.item(i, j, K + k)
        if any((ys[k] - ry) ** 2 + (xs[k] - rx) ** 2 <= r2 for ys, xs in accepted):
            continue
        ys: list = [None] * K
        xs: list = [None] * K
        sc: list = [None] * K
        ys[k], xs[k], sc[k] = ry, rx, heat.item(i, j, k)
        for e in range(NUM_EDGES - 1, -1, -1):
            child, parent = _CHILDREN[e], _PARENTS[e]
            if sc[child] is not None and sc[parent] is None:
                ys[parent], xs[parent], sc[parent] = traverse(e, ys[child], xs[child], parent, bwd)
        for e in range(NUM_EDGES):
            child, parent = _CHILDREN[e], _PARENTS[e]
            if sc[parent] is not None and sc[child] is None:
                ys[child], xs[child], sc[child] = traverse(e, ys[parent], xs[parent], child, fwd)
        n = len(accepted)
        dy, dx = taken_y[:n] - ys, taken_x[:n] - xs
        near = (dy * dy + dx * dx <= r2).any(axis=0).tolist()
        total = 0.0
        for t in range(K):  # in part order, as JS adds them
            if not near[t]:
                total += sc[t]
        taken_y[n], taken_x[n] = ys, xs
        accepted.append((ys, xs))
        poses.append(Pose(score=total / K, keypoints=np.array([xs, ys]).T, keypoint_scores=sc))
        if len(poses) >= max_detections:
            break
    return poses


def sigmoid_like_tfjs(logits: np.ndarray) -> np.ndarray:
    """TF.js CPU sigmoid: ``1 / (1 + exp(-x))`` in double, stored as float32 (saturates to exactly 1.0)."""
    return (1.0 / (1.0 + np.exp(-logits.astype(np.float64)))).astype(np.float32)
