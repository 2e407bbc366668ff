"""Inference backends of the Predictor (registry: backends): eager PyTorch (the parity reference), fused
TorchScript, ONNX Runtime fp32 and int8, bfloat16; and the ONNX export behind ``posenet export``."""
