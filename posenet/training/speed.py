"""Training throughput for the benchmark: images/s of optimisation steps at the training size and batch
(``targets.input_size``, ``train.batch_size``), float32 against bfloat16 autocast side by side.

A step is the trainer's own (:func:`posenet.training.trainer.train_step`: forward, PersonLab loss, backward, Adam
update) on a fixed batch: the benchmark photo letterboxed to the training size, ``train.batch_size`` times, with the
targets of an image without persons (the loss's cost does not depend on them: every term is computed densely). Data
loading and augmentation are left out: they are the same for both precisions, and ``reports/train.json`` has the
throughput of the real run. The precisions are timed interleaved (round r runs each once) at the trainer's thread
count (``train.threads``); bfloat16 only where the CPU has AVX512-BF16 / AMX-BF16 (``train.precision``), float16 AMP
on CUDA as the trainer uses it.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

import numpy as np
import torch

from posenet.codec.letterbox import prepare_input, to_batch
from posenet.codec.personlab import PersonLabCodec, collate_targets
from posenet.errors import ParamsError
from posenet.evaluation.benchmark import summarize, time_interleaved
from posenet.params import Params
from posenet.training.distributed import threads_per_process
from posenet.training.optim import build_optimizer
from posenet.training.trainer import autocast_dtype, train_step

__all__ = ["bench_training"]

log = logging.getLogger(__name__)


def _batch(image_rgb: np.ndarray, params: Params, device: torch.device) -> dict[str, torch.Tensor]:
    """``train.batch_size`` copies of the photo at ``targets.input_size`` with the targets of no person."""
    size, n = params.targets.input_size, params.train.batch_size
    x, _ = prepare_input(image_rgb, (size, size))
    codec = PersonLabCodec((size, size), params.model.stride, params.targets.radius)
    empty = codec.encode(np.zeros((0, 17, 3)))
    return collate_targets([empty] * n, device) | {"image": to_batch([x] * n, device)}


def bench_training(model: torch.nn.Module, image_rgb: np.ndarray, params: Params, device: str, warmup: int,
                   repeats: int) -> dict[str, Any]:
    """Training steps of a copy of ``model`` timed per precision -> {"input_size", "batch", "threads", "device",
    "precisions": {name: {ms summary of a step, "images_per_s"}}, "bf16_gain" (float32 / bf16 step time, when
    both ran), "skipped": {name: reason}}."""
    torch_device = torch.device(device)
    candidates = {"float32": None} if torch_device.type == "cpu" else {}
    try:
        candidates["bf16" if torch_device.type == "cpu" else "float16_amp"] = autocast_dtype(torch_device, "bf16")
    except ParamsError as err:
        skipped = {"bf16": str(err)}
    else:
        skipped = {}
    previous = torch.get_num_threads()
    threads = threads_per_process(params.train.threads)
    torch.set_num_threads(threads)
    try:
        batch = _batch(image_rgb, params, torch_device)
        runs = {}
        for name, dtype in candidates.items():
            net = _copy(model, torch_device)
            optimizer = build_optimizer(net, params.train)
            scaler = torch.amp.GradScaler("cuda", enabled=torch_device.type == "cuda")
            runs[name] = (lambda net=net, optimizer=optimizer, scaler=scaler, dtype=dtype:
                          train_step(net, batch, optimizer, scaler, params, torch_device, dtype))
        times = time_interleaved(runs, warmup, repeats, device)
    finally:
        torch.set_num_threads(previous)
    n = params.train.batch_size
    precisions = {}
    for name, ms in times.items():
        summary = summarize(ms)
        precisions[name] = summary | {"images_per_s": n * 1000.0 / summary["median_ms"]}
    report: dict[str, Any] = {"input_size": params.targets.input_size, "batch": n, "threads": threads,
                              "device": device, "precisions": precisions, "skipped": skipped}
    if "float32" in precisions and "bf16" in precisions:
        report["bf16_gain"] = precisions["float32"]["median_ms"] / precisions["bf16"]["median_ms"]
    for name, reason in skipped.items():
        log.info("training throughput: %s not timed (%s)", name, reason)
    return report


def _copy(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """A trainable copy of ``model`` on ``device`` (the benchmark's model stays untouched)."""
    return copy.deepcopy(model).to(device).train().requires_grad_(True)
