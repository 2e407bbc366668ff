"""Optimisers and the learning-rate schedule of ``train.*``."""

from __future__ import annotations

import math

import torch
from torch import nn

from posenet.params import TrainParams

__all__ = ["build_optimizer", "lr_factor"]


def build_optimizer(model: nn.Module, tp: TrainParams) -> torch.optim.Optimizer:
    """Adam, AdamW or SGD (momentum 0.9, Nesterov) with ``train.lr`` and ``train.weight_decay``."""
    if tp.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=tp.lr, weight_decay=tp.weight_decay)
    if tp.optimizer == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=tp.lr, weight_decay=tp.weight_decay)
    return torch.optim.SGD(model.parameters(), lr=tp.lr, momentum=0.9, nesterov=True, weight_decay=tp.weight_decay)


def lr_factor(step: int, total_steps: int, tp: TrainParams) -> float:
    """Learning-rate multiplier at ``step`` (0-based): linear warmup, then cosine to 0, constant, or step
    (x0.1 after 2/3 of the steps after warmup)."""
    if step < tp.warmup_steps:
        return (step + 1) / tp.warmup_steps
    span = max(total_steps - tp.warmup_steps, 1)
    progress = min((step - tp.warmup_steps) / span, 1.0)
    if tp.schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    if tp.schedule == "step":
        return 0.1 if progress >= 2.0 / 3.0 else 1.0
    return 1.0
