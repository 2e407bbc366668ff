"""The app in a real browser: `streamlit run app.py` on 127.0.0.1, driven by headless Chromium (selenium).

Uploads go through the page's real ``<input type=file>``: a corrupt photo shows the error, a following
good photo shows the poses. Screenshots land in the test's tmp folder (and in $POSENET_SCREENSHOTS when set).
Skipped only when the Debian ``chromium`` / ``chromium-driver`` binaries are absent.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from app_support import PHOTO, make_app_root, write_walk_video

from posenet.apps import serving
from posenet.params import load_params

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = [
    pytest.mark.slow, pytest.mark.network,
    pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                       reason="headless browser test needs the Debian packages chromium and chromium-driver"),
]
webdriver = pytest.importorskip("selenium.webdriver")
from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

STARTUP_S = 60
RESULT_S = 120


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


@pytest.fixture()
def browser(tmp_path):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'chrome-profile'}",
                 "--window-size=1400,1800"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(STARTUP_S)
    try:
        yield driver
    finally:
        driver.quit()


def page_text(driver) -> str:
    try:
        return driver.find_element(By.TAG_NAME, "body").text
    except StaleElementReferenceException:
        return ""


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


def screenshot(driver, tmp_path: Path, name: str) -> None:
    driver.save_screenshot(str(tmp_path / name))
    if os.environ.get("POSENET_SCREENSHOTS"):
        folder = Path(os.environ["POSENET_SCREENSHOTS"])
        folder.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(folder / name))


def upload_file(driver, path: Path) -> None:
    WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, 'input[type="file"]'))
    driver.find_element(By.CSS_SELECTOR, 'input[type="file"]').send_keys(str(path))


def test_browser_corrupt_then_good_upload(server, browser, tmp_path):
    browser.get(server)
    text = wait_for(browser, "poses found in multi_skiing.jpg")  # default input: a bundled sample photo
    assert "Serving the pretrained model mobilenet_v1_075" in text
    screenshot(browser, tmp_path, "1_sample.png")

    browser.find_element(By.XPATH, "//label[.//*[text()='Upload image or video']]").click()
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
    browser.find_element(By.XPATH, "//label[.//*[text()='Upload image or video']]").click()
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
