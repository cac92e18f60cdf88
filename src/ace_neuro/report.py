"""What the report shows beyond the steps' own figures: a summary table per recording and the sync figure.

:func:`recording_summary` gathers one recording's key numbers from the files
the steps wrote (frames, dropped frames, duration, motion statistics,
components found / accepted, median SNR, events per neuron, sync drift);
:func:`write_summary` writes them as a small HTML table (the report item) and
as JSON (for scripts). :func:`~ace_neuro.postprocess.figures.plot_sync` draws the ephys alignment.
"""

from __future__ import annotations

import html
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ace_neuro.io.atomic import atomic_path

__all__ = ["recording_summary", "write_summary"]


def recording_summary(
    *,
    recording_id: str,
    metadata_path: str | os.PathLike,
    motion_metrics_path: str | os.PathLike,
    components_path: str | os.PathLike,
    events_path: str | os.PathLike,
    sync_summary_path: str | os.PathLike | None = None,
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

    Returns
    -------
    dict
        Ordered ``{label: value}``; values are numbers, strings or None (not
        applicable, e.g. no sync).
    """
    metadata = json.loads(Path(metadata_path).read_text())
    motion = json.loads(Path(motion_metrics_path).read_text())
    components = pd.read_csv(components_path)
    events = pd.read_csv(events_path)
    accepted = components[components["accepted"].astype(bool)] if len(components) else components
    per_neuron = events.groupby("neuron").size().reindex(accepted["id"], fill_value=0) if len(accepted) else None
    sync = json.loads(Path(sync_summary_path).read_text()) if sync_summary_path else None
    duration = float(metadata.get("duration_s", float("nan")))
    excluded = (metadata.get("excluded_frames") or {}).get("total")
    summary: dict[str, Any] = {
        "recording": recording_id,
        "frames": int(metadata["n_frames"]),
        "frame size (px)": "x".join(str(v) for v in metadata["frame_shape"]),
        "frame rate (Hz)": float(metadata["frame_rate_hz"]),
        "duration (s)": duration,
        "dropped frames": int(metadata["dropped_frames"]["total"]),
        "frames left out (filenames)": excluded,
        "motion: largest shift (px)": motion.get("max_abs_shift_px"),
        "motion: correlation with template before": motion.get("correlation_before_mean"),
        "motion: correlation with template after": motion.get("correlation_after_mean"),
        "motion: frames without structure": motion.get("n_no_structure_frames"),
        "components found": int(len(components)),
        "components accepted": int(len(accepted)),
        "median SNR of accepted": float(accepted["SNR"].median()) if len(accepted) else None,
        "median r-value of accepted": float(accepted["r_value"].median()) if len(accepted) else None,
        "events": int(len(events)),
        "events per accepted neuron (median)": float(per_neuron.median()) if per_neuron is not None else None,
        "event rate per accepted neuron (median, per min)": (
            float(per_neuron.median()) / duration * 60.0 if per_neuron is not None and duration > 0 else None
        ),
        "sync: clock drift (ppm)": sync.get("drift_ppm") if sync else None,
        "sync: fit residual (ms)": sync.get("fit_residual_ms") if sync else None,
        "sync: frames without a TTL pulse": sync.get("n_frames_without_pulse") if sync else None,
    }
    return summary


def _format(value: Any) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e4 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def write_summary(summary: dict[str, Any], html_path: str | os.PathLike, json_path: str | os.PathLike) -> None:
    """Write ``summary`` as an HTML table (the report item) and as JSON, atomically."""
    rows = "\n".join(
        f"<tr><th>{html.escape(label)}</th><td>{html.escape(_format(value))}</td></tr>" for label, value in summary.items()
    )
    page = (
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'>"
        f"<title>{html.escape(str(summary.get('recording', '')))}: summary</title>"
        "<style>body{font-family:sans-serif;margin:1em}table{border-collapse:collapse}"
        "th,td{border-bottom:1px solid #ddd;padding:4px 12px;text-align:left}td{text-align:right}</style>"
        f"</head><body><table>\n{rows}\n</table></body></html>\n"
    )
    with atomic_path(html_path) as tmp:
        tmp.write_text(page)
    with atomic_path(json_path) as tmp:
        tmp.write_text(json.dumps(summary, indent=2) + "\n")
