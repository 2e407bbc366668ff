"""MobileNetV1 PoseNet: variant tables, atrous output strides, shapes, checkpoints, load_model."""

from __future__ import annotations

import pytest
import torch

import posenet
from posenet.errors import ModelError
from posenet.models.checkpoint import load_checkpoint, save_checkpoint
from posenet.models.factory import load_model
from posenet.models.mobilenet import create_model, strided_layers
from posenet.models.variants import VARIANTS, max_output_stride, reachable_strides

REACHABLE = {"mobilenet_v1_050": (8, 16), "mobilenet_v1_075": (8, 16),
             "mobilenet_v1_100": (8, 16, 32), "mobilenet_v1_101": (8, 16, 32)}
PARAMS = {"mobilenet_v1_050": 577_459, "mobilenet_v1_075": 1_258_195,
          "mobilenet_v1_100": 3_313_907, "mobilenet_v1_101": 3_313_907}


@pytest.mark.parametrize("name", sorted(REACHABLE))
def test_shapes_for_every_reachable_stride(name):
    assert reachable_strides(name) == REACHABLE[name]
    assert max_output_stride(name) == max(REACHABLE[name])
    for stride in REACHABLE[name]:
        model = create_model(name, stride).eval()
        assert model.variant == name and model.output_stride == stride
        h, w = 2 * 32 + 1, 3 * 32 + 1  # valid for every stride
        with torch.no_grad():
            out = model(torch.zeros(2, 3, h, w))
        grid = ((h - 1) // stride + 1, (w - 1) // stride + 1)
        assert out.heatmaps.shape == (2, 17, *grid)
        assert out.offsets.shape == (2, 34, *grid)
        assert out.displacements_fwd.shape == out.displacements_bwd.shape == (2, 32, *grid)


def test_parameter_counts_and_tables():
    assert {n: sum(p.numel() for p in create_model(n).parameters()) for n in VARIANTS} == PARAMS
    # 0.75 (TF.js table): last blocks stay at 384 channels and stride 1, total stride 16, no dilation at 16
    assert [w for _, w, _ in VARIANTS["mobilenet_v1_075"].layers][-3:] == [384, 384, 384]
    assert all(d == 1 for *_, d in strided_layers(VARIANTS["mobilenet_v1_075"], 16))
    assert VARIANTS["mobilenet_v1_100"].layers[12] == ("sep", 1024, 2)


def test_atrous_rates_follow_tfjs():
    """Once the target stride is reached every stride becomes 1 and later layers dilate by the skipped stride."""
    layers = strided_layers(VARIANTS["mobilenet_v1_075"], 8)
    assert [s for _, _, s, _ in layers] == [2, 1, 2, 1, 2] + [1] * 9
    assert [d for *_, d in layers] == [1] * 7 + [2] * 7
    layers = strided_layers(VARIANTS["mobilenet_v1_100"], 16)
    assert [(s, d) for _, _, s, d in layers][12:] == [(1, 1), (1, 2)]
    model = create_model("mobilenet_v1_100", 8)
    assert model.features[13].depthwise.dilation == (4, 4) and model.features[13].depthwise.padding == (4, 4)


@pytest.mark.parametrize("name,stride", [("mobilenet_v1_050", 32), ("mobilenet_v1_075", 32),
                                         ("mobilenet_v1_100", 4), ("mobilenet_v1_075", 12)])
def test_unreachable_stride_is_a_clear_error(name, stride):
    with pytest.raises(ModelError, match=rf"{name} cannot produce output stride {stride}"):
        create_model(name, stride)


def test_unknown_name():
    with pytest.raises(ModelError, match="unknown model 'resnet50'.*mobilenet_v1_075"):
        posenet.create_model("resnet50")
    with pytest.raises(ModelError, match="unknown model 'resnet50'"):
        reachable_strides("resnet50")
    with pytest.raises(ModelError, match="unknown model 'resnet50'"):
        max_output_stride("resnet50")


def test_checkpoint_round_trip_and_load_model(tmp_path):
    model = create_model("mobilenet_v1_050", 16)
    path = tmp_path / "m.pt"
    save_checkpoint(path, model, {"variant": "mobilenet_v1_050", "source": "test", "checksums": {}})
    state, meta = load_checkpoint(path)
    assert meta["source"] == "test" and all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    loaded = posenet.load_model("mobilenet_v1_050", stride=8, weights=path)
    assert not loaded.training and loaded.output_stride == 8
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in model.state_dict().items())
    assert list(tmp_path.iterdir()) == [path]  # atomic write leaves no temp file


def test_load_model_errors(tmp_path):
    with pytest.raises(ModelError, match="checkpoint not found"):
        load_model("mobilenet_v1_075", weights=tmp_path / "none.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelError, match="not a readable checkpoint"):
        load_model("mobilenet_v1_075", weights=bad)
    text = tmp_path / "notes.pt"
    text.write_text("eeee\n" * 20)  # torch's unpickler reads text as a pickle: IndexError, KeyError, ... not ModelError
    with pytest.raises(ModelError, match="notes.pt: not a readable checkpoint"):
        load_model("mobilenet_v1_075", weights=text)
    other = tmp_path / "other.pt"
    save_checkpoint(other, create_model("mobilenet_v1_050"), {"variant": "mobilenet_v1_050"})
    with pytest.raises(ModelError, match="holds mobilenet_v1_050, not mobilenet_v1_075"):
        load_model("mobilenet_v1_075", weights=other)
    save_checkpoint(other, create_model("mobilenet_v1_050"), {})
    with pytest.raises(ModelError, match="do not fit mobilenet_v1_075"):
        load_model("mobilenet_v1_075", weights=other)
