"""The train stage's report: loss and val AP curves from the DVCLive metric tables."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure

from posenet.errors import PosenetError
from posenet.viz.dvclive_metrics import read_dvclive_metrics

if TYPE_CHECKING:
    pass

__all__ = ["training_curves"]


def training_curves(metrics_dir: str | os.PathLike) -> Figure:
    """Training losses, validation loss, validation AP and learning rate against the step, one panel each
    (panels without data are left out; the val AP at step 0 is the initial model's, and a star marks the best val
    AP, the model the train stage hands back); PosenetError when the folder holds no DVCLive metrics."""
    curves = read_dvclive_metrics(metrics_dir)
    if not curves:
        raise PosenetError(f"{metrics_dir}: no DVCLive metrics (*.tsv) found (run the train stage)")
    lr = [k for k in curves if k.rsplit("/", 1)[-1] == "lr"]
    ap = [k for k in curves if k.rsplit("/", 1)[-1].startswith(("AP", "AR")) and k not in lr]
    train = [k for k in curves if k.startswith("train/") and k not in lr + ap]
    val = [k for k in curves if k not in lr + ap + train]
    panels = [(t, ks, y) for t, ks, y in (("training losses", train, "loss"), ("validation loss", val, "loss"),
                                          ("validation AP / AR (COCO OKS)", ap, "AP, AR"), ("learning rate", lr, "lr"))
              if ks]
    fig = Figure(figsize=(5 * len(panels), 4.2), constrained_layout=True)
    axes = fig.subplots(1, len(panels), squeeze=False)
    for ax, (title, keys, ylabel) in zip(axes.flat, panels):
        for key in keys:
            steps, values = curves[key]
            ax.plot(steps, values, marker="o" if len(steps) <= 30 else None, markersize=4, label=key)
            if key == "val/AP" and len(values):  # the model training hands back: the first of the highest AP
                best = int(np.argmax(values))
                ax.plot(steps[best], values[best], marker="*", markersize=14, color="gold", markeredgecolor="black",
                        linestyle="none", label=f"kept: AP {values[best]:.3f} at step {int(steps[best])}")
        ax.set_title(title, fontsize=11)
        ax.set_xlabel("step")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        if ylabel == "lr":
            ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
    fig.suptitle(f"training curves ({metrics_dir})", fontsize=12)
    return fig
