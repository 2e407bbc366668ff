"""Training loop: fine-tune PoseNet from the converted weights (or from scratch) with the PersonLab loss.

CPU by default, CUDA with AMP (``torch.autocast`` + ``GradScaler``) when present; seeded and deterministic
on CPU (augmentation RNG per sample, data order per epoch, both from ``train.seed``). Checkpoints every
``train.checkpoint_every`` steps hold model, optimiser, scheduler, scaler and torch RNG states, so a resumed
run repeats the uninterrupted one. A non-finite loss stops with ``TrainingError`` and leaves the last good
checkpoint in place. Under ``torchrun`` (``WORLD_SIZE`` > 1) the model is wrapped in DDP (gloo on CPU,
nccl on CUDA) and only rank 0 logs, evaluates and writes files. Each evaluation logs the val AP (Predictor at
``predict.input_size``) and the val loss: the PersonLab loss of the model against the materialised val targets
of the generate_targets stage (``data/targets/val``), averaged over the val images.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import re
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from posenet.codec import Targets, collate_targets
from posenet.data.dataset import PoseDataset
from posenet.device import resolve_device
from posenet.errors import ModelError, TrainingError
from posenet.images import read_image
from posenet.losses import personlab_loss
from posenet.models import create_model, load_model, read_checkpoint_file, save_checkpoint, save_torch_atomic
from posenet.models.pretrained import CHECKPOINTS_DIR, TRAINED_MODEL
from posenet.params import Params, TrainParams
from posenet.preprocess import prepare_input, to_batch
from posenet.target_store import TARGETS_INDEX, load_targets

__all__ = ["CHECKPOINT_PATTERN", "LOSS_PARTS", "TRAINING_STATE_KEYS", "TrainPaths", "TrainResult", "build_optimizer",
           "evaluate_model", "find_last_checkpoint", "init_scratch", "load_val_targets_index", "lr_factor", "train",
           "validation_loss"]

log = logging.getLogger(__name__)

CHECKPOINT_PATTERN = re.compile(r"^step_(\d+)\.pt$")
LOSS_PARTS = ("total", "heatmap", "short", "mid")


@dataclass(frozen=True)
class TrainPaths:
    """Where training reads and writes (repo-relative defaults of the DVC pipeline)."""

    train_annotations: Path = Path("data/annotations/train.json")
    val_annotations: Path = Path("data/annotations/val.json")
    images_dir: Path = Path("data/images")
    pretrained: Path | None = None  # None: models/pretrained/<model.name>.pt
    output: Path = TRAINED_MODEL
    checkpoints: Path = CHECKPOINTS_DIR
    live_dir: Path | None = Path("dvclive")  # None: no DVCLive logging
    targets_dir: Path = Path("data/targets")  # generate_targets output; <targets_dir>/val gives the val loss


@dataclass
class TrainResult:
    """What a run did: per-step losses (rank-averaged), per-evaluation val metrics (AP..., loss, heatmap,
    short, mid, step), throughput, output file."""

    steps: int
    losses: list[dict[str, float]] = field(default_factory=list)
    val: list[dict[str, float]] = field(default_factory=list)
    images_per_s: float = 0.0
    output: Path | None = None

    def summary(self) -> dict[str, float | None]:
        """The few numbers worth a `dvc exp show` column: steps, last training loss, last val loss and AP
        (None when there was no such step or evaluation)."""
        last_val = self.val[-1] if self.val else {}
        return {"steps": self.steps, "train_loss": self.losses[-1]["total"] if self.losses else None,
                "val_loss": last_val.get("loss"), "val_AP": last_val.get("AP")}



def build_optimizer(model: nn.Module, tp: TrainParams) -> torch.optim.Optimizer:
    """Adam, AdamW or SGD (momentum 0.9, Nesterov) with ``train.lr`` and ``train.weight_decay``."""
    if tp.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=tp.lr, weight_decay=tp.weight_decay)
    if tp.optimizer == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=tp.lr, weight_decay=tp.weight_decay)
    return torch.optim.SGD(model.parameters(), lr=tp.lr, momentum=0.9, nesterov=True, weight_decay=tp.weight_decay)


def lr_factor(step: int, total_steps: int, tp: TrainParams) -> float:
    """Learning-rate multiplier at ``step`` (0-based): linear warmup, then cosine to 0, constant, or step
    (x0.1 after 2/3 of the steps after warmup)."""
    if step < tp.warmup_steps:
        return (step + 1) / tp.warmup_steps
    span = max(total_steps - tp.warmup_steps, 1)
    progress = min((step - tp.warmup_steps) / span, 1.0)
    if tp.schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    if tp.schedule == "step":
        return 0.1 if progress >= 2.0 / 3.0 else 1.0
    return 1.0


def find_last_checkpoint(folder: Path) -> Path | None:
    """The checkpoint with the highest step in ``folder`` (``step_<N>.pt``), or None."""
    if not folder.is_dir():
        return None
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := CHECKPOINT_PATTERN.match(p.name))]
    return max(found)[1] if found else None


@contextlib.contextmanager
def _distributed(device_choice: str) -> Iterator[tuple[int, int, int]]:
    """(rank, world_size, local_rank); joins the process group under torchrun, leaves it on exit."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1 or dist.is_initialized():
        yield (dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0"))) \
            if dist.is_initialized() else (0, 1, 0)
        return
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = device_choice != "cpu" and torch.cuda.is_available()
    if use_cuda:
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    try:
        yield dist.get_rank(), dist.get_world_size(), local_rank
    finally:
        dist.destroy_process_group()


class _Logger:
    """A per-step progress bar, DVCLive (and optionally W&B) on rank 0; a no-op elsewhere."""

    def __init__(self, params: Params, paths: TrainPaths, enabled: bool, resume: bool, steps: tuple[int, int]) -> None:
        self.live = None
        self.wandb_run = None
        start, total = steps
        # disable=None: the bar shows on a terminal and stays out of logs that are piped to a file.
        self.bar = tqdm(total=total, initial=start, desc="train", unit="step", disable=None if enabled else True)
        if not enabled:
            return
        if paths.live_dir is not None:
            from dvclive import Live

            self.live = Live(str(paths.live_dir), dvcyaml=False, resume=resume, save_dvc_exp=False)
            self.live.log_params({"model": asdict(params.model), "targets": asdict(params.targets),
                                  "train": asdict(params.train)})
        if params.train.wandb != "disabled":
            try:
                import wandb
            except ImportError as err:
                raise TrainingError("train.wandb is set but the wandb package is not installed "
                                    "(pip install wandb, or set train.wandb: disabled)") from err
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


def evaluate_model(model: nn.Module, params: Params, annotations: Path, images_dir: Path,
                   device: torch.device) -> dict[str, float]:
    """OKS metrics of ``model`` on a split with the predict params (Predictor at ``predict.input_size``)."""
    from posenet.evaluate import evaluate_predictor
    from posenet.predict import Predictor

    predictor = Predictor.from_params(params, model=model, device=device)
    was_training = model.training
    model.eval()
    try:
        metrics, _ = evaluate_predictor(predictor, annotations, images_dir)
    finally:
        model.train(was_training)
    return {k: float(v) for k, v in metrics.items()}


def load_val_targets_index(folder: Path, params: Params) -> list[dict[str, Any]]:
    """The image entries (``file_name``, ``targets``) of the materialised val targets in ``folder``
    (``index.json`` of the generate_targets stage). TrainingError when the folder or index is missing or
    unreadable, or when the targets were built for another ``targets.input_size``, ``model.stride`` or
    ``targets.radius`` than ``params`` (stale)."""
    index_path = folder / TARGETS_INDEX
    if not index_path.is_file():
        raise TrainingError(f"{index_path} not found: the val loss needs the val targets of the generate_targets "
                            "stage (run `dvc repro generate_targets`, or set train.eval_every: 0)")
    try:
        index = json.loads(index_path.read_text(encoding="utf-8"))
        built = int(index["input_size"]), int(index["output_stride"]), float(index["radius"])
        entries = [{"file_name": str(e["file_name"]), "targets": str(e["targets"])} for e in index["images"]]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise TrainingError(f"{index_path}: unreadable targets index ({err!r}); rerun the generate_targets stage") \
            from err
    wanted = params.targets.input_size, params.model.stride, float(params.targets.radius)
    if built != wanted:
        raise TrainingError(
            f"{folder}: stale targets, built for input size {built[0]}, stride {built[1]}, radius {built[2]:g} but "
            f"params have targets.input_size {wanted[0]}, model.stride {wanted[1]}, targets.radius {wanted[2]:g}; "
            "rerun the generate_targets stage")
    if not entries:
        log.warning("%s: no val images; the val loss is not computed", index_path)
    return entries


def _stored_targets(path: Path) -> Targets:
    """One image's materialised targets; TrainingError naming the file when it is missing or unreadable."""
    try:
        return load_targets(path)[0]
    except (OSError, ValueError, KeyError) as err:
        raise TrainingError(f"{path}: unreadable targets ({err!r}); rerun the generate_targets stage") from err


def validation_loss(model: nn.Module, params: Params, entries: list[dict[str, Any]], targets_dir: Path,
                    images_dir: Path, device: torch.device, batch_size: int) -> dict[str, float]:
    """Val loss parts ``{"loss", "heatmap", "short", "mid"}``: ``personlab_loss`` of each val image against its
    stored targets (``targets_dir/<entry targets>``), averaged over the images (``{}`` without images).

    The image (``images_dir/<file_name>``) is preprocessed like the Predictor at ``targets.input_size``
    (letterbox, TF bilinear resize, ``x / 127.5 - 1``); forward passes in batches of ``batch_size``, inference
    mode, float32. Each image's loss is computed on its own, so the value does not depend on ``batch_size``.
    """
    if not entries:
        return {}
    input_hw = (params.targets.input_size, params.targets.input_size)
    sums = torch.zeros(len(LOSS_PARTS), dtype=torch.float64)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for start in range(0, len(entries), batch_size):
                chunk = entries[start:start + batch_size]
                inputs = [prepare_input(read_image(images_dir / e["file_name"]), input_hw)[0] for e in chunk]
                targets = collate_targets([_stored_targets(targets_dir / e["targets"]) for e in chunk], device)
                outputs = model(to_batch(inputs, device))
                for i in range(len(chunk)):
                    one = type(outputs)(*(t[i:i + 1] for t in outputs))
                    losses = personlab_loss(one, {k: v[i:i + 1] for k, v in targets.items()},
                                            params.targets.radius, params.train.loss_weights)
                    sums += torch.stack([losses[k] for k in LOSS_PARTS]).double().cpu()
    finally:
        model.train(was_training)
    names = ("loss",) + LOSS_PARTS[1:]  # "total" is logged as val/loss
    return {name: float(v) / len(entries) for name, v in zip(names, sums)}


def _epoch_batches(n: int, batch_size: int, epoch: int, seed: int, rank: int, world: int) -> list[list[int]]:
    """This rank's batches of one epoch (shuffled by (seed, epoch), split across ranks like DistributedSampler)."""
    sampler = DistributedSampler(range(n), num_replicas=world, rank=rank, shuffle=True, seed=seed, drop_last=False)
    sampler.set_epoch(epoch)
    order = list(sampler)
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def _rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def train(params: Params, paths: TrainPaths = TrainPaths(), resume: bool = False) -> TrainResult:
    """Train with ``params`` (sections model, targets, train, predict); returns what the run did.

    ``resume`` continues from the last checkpoint in ``paths.checkpoints`` (a fresh start when there is
    none). Writes ``paths.output`` (``save_checkpoint`` format with meta variant, init, steps, params).
    """
    tp = params.train
    with _distributed(tp.device) as (rank, world, local_rank):
        return _train(params, paths, resume, rank, world, local_rank)


def _train(params: Params, paths: TrainPaths, resume: bool, rank: int, world: int, local_rank: int) -> TrainResult:
    """One rank's seeded run: set up, resume, train epoch by epoch (evaluating on the way), write the model."""
    torch.manual_seed(params.train.seed)
    run = _Run(params, paths, rank, world, local_rank)
    run.resume(resume)
    if world > 1:  # after resume: DDP broadcasts rank 0's (restored) weights when it wraps the model
        run.net = nn.parallel.DistributedDataParallel(
            run.model, device_ids=[local_rank] if run.device.type == "cuda" else None)
    logger = _Logger(params, paths, enabled=run.main, resume=resume and run.step > 0,
                     steps=(run.step, run.total_steps))
    try:
        while run.step < run.total_steps:
            run.epoch(logger)
            if world > 1:
                dist.barrier()
    finally:
        logger.close()
    return run.finish()


class _Run:
    """One training run on one rank: data, model, optimiser state and progress (``step``, losses, timings)."""

    def __init__(self, params: Params, paths: TrainPaths, rank: int, world: int, local_rank: int) -> None:
        tp = params.train
        self.params, self.paths, self.rank, self.world = params, paths, rank, world
        self.device = resolve_device(tp.device, local_rank)
        self.use_amp = self.device.type == "cuda"
        self.main = rank == 0
        self.val_entries: list[dict[str, Any]] = []
        if tp.eval_every > 0:  # every rank checks, so a missing or stale folder stops them all before training
            self.val_entries = load_val_targets_index(paths.targets_dir / "val", params)
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
        self.step = 0
        self.last_good: Path | None = None
        self.result = TrainResult(steps=0)
        self.images_seen, self.train_time = 0, 0.0

    def resume(self, resume: bool) -> None:
        """Continue from the last checkpoint when ``resume`` and there is one; a fresh run deletes stale
        checkpoints (they would mislead a later resume)."""
        paths = self.paths
        last = find_last_checkpoint(paths.checkpoints) if resume else None
        if last is not None:
            self.step = _load_state(last, self.model, self.optimizer, self.scheduler, self.scaler)
            self.last_good = last
            log.info("resumed from %s at step %d", last, self.step)
        elif resume:
            log.info("no checkpoint in %s; starting from step 0", paths.checkpoints)
        if self.step == 0 and self.main and paths.checkpoints.is_dir():
            for stale in paths.checkpoints.iterdir():
                if CHECKPOINT_PATTERN.match(stale.name):
                    stale.unlink()
        self.result.steps = self.step

    def epoch(self, logger: _Logger) -> None:
        """Train the rest of the current epoch (or up to ``total_steps``): log each step, save checkpoints, and
        evaluate at the end of every ``train.eval_every``-th epoch (rank 0)."""
        tp = self.params.train
        epoch, skip = divmod(self.step, self.batches_per_epoch)
        self.dataset.set_epoch(epoch)
        batches = _epoch_batches(len(self.dataset), tp.batch_size, epoch, tp.seed, self.rank, self.world)[skip:]
        loader = DataLoader(self.dataset, batch_sampler=batches, num_workers=tp.num_workers)
        tick = time.perf_counter()
        for batch in loader:
            values = _step(self.net, batch, self.optimizer, self.scaler, self.params, self.device, self.use_amp,
                           self.world)
            if not all(math.isfinite(v) for v in values.values()):
                where = f"last good checkpoint: {self.last_good}" if self.last_good else "no checkpoint was written"
                raise TrainingError(f"non-finite loss at step {self.step + 1} ({values}); training stopped, {where}")
            lr = self.scheduler.get_last_lr()[0]  # the rate this step used
            self.scheduler.step()
            self.step += 1
            self.train_time += time.perf_counter() - tick  # data loading + step
            self.images_seen += len(batch["index"]) * self.world
            self.result.losses.append(values)
            logger.log(self.step, {f"train/{k}": v for k, v in values.items()} | {"train/lr": lr})
            if self.step % tp.checkpoint_every == 0 or self.step == self.total_steps:
                self.last_good = _save_state(self.paths.checkpoints, self.step, self.model, self.optimizer,
                                             self.scheduler, self.scaler) if self.main \
                    else self.paths.checkpoints / f"step_{self.step:06d}.pt"
            if self.step >= self.total_steps:
                break
            tick = time.perf_counter()
        end_of_epoch = self.step % self.batches_per_epoch == 0 or self.step >= self.total_steps
        if self.main and end_of_epoch and tp.eval_every > 0 and (epoch + 1) % tp.eval_every == 0:
            self.evaluate(epoch, logger)

    def evaluate(self, epoch: int, logger: _Logger) -> None:
        """Log the val AP (Predictor at ``predict.input_size``) and val loss (stored targets) at the current step."""
        paths, tp = self.paths, self.params.train
        metrics = evaluate_model(self.model, self.params, paths.val_annotations, paths.images_dir, self.device)
        metrics |= validation_loss(self.model, self.params, self.val_entries, paths.targets_dir / "val",
                                   paths.images_dir, self.device, tp.batch_size)
        self.result.val.append(metrics | {"step": self.step})
        log.info("epoch %d step %d val AP %.4f loss %.4f", epoch + 1, self.step, metrics["AP"],
                 metrics.get("loss", math.nan))
        logger.log(self.step, {f"val/{k}": v for k, v in metrics.items()})

    def finish(self) -> TrainResult:
        """Fill in the result; rank 0 writes the trained model to ``paths.output``."""
        params, tp, result = self.params, self.params.train, self.result
        result.steps = self.step
        result.images_per_s = self.images_seen / self.train_time if self.train_time > 0 else 0.0
        if self.main:
            meta = {"variant": params.model.name, "stride": params.model.stride, "source": "train",
                    "init": tp.init, "steps": self.step, "input_size": params.targets.input_size,
                    "params": {"model": asdict(params.model), "targets": asdict(params.targets), "train": asdict(tp)}}
            save_checkpoint(self.paths.output, self.model, meta)
            result.output = self.paths.output
            log.info("trained %d steps (%.1f images/s); wrote %s", self.step, result.images_per_s, self.paths.output)
        return result


def _step(net: nn.Module, batch: dict[str, Any], optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
          params: Params, device: torch.device, use_amp: bool, world: int) -> dict[str, float]:
    """One optimisation step; returns the loss parts averaged over ranks (Python floats)."""
    tensors = {k: v.to(device, non_blocking=True) for k, v in batch.items() if isinstance(v, torch.Tensor)}
    optimizer.zero_grad(set_to_none=True)
    with torch.autocast(device.type, dtype=torch.float16, enabled=use_amp):
        outputs = net(tensors["image"])
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


def _save_state(folder: Path, step: int, model: nn.Module, optimizer: torch.optim.Optimizer,
                scheduler: Any, scaler: torch.amp.GradScaler) -> Path:
    """Write ``folder/step_<N>.pt`` atomically (resume state: model, optimiser, scheduler, scaler, RNG, step)."""
    path = folder / f"step_{step:06d}.pt"
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
             "scaler": scaler.state_dict(), "rng": _rng_state(), "step": step}
    save_torch_atomic(path, state)
    log.debug("checkpoint %s", path)
    return path


TRAINING_STATE_KEYS = ("model", "optimizer", "scheduler", "scaler", "rng", "step")


def _load_state(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any,
                scaler: torch.amp.GradScaler) -> int:
    """Restore a ``_save_state`` checkpoint into the given objects and the torch RNGs; returns its step.
    ModelError naming the file when it is unreadable (``read_checkpoint_file``) or not a training checkpoint."""
    state = read_checkpoint_file(path)
    if not isinstance(state, dict) or not all(key in state for key in TRAINING_STATE_KEYS):
        raise ModelError(f"{path}: not a training checkpoint (needs {', '.join(TRAINING_STATE_KEYS)})")
    try:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
    except (RuntimeError, KeyError, ValueError) as err:  # another model.name / stride / optimiser than this run's
        raise ModelError(f"{path}: does not fit this run ({err.__class__.__name__}); start without --resume or "
                         "restore the params it was written with") from err
    torch.set_rng_state(state["rng"]["torch"])
    if "cuda" in state["rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["rng"]["cuda"])
    return int(state["step"])
