"""Paths and helpers of the annotation-reader tests (data files live in tests/data/fixtures)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "data" / "fixtures"
SAMPLE = REPO / "data" / "sample"


def expected(fmt: str) -> dict:
    return json.loads((FIXTURES / fmt / "expected.json").read_text(encoding="utf-8"))


def assert_matches_expected(export, exp: dict) -> None:
    """Every image of expected.json, with its size and persons (1e-4 px), and no other image."""
    got = {r.rel: r for r in export.images}
    assert sorted(got) == sorted(exp["images"])
    for key, want in exp["images"].items():
        record = got[key]
        assert (record.width, record.height) == (want["width"], want["height"]), key
        assert len(record.persons) == len(want["persons"]), key
        for person, kp in zip(record.persons, want["persons"]):
            kp = np.array(kp, dtype=np.float64)
            np.testing.assert_allclose(person.keypoints[:, :2], kp[:, :2], atol=1e-4, err_msg=key)
            np.testing.assert_array_equal(person.keypoints[:, 2], kp[:, 2], err_msg=key)


def params_file(folder: Path, data: str = "") -> Path:
    """A params.yaml of the defaults (plus the ``data:`` section lines ``data``, YAML) in ``folder``: the stage tests
    never read the workspace's params.yaml."""
    path = folder / "test-params.yaml"
    path.write_text(f"data:\n{data}" if data else "{}\n", encoding="utf-8")
    return path
