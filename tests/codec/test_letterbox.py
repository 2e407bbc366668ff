"""Preprocessing exactly as TF.js PoseNet 2.2.2: valid sizes, letterbox, legacy bilinear resize, rescaling."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from reference_cases import LOCAL_CASES, SHARED_CASES, case_id, image_path, load_case, read_like_harness

from posenet.codec.letterbox import (
    fitted_input_size,
    js_round,
    letterbox,
    prepare_input,
    resize_letterboxed,
    scale_poses,
    to_batch,
    valid_input_size,
)
from posenet.errors import ImageError
from posenet.pose import Pose

MODEL_INPUT_CASES = [c for c in LOCAL_CASES if c.parent.name == "tfjs_reference"]


def test_valid_input_size_rounds_down():
    assert [valid_input_size(s, 16) for s in (257, 300, 385, 500, 513, 512)] == [257, 289, 385, 497, 513, 513]
    assert valid_input_size(300, 8) == 297


@pytest.mark.parametrize(("image_hw", "bound", "want"), [
    ((427, 640), (769, 769), (513, 769)),    # 769 * 427 / 640 = 513.06: within half a pixel of 513
    ((430, 640), (769, 769), (529, 769)),    # 769 * 430 / 640 = 516.7: one cell more than 513
    ((640, 427), (513, 513), (513, 353)),    # portrait: 513 * 427 / 640 = 342.3 -> 353
    ((480, 640), (513, 513), (385, 513)),    # 4:3 exactly on the grid
    ((500, 500), (257, 257), (257, 257)),    # square: nothing to cut
    ((100, 4000), (513, 513), (17, 513)),    # a strip keeps at least one cell
    ((480, 640), (257, 385), (257, 353)),    # a non-square bound: the height fills it, the width is cut
])
def test_fitted_input_size_cuts_the_padding_and_keeps_the_scale(image_hw, bound, want):
    got = fitted_input_size(image_hw, bound, 16)
    assert got == want and all((s - 1) % 16 == 0 for s in got)
    square, fitted = letterbox(image_hw, bound), letterbox(image_hw, got)
    # the image keeps its size in model-input pixels, to within the rounding (< 1 %) ...
    np.testing.assert_allclose(fitted.scale_yx, max(square.scale_yx), rtol=0.01)
    # ... and the padding left is less than a stride of the input on each side
    top, bottom, left, right = fitted.padding
    assert max(top + bottom, left + right) / max(fitted.scale_yx) < 16 + 1


@pytest.mark.parametrize(("image_hw", "input_hw"), [
    ((427, 640), (433, 641)),   # about 1:1, a little padding
    ((427, 640), (257, 257)),   # shrunk 2.5x, padded top and bottom
    ((214, 320), (689, 1025)),  # enlarged 3.2x: the last row and column clamp as in TF
    ((640, 427), (513, 353)),   # portrait, padded left and right
])
def test_opencv_resize_takes_tfjs_samples_within_a_grey_level(image_hw, input_hw):
    photo = cv2.imread(str(image_path(LOCAL_CASES[0], load_case(LOCAL_CASES[0])[1])))[..., ::-1]
    image = np.ascontiguousarray(cv2.resize(photo, image_hw[::-1], interpolation=cv2.INTER_AREA))
    exact, box = prepare_input(image, input_hw)
    fast, fast_box = prepare_input(image, input_hw, opencv=True)
    assert fast_box == box and fast.shape == exact.shape == (*input_hw, 3) and fast.dtype == np.float32
    grey = np.abs(fast - exact) * 127.5
    assert grey.max() <= 1.0 and grey.mean() <= 0.3, (grey.max(), grey.mean())
    # channels first underneath: a batch of one is the same memory
    assert to_batch([fast]).data_ptr() == fast.__array_interface__["data"][0]


def test_js_round_halves_go_up():
    assert [js_round(v) for v in (0.5, 1.5, 2.5, -0.5, 2.4999)] == [1, 2, 3, 0, 2]


def test_letterbox_padding_and_scale():
    box = letterbox((861, 1049), (385, 385))          # wide: pad top/bottom round(0.5*(1049-861)) = 94
    assert box.padding == (94, 94, 0, 0) and box.scale_yx == (1049 / 385, 1049 / 385)
    box = letterbox((100, 51), (257, 257))            # narrow: pad left/right Math.round(24.5) = 25 (banker's: 24)
    assert box.padding == (0, 0, 25, 25) and box.padded_hw == (100, 101)
    assert letterbox((64, 64), (33, 33)).padding == (0, 0, 0, 0)


def test_resize_uses_asymmetric_mapping():
    """src = dst * in/out, no half-pixel shift: a 4-wide ramp halved picks columns 0 and 2 exactly."""
    img = np.zeros((2, 4, 3), np.uint8)
    img[:, :, 0] = [0, 10, 20, 30]
    out = resize_letterboxed(img, letterbox((2, 4), (1, 2)))
    assert out.dtype == np.float32 and out.shape == (1, 2, 3)
    assert out[0, :, 0].tolist() == [0.0, 20.0]
    up = resize_letterboxed(img, letterbox((2, 4), (4, 8)))  # dst 7 -> src 3.5: clamps to the last column
    assert up[0, :, 0].tolist() == [0, 5, 10, 15, 20, 25, 30, 30]
    assert not np.allclose(up[0, :, 0], cv2.resize(img, (8, 4), interpolation=cv2.INTER_LINEAR)[0, :, 0])


def test_padding_becomes_minus_one():
    x, box = prepare_input(np.full((10, 40, 3), 255, np.uint8), (33, 33))
    assert box.padding == (15, 15, 0, 0)
    assert x[0].max() == -1.0 and x[16].min() == 1.0 and x.dtype == np.float32


@pytest.mark.parametrize("npz", MODEL_INPUT_CASES, ids=case_id)
def test_model_input_matches_reference(npz):
    arrays, ref = load_case(npz)
    image = read_like_harness(image_path(npz, ref))
    x, box = prepare_input(image, tuple(arrays["input_hw"]))
    assert box.padding == tuple(arrays["padding_tblr"].tolist())
    assert box.scale_yx == tuple(arrays["scale_yx"].tolist())
    assert float(np.abs(x - arrays["model_input"]).max()) <= 1e-5


@pytest.mark.skipif(not SHARED_CASES, reason="../shared/eval/tfjs_reference not present")
def test_letterbox_and_pose_rescaling_match_every_reference_case():
    """Padding, scale and input->image mapping of the stored input-coordinate poses, for all 54 cases."""
    worst = 0.0
    for npz in SHARED_CASES:
        arrays, ref = load_case(npz)
        box = letterbox(tuple(arrays["image_hw"]), tuple(arrays["input_hw"]))
        assert box.padding == tuple(arrays["padding_tblr"].tolist()), npz
        poses = scale_poses([Pose.from_dict(p) for p in ref["multi_poses_input_coords"]], box)
        for got, want in zip(poses, ref["multi_poses"]):
            worst = max(worst, float(np.abs(got.keypoints - Pose.from_dict(want).keypoints).max()))
    assert worst <= 1e-9


def test_bad_images_raise():
    with pytest.raises(ImageError, match="shape"):
        prepare_input(np.zeros((10, 10), np.uint8), (33, 33))
    with pytest.raises(ImageError, match="uint8"):
        prepare_input(np.zeros((10, 10, 3), np.float32), (33, 33))


def test_to_batch_is_nchw():
    a = np.arange(5 * 7 * 3, dtype=np.float32).reshape(5, 7, 3)
    batch = to_batch([a, -a])
    assert batch.shape == (2, 3, 5, 7) and batch.is_contiguous()
    assert batch[1, 2, 4, 6].item() == -a[4, 6, 2] and batch[0, 1, 3, 2].item() == a[3, 2, 1]
