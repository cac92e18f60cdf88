"""The V4 layout (Miniscope DAQ software): a session folder holding a device folder of numbered videos.

::

    <session>/metaData.json               session metadata (researcher, animal, start time, devices)
    <session>/<Miniscope>/0.avi, 1.avi..  FFV1 or GREY 8-bit video, ``framesPerFile`` frames each
    <session>/<Miniscope>/metaData.json   device metadata (deviceType, frameRate "20FPS", ROI, gain, ...)
    <session>/<Miniscope>/timeStamps.csv  "Frame Number,Time Stamp (ms),Buffer Index"[,"DAQ Frame Number"...]
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd

from .common import RecordingError, SessionInfo, natural_key, read_json

__all__ = [
    "TIME_COLUMN",
    "FRAME_COLUMN",
    "DAQ_COLUMN",
    "device_folder",
    "video_files",
    "read_timestamps",
    "read_session",
    "frames_per_file",
    "raw_files",
]

log = logging.getLogger(__name__)

TIME_COLUMN = "Time Stamp (ms)"
FRAME_COLUMN = "Frame Number"
DAQ_COLUMN = "DAQ Frame Number"


def device_folder(directory: Path) -> Path | None:
    """The folder holding a V4 recording's videos: ``directory`` itself or its Miniscope device folder; else None."""
    if (directory / "timeStamps.csv").exists() or (
        (directory / "metaData.json").exists() and list(directory.glob("[0-9]*.avi"))
    ):
        return directory
    candidates: list[Path] = []
    session_meta = directory / "metaData.json"
    if session_meta.exists():
        meta = read_json(session_meta)
        for name in meta.get("miniscopes", []) or []:
            for variant in (str(name), str(name).replace(" ", "_")):
                if (directory / variant).is_dir():
                    candidates.append(directory / variant)
    if (directory / "Miniscope").is_dir():
        candidates.append(directory / "Miniscope")
    for sub in sorted(p for p in directory.iterdir() if p.is_dir()):
        meta_path = sub / "metaData.json"
        if meta_path.exists():
            try:
                device_type = str(read_json(meta_path).get("deviceType", ""))
            except RecordingError:
                continue
            if "miniscope" in device_type.lower():
                candidates.append(sub)
    return candidates[0] if candidates else None


def video_files(device_dir: Path) -> list[Path]:
    """The numbered videos (``0.avi``, ``1.avi``, ...) in natural order."""
    return sorted((p for p in device_dir.glob("*.avi") if re.fullmatch(r"\d+", p.stem)), key=natural_key)


def read_timestamps(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Time stamps (ms) and, when recorded, DAQ frame numbers of every written frame, from ``timeStamps.csv``."""
    if not path.exists():
        raise RecordingError(f"{path}: time stamps file not found; the DAQ software writes it next to the videos")
    try:
        table = pd.read_csv(path, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise RecordingError(f"{path}: cannot parse as CSV ({err})") from err
    table.columns = [str(c).strip() for c in table.columns]
    if TIME_COLUMN not in table.columns:
        raise RecordingError(
            f"{path}: column {TIME_COLUMN!r} not found (columns: {', '.join(table.columns)}); "
            "expected the Miniscope DAQ header 'Frame Number,Time Stamp (ms),Buffer Index'"
        )
    times = pd.to_numeric(table[TIME_COLUMN], errors="coerce").to_numpy(dtype=np.float64)
    if np.isnan(times).any():
        row = int(np.flatnonzero(np.isnan(times))[0]) + 2
        raise RecordingError(f"{path}: line {row}: {TIME_COLUMN!r} is not a number")
    daq = None
    if DAQ_COLUMN in table.columns:
        daq_values = pd.to_numeric(table[DAQ_COLUMN], errors="coerce")
        if not daq_values.isna().any():
            daq = daq_values.to_numpy(dtype=np.int64)
    return times, daq


def read_session(directory: Path, device_dir: Path, n_frames: int) -> SessionInfo:
    """Device and session metadata, time stamps and frame rate of a V4 recording (``n_frames`` is not needed)."""
    device_meta_path = device_dir / "metaData.json"
    if not device_meta_path.exists():
        raise RecordingError(
            f"{device_meta_path}: device metadata not found; the Miniscope DAQ software writes it next to the "
            "videos (it holds the frame rate); restore it from the acquisition computer"
        )
    device_meta = read_json(device_meta_path)
    session_meta_path = device_dir.parent / "metaData.json"
    session_meta: dict = {}
    if device_dir != directory or session_meta_path.exists():
        if session_meta_path.exists() and session_meta_path != device_meta_path:
            session_meta = read_json(session_meta_path)
        else:
            log.warning("%s: session metadata not found; continuing with the device metadata only", session_meta_path)
    times, daq = read_timestamps(device_dir / "timeStamps.csv")
    return SessionInfo(timestamps_ms=times, daq_frame_numbers=daq, stamps_path=device_dir / "timeStamps.csv",
                       frame_rate=device_meta.get("frameRate"), metadata={"session": session_meta, "device": device_meta})


def frames_per_file(device_dir: Path) -> int | None:
    """``framesPerFile`` of the device metadata, when it says."""
    if not (device_dir / "metaData.json").exists():
        return None
    return read_json(device_dir / "metaData.json").get("framesPerFile")


def raw_files(directory: Path, device_dir: Path) -> list[Path]:
    """The time stamps and the metadata files that exist (the videos aside)."""
    files = [device_dir / name for name in ("timeStamps.csv", "metaData.json") if (device_dir / name).is_file()]
    if device_dir != directory and (directory / "metaData.json").is_file():
        files.append(directory / "metaData.json")
    return files
