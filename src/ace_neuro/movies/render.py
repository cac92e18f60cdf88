"""Movies for looking at a recording: CNMF-E's components and background, and motion before / after.

The seed's viewing movies, written as video files instead of played in a window:

* :func:`write_component_movies` - the neural activity ``A @ C`` (the seed's
  ``calculate_component_movie``), the background model (its background movie)
  and the movie with the neurons' pixels blacked out (``calculate_black_component_movie``);
* :func:`write_motion_comparison` - the movie before and after motion
  correction side by side (the seed's ``inspect_motion_correction`` playback).

All are down-sampled in time for viewing: each written frame is the mean of
``speedup`` consecutive frames, played at the recording's frame rate, so the
movie runs ``speedup`` times faster than life (and is ``speedup`` times
shorter). Intensities map to 8 bits with one fixed range per movie (robust
percentiles of frames spread over the recording), so brightness means the same
thing throughout. Frames are read, computed and written a block at a time:
memory is set by ``chunk_frames``, not by the recording's length.

Files are MP4 (OpenCV's ``mp4v``, MPEG-4 part 2: VLC, ffmpeg and most players
read it; browsers want H.264, which OpenCV's PyPI build cannot write). Where
OpenCV has no MP4 writer the movie is written as AVI (Motion-JPEG) instead,
next to the requested path, and the log says so. Each file is written under a
temporary name and renamed when complete.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Iterator, Mapping

import cv2
import numpy as np

from ace_neuro.cnmfe.estimates import Estimates, frames_to_pixels, pixels_to_frames
from ace_neuro.io.atomic import partial_name
from ace_neuro.io.movie import release_pages

__all__ = [
    "read_frames",
    "viewing_blocks",
    "to_uint8",
    "write_video",
    "write_component_movies",
    "write_motion_comparison",
]

logger = logging.getLogger(__name__)

#: Frames used to fix a movie's display range.
_SAMPLE_FRAMES = 100


def read_frames(movie: np.ndarray, frames: slice | np.ndarray, budget_mb: float = 64.0) -> np.ndarray:
    """Copy ``movie[frames]`` as float32 with the memory-mapped pages released as it goes.

    A CaImAn memory map is pixel-major: each pixel's time series is contiguous,
    so a block of frames is a small piece of every pixel's row, and the kernel
    maps whole neighbourhoods of pages around each piece it faults in. Read in
    one go, a block of frames can map most of the file. This reads such movies
    (time the contiguous axis) in bands of columns whose mapped pages stay within
    ``budget_mb``, releasing them after each band; frame-major movies (TIFF) are
    read in one go and released.

    Parameters
    ----------
    movie : ndarray or BlocksMovie, shape (T, H, W)
        Usually a memory-mapped view or a frame-block movie
        (:func:`ace_neuro.io.movie.open_movie`).
    frames : slice or array of int
        The frames to read.
    budget_mb : float
        Mapped memory allowed at a time for a pixel-major movie.

    Returns
    -------
    ndarray, float32, shape (n, H, W)
    """
    if not isinstance(movie, np.ndarray):  # a frame-block movie reads whole blocks and maps nothing
        return np.asarray(movie[frames], dtype=np.float32)
    block = movie[frames]
    itemsize = movie.dtype.itemsize
    if movie.ndim != 3 or abs(movie.strides[0]) != itemsize or movie.shape[0] == 1:
        out = np.array(block, dtype=np.float32)
        release_pages(movie)
        return out
    n, height, width = block.shape
    # Pages mapped per pixel: the part of its row read, plus the kernel's fault-around (up to 64 kB).
    per_pixel = min(movie.shape[0] * itemsize, n * itemsize + 65536)
    band = max(1, int(budget_mb * 1e6 // (per_pixel * height)))
    out = np.empty((n, height, width), np.float32)
    for c0 in range(0, width, band):
        out[:, :, c0 : c0 + band] = block[:, :, c0 : c0 + band]
        release_pages(movie)
    return out


def viewing_blocks(n_frames: int, speedup: int, chunk_frames: int) -> Iterator[slice]:
    """Slices of frames to read at a time, each a whole number of ``speedup`` groups.

    Parameters
    ----------
    n_frames : int
        Frames in the recording.
    speedup : int
        Frames averaged into one written frame (>= 1).
    chunk_frames : int
        Largest block to read (rounded down to a multiple of ``speedup``, at least one group).

    Yields
    ------
    slice
        Consecutive frame ranges covering the frames of whole groups; a last
        group shorter than ``speedup`` is dropped (fewer than ``speedup`` frames).
    """
    if speedup < 1:
        raise ValueError(f"speedup must be at least 1, got {speedup}")
    usable = (int(n_frames) // speedup) * speedup
    step = max(speedup, (int(chunk_frames) // speedup) * speedup)
    for start in range(0, usable, step):
        yield slice(start, min(start + step, usable))


def _block_mean(frames: np.ndarray, speedup: int) -> np.ndarray:
    n, h, w = frames.shape
    return frames.reshape(n // speedup, speedup, h, w).mean(axis=1, dtype=np.float32)


def to_uint8(frames: np.ndarray, limits: tuple[float, float]) -> np.ndarray:
    """Map ``frames`` linearly from ``limits`` (low, high) to 0..255, clipped; NaN becomes 0."""
    low, high = float(limits[0]), float(limits[1])
    scaled = (np.nan_to_num(np.asarray(frames, np.float32), nan=low) - low) * (255.0 / max(high - low, 1e-12))
    return np.clip(scaled, 0, 255).astype(np.uint8)


def _limits(samples: np.ndarray, low_pct: float = 0.5, high_pct: float = 99.5) -> tuple[float, float]:
    finite = samples[np.isfinite(samples)]
    if finite.size == 0:
        return 0.0, 1.0
    low, high = np.percentile(finite, [low_pct, high_pct])
    return float(low), float(high if high > low else low + 1.0)


def _sample_indices(n_frames: int) -> np.ndarray:
    return np.unique(np.linspace(0, n_frames - 1, min(n_frames, _SAMPLE_FRAMES)).round().astype(np.int64))


class _VideoFile:
    """An OpenCV video writer on a temporary name: MP4 (mp4v), else AVI (MJPG); renamed on success."""

    def __init__(self, path: Path, frame_size: tuple[int, int], fps: float):
        self.requested = Path(path)
        self.requested.parent.mkdir(parents=True, exist_ok=True)
        height, width = frame_size
        for fourcc, suffix in (("mp4v", ".mp4"), ("MJPG", ".avi")):
            self.path = self.requested.with_suffix(suffix)
            self._tmp = partial_name(self.path)  # keeps the suffix: OpenCV picks the container by it
            writer = cv2.VideoWriter(str(self._tmp), cv2.VideoWriter_fourcc(*fourcc), float(fps), (width, height), True)
            if writer.isOpened():
                self.writer, self.codec = writer, fourcc
                if suffix != self.requested.suffix:
                    logger.warning(
                        "movies: OpenCV cannot write %s (%s) here; writing %s (Motion-JPEG AVI) instead",
                        self.requested.name, "mp4v", self.path.name,
                    )
                return
            writer.release()
            self._tmp.unlink(missing_ok=True)
        raise RuntimeError(f"{path}: OpenCV can write neither MP4 (mp4v) nor AVI (MJPG) video on this machine")

    def write(self, frames: np.ndarray) -> None:
        for frame in frames:
            self.writer.write(cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_GRAY2BGR))

    def close(self, ok: bool) -> Path:
        self.writer.release()
        if ok:
            os.replace(self._tmp, self.path)
        else:
            self._tmp.unlink(missing_ok=True)
        return self.path


def write_video(path: str | os.PathLike, blocks: Iterator[np.ndarray], frame_size: tuple[int, int], fps: float) -> Path:
    """Write uint8 frame blocks ``(n, H, W)`` to a video file, atomically.

    Parameters
    ----------
    path : path-like
        Requested file (``.mp4``); see the module notes for the AVI fallback.
    blocks : iterator of ndarray, uint8, shape (n, H, W)
    frame_size : (H, W)
    fps : float
        Playback frame rate.

    Returns
    -------
    Path
        The file written (``path``, or its ``.avi`` sibling).
    """
    video = _VideoFile(Path(path), frame_size, fps)
    ok = False
    try:
        for block in blocks:
            video.write(block)
        ok = True
    finally:
        written = video.close(ok)
    return written


def write_component_movies(
    estimates: Estimates,
    movie: np.ndarray,
    paths: Mapping[str, str | os.PathLike],
    *,
    frame_rate: float,
    speedup: int = 5,
    chunk_frames: int = 500,
    accepted_only: bool = True,
) -> dict[str, Path]:
    """Write the neural-activity, background and neurons-blacked-out movies.

    Parameters
    ----------
    estimates : Estimates
        CNMF-E's result (evaluated or not) for ``movie``.
    movie : ndarray, shape (T, H, W)
        The movie CNMF-E ran on (the motion step's memory map, e.g. from
        :func:`ace_neuro.io.movie.open_movie`); read a block at a time.
    paths : mapping
        Any of ``"neural"`` (``A @ C``), ``"background"`` (the background model
        ``b0 + ring term``, :meth:`Estimates.background`) and
        ``"without_neurons"`` (the movie with every pixel of a footprint set to
        0) to the file to write.
    frame_rate : float
        Recording frame rate (Hz), also the playback rate.
    speedup : int
        Frames averaged into one written frame.
    chunk_frames : int
        Frames read and computed at a time (memory: ``chunk_frames x H x W x 4``
        bytes, a few times over).
    accepted_only : bool
        Use only accepted components (when evaluated) for ``neural`` and the
        blacked-out mask.

    Returns
    -------
    dict of str to Path
        The files written.
    """
    unknown = set(paths) - {"neural", "background", "without_neurons"}
    if unknown:
        raise ValueError(f"unknown movie(s) {sorted(unknown)}; choose from neural, background, without_neurons")
    n_frames, height, width = movie.shape
    if (height, width) != estimates.dims or n_frames != estimates.n_frames:
        raise ValueError(
            f"movie is {n_frames} x {height} x {width} but the estimates are {estimates.n_frames} frames of "
            f"{estimates.dims[0]} x {estimates.dims[1]}; give the movie CNMF-E ran on (motion/memmap)"
        )
    keep = estimates.accepted if (accepted_only and estimates.evaluated) else np.ones(estimates.n_components, bool)
    A = estimates.A[:, np.flatnonzero(keep)]
    C = estimates.C[keep]
    neuron_mask = (np.asarray(abs(A).sum(axis=1)).ravel() > 0).reshape((height, width), order="F")

    def compute(frames: slice) -> dict[str, np.ndarray]:
        y = read_frames(movie, frames)  # a copy: blacking out must not touch the movie
        out = {}
        if "neural" in paths:
            out["neural"] = pixels_to_frames(np.asarray(A @ C[:, frames], dtype=np.float32), (height, width))
        if "background" in paths:
            out["background"] = pixels_to_frames(estimates.background(frames_to_pixels(y), frames), (height, width))
        if "without_neurons" in paths:
            y[:, neuron_mask] = 0
            out["without_neurons"] = y
        return out

    samples = _sample_indices(n_frames)
    sampled = compute(samples) if samples.size else {}
    limits = {name: _limits(values) for name, values in sampled.items()}
    if "neural" in limits:
        limits["neural"] = (0.0, max(_limits(sampled["neural"], 0, 99.9)[1], 1e-6))
    if "without_neurons" in limits:  # the blacked-out pixels would drag the low percentile to 0
        kept = sampled["without_neurons"][:, ~neuron_mask]
        limits["without_neurons"] = _limits(kept) if kept.size else (0.0, 1.0)
    del sampled

    videos = {name: _VideoFile(Path(path), (height, width), frame_rate) for name, path in paths.items()}
    ok = False
    try:
        for frames in viewing_blocks(n_frames, speedup, chunk_frames):
            for name, values in compute(frames).items():
                videos[name].write(to_uint8(_block_mean(values, speedup), limits[name]))
        ok = True
    finally:
        written = {name: video.close(ok) for name, video in videos.items()}
    logger.info(
        "movies: %s, %d frames each (%d recorded frames, %dx speed)",
        ", ".join(str(p) for p in written.values()), n_frames // speedup, n_frames, speedup,
    )
    return written


def write_motion_comparison(
    before: np.ndarray,
    after: np.ndarray,
    path: str | os.PathLike,
    *,
    frame_rate: float,
    speedup: int = 5,
    chunk_frames: int = 500,
    gap_px: int = 4,
) -> Path:
    """Write the movie before (left) and after (right) motion correction side by side.

    Parameters
    ----------
    before : ndarray, shape (T, H, W)
        The motion step's input (the preprocess output).
    after : ndarray, shape (T, H, W)
        The motion-corrected movie (the motion step's memory map).
    path : path-like
        Video file to write (``.mp4``).
    frame_rate : float
        Recording frame rate (Hz), also the playback rate.
    speedup, chunk_frames : int
        As in :func:`write_component_movies`.
    gap_px : int
        Width of the black band between the two halves.

    Returns
    -------
    Path
        The file written.

    Notes
    -----
    Each half gets its own display range (robust percentiles of frames spread
    over the recording): the corrected movie may be offset or rescaled
    (``nonneg_movie``), and a shared range would make one half look washed out.
    """
    if before.shape != after.shape:
        raise ValueError(
            f"before {before.shape} and after {after.shape} differ; give the motion step's input and output"
        )
    n_frames, height, width = after.shape
    samples = _sample_indices(n_frames)
    limits = [_limits(read_frames(m, samples)) for m in (before, after)]
    size = (height, 2 * width + gap_px)

    def blocks() -> Iterator[np.ndarray]:
        for frames in viewing_blocks(n_frames, speedup, chunk_frames):
            halves = []
            for movie, lim in zip((before, after), limits):
                halves.append(to_uint8(_block_mean(read_frames(movie, frames), speedup), lim))
            gap = np.zeros((halves[0].shape[0], height, gap_px), np.uint8)
            yield np.concatenate([halves[0], gap, halves[1]], axis=2)

    written = write_video(path, blocks(), size, frame_rate)
    logger.info("movies: %s (before | after motion correction, %dx speed)", written, speedup)
    return written
