"""Training loop: fine-tune PoseNet from the converted weights (or from scratch) with the PersonLab loss.

CPU by default, CUDA with AMP (``torch.autocast`` + ``GradScaler``) when present; seeded and deterministic
on CPU (augmentation RNG per sample, data order per epoch, both from ``train.seed``). Checkpoints every
``train.checkpoint_every`` steps (and every epoch end after its evaluation) hold model, optimiser, scheduler, scaler
and torch RNG states and the model selection, so a resumed run repeats the uninterrupted one; each holds the run's
fingerprint (``state.run_fingerprint``: params, input files, code, initial weights), and a run resumes only from a
checkpoint of its own fingerprint (a crash, then ``dvc repro``), starting over otherwise. A diverging run stops with
``TrainingError`` and no model file, leaving the last good checkpoint in place: a non-finite loss, or a loss above
``DIVERGENCE_FACTOR`` times the median loss of the first epoch. Under ``torchrun`` (``WORLD_SIZE`` > 1) the model
is wrapped in DDP (gloo on CPU, nccl on CUDA) and only rank 0 logs, evaluates and writes files.

Evaluations (``train.eval_every`` > 0) run before the first step (epoch 0: the initial model) and after every
``train.eval_every``-th epoch: the val AP through the Predictor at ``predict.input_size`` (as the evaluate stage
measures it) and the val loss (the PersonLab loss against the materialised val targets of the generate_targets
stage). The output is the model of the best val AP (``selection.Selection``; the initial model when training never
beat it), the last model goes to ``<checkpoints>/last.pt``, and ``train.patience`` evaluations in a row without a
gain end the run. ``train.threads`` sets the intra-op threads (per process under torchrun); ``train.precision``
bf16 runs the CPU steps under bfloat16 autocast (CPUs with AVX512-BF16 / AMX only; CUDA uses float16 AMP).
"""

from __future__ import annotations

import logging
import math
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader

from posenet.device import cpu_flags, resolve_device
from posenet.errors import ParamsError, TrainingError
from posenet.models.checkpoint import load_checkpoint, save_checkpoint
from posenet.models.factory import load_model
from posenet.models.mobilenet import create_model
from posenet.params import Params
from posenet.runtime.bf16 import BF16_CPU_FLAGS
from posenet.training.dataset import PoseDataset
from posenet.training.distributed import distributed, epoch_batches, threads_per_process
from posenet.training.loggers import TrainingLogger
from posenet.training.losses import LOSS_PARTS, personlab_loss
from posenet.training.optim import build_optimizer, lr_factor
from posenet.training.selection import Selection
from posenet.training.state import (
    BEST_MODEL,
    LAST_MODEL,
    find_last_checkpoint,
    read_training_state,
    remove_checkpoints,
    restore_training_state,
    run_fingerprint,
    save_training_state,
)
from posenet.training.target_store import load_targets_index
from posenet.training.validation import evaluate_model, validation_loss

__all__ = ["DIVERGENCE_FACTOR", "TrainPaths", "TrainResult", "autocast_dtype", "init_scratch", "train", "train_step"]

log = logging.getLogger(__name__)

# A step loss above this multiple of the first epoch's median loss means the run diverged (lr far too high: the
# loss grows by orders of magnitude); ordinary batch-to-batch noise stays within a few times the median.
DIVERGENCE_FACTOR = 100.0


@dataclass(frozen=True)
class TrainPaths:
    """Where training reads and writes (the train stage passes the pipeline's paths)."""

    train_annotations: Path
    val_annotations: Path
    images_dir: Path
    pretrained: Path | None  # None: Google's pretrained weights (posenet.models.factory.load_model)
    output: Path
    checkpoints: Path
    live_dir: Path | None  # None: no DVCLive logging
    targets_dir: Path  # generate_targets output; <targets_dir>/val gives the val loss


