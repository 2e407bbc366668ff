"""Readers and a writer of the two TF.js weight formats.

* legacy manifest (Google's posenet 1.x storage, read by rwightman/posenet-pytorch): ``manifest.json`` maps each
  variable name to ``{"filename", "shape"}``; each file holds raw little-endian float32.
* graph model (``tfjs-converter``): ``<model>.json`` with ``modelTopology`` (a GraphDef) and ``weightsManifest``
  groups whose ``paths`` concatenate into one buffer sliced by ``weights`` specs, float32 / int32 or quantised
  (``quantization.dtype`` uint8 / uint16 with ``scale`` and ``min``, or float16).

Both readers return ``{variable name: float32 array in TF layout}``; for graph models the anonymous constants
are renamed to the legacy variable names by following the graph (``MobilenetV1/Conv2d_3_depthwise/biases``...).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from posenet.errors import WeightsError

__all__ = ["LEGACY_MANIFEST", "TfjsWeights", "check_file_name", "find_graph_json", "read_graph_model", "read_legacy",
           "read_tfjs", "write_legacy"]

LEGACY_MANIFEST = "manifest.json"
_DTYPES = {"float32": np.dtype("<f4"), "int32": np.dtype("<i4"), "uint8": np.dtype("u1"), "uint16": np.dtype("<u2"),
           "float16": np.dtype("<f2"), "bool": np.dtype("u1")}
_LAYER = re.compile(r"(Conv2d_\d+(?:_depthwise|_pointwise)?|heatmap_2|offset_2|displacement_fwd_2|displacement_bwd_2)")
_CONV_OPS = {"Conv2D", "_FusedConv2D", "DepthwiseConv2dNative", "FusedDepthwiseConv2dNative"}
_BIAS_OPS = {"BiasAdd", "Add", "AddV2"}


@dataclass(frozen=True)
class TfjsWeights:
    """Variables read from a TF.js folder: format ("legacy" | "graph"), TF-layout float32 arrays, files read."""

    format: str
    variables: dict[str, np.ndarray]
    files: tuple[str, ...]


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise WeightsError(f"{path}: not readable JSON ({err.__class__.__name__})") from err


def check_file_name(name: Any, where: str) -> str:
    """A file name from a manifest, which must be a plain name (no folder, not ``.``/``..``); WeightsError otherwise."""
    if not isinstance(name, str) or not name or Path(name).name != name or name in (".", ".."):
        raise WeightsError(f"{where}: bad file name {name!r}")
    return name


def _member(folder: Path, name: Any, where: str) -> Path:
    """A file named in a manifest; it must be a plain name inside ``folder``."""
    path = folder / check_file_name(name, where)
    if not path.is_file():
        raise WeightsError(f"{where}: file {path} is missing")
    return path


def _shape(value: Any, where: str) -> tuple[int, ...]:
    if not isinstance(value, list) or not all(isinstance(d, int) and d >= 0 for d in value):
        raise WeightsError(f"{where}: bad shape {value!r}")
    return tuple(value)


def read_legacy(folder: str | os.PathLike) -> TfjsWeights:
    """Read a legacy per-variable manifest folder -> float32 arrays keyed by variable name."""
    folder = Path(folder)
    manifest_path = folder / LEGACY_MANIFEST
    manifest = _load_json(manifest_path)
    if not isinstance(manifest, dict) or not manifest:
        raise WeightsError(f"{manifest_path}: expected a mapping of variable names")
    variables, files = {}, [LEGACY_MANIFEST]
    for name, spec in manifest.items():
        where = f"{manifest_path}: variable {name}"
        if not isinstance(spec, dict):
            raise WeightsError(f"{where}: expected {{'filename', 'shape'}}")
        path = _member(folder, spec.get("filename"), where)
        shape = _shape(spec.get("shape"), where)
        expected = int(np.prod(shape)) * 4
        size = path.stat().st_size  # checked before reading: a wrong file is never loaded whole
        if size != expected:
            raise WeightsError(f"{where}: {path.name} has {size} bytes, expected {expected} for shape {list(shape)}")
        variables[name] = np.frombuffer(path.read_bytes(), dtype="<f4").reshape(shape).astype(np.float32)
        files.append(path.name)
    return TfjsWeights("legacy", variables, tuple(files))


def _layout(spec: dict, where: str) -> tuple[tuple[int, ...], str, np.dtype]:
    """(shape, dtype name, stored dtype) of one weightsManifest spec (a quantised one stores its quantised type)."""
    shape = _shape(spec.get("shape"), where)
    quant = spec.get("quantization")
    dtype_name = quant.get("dtype") if isinstance(quant, dict) else spec.get("dtype", "float32")
    if dtype_name not in _DTYPES:
        raise WeightsError(f"{where}: unsupported dtype {dtype_name!r}")
    return shape, dtype_name, _DTYPES[dtype_name]


def _decode(buffer: memoryview, offset: int, spec: dict, where: str) -> tuple[np.ndarray, int]:
    shape, dtype_name, dtype = _layout(spec, where)
    quant = spec.get("quantization")
    count = int(np.prod(shape))
    end = offset + count * dtype.itemsize  # within the buffer: read_graph_model checked the sizes first
    raw = np.frombuffer(buffer[offset:end], dtype=dtype)
    if isinstance(quant, dict) and dtype_name in ("uint8", "uint16"):
        try:
            scale, minimum = float(quant["scale"]), float(quant["min"])
        except (KeyError, TypeError, ValueError) as err:
            raise WeightsError(f"{where}: quantisation needs numeric 'scale' and 'min'") from err
        # In double, rounded once to float32: what TF.js's decodeWeights computes (``v * scale + min`` in JS).
        values = (raw.astype(np.float64) * scale + minimum).astype(np.float32)
    else:
        values = raw.astype(np.float32)
    return values.reshape(shape), end


def _graph_names(topology: dict, where: str) -> dict[str, str]:
    """Map constant names to legacy variable names by following the conv / bias-add nodes of the graph."""
    names: dict[str, str] = {}
    for node in topology.get("node", []):
        op, inputs = node.get("op"), [i.split(":")[0].lstrip("^") for i in node.get("input", [])]
        match = _LAYER.search(node.get("name", ""))
        if not match or (op not in _CONV_OPS and op not in _BIAS_OPS):
            continue
        layer = f"MobilenetV1/{match.group(1)}"
        if op in _CONV_OPS and len(inputs) >= 2:
            kind = "depthwise_weights" if "Depthwise" in op else "weights"
            names[inputs[1]] = f"{layer}/{kind}"
            if op.startswith(("_Fused", "Fused")) and len(inputs) >= 3:
                names[inputs[2]] = f"{layer}/biases"
        elif op in _BIAS_OPS and len(inputs) >= 2:
            names[inputs[1]] = f"{layer}/biases"
    if not names:
        raise WeightsError(f"{where}: no MobileNetV1 PoseNet layers found in the graph")
    return names


def read_graph_model(model_json: str | os.PathLike) -> TfjsWeights:
    """Read a TF.js graph model (``model.json`` + shards) -> float32 arrays keyed by legacy variable name."""
    model_json = Path(model_json)
    folder = model_json.parent
    model = _load_json(model_json)
    groups = model.get("weightsManifest") if isinstance(model, dict) else None
    if not isinstance(groups, list):
        raise WeightsError(f"{model_json}: no 'weightsManifest' list (not a TF.js graph model)")
    topology = model.get("modelTopology")
    if not isinstance(topology, dict):
        raise WeightsError(f"{model_json}: no 'modelTopology' graph")
    rename = _graph_names(topology, str(model_json))
    variables, files = {}, [model_json.name]
    for group in groups:
        paths = [_member(folder, p, f"{model_json}: weightsManifest path") for p in group.get("paths", [])]
        layouts = [_layout(spec, f"{model_json}: weight {spec.get('name')}") for spec in group.get("weights", [])]
        described = sum(int(np.prod(shape)) * dtype.itemsize for shape, _, dtype in layouts)
        stored = sum(p.stat().st_size for p in paths)  # checked before reading: a wrong file is never loaded whole
        if stored != described:
            raise WeightsError(f"{model_json}: {', '.join(p.name for p in paths)} hold {stored} bytes, the manifest "
                               f"describes {described} ({'truncated' if stored < described else 'corrupt'} .bin?)")
        buffer = memoryview(b"".join(p.read_bytes() for p in paths))
        files += [p.name for p in paths]
        offset = 0
        for spec in group.get("weights", []):
            const = spec.get("name")
            value, offset = _decode(buffer, offset, spec, f"{model_json}: weight {const}")
            if const not in rename:
                raise WeightsError(f"{model_json}: weight {const} is not used by any PoseNet layer (extra variable)")
            variables[rename[const]] = value
    return TfjsWeights("graph", variables, tuple(files))


def find_graph_json(folder: Path) -> Path | None:
    """The graph-model JSON of ``folder`` (``model.json`` first, else any JSON with a ``weightsManifest``)."""
    candidates = sorted(folder.glob("*.json"), key=lambda p: (p.name != "model.json", p.name))
    for path in candidates:
        if path.name == LEGACY_MANIFEST:
            continue
        try:
            if "weightsManifest" in json.loads(path.read_text(encoding="utf-8")):
                return path
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            continue
    return None


def read_tfjs(folder: str | os.PathLike) -> TfjsWeights:
    """Read whichever TF.js format ``folder`` holds (legacy ``manifest.json`` or a graph model)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise WeightsError(f"{folder}: weights folder not found")
    if (folder / LEGACY_MANIFEST).is_file():
        return read_legacy(folder)
    graph = find_graph_json(folder)
    if graph is None:
        raise WeightsError(f"{folder}: neither a legacy manifest.json nor a TF.js graph model JSON")
    return read_graph_model(graph)


def write_legacy(folder: str | os.PathLike, variables: dict[str, np.ndarray]) -> None:
    """Write ``variables`` (TF layout) as a legacy manifest folder: ``manifest.json`` + one raw float32 file each."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    manifest = {}
    for name, value in variables.items():
        filename = name.replace("/", "_")
        (folder / filename).write_bytes(np.ascontiguousarray(value, dtype="<f4").tobytes())
        manifest[name] = {"filename": filename, "shape": list(value.shape)}
    (folder / LEGACY_MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
