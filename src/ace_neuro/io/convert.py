"""The convert step: a Miniscope folder to one memory-mappable movie, metadata and frame times.

Outputs (all written atomically):

``movie.tif``
    Uncompressed ImageJ TIFF, shape (T, H, W), dtype as recorded (uint8), readable
    by Fiji and memory-mapped by :func:`ace_neuro.io.movie.open_movie`.
``metadata.json``
    Session and device metadata merged (the seed's ``metaDataTif.json``), plus
    ``frame_rate_hz``, ``n_frames``, ``frame_shape``, ``dtype``, the source files and
    a dropped-frame summary.
``frames.csv``
    One row per written frame: ``frame`` (0-based), ``time_s`` (seconds from the
    first frame), ``timestamp_ms`` (as recorded), ``file``, ``frame_in_file``,
    ``dropped_before`` (frames estimated missing just before this one), ``corrupted`` (1 where the frame was
    corrupted in transmission, :mod:`ace_neuro.io.frame_quality`; with ``corrupted_frames: replace`` the good frame
    before it is written in its place, so no transient can come from it and frame times stay right).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ace_neuro.allocator import keep_freed_memory
from ace_neuro.io.atomic import atomic_path
from ace_neuro.io.disk import array_bytes, check_free_space, explain_disk_full
from ace_neuro.io.frame_quality import TILE_PX, FrameQuality, chunk_roughness, chunk_saturated, held_sources
from ace_neuro.io.miniscope import Recording, RecordingError, detect_dropped_frames, iter_file_frames, open_recording
from ace_neuro.io.movie import create_tiff
from ace_neuro.io.params import ConvertOptions
from ace_neuro.progress import Progress

__all__ = ["frame_table", "merged_metadata", "convert_recording"]

log = logging.getLogger(__name__)

# TIFF header, metadata.json and frames.csv: small next to the movie, but not nothing.
_OUTPUT_MARGIN = 4 * 2**20


#: Tile roughness a decoding thread may hold ahead of the judging thread (MB; the frames are already written).
_AHEAD_MB = 64.0

#: Convert stops when more than this share of the frames is corrupted.
MAX_CORRUPTED_SHARE = 0.5
#: A run of more corrupted frames than this (in a row) is worth its own warning.
LONG_CORRUPTED_RUN = 25
#: A warning when more than this share of the tiles (all frames) hold a pixel at the sensor's ceiling.
MAX_SATURATED_SHARE = 0.01


def frame_table(recording: Recording, dropped_before: np.ndarray, corrupted: np.ndarray | None = None) -> pd.DataFrame:
    """One row per written frame: index, time, source file and position, dropped frames before it.

    Parameters
    ----------
    recording : Recording
    dropped_before : ndarray of int, shape (T,)
        From :func:`ace_neuro.io.miniscope.detect_dropped_frames`.
    corrupted : ndarray of bool, shape (T,), optional
        Frames corrupted in transmission (all False when omitted).

    Returns
    -------
    pandas.DataFrame with columns frame, time_s, timestamp_ms, file, frame_in_file, dropped_before, corrupted
    """
    if corrupted is None:
        corrupted = np.zeros(recording.n_frames, dtype=bool)
    files = np.repeat([p.name for p in recording.video_files], recording.frames_per_file)
    within = np.concatenate([np.arange(n) for n in recording.frames_per_file])
    stamps = recording.timestamps_ms
    return pd.DataFrame(
        {
            "frame": np.arange(stamps.shape[0]),
            "time_s": (stamps - stamps[0]) / 1000.0,
            "timestamp_ms": stamps,
            "file": files,
            "frame_in_file": within,
            "dropped_before": dropped_before,
            "corrupted": np.asarray(corrupted, dtype=np.int8),
        }
    )


def merged_metadata(recording: Recording, dropped_before: np.ndarray, dtype: np.dtype) -> dict[str, Any]:
    """Session and device metadata merged with what the conversion measured."""
    session = recording.metadata.get("session", {})
    start = session.get("recordingStartTime", {}) if isinstance(session, dict) else {}
    date = None
    if isinstance(start, dict) and {"year", "month", "day"} <= set(start):
        hour = start.get("hour", start.get("hr", 0))
        date = (
            f"{int(start['year']):04d}{int(start['month']):02d}{int(start['day']):02d}_"
            f"{int(hour):02d}{int(start.get('minute', 0)):02d}{int(start.get('second', 0)):02d}"
        )
    events = [
        {"frame": int(i), "n_dropped": int(dropped_before[i])} for i in np.flatnonzero(dropped_before)
    ]
    return {
        **recording.metadata,
        "origin": session.get("animalName") if isinstance(session, dict) else None,
        "date": date,
        "recording_directory": str(recording.directory),
        "device_directory": str(recording.device_directory),
        "frame_rate_hz": recording.frame_rate_hz,
        "n_frames": int(recording.n_frames),
        "frame_shape": list(recording.frame_shape),
        "dtype": np.dtype(dtype).name,
        "video_files": [{"name": p.name, "frames": n} for p, n in zip(recording.video_files, recording.frames_per_file)],
        "duration_s": float((recording.timestamps_ms[-1] - recording.timestamps_ms[0]) / 1000.0),
        "dropped_frames": {"total": int(dropped_before.sum()), "events": events},
    }


def convert_recording(
    directory: str | os.PathLike,
    movie_path: str | os.PathLike,
    metadata_path: str | os.PathLike,
    frames_path: str | os.PathLike,
    options: ConvertOptions | None = None,
    *,
    threads: int = 1,
    **names: Any,
) -> dict[str, Any]:
    """Convert a Miniscope folder into ``movie.tif``, ``metadata.json`` and ``frames.csv``.

    Parameters
    ----------
    directory : path-like
        V4 session folder (or its device folder) or V3 folder.
    movie_path, metadata_path, frames_path : path-like
        Output files; each appears only when complete.
    options : ConvertOptions, optional
        The step's parameters (:class:`~ace_neuro.io.params.ConvertOptions`;
        defaults when omitted), overridden by ``**names``:
        ``dropped_frame_gap``, a time-stamp interval of at least this many
        median frame periods marks dropped frames (``round(gap / period) - 1``
        of them); ``convert_chunk_frames``, frames decoded and written per
        chunk (memory: chunk x frame size); ``filenames``, convert only these video files (names and/or natural-order indices, see
        :func:`ace_neuro.io.miniscope.parse_filenames`). Frames of left-out files
        between two used ones count in ``frames.csv``'s ``dropped_before`` (they
        were acquired, so the sync step must skip their TTL pulses) but not in
        ``metadata.json``'s ``dropped_frames``, which reports them as
        ``excluded_frames``.
        ``corrupted_frames`` (``replace`` or ``keep``), ``corrupted_tile_excess`` and
        ``corrupted_min_tiles``: frames corrupted in transmission, found by
        :class:`~ace_neuro.io.frame_quality.FrameQuality` as they are decoded; with
        ``replace`` each is written as the good frame before it.
    threads : int
        Video files decoded side by side, each by its own thread that also writes its frames into the movie and
        computes their tile roughness (the calling thread judges the frames in order); the movie is the same
        whatever the number.

    Returns
    -------
    dict
        The merged metadata that was written.

    Raises
    ------
    RecordingError
        For any problem with the recording (see :func:`open_recording`), and when more than half the frames are
        corrupted.
    """
    options = ConvertOptions.from_params(options, **names)
    dropped_frame_gap, chunk_frames, filenames = options.dropped_frame_gap, options.convert_chunk_frames, options.filenames
    recording = open_recording(directory, filenames=filenames)
    # The period is the median time-stamp interval, robust to a wrong frameRate in the metadata.
    missing = detect_dropped_frames(
        recording.timestamps_ms, recording.daq_frame_numbers, None, gap_factor=dropped_frame_gap
    )
    dropped = missing
    if recording.excluded_before is not None:
        excluded = recording.excluded_before.copy()
        excluded[0] = 0  # frames before the first used file precede the movie: nothing is missing inside it
        missing = np.maximum(missing, excluded)
        dropped = missing - excluded
    log.info(
        "%s: %s recording, %d frames of %dx%d in %d files, %.3f Hz",
        recording.directory,
        recording.version,
        recording.n_frames,
        *recording.frame_shape,
        len(recording.video_files),
        recording.frame_rate_hz,
    )
    if dropped.sum():
        log.warning(
            "%s: %d dropped frame(s) in %d gap(s), at frames %s",
            recording.device_directory,
            int(dropped.sum()),
            int(np.count_nonzero(dropped)),
            ", ".join(str(int(i)) for i in np.flatnonzero(dropped)[:20]),
        )
    else:
        log.info("no dropped frames detected")

    progress = Progress(recording.n_frames, "convert", log)
    keep_freed_memory(log)  # each decoded chunk's array reused, not faulted in again
    dtype = _recorded_dtype(recording)
    shape = (recording.n_frames,) + recording.frame_shape
    check_free_space(Path(movie_path).parent, array_bytes(shape, dtype) + _OUTPUT_MARGIN, what="convert")
    with atomic_path(movie_path) as tmp_movie, contextlib.ExitStack() as stack:
        movie = create_tiff(tmp_movie, shape, dtype, recording.frame_rate_hz)
        try:
            fd = os.open(tmp_movie, os.O_WRONLY)
            stack.callback(os.close, fd)  # after the threads stop (the stack closes in reverse)
            sink = _MovieSink(fd, movie.offset, shape, dtype, tmp_movie)
            written = stack.enter_context(contextlib.closing(_written_in_order(recording, chunk_frames, threads, sink)))
            quality = FrameQuality(options.corrupted_tile_excess, options.corrupted_min_tiles)
            position = 0
            for tiles, saturated in written:  # each chunk's tiles, in order; its frames are in the file
                quality.judge(tiles, saturated)
                position += tiles.shape[0]
                progress.update(tiles.shape[0])
            stack.close()
            corrupted = quality.finish()
            if position == recording.n_frames:
                _handle_corrupted(movie, corrupted, options.corrupted_frames, recording.device_directory)
            movie.flush()
        finally:
            del movie
        if position != recording.n_frames:
            raise RecordingError(
                f"{recording.device_directory}: decoded {position} frames but the headers promise {recording.n_frames}"
            )

    metadata = merged_metadata(recording, dropped, dtype)
    metadata["saturated_tile_fraction"] = _warn_saturated(quality, recording.device_directory)
    metadata["corrupted_frames"] = {
        "total": int(corrupted.sum()),
        "frames": [int(i) for i in np.flatnonzero(corrupted)],
        "handling": options.corrupted_frames,
    }
    if recording.excluded_before is not None:
        metadata["excluded_frames"] = {
            "total": int(recording.excluded_before.sum()),
            "files": recording.metadata.get("excluded_files", []),
        }
    with explain_disk_full(metadata_path, what="convert"), atomic_path(metadata_path) as tmp:
        tmp.write_text(json.dumps(metadata, indent=2, default=str))
    with explain_disk_full(frames_path, what="convert"), atomic_path(frames_path) as tmp:
        frame_table(recording, missing, corrupted).to_csv(tmp, index=False)
    return metadata


def _warn_saturated(quality: FrameQuality, where: Path) -> float:
    """The share of 8 x 8 px tiles (all frames) holding a pixel at the sensor's ceiling; a warning above 1 %."""
    share = quality.saturated_tiles / max(quality.tiles_seen, 1)
    if share > MAX_SATURATED_SHARE:
        log.warning("%s: %.0f%% of the movie's 8 x 8 px tiles hold pixels at the sensor's ceiling (saturated): "
                    "activity there is clipped; lower the excitation LED or the gain for the next recordings",
                    where, 100 * share)
    return round(share, 4)


