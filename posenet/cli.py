"""Glue shared by the ``posenet`` subcommands and the click scripts in stages/: one-line errors with exit code 2,
``-h``, ``-q``/``-v`` logging."""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from posenet.errors import PosenetError
from posenet.io.progress import TqdmHandler

__all__ = ["CONTEXT_SETTINGS", "logging_options", "params_option", "setup_logging", "user_errors",
           "val_models_options"]

F = TypeVar("F", bound=Callable[..., Any])

log = logging.getLogger(__name__)

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"]}


def setup_logging(verbose: bool = False, quiet: bool = False) -> None:
    """Log to stderr: INFO by default, DEBUG with ``verbose``, warnings and errors only with ``quiet`` (which also
    hides the progress bars, see ``posenet.io.progress``)."""
    handler = TqdmHandler(sys.stderr)  # log lines never tear a progress bar (posenet.io.progress)
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
        handlers=[handler],
    )


def logging_options(func: F) -> F:
    """``-v/--verbose`` and ``-q/--quiet`` for a click command; logging is set up before it runs."""

    @functools.wraps(func)
    def wrapper(*args: Any, verbose: bool, quiet: bool, **kwargs: Any) -> Any:
        setup_logging(verbose, quiet)
        return func(*args, **kwargs)

    wrapper = click.option("-q", "--quiet", is_flag=True, help="Warnings and errors only (no progress bars).")(wrapper)
    return click.option("-v", "--verbose", is_flag=True, help="Debug logging.")(wrapper)  # type: ignore[return-value]


def user_errors(func: F) -> F:
    """Turn ``PosenetError`` and file-system errors into one line ``error: <message>`` and exit code 2. With
    ``-v`` (debug logging) the traceback of an error that has a cause (I/O, parse, SDK error) is logged first."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except PosenetError as err:
            if err.__cause__ is not None:
                log.debug("caused by:", exc_info=err)
            click.echo(f"error: {err}", err=True)
            sys.exit(2)
        except OSError as err:  # unwritable output folder, disk full, a file where a folder should be, ...
            where = f"{err.filename} -> {err.filename2}: " if err.filename and err.filename2 \
                else f"{err.filename}: " if err.filename else ""  # a copy names its source and its target
            click.echo(f"error: {where}{err.strerror or err}", err=True)
            sys.exit(2)
        except KeyboardInterrupt:
            click.echo("error: interrupted", err=True)
            sys.exit(130)

    return wrapper  # type: ignore[return-value]


def params_option(func: F) -> F:
    """``--params PATH`` of every command and stage, passed on as ``params_path`` (None when not given) to
    ``posenet.params.load_params``: without it params.yaml of the working folder, else the built-in defaults; a
    path given must exist."""
    return click.option("--params", "params_path", default=None, metavar="PATH",
                        help="Parameters file [default: params.yaml when present, else the built-in defaults]."
                        )(func)  # type: ignore[return-value]


def val_models_options(func: F) -> F:
    """The options of the stages that run the pretrained and the trained model on the val split: ``--params``,
    ``--annotations``, ``--images``, ``--pretrained``, ``--trained`` (evaluate, visualize)."""
    from posenet.project import PRETRAINED_DIR, TRAINED_MODEL

    options = [
        params_option,
        click.option("--annotations", default="data/annotations/val.json", show_default=True,
                     type=click.Path(dir_okay=False), help="Val split (canonical COCO keypoints)."),
        click.option("--images", "images_dir", default="data/images", show_default=True,
                     type=click.Path(file_okay=False), help="Folder with the images named by the annotations."),
        click.option("--pretrained", type=click.Path(dir_okay=False), default=None,
                     help=f"Pretrained weights (default {PRETRAINED_DIR}/<model.name>.pt, or fetched on first use)."),
        click.option("--trained", default=str(TRAINED_MODEL), show_default=True, type=click.Path(dir_okay=False),
                     help="Trained model file."),
    ]
    for option in reversed(options):
        func = option(func)
    return func
