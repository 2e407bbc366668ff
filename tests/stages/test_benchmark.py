"""stages/benchmark.py: tiny configuration end to end, one-line errors, --help."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from posenet.evaluation.benchmark import PHASES

ROOT = Path(__file__).resolve().parents[2]
PHOTO = ROOT / "tests" / "data" / "coco_tiny" / "images" / "000000196141.jpg"


@pytest.fixture
def stage(load_stage):
    return load_stage("benchmark")


def _params(tmp_path: Path, **benchmark) -> Path:
    section = {"variants": ["mobilenet_v1_050"], "strides": [16], "input_sizes": [33], "warmup": 1, "repeats": 2,
               "photo": str(PHOTO)}
    section.update(benchmark)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"model": {"name": "mobilenet_v1_050", "stride": 16},
                                    "predict": {"input_size": 33}, "targets": {"input_size": 33},
                                    "train": {"batch_size": 2, "threads": 1}, "benchmark": section}))
    return path


def _project(tmp_path: Path) -> Path:
    """``tmp_path`` as a project whose pretrained 0.50 checkpoint is randomly initialised (speed does not depend
    on the values) -> that checkpoint."""
    from posenet.models.checkpoint import save_checkpoint
    from posenet.models.mobilenet import create_model

    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    weights = tmp_path / "models" / "pretrained" / "mobilenet_v1_050.pt"
    save_checkpoint(weights, create_model("mobilenet_v1_050"), {"variant": "mobilenet_v1_050"})
    return weights


def test_tiny_benchmark_writes_json_and_figure(stage, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    weights = _project(tmp_path)
    params = _params(tmp_path)
    result = CliRunner().invoke(stage.main, ["--params", str(params), "--device", "cpu", "--backend", "eager",
                                             "--backend", "fused", "--batch", "2", "--images", str(PHOTO.parent),
                                             "--out", "reports"])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "reports" / "benchmark.json").read_text())
    eager, fused = report["results"]
    assert [eager["backend"], fused["backend"]] == ["eager", "fused"] and report["backends"] == ["eager", "fused"]
    assert Path(eager["weights"]).resolve() == weights.resolve() and eager["input_size"] == 33
    for phase in PHASES:
        assert 0 < eager[phase]["median_ms"] < 60_000
    assert fused["vs_eager"]["end_to_end"] == eager["end_to_end"]["median_ms"] / fused["end_to_end"]["median_ms"]
    assert report["folder"][0]["images"] == 2
    speed = json.loads((tmp_path / "reports" / "speed.json").read_text())
    batch = eager["batch"]
    assert batch["size"] == 2 and batch["threads"] == report["batch_threads"] >= 1
    assert batch["throughput_gain"] == batch["single"]["median_ms"] / batch["streams"]["median_ms"]
    assert batch["batched_gain"] == batch["single"]["median_ms"] / batch["batched"]["median_ms"]
    assert speed == {"latency_ms": eager["end_to_end"]["median_ms"]}
    training = report["training"][0]  # training steps at the training size and batch
    assert (training["input_size"], training["batch"], training["threads"]) == (33, 2, 1)
    assert training["precisions"]["float32"]["images_per_s"] > 0
    figure = tmp_path / "reports" / "figures" / "benchmark.png"
    assert figure.stat().st_size > 10_000


@pytest.mark.parametrize("override, message", [
    ({"variants": ["mobilenet_v9"]}, "benchmark.variants"),
    ({"input_sizes": [100]}, "benchmark.input_sizes"),
    ({"repeats": 0}, "benchmark.repeats"),
])
def test_bad_params_exit_2_with_one_line(stage, tmp_path, monkeypatch, override, message):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(stage.main, ["--params", str(_params(tmp_path, **override))])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert not (tmp_path / "reports").exists()


def test_missing_photo_is_a_user_error(stage, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _project(tmp_path)
    result = CliRunner().invoke(stage.main, ["--params", str(_params(tmp_path)), "--photo", "nope.jpg"])
    assert result.exit_code == 2 and "nope.jpg" in result.output
    assert not (tmp_path / "reports").exists()


def test_help_runs_as_a_script():
    proc = subprocess.run([sys.executable, "stages/benchmark.py", "--help"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0 and "--images" in proc.stdout
