"""Figure helpers shared by the reports (matplotlib ``Figure`` objects, no pyplot, no global backend): atomic
saving, image panels, and layouts of several images."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from posenet.io.atomic import atomic_path
from posenet.io.media import read_image

if TYPE_CHECKING:
    pass

__all__ = ["contact_sheet", "save_figure", "show_image", "side_by_side"]


def save_figure(fig: Figure, path: str | os.PathLike, dpi: int = 100) -> None:
    """Save ``fig`` atomically (format from the extension, cropped to its content)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".") or "png", dpi=dpi, bbox_inches="tight")


def show_image(ax: Axes, image: np.ndarray, title: str | None = None) -> None:
    ax.imshow(image)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=10)


def side_by_side(images: Sequence[np.ndarray], titles: Sequence[str] | None = None,
                 suptitle: str | None = None) -> Figure:
    """One row of RGB images with titles (e.g. pretrained vs trained skeletons)."""
    n = len(images)
    aspect = images[0].shape[0] / images[0].shape[1]
    fig = Figure(figsize=(6 * n, 6 * aspect + 0.8), constrained_layout=True)
    axes = fig.subplots(1, n, squeeze=False)
    for i, (ax, image) in enumerate(zip(axes.flat, images)):
        show_image(ax, image, titles[i] if titles else None)
    if suptitle:
        fig.suptitle(suptitle, fontsize=14)
    return fig


def contact_sheet(images: Sequence[np.ndarray | str | os.PathLike], titles: Sequence[str] | None = None,
                  cols: int = 4, suptitle: str | None = None) -> Figure:
    """Grid of images (arrays or file paths; paths are titled by file name when ``titles`` is None)."""
    arrays = [read_image(im) if isinstance(im, (str, os.PathLike)) else im for im in images]
    if titles is None:
        titles = [Path(im).name if isinstance(im, (str, os.PathLike)) else "" for im in images]
    cols = max(1, min(cols, len(arrays)))
    rows = max(1, -(-len(arrays) // cols))
    fig = Figure(figsize=(4 * cols, 4 * rows + 0.5), constrained_layout=True)
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, title in zip(axes.flat, arrays, titles):
        show_image(ax, image, title)
    if suptitle:
        fig.suptitle(suptitle, fontsize=14)
    return fig
