"""Find, check and decode a Miniscope recording of either layout (V4 or V3: :mod:`.v4`, :mod:`.v3`)."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from . import v3, v4
from .common import Recording, RecordingError, SessionInfo, parse_frame_rate, select_video_files, video_header

__all__ = ["locate", "recording_files", "open_recording", "iter_frames", "iter_file_frames"]

log = logging.getLogger(__name__)

#: The module reading each layout.
LAYOUTS = {"V3": v3, "V4": v4}


def locate(directory: Path) -> tuple[Path, str]:
    """The folder holding the videos, and the layout version (``"V4"`` or ``"V3"``), of a recording folder."""
    if not directory.is_dir():
        raise RecordingError(
            f"{directory}: recording folder not found; check 'calcium imaging directory' in the sample sheet"
        )
    if v3.holds_recording(directory):
        return directory, "V3"
    device_dir = v4.device_folder(directory)
    if device_dir is not None:
        return device_dir, "V4"
    raise RecordingError(
        f"{directory}: no Miniscope recording found: expected a V4 session (metaData.json and a Miniscope/ folder "
        "with 0.avi, 1.avi, ..., metaData.json, timeStamps.csv) or a V3 folder (msCam1.avi, ..., timestamp.dat). "
        "Point 'calcium imaging directory' in the sample sheet at the session folder"
    )


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
    device_dir, version = locate(directory)
    layout = LAYOUTS[version]
    return layout.video_files(device_dir) + layout.raw_files(directory, device_dir)


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
    device_dir, version = locate(directory)
    layout = LAYOUTS[version]
    videos = layout.video_files(device_dir)
    if not videos:
        raise RecordingError(f"{device_dir}: no .avi video files found (expected 0.avi, 1.avi, ... or msCam1.avi, ...)")

    selected = select_video_files(videos, filenames)
    frames_per_file, frame_shape = _frame_counts_and_shape(videos, selected, device_dir, layout)
    n_frames = sum(frames_per_file)
    session = layout.read_session(directory, device_dir, n_frames)
    metadata: dict[str, Any] = {"recording_format": f"UCLA Miniscope {version}", **session.metadata}
    times, daq = session.timestamps_ms, session.daq_frame_numbers
    if times.shape[0] != n_frames:
        raise RecordingError(
            f"{session.stamps_path}: {times.shape[0]} time stamps but the video headers hold {n_frames} frames "
            f"({', '.join(f'{p.name}: {n}' for p, n in zip(videos, frames_per_file))}); "
            "the videos or the time stamps are incomplete, re-copy the recording"
        )
    frame_rate = _frame_rate(session, device_dir)

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


def _frame_counts_and_shape(videos: list[Path], selected: list[int], device_dir: Path, layout) -> tuple[list[int], tuple[int, int]]:
    """Frames of every video file from its header, and the frame shape the selected files share."""
    headers = [video_header(p) if i in selected else _header_or_none(p) for i, p in enumerate(videos)]
    if any(h is None for h in headers):
        headers = _fill_unreadable(videos, headers, layout.frames_per_file(device_dir))
    # Only the files used must agree (a left-out file may be the odd one).
    shapes = {headers[i][1] for i in selected}
    if len(shapes) > 1:
        described = ", ".join(f"{videos[i].name}: {headers[i][1][0]}x{headers[i][1][1]}" for i in selected)
        raise RecordingError(
            f"{device_dir}: video files have different frame sizes ({described}); "
            "a recording must keep one sensor ROI, so split it into separate recordings"
        )
    return [n for n, _ in headers], headers[selected[0]][1]


def _frame_rate(session: SessionInfo, device_dir: Path) -> float:
    """The nominal frame rate from the metadata, else from the median time-stamp interval."""
    if session.frame_rate is not None:
        try:
            frame_rate = parse_frame_rate(session.frame_rate)
        except ValueError as err:
            raise RecordingError(f"{device_dir / 'metaData.json'}: frameRate {session.frame_rate!r}: {err}") from err
    else:
        intervals = np.diff(session.timestamps_ms)
        intervals = intervals[intervals > 0]
        if intervals.size == 0:
            raise RecordingError(f"{session.stamps_path}: cannot estimate a frame rate: time stamps do not increase")
        frame_rate = 1000.0 / float(np.median(intervals))
        log.warning("%s: no frameRate in the metadata; using %.3f Hz from the time stamps", device_dir, frame_rate)

    if not math.isfinite(frame_rate) or frame_rate <= 0:
        raise RecordingError(f"{device_dir}: invalid frame rate {frame_rate}")
    return frame_rate


def _header_or_none(path: Path) -> tuple[int, tuple[int, int]] | None:
    try:
        return video_header(path)
    except RecordingError as err:
        log.warning("%s (not selected by filenames, so tolerated)", err)
        return None


def _fill_unreadable(videos: list[Path], headers: list, per_file: int | None) -> list:
    """Frame counts of unreadable left-out files from the device metadata's ``framesPerFile`` (``per_file``)."""
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
    for file_index in range(len(recording.video_files)):
        yield from iter_file_frames(recording, file_index, chunk_frames)


def iter_file_frames(
    recording: Recording, file_index: int, chunk_frames: int = 256
) -> Iterator[tuple[np.ndarray, int, int]]:
    """:func:`iter_frames` of one video file of the recording (its ``file_index``-th): the same chunks."""
    import cv2

    path, expected = recording.video_files[file_index], recording.frames_per_file[file_index]
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
