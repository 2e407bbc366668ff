"""Shared fixture for stage tests: load stages/<name>.py as a module (as `python stages/<name>.py` runs it)."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

STAGES = Path(__file__).resolve().parents[2] / "stages"


@pytest.fixture
def load_stage() -> Callable[[str], ModuleType]:
    def load(name: str) -> ModuleType:
        spec = importlib.util.spec_from_file_location(f"stage_{name}", STAGES / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load
