"""The page of ``posenet export --format web`` in headless Chromium: served by ``python -m http.server``, it loads
its bundled sample photo, a chosen image and the (fake) webcam with the official PoseNet and the TF.js scripts
copied from npm, and its poses equal this project's Predictor (tfjs preset, same settings) within 1 px.

Measured (this machine): cpu backend 2.6e-4 px / 4e-6 in score on the sample; webgl (Chromium's software WebGL,
SwiftShader) 4e-4 px / 7e-6 on a chosen photo. Screenshots land in the test's tmp folder and in $POSENET_SCREENSHOTS.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest
from app_support import CHROMEDRIVER, CHROMIUM, NO_CHROMIUM, free_port, headless_chromium, screenshot
from click.testing import CliRunner
from tfjs_support import install, png_photos

from posenet.apps.web.builder import WEB_DIR
from posenet.commands.export import export
from posenet.inference.predictor import Predictor
from posenet.io.media import read_image
from posenet.models.checkpoint import save_checkpoint
from posenet.pose import poses_from_json

pytestmark = [pytest.mark.slow, pytest.mark.network,
              pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason=NO_CHROMIUM)]
pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

SIZE = 257  # the page's inputResolution: fast on TF.js's cpu backend
RESULT_S = 180
KP_TOL, SCORE_TOL = 1.0, 1e-3  # the bar for the page: every keypoint within 1 px


@pytest.fixture(scope="module")
def page(pretrained_model, tmp_path_factory):
    """The exported page folder (pretrained 0.75, stride 16, input 257, default params otherwise)."""
    install(WEB_DIR, "the web page tests")
    work = tmp_path_factory.mktemp("web")
    weights = work / "pretrained.pt"
    save_checkpoint(weights, pretrained_model, {"variant": "mobilenet_v1_075"})
    (work / "params.yaml").write_text("{}\n")
    out = work / "page"
    result = CliRunner().invoke(export, ["--format", "web", "--weights", str(weights), "--input-size", str(SIZE),
                                         "--params", str(work / "params.yaml"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def server(page):
    """URL of ``python -m http.server -d <page>`` on a free port, as the README says to serve it."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "http.server", "-d", str(page), "--bind", "127.0.0.1", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(url, timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("python -m http.server did not start")
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture()
def browser(tmp_path):
    driver = headless_chromium(tmp_path / "profile", "--window-size=900,1300", "--use-fake-device-for-media-stream",
                      "--use-fake-ui-for-media-stream")
    try:
        yield driver
    finally:
        driver.quit()


def wait_until(driver, done: str, message: str) -> dict:
    """Wait until ``done`` (a JS expression over ``window.posenetPage`` as ``p``) holds; the page state."""
    def check(d):
        state = d.execute_script("return window.posenetPage")
        if state and state["state"] == "error":
            pytest.fail(f"the page failed: {state['error']}")
        return state if state and d.execute_script(f"const p = window.posenetPage; return {done};") else False

    return WebDriverWait(driver, RESULT_S, poll_frequency=0.5).until(check, message=message)


def predictor(model, page_dir) -> Predictor:
    """The Predictor with the settings the page was exported with (config.json)."""
    config = json.loads((page_dir / "config.json").read_text())
    decode = config["decode"]
    return Predictor(model, input_size=config["load"]["inputResolution"], max_poses=decode["maxDetections"],
                     score_threshold=decode["scoreThreshold"], nms_radius=decode["nmsRadius"], device="cpu")


def gaps(page_poses: list[dict], want) -> tuple[float, float]:
    """(largest keypoint distance px, largest score difference) between the page's poses and the Predictor's."""
    got = poses_from_json(page_poses)
    assert len(got) == len(want) >= 1, (len(got), len(want))
    dist = max(float(np.linalg.norm(g.keypoints - w.keypoints, axis=1).max()) for g, w in zip(got, want))
    score = max(max(abs(g.score - w.score), float(np.abs(g.keypoint_scores - w.keypoint_scores).max()))
                for g, w in zip(got, want))
    return dist, score


def test_sample_photo_poses_equal_the_predictor(page, server, browser, pretrained_model, tmp_path):
    browser.get(server + "?backend=cpu")
    state = wait_until(browser, "p.runs >= 1", "the sample photo never got its poses")
    assert state["source"] == "sample.png" and state["backend"] == "cpu"
    model_line = browser.find_element(By.ID, "model").text
    assert "mobilenet_v1_075" in model_line and "output stride 16" in model_line and f"input {SIZE} px" in model_line
    poses = browser.execute_script("return window.poses")
    assert json.loads(browser.find_element(By.ID, "poses").text) == poses  # the JSON element shows the same
    dist, score = gaps(poses, predictor(pretrained_model, page)(read_image(page / "sample.png")))
    print(f"page (cpu backend) against the Predictor: {dist:.2e} px, {score:.2e} in score")
    assert dist <= KP_TOL and score <= SCORE_TOL
    assert "5 poses in sample.png (513x513 px" in browser.find_element(By.ID, "status").text
    # offline: every file the page fetched came from its own folder (no CDN)
    fetched = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert fetched and all(url.startswith(server) for url in fetched), fetched
    assert {server + f"vendor/{n}" for n in ("tf-core.min.js", "posenet.min.js")} <= set(fetched)
    shot = screenshot(browser, tmp_path, "web_sample.png")
    assert shot.stat().st_size > 50_000


def test_default_backend_and_a_chosen_image(page, server, browser, pretrained_model, tmp_path):
    """The default backend (WebGL when Chromium gives one, else cpu), then a photo chosen in the file input."""
    browser.get(server)
    state = wait_until(browser, "p.runs >= 1", "the sample photo never got its poses")
    photo = png_photos(tmp_path / "png")[-1]  # pose.png: one person, 1000x667
    browser.find_element(By.ID, "file").send_keys(str(photo))
    state = wait_until(browser, "p.runs >= 2 && p.source === 'pose.png'", "the chosen image never got its poses")
    dist, score = gaps(browser.execute_script("return window.poses"),
                       predictor(pretrained_model, page)(read_image(photo)))
    print(f"page ({state['backend']} backend) on a chosen image: {dist:.2e} px, {score:.2e} in score")
    assert dist <= KP_TOL and score <= (SCORE_TOL if state["backend"] == "cpu" else 1e-2)
    assert "1 poses in pose.png (1000x667 px" in browser.find_element(By.ID, "status").text
    screenshot(browser, tmp_path, f"web_chosen_{state['backend']}.png")


def test_webcam(page, server, browser, tmp_path):
    """Chromium's fake camera (a synthetic 640x480 test pattern, no person): frames run through the model."""
    browser.get(server + "?backend=cpu&camera=1")
    state = wait_until(browser, "p.frames >= 3", "the webcam never delivered frames")
    assert state["source"] == "webcam" and browser.execute_script("return window.poses") is not None
    assert browser.execute_script("return [canvas.width, canvas.height]") == [640, 480]
    browser.find_element(By.ID, "camera").click()  # stop: the cpu backend keeps the renderer busy otherwise
    WebDriverWait(browser, 30).until(lambda d: d.find_element(By.ID, "camera").text == "Start webcam")
    assert browser.find_element(By.ID, "status").text.startswith("webcam stopped after")
    screenshot(browser, tmp_path, "web_webcam.png")
