"""The app in a real browser: `streamlit run app.py` on 127.0.0.1, driven by headless Chromium (selenium).

Uploads go through the page's real ``<input type=file>``: a corrupt photo shows the error, a following
good photo shows the poses. The live camera mode streams Chromium's fake camera (fed with a clip of a real photo)
to the server over WebRTC and back, annotated. Screenshots land in the test's tmp folder (and in
$POSENET_SCREENSHOTS when set).
Skipped only when the Debian ``chromium`` / ``chromium-driver`` binaries are absent.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from app_support import (
    CHROMEDRIVER,
    CHROMIUM,
    NO_CHROMIUM,
    PHOTO,
    free_port,
    headless_chromium,
    make_app_root,
    screenshot,
    write_walk_video,
)

from posenet.apps import serving
from posenet.params import load_params

pytestmark = [
    pytest.mark.slow, pytest.mark.network,
    pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason=NO_CHROMIUM),
]
webdriver = pytest.importorskip("selenium.webdriver")
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

STARTUP_S = 60
RESULT_S = 120


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """URL of a `streamlit run` of a copy of the app (weights converted beforehand, as the first page load
    would do); the server is stopped at teardown."""
    root = make_app_root(tmp_path_factory.mktemp("browser_app"))
    serving.ensure_pretrained(load_params(root / "params.yaml"), root)
    port = free_port()
    log = open(root / "streamlit.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
        cwd=root, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_S
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"streamlit did not start: {(root / 'streamlit.log').read_text(errors='replace')[-2000:]}")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


def chromium(tmp_path: Path, *flags: str):
    """Headless Chromium (selenium) with a profile in ``tmp_path`` and the extra command-line ``flags``."""
    return headless_chromium(tmp_path / "chrome-profile", "--window-size=1400,1800", *flags,
                             page_load_timeout=STARTUP_S)


@pytest.fixture()
def browser(tmp_path):
    driver = chromium(tmp_path)
    try:
        yield driver
    finally:
        driver.quit()


def write_camera_clip(path: Path, frames: int = 60) -> Path:
    """A Y4M clip (what Chromium's fake camera can play, in a loop) of PHOTO, 640x480, sliding sideways."""
    import cv2
    import numpy as np

    photo = cv2.resize(cv2.imread(str(PHOTO)), (800, 480))
    with open(path, "wb") as out:
        out.write(b"YUV4MPEG2 W640 H480 F30:1 Ip A1:1 C420jpeg\n")
        for i in range(frames):
            shift = 80 - abs(80 - 160 * i // frames)            # there and back: the loop has no jump
            frame = np.ascontiguousarray(photo[:, shift:shift + 640])
            out.write(b"FRAME\n" + cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420).tobytes())
    return path


@pytest.fixture()
def camera_browser(tmp_path):
    """Chromium whose camera is a clip of a real photo, permission granted without asking."""
    clip = write_camera_clip(tmp_path / "camera.y4m")
    driver = chromium(tmp_path, "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                      f"--use-file-for-fake-video-capture={clip}")
    try:
        yield driver
    finally:
        driver.quit()


def page_text(driver) -> str:
    try:
        return driver.find_element(By.TAG_NAME, "body").text
    except StaleElementReferenceException:
        return ""


def choose_input(driver, label: str) -> None:
    """Click the input radio button ``label``, waiting for it: on a loaded machine Streamlit may still be
    re-rendering the page when its result text is already there."""
    WebDriverWait(driver, RESULT_S, poll_frequency=0.5,
                  ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)).until(
        lambda d: d.find_element(By.XPATH, f"//label[.//*[text()='{label}']]").click() or True,
        message=f"no input choice {label!r}")


def wait_for(driver, *present: str, absent: str | None = None, timeout: float = RESULT_S) -> str:
    """Wait until the page shows every string of ``present`` (and not ``absent``) and no script is running;
    return the text. Streamlit renders a rerun element by element, so wait for the last element needed too."""
    def ready(d):
        text = page_text(d)
        running = d.find_elements(By.CSS_SELECTOR, '[data-testid="stStatusWidget"]')
        shown = all(p in text for p in present) and (absent is None or absent not in text)
        return text if shown and not running else False

    return WebDriverWait(driver, timeout, poll_frequency=0.5).until(
        ready, message=f"page never showed {present!r}" + (f" without {absent!r}" if absent else ""))


def upload_file(driver, path: Path) -> None:
    WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, 'input[type="file"]'))
    driver.find_element(By.CSS_SELECTOR, 'input[type="file"]').send_keys(str(path))


