"""Throughput streams on the CPU: a batch's images run N at a time, one per worker thread, each thread with an
equal share of the caller's intra-op threads and its own backend (ONNX Runtime: its own session)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import torch

from posenet.runtime.backends import Backend, with_threads

__all__ = ["StreamPool"]

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")


class StreamPool:
    """``streams`` worker threads; :meth:`map` runs a function over items on them, and :meth:`backend` gives
    the calling worker its own copy of a backend, made once per thread."""

    def __init__(self, streams: int) -> None:
        self.streams = int(streams)
        if self.streams > torch.get_num_threads():
            log.warning("streams = %d > %d threads: the streams share cores", self.streams, torch.get_num_threads())
        self.threads = max(1, torch.get_num_threads() // self.streams)  # intra-op threads per stream
        self._workers = ThreadPoolExecutor(self.streams, thread_name_prefix="posenet-stream")
        self._local = threading.local()

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        """``[fn(item) for item in items]``, run on the workers, each with its share of the threads."""
        threads = torch.get_num_threads()
        try:
            return list(self._workers.map(lambda item: self._on_worker(fn, item), items))
        finally:
            # torch.set_num_threads in a worker also sets the default of threads yet to use torch (this one's too).
            torch.set_num_threads(threads)

    def _on_worker(self, fn: Callable[[T], R], item: T) -> R:
        torch.set_num_threads(self.threads)
        self._local.active = True
        return fn(item)

    def backend(self, shared: Backend) -> Backend:
        """On a worker: its own copy of ``shared`` (made on first use); elsewhere: ``shared`` itself."""
        if not getattr(self._local, "active", False):
            return shared
        if not hasattr(self._local, "backend"):
            self._local.backend = with_threads(shared, self.threads)
        return self._local.backend
