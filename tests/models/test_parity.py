"""Raw-output parity with the official TF.js PoseNet 2.2.2 (MobileNetV1 0.75, stride 16, same weights)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from reference_cases import LOCAL, SHARED_CASES, case_id, image_path, load_case, read_like_harness

pytestmark = pytest.mark.network  # the weights come from the npm package (cached once per machine)

STORED_INPUT_CASES = sorted(LOCAL.glob("*.npz"))  # the local cases that keep their model_input
HEAT_TOL, PX_TOL = 1e-4, 1e-2


@pytest.fixture()
def one_thread():
    """Forward passes in one thread: much faster than oversubscribing a shared 2-core CI machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def model_input(case: Path, arrays: dict[str, np.ndarray], meta: dict) -> np.ndarray:
    """The stored model input, else the photo decoded as the harness did and preprocessed by posenet.preprocess."""
    if "model_input" in arrays:
        return arrays["model_input"]
    pytest.importorskip("cv2")
    from posenet.codec.letterbox import prepare_input
    x, _ = prepare_input(read_like_harness(image_path(case, meta)).copy(),
                         tuple(int(v) for v in arrays["input_hw"]))
    return x


def run(model, x: np.ndarray) -> dict[str, np.ndarray]:
    """Model outputs [H, W, C] numpy, heatmaps after sigmoid (float64)."""
    with torch.no_grad():
        out = model(torch.from_numpy(np.ascontiguousarray(x)).permute(2, 0, 1)[None])
    hwc = {k: v[0].permute(1, 2, 0).numpy() for k, v in out._asdict().items()}
    hwc["heatmaps"] = 1.0 / (1.0 + np.exp(-hwc["heatmaps"].astype(np.float64)))
    return hwc


def max_diffs(model, case: Path) -> dict[str, float]:
    arrays, meta = load_case(case)
    got = run(model, model_input(case, arrays, meta))
    return {k: float(np.abs(got[k] - arrays[k]).max()) for k in got}


def check(diffs: dict[str, float], case: Path) -> None:
    assert diffs["heatmaps"] <= HEAT_TOL, (case, diffs)
    for key in ("offsets", "displacements_fwd", "displacements_bwd"):
        assert diffs[key] <= PX_TOL, (case, key, diffs)


@pytest.mark.parametrize("case", STORED_INPUT_CASES, ids=case_id)
def test_parity_stored_model_input(real_075, case):
    """The copied reference case (stored model_input) works without ../shared."""
    check(max_diffs(real_075(16), case), case)


@pytest.mark.slow
@pytest.mark.skipif(not SHARED_CASES, reason="../shared/eval/tfjs_reference not present")
def test_parity_every_shared_case(real_075, one_thread):
    """Every reference case (385 and 513): stored model_input where present, else prepare_input on the photo."""
    model = real_075(16)
    worst = {}
    for case in SHARED_CASES:
        diffs = max_diffs(model, case)
        check(diffs, case)
        worst = {k: max(v, worst.get(k, 0.0)) for k, v in diffs.items()}
    assert len(SHARED_CASES) >= 54
    print("parity max |diff| over", len(SHARED_CASES), "cases:", worst)


def _confident(out: dict[str, np.ndarray], stride: int, k: int, threshold: float) -> np.ndarray:
    """(y, x) model-input positions of the cells of keypoint ``k`` scoring above ``threshold``: [n, 2]."""
    i, j = np.nonzero(out["heatmaps"][:, :, k] > threshold)
    off = out["offsets"]
    return np.stack([stride * i + off[i, j, k], stride * j + off[i, j, 17 + k]], axis=1)


def _local_maxima(out: dict[str, np.ndarray], stride: int, k: int, threshold: float) -> np.ndarray:
    heat = out["heatmaps"][:, :, k]
    padded = np.pad(heat, 1, constant_values=-1.0)
    windows = np.lib.stride_tricks.sliding_window_view(padded, (3, 3))
    i, j = np.nonzero((heat >= windows.max(axis=(2, 3))) & (heat > threshold))
    off = out["offsets"]
    return np.stack([stride * i + off[i, j, k], stride * j + off[i, j, 17 + k]], axis=1)


def test_stride8_agrees_with_stride16(real_075):
    """Stride 8 from the same weights: right shapes; every confident local maximum of either stride has a
    confident cell of the same keypoint in the other within one stride-16 cell (16 px), on a 3-person photo."""
    x = load_case(STORED_INPUT_CASES[0])[0]["model_input"]
    out = {16: run(real_075(16), x), 8: run(real_075(8), x)}
    assert out[8]["heatmaps"].shape == (49, 49, 17) and out[8]["offsets"].shape == (49, 49, 34)
    assert out[8]["displacements_fwd"].shape == out[8]["displacements_bwd"].shape == (49, 49, 32)
    checked = 0
    for k in range(17):
        for a, b in ((16, 8), (8, 16)):
            maxima, other = _local_maxima(out[a], a, k, 0.8), _confident(out[b], b, k, 0.5)
            for p in maxima:
                assert len(other) and np.abs(other - p).max(axis=1).min() <= 16.0, (k, a, p)
                checked += 1
    assert checked >= 30
