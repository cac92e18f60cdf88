"""What the V4 and V3 readers share: the recording, its error, parsing of frame rates and file selections,
dropped frames, JSON metadata and video headers."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "RecordingError",
    "Recording",
    "SessionInfo",
    "natural_key",
    "parse_frame_rate",
    "detect_dropped_frames",
    "parse_filenames",
    "select_video_files",
    "read_json",
    "video_header",
]


class RecordingError(ValueError):
    """A recording folder or file the pipeline cannot read; the message says what to do."""


@dataclass(frozen=True)
class Recording:
    """A Miniscope recording found on disk, with its metadata and time stamps read.

    Attributes
    ----------
    directory : Path
        The folder given by the user (session folder, or the device folder itself).
    device_directory : Path
        Folder holding the video files and time stamps.
    version : str
        ``"V4"`` or ``"V3"``.
    video_files : list of Path
        Video files in recording order (natural sort: 2.avi before 10.avi).
    frames_per_file : list of int
        Frames in each file according to its container header.
    frame_shape : (int, int)
        Rows and columns of every frame.
    timestamps_ms : ndarray of float64, shape (T,)
        Time stamp of each written frame, in ms, as recorded.
    daq_frame_numbers : ndarray of int64, shape (T,), or None
        DAQ frame counter of each written frame, when the DAQ software recorded it.
    frame_rate_hz : float
        Nominal frame rate from the device metadata (or from the time stamps when absent).
    metadata : dict
        Session and device metadata merged (see :func:`open_recording`).
    excluded_before : ndarray of int64, shape (T,), or None
        With a ``filenames`` selection: frames of left-out files just before each
        written frame (they were acquired, so TTL pulses exist for them, but are
        not in the movie); None when every file is used.
    """

    directory: Path
    device_directory: Path
    version: str
    video_files: list[Path]
    frames_per_file: list[int]
    frame_shape: tuple[int, int]
    timestamps_ms: np.ndarray
    daq_frame_numbers: np.ndarray | None
    frame_rate_hz: float
    metadata: dict[str, Any] = field(default_factory=dict)
    excluded_before: np.ndarray | None = None

    @property
    def n_frames(self) -> int:
        """Frames in the video files according to their headers."""
        return int(sum(self.frames_per_file))


@dataclass(frozen=True)
class SessionInfo:
    """What a layout's files say about a recording besides its videos.

    Attributes
    ----------
    timestamps_ms : ndarray of float64, shape (T,)
        Time stamp of each written frame, in ms, as recorded.
    daq_frame_numbers : ndarray of int64, shape (T,), or None
        DAQ frame counter of each written frame, when recorded (V4).
    stamps_path : Path
        The time-stamp file (``timeStamps.csv`` or ``timestamp.dat``).
    frame_rate : object or None
        The frame rate as the metadata writes it (``"20FPS"``), or None (V3: estimated from the time stamps).
    metadata : dict
        The layout's metadata entries of :attr:`Recording.metadata`.
    """

    timestamps_ms: np.ndarray
    daq_frame_numbers: np.ndarray | None
    stamps_path: Path
    frame_rate: Any
    metadata: dict[str, Any]


def natural_key(path: Path | str) -> tuple:
    """Sort key that orders embedded numbers numerically (``msCam2`` before ``msCam10``)."""
    parts = re.split(r"(\d+)", Path(path).name)
    return tuple(int(p) if p.isdigit() else p.lower() for p in parts)


def parse_frame_rate(value: Any) -> float:
    """Frame rate in Hz from a DAQ value such as ``"20FPS"``, ``"30"`` or ``30.0``.

    Raises
    ------
    ValueError
        If no positive number can be read from ``value``.
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        rate = float(value)
    else:
        match = re.search(r"[-+]?\d*\.?\d+", str(value))
        if match is None:
            raise ValueError(f"cannot read a frame rate from {value!r}")
        rate = float(match.group())
    if not rate > 0:
        raise ValueError(f"frame rate must be positive, got {value!r}")
    return rate


def detect_dropped_frames(
    timestamps_ms: np.ndarray,
    daq_frame_numbers: np.ndarray | None = None,
    frame_period_ms: float | None = None,
    gap_factor: float = 1.75,
) -> np.ndarray:
    """Number of frames missing just before each written frame.

    A gap between consecutive time stamps of ``gap_factor`` frame periods or
    more means ``round(gap / period) - 1`` frames were dropped; a jump of the DAQ
    frame counter by ``n > 1`` means ``n - 1`` were. Where both are available the
    larger count wins.

    Parameters
    ----------
    timestamps_ms : ndarray, shape (T,)
        Time stamps of the written frames, in ms.
    daq_frame_numbers : ndarray, shape (T,), optional
        DAQ frame counter of each written frame.
    frame_period_ms : float, optional
        Frame period; the median time-stamp interval when not given.
    gap_factor : float
        Intervals of at least this many periods count as gaps.

    Returns
    -------
    ndarray of int64, shape (T,)
        Frames missing before each frame (the first entry is always 0).
    """
    t = np.asarray(timestamps_ms, dtype=np.float64)
    dropped = np.zeros(t.shape[0], dtype=np.int64)
    if t.shape[0] < 2:
        return dropped
    intervals = np.diff(t)
    period = float(frame_period_ms) if frame_period_ms else float(np.median(intervals))
    if period > 0:
        gaps = intervals >= gap_factor * period
        dropped[1:][gaps] = np.rint(intervals[gaps] / period).astype(np.int64) - 1
    if daq_frame_numbers is not None:
        jumps = np.diff(np.asarray(daq_frame_numbers, dtype=np.int64)) - 1
        dropped[1:] = np.maximum(dropped[1:], np.clip(jumps, 0, None))
    return dropped


