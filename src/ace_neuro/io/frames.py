"""Readers of the convert step's frame table and metadata, with checks that name the file and the fix."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["read_frames_table", "read_frame_rate", "read_json_key"]

PathLike = str | os.PathLike


def read_frames_table(path: PathLike) -> pd.DataFrame:
    """Read ``convert/frames.csv`` and check the columns this stage needs.

    Returns
    -------
    DataFrame
        With at least ``frame`` (int), ``time_s`` (float) and
        ``dropped_before`` (int, zeros if the column is absent).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: frames table not found; run the convert step first")
    import pandas as pd  # noqa: PLC0415 (0.4 CPU s: not for the frame rate alone)

    table = pd.read_csv(path)
    missing = [c for c in ("frame", "time_s") if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; expected the frames.csv written by convert")
    if "dropped_before" not in table.columns:
        table["dropped_before"] = 0
    table["dropped_before"] = table["dropped_before"].fillna(0).astype(np.int64)
    if not np.all(np.isfinite(table["time_s"].to_numpy(float))):
        raise ValueError(f"{path}: column time_s has empty or non-numeric values")
    return table


def read_frame_rate(metadata_path: PathLike) -> float:
    """``frame_rate_hz`` from ``convert/metadata.json``."""
    path = Path(metadata_path)
    with open(path) as fh:
        metadata = json.load(fh)
    rate = metadata.get("frame_rate_hz")
    if rate is None or not np.isfinite(float(rate)) or float(rate) <= 0:
        raise ValueError(f"{path}: key 'frame_rate_hz' is missing or not a positive number (got {rate!r})")
    return float(rate)


def read_json_key(path: PathLike | None, key: str):
    """``key`` of a JSON object file written by an earlier step; None when the file or the key is absent.

    Raises
    ------
    ValueError
        The file exists but cannot be read as JSON (names the file and what to do).
    """
    if path is None or not Path(path).exists():
        return None
    try:
        return json.loads(Path(path).read_text()).get(key)
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: cannot read {key!r} ({err}); re-run the step that wrote it") from err