def test_browser_corrupt_then_good_upload(server, browser, tmp_path):
    browser.get(server)
    text = wait_for(browser, "poses found in multi_skiing.jpg")  # default input: a bundled sample photo
    assert "Serving the pretrained model mobilenet_v1_075" in text
    screenshot(browser, tmp_path, "1_sample.png")

    choose_input(browser, "Upload image or video")
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(PHOTO.read_bytes()[:20000])
    upload_file(browser, broken)
    text = wait_for(browser, "corrupt or truncated")
    assert "broken.jpg" in text and "poses found" not in text
    screenshot(browser, tmp_path, "2_corrupt_upload.png")

    upload_file(browser, PHOTO)
    text = wait_for(browser, "found in pose.jpg", "1000x667 px", "Download poses JSON", absent="corrupt or truncated")
    assert "1000x667 px" in text and "Download poses JSON" in text
    images = browser.find_elements(By.CSS_SELECTOR, '[data-testid="stImage"] img')
    assert len(images) >= 2 and all(img.get_attribute("naturalWidth") not in (None, "0") for img in images)
    screenshot(browser, tmp_path, "3_good_upload.png")


def test_browser_video_upload_plays_in_the_page(server, browser, tmp_path):
    video = write_walk_video(tmp_path / "walk.mp4")
    browser.get(server)
    wait_for(browser, "poses found in multi_skiing.jpg")
    choose_input(browser, "Upload image or video")
    upload_file(browser, video)
    wait_for(browser, "6 frames annotated", "Download annotated video", "Download poses JSON (per frame)")
    # Look the player up on every poll: a late rerender replaces the element.
    WebDriverWait(browser, RESULT_S, poll_frequency=0.5, ignored_exceptions=(StaleElementReferenceException,)).until(
        lambda d: d.execute_script("return arguments[0].readyState", d.find_element(By.TAG_NAME, "video")) >= 2,
        message="the annotated video never became playable in Chromium")
    player = browser.find_element(By.TAG_NAME, "video")
    assert browser.execute_script("return arguments[0].duration", player) == pytest.approx(1.2, abs=0.25)
    assert browser.execute_script("return arguments[0].videoWidth", player) == 240
    screenshot(browser, tmp_path, "4_video.png")


def test_browser_live_camera_is_annotated_in_real_time(server, camera_browser, tmp_path):
    """Live camera: START streams the (fake) camera over WebRTC; the page reports the frame rate, frames and the
    tracked poses, and the annotated stream plays back in the page."""
    browser = camera_browser
    browser.get(server)
    wait_for(browser, "poses found in multi_skiing.jpg")
    choose_input(browser, "Live camera")
    frame = WebDriverWait(browser, RESULT_S).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, 'iframe[title*="webrtc"]'), message="no WebRTC component")[0]
    browser.switch_to.frame(frame)
    WebDriverWait(browser, RESULT_S).until(  # the label is styled upper case; the DOM text may not be
        lambda d: [b for b in d.find_elements(By.TAG_NAME, "button") if b.text.strip().upper() == "START"],
        message="no START button")[0].click()
    browser.switch_to.default_content()
    readout = re.compile(r"Live: ([\d.]+) fps, (\d+) frames, (\d+) poses \(ids #(\d+)")

    def streaming(d):
        found = readout.search(page_text(d))
        return found if found and int(found.group(2)) >= 10 else False

    found = WebDriverWait(browser, RESULT_S, poll_frequency=0.5).until(
        streaming, message="the page never reported 10 annotated camera frames with a tracked pose")
    fps, frames, poses = float(found.group(1)), int(found.group(2)), int(found.group(3))
    assert fps > 0 and frames >= 10 and poses >= 1
    browser.switch_to.frame(browser.find_element(By.CSS_SELECTOR, 'iframe[title*="webrtc"]'))
    player = browser.find_element(By.TAG_NAME, "video")
    assert browser.execute_script("return arguments[0].readyState", player) >= 2
    assert browser.execute_script("return arguments[0].videoWidth", player) == 640   # the annotated stream
    browser.switch_to.default_content()
    screenshot(browser, tmp_path, "5_live_camera.png")