def parse_filenames(value: Any) -> tuple[str | int, ...] | None:
    """Read a ``filenames`` selection as written in a sample-sheet cell or a config value.

    Parameters
    ----------
    value : None, str, int or sequence
        Empty / None: every file. A string lists items separated by commas or
        semicolons; an item is a file name with its extension (``"3.avi"``,
        ``"msCam2.avi"``), a 0-based index in natural order (``"0"``) or an
        inclusive index range (``"2-5"``). A sequence holds names and indices.

    Returns
    -------
    tuple of str and int, or None
        Names and indices in the order given; None for "every file".

    Raises
    ------
    ValueError
        For an item that is neither a name with an extension nor an index or a
        range (``"3"`` is index 3; write ``"3.avi"`` for the file).

    Examples
    --------
    >>> parse_filenames("0-2, 5.avi")
    (0, 1, 2, '5.avi')
    >>> parse_filenames(None) is None
    True
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        items: list[Any] = [int(value)]
    elif isinstance(value, str):
        items = [v.strip() for v in re.split(r"[,;]", value) if v.strip()]
    else:
        items = list(value)
    chosen: list[str | int] = []
    for item in items:
        if isinstance(item, (int, np.integer)) and not isinstance(item, bool):
            chosen.append(int(item))
            continue
        text = str(item).strip()
        if re.fullmatch(r"\d+", text):
            chosen.append(int(text))
        elif match := re.fullmatch(r"(\d+)\s*-\s*(\d+)", text):
            first, last = int(match[1]), int(match[2])
            if last < first:
                raise ValueError(f"filenames: range {text!r} runs backwards; write it as {last}-{first}")
            chosen.extend(range(first, last + 1))
        elif Path(text).suffix:
            chosen.append(Path(text).name)
        else:
            raise ValueError(
                f"filenames: {text!r} is neither a file name with its extension (e.g. '3.avi') nor a 0-based "
                "index ('3') or index range ('2-5')"
            )
    return tuple(chosen) or None


def select_video_files(videos: list[Path], filenames: Any) -> list[int]:
    """Positions in ``videos`` (natural order) of the files a ``filenames`` selection names.

    Parameters
    ----------
    videos : list of Path
        The recording's video files in natural order.
    filenames : as accepted by :func:`parse_filenames`
        None selects every file.

    Returns
    -------
    list of int
        Sorted, unique positions: files are always read in recording order,
        whatever order the selection lists them in.

    Raises
    ------
    RecordingError
        A name that is not one of the files, or an index out of range (both
        list what exists).
    """
    chosen = parse_filenames(filenames)
    if chosen is None:
        return list(range(len(videos)))
    names = [p.name for p in videos]
    positions = set()
    for item in chosen:
        if isinstance(item, int):
            if not 0 <= item < len(videos):
                raise RecordingError(
                    f"{videos[0].parent}: filenames index {item} out of range; the recording has {len(videos)} "
                    f"video files (indices 0-{len(videos) - 1}: {', '.join(names)})"
                )
            positions.add(item)
        elif item in names:
            positions.add(names.index(item))
        else:
            raise RecordingError(
                f"{videos[0].parent}: filenames lists {item!r}, which is not one of its video files "
                f"({', '.join(names)})"
            )
    return sorted(positions)


def read_json(path: Path) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            content = json.load(f)
    except json.JSONDecodeError as err:
        raise RecordingError(
            f"{path}: invalid JSON ({err.msg} at line {err.lineno}); fix or restore the file written by the DAQ software"
        ) from err
    except OSError as err:
        raise RecordingError(f"{path}: cannot read ({err.strerror})") from err
    if not isinstance(content, dict):
        raise RecordingError(f"{path}: expected a JSON object of metadata, found {type(content).__name__}")
    return content


def video_header(path: Path) -> tuple[int, tuple[int, int]]:
    import cv2  # OpenCV only where frames are read: listing a recording stays light

    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise RecordingError(
                f"{path}: cannot open this video (corrupt, empty, or not an AVI OpenCV can decode); "
                "re-copy it from the acquisition computer"
            )
        n_frames = int(round(capture.get(cv2.CAP_PROP_FRAME_COUNT)))
        height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
    finally:
        capture.release()
    if n_frames <= 0 or height <= 0 or width <= 0:
        raise RecordingError(
            f"{path}: the video header reports {n_frames} frames of {height}x{width} pixels; "
            "the file is truncated or corrupt, re-copy it from the acquisition computer"
        )
    return n_frames, (height, width)
