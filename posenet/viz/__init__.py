"""Figures: drawing poses, prediction and target figures, training curves, the benchmark figure."""
