"""The backend registry: a name -> a callable ``batch [N, 3, Rh, Rw] -> PoseNetOutput`` (NCHW float32).

Every backend computes the same PoseNet from the same weights; they differ in how:

- ``eager``: the ``nn.Module`` as it is, full float32 (the parity reference);
- ``fused``: TorchScript frozen for inference (conv + ReLU6 fused, oneDNN weights), the four 1x1 heads as one conv;
- ``onnx``: exported to ONNX and run by ONNX Runtime (CPU), float32;
- ``int8``: the ONNX model statically quantised (QDQ, weights per channel) on real photos, VNNI kernels;
- ``bf16``: the backbone in bfloat16 (AVX512-BF16 / AMX on CPU, or CUDA), heads in float32.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch

from posenet.constants import BACKEND_NAMES
from posenet.errors import BackendError
from posenet.runtime.eager import EagerBackend

if TYPE_CHECKING:
    from posenet.models.mobilenet import PoseNetOutput
    from posenet.runtime.onnx import OnnxModel

__all__ = ["BACKENDS", "CPU_ONLY", "check_backend", "make_backend", "with_threads"]

BACKENDS: tuple[str, ...] = BACKEND_NAMES
CPU_ONLY: frozenset[str] = frozenset({"onnx", "int8"})  # ONNX Runtime is used with its CPU provider only

Backend = Callable[[torch.Tensor], "PoseNetOutput"]


def with_threads(backend: Backend, threads: int) -> Backend:
    """``backend`` for a caller that may use ``threads`` intra-op threads: a new ONNX Runtime session with that
    many (a session fixes its thread pool at construction, and concurrent runs share it); the PyTorch backends
    themselves (they use the calling thread's ``torch.get_num_threads()``)."""
    from posenet.runtime.onnx import OnnxBackend

    return OnnxBackend(backend.model, threads) if isinstance(backend, OnnxBackend) else backend


def check_backend(name: str, device: torch.device | str) -> None:
    """BackendError (one line) when ``name`` is unknown or cannot run on ``device``."""
    if name not in BACKENDS:
        raise BackendError(f"unknown backend {name!r} (known: {', '.join(BACKENDS)})")
    if name in CPU_ONLY and torch.device(device).type != "cpu":
        raise BackendError(f"backend {name} runs on the CPU only (use device cpu, or backend fused/bf16 on {device})")


def make_backend(name: str, model: torch.nn.Module | OnnxModel, device: torch.device | str = "cpu",
                 calibration: str | os.PathLike | None = None, input_hw: tuple[int, int] = (513, 513)) -> Backend:
    """Backend ``name`` for ``model`` (eval mode, on ``device``), or for an exported ONNX file (backend onnx).

    calibration / input_hw: int8 only — the folder of real photos whose activations set the quantisation
    ranges (None: :data:`posenet.runtime.quantize.DEFAULT_CALIBRATION`), letterboxed to ``input_hw``.
    """
    check_backend(name, device)
    from posenet.runtime.onnx import OnnxBackend, OnnxModel, onnx_bytes

    if isinstance(model, OnnxModel):  # an exported file (posenet infer --weights model.onnx): run it as it is
        if name != "onnx":
            raise BackendError(f"{model.path} is an ONNX file: it runs on backend onnx only, not {name}")
        return OnnxBackend(model.path)
    if name == "eager":
        return EagerBackend(model)
    if name == "fused":
        from posenet.runtime.fused import FusedBackend

        return FusedBackend(model)
    if name == "bf16":
        from posenet.runtime.bf16 import Bf16Backend

        return Bf16Backend(model)
    if name == "onnx":
        return OnnxBackend(onnx_bytes(model))
    from posenet.runtime.quantize import quantized_int8

    return OnnxBackend(quantized_int8(model, calibration, input_hw))
