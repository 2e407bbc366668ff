"""Model selection (issue 24): the val AP before the first step (epoch 0) and after every train.eval_every epochs,
the best model by val AP handed back (the initial one included), the last one kept as a checkpoint, train.patience,
train.threads, train.precision, the numbers in reports/train.json and DVCLive."""

from __future__ import annotations

import dataclasses
import json
import math
import os
from pathlib import Path

import pytest
import torch

import posenet.training.trainer as train_mod
from posenet.device import cpu_flags
from posenet.errors import ParamsError
from posenet.models.checkpoint import load_checkpoint, save_checkpoint
from posenet.models.mobilenet import create_model
from posenet.params import AugmentParams, ModelParams, Params, PredictParams, TargetsParams, TrainParams
from posenet.runtime.bf16 import BF16_CPU_FLAGS
from posenet.training.distributed import threads_per_process
from posenet.training.selection import Selection
from posenet.training.state import BEST_MODEL, LAST_MODEL
from posenet.training.target_store import write_split_targets
from posenet.training.trainer import TrainPaths, train
from posenet.viz.dvclive_metrics import read_dvclive_metrics

DATA = Path(__file__).parents[1] / "data" / "train_mini"
NO_AUGMENT = AugmentParams(hflip=0.0, scale=(1.0, 1.0), rotate=0.0, crop=False)


def _params(**train_fields) -> Params:
    """Tiny CPU run: MobileNetV1 0.50, stride 16, 65 px, 4 images in batches of 2 (2 steps per epoch), evaluated
    every epoch."""
    fields = {"init": "pretrained", "lr": 1e-3, "batch_size": 2, "epochs": 4, "checkpoint_every": 2, "eval_every": 1,
              "device": "cpu", "augment": NO_AUGMENT} | train_fields
    return Params(model=ModelParams("mobilenet_v1_050", 16), targets=TargetsParams(65, 32.0),
                  predict=PredictParams(input_size=65), train=TrainParams(**fields))


@pytest.fixture
def run_dir(tmp_path) -> Path:
    """A folder with the val targets the val loss needs and a seeded random 'pretrained' model file."""
    (tmp_path / "targets" / "val").mkdir(parents=True)
    write_split_targets(DATA / "annotations.json", DATA / "images", tmp_path / "targets" / "val", 65, 16, 32.0)
    torch.manual_seed(7)
    save_checkpoint(tmp_path / "start.pt", create_model("mobilenet_v1_050", 16), {"variant": "mobilenet_v1_050"})
    return tmp_path


def _paths(root: Path, live: bool = False, out: str = "") -> TrainPaths:
    """The run's inputs in ``root``; outputs in ``root/out``."""
    annotations = DATA / "annotations.json"
    return TrainPaths(train_annotations=annotations, val_annotations=annotations, images_dir=DATA / "images",
                      pretrained=root / "start.pt", output=root / out / "model.pt", checkpoints=root / out / "ckpt",
                      live_dir=root / out / "live" if live else None, targets_dir=root / "targets")


def scripted_ap(monkeypatch, aps: list[float | BaseException]) -> list[dict]:
    """Let the trainer's evaluation run for real (Predictor, pycocotools) but report ``aps`` in turn as the val AP
    (an exception in the list is raised instead), so that the run has a known curve; returns the evaluations seen
    (real metrics, the thread count, the weights evaluated)."""
    real = train_mod.evaluate_model
    seen: list[dict] = []

    def evaluate(model, params, annotations, images_dir, device):
        if isinstance(aps[len(seen)], BaseException):
            raise aps[len(seen)]
        metrics = real(model, params, annotations, images_dir, device)
        seen.append(metrics | {"threads": torch.get_num_threads(),
                               "weights": {k: v.detach().clone() for k, v in model.state_dict().items()}})
        return metrics | {"AP": aps[len(seen) - 1]}

    monkeypatch.setattr(train_mod, "evaluate_model", evaluate)
    return seen


def same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_best_model_is_the_peak_mid_way_and_the_last_is_a_checkpoint(run_dir, monkeypatch):
    seen = scripted_ap(monkeypatch, [0.2, 0.3, 0.6, 0.4, 0.5])
    result = train(_params(), _paths(run_dir, live=True))
    assert [v["epoch"] for v in result.val] == [0, 1, 2, 3, 4] and [v["step"] for v in result.val] == [0, 2, 4, 6, 8]
    assert result.steps == 8 and not result.stopped_early
    state, meta = load_checkpoint(run_dir / "model.pt")
    assert same_weights(state, seen[2]["weights"])                          # the model evaluated at epoch 2
    assert (meta["epoch"], meta["steps"], meta["val_AP"], meta["selected"]) == (2, 4, 0.6, "best val AP")
    last, last_meta = load_checkpoint(run_dir / "ckpt" / LAST_MODEL)
    assert same_weights(last, seen[4]["weights"]) and (last_meta["epoch"], last_meta["steps"]) == (4, 8)
    assert same_weights(load_checkpoint(run_dir / "ckpt" / BEST_MODEL)[0], state)
    summary = result.summary()
    assert (summary["best_epoch"], summary["best_val_AP"], summary["start_val_AP"], summary["val_AP"]) == \
        (2, 0.6, 0.2, 0.5)
    assert summary["images_per_s"] > 0 and summary["stopped_early"] is False
    assert json.dumps(summary)  # reports/train_run.json: plain JSON values
    assert result.metrics() == {"steps": 8, "val_loss": summary["val_loss"], "best_val_AP": 0.6,
                                "images_per_s": summary["images_per_s"]}  # reports/train.json, the DVC metric
    steps, values = read_dvclive_metrics(run_dir / "live" / "plots" / "metrics")["val/AP"]
    assert steps.tolist() == [0, 2, 4, 6, 8] and values.tolist() == [0.2, 0.3, 0.6, 0.4, 0.5]  # epoch 0 first
    assert all("loss" in v and math.isfinite(v["loss"]) for v in result.val)  # the val loss is still logged


