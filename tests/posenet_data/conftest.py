"""Fixtures of the annotation-reader tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from data_helpers import FIXTURES


@pytest.fixture
def fixture_copy(tmp_path):
    """Copy of one fixture export in tmp_path, to break it on purpose."""
    def make(fmt: str) -> Path:
        dest = tmp_path / fmt
        shutil.copytree(FIXTURES / fmt, dest)
        return dest
    return make
