"""Augmentation geometry: eval geometry equals the Predictor's, flips swap parts, keypoints follow the image."""

from __future__ import annotations

import numpy as np
import pytest

from posenet.codec.letterbox import prepare_input, scale_poses
from posenet.constants import FLIP_PERMUTATION
from posenet.params import AugmentParams
from posenet.pose import Pose
from posenet.training import augment


def _image(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, size=(h // 8 + 1, w // 8 + 1, 3)).astype(np.uint8)
    return np.kron(small, np.ones((8, 8, 1), dtype=np.uint8))[:h, :w]  # blocky: bilinear is well defined


@pytest.mark.parametrize("hw", [(120, 200), (200, 120), (97, 97)])
def test_plain_geometry_equals_predictor_input(hw):
    image = _image(*hw)
    ours, _ = augment.apply(image, np.zeros((0, 17, 3)), (129, 129))
    theirs, _ = prepare_input(image, (129, 129))
    theirs = (theirs + 1.0) * 127.5
    if max(hw) < 129:  # upscaling: TF repeats the edge in the last row/column, warpAffine fades to black
        ours, theirs = ours[:-1, :-1], theirs[:-1, :-1]
    # cv2.warpAffine rounds to uint8 and quantises sub-pixel positions to 1/32 px.
    diff = np.abs(ours.astype(np.float64) - theirs)
    assert diff.max() <= 1.5 and diff.mean() < 0.3


def test_plain_keypoints_invert_predictor_scaling():
    rng = np.random.default_rng(1)
    kps = np.concatenate([rng.uniform(0, 150, size=(2, 17, 2)), np.full((2, 17, 1), 2.0)], axis=-1)
    image = _image(160, 240)
    _, moved = augment.apply(image, kps, (257, 257))
    from posenet.codec.letterbox import letterbox

    box = letterbox((160, 240), (257, 257))
    back = scale_poses([Pose(1.0, moved[p, :, :2], np.ones(17)) for p in range(2)], box)
    np.testing.assert_allclose(np.stack([p.keypoints for p in back]), kps[..., :2], atol=1e-9)


def test_flip_twice_is_identity_with_part_swap():
    image = _image(129, 129)
    kps = np.zeros((1, 17, 3))
    kps[0, :, 0] = np.arange(17) * 5 + 10
    kps[0, :, 1] = 60
    kps[0, :, 2] = 2
    flip = augment.hflip_matrix(129)
    once = augment.transform_keypoints(kps, flip, (129, 129), flipped=True)
    # left part k lands where the mirrored right part was, and carries the right part's label
    np.testing.assert_allclose(once[0, FLIP_PERMUTATION, 0], 128 - kps[0, :, 0])
    np.testing.assert_array_equal(augment.warp(image, flip, (129, 129)), image[:, ::-1])
    twice = augment.transform_keypoints(once, flip, (129, 129), flipped=True)
    np.testing.assert_allclose(twice, kps)
    np.testing.assert_array_equal(augment.warp(augment.warp(image, flip, (129, 129)), flip, (129, 129)), image)


def test_keypoints_follow_the_image_under_random_affine():
    """Paint a bright dot at each keypoint; after augmentation the dot sits at the moved keypoint."""
    aug = AugmentParams(hflip=0.5, scale=(0.8, 1.3), rotate=30.0, crop=True)
    for seed in range(8):
        rng = np.random.default_rng(seed)
        image = np.zeros((180, 240, 3), np.uint8)
        kps = np.zeros((1, 17, 3))
        kps[0, :, 0] = rng.uniform(60, 180, 17)
        kps[0, :, 1] = rng.uniform(50, 130, 17)
        kps[0, :, 2] = 2
        k = seed % 17
        x, y = np.round(kps[0, k, :2]).astype(int)
        kps[0, k, :2] = (x, y)
        image[y - 3:y + 4, x - 3:x + 4] = 255
        out, moved = augment.apply(image, kps, (193, 193), np.random.default_rng([seed]), aug)
        mass = out[..., 0].astype(np.float64)
        ys, xs = np.nonzero(mass > 0)
        centre = np.array([(xs * mass[ys, xs]).sum(), (ys * mass[ys, xs]).sum()]) / mass[ys, xs].sum()
        # a flip relabels the painted part as its mirror partner
        flipped = not np.allclose(moved[0, k, :2], centre, atol=0.75)
        j = FLIP_PERMUTATION[k] if flipped else k
        assert np.linalg.norm(moved[0, j, :2] - centre) < 0.75, seed


def test_points_leaving_the_canvas_become_invisible():
    kps = np.array([[[5.0, 5.0, 2.0]] * 17])
    shift = np.array([[1.0, 0.0, -10.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    moved = augment.transform_keypoints(kps, shift, (65, 65))
    assert (moved[..., 2] == 0).all()
    np.testing.assert_allclose(moved[0, 0, :2], (-5.0, 5.0))
    kept = augment.transform_keypoints(kps, np.eye(3), (65, 65))
    assert (kept[..., 2] == 2).all()


def test_augmentation_is_deterministic_per_seed():
    image = _image(100, 150)
    kps = np.array([[[50.0, 50.0, 2.0]] * 17])
    aug = AugmentParams()
    a = augment.apply(image, kps, (129, 129), np.random.default_rng([0, 1, 2]), aug)
    b = augment.apply(image, kps, (129, 129), np.random.default_rng([0, 1, 2]), aug)
    c = augment.apply(image, kps, (129, 129), np.random.default_rng([0, 1, 3]), aug)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])
