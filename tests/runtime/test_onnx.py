"""ONNX export round trip: every variant and stride, dynamic batch / height / width, within 1e-4 of eager; the
description in metadata_props, read back and checked."""

from __future__ import annotations

import json

import pytest
import torch

from posenet.constants import PART_NAMES, POSE_CHAIN
from posenet.errors import BackendError, ModelError
from posenet.models.mobilenet import create_model
from posenet.models.variants import VARIANTS, reachable_strides
from posenet.runtime.backends import make_backend
from posenet.runtime.onnx import (
    OUTPUT_NAMES,
    OnnxBackend,
    describe_onnx,
    load_onnx_model,
    onnx_bytes,
    with_metadata,
)

onnx = pytest.importorskip("onnx")
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


# --- self-describing files ----------------------------------------------------------------------------------------

def test_metadata_round_trip_and_checks(tmp_path):
    model = create_model("mobilenet_v1_101", 32).eval()
    meta = describe_onnx(model, tmp_path / "tuned.pt", "ab" * 32)
    path = tmp_path / "m.onnx"
    path.write_bytes(with_metadata(onnx_bytes(model), meta))
    props = {p.key: p.value for p in onnx.load_model(str(path)).metadata_props}
    assert props["posenet.variant"] == "mobilenet_v1_101" and props["posenet.output_stride"] == "32"
    assert props["posenet.source_sha256"] == "ab" * 32 and props["posenet.source_checkpoint"] == "tuned.pt"
    assert json.loads(props["posenet.keypoints"]) == list(PART_NAMES)
    assert json.loads(props["posenet.edges"]) == [list(e) for e in POSE_CHAIN]
    assert json.loads(props["posenet.input"])["normalization"] == "x / 127.5 - 1"
    outputs = json.loads(props["posenet.outputs"])
    assert list(outputs) == list(OUTPUT_NAMES) and outputs["offsets"]["shape"] == "[N, 34, h, w]"
    assert "channel k is dy of keypoint k, 17 + k its dx" in outputs["offsets"]["meaning"]
    loaded = load_onnx_model(path)
    assert loaded.variant == "mobilenet_v1_101" and loaded.output_stride == 32 and loaded.meta == meta

    def with_prop(key, value):
        bad = tmp_path / f"bad_{key}.onnx"
        bad.write_bytes(with_metadata(onnx_bytes(model), meta))
        proto = onnx.load_model(str(bad))
        for p in proto.metadata_props:
            if p.key == key:
                p.value = value
        bad.write_bytes(proto.SerializeToString())
        return bad

    with pytest.raises(ModelError, match="input normalisation 'x / 255', the predictor applies"):
        load_onnx_model(with_prop("posenet.input", json.dumps({"name": "input", "normalization": "x / 255"})))
    with pytest.raises(ModelError, match="output stride 64 is not one of mobilenet_v1_101's"):
        load_onnx_model(with_prop("posenet.output_stride", "64"))
    with pytest.raises(ModelError, match="unreadable PoseNet metadata"):
        load_onnx_model(with_prop("posenet.keypoints", "[nose"))


def test_files_without_metadata_or_not_onnx(tmp_path):
    plain = tmp_path / "plain.onnx"
    plain.write_bytes(onnx_bytes(create_model("mobilenet_v1_050", 16)))
    with pytest.raises(ModelError, match=r"plain.onnx: no PoseNet metadata \(posenet.variant missing\); export the "
                                         r"model with `posenet export --format onnx`"):
        load_onnx_model(plain)
    text = tmp_path / "notes.onnx"
    text.write_text("hello")
    with pytest.raises(ModelError, match="notes.onnx: not an ONNX model"):
        load_onnx_model(text)
    with pytest.raises(ModelError, match="gone.onnx: ONNX file not found"):
        load_onnx_model(tmp_path / "gone.onnx")


def test_an_onnx_file_runs_on_the_onnx_backend_only(tmp_path):
    model = create_model("mobilenet_v1_050", 16).eval()
    path = tmp_path / "m.onnx"
    path.write_bytes(with_metadata(onnx_bytes(model), describe_onnx(model)))
    loaded = load_onnx_model(path)
    with pytest.raises(BackendError, match="m.onnx is an ONNX file: it runs on backend onnx only, not fused"):
        make_backend("fused", loaded)
    x = torch.rand(1, 3, 33, 49) * 2 - 1
    with torch.no_grad():
        want = model(x)
    got = make_backend("onnx", loaded)(x)
    assert all(float((a - b).abs().max()) <= 1e-4 * max(1.0, float(b.abs().max())) for a, b in zip(got, want))
