"""Figures of the postprocess steps: the events raster, the spectrogram, the ephys alignment."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from ace_neuro.io.images import pyplot, save_figure

__all__ = ["plot_raster", "plot_spectrogram", "plot_sync"]

PathLike = str | os.PathLike


def plot_raster(path: PathLike, table, accepted: np.ndarray, time_s: np.ndarray, methods) -> None:
    """Raster of the events: one row per accepted neuron, one panel per method (PNG, atomically).

    Parameters
    ----------
    path : path-like
        The PNG.
    table : DataFrame or mapping
        The events: ``events.csv``'s table (``neuron``, ``time_s``, ``method``), or method -> (component ids,
        times in s) arrays.
    accepted : ndarray of int, shape (K,)
        Component ids of the rows, top to bottom.
    time_s : ndarray of float, shape (T,)
        Time of each frame (the x range).
    methods : sequence of str
        One panel per method.
    """
    plt = pyplot()
    if isinstance(table, pd.DataFrame):
        table = {m: (table.loc[table["method"] == m, "neuron"].to_numpy(np.int64),
                     table.loc[table["method"] == m, "time_s"].to_numpy(np.float64)) for m in methods}
    accepted = np.asarray(accepted, dtype=np.int64)
    order = np.argsort(accepted, kind="stable")
    height = min(12.0, 1.5 + 0.12 * max(accepted.size, 1))
    fig, axes = plt.subplots(len(methods), 1, figsize=(10, height * len(methods)), squeeze=False, sharex=True)
    for ax, method in zip(axes[:, 0], methods):
        ids, times = table[method]
        if accepted.size == 0:
            ax.text(0.5, 0.5, "no accepted neurons", ha="center", va="center", transform=ax.transAxes)
        else:
            row = order[np.searchsorted(accepted, np.asarray(ids, dtype=np.int64), sorter=order)]
            ax.scatter(np.asarray(times, dtype=np.float64), row, marker="|", s=30, c="k", linewidths=0.8)
            ax.set_ylim(accepted.size - 0.5, -0.5)  # the first id on top, as in events.csv
            _label_rows_with_ids(ax, accepted)
        ax.set_xlim(time_s[0] if time_s.size else 0, time_s[-1] if time_s.size else 1)
        ax.set_ylabel("component id")
        ax.set_title(f"calcium events ({method}, {len(times)} events)")
    axes[-1, 0].set_xlabel("time (s)")
    fig.tight_layout()
    save_figure(fig, path)


def _label_rows_with_ids(ax, ids: np.ndarray, max_labels: int = 40) -> None:
    """Tick the raster's rows (0 .. n-1) with the component ids of ``events.csv``, at most ``max_labels`` of them."""
    from matplotlib.ticker import FixedLocator

    rows = np.arange(ids.size)
    shown = rows[:: max(1, int(np.ceil(ids.size / max_labels)))]
    ax.yaxis.set_major_locator(FixedLocator(shown))
    ax.set_yticklabels([str(int(ids[i])) for i in shown], fontsize=7 if ids.size > 20 else 9)


def plot_spectrogram(path: PathLike, times: np.ndarray, freqs: np.ndarray, power_db: np.ndarray) -> None:
    """The mean fluorescence's multitaper spectrogram, power in dB over time in minutes (PNG, atomically).

    Windows and frequencies are evenly spaced, so the ``(F, W)`` power is drawn as an image, each cell centred
    on its window and frequency as ``pcolormesh(shading='nearest')`` would. The image is first sampled (nearest
    cell) on a fixed grid about the axes' size in pixels, :data:`SPECTROGRAM_IMAGE_SHAPE`, as the display would
    sample it: the figure's memory is the same for a 1-minute and a 45-minute recording (~900 windows x 513
    frequencies; a polygon per cell took ~70 MB). The colour range (5th-98th percentile) is that of the grid.
    """
    plt = pyplot()
    from matplotlib import cm, colors

    fig, ax = plt.subplots(figsize=(10, 4))
    shown = _nearest_grid(np.asarray(power_db), SPECTROGRAM_IMAGE_SHAPE)
    finite = shown[np.isfinite(shown)]
    vmin, vmax = (np.percentile(finite, [5, 98]) if finite.size else (0.0, 1.0))
    norm, cmap = colors.Normalize(vmin=vmin, vmax=vmax), plt.get_cmap("jet")
    minutes = times / 60.0
    ax.imshow(_colour_image(shown, cmap, float(vmin), float(vmax)), origin="lower", aspect="auto",
              interpolation="nearest", extent=(*_cell_edges(minutes), *_cell_edges(freqs)))
    fig.colorbar(cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, label="power (dB)")
    ax.set_xlabel("time (min)")
    ax.set_ylabel("frequency (Hz)")
    ax.set_title("multitaper spectrogram of mean fluorescence")
    fig.tight_layout()
    save_figure(fig, path)


