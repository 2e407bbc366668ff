"""The benchmark stage's report: latency per backend and configuration, and batch throughput."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.figure import Figure

if TYPE_CHECKING:
    pass

__all__ = ["benchmark_figure"]


def _latency_bar(phase: str) -> Callable[[dict[str, Any]], tuple[float, float, float, str]]:
    """A result -> (median ms, p10 gap, p90 gap, bar label: ms and the speed-up against eager) of ``phase``."""
    def bar(r: dict[str, Any]) -> tuple[float, float, float, str]:
        t = r[phase]
        label = f"{t['median_ms']:.0f}" + (f"\n{r['vs_eager'][phase]:.1f}x" if "vs_eager" in r else "")
        return t["median_ms"], t["median_ms"] - t["p10_ms"], t["p90_ms"] - t["median_ms"], label
    return bar


def _throughput_bar(r: dict[str, Any]) -> tuple[float, float, float, str] | None:
    """A result -> (images/s of its batch as streams, p10/p90 gaps, label: the gain over one image at a time);
    None when it has no batch timings."""
    if "batch" not in r:
        return None
    t = r["batch"]["streams"]
    fps = 1000.0 / np.array([t["median_ms"], t["p90_ms"], t["p10_ms"]])
    return fps[0], fps[0] - fps[1], fps[2] - fps[0], f"{fps[0]:.0f}\n{r['batch']['throughput_gain']:.1f}x"


def benchmark_figure(report: dict[str, Any]) -> Figure:
    """A benchmark report with backends side by side: grouped bars of median end-to-end and forward ms
    (p10-p90 error bars) per configuration, each bar labelled with its ms and its speed-up against eager, and,
    where the report has batch timings, the batch throughput in images/s labelled with its gain over batch 1."""
    results = report["results"]
    configs = list(dict.fromkeys((r["variant"], r["stride"], r["input_size"], r["device"], r["weights"])
                                 for r in results))
    backends = list(dict.fromkeys(r["backend"] for r in results))
    by_key = {(r["variant"], r["stride"], r["input_size"], r["device"], r["weights"], r["backend"]): r
              for r in results}
    labels = [f"{v.replace('mobilenet_', '')} s{s}, {n} px\n{d}" + (" (random init)" if w == "random" else "")
              for v, s, n, d, w in configs]
    panels = [("end to end", "end to end per image (ms)", _latency_bar("end_to_end")),
              ("forward", "forward per image (ms)", _latency_bar("forward"))]
    batched = [r for r in results if "batch" in r]
    if batched:
        b = batched[0]["batch"]
        panels.append((f"batch {b['size']} as {b['streams_used']} streams, {b['threads']} threads (x batch 1)",
                       "images per second", _throughput_bar))
    colors = ("#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860")
    width = 0.8 / len(backends)
    xs = np.arange(len(configs))
    fig = Figure(figsize=(max(8.0, 2.4 * len(configs) * len(panels) + 2), 4.8), dpi=120)
    axes = fig.subplots(1, len(panels))
    for ax, (title, ylabel, bar) in zip(axes, panels):
        for i, (backend, color) in enumerate(zip(backends, colors * 2)):
            rows = [by_key.get((*c, backend)) for c in configs]
            values = [(bar(r) if r else None) or (np.nan, 0.0, 0.0, "") for r in rows]
            bars = ax.bar(xs + (i - (len(backends) - 1) / 2) * width, [v[0] for v in values], width,
                          yerr=np.array([v[1:3] for v in values]).T, capsize=2, color=color, label=backend,
                          error_kw={"elinewidth": 1})
            ax.bar_label(bars, labels=[v[3] for v in values], padding=2, fontsize=6)
        ax.set_xticks(xs, labels, fontsize=8)
        ax.set_ylabel(ylabel)
        ax.set_title(title, fontsize=9)
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
        ax.margins(y=0.2)
    axes[0].legend(title="backend (median, p10-p90)", fontsize=7, title_fontsize=7)
    env = report["environment"]
    threads = env["torch_threads"]
    fig.suptitle(f"PoseNet speed per backend ({env['cpu']}, latency on {threads} torch thread{'s' * (threads != 1)}"
                 + (f", {env['cuda_device']}" if env.get("cuda_device") else "") + "; interleaved runs)", fontsize=9)
    fig.tight_layout()
    return fig
