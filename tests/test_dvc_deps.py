"""dvc.yaml lists, for every stage, each posenet module its script can import (its import closure), so editing
any of them makes `dvc status` report the stage as changed (tools/dvc_deps.py keeps them in step)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))

from dvc_deps import closure_deps, import_closure, missing_deps  # noqa: E402


def _stages() -> dict[str, dict]:
    return yaml.safe_load((REPO / "dvc.yaml").read_text(encoding="utf-8"))["stages"]


@pytest.mark.parametrize("stage", sorted(_stages()))
def test_stage_deps_cover_the_import_closure_of_its_script(stage):
    spec = _stages()[stage]
    script = REPO / spec["cmd"].split()[1]
    assert script.is_file(), f"{stage}: cmd runs {script}, which does not exist"
    assert str(script.relative_to(REPO)) in spec["deps"], f"{stage}: its own script is not a dep"
    assert not missing_deps(spec), f"{stage}: dvc.yaml deps lack {missing_deps(spec)} (python tools/dvc_deps.py)"


def test_the_closure_follows_lazy_and_package_imports():
    closure = {f.relative_to(REPO).as_posix() for f in import_closure(REPO / "stages" / "convert.py")}
    assert {"posenet/__init__.py", "posenet/models/checkpoint.py", "posenet/weights/convert.py",
            "posenet/errors.py"} <= closure
    assert "posenet/training/losses.py" not in closure and "posenet/models/factory.py" not in closure
    deps = closure_deps(REPO / "stages" / "convert.py")
    # convert does not use the TF.js exporter: the weights modules one by one
    assert "posenet/weights/convert.py" in deps and "posenet/weights/tfjs_export.py" not in deps
    benchmark = closure_deps(REPO / "stages" / "benchmark.py")  # it reaches every models module: the folder
    assert "posenet/models" in benchmark and "posenet/models/factory.py" not in benchmark
    assert "posenet/models/checkpoint.py" in deps and "posenet/models" not in deps  # not factory.py: one by one


def test_a_missing_module_is_reported():
    spec = dict(_stages()["convert"])
    spec["deps"] = [d for d in spec["deps"] if d != "posenet/errors.py"]
    assert missing_deps(spec) == ["posenet/errors.py"]
