"""ONNX export round trip: every variant and stride, dynamic batch / height / width, within 1e-4 of eager."""

from __future__ import annotations

import pytest
import torch

from posenet.errors import BackendError
from posenet.models.mobilenet import create_model
from posenet.models.variants import VARIANTS, reachable_strides
from posenet.runtime.onnx import OnnxBackend, onnx_bytes

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

CONFIGS = [(name, stride) for name in VARIANTS for stride in reachable_strides(name)]


@pytest.mark.parametrize("name, stride", CONFIGS, ids=[f"{n}-s{s}" for n, s in CONFIGS])
def test_export_round_trip(name, stride):
    """Random weights (BN-like biases included), exported once, run at two batch sizes and non-square inputs."""
    torch.manual_seed(0)
    model = create_model(name, stride).eval()
    backend = OnnxBackend(onnx_bytes(model), threads=1)
    for shape in ((1, 3, 2 * stride + 1, 3 * stride + 1), (2, 3, 3 * stride + 1, stride + 1)):
        x = torch.rand(shape) * 2 - 1
        with torch.no_grad():
            want = model(x)
        got = backend(x)
        for a, b in zip(got, want):
            assert a.shape == b.shape
            assert float((a - b).abs().max()) <= 1e-4 * max(1.0, float(b.abs().max()))


def test_too_old_opset():
    with pytest.raises(BackendError, match="opset 9 is too old"):
        onnx_bytes(create_model("mobilenet_v1_050", 16), opset=9)