def _handle_corrupted(movie: np.ndarray, corrupted: np.ndarray, handling: str, where: Path) -> None:
    """Warn about the corrupted frames, stop when more than half are, and with ``replace`` write each one as the
    good frame before it (after it at the start) in the written movie (T, H, W)."""
    n = int(corrupted.sum())
    if not n:
        log.info("no corrupted frames detected")
        return
    if n > MAX_CORRUPTED_SHARE * corrupted.size:
        raise RecordingError(
            f"{where}: {n} of {corrupted.size} frames look corrupted in transmission (check patterns, black-outs); "
            f"more than {MAX_CORRUPTED_SHARE:.0%} is not a recording to analyse: check the wireless link or the "
            "video files, or set convert's corrupted_frames: keep (or raise corrupted_tile_excess) if the frames "
            "are good"
        )
    listed = ", ".join(str(int(i)) for i in np.flatnonzero(corrupted)[:20])
    more = " ..." if n > 20 else ""
    action = "each replaced by the good frame before it" if handling == "replace" else "kept as decoded"
    log.warning("%s: %d corrupted frame(s) (%s), at frames %s%s", where, n, action, listed, more)
    start, length = _longest_run(corrupted)
    if length > LONG_CORRUPTED_RUN:
        log.warning(
            "%s: frames %d-%d (%d in a row) corrupted: a link lost for that long, or a lasting change the check "
            "takes for corruption; look at those frames (corrupted_frames: keep writes them as decoded)",
            where, start, start + length - 1, length,
        )
    if handling != "replace":
        return
    sources = held_sources(corrupted)
    for i in np.flatnonzero(corrupted):
        movie[i] = movie[sources[i]]


