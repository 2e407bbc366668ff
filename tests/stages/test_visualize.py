"""stages/visualize.py on a tiny val set (2 real COCO images) with small random checkpoints."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from click.testing import CliRunner

from posenet.io.media import read_image
from posenet.models.checkpoint import save_checkpoint
from posenet.models.mobilenet import create_model

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "coco_tiny"


@pytest.fixture
def stage(load_stage):
    return load_stage("visualize")


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """Params (small model, small input), two checkpoints and DVCLive metric tables in a temporary folder."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({
        "model": {"name": "mobilenet_v1_050", "stride": 16}, "predict": {"input_size": 129},
        "visualize": {"max_images": 1}}))
    for seed, name in ((0, "pretrained.pt"), (1, "trained.pt")):
        torch.manual_seed(seed)
        save_checkpoint(tmp_path / name, create_model("mobilenet_v1_050", 16), {"variant": "mobilenet_v1_050"})
    metrics = tmp_path / "dvclive" / "plots" / "metrics"
    for key, values in {"train/loss": [3.0, 2.0, 1.5, 1.2], "train/heatmap": [2.0, 1.2, 0.9, 0.7],
                        "train/lr": [1e-4, 8e-5, 5e-5, 2e-5], "val/AP": [0.1, 0.3], "val/loss": [2.5, 1.4]}.items():
        path = metrics / f"{key}.tsv"
        path.parent.mkdir(parents=True, exist_ok=True)
        steps = range(len(values)) if key.startswith("train") else (1, 3)
        path.write_text("step\t" + key.split("/")[1] + "\n" + "".join(f"{s}\t{v}\n" for s, v in zip(steps, values)))
    return tmp_path


def _args(workdir: Path) -> list[str]:
    return ["--annotations", str(DATA / "val.json"), "--images", str(DATA / "images"),
            "--pretrained", str(workdir / "pretrained.pt"), "--trained", str(workdir / "trained.pt")]


@pytest.mark.slow
def test_every_figure_is_written_and_non_trivial(stage, workdir):
    result = CliRunner().invoke(stage.main, _args(workdir))
    assert result.exit_code == 0, result.output
    out = workdir / "reports" / "figures" / "visualize"
    stem = "000000000785"  # first image of val.json; max_images 1 leaves the second out
    expected = {f"{stem}_{kind}.png" for kind in ("skeletons", "heatmaps", "offsets", "displacements")}
    expected |= {"contact_sheet.png", "training_curves.png"}
    assert {p.name for p in out.iterdir()} == expected
    for name in expected:
        image = read_image(out / name)
        assert (out / name).stat().st_size > 20_000, name
        assert image.shape[0] > 200 and image.shape[1] > 200, name
        assert image.std() > 10, name  # not a blank canvas


@pytest.mark.slow
def test_training_curves_skipped_without_metrics(stage, workdir):
    shutil.rmtree(workdir / "dvclive")
    result = CliRunner().invoke(stage.main, _args(workdir) + ["--max-images", "1"])
    assert result.exit_code == 0, result.output
    names = {p.name for p in (workdir / "reports" / "figures" / "visualize").iterdir()}
    assert "training_curves.png" not in names and "contact_sheet.png" in names


@pytest.mark.parametrize("args, message", [
    (["--trained", "missing.pt"], "missing.pt"),
    (["--annotations", "nope.json"], "nope.json"),
])
def test_bad_inputs_exit_2_with_one_line(stage, workdir, args, message):
    result = CliRunner().invoke(stage.main, _args(workdir) + args)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert not (workdir / "reports").exists()


def test_bad_params_exit_2(stage, workdir):
    (workdir / "params.yaml").write_text(yaml.safe_dump({"visualize": {"max_images": 0}}))
    result = CliRunner().invoke(stage.main, _args(workdir))
    assert result.exit_code == 2 and "visualize.max_images" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_help_runs_as_a_script():
    proc = subprocess.run([sys.executable, "stages/visualize.py", "--help"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0 and "--max-images" in proc.stdout
