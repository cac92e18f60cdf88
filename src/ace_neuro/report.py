"""A recording's key numbers, read from the files its steps wrote, and the summary table of the report.

One reader per step's file (:func:`convert_numbers`, :func:`motion_numbers`,
:func:`component_numbers`, :func:`event_numbers`, :func:`sync_numbers`), so the
study page (:mod:`ace_neuro.pages.study`) can show what a recording that stopped
half-way did get; :func:`recording_summary` joins them all (frames, dropped
frames, duration, motion statistics, components found / accepted, median SNR,
events per neuron, sync drift); :func:`write_summary` writes them as JSON (for
scripts) and as a small HTML table (the report's *Summary* item). The
recording's page with its figures is :mod:`ace_neuro.pages.recording`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ace_neuro.io.atomic import atomic_path

__all__ = [
    "convert_numbers",
    "motion_numbers",
    "component_numbers",
    "event_numbers",
    "sync_numbers",
    "recording_summary",
    "write_summary",
]

PathLike = str | os.PathLike


def convert_numbers(metadata_path: PathLike) -> dict[str, Any]:
    """Frames, frame size and rate, duration (s), dropped frames, frames left out and the share of 8 x 8 px tiles
    holding pixels at the sensor's ceiling (None in a ``metadata.json`` written before convert measured it), from
    ``convert/metadata.json``."""
    metadata = json.loads(Path(metadata_path).read_text())
    excluded = (metadata.get("excluded_frames") or {}).get("total")
    return {
        "frames": int(metadata["n_frames"]),
        "frame size (px)": "x".join(str(v) for v in metadata["frame_shape"]),
        "frame rate (Hz)": float(metadata["frame_rate_hz"]),
        "duration (s)": float(metadata.get("duration_s", float("nan"))),
        "dropped frames": int(metadata["dropped_frames"]["total"]),
        "frames left out (filenames)": excluded,
        "saturated tiles (fraction)": metadata.get("saturated_tile_fraction"),
    }


def motion_numbers(metrics_path: PathLike, shifts_path: PathLike | None = None) -> dict[str, Any]:
    """Largest and RMS rigid shift (px), mean correlation with the template before / after, frames without
    structure and frames whose shift reached ``max_shifts`` (corrected only that far), from ``motion/metrics.json``
    and ``motion/shifts.csv`` (columns ``shift_y_px``, ``shift_x_px``).

    The RMS shift is the root mean square over frames of each frame's shift length, ``sqrt(mean(dy^2 + dx^2))``.
    """
    motion = json.loads(Path(metrics_path).read_text())
    rms = None
    if shifts_path is not None:
        shifts = pd.read_csv(shifts_path, usecols=["shift_y_px", "shift_x_px"])  # 2 floats a frame, not the table
        if len(shifts):
            squared = shifts["shift_y_px"].to_numpy(float) ** 2 + shifts["shift_x_px"].to_numpy(float) ** 2
            rms = float(np.sqrt(squared.mean()))
    return {
        "motion: largest shift (px)": motion.get("max_abs_shift_px"),
        "motion: RMS shift (px)": rms,
        "motion: correlation with template before": motion.get("correlation_before_mean"),
        "motion: correlation with template after": motion.get("correlation_after_mean"),
        "motion: frames without structure": motion.get("n_no_structure_frames"),
        "motion: frames at max_shifts": motion.get("n_frames_at_max_shifts"),
    }


def _accepted(components: pd.DataFrame) -> pd.DataFrame:
    return components[components["accepted"].astype(bool)] if len(components) else components


def component_numbers(components_path: PathLike) -> dict[str, Any]:
    """Components found and accepted, median SNR and r-value of the accepted ones, from ``evaluate/components.csv``."""
    components = pd.read_csv(components_path)
    accepted = _accepted(components)
    return {
        "components found": int(len(components)),
        "components accepted": int(len(accepted)),
        "median SNR of accepted": float(accepted["SNR"].median()) if len(accepted) else None,
        "median r-value of accepted": float(accepted["r_value"].median()) if len(accepted) else None,
    }


def events_per_neuron(events_path: PathLike, block_rows: int = 65536) -> np.ndarray:
    """Number of events of each neuron id (``(max id + 1,)`` int64; empty without events), ``events.csv``'s
    ``neuron`` column read a block of rows at a time."""
    counts = np.zeros(0, np.int64)
    with pd.read_csv(events_path, usecols=["neuron"], chunksize=block_rows) as reader:
        for block in reader:
            block_counts = np.bincount(block["neuron"].to_numpy(np.int64))
            if block_counts.size > counts.size:
                counts = np.pad(counts, (0, block_counts.size - counts.size))
            counts[: block_counts.size] += block_counts
    return counts


def event_numbers(events_path: PathLike, components_path: PathLike, duration_s: float) -> dict[str, Any]:
    """Events in total, per accepted neuron (median) and per accepted neuron and minute, from ``events/events.csv``."""
    counts = events_per_neuron(events_path)
    accepted = _accepted(pd.read_csv(components_path))
    median = None
    if len(accepted):
        ids = accepted["id"].to_numpy(np.int64)
        padded = np.zeros(max(int(ids.max()) + 1, counts.size), np.int64)  # a neuron without events: 0
        padded[: counts.size] = counts
        median = float(np.median(padded[ids]))
    return {
        "events": int(counts.sum()),
        "events per accepted neuron (median)": median,
        "event rate per accepted neuron (median, per min)": (
            median / duration_s * 60.0 if median is not None and duration_s > 0 else None
        ),
    }


def sync_numbers(sync_summary_path: PathLike | None) -> dict[str, Any]:
    """Clock drift (ppm), fit residual (ms) and frames without a TTL pulse, from ``sync/sync_summary.json``
    (None each for a recording without ephys)."""
    sync = json.loads(Path(sync_summary_path).read_text()) if sync_summary_path else None
    return {
        "sync: clock drift (ppm)": sync.get("drift_ppm") if sync else None,
        "sync: fit residual (ms)": sync.get("fit_residual_ms") if sync else None,
        "sync: frames without a TTL pulse": sync.get("n_frames_without_pulse") if sync else None,
    }


def recording_summary(
    *,
    recording_id: str,
    metadata_path: PathLike,
    motion_metrics_path: PathLike,
    components_path: PathLike,
    events_path: PathLike,
    sync_summary_path: PathLike | None = None,
    motion_shifts_path: PathLike | None = None,
) -> dict[str, Any]:
    """The key numbers of one recording, from the steps' output files.

    Parameters
    ----------
    recording_id : str
    metadata_path : path-like
        ``convert/metadata.json``.
    motion_metrics_path : path-like
        ``motion/metrics.json``.
    components_path : path-like
        ``evaluate/components.csv``.
    events_path : path-like
        ``events/events.csv``.
    sync_summary_path : path-like, optional
        ``sync/sync_summary.json`` (recordings with an ephys TTL file).
    motion_shifts_path : path-like, optional
        ``motion/shifts.csv``: the RMS shift (None without it).

    Returns
    -------
    dict
        Ordered ``{label: value}``; values are numbers, strings or None (not
        applicable, e.g. no sync).
    """
    summary: dict[str, Any] = {"recording": recording_id}
    summary |= convert_numbers(metadata_path)
    summary |= motion_numbers(motion_metrics_path, motion_shifts_path)
    summary |= component_numbers(components_path)
    summary |= event_numbers(events_path, components_path, summary["duration (s)"])
    summary |= sync_numbers(sync_summary_path)
    return summary


def write_summary(summary: dict[str, Any], table_path: PathLike, json_path: PathLike) -> None:
    """Write ``summary`` as an HTML table (the report's *Summary* item) and as JSON, atomically."""
    from ace_neuro.pages.html import numbers_table, page

    text = page(f"{summary.get('recording', '')}: key numbers", numbers_table(summary))
    with atomic_path(table_path) as tmp:
        tmp.write_text(text)
    with atomic_path(json_path) as tmp:
        tmp.write_text(json.dumps(summary, indent=2) + "\n")
