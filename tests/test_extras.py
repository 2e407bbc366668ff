"""A missing optional package fails in one line naming the extra that installs it (posenet.extras)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from posenet.errors import PosenetError
from posenet.extras import EXTRAS, MissingExtraError, require_extra


def test_every_extra_named_is_one_of_pyproject():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    pyproject = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    extras = pyproject["project"]["optional-dependencies"]
    assert all(package in extras[extra] for package, extra in EXTRAS.items())   # each extra installs its packages
    assert not set(EXTRAS) & {dep.split("=")[0] for dep in pyproject["project"]["dependencies"]}  # none in core
    assert set(extras) - {"dev"} <= {extra for dep in extras["dev"] for extra in dep[8:-1].split(",")
                                     if dep.startswith("posenet[")}       # .[dev] installs every extra


@pytest.mark.parametrize("module, extra", [("dvclive", "pipeline"), ("wandb", "wandb"), ("dtlpy", "dataloop"),
                                           ("roboflow.adapters.rfapi", "roboflow"), ("streamlit", "app")])
def test_a_missing_extra_is_one_line_naming_it(monkeypatch, module, extra):
    monkeypatch.setitem(sys.modules, module.split(".")[0], None)  # what `import x` sees when it is not installed
    for loaded in [name for name in sys.modules if name.startswith(module.split(".")[0] + ".")]:
        monkeypatch.delitem(sys.modules, loaded)
    with pytest.raises(MissingExtraError) as info:
        require_extra(module, "this feature")
    assert str(info.value) == (f"this feature needs the {module.split('.')[0]} package, which is not installed "
                               f"(pip install -e '.[{extra}]')")
    assert isinstance(info.value, PosenetError)


def test_the_train_stage_names_the_pipeline_extra_for_dvclive(monkeypatch, tmp_path):
    from posenet.errors import TrainingError
    from posenet.params import Params
    from posenet.training.loggers import TrainingLogger

    monkeypatch.setitem(sys.modules, "dvclive", None)
    with pytest.raises(TrainingError, match=r"needs the dvclive package.*pip install -e '\.\[pipeline\]'"):
        TrainingLogger(Params(), tmp_path / "live", enabled=True, resume=False, steps=(0, 1))
