"""Figures of the preprocess package's steps: the mean-fluorescence series."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np

from ace_neuro.io.images import pyplot, save_figure

__all__ = ["plot_series"]


def plot_series(path: Path, time_s: Iterable[float], values: Iterable[float], label: str) -> None:
    """A time series (``values`` against ``time_s`` in seconds) as a PNG (atomically)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 2.5), dpi=100)
    ax.plot(np.asarray(time_s), np.asarray(values), lw=0.7, color="k")
    ax.set_xlabel("time (s)")
    ax.set_ylabel(label)
    fig.tight_layout()
    save_figure(fig, path)
