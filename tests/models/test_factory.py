"""Which weights serve, from inside and outside a project: the weights given, else the project's trained model,
else its converted pretrained file, else the user cache, fetched and converted once (posenet.models.factory)."""

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
    """A working directory outside any project, an empty user cache and a local TF.js source of random 0.50
    weights -> that source's state dict."""
    state = create_model("mobilenet_v1_050").state_dict()
    write_legacy(tmp_path / "tfjs_src", state_dict_to_tfjs(state))
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
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


def _project(root: Path) -> Path:
    """A pipeline project at ``root`` (dvc.yaml and models/), its sub-folder ``root/sub`` the working directory."""
    (root / "models").mkdir(parents=True)
    (root / "dvc.yaml").write_text("stages: {}\n")
    (root / "sub").mkdir()
    os.chdir(root / "sub")
    return root


def _save(path: Path, bias: float) -> torch.nn.Module:
    """A 0.50 checkpoint at ``path`` whose heatmap bias is ``bias`` (tells the files apart once loaded)."""
    model = create_model("mobilenet_v1_050")
    torch.nn.init.constant_(model.heatmap.bias, bias)
    save_checkpoint(path, model, {"variant": "mobilenet_v1_050"})
    return model


def test_the_project_is_the_nearest_folder_up_with_dvc_yaml_and_models(elsewhere, tmp_path):
    assert project.find_project() is None                            # outside: no project files at all
    (tmp_path / "cwd" / "models").mkdir()
    assert project.find_project() is None                            # models/ alone is not a project
    root = _project(tmp_path / "proj")
    assert project.find_project() == root.resolve()
    assert project.find_project(tmp_path) is None


def test_the_projects_converted_file_comes_first(elsewhere, tmp_path):
    root = _project(tmp_path / "proj")
    local = project.pretrained_path("mobilenet_v1_050", root)
    other = _save(local, 3.0)
    assert factory.pretrained_checkpoint("mobilenet_v1_050") == local.resolve()
    assert torch.equal(posenet.load_model("mobilenet_v1_050").heatmap.bias, other.heatmap.bias)
    assert not (tmp_path / "cache" / "pretrained").exists()


def test_one_rule_for_which_weights_serve(elsewhere, tmp_path, caplog):
    """--weights, else the project's trained model of that variant, else its pretrained one, else (outside any
    project, or before its convert stage ran) Google's pretrained weights from the user cache; logged."""
    given = tmp_path / "given.pt"
    _save(given, 1.0)
    cached = tmp_path / "cache" / "pretrained" / "mobilenet_v1_050.pt"
    stray = tmp_path / "cwd" / "models" / "trained" / "model.pt"     # models/ without dvc.yaml: not a project
    _save(stray, 2.0)
    with caplog.at_level("INFO", logger="posenet.models.factory"):
        assert factory.default_model_file("mobilenet_v1_050", given) == given
        assert factory.default_model_file("mobilenet_v1_050") == cached
    assert f"model mobilenet_v1_050: {cached} (Google's pretrained weights from the user cache)" in caplog.text
    root = _project(tmp_path / "proj").resolve()
    assert factory.default_model_file("mobilenet_v1_050") == cached     # convert stage not run yet
    local = project.pretrained_path("mobilenet_v1_050", root)
    _save(local, 3.0)
    assert factory.default_model_file("mobilenet_v1_050") == local
    trained = project.trained_path(root)
    _save(trained, 4.0)
    assert factory.default_model_file("mobilenet_v1_050") == trained
    assert factory.default_model_file("mobilenet_v1_050", given) == given
    assert factory.trained_model_for("mobilenet_v1_075") is None     # the trained model serves its own variant only


@pytest.mark.parametrize("inside", [True, False])
def test_export_says_which_weights_it_exported(elsewhere, tmp_path, inside):
    pytest.importorskip("onnx")
    from click.testing import CliRunner

    from posenet.commands.export import export

    want = tmp_path / "cache" / "pretrained" / "mobilenet_v1_050.pt"
    if inside:
        want = project.trained_path(_project(tmp_path / "proj").resolve())
        _save(want, 4.0)
    result = CliRunner().invoke(export, ["--model", "mobilenet_v1_050", "--stride", "16", "--out", "x.onnx"])
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith(f"from {want}")


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