def test_training_never_hands_back_a_model_worse_on_val_than_the_start(run_dir, monkeypatch):
    scripted_ap(monkeypatch, [0.5, 0.4, 0.45])
    result = train(_params(epochs=2), _paths(run_dir))
    state, meta = load_checkpoint(run_dir / "model.pt")
    assert same_weights(state, load_checkpoint(run_dir / "start.pt")[0])   # the initial model, unchanged
    assert (meta["epoch"], meta["steps"], meta["val_AP"]) == (0, 0, 0.5)
    assert result.summary()["best_epoch"] == 0 and result.steps == 4
    assert not same_weights(load_checkpoint(run_dir / "ckpt" / LAST_MODEL)[0], state)  # it did train


def test_a_tie_keeps_the_earlier_model():
    selection = Selection()
    assert selection.update(0.3, 0, 0) and not selection.update(0.3, 1, 2) and not selection.update(math.nan, 2, 4)
    assert (selection.best_epoch, selection.stale) == (0, 2)
    assert Selection.from_state(selection.state()) == selection and Selection.from_state({}) == Selection()


def test_patience_stops_after_evaluations_without_gain(run_dir, monkeypatch):
    seen = scripted_ap(monkeypatch, [0.2, 0.5, 0.4, 0.45, 0.3, 0.9])
    result = train(_params(epochs=5, patience=2), _paths(run_dir))
    assert len(seen) == 4 and result.steps == 6 and result.stopped_early      # epochs 2 and 3 brought no gain
    assert load_checkpoint(run_dir / "model.pt")[1]["epoch"] == 1
    assert load_checkpoint(run_dir / "ckpt" / LAST_MODEL)[1]["steps"] == 6
    assert (run_dir / "ckpt" / "step_000006.pt").is_file()                     # the stop point can be resumed from


def test_resume_keeps_the_best_model_found_before_the_interruption(run_dir, monkeypatch):
    scripted_ap(monkeypatch, [0.2, 0.7, 0.3, 0.4, 0.5])
    train(_params(), _paths(run_dir, out="full"))
    monkeypatch.undo()
    scripted_ap(monkeypatch, [0.2, 0.7, 0.3, KeyboardInterrupt()])       # stopped while evaluating epoch 3
    with pytest.raises(KeyboardInterrupt):
        train(_params(), _paths(run_dir, out="split"))
    monkeypatch.undo()
    scripted_ap(monkeypatch, [0.4, 0.5])
    resumed = train(_params(), _paths(run_dir, out="split"), resume=True)  # from step 4 (end of epoch 2)
    assert [v["epoch"] for v in resumed.val] == [3, 4] and resumed.summary()["best_epoch"] == 1
    assert resumed.summary()["best_val_AP"] == 0.7 and resumed.summary()["start_val_AP"] == 0.2
    assert same_weights(load_checkpoint(run_dir / "split" / "model.pt")[0],
                        load_checkpoint(run_dir / "full" / "model.pt")[0])


def test_threads_apply_during_training_and_are_restored(run_dir, monkeypatch):
    before = torch.get_num_threads()
    seen = scripted_ap(monkeypatch, [0.1, 0.2])
    train(_params(epochs=1, threads=1), _paths(run_dir))
    assert [s["threads"] for s in seen] == [1, 1] and torch.get_num_threads() == before


def test_threads_per_process_shares_the_cores_among_torchrun_processes(monkeypatch):
    cores = len(os.sched_getaffinity(0))
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    assert threads_per_process(3) == 3 and threads_per_process(0) == cores
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    assert threads_per_process(0) == max(1, cores // 2)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", str(4 * cores))
    assert threads_per_process(0) == 1


@pytest.mark.skipif(bool(cpu_flags() & set(BF16_CPU_FLAGS)), reason="this CPU has bfloat16 instructions")
def test_bf16_on_a_cpu_without_bfloat16_is_refused_before_training(run_dir):
    with pytest.raises(ParamsError, match="train.precision = bf16 needs a CPU with AVX512-BF16 or AMX-BF16"):
        train(_params(precision="bf16"), _paths(run_dir))
    assert not (run_dir / "model.pt").exists()


@pytest.mark.skipif(not cpu_flags() & set(BF16_CPU_FLAGS), reason="needs a CPU with AVX512-BF16 / AMX-BF16")
def test_bf16_training_steps_run_and_learn(run_dir):
    result = train(_params(precision="bf16", eval_every=0, lr=2e-3, epochs=4), _paths(run_dir))
    assert all(math.isfinite(loss["total"]) for loss in result.losses)
    assert result.losses[-1]["total"] < result.losses[0]["total"]


def test_without_evaluations_the_last_model_is_handed_back(run_dir):
    result = train(dataclasses.replace(_params(epochs=1), train=TrainParams(
        init="pretrained", batch_size=2, epochs=1, eval_every=0, device="cpu", augment=NO_AUGMENT)), _paths(run_dir))
    state, meta = load_checkpoint(run_dir / "model.pt")
    assert meta["selected"] == "last" and meta["val_AP"] is None and result.summary()["best_epoch"] is None
    assert same_weights(state, load_checkpoint(run_dir / "ckpt" / LAST_MODEL)[0])
