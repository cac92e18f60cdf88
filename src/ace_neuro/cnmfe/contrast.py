"""Peak contrast: does a component's footprint stand out of its surroundings in the movie at its own peaks?

A soma that lights up at its transients is brighter than the ring around it in the frames of its peaks; a patch
of neuropil, the overlap of neighbours or a slow field-wide signal lights up with its surroundings. The **peak
contrast** of a component is measured on the movie minus its median image (the median over at most
``n_median_frames`` evenly spaced frames), averaged over the frames around its ``n_peaks`` largest peaks of ``C``
(:func:`~ace_neuro.cnmfe.rvalues.peak_frames`): the mean over its core (pixels at or above 30 % of the footprint's
peak) minus the mean over a ring 3-8 px outside the core, divided by the standard deviation of the ring's values.

Used by the evaluate step (``min_peak_contrast``, off by default): a component that fails only the SNR floor (its
SNR lies above what noise alone passes, the length-aware floor, but at or below ``SNR_lowest``), passes the
r-value rule and no other rule rejected is accepted when its peak contrast exceeds ``min_peak_contrast``
(benchmarks/real.md, "Session 12: real somata under the SNR floor").
"""

from __future__ import annotations

import numpy as np
import scipy.ndimage
import scipy.sparse

from ace_neuro.cnmfe.reader import MovieSource
from ace_neuro.cnmfe.rvalues import peak_frames

__all__ = ["core_ring_contrast", "peak_contrasts"]

#: Core: pixels at or above this fraction of the footprint's peak.
_CORE_LEVEL = 0.3
#: The ring lies between these many pixels (dilations) outside the core.
_RING_INNER, _RING_OUTER = 3, 8


def core_ring_contrast(footprint: np.ndarray, peak_image: np.ndarray) -> float:
    """Core mean minus ring mean of ``peak_image``, over the ring's standard deviation.

    Parameters
    ----------
    footprint : ndarray, shape (H, W)
        The component's footprint (any non-negative scale).
    peak_image : ndarray, shape (H, W)
        The movie minus its median image, averaged over the component's peak frames (movie units).

    Returns
    -------
    float
        Dimensionless; 0 for an empty footprint, a ring of fewer than 2 pixels or a flat ring.

    Examples
    --------
    >>> yy, xx = np.mgrid[:41, :41]
    >>> blob = np.exp(-((yy - 20) ** 2 + (xx - 20) ** 2) / 20.0)
    >>> noise = np.random.default_rng(0).normal(0, 0.1, (41, 41))
    >>> bool(core_ring_contrast(blob, blob + noise) > 5), bool(abs(core_ring_contrast(blob, noise)) < 1)
    (True, True)
    """
    footprint = np.asarray(footprint, np.float64)
    peak_image = np.asarray(peak_image, np.float64)
    if not footprint.max(initial=0.0) > 0:
        return 0.0
    core = footprint >= _CORE_LEVEL * footprint.max()
    ring = (scipy.ndimage.binary_dilation(core, iterations=_RING_OUTER)
            & ~scipy.ndimage.binary_dilation(core, iterations=_RING_INNER))
    if ring.sum() < 2:
        return 0.0
    spread = float(peak_image[ring].std())
    return float((peak_image[core].mean() - peak_image[ring].mean()) / spread) if spread > 0 else 0.0


def _box(footprint: np.ndarray) -> tuple[int, int, int, int]:
    """Rows and columns ``(r0, r1, c0, c1)`` holding the core and its ring, clipped to the frame."""
    rows, cols = np.nonzero(footprint >= _CORE_LEVEL * footprint.max())
    h, w = footprint.shape
    margin = _RING_OUTER + 1
    return (max(int(rows.min()) - margin, 0), min(int(rows.max()) + margin + 1, h),
            max(int(cols.min()) - margin, 0), min(int(cols.max()) + margin + 1, w))


def peak_contrasts(A: scipy.sparse.spmatrix, C: np.ndarray, dims: tuple[int, int], movie: MovieSource,
                   components: np.ndarray, *, frame_rate: float, n_peaks: int = 5,
                   n_median_frames: int = 100) -> np.ndarray:
    """Peak contrast (:func:`core_ring_contrast`) of each of ``components``, in one pass over the movie.

    Parameters
    ----------
    A : sparse matrix, shape (H*W, K)
        Footprints, pixel ``row + col * H``.
    C : ndarray, shape (K, T)
        Denoised traces (their peaks choose the frames).
    dims : (H, W)
    movie : MovieSource
        The movie the fit ran on (``T`` frames).
    components : ndarray of int, shape (n,)
    frame_rate : float
        Hz (the window around each peak, CaImAn's r-value window).
    n_peaks, n_median_frames : int
        Peaks averaged; frames of the median image (evenly spaced).

    Returns
    -------
    ndarray of float64, shape (n,)
    """
    components = np.asarray(components, np.int64)
    if components.size == 0:
        return np.zeros(0)
    h, w = dims
    n_frames = movie.n_frames
    A = scipy.sparse.csc_matrix(A)
    footprints = [A[:, k].toarray().reshape((h, w), order="F") for k in components]
    boxes = [_box(f) if f.max() > 0 else (0, 1, 0, 1) for f in footprints]
    # pixel indices (row + col * h) of each box, column-major like the movie's rows
    pixels = [(np.arange(r0, r1)[:, None] + np.arange(c0, c1)[None, :] * h).ravel(order="F")
              for r0, r1, c0, c1 in boxes]
    frames = peak_frames(C[components], frame_rate, n_peaks)
    median_frames = np.unique(np.linspace(0, n_frames - 1, min(int(n_median_frames), n_frames)).astype(np.int64))
    sums = [np.zeros(p.size) for p in pixels]
    samples = [np.empty((p.size, median_frames.size), np.float32) for p in pixels]
    for start, stop, chunk in movie.read_chunks(movie.chunk_frames(64.0)):
        in_median = median_frames[(median_frames >= start) & (median_frames < stop)]
        for i, p in enumerate(pixels):
            peak = frames[i][(frames[i] >= start) & (frames[i] < stop)]
            if peak.size:
                sums[i] += chunk[np.ix_(p, peak - start)].sum(axis=1)
            if in_median.size:
                at = np.searchsorted(median_frames, in_median)
                samples[i][:, at] = chunk[np.ix_(p, in_median - start)]
    out = np.zeros(components.size)
    for i, (r0, r1, c0, c1) in enumerate(boxes):
        if frames[i].size == 0:
            continue
        shape = (r1 - r0, c1 - c0)
        peak_image = (sums[i] / frames[i].size - np.median(samples[i], axis=1)).reshape(shape, order="F")
        out[i] = core_ring_contrast(footprints[i][r0:r1, c0:c1], peak_image)
    return out
