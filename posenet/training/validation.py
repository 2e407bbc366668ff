"""Validation during training: val AP through the Predictor (as the evaluate stage) and the PersonLab val loss
against the materialised val targets of the generate_targets stage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from posenet.codec.letterbox import prepare_input, to_batch
from posenet.codec.personlab import Targets, collate_targets
from posenet.errors import TrainingError
from posenet.evaluation.coco import evaluate_predictor
from posenet.inference.predictor import Predictor
from posenet.io.media import read_image
from posenet.params import Params
from posenet.training.losses import LOSS_PARTS, personlab_loss
from posenet.training.target_store import load_targets

__all__ = ["evaluate_model", "validation_loss"]


def evaluate_model(model: nn.Module, params: Params, annotations: Path, images_dir: Path,
                   device: torch.device) -> dict[str, float]:
    """OKS metrics of ``model`` on a split with the predict params (Predictor at ``predict.input_size``)."""
    predictor = Predictor.from_params(params, model=model, device=device)
    was_training = model.training
    model.eval()
    try:
        metrics, _ = evaluate_predictor(predictor, annotations, images_dir)
    finally:
        model.train(was_training)
    return {k: float(v) for k, v in metrics.items()}


def _stored_targets(path: Path) -> Targets:
    """One image's materialised targets; TrainingError naming the file when it is missing or unreadable."""
    try:
        return load_targets(path)[0]
    except (OSError, ValueError, KeyError) as err:
        raise TrainingError(f"{path}: unreadable targets ({err!r}); rerun the generate_targets stage") from err


def validation_loss(model: nn.Module, params: Params, entries: list[dict[str, Any]], targets_dir: Path,
                    images_dir: Path, device: torch.device, batch_size: int) -> dict[str, float]:
    """Val loss parts ``{"loss", "heatmap", "short", "mid"}``: ``personlab_loss`` of each val image against its
    stored targets (``targets_dir/<entry targets>``), averaged over the images (``{}`` without images).

    The image (``images_dir/<file_name>``) is preprocessed like the Predictor at ``targets.input_size``
    (letterbox, TF bilinear resize, ``x / 127.5 - 1``); forward passes in batches of ``batch_size``, inference
    mode, float32. Each image's loss is computed on its own, so the value does not depend on ``batch_size``.
    """
    if not entries:
        return {}
    input_hw = (params.targets.input_size, params.targets.input_size)
    sums = torch.zeros(len(LOSS_PARTS), dtype=torch.float64)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for start in range(0, len(entries), batch_size):
                chunk = entries[start:start + batch_size]
                inputs = [prepare_input(read_image(images_dir / e["file_name"]), input_hw)[0] for e in chunk]
                targets = collate_targets([_stored_targets(targets_dir / e["targets"]) for e in chunk], device)
                outputs = model(to_batch(inputs, device))
                for i in range(len(chunk)):
                    one = type(outputs)(*(t[i:i + 1] for t in outputs))
                    losses = personlab_loss(one, {k: v[i:i + 1] for k, v in targets.items()},
                                            params.targets.radius, params.train.loss_weights)
                    sums += torch.stack([losses[k] for k in LOSS_PARTS]).double().cpu()
    finally:
        model.train(was_training)
    names = ("loss",) + LOSS_PARTS[1:]  # "total" is logged as val/loss
    return {name: float(v) / len(entries) for name, v in zip(names, sums)}
