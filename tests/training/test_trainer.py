"""Training loop: it learns, resume repeats the uninterrupted run, DDP on CPU, bad input stops clearly."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

import posenet.training.trainer as train_mod
from posenet.errors import ModelError, TrainingError
from posenet.evaluation.coco import evaluate_predictor
from posenet.inference.predictor import Predictor
from posenet.models.checkpoint import load_checkpoint, save_checkpoint
from posenet.models.factory import load_model
from posenet.models.mobilenet import create_model
from posenet.params import AugmentParams, ModelParams, Params, PredictParams, TargetsParams, TrainParams
from posenet.training.optim import lr_factor
from posenet.training.state import find_last_checkpoint
from posenet.training.trainer import TrainPaths, train

DATA = Path(__file__).parents[1] / "data" / "train_mini"
ROOT = Path(__file__).resolve().parents[2]
NO_AUGMENT = AugmentParams(hflip=0.0, scale=(1.0, 1.0), rotate=0.0, crop=False)


def _params(**train_fields) -> Params:
    """Tiny CPU config: MobileNetV1 0.50 at stride 16, 65 px input, from scratch, no val evaluation."""
    fields = {"init": "scratch", "lr": 1e-3, "batch_size": 2, "epochs": 1, "max_steps": 0, "checkpoint_every": 2,
              "eval_every": 0, "device": "cpu", "augment": AugmentParams()} | train_fields
    return Params(model=ModelParams("mobilenet_v1_050", 16), targets=TargetsParams(65, 32.0),
                  predict=PredictParams(input_size=65), train=TrainParams(**fields))


def _paths(tmp_path: Path, annotations: Path = DATA / "annotations.json") -> TrainPaths:
    return TrainPaths(train_annotations=annotations, val_annotations=annotations, images_dir=DATA / "images",
                      pretrained=None, output=tmp_path / "model.pt", checkpoints=tmp_path / "ckpt", live_dir=None,
                      targets_dir=tmp_path / "targets")


def test_lr_schedules():
    tp = TrainParams(lr=1.0, warmup_steps=2, schedule="cosine")
    assert [lr_factor(s, 10, tp) for s in (0, 1)] == [0.5, 1.0]
    assert lr_factor(2, 10, tp) == pytest.approx(1.0) and lr_factor(10, 10, tp) == pytest.approx(0.0)
    assert lr_factor(6, 10, tp) == pytest.approx(0.5)
    step = dataclasses.replace(tp, schedule="step")
    assert lr_factor(3, 11, step) == 1.0 and lr_factor(10, 11, step) == pytest.approx(0.1)
    assert lr_factor(9, 10, dataclasses.replace(tp, schedule="constant")) == 1.0


def test_output_is_a_model_checkpoint_every_consumer_loads(tmp_path):
    params = _params(max_steps=2)
    result = train(params, _paths(tmp_path))
    assert result.steps == 2 and len(result.losses) == 2
    state, meta = load_checkpoint(tmp_path / "model.pt")
    assert meta["variant"] == "mobilenet_v1_050" and meta["init"] == "scratch" and meta["steps"] == 2
    assert meta["params"]["train"]["max_steps"] == 2
    model = load_model("mobilenet_v1_050", 16, weights=tmp_path / "model.pt")
    assert not model.training
    assert find_last_checkpoint(tmp_path / "ckpt").name == "step_000002.pt"


def _interrupting_loss(after_calls: int, exc: BaseException | None = None):
    """personlab_loss that raises ``exc`` (or returns NaN) once it has been called ``after_calls`` times."""
    real = train_mod.personlab_loss
    calls = {"n": 0}

    def loss(*args, **kwargs):
        calls["n"] += 1
        out = real(*args, **kwargs)
        if calls["n"] > after_calls:
            if exc is not None:
                raise exc
            out = dict(out, total=out["total"] * float("nan"))
        return out

    return loss


def test_resume_gives_the_same_losses_as_an_uninterrupted_run(tmp_path, monkeypatch):
    params = _params(epochs=3, schedule="cosine", warmup_steps=1)  # 4 images / batch 2 -> 6 steps, augmented
    full = train(params, _paths(tmp_path / "full"))
    assert full.steps == 6

    monkeypatch.setattr(train_mod, "personlab_loss", _interrupting_loss(3, KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        train(params, _paths(tmp_path / "split"))
    assert find_last_checkpoint(tmp_path / "split" / "ckpt").name == "step_000002.pt"
    assert not (tmp_path / "split" / "model.pt").exists()
    monkeypatch.undo()
    resumed = train(params, _paths(tmp_path / "split"), resume=True)
    assert resumed.steps == 6 and len(resumed.losses) == 4
    for a, b in zip(full.losses[2:], resumed.losses):
        assert a == pytest.approx(b, rel=1e-5, abs=1e-7)
    a = load_checkpoint(tmp_path / "full" / "model.pt")[0]
    b = load_checkpoint(tmp_path / "split" / "model.pt")[0]
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


def test_non_finite_loss_stops_clearly_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    monkeypatch.setattr(train_mod, "personlab_loss", _interrupting_loss(3))
    with pytest.raises(TrainingError, match=r"non-finite loss at step 4.*step_000002\.pt"):
        train(_params(epochs=3), _paths(tmp_path))
    last = find_last_checkpoint(tmp_path / "ckpt")
    assert last.name == "step_000002.pt"
    state = torch.load(last, weights_only=True)
    assert all(torch.isfinite(v).all() for v in state["model"].values())
    assert not (tmp_path / "model.pt").exists()


def test_empty_split_is_a_training_error(tmp_path):
    empty = tmp_path / "empty.json"
    empty.write_text('{"images": [], "annotations": [], "categories": []}')
    with pytest.raises(TrainingError, match="no images"):
        train(_params(max_steps=1), _paths(tmp_path, empty))
    assert not (tmp_path / "model.pt").exists()


@pytest.mark.parametrize("torn,message", [(True, "not a readable checkpoint"), (False, "not a training checkpoint")])
def test_resume_from_a_bad_checkpoint_is_a_model_error(tmp_path, torn, message):
    """Resume reads through the checkpoint helper: a torn file or a model-only checkpoint is a ModelError."""
    (tmp_path / "ckpt").mkdir()
    bad = tmp_path / "ckpt" / "step_000002.pt"
    save_checkpoint(bad, create_model("mobilenet_v1_050", 16), {"variant": "mobilenet_v1_050"})
    if torn:  # a write cut short
        bad.write_bytes(bad.read_bytes()[: bad.stat().st_size // 2])
    with pytest.raises(ModelError, match=rf"step_000002\.pt: {message}"):
        train(_params(max_steps=1), _paths(tmp_path), resume=True)
    assert not (tmp_path / "model.pt").exists()


def test_fresh_run_clears_stale_checkpoints(tmp_path):
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "step_000999.pt").write_bytes(b"stale")
    train(_params(max_steps=1), _paths(tmp_path))
    assert find_last_checkpoint(tmp_path / "ckpt").name == "step_000001.pt"


def test_a_diverging_run_stops_in_one_line_without_a_model(tmp_path):
    """The issue's case: lr 1e9 gave a finite loss of 7e11 and a model.pt with weights of 5e9, exit 0."""
    with pytest.raises(TrainingError) as info:
        train(_params(lr=1e9, epochs=3), _paths(tmp_path))
    message = str(info.value)
    assert message.startswith("training diverged: loss ") and "over 100x the first-epoch median" in message
    assert "lower train.lr" in message and "\n" not in message
    assert not (tmp_path / "model.pt").exists()


