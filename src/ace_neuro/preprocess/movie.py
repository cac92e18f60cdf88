"""Preprocessing of a movie (crop, row/column banding, detrend, dF/F), streaming over frame chunks.

The seed's ``preprocess_calcium_movie``, rewritten so that no step holds the
movie in memory: every function here reads a ``(T, H, W)`` array chunk by
chunk (a memory map is the intended input) and keeps per-pixel accumulators of
one frame's size.

Crop box convention (the seed's): ``{'x0', 'y0', 'x1', 'y1'}`` in display
coordinates, x = column from the left, y = row counted from the BOTTOM of the
image (origin bottom-left, as the seed's crop GUI shows it). The box kept is
rows ``H - y1 .. H - y0`` and columns ``x0 .. x1`` (end exclusive) in numpy
order. Corners may be given in any order.
"""

from __future__ import annotations

from typing import Iterator, Mapping

import numpy as np

from ace_neuro.io.movie import chunk_frames_for, frame_chunks, release_pages
from ace_neuro.preprocess.banding import DebandedMovie, choose_banding
from ace_neuro.preprocess.params import PreprocessOptions, parse_crop_coords
from ace_neuro.preprocess.projections import check_not_constant
from ace_neuro.progress import Progress

__all__ = [
    "PreprocessOptions",
    "parse_crop_coords",
    "crop_slices",
    "cropped_shape",
    "linear_trend",
    "detrend_chunk",
    "df_over_f",
    "preprocessed_chunks",
]


def crop_slices(coords: Mapping[str, int], frame_shape: tuple[int, int]) -> tuple[slice, slice]:
    """Numpy ``(rows, cols)`` slices of a crop box given in the seed's convention.

    Parameters
    ----------
    coords : mapping with x0, y0, x1, y1
        x = column from the left, y = row counted from the bottom.
    frame_shape : (H, W)

    Raises
    ------
    ValueError
        If the box is empty or reaches outside the frame.

    Examples
    --------
    >>> crop_slices({"x0": 2, "y0": 0, "x1": 5, "y1": 3}, (10, 8))
    (slice(7, 10, None), slice(2, 5, None))
    """
    height, width = frame_shape
    x0, x1 = sorted((int(coords["x0"]), int(coords["x1"])))
    y0, y1 = sorted((int(coords["y0"]), int(coords["y1"])))
    if x0 < 0 or y0 < 0 or x1 > width or y1 > height:
        raise ValueError(
            f"crop box x {x0}..{x1}, y {y0}..{y1} reaches outside the {width}x{height} (width x height) frame; "
            f"keep 0 <= x <= {width} and 0 <= y <= {height} (y counted from the bottom)"
        )
    if x1 - x0 < 1 or y1 - y0 < 1:
        raise ValueError(f"crop box x {x0}..{x1}, y {y0}..{y1} is empty; give two distinct corners")
    return slice(height - y1, height - y0), slice(x0, x1)


def cropped_shape(frame_shape: tuple[int, int], options: PreprocessOptions) -> tuple[int, int]:
    """Frame ``(H, W)`` after the preprocess step: cropped when ``options.crop`` is on, else as it is.

    Examples
    --------
    >>> cropped_shape((10, 8), PreprocessOptions(crop=True, crop_coords="2,0,5,3"))
    (3, 3)
    """
    if not options.crop or options.crop_coords is None:
        return int(frame_shape[0]), int(frame_shape[1])
    rows, cols = crop_slices(parse_crop_coords(options.crop_coords), frame_shape)
    return rows.stop - rows.start, cols.stop - cols.start


