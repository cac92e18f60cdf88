"""Summary images to files: float32 TIFF for analysis, PNG previews for people."""

from __future__ import annotations

import os

import numpy as np
import tifffile

from ace_neuro.io.atomic import atomic_path

__all__ = ["write_image_tiff", "write_image_png", "display_limits", "save_figure"]


def display_limits(image: np.ndarray, low_pct: float = 0.5, high_pct: float = 99.5) -> tuple[float, float]:
    """Robust display range of an image: its ``low_pct`` and ``high_pct`` percentiles of finite values."""
    finite = image[np.isfinite(image)]
    if finite.size == 0:
        return 0.0, 1.0
    lo, hi = np.percentile(finite, [low_pct, high_pct])
    if hi <= lo:
        hi = lo + 1.0
    return float(lo), float(hi)


def pyplot():
    """``matplotlib.pyplot`` with the non-interactive Agg backend: the one place ace-neuro chooses the backend.

    Every figure is drawn through this (``plt = pyplot()`` inside the drawing
    function), so no module imports matplotlib at import time and no step
    needs a display.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: str | os.PathLike, dpi: int = 100, tight: bool = False) -> None:
    """Save a matplotlib figure as PNG (atomically) and close it; ``tight`` trims the white margin."""
    import matplotlib.pyplot as plt

    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight" if tight else None)
    finally:
        plt.close(fig)


def write_image_tiff(path: str | os.PathLike, image: np.ndarray) -> None:
    """Write one 2-D image as a float32 TIFF (atomically)."""
    with atomic_path(path) as tmp:
        tifffile.imwrite(tmp, np.asarray(image, dtype=np.float32), photometric="minisblack")


def write_image_png(path: str | os.PathLike, image: np.ndarray, title: str | None = None, cmap: str = "gray") -> None:
    """Write a PNG preview of a 2-D image with a robust grey scale and a colour bar (atomically)."""
    plt = pyplot()

    lo, hi = display_limits(image)
    height, width = image.shape
    fig, ax = plt.subplots(figsize=(5.0, 5.0 * height / width + 0.4), dpi=100)
    shown = ax.imshow(image, cmap=cmap, vmin=lo, vmax=hi, interpolation="nearest")
    fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.04)
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    fig.tight_layout()
    save_figure(fig, path)
