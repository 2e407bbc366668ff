"""Training throughput of the benchmark: the trainer's steps timed per precision."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from posenet.device import cpu_flags
from posenet.evaluation.benchmark import summarize
from posenet.io.media import read_image
from posenet.models.mobilenet import create_model
from posenet.params import Params, TargetsParams
from posenet.runtime.bf16 import BF16_CPU_FLAGS
from posenet.training.speed import bench_training

PHOTO = Path(__file__).resolve().parents[1] / "data" / "coco_tiny" / "images" / "000000196141.jpg"


def test_training_throughput_times_the_trainers_steps_per_precision():
    """float32 timed; bfloat16 beside it where the CPU has AVX512-BF16 / AMX-BF16, else skipped saying why; the
    model timed is a copy (its weights stay), the trainer's thread count applies and is restored."""
    params = Params(targets=TargetsParams(input_size=33))
    params = dataclasses.replace(params, train=dataclasses.replace(params.train, batch_size=2, threads=1))
    model = create_model("mobilenet_v1_050", 16).eval()
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    before = torch.get_num_threads()
    report = bench_training(model, read_image(PHOTO), params, "cpu", 1, 2)
    assert torch.get_num_threads() == before and all(torch.equal(weights[k], v) for k, v in model.state_dict().items())
    assert (report["input_size"], report["batch"], report["threads"], report["device"]) == (33, 2, 1, "cpu")
    f32 = report["precisions"]["float32"]
    assert f32["n"] == 2 and 0 < f32["median_ms"] < 120_000 and set(summarize([1.0])) <= set(f32)
    assert f32["images_per_s"] == pytest.approx(2000.0 / f32["median_ms"])
    if cpu_flags() & set(BF16_CPU_FLAGS):
        assert report["bf16_gain"] == f32["median_ms"] / report["precisions"]["bf16"]["median_ms"]
    else:
        assert "bf16" not in report["precisions"] and "AVX512-BF16" in report["skipped"]["bf16"]