def _scaled_loss(after_calls: int, factor: float):
    """personlab_loss whose total is multiplied by ``factor`` once it has been called ``after_calls`` times."""
    real = train_mod.personlab_loss
    calls = {"n": 0}

    def loss(*args, **kwargs):
        calls["n"] += 1
        out = real(*args, **kwargs)
        return dict(out, total=out["total"] * factor) if calls["n"] > after_calls else out

    return loss


@pytest.mark.parametrize("factor, stops", [(1e3, True), (20.0, False)])
def test_the_bound_is_100x_the_first_epoch_median_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch, factor,
                                                                                    stops):
    """Steps 1-2 make the first epoch (4 images, batch 2); from step 4 the loss is scaled: 1000x stops the run
    (keeping step_000002.pt, no model file), 20x does not (noise, a harder batch)."""
    monkeypatch.setattr(train_mod, "personlab_loss", _scaled_loss(3, factor))
    if not stops:
        assert train(_params(epochs=3), _paths(tmp_path)).steps == 6
        return
    with pytest.raises(TrainingError, match=r"training diverged: loss \S+ at step 4 is over 100x the first-epoch "
                                            r"median \(\S+\); lower train.lr; stopped without writing .*model\.pt, "
                                            r"last good checkpoint: .*step_000002\.pt$"):
        train(_params(epochs=3), _paths(tmp_path))
    assert find_last_checkpoint(tmp_path / "ckpt").name == "step_000002.pt"
    assert not (tmp_path / "model.pt").exists()


