"""Pretrained weights on first use, from any directory: the project's converted file, else the user cache,
else fetched and converted into the cache once (posenet.models.factory)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import posenet
from posenet import project
from posenet.errors import WeightsError
from posenet.models import factory
from posenet.models.checkpoint import save_checkpoint
from posenet.models.mobilenet import create_model
from posenet.weights.convert import state_dict_to_tfjs
from posenet.weights.tfjs import write_legacy

REPO = Path(__file__).resolve().parents[2]
PHOTO = REPO / "tests" / "data" / "images" / "pose.jpg"


@pytest.fixture()
def elsewhere(tmp_path, monkeypatch):
    """A working directory outside any checkout, an empty user cache, a project root without converted files,
    and a local TF.js source of random 0.50 weights -> that source's state dict."""
    state = create_model("mobilenet_v1_050").state_dict()
    write_legacy(tmp_path / "tfjs_src", state_dict_to_tfjs(state))
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    monkeypatch.setattr(project, "PROJECT_ROOT", tmp_path / "project")
    monkeypatch.setenv("POSENET_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("POSENET_WEIGHTS_SOURCE", "local")
    monkeypatch.setenv("POSENET_WEIGHTS_DIR", str(tmp_path / "tfjs_src"))
    return state


def test_load_model_fetches_and_converts_once_into_the_cache(elsewhere, tmp_path, caplog):
    with caplog.at_level("WARNING"):
        model = posenet.load_model("mobilenet_v1_050", stride=16)
    cached = tmp_path / "cache" / "pretrained" / "mobilenet_v1_050.pt"
    assert cached.is_file() and "first use of mobilenet_v1_050" in caplog.text
    assert all(torch.equal(model.state_dict()[k], v) for k, v in elsewhere.items())
    os.environ["POSENET_WEIGHTS_DIR"] = str(tmp_path / "gone")        # a second use needs no source
    caplog.clear()
    again = posenet.load_model("mobilenet_v1_050", stride=8)
    assert "first use" not in caplog.text and again.output_stride == 8
    assert factory.pretrained_checkpoint("mobilenet_v1_050") == cached


def test_the_projects_converted_file_comes_first(elsewhere, tmp_path):
    other = create_model("mobilenet_v1_050")
    torch.nn.init.constant_(other.heatmap.bias, 3.0)
    local = tmp_path / "project" / "models" / "pretrained" / "mobilenet_v1_050.pt"
    save_checkpoint(local, other, {"variant": "mobilenet_v1_050"})
    assert factory.pretrained_checkpoint("mobilenet_v1_050") == local
    assert torch.equal(posenet.load_model("mobilenet_v1_050").heatmap.bias, other.heatmap.bias)
    assert not (tmp_path / "cache" / "pretrained").exists()


def test_a_working_directory_with_models_is_the_project(elsewhere, tmp_path):
    (tmp_path / "cwd" / "models").mkdir()
    assert project.project_root() == tmp_path / "cwd"
    assert project.trained_path() == tmp_path / "cwd" / "models" / "trained" / "model.pt"


def test_trained_model_serves_only_its_own_variant(elsewhere, tmp_path):
    trained = tmp_path / "project" / "models" / "trained" / "model.pt"
    save_checkpoint(trained, create_model("mobilenet_v1_050"), {"variant": "mobilenet_v1_050"})
    assert factory.default_model_file("mobilenet_v1_050") == trained
    assert factory.trained_model_for("mobilenet_v1_075") is None


def test_no_source_is_one_clear_error(elsewhere, monkeypatch, tmp_path):
    monkeypatch.setenv("POSENET_WEIGHTS_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(WeightsError, match="nowhere"):
        posenet.load_model("mobilenet_v1_050")
    assert not (tmp_path / "cache" / "pretrained" / "mobilenet_v1_050.pt").exists()


@pytest.mark.slow
def test_posenet_infer_runs_from_outside_the_repo(elsewhere, tmp_path):
    """`python -m posenet infer` in a folder with no params.yaml and no models: defaults, weights on first use."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "posenet", "infer", str(PHOTO), "--model", "mobilenet_v1_050",
                           "--input-size", "129", "--out", "out"], cwd=tmp_path / "cwd", env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "first use of mobilenet_v1_050" in done.stderr
    assert (tmp_path / "cwd" / "out" / "poses.json").is_file()
    assert (tmp_path / "cache" / "pretrained" / "mobilenet_v1_050.pt").is_file()


def test_every_variant_has_a_pretrained_config():
    from posenet.errors import ModelError
    from posenet.models.variants import PRETRAINED_CFGS, VARIANTS, pretrained_cfg

    assert set(PRETRAINED_CFGS) == set(VARIANTS)
    assert [n for n, cfg in PRETRAINED_CFGS.items() if cfg.in_npm] == ["mobilenet_v1_075"]
    assert project.pretrained_path("mobilenet_v1_100", "/p") == Path("/p/models/pretrained/mobilenet_v1_100.pt")
    with pytest.raises(ModelError, match="mobilenet_v1_050"):
        pretrained_cfg("resnet50")
