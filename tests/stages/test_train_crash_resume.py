"""The train stage under real `dvc repro`: killed mid-run, the next `dvc repro` resumes from the last checkpoint
(DVC keeps the persistent models/checkpoints out across the rerun) and ends with the weights of an uninterrupted
run; changed params start over and clear the old checkpoints."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch
import yaml
from params_support import committed_params

from posenet.models.checkpoint import load_checkpoint
from posenet.models.mobilenet import create_model
from posenet.weights.convert import state_dict_to_tfjs
from posenet.weights.tfjs import write_legacy

REPO = Path(__file__).resolve().parents[2]
STEPS = 16
KILL_AT = "step_000004.pt"


@pytest.fixture()
def project(tmp_path):
    """A copy of the pipeline (code, stages, sample data) with small params: MobileNetV1 0.50 from a local TF.js
    folder, 129 px, 16 steps of batch 2, a checkpoint every 2 steps, no val evaluation; git and DVC initialised."""
    write_legacy(tmp_path / "tfjs_src", state_dict_to_tfjs(create_model("mobilenet_v1_050").state_dict()))
    root = tmp_path / "project"
    root.mkdir()
    for name in ("dvc.yaml", "stages", "posenet", "data/sample"):
        src, dst = REPO / name, root / name
        if src.is_dir():
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(src, dst)
    params = committed_params()  # not the workspace's params.yaml, which `dvc exp run -S` rewrites
    params["model"]["name"] = "mobilenet_v1_050"
    params["weights"].update(source="local", local_dir=str(tmp_path / "tfjs_src"))
    params["predict"]["input_size"] = 129
    params["targets"]["input_size"] = 129
    params["train"].update(max_steps=STEPS, batch_size=2, checkpoint_every=2, eval_every=0, lr=1e-4, device="cpu")
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "PYTHONPATH": str(root), "OMP_NUM_THREADS": "1",
           "GIT_AUTHOR_NAME": "test", "GIT_AUTHOR_EMAIL": "test@example.invalid", "GIT_COMMITTER_NAME": "test",
           "GIT_COMMITTER_EMAIL": "test@example.invalid"}
    for cmd in (["git", "init", "-q"], ["dvc", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "x"],
                ["dvc", "repro", "-q", "generate_targets"]):
        done = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr
    return root, env


def _repro(root: Path, env: dict[str, str], *args: str) -> str:
    done = subprocess.run(["dvc", "repro", *args, "train"], cwd=root, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def _written_since(path: Path, start: float) -> bool:
    try:
        return path.stat().st_mtime >= start
    except FileNotFoundError:
        return False


def _kill_after_checkpoint(root: Path, env: dict[str, str]) -> None:
    """Start `dvc repro train` and SIGKILL it (dvc and the stage, one process group) once this run has written
    KILL_AT."""
    start = time.time()
    process = subprocess.Popen(["dvc", "repro", "train"], cwd=root, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    checkpoint = root / "models" / "checkpoints" / KILL_AT
    deadline = time.monotonic() + 600
    while not _written_since(checkpoint, start) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert process.poll() is None, "the stage ended before the checkpoint to kill at"
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=60)


def _weights(root: Path) -> dict[str, torch.Tensor]:
    state, meta = load_checkpoint(root / "models" / "trained" / "model.pt")
    assert meta["steps"] == STEPS
    return state


@pytest.mark.slow
def test_killed_train_stage_resumes_under_dvc_repro_to_the_uninterrupted_weights(project):
    root, env = project
    _kill_after_checkpoint(root, env)
    checkpoints = root / "models" / "checkpoints"
    steps = sorted(p.name for p in checkpoints.iterdir())
    assert not (root / "models" / "trained" / "model.pt").exists() and len(steps) < STEPS // 2

    log = _repro(root, env)                                              # after the crash
    assert f"resumed from models/checkpoints/{steps[-1]} at step {int(steps[-1][5:11])}" in log
    resumed = _weights(root)

    log = _repro(root, env, "-f")                                        # the same run, uninterrupted
    assert "ends a finished run; training again from step 0" in log
    uninterrupted = _weights(root)
    assert resumed.keys() == uninterrupted.keys()
    assert all(torch.equal(resumed[k], uninterrupted[k]) for k in resumed), "resumed weights differ"

    params = (root / "params.yaml").read_text().replace("lr: 0.0001", "lr: 0.0002")
    (root / "params.yaml").write_text(params)
    _kill_after_checkpoint(root, env)                                    # other params: a new run, which
    assert f"step_{STEPS:06d}.pt" not in {p.name for p in checkpoints.iterdir()}   # cleared the old checkpoints
    assert "resumed from" in _repro(root, env)                           # and resumes from its own
    changed = _weights(root)
    assert not all(torch.equal(changed[k], uninterrupted[k]) for k in changed)
    assert sorted(p.name for p in checkpoints.iterdir())[-1] == f"step_{STEPS:06d}.pt"
