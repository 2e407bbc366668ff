"""Test helper shared by the weights and stage tests: a TF.js graph model as tfjs-converter writes it."""

from __future__ import annotations

import json

import numpy as np


def write_graph(folder, variables: dict[str, np.ndarray], quantise: dict[str, str] | None = None) -> None:
    """A TF.js graph model as tfjs-converter writes it for PoseNet: fused conv nodes on anonymous constants
    (BN folded into the bias), one shard, optional per-constant quantisation (uint8 / uint16 / float16)."""
    quantise = quantise or {}
    layers = sorted({n.rsplit("/", 1)[0] for n in variables})
    nodes, specs, chunks = [{"name": "image", "op": "Placeholder"}], [], []
    for li, layer in enumerate(layers):
        kernel = next(n for n in variables if n.startswith(layer + "/") and "weights" in n)
        consts = []
        for name in (kernel, f"{layer}/biases"):
            const = f"Const_{len(specs)}"
            value = variables[name].astype(np.float32)
            spec = {"name": const, "shape": list(value.shape), "dtype": "float32"}
            dtype = quantise.get(name)
            if dtype in ("uint8", "uint16"):
                lo, hi = float(value.min()), float(value.max())
                scale = (hi - lo) / np.iinfo(dtype).max or 1.0
                value = np.round((value - lo) / scale).astype(dtype)
                spec["quantization"] = {"dtype": dtype, "scale": scale, "min": lo}
            elif dtype == "float16":
                value = value.astype("<f2")
                spec["quantization"] = {"dtype": "float16"}
            specs.append(spec)
            chunks.append(value.tobytes())
            consts.append(const)
        op = "FusedDepthwiseConv2dNative" if "depthwise" in kernel else "_FusedConv2D"
        nodes.append({"name": f"MobilenetV1/MobilenetV1/{layer.split('/')[-1]}/x{li}", "op": op,
                      "input": ["image", *consts]})
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "group1-shard1of1.bin").write_bytes(b"".join(chunks))
    model = {"format": "graph-model", "modelTopology": {"node": nodes},
             "weightsManifest": [{"paths": ["group1-shard1of1.bin"], "weights": specs}]}
    (folder / "model.json").write_text(json.dumps(model))
