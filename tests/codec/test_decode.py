"""Decoding parity with TF.js PoseNet 2.2.2: fed the reference's own raw tensors, return its poses."""

from __future__ import annotations

import numpy as np
import pytest
from reference_cases import KP_TOL, LOCAL_CASES, SCORE_TOL, SHARED_CASES, case_id, load_case, pose_diffs

from posenet.codec.decode import _max_heap_order, _pop_order, decode_multiple_poses, decode_single_pose


def decode_case(npz):
    arrays, ref = load_case(npz)
    cfg = ref["multi_pose_config"]
    stride = int(arrays["output_stride"])
    multi = decode_multiple_poses(arrays["heatmaps"], arrays["offsets"], arrays["displacements_fwd"],
                                  arrays["displacements_bwd"], stride, max_detections=cfg["maxDetections"],
                                  score_threshold=cfg["scoreThreshold"], nms_radius=cfg["nmsRadius"])
    single = decode_single_pose(arrays["heatmaps"], arrays["offsets"], stride)
    return (pose_diffs(multi, ref["multi_poses_input_coords"]),
            pose_diffs([single], [ref["single_pose_input_coords"]]))


@pytest.mark.parametrize("npz", LOCAL_CASES, ids=case_id)
def test_decode_matches_reference_local(npz):
    assert len(LOCAL_CASES) >= 3
    for kp, sc in decode_case(npz):
        assert kp <= KP_TOL and sc <= SCORE_TOL


@pytest.mark.skipif(not SHARED_CASES, reason="../shared/eval/tfjs_reference not present")
def test_decode_matches_every_reference_case():
    assert len(SHARED_CASES) >= 54
    worst = [0.0, 0.0, 0.0, 0.0]
    for npz in SHARED_CASES:
        (mkp, msc), (skp, ssc) = decode_case(npz)
        worst = [max(a, b) for a, b in zip(worst, (mkp, msc, skp, ssc))]
        assert mkp <= KP_TOL and msc <= SCORE_TOL, (npz, mkp, msc)
        assert skp <= KP_TOL and ssc <= SCORE_TOL, (npz, skp, ssc)
    print("decode parity max diffs (multi kp, multi score, single kp, single score):", worst)


def test_max_heap_tie_order():
    """posenet's MaxHeap pops equal scores in its own order, not first-in-first-out (worked by hand)."""
    assert list(_max_heap_order([1.0, 1.0, 1.0])) == [0, 2, 1]
    assert list(_max_heap_order([0.5, 1.0, 1.0, 0.7])) == [1, 2, 3, 0]
    rng = np.random.default_rng(0)
    scores = rng.random(200).tolist()
    assert list(_max_heap_order(scores)) == np.argsort(scores)[::-1].tolist()
    assert list(_max_heap_order([])) == []


def test_pop_order_sorts_distinct_scores_and_keeps_the_heap_order_of_ties():
    rng = np.random.default_rng(1)
    distinct = rng.random(300).astype(np.float32)
    assert list(_pop_order(distinct)) == list(_max_heap_order(distinct.tolist()))
    ties = np.round(distinct, 1)  # 11 values over 300 candidates
    assert list(_pop_order(ties)) == list(_max_heap_order(ties.tolist()))
    assert list(_pop_order(np.array([0.5, 1.0, 1.0, 0.7]))) == [1, 2, 3, 0]


def _blank(h=9, w=9):
    heat = np.zeros((h, w, 17), np.float32)
    off = np.zeros((h, w, 34), np.float32)
    disp = np.zeros((h, w, 32), np.float32)
    return heat, off, disp


def test_tied_saturated_roots_follow_heap_order():
    """Two roots with score exactly 1.0 (saturated sigmoid): the heap decides which pose comes first."""
    heat, off, disp = _blank()
    heat[1, 1, 0] = heat[1, 7, 0] = heat[7, 4, 0] = 1.0   # pushed in scan order a=(1,1), b=(1,7), c=(7,4)
    poses = decode_multiple_poses(heat, off, disp, disp, 16, max_detections=3)
    roots = [tuple(p.keypoints[0]) for p in poses]
    assert roots == [(16.0, 16.0), (64.0, 112.0), (112.0, 16.0)]   # a, c, b as the heap pops [0, 2, 1]


def test_candidates_threshold_local_max_and_nms():
    heat, off, disp = _blank()
    heat[4, 4, 5] = 0.9
    heat[4, 5, 5] = 0.9        # equal neighbour: both are candidates, the second is suppressed by NMS
    heat[2, 2, 3] = 0.8
    heat[2, 3, 3] = 0.85       # strictly greater neighbour: (2, 2) is no candidate
    heat[6, 6, 7] = 0.5        # exactly at the threshold: a candidate
    heat[8, 0, 9] = 0.4999     # below the threshold
    poses = decode_multiple_poses(heat, off, disp, disp, 16, nms_radius=20.0)
    assert len(poses) == 3
    assert [tuple(p.keypoints[k]) for p, k in zip(poses, (5, 3, 7))] == [(64.0, 64.0), (48.0, 32.0), (96.0, 96.0)]
    # with no NMS radius, the tied neighbour becomes its own pose, and (2, 2) still is no candidate
    assert len(decode_multiple_poses(heat, off, disp, disp, 16, nms_radius=0.0)) == 4
    assert decode_multiple_poses(heat, off, disp, disp, 16, max_detections=2)[1].keypoints[3].tolist() == [48.0, 32.0]
    assert decode_multiple_poses(heat * 0.1, off, disp, disp, 16) == []


def test_chain_traversal_uses_displacements_and_offsets():
    """A root at the nose grows to the left eye by the forward displacement, then snaps with 2 refine steps."""
    heat, off, disp = _blank()
    heat[2, 2, 0] = 0.95
    heat[3, 4, 1] = 0.7                 # left eye heat at the cell the traversal lands on
    fwd = disp.copy()
    fwd[2, 2, 0], fwd[2, 2, 16] = 17.0, 30.0   # edge 0 nose->leftEye: (dy, dx) = (17, 30) -> (49, 62) -> cell (3, 4)
    off[3, 4, 1], off[3, 4, 18] = 2.0, -3.0    # leftEye offset at (3, 4): position (50, 61)
    pose = decode_multiple_poses(heat, off, fwd, disp, 16)[0]
    assert pose.keypoints[1].tolist() == [61.0, 50.0]
    assert pose.keypoint_scores[1] == pytest.approx(0.7)
    assert pose.score == pytest.approx((0.95 + 0.7) / 17)


def test_single_pose_first_argmax_and_float32_positions():
    heat, off, _ = _blank()
    heat[3, 3, :] = 0.6
    heat[5, 5, :] = 0.6                 # tie: the first (row-major) cell wins
    off[3, 3, 17:] = 0.1
    pose = decode_single_pose(heat, off, 16)
    assert np.all(pose.keypoints == [np.float32(48) + np.float32(0.1), 48.0])
    assert pose.score == pytest.approx(0.6)


def test_bad_shapes_raise():
    heat, off, disp = _blank()
    with pytest.raises(ValueError, match="offsets"):
        decode_single_pose(heat, off[:, :, :17], 16)
    with pytest.raises(ValueError, match="displacements_fwd"):
        decode_multiple_poses(heat, off, disp[:, :, :16], disp, 16)
