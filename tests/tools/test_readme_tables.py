"""tools/readme_tables.py: the README's results tables come from the reports; stale tables are caught."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from posenet.evaluation.benchmark import STAGES

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tools"))

import readme_tables  # noqa: E402

STATS = {"AP": 0.25, "AP50": 0.5, "AP75": 0.2, "APm": 0.1, "APl": 0.4, "AR": 0.3}


def write_reports(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    trained = {k: v + 0.01 for k, v in STATS.items()}
    (folder / "metrics.json").write_text(json.dumps({"pretrained": {"AP": 0.25}, "trained": {"AP": 0.26}}))
    (folder / "coco.json").write_text(json.dumps({
        "pretrained": STATS, "trained": trained, "gain": {k: 0.01 for k in STATS},
        "pretrained_presets": {"tfjs": STATS}}))
    (folder / "coco_pretrained.json").write_text(json.dumps({"val": STATS, "presets": {"tfjs": STATS,
                                                                                          "accurate": trained}}))
    (folder / "train_run.json").write_text(json.dumps({"steps": 20, "train_loss": 0.5, "val_AP": 0.26,
                                                   "stopped_early": False}))
    (folder / "benchmark.json").write_text(json.dumps({
        "environment": {"cpu": "Test CPU", "cpu_count": 2, "torch_threads": 1, "torch": "2.0", "cuda": False},
        "results": [{"variant": "mobilenet_v1_075", "stride": 16, "input_size": 257, "device": "cpu",
                     "backend": "fused", "forward": {"median_ms": 12.34}, "end_to_end": {"median_ms": 15.0},
                     "vs_eager": {"end_to_end": 1.5}, "ap": {"AP": 0.2}, "image_factor": 2,
                     "input_hw_fitted": [177, 257],
                     "stages": dict(zip(STAGES, (5.0, 4.0, 1.0, 12.0, 2.0, 0.1))),
                     "stages_fitted": dict(zip(STAGES, (2.0, 1.0, 1.0, 12.0, 2.0, 0.1))),
                     "non_forward_ms": {"full": 12.1, "fitted": 6.05, "gain": 2.0}}],
        "presets": [{"preset": "accurate", "backend": "eager", "own_backend": True,
                     "input_hw": [[529, 769], [689, 1025]], "flip": True,
                     "end_to_end": {"median_ms": 1400.0}, "vs_tfjs": 0.05, "ap": {"AP": 0.27}}],
        "training": [{"device": "cpu", "input_size": 257, "batch": 4, "threads": 2,
                      "precisions": {"float32": {"images_per_s": 20.25}}}]}))
    return folder


DOC = """# Title

<!-- results:metrics -->
old
<!-- /results:metrics -->

text between

<!-- results:presets -->
<!-- /results:presets -->

<!-- results:train -->
x
<!-- /results:train -->

<!-- results:benchmark -->
<!-- /results:benchmark -->
<!-- results:benchmark_stages -->
<!-- /results:benchmark_stages -->
<!-- results:benchmark_presets -->
<!-- /results:benchmark_presets -->
<!-- results:training_speed -->
<!-- /results:training_speed -->
"""


def test_tables_are_written_from_the_reports(tmp_path):
    out = readme_tables.render(DOC, write_reports(tmp_path / "reports"))
    assert "old" not in out and "text between" in out
    assert "| pretrained (Google's weights) | 0.250 | 0.500 | 0.200 | 0.100 | 0.400 | 0.300 |" in out
    assert "| fine-tuned | 0.260 | 0.510 | 0.210 | 0.110 | 0.410 | 0.310 |" in out
    assert "| gain | +0.010 | +0.010 |" in out
    assert "| `accurate` | 0.260 |" in out  # coco_pretrained.json's presets win over coco.json's
    assert "| training steps | `steps` | 20 |" in out
    assert "| stopped early by train.patience | `stopped_early` | no |" in out
    assert "| best val AP: the model handed back | `best_val_AP` | — |" in out  # missing key: a dash
    assert "Measured on: Test CPU, 2 cores, 1 thread(s) per timing" in out
    assert "| mobilenet_v1_075 s16 257 px cpu | `fused` | 12.3 | 15.0 | 1.50x | — | 0.200 |" in out
    assert "| `accurate` | `eager` (its own) | 529x769 + 689x1025 + flip | 1400.0 | 0.05x | 0.270 |" in out
    assert "| cpu | `float32` | 257 | 4 | 2 | 20.2 |" in out
    assert "| 257 px `fused` | whole, 257x257 | 5.0 | 4.0 | 1.0 | 12.0 | 2.0 | 0.1 | 12.1 |" in out
    assert "| 257 px `fused` | 1/2, 177x257 | 2.0 | 1.0 | 1.0 | 12.0 | 2.0 | 0.1 | 6.0 (2.00x less) |" in out
    assert readme_tables.render(out, tmp_path / "reports") == out  # idempotent


def test_missing_reports_give_dashes(tmp_path):
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "coco.json").write_text("not json")
    out = readme_tables.render(DOC, tmp_path / "reports")
    assert "| pretrained (Google's weights) | — | — | — | — | — | — |" in out
    assert "test:" not in out and "Measured on" not in out


def test_only_the_small_metric_gives_the_ap_and_its_gain(tmp_path):
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "metrics.json").write_text(json.dumps({"pretrained": {"AP": 0.2}, "trained": {"AP": 0.25},
                                                      "test": {"pretrained": {"AP": 0.1}, "trained": {"AP": 0.3}}}))
    out = readme_tables.render(DOC, reports)
    assert "| fine-tuned | 0.250 | — |" in out and "| gain | +0.050 | — |" in out
    assert "| test: fine-tuned | 0.300 |" in out and "| test: gain | +0.200 |" in out


def test_unknown_table_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="unknown results table 'nope'"):
        readme_tables.render("<!-- results:nope -->\n<!-- /results:nope -->\n", tmp_path)


def test_check_mode_exits_1_when_stale_and_the_rewrite_fixes_it(tmp_path):
    reports = write_reports(tmp_path / "reports")
    doc = tmp_path / "README.md"
    doc.write_text(DOC)
    run = CliRunner().invoke
    result = run(readme_tables.main, ["--check", "--reports", str(reports), str(doc)])
    assert result.exit_code == 1 and "results tables are stale" in result.output
    assert doc.read_text() == DOC
    result = run(readme_tables.main, ["--reports", str(reports), str(doc)])
    assert result.exit_code == 0 and f"rewrote {doc}" in result.output
    assert run(readme_tables.main, ["--check", "--reports", str(reports), str(doc)]).exit_code == 0


def test_the_committed_readme_matches_the_committed_reports():
    """The README and docs show what reports/ holds (`python tools/readme_tables.py` after `dvc repro`)."""
    reports = REPO / "reports"
    if not reports.is_dir():
        pytest.skip("no reports/ folder")
    stale = readme_tables.stale_files(readme_tables.default_files(REPO), reports)
    assert not stale, f"stale results tables in {[str(p) for p in stale]}: run python tools/readme_tables.py"
