"""Read UCLA Miniscope recordings (V4 and V3 folders) frame by frame.

V4 (Miniscope DAQ software)::

    <session>/metaData.json               session metadata (researcher, animal, start time, devices)
    <session>/<Miniscope>/0.avi, 1.avi..  FFV1 or GREY 8-bit video, ``framesPerFile`` frames each
    <session>/<Miniscope>/metaData.json   device metadata (deviceType, frameRate "20FPS", ROI, gain, ...)
    <session>/<Miniscope>/timeStamps.csv  "Frame Number,Time Stamp (ms),Buffer Index"[,"DAQ Frame Number"...]

V3::

    <session>/msCam1.avi, msCam2.avi, ... usually uncompressed, 1000 frames each (numbered from 1)
    <session>/timestamp.dat               tab-separated camNum, frameNum, sysClock (ms), buffer

Every problem with a folder raises :class:`RecordingError` naming the file and
saying what to do. Frames are decoded with OpenCV (opencv-python-headless
decodes FFV1 losslessly) and yielded in chunks, never all at once.
"""

from __future__ import annotations

import json
import logging
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd

__all__ = [
    "RecordingError",
    "Recording",
    "open_recording",
    "natural_key",
    "parse_frame_rate",
    "detect_dropped_frames",
    "iter_frames",
    "recording_files",
    "parse_filenames",
    "select_video_files",
]

log = logging.getLogger(__name__)

TIME_COLUMN = "Time Stamp (ms)"
FRAME_COLUMN = "Frame Number"
DAQ_COLUMN = "DAQ Frame Number"


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


def _read_json(path: Path) -> dict:
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


def _find_device_directory(directory: Path) -> tuple[Path, str]:
    """The folder holding the videos, and the layout version."""
    if list(directory.glob("msCam*.avi")):
        return directory, "V3"
    if (directory / "timeStamps.csv").exists() or (
        (directory / "metaData.json").exists() and list(directory.glob("[0-9]*.avi"))
    ):
        return directory, "V4"
    candidates: list[Path] = []
    session_meta = directory / "metaData.json"
    if session_meta.exists():
        meta = _read_json(session_meta)
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
                device_type = str(_read_json(meta_path).get("deviceType", ""))
            except RecordingError:
                continue
            if "miniscope" in device_type.lower():
                candidates.append(sub)
    if candidates:
        return candidates[0], "V4"
    raise RecordingError(
        f"{directory}: no Miniscope recording found: expected a V4 session (metaData.json and a Miniscope/ folder "
        "with 0.avi, 1.avi, ..., metaData.json, timeStamps.csv) or a V3 folder (msCam1.avi, ..., timestamp.dat). "
        "Point 'calcium imaging directory' in the sample sheet at the session folder"
    )


def _video_header(path: Path) -> tuple[int, tuple[int, int]]:
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


