"""Row and column banding of a sensor: measured, and removed frame by frame.

CMOS sensors read out row by row; a row (or a column, through its amplifier) can be offset as a whole in one frame,
by a different amount in the next (temporal row noise; the wireless Miniscope's link adds its own). A correlated
offset along a whole row is what CNMF-E's local-correlation seeding and ring background are worst at: it looks
like a line of pixels that fluctuate together.

The offsets are estimated on each frame minus a reference image: the median over time of the frames of its block
(``window_frames`` consecutive frames), so that cells, vessels and the background's spatial structure are in the
reference and not in the offsets; that block median is itself freed of its own offsets against the recording's
median image, so that banding lasting longer than a block (a wireless Miniscope's lasts seconds) goes too. A row's offset is the median over the row of ``frame - reference`` (robust to the
few cells a row crosses), minus the median of the frame's row offsets (the frame's overall level is kept: a whole
frame brighter is not banding). Columns are then measured the same way on what the rows leave.

Whether a recording has banding is measured against what independent pixel noise predicts: the median of ``n``
independent pixels of noise sd ``sigma`` varies with sd ``1.2533 * sigma / sqrt(n)``; the ratio of the measured
root-mean-square offset to that figure is about 1 without banding (more where neighbouring pixels are correlated,
as after a median filter or lossy compression) and far above it with banding. The measurement uses the offsets'
rough part (each minus the running median of 15 neighbouring rows' offsets), so that smooth changes (uneven
background fluctuations, motion against the reference) do not count as banding; the removal takes out the whole
offsets, since real banding (a wireless Miniscope's) has power at every scale along the rows.

Every block is processed on its own, so the result does not depend on how the movie is read in chunks.
"""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np

from ace_neuro.io.movie import release_pages
from ace_neuro.preprocess.params import PreprocessOptions

_DEFAULTS = PreprocessOptions()

__all__ = [
    "BANDING_AXES",
    "frame_blocks",
    "band_offsets",
    "rough_offsets",
    "remove_band_offsets",
    "reference_image",
    "debanded_block",
    "measure_banding",
    "choose_banding",
    "DebandedMovie",
]

#: Which offsets each ``remove_banding`` value removes.
BANDING_AXES = {"off": (), "rows": ("rows",), "columns": ("columns",), "both": ("rows", "columns")}

#: sd of the median of n Gaussian samples, times sqrt(n) / sigma, for large n (sqrt(pi / 2)).
_MEDIAN_SD_FACTOR = float(np.sqrt(np.pi / 2.0))


def frame_blocks(n_frames: int, window_frames: int) -> list[slice]:
    """Consecutive blocks of about ``window_frames`` frames covering ``0 .. n_frames``, none shorter than half of it.

    The last short block is merged into the one before, so every reference image is the median of at least
    ``window_frames // 2`` frames (all of them when the movie is shorter than a window).

    Examples
    --------
    >>> frame_blocks(9, 4)
    [slice(0, 4, None), slice(4, 9, None)]
    >>> frame_blocks(3, 4)
    [slice(0, 3, None)]
    """
    if n_frames < 1 or window_frames < 1:
        raise ValueError(f"frame_blocks: n_frames {n_frames} and window_frames {window_frames} must be >= 1")
    starts = list(range(0, n_frames, window_frames))
    if len(starts) > 1 and n_frames - starts[-1] < window_frames / 2:
        starts.pop()
    stops = starts[1:] + [n_frames]
    return [slice(a, b) for a, b in zip(starts, stops)]


