"""train + evaluate stages: options override params, outputs load and hold both models' metrics, val loss on
the generate_targets stage's val targets, bad input."""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from click.testing import CliRunner

from posenet.codec.letterbox import prepare_input
from posenet.codec.personlab import collate_targets
from posenet.errors import TrainingError
from posenet.io.media import read_image
from posenet.models.checkpoint import load_checkpoint, save_checkpoint
from posenet.models.mobilenet import create_model
from posenet.params import load_params
from posenet.training.losses import personlab_loss
from posenet.training.target_store import load_targets, load_targets_index
from posenet.training.trainer import TrainPaths, train
from posenet.training.validation import validation_loss
from posenet.viz.training_curves import training_curves

DATA = Path(__file__).resolve().parents[1] / "data" / "train_mini"
STAGES = Path(__file__).resolve().parents[2] / "stages"
METRICS = {"AP", "AP50", "AP75", "APm", "APl", "AR"}


@pytest.fixture
def workdir(tmp_path: Path, load_stage) -> Path:
    """A tiny pipeline: params (MobileNetV1 0.50, 65 px), ann/{train,val}.json, targets/ (generate_targets
    stage), a 'pretrained' file."""
    params = {"model": {"name": "mobilenet_v1_050", "stride": 16}, "targets": {"input_size": 65, "radius": 32},
              "predict": {"input_size": 65},
              "train": {"max_steps": 5, "batch_size": 2, "checkpoint_every": 2, "eval_every": 1, "device": "cpu"}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    (tmp_path / "ann").mkdir()
    for split in ("train", "val"):
        (tmp_path / "ann" / f"{split}.json").write_bytes((DATA / "annotations.json").read_bytes())
    result = CliRunner().invoke(load_stage("generate_targets").main, [
        "--params", str(tmp_path / "params.yaml"), "--annotations", str(tmp_path / "ann"), "--images",
        str(DATA / "images"), "--out", str(tmp_path / "targets"), "--figure", str(tmp_path / "preview.png"),
        "--preview", "0"])
    assert result.exit_code == 0, result.output
    torch.manual_seed(0)
    save_checkpoint(tmp_path / "pre.pt", create_model("mobilenet_v1_050", 16), {"variant": "mobilenet_v1_050"})
    return tmp_path


def _train_args(w: Path, *extra: str) -> list[str]:
    return ["--params", str(w / "params.yaml"), "--annotations", str(w / "ann"), "--images", str(DATA / "images"),
            "--targets", str(w / "targets"), "--pretrained", str(w / "pre.pt"), "--out", str(w / "trained.pt"),
            "--checkpoints", str(w / "ckpt"), "--live-dir", str(w / "live"), "--metrics", str(w / "train.json"),
            "--details", str(w / "train_run.json"), *extra]


def test_train_then_evaluate(workdir, load_stage):
    train_stage, eval_stage = load_stage("train"), load_stage("evaluate")
    result = CliRunner().invoke(train_stage.main, _train_args(workdir, "--max-steps", "3"))
    assert result.exit_code == 0, result.output
    _, meta = load_checkpoint(workdir / "ckpt" / "last.pt")
    assert meta["steps"] == 3 and meta["init"] == "pretrained" and meta["variant"] == "mobilenet_v1_050"
    summary = json.loads((workdir / "train_run.json").read_text())  # every number of the run, rank 0
    assert json.loads((workdir / "train.json").read_text()) == {  # the DVC metric: four columns
        k: summary[k] for k in ("steps", "val_loss", "best_val_AP", "images_per_s")}
    assert summary["steps"] == 3 and summary["images_per_s"] > 0 and summary["best_epoch"] in (0, 1, 2)
    assert summary["start_val_AP"] is not None and summary["best_val_AP"] >= summary["start_val_AP"]
    _, meta = load_checkpoint(workdir / "trained.pt")  # the best model by val AP
    assert (meta["epoch"], meta["val_AP"]) == (summary["best_epoch"], summary["best_val_AP"])
    live = json.loads((workdir / "live" / "metrics.json").read_text())
    assert {"total", "heatmap", "short", "mid", "lr"} <= set(live["train"]) and "AP" in live["val"]
    assert {"loss", "heatmap", "short", "mid"} <= set(live["val"])
    assert all(math.isfinite(live["val"][k]) for k in ("loss", "heatmap", "short", "mid")) and live["val"]["loss"] > 0
    curves = training_curves(workdir / "live" / "plots" / "metrics")  # the visualize stage's figure shows it
    panels = {ax.get_title(): [line.get_label() for line in ax.get_lines()] for ax in curves.axes}
    assert {"val/loss", "val/heatmap", "val/short", "val/mid"} == set(panels["validation loss"])
    assert {"val/AP", "val/AR"} <= set(panels["validation AP / AR (COCO OKS)"])
    best_ap, best_epoch_step = summary["best_val_AP"], {0: 0, 1: 2, 2: 3}[summary["best_epoch"]]
    assert f"kept: AP {best_ap:.3f} at step {best_epoch_step}" in panels["validation AP / AR (COCO OKS)"]
    assert (workdir / "live" / "plots" / "metrics" / "train" / "total.tsv").is_file()
    assert sorted(p.name for p in (workdir / "ckpt").iterdir()) == ["best.pt", "last.pt", "step_000002.pt",
                                                                    "step_000003.pt"]

    # A larger budget is another run (other params, another lr schedule): it starts over, clearing the checkpoints
    result = CliRunner().invoke(train_stage.main, _train_args(workdir, "--max-steps", "4"))
    assert result.exit_code == 0, result.output
    assert load_checkpoint(workdir / "ckpt" / "last.pt")[1]["steps"] == 4
    assert sorted(p.name for p in (workdir / "ckpt").iterdir()) == ["best.pt", "last.pt", "step_000002.pt",
                                                                    "step_000004.pt"]

    (workdir / "ann" / "test.json").write_bytes((DATA / "annotations.json").read_bytes())
    out, before = workdir / "reports" / "metrics.json", workdir / "reports" / "coco_pretrained.json"
    common = ["--params", str(workdir / "params.yaml"), "--annotations", str(workdir / "ann" / "val.json"),
              "--test", str(workdir / "ann" / "test.json"), "--images", str(DATA / "images"),
              "--pretrained-metrics", str(before), "--out", str(out)]
    result = CliRunner().invoke(eval_stage.main, [*common, "--which", "trained", "--trained",
                                                  str(workdir / "trained.pt")])
    assert result.exit_code == 2 and "run the evaluate_pretrained stage" in result.output and not out.exists()
    result = CliRunner().invoke(eval_stage.main, [*common, "--which", "pretrained", "--pretrained",
                                                  str(workdir / "pre.pt"), "--trained", str(workdir / "nope.pt")])
    assert result.exit_code == 0, result.output  # the pretrained stage never reads the trained model
    assert not out.exists() and set(json.loads(before.read_text())) == {"val", "test", "presets"}
    result = CliRunner().invoke(eval_stage.main, [*common, "--trained", str(workdir / "trained.pt"),
                                                  "--details", str(out.parent / "coco.json")])
    assert result.exit_code == 0, result.output
    metrics = json.loads((out.parent / "coco.json").read_text())
    assert json.loads(out.read_text()) == {  # the DVC metric: the AP alone
        **{name: {"AP": metrics[name]["AP"]} for name in ("pretrained", "trained")},
        "test": {name: {"AP": metrics["test"][name]["AP"]} for name in ("pretrained", "trained")}}
    presets = metrics.pop("pretrained_presets")
    assert set(metrics) == {"pretrained", "trained", "gain", "test"} and list(presets) == ["tfjs", "fast", "accurate"]
    assert presets["tfjs"] == metrics["pretrained"]  # params.yaml's preset is tfjs: evaluated once
    assert metrics["test"]["pretrained"] == metrics["pretrained"] and metrics["test"]["trained"] == metrics["trained"]
    assert metrics["gain"]["AP"] == pytest.approx(metrics["trained"]["AP"] - metrics["pretrained"]["AP"])
    assert all(set(m) == METRICS and all(0.0 <= v <= 1.0 or v == -1.0 for v in m.values())
               for m in (metrics["pretrained"], metrics["trained"], *presets.values()))


def test_evaluate_presets_are_a_param_and_test_is_optional(workdir, load_stage):
    params = yaml.safe_load((workdir / "params.yaml").read_text()) | {"evaluate": {"presets": ["fast"]}}
    (workdir / "params.yaml").write_text(yaml.safe_dump(params))
    before = workdir / "coco_pretrained.json"
    result = CliRunner().invoke(load_stage("evaluate").main, [
        "--params", str(workdir / "params.yaml"), "--annotations", str(workdir / "ann" / "val.json"),
        "--test", str(workdir / "ann" / "no-test.json"), "--images", str(DATA / "images"),
        "--pretrained", str(workdir / "pre.pt"), "--which", "pretrained", "--pretrained-metrics", str(before)])
    assert result.exit_code == 0, result.output
    scores = json.loads(before.read_text())
    assert set(scores) == {"val", "presets"} and list(scores["presets"]) == ["fast"]


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
    out, before = workdir / "metrics.json", workdir / "coco_pretrained.json"
    before.write_text(json.dumps({"val": dict.fromkeys(METRICS, 0.5)}))
    result = CliRunner().invoke(load_stage("evaluate").main, [
        "--params", str(workdir / "params.yaml"), "--annotations", str(workdir / "ann" / "val.json"),
        "--images", str(DATA / "images"), "--pretrained-metrics", str(before),
        "--trained", str(workdir / "nope.pt"), "--out", str(out), "--details", str(workdir / "coco.json")])
    assert result.exit_code == 2 and "nope.pt" in result.output
    assert not out.exists()


def _library_paths(w: Path) -> TrainPaths:
    return TrainPaths(w / "ann" / "train.json", w / "ann" / "val.json", DATA / "images", w / "pre.pt",
                      w / "trained.pt", w / "ckpt", None, targets_dir=w / "targets")


def test_val_loss_is_per_image_personlab_loss_on_the_stored_targets(workdir):
    """validation_loss of one image = personlab_loss of the model on the Predictor's input vs the stored npz;
    batching does not change the mean; train() reports it with the val AP at each evaluation."""
    params = load_params(workdir / "params.yaml")
    folder = workdir / "targets" / "val"
    entries = load_targets_index(folder, params)
    assert len(entries) == 4
    model = create_model("mobilenet_v1_050", 16).train()
    torch.manual_seed(1)
    for p in model.parameters():  # a model whose short/mid outputs are not ~0 (the losses must be non-trivial)
        p.data.normal_(0, 0.05)
    device = torch.device("cpu")

    entry = entries[0]
    x, _ = prepare_input(read_image(DATA / "images" / entry["file_name"]), (65, 65))
    with torch.no_grad():
        out = model.eval()(torch.from_numpy(x).permute(2, 0, 1)[None])
    model.train()
    expected = personlab_loss(out, collate_targets([load_targets(folder / entry["targets"])[0]]), 32.0,
                              params.train.loss_weights)
    got = validation_loss(model, params, entries[:1], folder, DATA / "images", device, batch_size=4)
    assert model.training  # left as it was
    assert set(got) == {"loss", "heatmap", "short", "mid"}
    for name, key in (("loss", "total"), ("heatmap", "heatmap"), ("short", "short"), ("mid", "mid")):
        assert got[name] == pytest.approx(float(expected[key]), rel=1e-5), name
    assert got["short"] > 0 and got["mid"] > 0

    one_by_one = validation_loss(model, params, entries, folder, DATA / "images", device, batch_size=1)
    batched = validation_loss(model, params, entries, folder, DATA / "images", device, batch_size=3)
    assert one_by_one == pytest.approx(batched, rel=1e-5)

    params = dataclasses.replace(params, train=dataclasses.replace(params.train, max_steps=2, checkpoint_every=10))
    result = train(params, _library_paths(workdir))
    assert [v["step"] for v in result.val] == [0, 2]  # before the first step, and after the epoch
    for val in result.val:
        assert {"AP", "loss", "heatmap", "short", "mid"} <= set(val)
        assert all(math.isfinite(val[k]) for k in ("loss", "heatmap", "short", "mid"))


def test_stale_val_targets_are_a_training_error(workdir):
    """Targets built at 65 px / stride 16 do not fit params at 81 px or stride 8: stop before training."""
    params = load_params(workdir / "params.yaml")
    for stale in (dataclasses.replace(params, targets=dataclasses.replace(params.targets, input_size=81)),
                  dataclasses.replace(params, model=dataclasses.replace(params.model, stride=8))):
        with pytest.raises(TrainingError, match=r"stale targets, built for input size 65, stride 16.*generate_targets"):
            train(stale, _library_paths(workdir))
    assert not (workdir / "trained.pt").exists() and not (workdir / "ckpt").exists()


def test_missing_val_targets_stop_the_stage_clearly_unless_eval_is_off(workdir, load_stage):
    missing = workdir / "none"
    result = CliRunner().invoke(load_stage("train").main,
                                _train_args(workdir, "--targets", str(missing), "--max-steps", "1"))
    assert result.exit_code == 2
    message = result.output.strip().splitlines()[-1]
    assert message.startswith("error: ") and str(missing / "val" / "index.json") in message
    assert "generate_targets" in message
    assert not (workdir / "trained.pt").exists()
    # the library trains without targets when evaluation is off
    params = load_params(workdir / "params.yaml")
    params = dataclasses.replace(params, train=dataclasses.replace(params.train, max_steps=1, eval_every=0))
    paths = dataclasses.replace(_library_paths(workdir), targets_dir=missing)
    assert train(params, paths).val == []


@pytest.mark.parametrize("stage", ["train", "evaluate"])
def test_help(stage, load_stage):
    result = CliRunner().invoke(load_stage(stage).main, ["--help"])
    assert result.exit_code == 0 and "--params" in result.output


def test_a_diverging_run_is_one_line_exit_2_and_writes_no_model(workdir, load_stage):
    """lr 1e9 made a finite loss of 7e11 and a model.pt with exit 0: now one line, exit 2, no model file."""
    result = CliRunner().invoke(load_stage("train").main, _train_args(workdir, "--max-steps", "6", "--lr", "1e9"))
    assert result.exit_code == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and errors[0].startswith("error: training diverged: loss "), result.stderr
    assert "Traceback" not in result.stderr and not (workdir / "trained.pt").exists()
