"""Inference: Predictor settings and presets, test-time augmentation, streams, the Predictor."""
