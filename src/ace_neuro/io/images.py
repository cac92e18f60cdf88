"""Summary images to files: float32 TIFF for analysis, PNG previews for people."""

from __future__ import annotations

import os
from typing import Mapping

import numpy as np
import tifffile

from ace_neuro.io.atomic import atomic_path

__all__ = ["write_image_tiff", "write_image_png", "write_image_pngs", "display_limits", "save_figure"]


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
    write_image_pngs({path: (image, title)}, cmap=cmap)


def write_image_pngs(previews: Mapping[str | os.PathLike, tuple[np.ndarray, str | None]], cmap: str = "gray") -> None:
    """Write PNG previews of several 2-D images, as :func:`write_image_png` each, drawn through one figure.

    Images of one shape share the figure, its image and its colour bar (their values, limits and title
    changed for each, the layout computed from a new figure's each time): the same pixels as one figure each, and a
    figure's construction is a quarter of a preview's cost.

    Parameters
    ----------
    previews : mapping of path to (image, title)
        Each PNG (written atomically) and its image, shape (H, W), and title (None: none).
    cmap : str
        Colour map.
    """
    plt = pyplot()

    fig = shown = ax = None
    start: dict[str, float] = {}
    try:
        for path, (image, title) in previews.items():
            image = np.asarray(image)
            lo, hi = display_limits(image)
            if shown is None or shown.get_array().shape != image.shape:
                if fig is not None:
                    plt.close(fig)
                height, width = image.shape
                fig, ax = plt.subplots(figsize=(5.0, 5.0 * height / width + 0.4), dpi=100)
                shown = ax.imshow(image, cmap=cmap, vmin=lo, vmax=hi, interpolation="nearest")
                fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.04)
                ax.set_axis_off()
                pars = fig.subplotpars
                start = dict(left=pars.left, right=pars.right, bottom=pars.bottom, top=pars.top)
            else:
                shown.set_data(image)
                shown.set_clim(lo, hi)
            ax.set_title(title or "")
            fig.subplots_adjust(**start)  # the layout from a new figure's, as if drawn alone
            fig.tight_layout()
            with atomic_path(path) as tmp:
                fig.savefig(tmp, format="png", dpi=100)
    finally:
        if fig is not None:
            plt.close(fig)
