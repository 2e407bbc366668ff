"""Test helper shared by the weights and stage tests: a TF.js graph model as tfjs-converter writes it."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import sys
import tarfile
from pathlib import Path

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


FAKE_NPM = """#!{python}
import json, shutil, sys
args = sys.argv[1:]
if args[0] == "view":
    print(json.dumps({integrity!r}))
elif args[0] == "pack":
    dest = args[args.index("--pack-destination") + 1]
    shutil.copy({tarball!r}, dest + "/package-1.0.0.tgz")
    print(json.dumps([{{"filename": "package-1.0.0.tgz"}}]))
else:
    sys.exit("fake npm: unexpected " + " ".join(args))
"""


def install_fake_npm(bin_dir: Path, tarball: Path) -> str:
    """An ``npm`` in ``bin_dir`` whose ``view`` publishes the sha512 integrity of ``tarball`` and whose ``pack``
    delivers it; returns a PATH with ``bin_dir`` first."""
    integrity = "sha512-" + base64.b64encode(hashlib.sha512(tarball.read_bytes()).digest()).decode()
    bin_dir.mkdir(parents=True, exist_ok=True)
    npm = bin_dir / "npm"
    npm.write_text(FAKE_NPM.format(python=sys.executable, integrity=integrity, tarball=str(tarball)))
    npm.chmod(0o755)
    return f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"


def npm_package_tarball(path: Path, variables: dict[str, np.ndarray]) -> Path:
    """An npm package tarball at ``path`` shipping ``variables`` as package/models/posenet.json + posenet.bin (a
    graph model, as the real package ships PoseNet)."""
    graph = path.parent / "graph"
    write_graph(graph, variables)
    model = json.loads((graph / "model.json").read_text())
    model["weightsManifest"][0]["paths"] = ["posenet.bin"]
    members = {"package/models/posenet.json": json.dumps(model).encode(),
               "package/models/posenet.bin": (graph / "group1-shard1of1.bin").read_bytes()}
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path
