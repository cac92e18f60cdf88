"""The ``events`` rule's files: accepted traces in, the events table and its raster plot out.

:func:`run_events_step` reads the estimates, the frame table and the frame
rate, calls the detectors of :mod:`.events` and writes every output through
:func:`ace_neuro.io.atomic.atomic_path`. Parameters keep the stage's names
(:mod:`ace_neuro.stages.events`).
"""

from __future__ import annotations

import logging
import os

import numpy as np
import pandas as pd

from ace_neuro.io.atomic import atomic_path
from ace_neuro.io.frames import read_frame_rate, read_frames_table
from ace_neuro.io.images import save_figure
from ace_neuro.postprocess.events import Events, detect_events_deconvolution, detect_events_derivative, trace_noise
from ace_neuro.postprocess.traces import read_accepted_traces

__all__ = ["run_events_step"]

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike


def run_events_step(
    estimates_path: PathLike,
    frames_path: PathLike,
    metadata_path: PathLike,
    events_csv: PathLike,
    raster_png: PathLike,
    *,
    events_method: str = "both",
    derivative_for_estimates: str = "first",
    events_trace: str = "denoised",
    event_height: float = 4.0,
    deconvolution_event_height: float = 3.0,
    events_threshold_mode: str = "noise",
    event_distance_s: float = 0.2,
) -> pd.DataFrame:
    """Detect calcium events of every accepted neuron and write them.

    Parameters
    ----------
    estimates_path, frames_path, metadata_path : path-like
        Evaluated estimates (HDF5), ``frames.csv`` and ``metadata.json`` (frame rate).
    events_csv, raster_png : path-like
        Outputs (below).
    events_method : {'derivative', 'deconvolution', 'both'}
        Detector(s) to run.
    derivative_for_estimates : {'zeroth', 'first', 'second'}
        Derivative searched for peaks by the derivative method.
    events_trace : {'denoised', 'raw'}
        Trace the derivative method searches: ``C`` or ``C + YrA``.
    event_height : float
        Derivative method threshold, in robust noise units (or trace units
        with ``events_threshold_mode='absolute'``).
    deconvolution_event_height : float
        Deconvolution method threshold on an event's summed activity, in noise
        units of the raw trace (or trace units).
    events_threshold_mode : {'noise', 'absolute'}
        Unit of both thresholds.
    event_distance_s : float
        Minimum time between two events of one neuron, seconds.

    Outputs
    -------
    ``events_csv``
        One row per event: ``neuron`` (component index in the estimates),
        ``frame`` (0-based written frame), ``time_s`` (from frames.csv),
        ``amplitude`` (see :class:`~ace_neuro.postprocess.events.Events`),
        ``method`` (``derivative`` or ``deconvolution``).
    ``raster_png``
        Raster plot, one row per accepted neuron labelled with its component id, one panel per method.

    Returns
    -------
    DataFrame
        The events table.
    """
    frames = read_frames_table(frames_path)
    frame_rate = read_frame_rate(metadata_path)
    traces = read_accepted_traces(estimates_path, n_frames=len(frames), frames_path=frames_path)
    C, S, sn = traces.C, traces.S, traces.sn
    methods = ("derivative", "deconvolution") if events_method == "both" else (events_method,)
    distance = max(1, int(round(float(event_distance_s) * frame_rate)))
    raw = C + traces.YrA
    logger.info(
        "events: %d accepted of %d components, %d frames, methods %s, min distance %d frames",
        traces.index.size, traces.n_components, C.shape[1], methods, distance,
    )

    tables = []
    for name in methods:
        if name == "derivative":
            found = detect_events_derivative(
                C if events_trace == "denoised" else raw,
                derivative=derivative_for_estimates,
                height=float(event_height),
                distance=distance,
                threshold_mode=events_threshold_mode,
                noise_traces=raw,
            )
        else:
            if S is None or (S.size and not np.any(S)):
                logger.warning("events: the estimates have no deconvolved activity S; deconvolution finds nothing")
            noise = trace_noise(raw) if C.shape[1] >= 3 else np.zeros(C.shape[0])
            if sn is not None:  # without residuals (YrA = 0) the raw trace is the denoised one
                noise = np.where((noise > 0) | ~np.isfinite(sn), noise, sn)
            found = detect_events_deconvolution(
                np.zeros_like(C) if S is None else S,
                height=float(deconvolution_event_height),
                distance=distance,
                threshold_mode=events_threshold_mode,
                noise=noise,
            )
        tables.append(_events_table(found, traces.index, frames, name))
        logger.info("events: %s method found %d events", name, len(found.frame))
    table = pd.concat(tables, ignore_index=True)
    with atomic_path(events_csv) as tmp:
        table.to_csv(tmp, index=False)
    _plot_raster(raster_png, table, traces.index, frames["time_s"].to_numpy(float), methods)
    return table


def _events_table(found: Events, accepted: np.ndarray, frames: pd.DataFrame, method: str) -> pd.DataFrame:
    time_s = frames["time_s"].to_numpy(np.float64)
    return pd.DataFrame(
        {
            "neuron": accepted[found.neuron].astype(np.int64) if found.neuron.size else np.zeros(0, np.int64),
            "frame": found.frame,
            "time_s": time_s[found.frame] if found.frame.size else np.zeros(0),
            "amplitude": found.amplitude,
            "method": np.full(found.frame.size, method, dtype=object),
        }
    )


def _label_rows_with_ids(ax, ids: np.ndarray, max_labels: int = 40) -> None:
    """Tick the raster's rows (0 .. n-1) with the component ids of ``events.csv``, at most ``max_labels`` of them."""
    from matplotlib.ticker import FixedLocator

    rows = np.arange(ids.size)
    shown = rows[:: max(1, int(np.ceil(ids.size / max_labels)))]
    ax.yaxis.set_major_locator(FixedLocator(shown))
    ax.set_yticklabels([str(int(ids[i])) for i in shown], fontsize=7 if ids.size > 20 else 9)


def _plot_raster(path: PathLike, table: pd.DataFrame, accepted: np.ndarray, time_s: np.ndarray, methods) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
