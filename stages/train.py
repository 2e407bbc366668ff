"""train stage: fine-tune PoseNet (or train from scratch) -> models/trained/model.pt (the best model by val AP,
evaluated before the first step and every ``train.eval_every`` epochs), checkpoints (``last.pt``, ``best.pt``,
resume states), dvclive/, reports/train.json (the DVC metric) and reports/train_run.json (every number).

Reads params ``model``, ``targets``, ``train`` (and ``predict`` for the per-epoch val AP); options override
them. The val loss reads the val targets of the generate_targets stage (``--targets``/val). Multi-GPU /
multi-process: ``torchrun --nproc_per_node N stages/train.py`` (DDP; gloo on CPU). After a crash, rerunning it
(``dvc repro``) resumes from the last checkpoint when it belongs to the same data, params and code, and starts over
otherwise (``models/checkpoints`` is a persistent out, so DVC keeps it across the rerun).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import click

from posenet.cli import CONTEXT_SETTINGS, logging_options, params_option, user_errors
from posenet.io.atomic import write_json_atomic
from posenet.params import load_params
from posenet.project import CHECKPOINTS_DIR, PRETRAINED_DIR, TRAINED_MODEL
from posenet.training.trainer import TrainPaths, train


@click.command(context_settings=CONTEXT_SETTINGS)
@params_option
@click.option("--resume/--restart", default=True, show_default=True,
              help="Continue from the last checkpoint in --checkpoints when it belongs to this run (same data, params "
                   "and code: e.g. after a crash), else start over; --restart always starts over.")
@click.option("--annotations", "annotations_dir", default="data/annotations", show_default=True,
              type=click.Path(file_okay=False), help="Folder with train.json and val.json.")
@click.option("--images", "images_dir", default="data/images", show_default=True, type=click.Path(file_okay=False),
              help="Folder with the images named by the annotations.")
@click.option("--targets", "targets_dir", default="data/targets", show_default=True, type=click.Path(file_okay=False),
              help="Targets of the generate_targets stage; <targets>/val gives the val loss.")
@click.option("--pretrained", type=click.Path(dir_okay=False), default=None,
              help=f"Initial weights for train.init = pretrained (default {PRETRAINED_DIR}/<model.name>.pt).")
@click.option("--out", default=str(TRAINED_MODEL), show_default=True, type=click.Path(dir_okay=False),
              help="Trained model file: the best model by val AP (same format as the pretrained one).")
@click.option("--checkpoints", default=str(CHECKPOINTS_DIR), show_default=True, type=click.Path(file_okay=False),
              help="Checkpoint folder (step_<N>.pt).")
@click.option("--live-dir", default="dvclive", show_default=True, help="DVCLive folder ('' disables DVCLive).")
@click.option("--metrics", default="reports/train.json", show_default=True, type=click.Path(dir_okay=False),
              help="The DVC metric: steps, last val loss, the best val AP, training images/s.")
@click.option("--details", default="reports/train_run.json", show_default=True, type=click.Path(dir_okay=False),
              help="Every number of the run: also the last train loss, the last and the initial val AP, the best "
                   "epoch, early stop.")
@click.option("--init", type=click.Choice(["pretrained", "scratch"]), default=None, help="Override train.init.")
@click.option("--lr", type=float, default=None, help="Override train.lr.")
@click.option("--epochs", type=int, default=None, help="Override train.epochs.")
@click.option("--max-steps", type=int, default=None, help="Override train.max_steps.")
@click.option("--batch-size", type=int, default=None, help="Override train.batch_size.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default=None, help="Override train.device.")
@click.option("--seed", type=int, default=None, help="Override train.seed.")
@logging_options
@user_errors
def main(params_path: str | None, resume: bool, annotations_dir: str, images_dir: str, targets_dir: str,
         pretrained: str | None, out: str, checkpoints: str, live_dir: str, metrics: str, details: str,
         **overrides: Any) -> None:
    """Train PoseNet with the PersonLab loss; writes the trained model, checkpoints and DVCLive logs."""
    params = load_params(params_path)
    changes = {k: v for k, v in overrides.items() if v is not None}
    if changes:
        params = dataclasses.replace(params, train=dataclasses.replace(params.train, **changes))
        params.validate()
    annotations = Path(annotations_dir)
    paths = TrainPaths(train_annotations=annotations / "train.json", val_annotations=annotations / "val.json",
                       images_dir=Path(images_dir), pretrained=Path(pretrained) if pretrained else None,
                       output=Path(out), checkpoints=Path(checkpoints), live_dir=Path(live_dir) if live_dir else None,
                       targets_dir=Path(targets_dir))
    result = train(params, paths, resume=resume)
    if result.output is not None:  # rank 0 only (under torchrun every rank returns)
        write_json_atomic(details, result.summary())
        write_json_atomic(metrics, result.metrics())


if __name__ == "__main__":
    main()
