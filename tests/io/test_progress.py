"""Progress bars: drawn on a terminal only, hidden by -q, never torn by log lines (posenet.io.progress)."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "tests" / "data" / "fixtures" / "dataloop"


def _fetch_annotations(tmp_path: Path, *options: str, terminal: bool) -> str:
    """stderr of the fetch_annotations stage on the Dataloop fixture (its image copy loop draws a bar), with stderr
    a pseudo-terminal or a pipe."""
    out = tmp_path / "out"
    (tmp_path / "params.yaml").write_text("{}\n")  # the defaults, not the workspace's params.yaml
    argv = [sys.executable, str(REPO / "stages" / "fetch_annotations.py"), "--params", str(tmp_path / "params.yaml"),
            "--format", "dataloop", "--path", str(FIXTURE), "--annotations-dir", str(out / "annotations"),
            "--images-dir", str(out / "images"), "--summary", str(out / "summary.json"), *options]
    if not terminal:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stderr
    main, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))  # a new pty is 0 columns wide
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=child)
    os.close(child)
    chunks = []
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:                                                  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(main)
    assert process.wait(timeout=120) == 0
    return b"".join(chunks).decode(errors="replace")


@pytest.mark.slow
def test_bars_on_a_terminal_only_and_hidden_by_quiet(tmp_path):
    shown = _fetch_annotations(tmp_path, terminal=True)
    assert "copy images:   0%" in shown
    # Log lines written while the bar is drawn start a line of their own: never "...| 2/4INFO posenet...".
    assert not [line for line in re.split(r"[\r\n]", shown) if "copy images" in line and "INFO" in line]
    assert "INFO posenet.data.writer: wrote" in shown
    quiet = _fetch_annotations(tmp_path, "-q", terminal=True)
    assert "copy images" not in quiet and "INFO" not in quiet
    piped = _fetch_annotations(tmp_path, terminal=False)                # dvc repro > log, CI
    assert "copy images" not in piped and "INFO posenet.data.writer: wrote" in piped


def test_bar_helper_follows_the_log_level(monkeypatch):
    import logging

    from posenet.io.progress import bars_shown, progress_bar

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    posenet_log = logging.getLogger("posenet")
    level = posenet_log.level
    try:
        posenet_log.setLevel(logging.INFO)
        assert bars_shown()
        assert progress_bar(range(3), enabled=False).disable
        posenet_log.setLevel(logging.WARNING)                             # -q
        assert not bars_shown() and progress_bar(range(3)).disable
        assert list(progress_bar(range(3))) == [0, 1, 2]                # a hidden bar still iterates
    finally:
        posenet_log.setLevel(level)