#: (rows, columns) of the spectrogram's image: about its axes' size in pixels (10 x 4 inch figure at 100 dpi).
SPECTROGRAM_IMAGE_SHAPE = (320, 800)


def _nearest_grid(values: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``values`` (M, N) sampled on a ``shape`` grid spanning the same extent, each point taking its nearest cell."""
    rows, columns = (np.minimum(((np.arange(n) + 0.5) * m / n).astype(np.intp), m - 1)
                     for n, m in zip(shape, values.shape))
    return values[np.ix_(rows, columns)] if values.size else np.zeros(shape)


def _colour_image(values: np.ndarray, cmap, vmin: float, vmax: float, rows_per_block: int = 64) -> np.ndarray:
    """``values`` (M, N) coloured by ``cmap`` between ``vmin`` and ``vmax``: RGBA uint8 (M, N, 4), a few rows at a time.

    As ``cmap(Normalize(vmin, vmax)(values), bytes=True)`` (values outside the range take the end colours,
    non-finite values the colour map's "bad" colour) without its float64 copies of the whole array.
    """
    lut = cmap(np.arange(cmap.N), bytes=True)  # (N, 4) uint8
    bad = np.asarray(cmap(np.nan, bytes=True), dtype=np.uint8)
    scale = cmap.N / (vmax - vmin) if vmax > vmin else 0.0
    out = np.empty(values.shape + (4,), dtype=np.uint8)
    for start in range(0, values.shape[0], rows_per_block):
        block = np.asarray(values[start:start + rows_per_block], dtype=np.float64)
        index = np.clip(np.nan_to_num((block - vmin) * scale, nan=0.0, posinf=cmap.N, neginf=-1.0), 0, cmap.N - 1)
        out[start:start + rows_per_block] = lut[index.astype(np.intp)]
        out[start:start + rows_per_block][~np.isfinite(block)] = bad
    return out


def _cell_edges(centres: np.ndarray) -> tuple[float, float]:
    """First and last edge of evenly spaced cells centred on ``centres`` (a cell of width 1 for one centre)."""
    centres = np.asarray(centres, dtype=np.float64)
    half = (centres[-1] - centres[0]) / (2 * (centres.size - 1)) if centres.size > 1 else 0.5
    return float(centres[0] - half), float(centres[-1] + half)


def plot_sync(frames_ephys_path: str | os.PathLike, summary_path: str | os.PathLike, png_path: str | os.PathLike) -> None:
    """Figure of the ephys alignment: residual of each frame's ephys time from the fitted clock line.

    Top: ephys time minus the straight line ``offset + (1 + drift) * frame time``
    (ms) for every written frame, matched frames in black and interpolated
    (low-confidence) ones in red. Bottom: interval between consecutive frames
    on the ephys clock (ms), where dropped frames and missing pulses show up.

    Parameters
    ----------
    frames_ephys_path : path-like
        ``sync/frames_ephys_time.csv``.
    summary_path : path-like
        ``sync/sync_summary.json``.
    png_path : path-like
        Figure to write (PNG, atomically).
    """
    plt = pyplot()
    table = pd.read_csv(frames_ephys_path)
    summary = json.loads(Path(summary_path).read_text())
    t = table["time_s"].to_numpy(np.float64)
    ephys = table["ephys_time_s"].to_numpy(np.float64)
    low = table["confidence"].astype(str).to_numpy() == "low"
    slope, intercept = np.polyfit(t, ephys, 1) if t.size > 1 else (1.0, float(ephys[0]) if ephys.size else 0.0)
    residual_ms = (ephys - (intercept + slope * t)) * 1000.0
    fig, axes = plt.subplots(2, 1, figsize=(9, 5), sharex=True)
    axes[0].plot(t[~low], residual_ms[~low], ".", ms=2, color="black", label="matched to a TTL pulse")
    if low.any():
        axes[0].plot(t[low], residual_ms[low], ".", ms=5, color="tab:red", label="interpolated (low confidence)")
    axes[0].set_ylabel("ephys time - fit (ms)")
    axes[0].legend(loc="upper right", fontsize=8)
    axes[0].set_title(
        f"clock drift {summary.get('drift_ppm', float('nan')):.2f} ppm, offset {summary.get('offset_s', float('nan')):.4f} s, "
        f"residual {summary.get('fit_residual_ms', float('nan')):.3f} ms; "
        f"{summary.get('n_frames_without_pulse', 0)} frames without pulse, "
        f"{len(summary.get('extra_pulse_indices', []))} extra pulses",
        fontsize=9,
    )
    if t.size > 1:
        axes[1].plot(t[1:], np.diff(ephys) * 1000.0, lw=0.8, color="black")
    axes[1].set_ylabel("frame interval (ms)")
    axes[1].set_xlabel("frame time (s from the first frame)")
    fig.tight_layout()
    save_figure(fig, png_path)
