"""Figures of the motion step: mean image before / after, and the shift trace."""

from __future__ import annotations

import os

import numpy as np

from ace_neuro.io.images import pyplot, save_figure

__all__ = ["plot_mean_before_after", "plot_shifts"]


def _limits(*images: np.ndarray) -> tuple[float, float]:
    values = np.concatenate([im[np.isfinite(im)].ravel() for im in images])
    if values.size == 0:
        return 0.0, 1.0
    lo, hi = np.percentile(values, [0.5, 99.5])
    return float(lo), float(hi if hi > lo else lo + 1)


def plot_mean_before_after(means: dict, path: str | os.PathLike, highpassed: bool = True) -> None:
    """Mean image before and after correction (raw, and the high-passed copy shifts were estimated on).

    Parameters
    ----------
    means : dict of (H, W) arrays
        ``raw_before``, ``raw_after``, ``hp_before``, ``hp_after``.
    path : path-like
        Output PNG.
    highpassed : bool
        Whether the second row shows a high-passed copy (gSig_filt set).
    """
    plt = pyplot()
    rows = [("raw_before", "raw_after", "mean image")]
    if highpassed:
        rows.append(("hp_before", "hp_after", "mean of high-passed frames"))
    fig, axes = plt.subplots(len(rows), 2, figsize=(8, 4 * len(rows)), squeeze=False)
    for r, (before, after, what) in enumerate(rows):
        vmin, vmax = _limits(means[before], means[after])
        for c, (key, when) in enumerate(((before, "before"), (after, "after"))):
            ax = axes[r, c]
            ax.imshow(means[key], cmap="gray", vmin=vmin, vmax=vmax)
            ax.set_title(f"{what}, {when} correction")
            ax.set_axis_off()
    fig.tight_layout()
    save_figure(fig, path)


def plot_shifts(shifts: np.ndarray, corr_before: np.ndarray, corr_after: np.ndarray, path: str | os.PathLike, no_structure: np.ndarray | None = None) -> None:
    """Rigid shifts per frame and correlation with the template before / after.

    Parameters
    ----------
    shifts : (T, 2) array
        Correcting shifts (rows, cols), pixels.
    corr_before, corr_after : (T,) arrays
    path : path-like
        Output PNG.
    no_structure : (T,) bool array, optional
        Frames flagged as without structure (marked).
    """
    plt = pyplot()
    frames = np.arange(shifts.shape[0])
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
    ax1.plot(frames, shifts[:, 0], lw=0.8, label="rows (y)")
    ax1.plot(frames, shifts[:, 1], lw=0.8, label="cols (x)")
    if no_structure is not None and np.any(no_structure):
        ax1.plot(frames[no_structure], np.zeros(int(no_structure.sum())), "rx", ms=4, label="no structure (shift 0)")
    ax1.set_ylabel("rigid correcting shift (px)")
    ax1.legend(loc="upper right", fontsize=8)
    ax2.plot(frames, corr_before, lw=0.8, label="before")
    ax2.plot(frames, corr_after, lw=0.8, label="after")
    ax2.set_ylabel("correlation with template")
    ax2.set_xlabel("frame")
    ax2.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)