def _read_v4_timestamps(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
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


def _read_v3_timestamps(path: Path, n_frames: int) -> np.ndarray:
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


def _locate(directory: Path) -> tuple[Path, str]:
    """The folder holding the videos, and the layout version, of an existing recording folder."""
    if not directory.is_dir():
        raise RecordingError(
            f"{directory}: recording folder not found; check 'calcium imaging directory' in the sample sheet"
        )
    return _find_device_directory(directory)


def _video_files(device_dir: Path, version: str) -> list[Path]:
    if version == "V3":
        return sorted(device_dir.glob("msCam*.avi"), key=natural_key)
    return sorted((p for p in device_dir.glob("*.avi") if re.fullmatch(r"\d+", p.stem)), key=natural_key)


def recording_files(directory: str | Path) -> list[Path]:
    """Every raw file that converting a recording reads, without decoding anything.

    The workflow makes these the convert rule's inputs, so a re-copied,
    truncated, added or removed file re-runs convert and what follows.

    Parameters
    ----------
    directory : path-like
        A V4 session folder, its device (``Miniscope``) folder, or a V3 folder.

    Returns
    -------
    list of Path
        The videos in natural order, then the time-stamp file and the metadata
        files that exist.

    Raises
    ------
    RecordingError
        Folder missing, or no recording in it.
    """
    directory = Path(directory)
    device_dir, version = _locate(directory)
    files = _video_files(device_dir, version)
    extras = ["timestamp.dat"] if version == "V3" else ["timeStamps.csv", "metaData.json"]
    files += [device_dir / name for name in extras if (device_dir / name).is_file()]
    if version == "V4" and device_dir != directory and (directory / "metaData.json").is_file():
        files.append(directory / "metaData.json")
    return files


def open_recording(directory: str | Path, filenames: Any = None) -> Recording:
    """Find and check a Miniscope recording; read its metadata and time stamps.

    Nothing is decoded yet, but every file is checked: video headers are read,
    their frame sizes compared, and the number of time stamps compared with
    the number of frames.

    Parameters
    ----------
    directory : path-like
        A V4 session folder, its device (``Miniscope``) folder, or a V3 folder.
    filenames : optional
        Use only some of the video files (the seed's ``chosen_movie_filepaths``):
        names and/or 0-based natural-order indices, see :func:`parse_filenames`.
        The returned recording then holds those files (in recording order) and
        their time stamps; ``excluded_before`` counts the left-out frames. A
        left-out file that cannot be opened is tolerated when the device
        metadata's ``framesPerFile`` tells its length.

    Returns
    -------
    Recording

    Raises
    ------
    RecordingError
        Folder missing; no videos; a video that cannot be opened; frames of
        different sizes across files; missing or invalid ``metaData.json``; a
        time-stamp count that disagrees with the frame count (both counts are
        given).
    """
    directory = Path(directory)
    device_dir, version = _locate(directory)

    videos = _video_files(device_dir, version)
    if not videos:
        raise RecordingError(f"{device_dir}: no .avi video files found (expected 0.avi, 1.avi, ... or msCam1.avi, ...)")

    selected = select_video_files(videos, filenames)
    headers = [_video_header(p) if i in selected else _header_or_none(p) for i, p in enumerate(videos)]
    if any(h is None for h in headers):
        headers = _fill_unreadable(videos, headers, device_dir, version)
    # Only the files used must agree (a left-out file may be the odd one).
    shapes = {headers[i][1] for i in selected}
    if len(shapes) > 1:
        described = ", ".join(f"{videos[i].name}: {headers[i][1][0]}x{headers[i][1][1]}" for i in selected)
        raise RecordingError(
            f"{device_dir}: video files have different frame sizes ({described}); "
            "a recording must keep one sensor ROI, so split it into separate recordings"
        )
    frames_per_file = [n for n, _ in headers]
    frame_shape = headers[selected[0]][1]
    n_frames = sum(frames_per_file)

    metadata: dict[str, Any] = {"recording_format": f"UCLA Miniscope {version}"}
    daq = None
    if version == "V4":
        device_meta_path = device_dir / "metaData.json"
        if not device_meta_path.exists():
            raise RecordingError(
                f"{device_meta_path}: device metadata not found; the Miniscope DAQ software writes it next to the "
                "videos (it holds the frame rate); restore it from the acquisition computer"
            )
        device_meta = _read_json(device_meta_path)
        session_meta_path = device_dir.parent / "metaData.json"
        session_meta: dict = {}
        if device_dir != directory or session_meta_path.exists():
            if session_meta_path.exists() and session_meta_path != device_meta_path:
                session_meta = _read_json(session_meta_path)
            else:
                log.warning("%s: session metadata not found; continuing with the device metadata only", session_meta_path)
        metadata["session"] = session_meta
        metadata["device"] = device_meta
        times, daq = _read_v4_timestamps(device_dir / "timeStamps.csv")
        stamps_path = device_dir / "timeStamps.csv"
        raw_rate = device_meta.get("frameRate")
    else:
        stamps_path = device_dir / "timestamp.dat"
        times = _read_v3_timestamps(stamps_path, n_frames)
        raw_rate = None
        settings = device_dir / "settings_and_notes.dat"
        if settings.exists():
            metadata["settings_and_notes"] = settings.read_text(errors="replace")

    if times.shape[0] != n_frames:
        raise RecordingError(
            f"{stamps_path}: {times.shape[0]} time stamps but the video headers hold {n_frames} frames "
            f"({', '.join(f'{p.name}: {n}' for p, n in zip(videos, frames_per_file))}); "
            "the videos or the time stamps are incomplete, re-copy the recording"
        )

    if raw_rate is not None:
        try:
            frame_rate = parse_frame_rate(raw_rate)
        except ValueError as err:
            raise RecordingError(f"{device_dir / 'metaData.json'}: frameRate {raw_rate!r}: {err}") from err
    else:
        intervals = np.diff(times)
        intervals = intervals[intervals > 0]
        if intervals.size == 0:
            raise RecordingError(f"{stamps_path}: cannot estimate a frame rate: time stamps do not increase")
        frame_rate = 1000.0 / float(np.median(intervals))
        log.warning("%s: no frameRate in the metadata; using %.3f Hz from the time stamps", device_dir, frame_rate)

    if not math.isfinite(frame_rate) or frame_rate <= 0:
        raise RecordingError(f"{device_dir}: invalid frame rate {frame_rate}")

    excluded_before = None
    if len(selected) < len(videos):
        times, daq, excluded_before = _select_frames(times, daq, frames_per_file, selected)
        metadata["selected_files"] = [videos[i].name for i in selected]
        metadata["excluded_files"] = [p.name for i, p in enumerate(videos) if i not in selected]
        log.info(
            "%s: using %d of %d video files (%s); %d frames left out",
            device_dir, len(selected), len(videos), ", ".join(metadata["selected_files"]), int(excluded_before.sum()),
        )
        frames_per_file = [frames_per_file[i] for i in selected]
        videos = [videos[i] for i in selected]

    return Recording(
        directory=directory,
        device_directory=device_dir,
        version=version,
        video_files=videos,
        frames_per_file=frames_per_file,
        frame_shape=frame_shape,
        timestamps_ms=times,
        daq_frame_numbers=daq,
        frame_rate_hz=frame_rate,
        metadata=metadata,
        excluded_before=excluded_before,
    )


def _header_or_none(path: Path) -> tuple[int, tuple[int, int]] | None:
    try:
        return _video_header(path)
    except RecordingError as err:
        log.warning("%s (not selected by filenames, so tolerated)", err)
        return None


def _fill_unreadable(videos: list[Path], headers: list, device_dir: Path, version: str) -> list:
    """Frame counts of unreadable left-out files from the device metadata's ``framesPerFile``."""
    per_file = None
    if version == "V4" and (device_dir / "metaData.json").exists():
        per_file = _read_json(device_dir / "metaData.json").get("framesPerFile")
    filled = []
    for path, header in zip(videos, headers):
        if header is None:
            if per_file is None or path == videos[-1]:
                raise RecordingError(
                    f"{path}: cannot be opened, and its length is unknown (no framesPerFile in the device "
                    "metadata, or it is the last file), so the time stamps of the other files cannot be placed; "
                    "re-copy it, or move it out of the folder if it holds the recording's last frames"
                )
            header = (int(per_file), None)
        filled.append(header)
    return filled


def _select_frames(times: np.ndarray, daq: np.ndarray | None, frames_per_file: list[int], selected: list[int]):
    """Time stamps (and DAQ numbers) of the selected files' frames, and left-out frames before each."""
    starts = np.concatenate([[0], np.cumsum(frames_per_file)])
    keep = np.concatenate([np.arange(starts[i], starts[i + 1]) for i in selected])
    excluded_before = np.zeros(keep.size, np.int64)
    position, previous_end = 0, 0
    for i in selected:
        excluded_before[position] = starts[i] - previous_end
        position += frames_per_file[i]
        previous_end = starts[i + 1]
    return times[keep], (None if daq is None else daq[keep]), excluded_before


def _as_gray(frame: np.ndarray, shape: tuple[int, int], path: Path, index: int) -> np.ndarray:
    if frame.ndim == 3:
        frame = frame[..., 0]
    if frame.shape != shape:
        if frame.size == shape[0] * shape[1]:
            frame = frame.reshape(shape)
        else:
            raise RecordingError(f"{path}: frame {index} has shape {frame.shape}, expected {shape}")
    return frame


def iter_frames(recording: Recording, chunk_frames: int = 256) -> Iterator[tuple[np.ndarray, int, int]]:
    """Decode the recording's frames in order, ``chunk_frames`` at a time.

    Parameters
    ----------
    recording : Recording
        From :func:`open_recording`.
    chunk_frames : int
        Frames per yielded chunk (the last chunk of each file may be shorter).

    Yields
    ------
    frames : ndarray, shape (n, H, W), dtype as recorded (uint8 for Miniscopes)
    file_index : int
        Index of the video file the chunk comes from.
    first_frame_in_file : int
        Position of the chunk's first frame within that file.

    Raises
    ------
    RecordingError
        If a file decodes fewer frames than its header promises (truncated or
        corrupt), naming the file and the first frame that failed.
    """
    for file_index, (path, expected) in enumerate(zip(recording.video_files, recording.frames_per_file)):
        import cv2

        capture = cv2.VideoCapture(str(path))
        capture.set(cv2.CAP_PROP_CONVERT_RGB, 0)
        try:
            done = 0
            while done < expected:
                n = min(chunk_frames, expected - done)
                chunk = None
                for i in range(n):
                    ok, frame = capture.read()
                    if not ok or frame is None:
                        raise RecordingError(
                            f"{path}: decoding failed at frame {done + i} of {expected} (the header promises "
                            f"{expected}); the file is truncated or corrupt, re-copy it from the acquisition computer"
                        )
                    frame = _as_gray(frame, recording.frame_shape, path, done + i)
                    if chunk is None:
                        chunk = np.empty((n,) + recording.frame_shape, dtype=frame.dtype)
                    chunk[i] = frame
                yield chunk, file_index, done
                done += n
        finally:
            capture.release()