def test_a_checkpoint_of_other_params_or_data_is_not_resumed(tmp_path, monkeypatch, caplog):
    """Resume only when the checkpoint's fingerprint (params, data, code, initial weights) is this run's; else start
    over and delete the stale checkpoints."""
    caplog.set_level(logging.INFO, logger="posenet")
    annotations = tmp_path / "annotations.json"
    annotations.write_bytes((DATA / "annotations.json").read_bytes())
    params = _params(epochs=3)

    def interrupted_after_step_2() -> None:
        with monkeypatch.context() as patch:
            patch.setattr(train_mod, "personlab_loss", _interrupting_loss(3, KeyboardInterrupt()))
            with pytest.raises(KeyboardInterrupt):
                train(params, _paths(tmp_path, annotations))
        assert find_last_checkpoint(tmp_path / "ckpt").name == "step_000002.pt"

    interrupted_after_step_2()
    result = train(_params(epochs=3, lr=2e-3), _paths(tmp_path, annotations), resume=True)   # other params
    assert len(result.losses) == 6 and "step_000002.pt belongs to another run" in caplog.text
    interrupted_after_step_2()
    data = json.loads(annotations.read_text())
    data["annotations"][0]["keypoints"][0] += 1.0                       # the data changed: one x by a pixel
    annotations.write_text(json.dumps(data))
    caplog.clear()
    result = train(params, _paths(tmp_path, annotations), resume=True)
    assert len(result.losses) == 6 and "step_000002.pt belongs to another run" in caplog.text


def test_the_end_of_a_finished_run_is_not_resumed(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="posenet")
    params = _params(max_steps=2)
    first = train(params, _paths(tmp_path))
    again = train(params, _paths(tmp_path), resume=True)                # e.g. dvc repro -f train
    assert len(again.losses) == 2 and again.losses == first.losses
    assert "step_000002.pt ends a finished run; training again from step 0" in caplog.text


@pytest.mark.slow
def test_ddp_two_processes_on_cpu_with_gloo(tmp_path):
    params = _params(max_steps=2, checkpoint_every=1)
    raw = {"model": dataclasses.asdict(params.model), "targets": dataclasses.asdict(params.targets),
           "predict": dataclasses.asdict(params.predict), "train": dataclasses.asdict(params.train)}
    raw["train"]["augment"]["scale"] = list(raw["train"]["augment"]["scale"])
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    ann = tmp_path / "ann"
    ann.mkdir()
    for split in ("train", "val"):
        (ann / f"{split}.json").write_bytes((DATA / "annotations.json").read_bytes())
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(ROOT / "stages" / "train.py"), "--params", str(tmp_path / "params.yaml"), "--annotations", str(ann),
           "--images", str(DATA / "images"), "--out", str(tmp_path / "model.pt"),
           "--checkpoints", str(tmp_path / "ckpt"), "--live-dir", str(tmp_path / "live")]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    _, meta = load_checkpoint(tmp_path / "model.pt")
    assert meta["steps"] == 2
    assert (tmp_path / "live" / "metrics.json").is_file()


# "It learns": the tuned overfitting recipe (MobileNetV1 0.50, stride 16, 193 px, from scratch, Adam).
LEARN_SIZE = 193
LEARN_STEPS = 250


@pytest.mark.slow
def test_it_learns_from_scratch_on_four_real_images(tmp_path):
    torch.set_num_threads(min(2, torch.get_num_threads()))
    params = _params(epochs=1, max_steps=LEARN_STEPS, batch_size=4, lr=2e-3, warmup_steps=10, augment=NO_AUGMENT,
                     checkpoint_every=10_000)
    params = dataclasses.replace(params, targets=TargetsParams(LEARN_SIZE, 32.0))
    result = train(params, _paths(tmp_path))
    assert result.losses[-1]["total"] < 0.5 * result.losses[0]["total"]
    model = load_model("mobilenet_v1_050", 16, weights=tmp_path / "model.pt")
    predictor = Predictor(model, input_size=LEARN_SIZE, score_threshold=0.3, device="cpu")
    metrics, _ = evaluate_predictor(predictor, DATA / "annotations.json", DATA / "images")
    assert metrics["AP"] >= 0.5, metrics


