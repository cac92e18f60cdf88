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

Files are MP4 with H.264 video in yuv420p (what every browser, the Snakemake
report and the curation page play), encoded by the ``ffmpeg`` that ships in
the ``imageio-ffmpeg`` wheel (``libx264``). Each frame carries its time in s
(the recording's clock, of the first frame averaged into it) at the top left;
the neural-activity movie also carries each drawn component's id at its
centroid. Movies less than 240 pixels high are enlarged by a whole factor
(nearest neighbour) so the labels can be read; odd sizes get one black row or
column (yuv420p needs even sizes). Each file is written under a temporary
name and renamed when complete.
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
    "draw_labels",
    "display_scale",
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


#: ffmpeg options of the movies: H.264 (libx264, shipped in the imageio-ffmpeg wheel) in MP4, the moov atom first
#: (a browser starts playing before the whole file arrives).
H264_OPTIONS = ["-preset", "veryfast", "-crf", "18", "-movflags", "+faststart"]
#: Movies shorter than this (pixels) are enlarged by a whole factor (nearest neighbour) so the labels are legible.
_MIN_HEIGHT_PX = 240


def display_scale(height: int) -> int:
    """Whole enlargement factor of a movie ``height`` pixels high (1 from :data:`_MIN_HEIGHT_PX` up)."""
    return max(1, -(-_MIN_HEIGHT_PX // max(int(height), 1)))


def _padded(frame_size: tuple[int, int]) -> tuple[int, int]:
    """``(H, W)`` rounded up to even numbers (yuv420p halves both)."""
    return frame_size[0] + frame_size[0] % 2, frame_size[1] + frame_size[1] % 2


class _VideoFile:
    """An H.264 / yuv420p MP4 written by imageio-ffmpeg's ffmpeg on a temporary name; renamed on success.

    Frames are grey uint8 ``(n, H, W)``; odd sizes are padded with one black row / column.
    """

    def __init__(self, path: Path, frame_size: tuple[int, int], fps: float):
        import imageio_ffmpeg

        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = partial_name(self.path)  # keeps the suffix: ffmpeg picks the container by it
        self._tmp.unlink(missing_ok=True)
        self.frame_size = tuple(int(v) for v in frame_size)
        height, width = _padded(self.frame_size)
        self._writer = imageio_ffmpeg.write_frames(
            str(self._tmp), (width, height), fps=float(fps), codec="libx264", pix_fmt_in="gray",
            pix_fmt_out="yuv420p", macro_block_size=2, output_params=H264_OPTIONS, ffmpeg_log_level="error")
        self._writer.send(None)

    def write(self, frames: np.ndarray) -> None:
        height, width = self.frame_size
        padded = np.zeros(_padded(self.frame_size), np.uint8)
        for frame in frames:
            padded[:height, :width] = frame
            self._writer.send(np.ascontiguousarray(padded))

    def close(self, ok: bool) -> Path:
        try:
            self._writer.close()
        except Exception:
            if ok:
                raise
        if ok:
            os.replace(self._tmp, self.path)
        else:
            self._tmp.unlink(missing_ok=True)
        return self.path


def draw_labels(
    frames: np.ndarray,
    times_s: np.ndarray | None = None,
    *,
    scale: int = 1,
    ids: np.ndarray | None = None,
    positions: np.ndarray | None = None,
) -> np.ndarray:
    """Enlarge uint8 frames by ``scale`` and draw each frame's time (top left) and component ids, in place of pixels.

    Parameters
    ----------
    frames : ndarray, uint8, shape (n, H, W)
    times_s : ndarray, shape (n,), optional
        Time of each frame in s, drawn as ``12.3 s``.
    scale : int
        Whole enlargement factor (nearest neighbour).
    ids, positions : ndarray, shape (K,) and (K, 2), optional
        Component ids drawn at ``(row, col)`` positions of the original frame (NaN positions skipped).

    Returns
    -------
    ndarray, uint8, shape (n, H * scale, W * scale)
    """
    out = np.repeat(np.repeat(frames, scale, axis=1), scale, axis=2) if scale > 1 else np.array(frames)
    height = out.shape[1]
    font = cv2.FONT_HERSHEY_SIMPLEX
    size = max(0.35, height / 700)
    thickness = max(1, int(round(size * 1.5)))
    for i in range(out.shape[0]):
        frame = out[i]
        if times_s is not None:
            _text(frame, f"{float(times_s[i]):.1f} s", (4, int(4 + 22 * size)), font, size, thickness)
        if ids is not None and positions is not None:
            for k, (row, col) in zip(ids, positions):
                if np.isfinite(row) and np.isfinite(col):
                    _text(frame, str(int(k)), (int(col * scale), int(row * scale)), font, size * 0.8, thickness)
    return out


def _text(frame: np.ndarray, text: str, origin: tuple[int, int], font: int, size: float, thickness: int) -> None:
    """White text with a black outline (legible on bright and dark pixels)."""
    cv2.putText(frame, text, origin, font, size, 0, thickness + 2, cv2.LINE_AA)
    cv2.putText(frame, text, origin, font, size, 255, thickness, cv2.LINE_AA)


def write_video(path: str | os.PathLike, blocks: Iterator[np.ndarray], frame_size: tuple[int, int], fps: float) -> Path:
    """Write uint8 frame blocks ``(n, H, W)`` to a video file, atomically.

    Parameters
    ----------
    path : path-like
        The MP4 file (H.264, yuv420p).
    blocks : iterator of ndarray, uint8, shape (n, H, W)
    frame_size : (H, W)
    fps : float
        Playback frame rate.

    Returns
    -------
    Path
        ``path``.
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
    frame_times_s: np.ndarray | None = None,
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
    frame_times_s : ndarray, shape (T,), optional
        Time of each recorded frame in s (``frames.csv``), drawn on the
        movies; ``frame / frame_rate`` when omitted.

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
    times = _frame_times(frame_times_s, n_frames, frame_rate)
    scale = display_scale(height)
    labels = {"ids": np.flatnonzero(keep), "positions": estimates.centroids()[keep]}
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

    size = (height * scale, width * scale)
    videos = {name: _VideoFile(Path(path), size, frame_rate) for name, path in paths.items()}
    ok = False
    try:
        for frames in viewing_blocks(n_frames, speedup, chunk_frames):
            shown = times[frames][::speedup]
            for name, values in compute(frames).items():
                videos[name].write(draw_labels(to_uint8(_block_mean(values, speedup), limits[name]), shown,
                                               scale=scale, **(labels if name == "neural" else {})))
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
    frame_times_s: np.ndarray | None = None,
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
    frame_times_s : ndarray, shape (T,), optional
        As in :func:`write_component_movies`.

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
    times = _frame_times(frame_times_s, n_frames, frame_rate)
    scale = display_scale(height)
    size = (height * scale, (2 * width + gap_px) * scale)

    def blocks() -> Iterator[np.ndarray]:
        for frames in viewing_blocks(n_frames, speedup, chunk_frames):
            halves = []
            for movie, lim in zip((before, after), limits):
                halves.append(to_uint8(_block_mean(read_frames(movie, frames), speedup), lim))
            gap = np.zeros((halves[0].shape[0], height, gap_px), np.uint8)
            yield draw_labels(np.concatenate([halves[0], gap, halves[1]], axis=2), times[frames][::speedup], scale=scale)

    written = write_video(path, blocks(), size, frame_rate)
    logger.info("movies: %s (before | after motion correction, %dx speed)", written, speedup)
    return written


def _frame_times(frame_times_s: np.ndarray | None, n_frames: int, frame_rate: float) -> np.ndarray:
    if frame_times_s is None:
        return np.arange(n_frames) / float(frame_rate)
    times = np.asarray(frame_times_s, dtype=np.float64)
    if times.shape != (n_frames,):
        raise ValueError(f"{times.shape[0]} frame times for a movie of {n_frames} frames; give frames.csv's time_s")
    return times
