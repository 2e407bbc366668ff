"""PoseNet in PyTorch: Google's pretrained TF.js weights, PersonLab training, a DVC pipeline.

Importing the package has no side effects; heavy modules load on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "load_model": "posenet.models.factory",
    "create_model": "posenet.models.mobilenet",
    "Predictor": "posenet.inference.predictor",
    "Prediction": "posenet.inference.predictor",
    "Pose": "posenet.pose",
    "PosenetError": "posenet.errors",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'posenet' has no attribute {name!r}")


__all__ = sorted(_LAZY)