def band_offsets(frames: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each frame's row and column offsets against a reference image, and what remains.

    A row's offset is the median over the row of ``frame - reference``, minus the median of the frame's row
    offsets (the frame's overall level is kept: a whole frame brighter is not banding). Columns are measured the
    same way on what the rows leave.

    Parameters
    ----------
    frames : ndarray, shape (n, H, W)
    reference : ndarray, shape (H, W)
        Image without banding (the median of the frames over time).

    Returns
    -------
    rows : ndarray of float32, shape (n, H)
        Row offsets (grey levels), 0 in the median over each frame's rows.
    columns : ndarray of float32, shape (n, W)
        Column offsets of what the rows leave, centred the same way.
    residual : ndarray of float32, shape (n, H, W)
        ``frames - reference`` minus the row and column offsets and the frame's level: the pixel noise, cells'
        transients and what moved.
    """
    reference = np.asarray(reference, dtype=np.float32)
    residual = _without_motion(np.asarray(frames, dtype=np.float32) - reference, reference)
    offsets = np.median(residual, axis=2)
    residual -= offsets[:, :, None]  # the frame's level goes with the rows' offsets
    rows = offsets - np.median(offsets, axis=1, keepdims=True)
    offsets = np.median(residual, axis=1)
    residual -= offsets[:, None, :]
    columns = offsets - np.median(offsets, axis=1, keepdims=True)
    return rows.astype(np.float32), columns.astype(np.float32), residual


def _without_motion(residual: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``residual`` (n, H, W) = frames - reference minus, per frame, its least-squares fit by the gradients of the
    reference smoothed over 2 px (a constant kept): what a small shift of the frame adds (to first order).

    A frame moved across a structure that runs along the rows (a vessel) differs from the reference by the same sign
    along the whole row, which the median over the row would take for banding.
    """
    if min(reference.shape) < 2:
        return residual
    from scipy.ndimage import gaussian_filter  # noqa: PLC0415 (0.3 CPU s: not when banding is not measured)

    grad_y, grad_x = np.gradient(gaussian_filter(reference, 2.0, mode="nearest"))  # smoothed: not the rows' own pattern
    basis = np.stack([np.ones_like(reference), grad_y, grad_x]).reshape(3, -1).astype(np.float64)
    gram = basis @ basis.T
    if np.linalg.cond(gram) > 1e12:  # a flat reference: nothing to move
        return residual
    flat = residual.reshape(residual.shape[0], -1)
    coefficients = np.linalg.solve(gram, basis @ flat.T.astype(np.float64))  # (3, n)
    motion = (coefficients[1:].T @ basis[1:]).astype(np.float32)  # the constant stays: it is the frame's level
    return (flat - motion).reshape(residual.shape)


def rough_offsets(offsets: np.ndarray, smooth_px: int = 15) -> np.ndarray:
    """Offsets (n, L) minus their running median over ``smooth_px`` along L (edges mirrored), as float32.

    What varies smoothly from row to row (a background that brightens unevenly, a frame moved against the
    reference) is in the running median; independent pixel noise and sensor banding are mostly in what it leaves,
    so the rough part is what :func:`measure_banding` compares with the noise.
    """
    from scipy.ndimage import median_filter  # noqa: PLC0415 (0.3 CPU s: not when banding is not measured)

    smooth = median_filter(offsets.astype(np.float32), size=(1, int(smooth_px)), mode="mirror")
    return (offsets - smooth).astype(np.float32)


def remove_band_offsets(
    frames: np.ndarray, rows: np.ndarray | None = None, columns: np.ndarray | None = None
) -> np.ndarray:
    """``frames`` (n, H, W) minus row offsets (n, H) and column offsets (n, W), as float32 (None: not removed)."""
    out = np.array(frames, dtype=np.float32)
    if rows is not None:
        out -= rows[:, :, None]
    if columns is not None:
        out -= columns[:, None, :]
    return out


def reference_image(movie: np.ndarray, *, max_frames: int = 200) -> np.ndarray:
    """The median image (H, W) of at most ``max_frames`` frames evenly spread over the movie, float32.

    Row banding that lasts (a row brighter for seconds) is in each block's median; this image, the median over the
    whole recording, is what each block's median is compared with (:func:`debanded_block`).
    """
    n_frames = movie.shape[0]
    picked = np.unique(np.linspace(0, n_frames - 1, min(int(max_frames), n_frames)).round().astype(int))
    frames = np.stack([np.asarray(movie[int(t)]) for t in picked])
    release_pages(movie)
    return np.median(frames, axis=0).astype(np.float32)


def debanded_block(frames: np.ndarray, axes: tuple[str, ...], reference: np.ndarray | None = None) -> np.ndarray:
    """One block of frames (n, H, W) with the banding of ``axes`` (``'rows'``, ``'columns'``) removed, float32.

    Each frame's offsets are measured against the block's median image, itself freed of its own offsets against
    ``reference`` (the recording's median image, :func:`reference_image`) when given, so that banding lasting
    longer than the block goes too. Without ``reference`` a block of one frame is returned unchanged (as float32).

    Examples
    --------
    >>> frames = np.zeros((3, 4, 5), np.uint8) + np.uint8(10)
    >>> frames[1, 2] += 6  # row 2 of frame 1 is offset by 6
    >>> debanded_block(frames, ("rows",))[1, 2]
    array([10., 10., 10., 10., 10.], dtype=float32)
    """
    frames = np.asarray(frames)
    block_reference = np.median(frames, axis=0).astype(np.float32)
    if reference is not None:
        rows, columns, _ = band_offsets(block_reference[None], reference)
        block_reference = remove_band_offsets(
            block_reference[None], rows if "rows" in axes else None, columns if "columns" in axes else None
        )[0]
    rows, columns, _ = band_offsets(frames, block_reference)
    return remove_band_offsets(
        frames, rows if "rows" in axes else None, columns if "columns" in axes else None
    )


def _noise_sd(residual: np.ndarray) -> float:
    """Pixel noise sd of a residual centred on 0: 1.4826 x its median absolute value, or, where more than half of
    it is exactly 0 (sparse or coarsely quantised movies), 1.2533 x its mean absolute value (both equal the sd of
    Gaussian noise)."""
    absolute = np.abs(residual)
    mad = float(np.median(absolute))
    return 1.4826 * mad if mad > 0 else 1.2533 * float(np.mean(absolute))


def measure_banding(movie: np.ndarray, *, window_frames: int = 64, max_blocks: int = 12) -> dict[str, Any]:
    """Row and column banding of a movie, against what its pixel noise predicts.

    Reads at most ``max_blocks`` blocks of ``window_frames`` frames, evenly spread over the movie.

    Parameters
    ----------
    movie : array_like, shape (T, H, W)
        A memory map is read one block at a time.
    window_frames : int
        Frames per block (the reference image is the median of its block).
    max_blocks : int
        Blocks measured at most.

    Returns
    -------
    dict
        ``row_rms``, ``column_rms``: root-mean-square of the offsets' rough part (:func:`rough_offsets`, grey
        levels); ``noise_sd``: pixel noise sd of what
        the offsets leave (1.4826 x MAD); ``row_ratio``, ``column_ratio``: the rms offsets over what independent
        noise predicts (``1.2533 * noise_sd / sqrt(W)`` for rows, ``/ sqrt(H)`` for columns); ``frames_measured``.
        Ratios are NaN when the noise is 0 or fewer than 2 frames were measured.
    """
    n_frames, height, width = movie.shape
    blocks = frame_blocks(n_frames, window_frames)
    chosen = np.unique(np.linspace(0, len(blocks) - 1, min(max_blocks, len(blocks))).round().astype(int))
    row_sq = col_sq = 0.0
    noise = []
    measured = 0
    for k in chosen:
        frames = np.asarray(movie[blocks[k]])
        release_pages(movie)
        if frames.shape[0] < 2:
            continue
        rows, columns, residual = band_offsets(frames, np.median(frames, axis=0))
        row_sq += float(np.sum(rough_offsets(rows).astype(np.float64) ** 2))
        col_sq += float(np.sum(rough_offsets(columns).astype(np.float64) ** 2))
        noise.append(_noise_sd(residual))
        measured += frames.shape[0]
    record: dict[str, Any] = {"frames_measured": int(measured), "window_frames": int(window_frames)}
    if measured == 0:
        record.update(row_rms=0.0, column_rms=0.0, noise_sd=0.0, row_ratio=float("nan"), column_ratio=float("nan"))
        return record
    noise_sd = float(np.median(noise))
    row_rms = float(np.sqrt(row_sq / (measured * height)))
    col_rms = float(np.sqrt(col_sq / (measured * width)))
    predicted_row = _MEDIAN_SD_FACTOR * noise_sd / np.sqrt(width)
    predicted_col = _MEDIAN_SD_FACTOR * noise_sd / np.sqrt(height)
    record.update(
        row_rms=round(row_rms, 4),
        column_rms=round(col_rms, 4),
        noise_sd=round(noise_sd, 4),
        row_ratio=round(row_rms / predicted_row, 3) if noise_sd > 0 else float("nan"),
        column_ratio=round(col_rms / predicted_col, 3) if noise_sd > 0 else float("nan"),
    )
    return record


def choose_banding(
    movie: np.ndarray, remove_banding: str = _DEFAULTS.remove_banding, *,
    banding_min_ratio: float = _DEFAULTS.banding_min_ratio, window_frames: int = 64,
) -> tuple[tuple[str, ...], dict[str, Any]]:
    """Which banding to remove from a movie, and the measurement it rests on.

    Parameters
    ----------
    movie : array_like, shape (T, H, W)
    remove_banding : {'auto', 'rows', 'columns', 'both', 'off'}
        ``'auto'``: the rows (columns) whose ``row_ratio`` (``column_ratio``, :func:`measure_banding`) is at least
        ``banding_min_ratio``; ``'off'``: nothing, and the movie is not read.
    banding_min_ratio : float
        Threshold of ``'auto'``.

    Returns
    -------
    axes : tuple of {'rows', 'columns'}
        What to remove (:class:`DebandedMovie`); empty: nothing.
    record : dict
        The measurement (:func:`measure_banding`) with ``remove_banding``, ``banding_min_ratio`` and ``removed``.
    """
    if remove_banding not in BANDING_AXES and remove_banding != "auto":
        raise ValueError(f"remove_banding {remove_banding!r}: expected one of 'auto', {', '.join(map(repr, BANDING_AXES))}")
    record: dict[str, Any] = {"remove_banding": remove_banding, "banding_min_ratio": float(banding_min_ratio)}
    if remove_banding == "off":
        return (), dict(record, removed=[])
    record.update(measure_banding(movie, window_frames=window_frames))
    if remove_banding == "auto":
        ratios = {"rows": record["row_ratio"], "columns": record["column_ratio"]}
        axes = tuple(a for a in ("rows", "columns") if np.isfinite(ratios[a]) and ratios[a] >= banding_min_ratio)
    else:
        axes = BANDING_AXES[remove_banding]
    return axes, dict(record, removed=list(axes))


class DebandedMovie:
    """A ``(T, H, W)`` movie read with its banding removed, block by block (float32 frames).

    Supports ``shape``, ``ndim`` and reading a slice of frames (``movie[a:b]``); each block is computed on its own
    (the last one computed is kept), so a read gives the same frames whatever the chunks asked.

    Parameters
    ----------
    movie : array_like, shape (T, H, W)
    axes : tuple of {'rows', 'columns'}
    window_frames : int
        Frames per block (:func:`frame_blocks`).
    reference_frames : int
        Frames of the recording's median image (:func:`reference_image`), read when the object is made.
    """

    def __init__(self, movie: np.ndarray, axes: tuple[str, ...], *, window_frames: int = 64, reference_frames: int = 200):
        self._movie = movie
        self._axes = tuple(axes)
        self._reference = reference_image(movie, max_frames=reference_frames)
        self._blocks = frame_blocks(movie.shape[0], window_frames)
        self._starts = np.array([b.start for b in self._blocks])
        self._cached: tuple[int, np.ndarray] | None = None
        self.shape = tuple(movie.shape)
        self.ndim = 3
        self.dtype = np.dtype(np.float32)

    def _block(self, k: int) -> np.ndarray:
        if self._cached is None or self._cached[0] != k:
            frames = np.asarray(self._movie[self._blocks[k]])
            release_pages(self._movie)
            self._cached = (k, debanded_block(frames, self._axes, self._reference))
        return self._cached[1]

    def _pieces(self, start: int, stop: int) -> Iterator[np.ndarray]:
        k = int(np.searchsorted(self._starts, start, side="right")) - 1
        while start < stop:
            block = self._blocks[k]
            end = min(stop, block.stop)
            yield self._block(k)[start - block.start : end - block.start]
            start, k = end, k + 1

    def __getitem__(self, index) -> np.ndarray:
        if not isinstance(index, slice) or index.step not in (None, 1):
            raise TypeError("DebandedMovie reads contiguous slices of frames only (movie[a:b])")
        start, stop, _ = index.indices(self.shape[0])
        if stop <= start:
            return np.empty((0,) + self.shape[1:], np.float32)
        return np.concatenate(list(self._pieces(start, stop)), axis=0)

    def __len__(self) -> int:
        return self.shape[0]
