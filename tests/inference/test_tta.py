"""Flip and multi-scale fusion of output maps, checked against maps built for a synthetic (mirrored, rescaled) pose."""

from __future__ import annotations

import numpy as np
import pytest

from posenet.codec.decode import decode_multiple_poses
from posenet.codec.letterbox import letterbox
from posenet.codec.personlab import PersonLabCodec
from posenet.constants import FLIP_PERMUTATION
from posenet.inference.tta import PoseMaps, average_maps, flip_maps, fuse_scales, resample_maps

STRIDE = 16
# A standing person in a 257 x 257 input, (x, y) input pixels, off the cell grid so every score is distinct.
POSE = np.array([[121.3, 50.2], [114.1, 42.7], [129.6, 43.9], [104.8, 47.5], [138.2, 49.1], [93.7, 86.4],
                 [151.2, 88.3], [81.9, 125.6], [163.4, 129.2], [76.2, 161.7], [170.5, 166.3], [103.1, 160.8],
                 [139.4, 162.2], [99.7, 206.9], [143.3, 208.5], [97.2, 241.6], [146.8, 243.1]])


def pose_maps(keypoints_xy: np.ndarray, input_size: int) -> PoseMaps:
    """Decodable maps of one person: Gaussian heatmap peaks (sigma 12 px), exact offset/displacement fields."""
    kps = np.concatenate([keypoints_xy, np.full((17, 1), 2.0)], axis=1)[None]
    t = PersonLabCodec((input_size, input_size), STRIDE, radius=4 * input_size).encode(kps)
    grid = np.arange(t.heatmaps.shape[1]) * STRIDE
    d2 = (grid[:, None, None] - keypoints_xy[:, 1]) ** 2 + (grid[None, :, None] - keypoints_xy[:, 0]) ** 2
    heat = np.exp(-d2 / (2 * 12.0 ** 2)).astype(np.float32)
    return PoseMaps(heat, *(np.ascontiguousarray(a.transpose(1, 2, 0))
                            for a in (t.offsets, t.displacements_fwd, t.displacements_bwd)))


def mirrored(keypoints_xy: np.ndarray, input_size: int) -> np.ndarray:
    """The same person in the mirrored input: x -> (input_size - 1) - x, left and right parts swapped."""
    out = keypoints_xy[FLIP_PERMUTATION].copy()
    out[:, 0] = input_size - 1 - out[:, 0]
    return out


def test_flip_twice_is_exact_identity():
    rng = np.random.default_rng(0)
    maps = PoseMaps(*(rng.normal(size=(9, 13, c)).astype(np.float32) for c in (17, 34, 32, 32)))
    for a, b in zip(flip_maps(flip_maps(maps)), maps):
        np.testing.assert_array_equal(a, b)


def test_flipped_maps_equal_the_maps_of_the_mirrored_pose():
    flipped = flip_maps(pose_maps(mirrored(POSE, 257), 257))
    for a, b in zip(flipped, pose_maps(POSE, 257)):
        np.testing.assert_allclose(a, b, atol=1e-4)


def test_decoded_keypoints_mirror():
    maps = pose_maps(POSE, 257)
    (pose,) = decode_multiple_poses(*maps, STRIDE, max_detections=5)
    (flipped,) = decode_multiple_poses(*flip_maps(maps), STRIDE, max_detections=5)
    np.testing.assert_allclose(pose.keypoints, POSE, atol=1e-4)
    np.testing.assert_allclose(flipped.keypoints, mirrored(pose.keypoints, 257), atol=1e-9)
    np.testing.assert_allclose(flipped.keypoint_scores, pose.keypoint_scores[FLIP_PERMUTATION], atol=1e-7)
    assert flipped.score == pytest.approx(pose.score)


def test_flip_average_of_a_symmetric_input_keeps_the_pose():
    maps = pose_maps(POSE, 257)
    (pose,) = decode_multiple_poses(*average_maps([maps, flip_maps(pose_maps(mirrored(POSE, 257), 257))]), STRIDE)
    np.testing.assert_allclose(pose.keypoints, POSE, atol=1e-3)


def test_fusion_of_identical_scales_equals_single_scale():
    maps = pose_maps(POSE, 257)
    box = letterbox((480, 640), (257, 257))
    for a, b in zip(fuse_scales([maps, maps], [box] * 2, box, STRIDE), maps):
        np.testing.assert_array_equal(a, b)
    fused = fuse_scales([maps] * 3, [box] * 3, box, STRIDE)  # (x + x + x) / 3 may round by one ulp
    for a, b in zip(fused, maps):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=0)
    (single,), (multi,) = (decode_multiple_poses(*m, STRIDE) for m in (maps, fused))
    np.testing.assert_allclose(multi.keypoints, single.keypoints, rtol=1e-6)
    assert multi.score == pytest.approx(single.score, rel=1e-6)


def test_resampled_maps_decode_the_same_person_at_the_other_scale():
    """Maps of the person at input 257 resampled to the 513 grid decode the person at twice the pixels."""
    small, large = letterbox((300, 400), (257, 257)), letterbox((300, 400), (513, 513))
    up = resample_maps(pose_maps(POSE, 257), small, large, STRIDE)
    assert up.heatmap_scores.shape == (33, 33, 17) and up.offsets.shape == (33, 33, 34)
    (pose,) = decode_multiple_poses(*up, STRIDE)
    np.testing.assert_allclose(pose.keypoints, POSE * 513 / 257, atol=0.5)
    fused = fuse_scales([pose_maps(POSE * 513 / 257, 513), pose_maps(POSE, 257)], [large, small], large, STRIDE)
    (pose,) = decode_multiple_poses(*fused, STRIDE)
    np.testing.assert_allclose(pose.keypoints, POSE * 513 / 257, atol=0.5)


def test_resample_rejects_boxes_of_different_images():
    with pytest.raises(ValueError, match="different images"):
        resample_maps(pose_maps(POSE, 257), letterbox((300, 400), (257, 257)), letterbox((400, 400), (513, 513)),
                      STRIDE)
