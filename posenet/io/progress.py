"""Progress bars: the one helper every long loop uses, and the log handler that keeps log lines out of them.

A bar is drawn on stderr only when stderr is a terminal (not in a log file, a pipe or CI output) and the
``posenet`` log shows INFO lines: ``-q`` (warnings and errors only) hides the bars with the info lines, and library
use without logging configured (Python's default: warnings only) shows none. Log lines go through
``tqdm.write`` (``TqdmHandler``), so a line logged while a bar is drawn clears the bar, is printed on a line of its
own and the bar is redrawn below it, instead of both ending up on one torn line (``dvc repro`` in a terminal).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from typing import Any, TypeVar

from tqdm import tqdm

__all__ = ["TqdmHandler", "bars_shown", "progress_bar"]

T = TypeVar("T")


def bars_shown() -> bool:
    """True when progress bars are drawn: stderr is a terminal and the ``posenet`` log is at INFO or below."""
    return sys.stderr.isatty() and logging.getLogger("posenet").isEnabledFor(logging.INFO)


def progress_bar(iterable: Iterable[T] | None = None, *, enabled: bool = True, **options: Any) -> tqdm:
    """A tqdm bar on stderr over ``iterable`` (or updated by hand), drawn when ``bars_shown()`` and ``enabled``
    (a caller's own condition, e.g. more than one item); ``options`` are tqdm's (``desc``, ``total``, ``unit``...).
    A hidden bar still counts (``n``, ``total``) and iterates, at no drawing cost."""
    return tqdm(iterable, file=sys.stderr, disable=not (enabled and bars_shown()), **options)


class TqdmHandler(logging.StreamHandler):
    """A logging handler writing each record with ``tqdm.write`` to its stream (stderr by default): a bar being
    drawn there is cleared first and redrawn after the line."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            tqdm.write(self.format(record), file=self.stream)
        except Exception:  # logging's contract: a failing handler reports through handleError, never raises
            self.handleError(record)