@pytest.mark.slow
def test_fine_tuning_with_default_params_does_not_lower_val_ap(tmp_path, pretrained_model):
    """The default params (the dataclass defaults, which equal the shipped params.yaml: tests/test_params.py) fine-tune
    Google's weights on the sample dataset's train split, built here into tmp_path as the fetch_annotations stage
    does: the model handed back is never worse on val than Google's, and its val AP is the one the evaluate stage
    measures (the same Predictor). Nothing of the workspace (params.yaml, models/, data/) is read or written."""
    from posenet.data.pipeline import build_dataset
    from posenet.training.target_store import write_targets

    params = Params()
    params = dataclasses.replace(params, train=dataclasses.replace(params.train, device="cpu"))
    annotations, images = tmp_path / "annotations", tmp_path / "images"
    build_dataset(dataclasses.replace(params.data, path=str(ROOT / params.data.path)), annotations, images,
                  tmp_path / "data_summary.json")
    (tmp_path / "targets").mkdir()
    write_targets(annotations, images, tmp_path / "targets", params.targets.input_size, params.model.stride,
                  params.targets.radius, splits=("val",))
    save_checkpoint(tmp_path / "pre.pt", pretrained_model, {"variant": params.model.name})
    paths = TrainPaths(annotations / "train.json", annotations / "val.json", images, tmp_path / "pre.pt",
                       tmp_path / "model.pt", tmp_path / "ckpt", None, tmp_path / "targets")
    result = train(params, paths)

    def val_ap(weights: Path) -> float:
        predictor = Predictor.from_params(params, weights=str(weights), device="cpu")
        return evaluate_predictor(predictor, annotations / "val.json", images)[0]["AP"]

    before, after = val_ap(tmp_path / "pre.pt"), val_ap(tmp_path / "model.pt")
    assert after >= before, (before, after)
    assert result.selection.start_ap == pytest.approx(before, abs=1e-9)
    assert result.selection.best_ap == pytest.approx(after, abs=1e-9)


def test_wandb_is_optional_and_logs_when_enabled(tmp_path, monkeypatch):
    """train.wandb offline: wandb is imported lazily, gets the per-step losses and is finished."""
    import sys
    import types

    calls = {"init": [], "log": [], "finish": 0}

    class Run:
        def log(self, values, step):
            calls["log"].append((step, values))

        def finish(self):
            calls["finish"] += 1

    fake = types.SimpleNamespace(init=lambda **kw: calls["init"].append(kw) or Run())
    monkeypatch.setitem(sys.modules, "wandb", fake)
    train(_params(max_steps=2, wandb="offline"), _paths(tmp_path))
    assert calls["init"][0]["mode"] == "offline" and calls["finish"] == 1
    assert [s for s, _ in calls["log"]] == [1, 2] and "train/total" in calls["log"][0][1]
    calls["init"].clear()
    train(_params(max_steps=1), _paths(tmp_path / "off"))
    assert calls["init"] == []


def test_a_progress_bar_counts_every_step_and_shows_the_loss(tmp_path, monkeypatch, caplog):
    """On a terminal with info logging on (the CLI's default) the run shows one tqdm bar advanced per step (not one
    line per epoch)."""
    import io

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    err = Terminal()
    monkeypatch.setattr(sys, "stderr", err)
    caplog.set_level(logging.INFO, logger="posenet")
    result = train(_params(max_steps=3), _paths(tmp_path))
    shown = err.getvalue()
    assert result.steps == 3
    assert "train: 100%" in shown and "3/3" in shown and "loss=" in shown


def test_summary_holds_the_last_losses_and_val_ap():
    result = train_mod.TrainResult(steps=4, losses=[{"total": 2.0}, {"total": 1.5}],
                                   val=[{"AP": 0.1, "loss": 3.0}, {"AP": 0.2, "loss": 2.5}], images_per_s=3.5)
    result.selection.update(0.1, 0, 0)
    result.selection.update(0.2, 1, 4)
    assert result.summary() == {"steps": 4, "train_loss": 1.5, "val_loss": 2.5, "val_AP": 0.2, "start_val_AP": 0.1,
                                "best_val_AP": 0.2, "best_epoch": 1, "images_per_s": 3.5, "stopped_early": False}
    assert train_mod.TrainResult(steps=0).summary() == {
        "steps": 0, "train_loss": None, "val_loss": None, "val_AP": None, "start_val_AP": None, "best_val_AP": None,
        "best_epoch": None, "images_per_s": 0.0, "stopped_early": False}
