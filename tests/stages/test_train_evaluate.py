"""train + evaluate stages: options override params, outputs load and hold both models' metrics, bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from click.testing import CliRunner

from posenet.models import create_model, load_checkpoint, save_checkpoint

DATA = Path(__file__).resolve().parents[1] / "data" / "train_mini"
STAGES = Path(__file__).resolve().parents[2] / "stages"
METRICS = {"AP", "AP50", "AP75", "APm", "APl", "AR"}


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A tiny pipeline: params (MobileNetV1 0.50, 65 px), annotations/{train,val}.json, a 'pretrained' file."""
    params = {"model": {"name": "mobilenet_v1_050", "stride": 16}, "targets": {"input_size": 65, "radius": 32},
              "predict": {"input_size": 65},
              "train": {"max_steps": 5, "batch_size": 2, "checkpoint_every": 2, "eval_every": 1, "device": "cpu"}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    (tmp_path / "ann").mkdir()
    for split in ("train", "val"):
        (tmp_path / "ann" / f"{split}.json").write_bytes((DATA / "annotations.json").read_bytes())
    torch.manual_seed(0)
    save_checkpoint(tmp_path / "pre.pt", create_model("mobilenet_v1_050", 16), {"variant": "mobilenet_v1_050"})
    return tmp_path


def _train_args(w: Path, *extra: str) -> list[str]:
    return ["--params", str(w / "params.yaml"), "--annotations", str(w / "ann"), "--images", str(DATA / "images"),
            "--pretrained", str(w / "pre.pt"), "--out", str(w / "trained.pt"), "--checkpoints", str(w / "ckpt"),
            "--live-dir", str(w / "live"), *extra]


def test_train_then_evaluate(workdir, load_stage):
    train_stage, eval_stage = load_stage("train"), load_stage("evaluate")
    result = CliRunner().invoke(train_stage.main, _train_args(workdir, "--max-steps", "3"))
    assert result.exit_code == 0, result.output
    _, meta = load_checkpoint(workdir / "trained.pt")
    assert meta["steps"] == 3 and meta["init"] == "pretrained" and meta["variant"] == "mobilenet_v1_050"
    live = json.loads((workdir / "live" / "metrics.json").read_text())
    assert {"total", "heatmap", "short", "mid", "lr"} <= set(live["train"]) and "AP" in live["val"]
    assert (workdir / "live" / "plots" / "metrics" / "train" / "total.tsv").is_file()
    assert sorted(p.name for p in (workdir / "ckpt").iterdir()) == ["step_000002.pt", "step_000003.pt"]

    # --resume with a larger budget continues from step 3
    result = CliRunner().invoke(train_stage.main, _train_args(workdir, "--max-steps", "4", "--resume"))
    assert result.exit_code == 0, result.output
    assert load_checkpoint(workdir / "trained.pt")[1]["steps"] == 4

    out = workdir / "reports" / "metrics.json"
    result = CliRunner().invoke(eval_stage.main, [
        "--params", str(workdir / "params.yaml"), "--annotations", str(workdir / "ann" / "val.json"),
        "--images", str(DATA / "images"), "--pretrained", str(workdir / "pre.pt"),
        "--trained", str(workdir / "trained.pt"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    metrics = json.loads(out.read_text())
    assert set(metrics) == {"pretrained", "trained"}
    assert all(set(m) == METRICS and all(0.0 <= v <= 1.0 or v == -1.0 for v in m.values()) for m in metrics.values())


def test_train_stage_empty_split_exits_2_without_output(workdir):
    (workdir / "ann" / "train.json").write_text('{"images": [], "annotations": [], "categories": []}')
    proc = subprocess.run([sys.executable, str(STAGES / "train.py"), *_train_args(workdir)],
                          capture_output=True, text=True, cwd=workdir, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("error: ") and "no images" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (workdir / "trained.pt").exists()


def test_bad_override_and_missing_trained_model_are_one_line_errors(workdir, load_stage):
    result = CliRunner().invoke(load_stage("train").main, _train_args(workdir, "--lr", "-1"))
    assert result.exit_code == 2 and "train.lr" in result.output
    out = workdir / "metrics.json"
    result = CliRunner().invoke(load_stage("evaluate").main, [
        "--params", str(workdir / "params.yaml"), "--annotations", str(workdir / "ann" / "val.json"),
        "--images", str(DATA / "images"), "--pretrained", str(workdir / "pre.pt"),
        "--trained", str(workdir / "nope.pt"), "--out", str(out)])
    assert result.exit_code == 2 and "nope.pt" in result.output
    assert not out.exists()


@pytest.mark.parametrize("stage", ["train", "evaluate"])
def test_help(stage, load_stage):
    result = CliRunner().invoke(load_stage(stage).main, ["--help"])
    assert result.exit_code == 0 and "--params" in result.output
