"""Training progress and metrics: a progress bar, DVCLive, and optionally Weights & Biases (rank 0 only)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from posenet.errors import TrainingError
from posenet.extras import require_extra
from posenet.io.progress import progress_bar
from posenet.params import Params

__all__ = ["TrainingLogger"]


class TrainingLogger:
    """A per-step progress bar, DVCLive in ``live_dir`` (None: none) and optionally W&B on rank 0 (``enabled``);
    a no-op elsewhere. ``steps``: (first step, total steps)."""

    def __init__(self, params: Params, live_dir: Path | None, enabled: bool, resume: bool,
                 steps: tuple[int, int]) -> None:
        self.live = None
        self.wandb_run = None
        start, total = steps
        self.bar = progress_bar(total=total, initial=start, desc="train", unit="step", enabled=enabled)
        if not enabled:
            return
        if live_dir is not None:
            live = require_extra("dvclive", "DVCLive logging of the train stage", TrainingError)
            self.live = live.Live(str(live_dir), dvcyaml=False, resume=resume, save_dvc_exp=False)
            self.live.log_params({"model": asdict(params.model), "targets": asdict(params.targets),
                                  "train": asdict(params.train)})
        if params.train.wandb != "disabled":
            wandb = require_extra("wandb", "train.wandb (set it to disabled to train without)", TrainingError)
            self.wandb_run = wandb.init(project="posenet", mode=params.train.wandb,
                                        config={"model": asdict(params.model), "train": asdict(params.train)})

    def log(self, step: int, values: dict[str, float]) -> None:
        if "train/total" in values:
            self.bar.update(step - self.bar.n)
            self.bar.set_postfix(loss=f"{values['train/total']:.4f}", refresh=False)
        if self.live is not None:
            self.live.step = step
            for key, value in values.items():
                self.live.log_metric(key, value)
            self.live.next_step()
        if self.wandb_run is not None:
            self.wandb_run.log(values, step=step)

    def close(self) -> None:
        self.bar.close()
        if self.live is not None:
            self.live.end()
        if self.wandb_run is not None:
            self.wandb_run.finish()
