"""Every backend against eager on the stored TF.js reference input, and the one-line errors."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from reference_cases import LOCAL, TESTS, load_case

from posenet.device import cpu_flags
from posenet.errors import BackendError
from posenet.inference.predictor import Predictor
from posenet.runtime.backends import BACKENDS, make_backend, with_threads
from posenet.runtime.bf16 import check_bf16

# How far the best pose's score may move: float32 backends compute the same numbers up to summation order.
POSE_SCORE_TOL = {"eager": 0.0, "fused": 1e-4, "onnx": 1e-4, "int8": 0.15, "bf16": 0.1}
CASE = LOCAL / "000000196141.npz"  # 3 people; the TF.js harness's own model input [Rh, Rw, 3]
CALIBRATION = TESTS / "data" / "images"  # 3 real photos (not the reference case's): int8 calibrates in a few seconds


@pytest.fixture(scope="module")
def reference_batch() -> torch.Tensor:
    """The stored TF.js model input as a batch [1, 3, Rh, Rw]."""
    x = load_case(CASE)[0]["model_input"]
    return torch.from_numpy(np.ascontiguousarray(x)).permute(2, 0, 1)[None].contiguous()


@pytest.fixture(scope="module")
def eager_maps(pretrained_model, reference_batch):
    return make_backend("eager", pretrained_model)(reference_batch)


def _available(name: str) -> None:
    if name in ("onnx", "int8"):
        pytest.importorskip("onnxruntime")
        pytest.importorskip("onnx")
    if name == "bf16" and not cpu_flags() & {"avx512_bf16", "amx_bf16"}:
        pytest.skip("this CPU has no bfloat16 instructions")


def _sigmoid(t: torch.Tensor) -> torch.Tensor:
    return torch.sigmoid(t.double())


@pytest.mark.parametrize("name", ["fused", "onnx"])
def test_float32_backends_match_eager(pretrained_model, reference_batch, eager_maps, name):
    """fused and onnx: heatmap scores within 1e-4 of eager; offsets and displacements (pixels, up to ~100) within
    1e-4 of their largest magnitude (float32 summation order differs between oneDNN and ONNX Runtime kernels)."""
    _available(name)
    got = make_backend(name, pretrained_model)(reference_batch)
    for field, a, b in zip(got._fields, got, eager_maps):
        assert a.shape == b.shape and a.dtype == torch.float32, field
        if field == "heatmaps":
            assert float((_sigmoid(a) - _sigmoid(b)).abs().max()) <= 1e-4
        else:
            assert float((a - b).abs().max()) <= 1e-4 * float(b.abs().max()), field


@pytest.mark.parametrize("name, heat_tol, mean_tol, offset_tol", [("int8", 0.35, 0.0075, 5.0),
                                                                  ("bf16", 0.1, 0.005, 4.0)])
def test_reduced_precision_backends_stay_close(pretrained_model, reference_batch, eager_maps, name, heat_tol,
                                               mean_tol, offset_tol):
    """int8 / bf16: heatmap scores near eager (worst cell within ``heat_tol``, mean within ``mean_tol``), and where
    a part is confident (eager score > 0.5) its short-range offset within ``offset_tol`` px. int8's 7-bit weights
    (reduce_range) add noise to single cells (on an AVX2 CPU, calibrated on 3 photos: worst heatmap cell 0.31,
    mean 0.0058, worst offset 4.2 px) but raise the AP: that is checked against COCO in
    tests/runtime/test_quantize.py and the benchmark."""
    _available(name)
    got = make_backend(name, pretrained_model, calibration=CALIBRATION)(reference_batch)
    heat, ref_heat = _sigmoid(got.heatmaps), _sigmoid(eager_maps.heatmaps)
    diff = (heat - ref_heat).abs()
    assert float(diff.max()) <= heat_tol and float(diff.mean()) <= mean_tol, (float(diff.max()), float(diff.mean()))
    confident = (ref_heat[0] > 0.5).repeat(2, 1, 1)  # [34, h, w]: y and x offsets of confident cells
    assert int(confident.sum()) >= 20
    assert float((got.offsets[0] - eager_maps.offsets[0]).abs()[confident].max()) <= offset_tol


@pytest.mark.parametrize("name", BACKENDS)
def test_predictor_routes_through_backend(pretrained_model, name):
    """Predictor(backend=...).run_batch goes through forward -> the backend; batch of two sizes of photo."""
    _available(name)
    image = load_case(CASE)[0]["model_input"]
    photo = np.clip((image + 1.0) * 127.5, 0, 255).astype(np.uint8)
    eager = Predictor(pretrained_model, input_size=257).run_batch([photo, photo[:200]])
    predictor = Predictor(pretrained_model, input_size=257, backend=name, calibration=CALIBRATION)
    got = predictor.run_batch([photo, photo[:200]])
    assert predictor.config.backend == name and len(got) == 2
    for a, b in zip(got, eager):
        assert a.heatmap_scores.shape == b.heatmap_scores.shape
        assert len(a.poses) >= 1 and abs(a.poses[0].score - b.poses[0].score) <= POSE_SCORE_TOL[name]


@pytest.mark.parametrize("name", BACKENDS)
def test_streams_run_every_backend_concurrently(pretrained_model, name):
    """Two streams run the backend from two threads at once: the same maps as one image at a time, in order."""
    _available(name)
    image = load_case(CASE)[0]["model_input"]
    photo = np.clip((image + 1.0) * 127.5, 0, 255).astype(np.uint8)
    photos = [photo, photo[:200], photo[:, :180], photo[40:]]
    streamed = Predictor(pretrained_model, input_size=129, backend=name, calibration=CALIBRATION, streams=2)
    single = Predictor(pretrained_model, input_size=129, backend=name, calibration=CALIBRATION)
    for got, want in zip(streamed.run_batch(photos), [single.run(p) for p in photos]):
        np.testing.assert_allclose(got.heatmap_scores, want.heatmap_scores, atol=1e-5)
    own = with_threads(streamed.backend, 1)
    if name in ("onnx", "int8"):  # a session per stream: concurrent runs of one session share its thread pool
        assert own is not streamed.backend and own.session.get_session_options().intra_op_num_threads == 1
    else:
        assert own is streamed.backend


def test_unknown_backend_and_cpu_only_backends():
    from posenet.models.mobilenet import create_model

    with pytest.raises(BackendError, match="unknown backend 'tensorrt' \\(known: eager, fused, onnx, int8, bf16\\)"):
        Predictor(create_model("mobilenet_v1_050", 16), input_size=33, backend="tensorrt")
    from posenet.runtime.backends import check_backend

    with pytest.raises(BackendError, match="backend int8 runs on the CPU only"):
        check_backend("int8", "cuda")


def test_missing_onnxruntime_is_one_line(pretrained_model, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # what `import onnxruntime` sees when it is not installed
    with pytest.raises(BackendError) as err:
        Predictor(pretrained_model, input_size=257, backend="onnx")
    assert str(err.value) == ("ONNX Runtime inference needs the onnxruntime package, which is not installed "
                              "(pip install -e '.[onnx]')")


def test_bf16_needs_bf16_instructions(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512bw avx512_vnni\n")
    with pytest.raises(BackendError, match="^backend bf16 needs a CPU with AVX512-BF16 or AMX-BF16, and this one "
                                           "has neither \\(use backend fused or int8\\)$"):
        check_bf16(torch.device("cpu"), cpuinfo)
    cpuinfo.write_text("flags\t\t: fpu avx512f avx512_bf16\n")
    check_bf16(torch.device("cpu"), cpuinfo)