@dataclass
class TrainResult:
    """What a run did: per-step losses (rank-averaged), per-evaluation val metrics (AP..., loss, heatmap,
    short, mid, step, epoch; the first at epoch 0 when evaluating), the model selection, training throughput
    (images/s over the steps, data loading included), whether patience ended it, output file."""

    steps: int
    losses: list[dict[str, float]] = field(default_factory=list)
    val: list[dict[str, float]] = field(default_factory=list)
    selection: Selection = field(default_factory=Selection)
    images_per_s: float = 0.0
    stopped_early: bool = False
    output: Path | None = None

    def metrics(self) -> dict[str, Any]:
        """The DVC metric (``reports/train.json``): steps, last val loss, the best val AP (the output model's),
        training images/s. Four on purpose, so that ``dvc metrics show`` fits a 120-column terminal;
        :meth:`summary` has the rest."""
        summary = self.summary()
        return {k: summary[k] for k in ("steps", "val_loss", "best_val_AP", "images_per_s")}

    def summary(self) -> dict[str, Any]:
        """Every number of the run (``reports/train_run.json``): steps, last training loss, last val loss and AP,
        the val AP of the initial model, the best val AP and its epoch (the output model), training images/s,
        early stop (None when there was no such step or evaluation)."""
        last_val = self.val[-1] if self.val else {}
        best = self.selection
        return {"steps": self.steps, "train_loss": self.losses[-1]["total"] if self.losses else None,
                "val_loss": last_val.get("loss"), "val_AP": last_val.get("AP"), "start_val_AP": best.start_ap,
                "best_val_AP": best.best_ap if best.best_epoch is not None else None, "best_epoch": best.best_epoch,
                "images_per_s": self.images_per_s, "stopped_early": self.stopped_early}


def autocast_dtype(device: torch.device, precision: str) -> torch.dtype | None:
    """The autocast dtype of the training steps: float16 AMP on CUDA, bfloat16 on the CPU for ``train.precision``
    bf16 (ParamsError in one line on a CPU without AVX512-BF16 / AMX-BF16: emulated bfloat16 is slower than float32),
    else None (float32)."""
    if device.type == "cuda":
        return torch.float16
    if precision != "bf16":
        return None
    if not cpu_flags() & set(BF16_CPU_FLAGS):
        raise ParamsError("train.precision = bf16 needs a CPU with AVX512-BF16 or AMX-BF16, and this one has neither "
                          "(use float32)")
    return torch.bfloat16


def _initial_model(params: Params, paths: TrainPaths) -> nn.Module:
    """The converted weights, or a scratch init drawn from the torch RNG (seeded by ``_train``)."""
    name, stride = params.model.name, params.model.stride
    if params.train.init == "pretrained":
        return load_model(name, stride, weights=paths.pretrained)
    return init_scratch(create_model(name, stride))


