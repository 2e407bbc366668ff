"""Data-parallel training under ``torchrun``: the process group (gloo on CPU, nccl on CUDA) and each rank's
share of an epoch."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import torch
import torch.distributed as dist
from torch.utils.data import DistributedSampler

__all__ = ["distributed", "epoch_batches", "threads_per_process"]


@contextlib.contextmanager
def distributed(device_choice: str) -> Iterator[tuple[int, int, int]]:
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


def epoch_batches(n: int, batch_size: int, epoch: int, seed: int, rank: int, world: int) -> list[list[int]]:
    """This rank's batches of one epoch (shuffled by (seed, epoch), split across ranks like DistributedSampler)."""
    sampler = DistributedSampler(range(n), num_replicas=world, rank=rank, shuffle=True, seed=seed, drop_last=False)
    sampler.set_epoch(epoch)
    order = list(sampler)
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def threads_per_process(threads: int) -> int:
    """Intra-op threads of one training process: ``threads`` (``train.threads``), or for 0 the cores this process
    may use shared among the processes torchrun started on this machine (``LOCAL_WORLD_SIZE``): two processes with
    PyTorch's default of all cores each fight over them (a step ~5x slower on 2 cores than with one thread each)."""
    if threads > 0:
        return threads
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1"))))
