"""Inference backends of the Predictor: eager PyTorch (the parity reference), fused TorchScript, ONNX Runtime
fp32 and int8, bfloat16; and the ONNX export behind ``posenet export``."""

from posenet.runtime.backends import BACKENDS, Backend, make_backend

__all__ = ["BACKENDS", "Backend", "make_backend"]
