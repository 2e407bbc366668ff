"""ONNX export (dynamic batch, height and width; any variant and stride) and the ONNX Runtime backend.

``onnx`` and ``onnxruntime`` are the optional extra ``pip install -e ".[onnx]"``; without them the
export and the ``onnx`` / ``int8`` backends fail with one line saying so.
"""

from __future__ import annotations

import io
import os
import warnings
from typing import Any

import numpy as np
import torch

from posenet.constants import DEFAULT_OPSET, MIN_OPSET
from posenet.errors import BackendError
from posenet.extras import require_extra
from posenet.models.mobilenet import PoseNet, PoseNetOutput

__all__ = ["DEFAULT_OPSET", "INPUT_NAME", "INSTALL_HINT", "MIN_OPSET", "OUTPUT_NAMES", "OnnxBackend", "onnx_bytes",
           "require", "session"]

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
