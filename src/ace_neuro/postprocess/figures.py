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


def plot_raster(path: PathLike, table: pd.DataFrame, accepted: np.ndarray, time_s: np.ndarray, methods) -> None:
    """Raster of the events: one row per accepted neuron, one panel per method (PNG, atomically)."""
    plt = pyplot()
    rows = {int(k): i for i, k in enumerate(accepted)}
    height = min(12.0, 1.5 + 0.12 * max(accepted.size, 1))
    fig, axes = plt.subplots(len(methods), 1, figsize=(10, height * len(methods)), squeeze=False, sharex=True)
    for ax, method in zip(axes[:, 0], methods):
        sub = table[table["method"] == method]
        if accepted.size == 0:
            ax.text(0.5, 0.5, "no accepted neurons", ha="center", va="center", transform=ax.transAxes)
        else:
            ax.scatter(sub["time_s"], [rows[int(n)] for n in sub["neuron"]], marker="|", s=30, c="k", linewidths=0.8)
            ax.set_ylim(accepted.size - 0.5, -0.5)  # the first id on top, as in events.csv
            _label_rows_with_ids(ax, accepted)
        ax.set_xlim(time_s[0] if time_s.size else 0, time_s[-1] if time_s.size else 1)
        ax.set_ylabel("component id")
        ax.set_title(f"calcium events ({method}, {len(sub)} events)")
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
    """The mean fluorescence's multitaper spectrogram, power in dB over time in minutes (PNG, atomically)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(10, 4))
    finite = power_db[np.isfinite(power_db)]
    vmin, vmax = (np.percentile(finite, [5, 98]) if finite.size else (None, None))
    minutes = times / 60.0
    mesh = ax.pcolormesh(minutes, freqs, power_db, shading="nearest", cmap="jet", vmin=vmin, vmax=vmax)
    fig.colorbar(mesh, ax=ax, label="power (dB)")
    ax.set_xlabel("time (min)")
    ax.set_ylabel("frequency (Hz)")
    ax.set_title("multitaper spectrogram of mean fluorescence")
    fig.tight_layout()
    save_figure(fig, path)


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
