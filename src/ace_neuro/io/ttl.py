"""Readers of the electrophysiology TTL pulses that the sync step aligns frames to.

Supported: a CSV with a ``time_s`` column (or a single column), a ``.npy``
array, and Open Ephys binary-format (GUI >= 0.6) TTL event folders. Also the
sample sheet's ``zero time (s)`` cell.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["read_ttl_times", "parse_zero_time"]

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike


def read_ttl_times(path: PathLike, *, ttl_line: int | None = None) -> np.ndarray:
    """Rising-edge times (s) of the frame TTL pulses recorded by the ephys system.

    Parameters
    ----------
    path : path
        One of:

        * a ``.csv`` file with a column ``time_s`` (or a single column) of
          rising-edge times in seconds;
        * a ``.npy`` file holding a 1-D array of rising-edge times in seconds;
        * an Open Ephys binary-format (GUI >= 0.6) TTL event folder, or any
          folder above exactly one such folder, holding ``states.npy``
          (+line for rising, -line for falling edges) and ``timestamps.npy``
          (seconds).
    ttl_line : int, optional
        Open Ephys TTL line that carries the frame pulses; required when the
        folder holds events of several lines.

    Returns
    -------
    ndarray of float64, shape (M,)
        In the file's order.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: ephys TTL file not found (sample-sheet column 'ephys TTL file')")
    if path.is_dir():
        return _read_open_ephys_events(path, ttl_line)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        times = np.load(path, allow_pickle=False)
        if times.ndim != 1:
            raise ValueError(f"{path}: expected a 1-D array of rising-edge times in seconds; got shape {times.shape}")
    elif suffix in (".csv", ".txt", ".tsv"):
        sep = {".csv": ",", ".tsv": "\t"}.get(suffix, r"\s+")
        table = pd.read_csv(path, sep=sep)
        if "time_s" in table.columns:
            column = "time_s"
        elif table.shape[1] == 1:
            column = table.columns[0]
        else:
            raise ValueError(
                f"{path}: cannot tell which column holds the TTL times; name it 'time_s' "
                f"(columns are {list(table.columns)})"
            )
        times = pd.to_numeric(table[column], errors="coerce").to_numpy(np.float64)
    else:
        raise ValueError(
            f"{path}: unsupported TTL file type {suffix!r}; give a .csv (column time_s), a .npy, "
            "or an Open Ephys binary event folder"
        )
    times = np.asarray(times, dtype=np.float64)
    if not np.all(np.isfinite(times)):
        raise ValueError(f"{path}: TTL times contain empty or non-numeric values")
    return times


def _read_open_ephys_events(folder: Path, ttl_line: int | None) -> np.ndarray:
    if (folder / "states.npy").exists():
        event_dirs = [folder]
    else:
        event_dirs = sorted(p.parent for p in folder.rglob("states.npy"))
    if not event_dirs:
        old = list(folder.rglob("channel_states.npy"))
        hint = (
            " (found channel_states.npy: the pre-0.6 binary format stores sample numbers, not seconds; "
            "export the rising-edge times in seconds to a CSV with a time_s column)"
            if old
            else ""
        )
        raise ValueError(f"{folder}: no Open Ephys TTL events (states.npy + timestamps.npy) found{hint}")
    if len(event_dirs) > 1:
        listing = ", ".join(str(p.relative_to(folder)) for p in event_dirs)
        raise ValueError(
            f"{folder}: {len(event_dirs)} Open Ephys event streams found ({listing}); "
            "point 'ephys TTL file' at the one with the miniscope frame pulses"
        )
    events = event_dirs[0]
    if not (events / "timestamps.npy").exists():
        raise ValueError(f"{events}: states.npy without timestamps.npy; not an Open Ephys binary event folder")
    states = np.load(events / "states.npy").astype(np.int64).reshape(-1)
    times = np.load(events / "timestamps.npy").astype(np.float64).reshape(-1)
    if states.size != times.size:
        raise ValueError(f"{events}: states.npy ({states.size}) and timestamps.npy ({times.size}) differ in length")
    lines = sorted(set(np.abs(states[states != 0]).tolist()))
    if ttl_line is None:
        if len(lines) > 1:
            raise ValueError(
                f"{events}: TTL events on lines {lines}; set sync_ttl_line to the line of the miniscope frame pulses"
            )
        ttl_line = lines[0] if lines else 1
    elif ttl_line not in lines:
        raise ValueError(f"{events}: no events on TTL line {ttl_line} (lines present: {lines})")
    logger.info("Open Ephys events %s: %d rising edges on line %d", events, int((states == ttl_line).sum()), ttl_line)
    return times[states == ttl_line]


def parse_zero_time(value: Any) -> float:
    """The sample sheet's ``zero time (s)``: empty means 0."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return 0.0
    if isinstance(value, str) and not value.strip():
        return 0.0
    try:
        zero = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"zero time (s): {value!r} is not a number of seconds") from None
    if not math.isfinite(zero):
        raise ValueError(f"zero time (s): {value!r} is not a finite number")
    return zero
