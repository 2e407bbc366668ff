"""Optional dependencies: which extra of the package installs each, and the one import helper that names it.

The core install (``pip install -e .``) runs ``posenet infer / export / benchmark`` and the Python API; the
pipeline, the app, the dataset SDKs, Weights & Biases and ONNX come with extras (``pip install -e '.[dev]'``: all).
"""

from __future__ import annotations

import importlib
from types import ModuleType

from posenet.errors import PosenetError

__all__ = ["EXTRAS", "MissingExtraError", "require_extra"]

# top-level module -> the extra (pyproject.toml [project.optional-dependencies]) that installs it
EXTRAS: dict[str, str] = {
    "onnx": "onnx", "onnxruntime": "onnx",
    "dvc": "pipeline", "dvclive": "pipeline",
    "streamlit": "app",
    "dtlpy": "dataloop",
    "roboflow": "roboflow",
    "wandb": "wandb",
}


class MissingExtraError(PosenetError):
    """An optional package is not installed."""


def require_extra(module: str, purpose: str, error: type[PosenetError] = MissingExtraError) -> ModuleType:
    """Import ``module`` (a package of ``EXTRAS`` or one of its submodules); when it is not installed, ``error``
    in one line: ``<purpose> needs the <package> package, which is not installed (pip install -e '.[<extra>]')``."""
    package = module.split(".")[0]
    try:
        return importlib.import_module(module)
    except ImportError:
        raise error(f"{purpose} needs the {package} package, which is not installed "
                    f"(pip install -e '.[{EXTRAS[package]}]')") from None