def _longest_run(flags: np.ndarray) -> tuple[int, int]:
    """First index and length of the longest run of True in a 1-D bool array ((0, 0) when none)."""
    edges = np.diff(np.concatenate([[0], flags.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    if not starts.size:
        return 0, 0
    longest = int(np.argmax(ends - starts))
    return int(starts[longest]), int(ends[longest] - starts[longest])


def _recorded_dtype(recording: Recording) -> np.dtype:
    """The sample type of the recording's frames, from the first frame of its first video file that has frames."""
    index = next((i for i, n in enumerate(recording.frames_per_file) if n > 0), 0)
    frames = iter_file_frames(recording, index, 1)
    try:
        first, _, _ = next(frames)
    except StopIteration:
        raise RecordingError(f"{recording.video_files[index]}: no frame could be decoded; re-copy the file") from None
    finally:
        frames.close()
    return first.dtype


class _MovieSink:
    """Where decoded chunks go: the movie file's frames, written by position (``os.pwrite``, no memory map: the
    threads' writes do not grow the process's resident memory), from any thread."""

    def __init__(self, fd: int, data_offset: int, shape: tuple[int, int, int], dtype: np.dtype, path: Path) -> None:
        self.fd, self.data_offset, self.shape, self.dtype, self.path = fd, int(data_offset), shape, np.dtype(dtype), path

    def write(self, start: int, frames: np.ndarray, source: Path) -> None:
        """Write frames (n, H, W), decoded from the video file ``source``, at frame ``start`` of the movie."""
        if frames.dtype != self.dtype or frames.shape[1:] != self.shape[1:]:
            raise RecordingError(
                f"{source}: frames decode as {frames.dtype} {frames.shape[1:]}, the recording's first frame as "
                f"{self.dtype} {self.shape[1:]}: video files of different formats in one recording; convert them apart"
            )
        if start + frames.shape[0] > self.shape[0]:
            raise RecordingError(f"{source}: more frames decoded than the headers promise ({self.shape[0]} in all)")
        data = memoryview(np.ascontiguousarray(frames).reshape(-1)).cast("B")
        offset = self.data_offset + start * self.shape[1] * self.shape[2] * self.dtype.itemsize
        done = 0
        while done < len(data):  # large writes may return in parts
            written = os.pwrite(self.fd, data[done:], offset + done)
            if written <= 0:
                raise OSError(f"{self.path}: short write at frame {start} (disk full?)")
            done += written


def _file_roughness(recording: Recording, file_index: int, chunk_frames: int, sink: _MovieSink):
    """Decode one video file chunk by chunk, write each chunk into the movie and yield its tile roughness and
    saturated tiles (:func:`~ace_neuro.io.frame_quality.chunk_roughness`, :func:`chunk_saturated`): the work of one
    decoding thread."""
    first_frame = int(sum(recording.frames_per_file[:file_index]))
    frames = iter_file_frames(recording, file_index, chunk_frames)
    try:
        for chunk, _, done in frames:
            sink.write(first_frame + done, chunk, recording.video_files[file_index])
            yield chunk_roughness(chunk), chunk_saturated(chunk)
    finally:
        frames.close()


def _written_in_order(recording: Recording, chunk_frames: int, threads: int, sink: _MovieSink):
    """Decode the recording into ``sink`` and yield every chunk's tile roughness and saturated tiles, in order.

    Up to ``threads`` video files are decoded side by side, each by its own background thread that also writes its
    chunks (at their known positions) and computes their roughness, so the calling thread only judges the frames;
    a thread runs up to :data:`_AHEAD_MB` of roughness ahead (its file's frames are already written). OpenCV and
    NumPy release the GIL for the decoding, filtering and writing. Closing the generator (or an error or
    :class:`~ace_neuro.io.disk.Terminated` in the consumer) stops every thread and waits for it: a decoding thread
    left running at interpreter exit aborts the process from inside OpenCV.
    """
    threads = max(1, int(threads))
    h, w = recording.frame_shape
    item_mb = chunk_frames * (h // TILE_PX) * (w // TILE_PX) * 5 / 2**20  # float32 roughness + bool saturated
    depth = max(2, int(_AHEAD_MB // max(item_mb, 1e-3)))
    n_files = len(recording.video_files)
    running: list[_Prefetch] = []
    try:
        started = 0
        for _ in range(n_files):
            while started < n_files and len(running) < threads:
                running.append(_Prefetch(_file_roughness(recording, started, chunk_frames, sink), depth))
                started += 1
            yield from running[0]
            running.pop(0).close()
    finally:
        for prefetch in running:
            prefetch.close()


class _Prefetch:
    """Run ``iterator`` in a background thread, ``depth`` items ahead, from construction on; iterate to get its
    items (an error of the thread is raised there), :meth:`close` to stop the thread and wait for it."""

    _DONE = object()

    def __init__(self, iterator, depth: int = 2) -> None:
        self._items: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._produce, args=(iterator,), daemon=True)
        self._thread.start()

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._items.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _produce(self, iterator) -> None:
        try:
            for item in iterator:
                if not self._put(item):
                    return
        except BaseException as err:  # handed to the consumer, raised there
            self._put(err)
            return
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()
        self._put(self._DONE)

    def __iter__(self):
        while (item := self._items.get()) is not self._DONE:
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
