"""The V3 layout: one folder of ``msCam1.avi``, ``msCam2.avi``, ... and ``timestamp.dat``.

::

    <session>/msCam1.avi, msCam2.avi, ... usually uncompressed, 1000 frames each (numbered from 1)
    <session>/timestamp.dat               tab-separated camNum, frameNum, sysClock (ms), buffer
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .common import RecordingError, SessionInfo, natural_key

__all__ = ["holds_recording", "video_files", "read_timestamps", "read_session", "frames_per_file", "raw_files"]


def holds_recording(directory: Path) -> bool:
    """Whether ``directory`` holds V3 videos (``msCam*.avi``)."""
    return bool(list(directory.glob("msCam*.avi")))


def video_files(device_dir: Path) -> list[Path]:
    """The ``msCam*.avi`` videos in natural order."""
    return sorted(device_dir.glob("msCam*.avi"), key=natural_key)


def read_timestamps(path: Path, n_frames: int) -> np.ndarray:
    """Time stamps (ms) of the Miniscope's ``n_frames`` frames in ``timestamp.dat`` (the camera with that many)."""
    if not path.exists():
        raise RecordingError(f"{path}: time stamps file not found; the V3 DAQ software writes timestamp.dat")
    try:
        table = pd.read_csv(path, sep="\t", skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise RecordingError(f"{path}: cannot parse as tab-separated values ({err})") from err
    table.columns = [str(c).strip() for c in table.columns]
    missing = {"camNum", "frameNum", "sysClock"} - set(table.columns)
    if missing:
        raise RecordingError(f"{path}: missing column(s) {sorted(missing)}; expected camNum, frameNum, sysClock, buffer")
    counts = table.groupby("camNum").size()
    matching = [cam for cam, count in counts.items() if count == n_frames]
    if not matching:
        raise RecordingError(
            f"{path}: no camera has as many time stamps as the msCam videos have frames ({n_frames}); "
            f"rows per camera: {dict(counts)}"
        )
    rows = table[table["camNum"] == matching[0]].sort_values("frameNum")
    times = rows["sysClock"].to_numpy(dtype=np.float64)
    # The V3 DAQ often writes a meaningless first sysClock; replace it by one period before the second.
    if times.shape[0] > 2:
        period = float(np.median(np.diff(times[1:])))
        first = times[1] - times[0]
        if first < 0 or first > 10 * period:
            times[0] = times[1] - period
    return times


def read_session(directory: Path, device_dir: Path, n_frames: int) -> SessionInfo:
    """Time stamps and notes of a V3 recording of ``n_frames`` frames (V3 writes no frame rate)."""
    stamps_path = device_dir / "timestamp.dat"
    times = read_timestamps(stamps_path, n_frames)
    metadata = {}
    settings = device_dir / "settings_and_notes.dat"
    if settings.exists():
        metadata["settings_and_notes"] = settings.read_text(errors="replace")
    return SessionInfo(timestamps_ms=times, daq_frame_numbers=None, stamps_path=stamps_path, frame_rate=None,
                       metadata=metadata)


def frames_per_file(device_dir: Path) -> None:
    """V3 metadata does not say how many frames a file holds."""
    return None


def raw_files(directory: Path, device_dir: Path) -> list[Path]:
    """The time stamps, when they exist (the videos aside)."""
    return [device_dir / "timestamp.dat"] if (device_dir / "timestamp.dat").is_file() else []