def linear_trend(movie: np.ndarray, chunk_frames: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel least-squares line over time: ``movie[t] ~ intercept + slope * (t - t_mean)``.

    Returns
    -------
    intercept, slope : ndarray of float64, shape (H, W)
        ``intercept`` is the pixel's mean; ``slope`` is per frame.
    """
    n_frames = movie.shape[0]
    shape = movie.shape[1:]
    chunk_frames = chunk_frames or chunk_frames_for(shape, 256.0, 8)
    t_mean = (n_frames - 1) / 2.0
    sum_y = np.zeros(shape, np.float64)
    sum_ty = np.zeros(shape, np.float64)
    for chunk_slice in frame_chunks(n_frames, chunk_frames):
        chunk = np.asarray(movie[chunk_slice], dtype=np.float64)
        t = np.arange(chunk_slice.start, chunk_slice.stop, dtype=np.float64) - t_mean
        sum_y += chunk.sum(axis=0)
        sum_ty += np.tensordot(t, chunk, axes=(0, 0))
        release_pages(movie)
    sum_tt = float(np.sum((np.arange(n_frames) - t_mean) ** 2))
    slope = sum_ty / sum_tt if sum_tt > 0 else np.zeros(shape)
    return sum_y / n_frames, slope


def detrend_chunk(
    chunk: np.ndarray,
    first_frame: int,
    method: str,
    *,
    n_frames: int,
    slope: np.ndarray | None = None,
    mean_trace: np.ndarray | None = None,
) -> np.ndarray:
    """Remove the trend from frames ``first_frame .. first_frame + len(chunk)``.

    Parameters
    ----------
    chunk : ndarray, shape (n, H, W)
    first_frame : int
        Index of ``chunk[0]`` in the movie.
    method : {'linear', 'median'}
        ``'linear'``: subtract each pixel's fitted line, keeping its mean
        (``slope`` from :func:`linear_trend`). ``'median'``: subtract from each
        frame its mean minus the median of all frame means (``mean_trace``), as
        the seed does.
    n_frames : int
        Frames in the whole movie.

    Returns
    -------
    ndarray of float32, shape (n, H, W)
    """
    out = chunk.astype(np.float32)
    frames = np.arange(first_frame, first_frame + chunk.shape[0], dtype=np.float64)
    if method == "linear":
        if slope is None:
            raise ValueError("linear detrending needs the per-pixel slope")
        t = (frames - (n_frames - 1) / 2.0).astype(np.float32)
        out -= t[:, None, None] * slope.astype(np.float32)[None]
    elif method == "median":
        if mean_trace is None:
            raise ValueError("median detrending needs the mean fluorescence trace")
        offset = (mean_trace[first_frame : first_frame + chunk.shape[0]] - np.median(mean_trace)).astype(np.float32)
        out -= offset[:, None, None]
    else:
        raise ValueError(f"detrend_method {method!r}: expected 'linear', 'median' or null")
    return out


def df_over_f(
    frames: np.ndarray,
    baseline: np.ndarray,
    method: str = "delta_f_over_f",
) -> np.ndarray:
    """``(F - F0) / F0`` or ``(F - F0) / sqrt(F0)`` for frames with a per-frame baseline.

    Parameters
    ----------
    frames : ndarray, shape (n, H, W), positive
    baseline : ndarray, shape (n, H, W) or (H, W), positive
    method : {'delta_f_over_f', 'delta_f_over_sqrt_f'}

    Returns
    -------
    ndarray of float32, shape (n, H, W)

    Examples
    --------
    >>> df_over_f(np.array([[[12.0]]]), np.array([[10.0]]))
    array([[[0.2]]], dtype=float32)
    """
    frames = np.asarray(frames, dtype=np.float32)
    baseline = np.asarray(baseline, dtype=np.float32)
    if method == "delta_f_over_f":
        return (frames - baseline) / baseline
    if method == "delta_f_over_sqrt_f":
        return (frames - baseline) / np.sqrt(baseline)
    raise ValueError(f"df_over_f_method {method!r}: expected 'delta_f_over_f' or 'delta_f_over_sqrt_f'")


def _interpolated_baseline(
    centres: np.ndarray, baselines: list[np.ndarray], first: int, frames: np.ndarray
) -> np.ndarray:
    """Linear interpolation of window baselines (known at ``centres``) at frame indices ``frames``."""
    out = np.empty((frames.size,) + baselines[0].shape, np.float32)
    for i, t in enumerate(frames):
        if t <= centres[0]:
            out[i] = baselines[0]
        elif t >= centres[-1]:
            out[i] = baselines[-1]
        else:
            k = int(np.searchsorted(centres, t, side="right")) - 1
            w = (t - centres[k]) / (centres[k + 1] - centres[k])
            out[i] = (1 - w) * baselines[k] + w * baselines[k + 1]
    return out


def preprocessed_chunks(
    movie: np.ndarray,
    frame_rate_hz: float,
    options: PreprocessOptions | None = None,
    *,
    name: str = "movie",
    progress: Progress | None = None,
    banding: tuple[str, ...] | None = None,
) -> Iterator[tuple[slice, np.ndarray]]:
    """Crop, remove banding, detrend and normalise a movie, yielding ``(frame_slice, frames)`` in order.

    Streams: the first pass gathers per-pixel statistics (trend, minimum), the
    second yields processed frames one dF/F window (``secs_window``) at a time;
    memory holds one window of frames and three window baselines. Banding is removed right after the crop, in
    blocks of frames (:class:`ace_neuro.preprocess.banding.DebandedMovie`).

    dF/F baseline: the ``quantile_min`` percentile of each pixel in consecutive
    windows of ``round(secs_window * frame_rate_hz)`` frames, linearly
    interpolated between window centres (CaImAn's ``computeDFF`` uses the same
    windows with cubic interpolation). As in the seed, the movie is first
    offset to be positive (minus its minimum if negative, plus 1 if its minimum
    is then 0).

    Parameters
    ----------
    movie : array_like, shape (T, H, W)
    frame_rate_hz : float
    options : PreprocessOptions
        Crop, banding, detrend and dF/F settings; the default removes banding only where it is measured
        (``remove_banding: auto``), else copies the frames.
    name : str
        How to call the movie in error messages (its path).
    banding : tuple of {'rows', 'columns'}, optional
        The banding to remove, as chosen by :func:`ace_neuro.preprocess.banding.choose_banding`; None: chosen
        here from ``options.remove_banding`` (``'auto'`` measures the cropped movie first).

    Yields
    ------
    frame_slice : slice
        Frames of the (cropped) movie that ``frames`` holds.
    frames : ndarray, shape (n, h, w), float32 with detrend or dF/F, else the input dtype (banding removed:
        rounded to it)

    Raises
    ------
    ValueError
        Bad crop box, constant movie, unknown method, window longer than the movie.
    """
    options = PreprocessOptions() if options is None else options
    n_frames = movie.shape[0]
    cropped = _cropped(movie, options, name)
    if banding is None:
        banding, _ = choose_banding(cropped, options.remove_banding, banding_min_ratio=options.banding_min_ratio)
    if banding:
        cropped = DebandedMovie(cropped, banding)
    method = options.detrend_method
    chunk_frames = chunk_frames_for(cropped.shape[1:], 128.0, 8)
    if not options.changes_values:
        chunks = _rounded_chunks(cropped, movie.dtype, chunk_frames) if banding else _copied_chunks(movie, cropped, chunk_frames)
        yield from _counted(chunks, progress)
        return
    slope, mean_trace = _detrend_statistics(movie, cropped, chunk_frames, method, name)

    def processed(chunk_slice: slice) -> np.ndarray:
        chunk = np.array(cropped[chunk_slice])
        release_pages(movie)
        if method:
            return detrend_chunk(chunk, chunk_slice.start, method, n_frames=n_frames, slope=slope, mean_trace=mean_trace)
        return chunk.astype(np.float32)

    if not options.df_over_f:
        yield from _counted(((s, processed(s)) for s in frame_chunks(n_frames, chunk_frames)), progress)
        return
    window = _window_frames(options.secs_window, frame_rate_hz, n_frames, name)
    offset = _positivity_offset(processed, n_frames, chunk_frames)
    yield from _counted(_df_over_f_windows(processed, n_frames, window, offset, options), progress)


def _counted(
    chunks: Iterator[tuple[slice, np.ndarray]], progress: Progress | None
) -> Iterator[tuple[slice, np.ndarray]]:
    """The ``(frame_slice, frames)`` pairs of ``chunks``, each counted in ``progress`` (frames) before it is yielded."""
    for chunk_slice, frames in chunks:
        if progress is not None:
            progress.update(frames.shape[0])
        yield chunk_slice, frames


def _cropped(movie: np.ndarray, options: PreprocessOptions, name: str) -> np.ndarray:
    """The movie ``(T, H, W)`` cropped to ``crop_coords`` when ``crop`` is on (a view); errors for bad input."""
    if movie.ndim != 3 or movie.shape[0] == 0:
        raise ValueError(f"{name}: expected a movie of shape (T, H, W) with T > 0, got {movie.shape}")
    rows, cols = slice(None), slice(None)
    if options.crop:
        if options.crop_coords is None:
            raise ValueError(f"{name}: crop is on but crop_coords is not set; give 'x0,y0,x1,y1' in the sample sheet")
        rows, cols = crop_slices(parse_crop_coords(options.crop_coords), movie.shape[1:])
    return movie[:, rows, cols]


def _copied_chunks(movie: np.ndarray, cropped: np.ndarray, chunk_frames: int) -> Iterator[tuple[slice, np.ndarray]]:
    """``(frame_slice, frames)`` copies of the cropped movie, ``chunk_frames`` at a time, in the input dtype."""
    for chunk_slice in frame_chunks(cropped.shape[0], chunk_frames):
        chunk = np.array(cropped[chunk_slice])
        release_pages(movie)
        yield chunk_slice, chunk


def _rounded_chunks(movie: DebandedMovie, dtype, chunk_frames: int) -> Iterator[tuple[slice, np.ndarray]]:
    """``(frame_slice, frames)`` of a debanded movie in the recorded ``dtype``: integers rounded and clipped to the
    type's range (the offsets are fractions of a grey level), floats as they are."""
    dtype = np.dtype(dtype)
    for chunk_slice in frame_chunks(movie.shape[0], chunk_frames):
        frames = movie[chunk_slice]
        if np.issubdtype(dtype, np.integer):
            info = np.iinfo(dtype)
            np.rint(frames, out=frames)
            np.clip(frames, info.min, info.max, out=frames)
        yield chunk_slice, frames.astype(dtype)


def _detrend_statistics(
    movie: np.ndarray, cropped: np.ndarray, chunk_frames: int, method: str | None, name: str
) -> tuple[np.ndarray | None, np.ndarray]:
    """First pass: per-pixel slope ``(h, w)`` (``linear``; else None) and mean trace ``(T,)``; error if constant."""
    n_frames = cropped.shape[0]
    slope = None
    mean_trace = np.empty(n_frames, np.float64)
    lo, hi = np.inf, -np.inf
    for chunk_slice in frame_chunks(n_frames, chunk_frames):
        chunk = np.asarray(cropped[chunk_slice], dtype=np.float32)
        mean_trace[chunk_slice] = chunk.mean(axis=(1, 2))
        lo, hi = min(lo, float(chunk.min())), max(hi, float(chunk.max()))
        release_pages(movie)
    check_not_constant(lo, hi, name)
    if method == "linear":
        _, slope = linear_trend(cropped, chunk_frames)
    elif method not in (None, "median"):
        raise ValueError(f"detrend_method {method!r}: expected 'linear', 'median' or null")
    return slope, mean_trace


def _window_frames(secs_window: float, frame_rate_hz: float, n_frames: int, name: str) -> int:
    """Frames in one dF/F window of ``secs_window`` seconds; an error when it is under 1 frame or over the movie."""
    window = int(round(float(secs_window) * frame_rate_hz))
    if window < 1 or window > n_frames:
        raise ValueError(
            f"{name}: secs_window {secs_window} s is {window} frames at {frame_rate_hz:g} Hz, "
            f"but the movie has {n_frames} frames; choose a window between {1 / frame_rate_hz:.3g} s and "
            f"{n_frames / frame_rate_hz:.3g} s"
        )
    return window


def _positivity_offset(processed, n_frames: int, chunk_frames: int) -> float:
    """Offset making the detrended movie positive (minus its minimum if negative, plus 1 if the minimum is then 0)."""
    # as the seed does before computeDFF
    detrended_min = np.inf
    for chunk_slice in frame_chunks(n_frames, chunk_frames):
        detrended_min = min(detrended_min, float(processed(chunk_slice).min()))
    offset = -detrended_min if detrended_min < 0 else 0.0
    if detrended_min + offset == 0:
        offset += 1.0
    return offset


def _df_over_f_windows(
    processed, n_frames: int, window: int, offset: float, options: PreprocessOptions
) -> Iterator[tuple[slice, np.ndarray]]:
    """``(window_slice, dF/F frames)`` per window of ``window`` frames, the baseline interpolated between windows."""
    windows = list(frame_chunks(n_frames, window))
    centres = np.array([(w.start + w.stop - 1) / 2.0 for w in windows])
    baselines: dict[int, np.ndarray] = {}

    def baseline_of(k: int) -> np.ndarray:
        if k not in baselines:
            frames = processed(windows[k]) + np.float32(offset)
            baselines[k] = np.percentile(frames, float(options.quantile_min), axis=0).astype(np.float32)
        return baselines[k]

    for k, window_slice in enumerate(windows):
        neighbours = [j for j in (k - 1, k, k + 1) if 0 <= j < len(windows)]
        frames = processed(window_slice) + np.float32(offset)
        baseline = _interpolated_baseline(
            centres[neighbours], [baseline_of(j) for j in neighbours], window_slice.start,
            np.arange(window_slice.start, window_slice.stop),
        )
        for j in list(baselines):
            if j < k - 1:
                del baselines[j]
        yield window_slice, df_over_f(frames, baseline, options.df_over_f_method)
