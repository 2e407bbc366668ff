"""TF.js readers, writer and converter: legacy round trip for all variants, graph models incl. quantisation,
and one clear error for every kind of bad file."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tfjs_helpers import write_graph

from posenet.errors import WeightsError
from posenet.models.mobilenet import create_model
from posenet.models.variants import VARIANTS
from posenet.weights.convert import state_dict_to_tfjs, tfjs_to_state_dict
from posenet.weights.tfjs import read_legacy, read_tfjs, write_legacy


def equal_states(a, b) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_legacy_round_trip_every_variant(tmp_path, name):
    """random model -> legacy TF.js files -> read -> convert -> identical tensors."""
    state = create_model(name, 16).state_dict()
    write_legacy(tmp_path, state_dict_to_tfjs(state))
    weights = read_tfjs(tmp_path)
    assert weights.format == "legacy" and "MobilenetV1/Conv2d_13_pointwise/weights" in weights.variables
    assert equal_states(tfjs_to_state_dict(weights.variables, name), state)


def test_tf_layouts():
    state = create_model("mobilenet_v1_075").state_dict()
    tf = state_dict_to_tfjs(state)
    assert tf["MobilenetV1/Conv2d_0/weights"].shape == (3, 3, 3, 24)
    assert tf["MobilenetV1/Conv2d_1_depthwise/depthwise_weights"].shape == (3, 3, 24, 1)
    assert tf["MobilenetV1/Conv2d_1_pointwise/weights"].shape == (1, 1, 24, 48)
    assert tf["MobilenetV1/offset_2/weights"].shape == (1, 1, 384, 34)
    w = state["features.0.conv.weight"]  # torch [out, in, kh, kw]
    assert tf["MobilenetV1/Conv2d_0/weights"][1, 2, 0, 5] == w[5, 0, 1, 2]


def test_graph_model_float32_and_quantised(tmp_path):
    state = create_model("mobilenet_v1_050").state_dict()
    tf = state_dict_to_tfjs(state)
    write_graph(tmp_path / "f32", tf)
    got = read_tfjs(tmp_path / "f32")
    assert got.format == "graph" and equal_states(tfjs_to_state_dict(got.variables, "mobilenet_v1_050"), state)

    quant = {"MobilenetV1/Conv2d_3_pointwise/weights": "uint8", "MobilenetV1/heatmap_2/weights": "uint16",
             "MobilenetV1/Conv2d_5_depthwise/depthwise_weights": "float16", "MobilenetV1/offset_2/biases": "uint8"}
    write_graph(tmp_path / "q", tf, quant)
    variables = read_tfjs(tmp_path / "q").variables
    for name, dtype in quant.items():
        span = float(tf[name].max() - tf[name].min())
        tol = {"uint8": span / 255 / 2, "uint16": span / 65535 / 2, "float16": 1e-3}[dtype] + 1e-7
        err = np.abs(variables[name] - tf[name]).max()
        assert 0 < err <= tol, (name, err, tol)
        assert variables[name].dtype == np.float32
    tfjs_to_state_dict(variables, "mobilenet_v1_050")


def test_truncated_and_corrupt_bin(tmp_path):
    write_graph(tmp_path, state_dict_to_tfjs(create_model("mobilenet_v1_050").state_dict()))
    shard = tmp_path / "group1-shard1of1.bin"
    data = shard.read_bytes()
    shard.write_bytes(data[:-100])
    with pytest.raises(WeightsError, match=rf"group1-shard1of1.bin hold {len(data) - 100} bytes, the manifest "
                                           rf"describes {len(data)} \(truncated .bin\?\)"):
        read_tfjs(tmp_path)
    shard.write_bytes(data + b"\0" * 8)
    with pytest.raises(WeightsError, match=r"describes \d+ \(corrupt .bin\?\)"):
        read_tfjs(tmp_path)
    shard.unlink()
    with pytest.raises(WeightsError, match="group1-shard1of1.bin is missing"):
        read_tfjs(tmp_path)


def test_legacy_bad_files(tmp_path):
    write_legacy(tmp_path, state_dict_to_tfjs(create_model("mobilenet_v1_050").state_dict()))
    var = tmp_path / "MobilenetV1_Conv2d_2_pointwise_weights"
    var.write_bytes(var.read_bytes()[:-4])
    with pytest.raises(WeightsError, match="variable MobilenetV1/Conv2d_2_pointwise/weights: .* bytes, expected"):
        read_legacy(tmp_path)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(WeightsError, match="manifest.json: not readable JSON"):
        read_legacy(tmp_path)


def test_wrong_shape_missing_and_extra_variables():
    tf = state_dict_to_tfjs(create_model("mobilenet_v1_050").state_dict())
    bad = dict(tf, **{"MobilenetV1/Conv2d_4_pointwise/weights": np.zeros((1, 1, 64, 99), np.float32)})
    with pytest.raises(WeightsError, match=r"variable MobilenetV1/Conv2d_4_pointwise/weights has shape "
                                           r"\[1, 1, 64, 99\], mobilenet_v1_050 needs \[1, 1, 64, 128\]"):
        tfjs_to_state_dict(bad, "mobilenet_v1_050")
    missing = {k: v for k, v in tf.items() if k != "MobilenetV1/heatmap_2/biases"}
    with pytest.raises(WeightsError, match="variable MobilenetV1/heatmap_2/biases is missing"):
        tfjs_to_state_dict(missing, "mobilenet_v1_050")
    with pytest.raises(WeightsError, match="variable MobilenetV1/extra/weights is not part of"):
        tfjs_to_state_dict(dict(tf, **{"MobilenetV1/extra/weights": np.zeros(1)}), "mobilenet_v1_050")
    with pytest.raises(WeightsError, match="Conv2d_0/weights has shape"):  # another variant's weights
        tfjs_to_state_dict(tf, "mobilenet_v1_075")


def test_not_a_weights_folder(tmp_path):
    with pytest.raises(WeightsError, match="weights folder not found"):
        read_tfjs(tmp_path / "nope")
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(WeightsError, match="neither a legacy manifest.json nor a TF.js graph model"):
        read_tfjs(tmp_path)
