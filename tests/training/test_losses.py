"""PersonLab loss: hand-computed values, zero at perfect prediction, empty masks, gradients."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from posenet.codec.personlab import PersonLabCodec, collate_targets
from posenet.models.mobilenet import PoseNetOutput
from posenet.params import LossWeights
from posenet.training.losses import personlab_loss


def outputs_like(batch: dict[str, torch.Tensor], noise: float = 0.0, seed: int = 0) -> PoseNetOutput:
    """Model-like outputs equal to the targets (+ noise), heatmap logits +-8, with grad."""
    g = torch.Generator().manual_seed(seed)

    def leaf(x: torch.Tensor) -> torch.Tensor:
        return (x + noise * torch.randn(x.shape, generator=g)).requires_grad_(True)

    return PoseNetOutput(leaf(batch["heatmaps"] * 16 - 8), leaf(batch["offsets"]),
                         leaf(batch["displacements_fwd"]), leaf(batch["displacements_bwd"]))


def sample_batch() -> dict[str, torch.Tensor]:
    rng = np.random.default_rng(0)
    kps = np.concatenate([rng.uniform(0, 128, (3, 17, 2)), rng.integers(0, 3, (3, 17, 1))], axis=-1)
    codec = PersonLabCodec((129, 129), 16, 32.0)
    return collate_targets([codec.encode(kps), codec.encode(kps[:1])])


def test_hand_computed_small_case():
    zeros = lambda c: torch.zeros(1, c, 1, 2)  # noqa: E731
    targets = {name: zeros(c) for name, c in [("heatmaps", 17), ("offsets", 34), ("offset_mask", 17),
                                              ("displacements_fwd", 32), ("displacements_bwd", 32),
                                              ("fwd_mask", 16), ("bwd_mask", 16)]}
    targets["heatmaps"][0, 4, 0, 1] = 1.0
    targets["offset_mask"][0, 4, 0, 1] = 1.0
    targets["offsets"][0, 4, 0, 1] = 5.0  # dy of part 4
    targets["fwd_mask"][0, 2, 0, 0] = 1.0
    targets["bwd_mask"][0, 7, 0, :] = 1.0
    heat = torch.zeros(1, 17, 1, 2)
    heat[0, 4, 0, 1] = 2.0
    heat[0, 0, 0, 0] = -1.0
    offsets = targets["offsets"].clone()
    offsets[0, 4, 0, 1] = 5.5  # dy error 0.5 -> Huber 0.125
    offsets[0, 17 + 4, 0, 1] = -3.0  # dx error 3 -> Huber 2.5
    offsets[0, 0, 0, 0] = 100.0  # outside the mask: ignored
    fwd = torch.zeros(1, 32, 1, 2)
    fwd[0, 2, 0, 0] = 2.0  # error 2 -> Huber 1.5
    bwd = torch.zeros(1, 32, 1, 2)
    out = PoseNetOutput(heat, offsets, fwd, bwd)
    radius = 2.0
    loss = personlab_loss(out, targets, radius, LossWeights(heatmap=4.0, short=1.0, mid=0.25), huber_delta=1.0)

    n = 17 * 2
    bce = (32 * math.log(2.0)  # 32 entries with logit 0
           + math.log1p(math.exp(-2.0))  # part 4 pixel: target 1, logit 2
           + math.log1p(math.exp(-1.0))) / n  # part 0 pixel: target 0, logit -1
    short = (0.125 + 2.5) / radius / 1  # one masked (part, pixel)
    mid = (1.5 / radius) / (1 + 2)  # one fwd + two bwd masked entries
    assert loss["heatmap"].item() == pytest.approx(bce, rel=1e-6)
    assert loss["short"].item() == pytest.approx(short, rel=1e-6)
    assert loss["mid"].item() == pytest.approx(mid, rel=1e-6)
    assert loss["total"].item() == pytest.approx(4 * bce + short + 0.25 * mid, rel=1e-6)


def test_zero_huber_at_perfect_prediction_and_positive_otherwise():
    batch = sample_batch()
    perfect = personlab_loss(outputs_like(batch), batch, 32.0, LossWeights())
    assert perfect["short"].item() == 0.0 and perfect["mid"].item() == 0.0
    assert perfect["heatmap"].item() < 1e-3
    noisy = personlab_loss(outputs_like(batch, noise=3.0), batch, 32.0, LossWeights())
    assert noisy["short"].item() > 0 and noisy["mid"].item() > 0


def test_gradients_flow_to_every_head():
    batch = sample_batch()
    out = outputs_like(batch, noise=2.0)
    personlab_loss(out, batch, 32.0, LossWeights())["total"].backward()
    for name, tensor in zip(out._fields, out):
        assert tensor.grad is not None and tensor.grad.abs().sum() > 0, name
        assert torch.isfinite(tensor.grad).all(), name
    # no gradient outside the masks for offsets
    outside = torch.cat([batch["offset_mask"]] * 2, dim=1) == 0
    assert (out.offsets.grad[outside] == 0).all()


def test_empty_masks_give_finite_zero_with_graph():
    batch = collate_targets([PersonLabCodec((129, 129), 16, 32.0).encode(np.zeros((0, 17, 3)))] * 2)
    out = outputs_like(batch, noise=5.0)
    loss = personlab_loss(out, batch, 32.0, LossWeights())
    assert loss["short"].item() == 0.0 and loss["mid"].item() == 0.0
    assert all(torch.isfinite(v) for v in loss.values())
    assert loss["short"].requires_grad and loss["mid"].requires_grad
    loss["total"].backward()
    assert torch.isfinite(out.heatmaps.grad).all() and out.heatmaps.grad.abs().sum() > 0
    assert (out.offsets.grad == 0).all()


def test_half_precision_outputs_give_float32_loss():
    batch = sample_batch()
    out = outputs_like(batch, noise=1.0)
    as_dict = personlab_loss(out, batch, 32.0)
    half = PoseNetOutput(*(t.detach().half() for t in out))
    as_half = personlab_loss(half, batch, 32.0)
    assert as_half["total"].dtype == torch.float32
    assert as_half["total"].item() == pytest.approx(as_dict["total"].item(), rel=1e-2)
