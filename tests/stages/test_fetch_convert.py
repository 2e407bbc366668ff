"""Stages fetch_weights and convert as the pipeline runs them: real subprocesses, params defaults, options,
one-line errors with exit code 2 and nothing half-written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from posenet.models import create_model, load_checkpoint, load_model
from posenet.weights import state_dict_to_tfjs, write_legacy

REPO = Path(__file__).resolve().parents[2]


def stage(script: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "stages" / script), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def assert_user_error(done: subprocess.CompletedProcess, pattern: str) -> None:
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert "Traceback" not in done.stderr and lines[-1].startswith("error: ") and pattern in lines[-1], done.stderr


@pytest.fixture()
def workdir(tmp_path):
    """A run folder with params.yaml (model mobilenet_v1_050, local source) and a local TF.js folder."""
    state = create_model("mobilenet_v1_050").state_dict()
    write_legacy(tmp_path / "tfjs_src", state_dict_to_tfjs(state))
    (tmp_path / "params.yaml").write_text(
        "model:\n  name: mobilenet_v1_050\n  stride: 16\nweights:\n  source: local\n  local_dir: tfjs_src\n")
    return tmp_path, state


@pytest.mark.slow
def test_fetch_then_convert_twice(workdir):
    cwd, state = workdir
    done = stage("fetch_weights.py", cwd=cwd)
    assert done.returncode == 0, done.stderr
    tfjs = cwd / "models" / "tfjs" / "mobilenet_v1_050"
    assert (tfjs / "SHA256SUMS").is_file() and (tfjs / "manifest.json").is_file()
    first = []
    for _ in range(2):
        done = stage("convert.py", cwd=cwd)
        assert done.returncode == 0, done.stderr
        first.append(load_checkpoint(cwd / "models" / "pretrained" / "mobilenet_v1_050.pt"))
    (a, meta), (b, _) = first
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert all(torch.equal(a[k], v) for k, v in state.items())
    assert meta["variant"] == "mobilenet_v1_050" and meta["source"] == "local"
    sums = dict(line.split("  ")[::-1] for line in (tfjs / "SHA256SUMS").read_text().splitlines())
    assert meta["checksums"] == sums
    model = load_model("mobilenet_v1_050", 8, weights=cwd / "models" / "pretrained" / "mobilenet_v1_050.pt")
    assert model.output_stride == 8


@pytest.mark.slow
def test_bad_inputs_are_one_line_errors(workdir):
    cwd, _ = workdir
    bin_file = cwd / "tfjs_src" / "MobilenetV1_Conv2d_5_pointwise_weights"
    bin_file.write_bytes(bin_file.read_bytes()[:-7])  # truncated
    done = stage("fetch_weights.py", cwd=cwd)
    assert_user_error(done, "variable MobilenetV1/Conv2d_5_pointwise/weights")
    assert not (cwd / "models" / "tfjs" / "mobilenet_v1_050").exists()
    assert not [p for p in (cwd / "models").rglob("*") if not p.is_dir()]  # no file, no temp folder content

    done = stage("convert.py", "--tfjs-dir", "tfjs_src", cwd=cwd)  # convert straight from a bad folder
    assert_user_error(done, "Conv2d_5_pointwise")
    assert not [p for p in (cwd / "models").rglob("*") if not p.is_dir()]

    assert_user_error(stage("convert.py", "--name", "mobilenet_v9", cwd=cwd), "unknown model 'mobilenet_v9'")
