"""TF.js variables (legacy names, TF layout) <-> PyTorch state_dict of ``posenet.models.PoseNet``.

Layouts: conv kernels TF ``[kh, kw, in, out]`` <-> torch ``[out, in, kh, kw]``; depthwise TF ``[kh, kw, in, 1]``
<-> torch ``[in, 1, kh, kw]``. Batch norm is folded into the conv biases in both Google formats.
"""

from __future__ import annotations

import numpy as np
import torch

from posenet.errors import WeightsError
from posenet.models.mobilenet import HEADS, create_model

__all__ = ["state_dict_to_tfjs", "tf_name", "tfjs_to_state_dict"]

_TO_TORCH = {"weights": (3, 2, 0, 1), "depthwise_weights": (2, 3, 0, 1), "biases": (0,)}
_TO_TF = {"weights": (2, 3, 1, 0), "depthwise_weights": (2, 3, 0, 1), "biases": (0,)}


def tf_name(torch_key: str) -> str:
    """Legacy TF.js variable name of a PoseNet state_dict key (``features.3.depthwise.weight`` ->
    ``MobilenetV1/Conv2d_3_depthwise/depthwise_weights``)."""
    parts = torch_key.split(".")
    kind = "biases" if parts[-1] == "bias" else "weights"
    if parts[0] == "features":
        index, module = int(parts[1]), parts[2]
        layer = f"Conv2d_{index}" if module == "conv" else f"Conv2d_{index}_{module}"
        if module == "depthwise" and kind == "weights":
            kind = "depthwise_weights"
    elif parts[0] in HEADS:
        layer = f"{parts[0]}_2"
    else:
        raise KeyError(torch_key)
    return f"MobilenetV1/{layer}/{kind}"


def _kind(name: str) -> str:
    return name.rsplit("/", 1)[1]


def tfjs_to_state_dict(variables: dict[str, np.ndarray], variant: str) -> dict[str, torch.Tensor]:
    """Convert TF-layout variables to the state_dict of ``variant``; WeightsError names any missing, extra or
    mis-shaped variable."""
    reference = create_model(variant, 16).state_dict()
    expected = {tf_name(key): key for key in reference}
    missing = [name for name in expected if name not in variables]
    if missing:
        raise WeightsError(f"variable {missing[0]} is missing for {variant} ({len(missing)} missing)")
    extra = sorted(set(variables) - set(expected))
    if extra:
        raise WeightsError(f"variable {extra[0]} is not part of {variant} ({len(extra)} extra)")
    state = {}
    for name, key in expected.items():
        value = np.asarray(variables[name], dtype=np.float32)
        perm = _TO_TORCH[_kind(name)]
        want = tuple(reference[key].shape)
        if value.ndim != len(perm) or tuple(value.shape[p] for p in perm) != want:
            tf_shape = [want[perm.index(i)] for i in range(len(want))] if len(want) == len(perm) else list(want)
            raise WeightsError(f"variable {name} has shape {list(value.shape)}, {variant} needs {tf_shape}")
        state[key] = torch.from_numpy(np.ascontiguousarray(value.transpose(perm)))
    return state


def state_dict_to_tfjs(state: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
    """Inverse of ``tfjs_to_state_dict``: TF-layout float32 arrays keyed by legacy variable name."""
    out = {}
    for key, tensor in state.items():
        name = tf_name(key)
        out[name] = np.ascontiguousarray(tensor.detach().cpu().float().numpy().transpose(_TO_TF[_kind(name)]))
    return out
