"""ONNX export (dynamic batch, height and width; any variant and stride), self-describing ONNX files and the ONNX
Runtime backend.

An exported file carries the model's description (``posenet.weights.metadata``) in its ``metadata_props``, so
``posenet infer --weights model.onnx`` (:func:`load_onnx_model`) runs it without the checkpoint.
``onnx`` and ``onnxruntime`` are the optional extra ``pip install -e ".[onnx]"``; without them the
export and the ``onnx`` / ``int8`` backends fail with one line saying so.
"""

from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from posenet.constants import DEFAULT_OPSET, MIN_OPSET
from posenet.errors import BackendError, ModelError
from posenet.extras import require_extra
from posenet.models.mobilenet import PoseNet, PoseNetOutput
from posenet.weights.metadata import describe, from_props, to_props

__all__ = ["DEFAULT_OPSET", "INPUT_NAME", "INSTALL_HINT", "MIN_OPSET", "OUTPUT_NAMES", "OnnxBackend", "OnnxModel",
           "describe_onnx", "load_onnx_model", "onnx_bytes", "require", "session", "with_metadata"]

INPUT_NAME = "input"
OUTPUT_NAMES: tuple[str, ...] = PoseNetOutput._fields
INSTALL_HINT = "pip install -e '.[onnx]'"


def require(module: str, purpose: str) -> Any:
    """Import the optional ``module`` (``onnx`` / ``onnxruntime``); BackendError naming the extra when absent."""
    return require_extra(module, purpose, BackendError)


def onnx_bytes(model: PoseNet, opset: int = DEFAULT_OPSET) -> bytes:
    """``model`` as a serialised ONNX graph: input ``input`` [N, 3, H, W] float32 with N, H, W dynamic,
    outputs ``heatmaps``, ``offsets``, ``displacements_fwd``, ``displacements_bwd`` (NCHW float32)."""
    require("onnx", "ONNX export")
    if opset < MIN_OPSET:
        raise BackendError(f"opset {opset} is too old for PoseNet (use {MIN_OPSET} or newer)")
    example = torch.zeros(1, 3, 4 * int(model.output_stride) + 1, 4 * int(model.output_stride) + 1,
                          device=next(model.parameters()).device)
    buffer = io.BytesIO()
    dims = {0: "batch", 2: "height", 3: "width"}
    with warnings.catch_warnings():
        # The TorchScript exporter is deprecated in favour of torch.export; it handles dynamic H, W directly.
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(model.eval(), (example,), buffer, input_names=[INPUT_NAME], output_names=list(OUTPUT_NAMES),
                          dynamic_axes={INPUT_NAME: dims, **{name: dims for name in OUTPUT_NAMES}},
                          opset_version=opset, dynamo=False)
    return buffer.getvalue()


def session(model: bytes | str | os.PathLike, threads: int | None = None) -> Any:
    """An ONNX Runtime CPU session, all graph optimisations, ``threads`` intra-op threads (None: torch's count,
    so backends compare at the same thread count)."""
    ort = require("onnxruntime", "ONNX Runtime inference")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads or torch.get_num_threads()
    options.inter_op_num_threads = 1
    # Idle ORT workers spin by default, stealing the cores from whatever runs next (another backend, decoding).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    source = model if isinstance(model, bytes) else os.fspath(model)
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


class OnnxBackend:
    """An ONNX PoseNet (float32 or quantised) run by ONNX Runtime on the CPU."""

    def __init__(self, model: bytes | str | os.PathLike, threads: int | None = None) -> None:
        self.model = model
        self.session = session(model, threads)

    def __call__(self, batch: torch.Tensor) -> PoseNetOutput:
        """[N, 3, Rh, Rw] float32 (CPU) -> the four raw heads as CPU tensors."""
        x = np.ascontiguousarray(batch.detach().cpu().numpy(), dtype=np.float32)
        outputs = self.session.run(list(OUTPUT_NAMES), {INPUT_NAME: x})
        return PoseNetOutput(*(torch.from_numpy(o) for o in outputs))


def describe_onnx(model: PoseNet, source: str | os.PathLike | None = None,
                  source_sha256: str | None = None) -> dict[str, Any]:
    """The description (``posenet.weights.metadata``) of ``model`` exported by :func:`onnx_bytes`."""
    return describe(model.variant, int(model.output_stride), "NCHW", INPUT_NAME,
                    {name: name for name in OUTPUT_NAMES}, source, source_sha256)


def with_metadata(data: bytes, meta: dict[str, Any]) -> bytes:
    """The serialised ONNX model ``data`` (float32 or quantised) with ``meta`` in its ``metadata_props``
    (``posenet.<field>`` entries, replacing any earlier ones)."""
    onnx = require("onnx", "ONNX export")
    model = onnx.load_model_from_string(data)
    props = to_props(meta)
    kept = [(p.key, p.value) for p in model.metadata_props if p.key not in props]
    del model.metadata_props[:]
    for key, value in [*kept, *props.items()]:
        model.metadata_props.add(key=key, value=value)
    return model.SerializeToString()


@dataclass(frozen=True)
class OnnxModel:
    """An exported ONNX PoseNet file and its description; stands for the model in a Predictor with backend
    ``onnx`` (which runs the file itself, on the CPU)."""

    path: Path
    meta: dict[str, Any]

    @property
    def variant(self) -> str:
        return str(self.meta["variant"])

    @property
    def output_stride(self) -> int:
        return int(self.meta["output_stride"])

    def to(self, device: torch.device | str) -> OnnxModel:
        """Itself: ONNX Runtime runs on the CPU (the Predictor refused any other device before)."""
        return self

    def eval(self) -> OnnxModel:
        return self


def load_onnx_model(path: str | os.PathLike) -> OnnxModel:
    """An ONNX file written by ``posenet export --format onnx``; ModelError (one line) when the file is missing,
    not ONNX, or lacks the PoseNet metadata."""
    onnx = require("onnx", "Running an ONNX file")
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: ONNX file not found")
    from google.protobuf.message import DecodeError  # protobuf comes with onnx

    try:
        model = onnx.load_model(os.fspath(path), load_external_data=False)
    except (DecodeError, ValueError) as err:
        raise ModelError(f"{path}: not an ONNX model ({err.__class__.__name__})") from err
    meta = from_props({p.key: p.value for p in model.metadata_props}, str(path))
    inputs = [i.name for i in model.graph.input]
    outputs = [o.name for o in model.graph.output]
    try:
        described = [meta["input"]["name"]], [meta["outputs"][k]["name"] for k in OUTPUT_NAMES]
    except (KeyError, TypeError):
        raise ModelError(f"{path}: PoseNet metadata without input and output names") from None
    if (inputs, outputs) != described:
        raise ModelError(f"{path}: inputs {inputs} / outputs {outputs} differ from what its metadata describes")
    return OnnxModel(path, meta)
