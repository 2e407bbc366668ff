"""The PersonLab multi-person loss for PoseNet's four heads.

* heatmap: sigmoid cross-entropy of the logits against the 0/1 disks, averaged over every pixel and part;
* short: Huber loss of the short-range offsets inside the disks, divided by R, averaged over the masked
  (part, pixel) entries (the dy and dx terms of one entry are summed);
* mid: the same on the forward and backward mid-range displacements, averaged over their masked entries;
* total = weights.heatmap * heatmap + weights.short * short + weights.mid * mid.

An empty mask gives a loss of exactly 0 that is still connected to the graph (no NaN, backward works).
The Huber transition ``huber_delta`` is in input pixels (G-RMI's robust loss); above it the loss is L1 / R
as in PersonLab.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F

from posenet.params import LossWeights

LOSS_PARTS = ("total", "heatmap", "short", "mid")  # the keys of personlab_loss, in logging order

__all__ = ["LOSS_PARTS", "masked_huber", "personlab_loss"]


def _field(targets: Any, name: str) -> torch.Tensor:
    return targets[name] if isinstance(targets, Mapping) else getattr(targets, name)


def masked_huber(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, radius: float,
                 huber_delta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Sum of the Huber loss / R over the masked entries, and their count.

    ``pred``/``target`` are ``[N, 2C, h, w]`` (C dy channels then C dx channels), ``mask`` ``[N, C, h, w]``.
    """
    pred = pred.float()
    mask2 = torch.cat([mask, mask], dim=1).to(pred.dtype)
    per_value = F.smooth_l1_loss(pred, target.to(pred.dtype), reduction="none", beta=huber_delta)
    return (per_value * mask2).sum() / radius, mask.sum()


def personlab_loss(
    outputs: Any,
    targets: Any,
    radius: float,
    weights: LossWeights | None = None,
    huber_delta: float = 1.0,
) -> dict[str, torch.Tensor]:
    """Multi-person loss of a batch.

    Args:
        outputs: ``PoseNetOutput`` (heatmaps LOGITS ``[N,17,h,w]``, offsets ``[N,34,h,w]``,
            displacements_fwd / displacements_bwd ``[N,32,h,w]``).
        targets: dict or object with the ``Targets`` fields as batched tensors (see ``collate_targets``).
        radius: the disk radius R in input pixels the targets were built with.
        weights: loss weights (default: PersonLab's 4 / 1 / 0.25).
        huber_delta: Huber transition point, input pixels.

    Returns: ``{"total", "heatmap", "short", "mid"}`` scalar float32 tensors.
    """
    weights = weights or LossWeights()
    logits = outputs.heatmaps.float()
    heatmap = F.binary_cross_entropy_with_logits(logits, _field(targets, "heatmaps").to(logits.dtype))

    short_sum, short_n = masked_huber(outputs.offsets, _field(targets, "offsets"),
                                      _field(targets, "offset_mask"), radius, huber_delta)
    fwd_sum, fwd_n = masked_huber(outputs.displacements_fwd, _field(targets, "displacements_fwd"),
                                  _field(targets, "fwd_mask"), radius, huber_delta)
    bwd_sum, bwd_n = masked_huber(outputs.displacements_bwd, _field(targets, "displacements_bwd"),
                                  _field(targets, "bwd_mask"), radius, huber_delta)
    short = short_sum / short_n.clamp(min=1)
    mid = (fwd_sum + bwd_sum) / (fwd_n + bwd_n).clamp(min=1)
    total = weights.heatmap * heatmap + weights.short * short + weights.mid * mid
    return {"total": total, "heatmap": heatmap, "short": short, "mid": mid}