def init_scratch(model: nn.Module, heatmap_prior: float = 0.01) -> nn.Module:
    """He-normal convs with zero bias (the backbone has no BatchNorm, so PyTorch's default init starves the
    deep layers) and a heatmap bias at the logit of ``heatmap_prior`` (most pixels are background)."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
            nn.init.zeros_(module.bias)
    heads = [model.heatmap, model.offset, model.displacement_fwd, model.displacement_bwd]
    for head in heads:
        nn.init.normal_(head.weight, std=0.01)
    nn.init.constant_(model.heatmap.bias, math.log(heatmap_prior / (1.0 - heatmap_prior)))
    return model


def train(params: Params, paths: TrainPaths, resume: bool = False) -> TrainResult:
    """Train with ``params`` (sections model, targets, train, predict); returns what the run did.

    ``resume`` continues from the last checkpoint in ``paths.checkpoints`` when it has this run's fingerprint and
    is not the end of a finished run (the last step, or an early stop); otherwise (and without ``resume``) the run
    starts at step 0 and deletes the checkpoints there. Writes ``paths.output``: the best model by val AP, or the
    last one without evaluations
    (``save_checkpoint`` format with meta variant, init, steps, epoch, val_AP, selected, params), and
    ``<checkpoints>/last.pt``, ``best.pt``.
    """
    tp = params.train
    with distributed(tp.device) as (rank, world, local_rank):
        return _train(params, paths, resume, rank, world, local_rank)


def _train(params: Params, paths: TrainPaths, resume: bool, rank: int, world: int, local_rank: int) -> TrainResult:
    """One rank's seeded run: set up, resume, evaluate the initial model, train epoch by epoch (evaluating on the
    way, stopping when patience runs out), write the best and the last model. The caller's thread count is
    restored afterwards."""
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads_per_process(params.train.threads))
    try:
        torch.manual_seed(params.train.seed)
        run = _Run(params, paths, rank, world, local_rank)
        run.resume(resume)
        if world > 1:  # after resume: DDP broadcasts rank 0's (restored) weights when it wraps the model
            run.net = nn.parallel.DistributedDataParallel(
                run.model, device_ids=[local_rank] if run.device.type == "cuda" else None)
        logger = TrainingLogger(params, paths.live_dir, enabled=run.main, resume=resume and run.step > 0,
                                steps=(run.step, run.total_steps))
        try:
            if run.step == 0 and run.main and params.train.eval_every > 0:
                run.evaluate(0, logger)
            while run.step < run.total_steps and not run.stopped:
                run.epoch(logger)
                if world > 1:  # rank 0 decides on early stopping; the broadcast also keeps the ranks in step
                    flag = torch.tensor([float(run.stopped)], device=run.device)
                    dist.broadcast(flag, src=0)
                    run.stopped = bool(flag.item())
        finally:
            logger.close()
        return run.finish()
    finally:
        torch.set_num_threads(previous_threads)


class _Run:
    """One training run on one rank: data, model, optimiser state and progress (``step``, losses, timings)."""

    def __init__(self, params: Params, paths: TrainPaths, rank: int, world: int, local_rank: int) -> None:
        tp = params.train
        self.params, self.paths, self.rank, self.world = params, paths, rank, world
        self.device = resolve_device(tp.device, local_rank)
        self.use_amp = self.device.type == "cuda"
        self.autocast = autocast_dtype(self.device, tp.precision)
        self.main = rank == 0
        self.val_entries: list[dict[str, Any]] = []
        if tp.eval_every > 0:  # every rank checks, so a missing or stale folder stops them all before training
            self.val_entries = load_targets_index(paths.targets_dir / "val", params)
        self.dataset = PoseDataset(paths.train_annotations, paths.images_dir, params.targets.input_size,
                                   params.model.stride, params.targets.radius, tp.augment, seed=tp.seed)
        self.batches_per_epoch = math.ceil(math.ceil(len(self.dataset) / world) / tp.batch_size)
        total_steps = tp.max_steps if tp.max_steps > 0 else tp.epochs * self.batches_per_epoch
        self.total_steps = total_steps
        self.model = _initial_model(params, paths).to(self.device).train()
        self.optimizer = build_optimizer(self.model, tp)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda s: lr_factor(s, total_steps, tp))
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)
        self.net: nn.Module = self.model  # what the steps run: the model, or its DDP wrapper
        self.fingerprint = run_fingerprint(
            {name: asdict(getattr(params, name)) for name in ("model", "targets", "train", "predict")},
            [paths.train_annotations, paths.val_annotations, paths.images_dir, paths.targets_dir], self.model)
        self.first_epoch_losses: list[float] = []  # total loss of each step of epoch 1: the divergence bound
        self.step = 0
        self.last_good: Path | None = None
        self.result = TrainResult(steps=0)
        self.selection = self.result.selection
        self.best_state: dict[str, torch.Tensor] | None = None  # weights of the best evaluation so far
        self.stopped = False
        self.images_seen, self.train_time = 0, 0.0

    def resume(self, resume: bool) -> None:
        """Continue from the last checkpoint when ``resume`` and it belongs to this run (same fingerprint) and is
        not the end of a finished run; a fresh run deletes the checkpoints (they would mislead a later resume)."""
        paths = self.paths
        last = find_last_checkpoint(paths.checkpoints) if resume else None
        state = read_training_state(last) if last is not None else None
        if state is not None and state.get("fingerprint") != self.fingerprint:
            log.info("%s belongs to another run (other data, params or code); starting from step 0", last)
        elif state is not None and (int(state["step"]) >= self.total_steps or state.get("finished")):
            log.info("%s ends a finished run; training again from step 0", last)
        elif state is not None:
            self.step = restore_training_state(state, last, self.model, self.optimizer, self.scheduler, self.scaler)
            self.first_epoch_losses = [float(v) for v in state["first_epoch_losses"]]
            self.restore_selection(state.get("selection"))
            self.last_good = last
            log.info("resumed from %s at step %d", last, self.step)
        elif resume:
            log.info("no checkpoint in %s; starting from step 0", paths.checkpoints)
        if self.step == 0 and self.main:
            remove_checkpoints(paths.checkpoints)
        self.result.steps = self.step

    def restore_selection(self, saved: dict[str, Any] | None) -> None:
        """The model selection of a resumed run, with the best weights from ``best.pt``."""
        self.selection = self.result.selection = Selection.from_state(saved)
        if self.selection.best_epoch is None:
            return
        best = self.paths.checkpoints / BEST_MODEL
        if best.is_file():
            self.best_state = load_checkpoint(best)[0]
        else:  # the best model is gone: choose among the evaluations still to come
            log.warning("%s missing: the best val AP so far (%.4f, epoch %d) is forgotten", best,
                        self.selection.best_ap, self.selection.best_epoch)
            self.selection = self.result.selection = Selection()

    def check_loss(self, values: dict[str, float]) -> None:
        """TrainingError when this step's loss is not finite or above ``DIVERGENCE_FACTOR`` times the median loss
        of the first epoch (of its steps so far, during the first epoch); else the loss joins that median."""
        total = values["total"]
        where = f"last good checkpoint: {self.last_good}" if self.last_good else "no checkpoint was written"
        if not all(math.isfinite(v) for v in values.values()):
            raise TrainingError(f"non-finite loss at step {self.step + 1} ({values}); training stopped, {where}")
        if self.first_epoch_losses:
            bound = DIVERGENCE_FACTOR * statistics.median(self.first_epoch_losses)
            if total > bound:
                raise TrainingError(
                    f"training diverged: loss {total:.4g} at step {self.step + 1} is over {DIVERGENCE_FACTOR:g}x the "
                    f"first-epoch median ({bound / DIVERGENCE_FACTOR:.4g}); lower train.lr; stopped without writing "
                    f"{self.paths.output}, {where}")
        if self.step < self.batches_per_epoch:
            self.first_epoch_losses.append(total)

    def epoch(self, logger: TrainingLogger) -> None:
        """Train the rest of the current epoch (or up to ``total_steps``): log each step, save checkpoints, evaluate
        at the end of every ``train.eval_every``-th epoch (rank 0) and decide on early stopping (``stopped``)."""
        tp = self.params.train
        epoch, skip = divmod(self.step, self.batches_per_epoch)
        self.dataset.set_epoch(epoch)
        batches = epoch_batches(len(self.dataset), tp.batch_size, epoch, tp.seed, self.rank, self.world)[skip:]
        loader = DataLoader(self.dataset, batch_sampler=batches, num_workers=tp.num_workers)
        tick = time.perf_counter()
        for batch in loader:
            values = train_step(self.net, batch, self.optimizer, self.scaler, self.params, self.device, self.autocast,
                                self.world)
            self.check_loss(values)
            lr = self.scheduler.get_last_lr()[0]  # the rate this step used
            self.scheduler.step()
            self.step += 1
            self.train_time += time.perf_counter() - tick  # data loading + step
            self.images_seen += len(batch["index"]) * self.world
            self.result.losses.append(values)
            logger.log(self.step, {f"train/{k}": v for k, v in values.items()} | {"train/lr": lr})
            if self.step >= self.total_steps:
                break
            if self.step % tp.checkpoint_every == 0 and self.step % self.batches_per_epoch != 0:
                self.save_state()  # mid-epoch; an epoch's last step is saved after its evaluation
            tick = time.perf_counter()
        if self.main and tp.eval_every > 0 and (epoch + 1) % tp.eval_every == 0:
            self.evaluate(epoch + 1, logger)
            self.stopped = self.selection.exhausted(tp.patience) and self.step < self.total_steps
            if self.stopped:
                log.info("no val AP gain in %d evaluations (train.patience): stopping at epoch %d, step %d",
                         self.selection.stale, epoch + 1, self.step)
        if self.step >= self.total_steps or self.stopped or self.step % tp.checkpoint_every == 0:
            self.save_state()  # after the evaluation, so that a resume knows its outcome

    def save_state(self) -> None:
        """Rank 0 writes the training state of the current step (the other ranks only note its name); ``finished``
        marks the end of the run (the last step, or an early stop), which a later run does not resume from."""
        if self.main:
            extra = {"fingerprint": self.fingerprint, "first_epoch_losses": self.first_epoch_losses,
                     "selection": self.selection.state(),
                     "finished": self.stopped or self.step >= self.total_steps}
            self.last_good = save_training_state(self.paths.checkpoints, self.step, self.model, self.optimizer,
                                                 self.scheduler, self.scaler, extra)
        else:
            self.last_good = self.paths.checkpoints / f"step_{self.step:06d}.pt"

    def evaluate(self, epoch: int, logger: TrainingLogger) -> None:
        """Log the val AP (Predictor at ``predict.input_size``) and val loss (stored targets) after ``epoch`` epochs
        (0: the initial model) and keep the weights when the AP is the best so far (also in ``best.pt``)."""
        paths, tp = self.paths, self.params.train
        metrics = evaluate_model(self.model, self.params, paths.val_annotations, paths.images_dir, self.device)
        metrics |= validation_loss(self.model, self.params, self.val_entries, paths.targets_dir / "val",
                                   paths.images_dir, self.device, tp.batch_size)
        self.result.val.append(metrics | {"step": self.step, "epoch": epoch})
        best = self.selection.update(metrics["AP"], epoch, self.step)
        log.info("epoch %d step %d val AP %.4f loss %.4f%s", epoch, self.step, metrics["AP"],
                 metrics.get("loss", math.nan), " (best so far)" if best else "")
        logger.log(self.step, {f"val/{k}": v for k, v in metrics.items()})
        if best:
            self.best_state = {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}
            save_checkpoint(paths.checkpoints / BEST_MODEL, self.best_state,
                            self._meta(self.step, epoch, metrics["AP"]))

    def _meta(self, step: int, epoch: int, val_ap: float | None) -> dict[str, Any]:
        """Meta of a written model: variant, stride, init, the step, epoch and val AP it was taken at, params."""
        params, tp = self.params, self.params.train
        return {"variant": params.model.name, "stride": params.model.stride, "source": "train", "init": tp.init,
                "steps": step, "epoch": epoch, "val_AP": val_ap, "input_size": params.targets.input_size,
                "params": {"model": asdict(params.model), "targets": asdict(params.targets), "train": asdict(tp)}}

    def finish(self) -> TrainResult:
        """Fill in the result; rank 0 writes the last model to ``<checkpoints>/last.pt`` and the best one by val AP
        (the last one when nothing was evaluated) to ``paths.output``."""
        result, selection = self.result, self.selection
        result.steps = self.step
        result.stopped_early = self.stopped
        result.images_per_s = self.images_seen / self.train_time if self.train_time > 0 else 0.0
        if self.main:
            last_ap = self.result.val[-1]["AP"] if self.result.val and self.result.val[-1]["step"] == self.step \
                else None
            last_epoch = math.ceil(self.step / self.batches_per_epoch)
            last_meta = self._meta(self.step, last_epoch, last_ap)
            save_checkpoint(self.paths.checkpoints / LAST_MODEL, self.model, last_meta)
            if self.best_state is not None:
                save_checkpoint(self.paths.output, self.best_state,
                                self._meta(selection.best_step, selection.best_epoch, selection.best_ap)
                                | {"selected": "best val AP"})
                log.info("trained %d steps (%.1f images/s); best val AP %.4f at epoch %d (start %.4f) -> %s, last "
                         "model -> %s", self.step, result.images_per_s, selection.best_ap, selection.best_epoch,
                         selection.start_ap if selection.start_ap is not None else math.nan, self.paths.output,
                         self.paths.checkpoints / LAST_MODEL)
            else:
                save_checkpoint(self.paths.output, self.model, last_meta | {"selected": "last"})
                log.info("trained %d steps (%.1f images/s); wrote %s", self.step, result.images_per_s,
                         self.paths.output)
            result.output = self.paths.output
        return result


def train_step(net: nn.Module, batch: dict[str, Any], optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
               params: Params, device: torch.device, autocast: torch.dtype | None, world: int = 1) -> dict[str, float]:
    """One optimisation step on ``batch`` (``image`` [N, 3, S, S] in [-1, 1] and the PersonLab target fields):
    forward under ``autocast`` when given, loss in float32; returns the loss parts averaged over ranks (Python
    floats)."""
    tensors = {k: v.to(device, non_blocking=True) for k, v in batch.items() if isinstance(v, torch.Tensor)}
    optimizer.zero_grad(set_to_none=True)
    with torch.autocast(device.type, dtype=autocast or torch.float32, enabled=autocast is not None):
        outputs = net(tensors["image"])
    outputs = type(outputs)(*(t.float() for t in outputs))
    losses = personlab_loss(outputs, tensors, params.targets.radius, params.train.loss_weights)
    parts = torch.stack([losses[k].detach().float() for k in LOSS_PARTS])
    if world > 1:
        dist.all_reduce(parts)
        parts /= world
    values = dict(zip(LOSS_PARTS, parts.tolist()))
    if math.isfinite(values["total"]):
        scaler.scale(losses["total"]).backward()
        scaler.step(optimizer)
        scaler.update()
    return values
