"""Write the results tables of README.md and docs/*.md from the committed reports/ files.

    python tools/readme_tables.py            # rewrite every table between its markers
    python tools/readme_tables.py --check    # exit 1 naming the files whose tables are stale

A table lives between ``<!-- results:NAME -->`` and ``<!-- /results:NAME -->``; NAME is one of ``TABLES``. The
tables read ``reports/metrics.json``, ``reports/coco.json``, ``reports/coco_pretrained.json``,
``reports/train_run.json`` and ``reports/benchmark.json`` (what `dvc repro` writes); a missing file or key shows as
"—", so a report of an older or a smaller run still renders.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import click

REPO = Path(__file__).resolve().parents[1]
DASH = "—"
COCO_STATS = ("AP", "AP50", "AP75", "APm", "APl", "AR")
MARKER = re.compile(r"(<!-- results:(?P<name>[a-z_]+) -->\n)(?P<body>.*?)(<!-- /results:(?P=name) -->)", re.DOTALL)


def _load(reports: Path, name: str) -> dict[str, Any]:
    """A report as a dict; {} when the file is missing or is not a JSON object."""
    try:
        data = json.loads((reports / name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _get(data: Any, *keys: Any) -> Any:
    """data[k1][k2]...; None where a key or index is missing."""
    for key in keys:
        try:
            data = data[key]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _num(value: Any, digits: int = 3, suffix: str = "", signed: bool = False) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return DASH
    return f"{value:{'+' if signed else ''}.{digits}f}{suffix}"


def _table(header: Iterable[str], rows: Iterable[Iterable[str]]) -> str:
    header = list(header)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def metrics_table(reports: Path) -> str:
    """COCO keypoint metrics of the pretrained and the trained model on val (and test), and the gain."""
    coco, small = _load(reports, "coco.json"), _load(reports, "metrics.json")
    rows = []
    for split, prefix in ((None, ""), ("test", "test: ")):
        base = coco if split is None else coco.get("test", {})
        headline = small if split is None else small.get("test", {})
        if split is not None and not base and not headline:
            continue
        for model, label in (("pretrained", "pretrained (Google's weights)"), ("trained", "fine-tuned"),
                             ("gain", "gain")):
            stats = base.get(model) or headline.get(model) or {}
            if model == "gain" and not stats:
                before, after = _get(base, "pretrained", "AP") or _get(headline, "pretrained", "AP"), \
                    _get(base, "trained", "AP") or _get(headline, "trained", "AP")
                stats = {"AP": after - before} if isinstance(before, float) and isinstance(after, float) else {}
            rows.append([prefix + label] + [_num(stats.get(s), signed=model == "gain") for s in COCO_STATS])
    return _table(["model", *COCO_STATS], rows)


def presets_table(reports: Path) -> str:
    """COCO keypoint metrics of the pretrained model under each preset (evaluate_pretrained)."""
    presets = _load(reports, "coco_pretrained.json").get("presets") or _load(reports, "coco.json").get(
        "pretrained_presets") or {}
    rows = [[f"`{name}`"] + [_num(_get(stats, s)) for s in COCO_STATS] for name, stats in presets.items()]
    return _table(["preset", *COCO_STATS], rows or [[DASH] * (len(COCO_STATS) + 1)])


TRAIN_ROWS = (("steps", "training steps", 0), ("train_loss", "last train loss", 4), ("val_loss", "last val loss", 4),
              ("start_val_AP", "val AP before training, epoch 0", 3), ("val_AP", "val AP of the last model", 3),
              ("best_val_AP", "best val AP: the model handed back", 3), ("best_epoch", "best epoch", 0),
              ("images_per_s", "training images/s, data loading included", 1),
              ("stopped_early", "stopped early by train.patience", None))


def train_table(reports: Path) -> str:
    """reports/train_run.json (every number of the run), one row per key."""
    train = _load(reports, "train_run.json")
    rows = []
    for key, label, digits in TRAIN_ROWS:
        value = train.get(key)
        if digits is None:
            text = DASH if not isinstance(value, bool) else ("yes" if value else "no")
        else:
            text = _num(value, digits)
        rows.append([label, f"`{key}`", text])
    return _table(["", "key", "value"], rows)


def _environment(bench: dict[str, Any]) -> str:
    env = bench.get("environment") or {}
    if not env:
        return ""
    return (f"Measured on: {env.get('cpu', DASH)}, {env.get('cpu_count', DASH)} cores, "
            f"{env.get('torch_threads', DASH)} thread(s) per timing, torch {env.get('torch', DASH)}"
            f"{', CUDA' if env.get('cuda') else ''}.\n\n")


def benchmark_table(reports: Path) -> str:
    """Median forward and end-to-end latency per backend and input size (reports/benchmark.json ``results``)."""
    bench = _load(reports, "benchmark.json")
    results = [r for r in bench.get("results") or [] if isinstance(r, dict)]
    rows = []
    for r in results:
        config = (f"{r.get('variant', DASH)} s{r.get('stride', DASH)} {r.get('input_size', DASH)} px "
                  f"{r.get('device', '')}")
        rows.append([config.strip(), f"`{r.get('backend', DASH)}`",
                     _num(_get(r, "forward", "median_ms"), 1), _num(_get(r, "end_to_end", "median_ms"), 1),
                     _num(_get(r, "vs_eager", "end_to_end"), 2, "x"),
                     _num(_get(r, "batch", "throughput_gain"), 2, "x"), _num(_get(r, "ap", "AP"))])
    table = _table(["configuration", "backend", "forward (ms)", "end to end (ms)", "vs eager", "batch gain",
                    "AP (val)"], rows or [[DASH] * 7])
    return _environment(bench) + table


STAGE_COLUMNS = ("read", "resize", "to_tensor", "forward", "decode", "rescale")


def benchmark_stages_table(reports: Path) -> str:
    """Median ms of each step from the file on disk to poses on TF.js's path (the JPEG decoded whole, a square
    input) and on the fast preset's path (reduced JPEG decode, the input cut to the photo, OpenCV resize), and the
    time outside the forward pass on both (reports/benchmark.json ``results``: ``stages``, ``stages_fitted``,
    ``non_forward_ms``)."""
    bench = _load(reports, "benchmark.json")
    rows = []
    for r in bench.get("results") or []:
        if not isinstance(r, dict) or "stages" not in r:
            continue
        size = r.get("input_size", DASH)
        fitted_hw = _get(r, "input_hw_fitted") or [size, size]
        rows.append([f"{size} px `{r.get('backend', DASH)}`", f"whole, {size}x{size}",
                     *(_num(_get(r, "stages", stage), 1) for stage in STAGE_COLUMNS),
                     _num(_get(r, "non_forward_ms", "full"), 1)])
        rows.append([f"{size} px `{r.get('backend', DASH)}`",
                     f"1/{r.get('image_factor', 1)}, {fitted_hw[0]}x{fitted_hw[1]}",
                     *(_num(_get(r, "stages_fitted", stage), 1) for stage in STAGE_COLUMNS),
                     f"{_num(_get(r, 'non_forward_ms', 'fitted'), 1)} "
                     f"({_num(_get(r, 'non_forward_ms', 'gain'), 2, 'x')} less)"])
    return _table(["input, backend", "JPEG decoded, input", *STAGE_COLUMNS, "outside forward (ms)"],
                  rows or [[DASH] * (len(STAGE_COLUMNS) + 3)])


def benchmark_presets_table(reports: Path) -> str:
    """End-to-end latency and AP of each preset on each backend timed (reports/benchmark.json ``presets``)."""
    bench = _load(reports, "benchmark.json")
    rows = []
    for r in bench.get("presets") or []:
        sizes = _get(r, "input_hw") or []
        inputs = " + ".join(str(hw[0]) if len(set(hw)) == 1 else f"{hw[0]}x{hw[1]}" for hw in sizes)
        backend = f"`{r.get('backend', DASH)}`" + (" (its own)" if r.get("own_backend") else "")
        rows.append([f"`{r.get('preset', DASH)}`", backend,
                     (inputs or DASH) + (" + flip" if r.get("flip") else ""),
                     _num(_get(r, "end_to_end", "median_ms"), 1), _num(r.get("vs_tfjs"), 2, "x"),
                     _num(_get(r, "ap", "AP"))])
    return _table(["preset", "backend", "inputs", "end to end (ms)", "speed vs tfjs", "AP (val)"],
                  rows or [[DASH] * 6])


def training_speed_table(reports: Path) -> str:
    """Training steps per second per device and precision (reports/benchmark.json ``training``)."""
    bench = _load(reports, "benchmark.json")
    rows = []
    for t in bench.get("training") or []:
        for precision, m in (t.get("precisions") or {}).items():
            rows.append([str(t.get("device", DASH)), f"`{precision}`", str(t.get("input_size", DASH)),
                         str(t.get("batch", DASH)), str(t.get("threads", DASH)), _num(_get(m, "images_per_s"), 1)])
    return _table(["device", "precision", "input (px)", "batch", "threads", "images/s"], rows or [[DASH] * 6])


TABLES: dict[str, Callable[[Path], str]] = {
    "metrics": metrics_table,
    "presets": presets_table,
    "train": train_table,
    "benchmark": benchmark_table,
    "benchmark_stages": benchmark_stages_table,
    "benchmark_presets": benchmark_presets_table,
    "training_speed": training_speed_table,
}


def render(text: str, reports: Path) -> str:
    """``text`` with every marked table rewritten from ``reports``; ValueError naming an unknown table."""
    def replace(match: re.Match[str]) -> str:
        name = match.group("name")
        if name not in TABLES:
            raise ValueError(f"unknown results table {name!r} (known: {', '.join(TABLES)})")
        return f"{match.group(1)}{TABLES[name](reports)}\n{match.group(4)}"
    return MARKER.sub(replace, text)


def default_files(repo: Path = REPO) -> list[Path]:
    return [repo / "README.md", *sorted((repo / "docs").glob("*.md"))]


def stale_files(files: Iterable[Path], reports: Path) -> list[Path]:
    """The files whose tables differ from what ``reports`` gives."""
    return [f for f in files if f.is_file() and render(f.read_text(encoding="utf-8"), reports)
            != f.read_text(encoding="utf-8")]


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False, exists=True))
@click.option("--reports", default=str(REPO / "reports"), show_default=True, type=click.Path(file_okay=False),
              help="Folder with the report files.")
@click.option("--check", is_flag=True, help="Change nothing; exit 1 naming the files whose tables are stale.")
def main(files: tuple[str, ...], reports: str, check: bool) -> None:
    """Rewrite the results tables of FILES (default: README.md and docs/*.md) from the reports."""
    paths = [Path(f) for f in files] or default_files()
    try:
        stale = stale_files(paths, Path(reports))
    except ValueError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(2)
    if check:
        for path in stale:
            click.echo(f"{path}: results tables are stale (python tools/readme_tables.py)", err=True)
        sys.exit(1 if stale else 0)
    for path in stale:
        path.write_text(render(path.read_text(encoding="utf-8"), Path(reports)), encoding="utf-8")
        click.echo(f"rewrote {path}")


if __name__ == "__main__":
    main()
