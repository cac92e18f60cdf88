"""Correlation / peak-to-noise seeding and initialisation of CNMF-E, streamed over frames.

The movie used for seeding (raw data, or later the residual of the model) is
spatially filtered frame by frame (:func:`ace_neuro.cnmfe.filters.center_psf_kernel`).
Two streaming passes give, per pixel of the filtered movie ``F``:

* pass 1: the temporal mean, the maximum, and the noise level ``sn_F``
  (Welch power spectrum, see :mod:`.noise`);
* pass 2: the local correlation image ``Cn``: the mean Pearson correlation
  of each pixel with its 8 neighbours, computed on ``(F - mean) / sn_F`` with
  values below 3 set to 0 (so only transients count), as CaImAn's
  ``correlation_pnr``.

``PNR = (max - mean) / sn_F``. Seeds are the local maxima of ``Cn * PNR``
where ``Cn >= min_corr`` and ``PNR >= min_pnr``, strongest first; with
``"auto"`` thresholds the same statistics of the sign-flipped movie are
computed too and the thresholds calibrated on them (:mod:`.thresholds`). A third pass
extracts, for every seed at once, its filtered centre trace ``c`` and the
median of the raw data on the border of its ``gSiz`` box (a local background
proxy ``y_bg``), and accumulates the regression of every box pixel on
``[c, y_bg, 1]``; the coefficient of ``c`` is the initial footprint. All
accumulators are sums over frames, so memory does not depend on the
recording length (except the ``K x T`` traces).

References
----------
Zhou P, et al. (2018). Efficient and accurate extraction of in vivo calcium
signals from microendoscopic video data. eLife 7:e28728.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable

import numpy as np
import scipy.ndimage as ndi

from .filters import center_psf_kernel, filter_at, filter_frames, reflect_index
from .noise import WelchNoise
from .reader import ChunkCache
from ace_neuro.cnmfe.params import CnmfeOptions

#: The declared defaults of the keywords named like a parameter (each default is written once, in CnmfeOptions).
_DEFAULTS = CnmfeOptions()

__all__ = [
    "SeedImages",
    "CorrelationAccumulator",
    "correlation_pnr_images",
    "find_seeds",
    "seed_mask",
    "InitialComponents",
    "extract_components",
    "extraction_pixels",
]

_NEIGHBOUR_OFFSETS = ((0, 1), (1, -1), (1, 0), (1, 1))


class CorrelationAccumulator:
    """Streaming local correlation with the 8 neighbours of each pixel.

    Feed ``(L, h, w)`` frames with :meth:`update`; :meth:`result` gives the
    ``(h, w)`` mean correlation of each pixel with its 8 neighbours (fewer at
    the border; pixels with zero variance have correlation 0).
    """

    def __init__(self, dims: tuple[int, int]) -> None:
        self.dims = tuple(dims)
        self.n = 0
        self.s1 = np.zeros(dims, np.float64)
        self.s2 = np.zeros(dims, np.float64)
        self.cross = {o: np.zeros(dims, np.float64) for o in _NEIGHBOUR_OFFSETS}

    def update(self, frames: np.ndarray) -> None:
        z = np.asarray(frames, dtype=np.float32)
        self.n += z.shape[0]
        self.s1 += z.sum(axis=0, dtype=np.float64)
        self.s2 += np.einsum("tij,tij->ij", z, z, dtype=np.float64)
        h, w = self.dims
        for (dy, dx), acc in self.cross.items():
            a, b = _pair_slices(h, w, dy, dx)
            acc[a] += np.einsum("tij,tij->ij", z[(slice(None),) + a], z[(slice(None),) + b], dtype=np.float64)

    def update_exceeding(self, z: np.ndarray, threshold: float = 3.0, sign: int = 1) -> None:
        """:meth:`update` with ``sign * z`` where it reaches ``threshold`` and 0 elsewhere, at the cost of those values.

        The same sums as ``update(np.where(sign * z >= threshold, sign * z, 0))`` (added in another order,
        in float64): only the values that pass, and the neighbour pairs where both pass, are visited.
        Seeding's ``z`` (in noise units, cut at 3) passes in a small fraction of its values.

        Parameters
        ----------
        z : ndarray, shape (L, h, w), float32
        threshold : float
        sign : {1, -1}
            -1: the sign-flipped movie (the null images of :mod:`.thresholds`).
        """
        h, w = self.dims
        n_pixels = h * w
        flat = np.asarray(z, dtype=np.float32).reshape(-1)
        hit = flat >= threshold if sign > 0 else flat <= -threshold  # -z >= t exactly when z <= -t
        idx = np.flatnonzero(hit)
        values = flat[idx].astype(np.float64)
        if sign < 0:
            np.negative(values, out=values)
        pixel = idx % n_pixels
        self.n += z.shape[0]
        self.s1 += np.bincount(pixel, values, minlength=n_pixels).reshape(h, w)
        self.s2 += np.bincount(pixel, values * values, minlength=n_pixels).reshape(h, w)
        rows, cols = pixel // w, pixel % w
        for (dy, dx), acc in self.cross.items():
            inside = np.flatnonzero((rows < h - dy) & (cols + dx >= 0) & (cols + dx < w))
            partner = idx[inside] + (dy * w + dx)
            both = hit[partner]
            inside, partner = inside[both], partner[both]
            products = values[inside] * flat[partner].astype(np.float64)
            if sign < 0:
                np.negative(products, out=products)
            acc += np.bincount(pixel[inside], products, minlength=n_pixels).reshape(h, w)

    def result(self) -> np.ndarray:
        h, w = self.dims
        n = max(self.n, 1)
        mean = self.s1 / n
        sd = np.sqrt(np.maximum(self.s2 / n - mean ** 2, 0.0))
        total = np.zeros((h, w))
        count = np.zeros((h, w))
        for (dy, dx), acc in self.cross.items():
            a, b = _pair_slices(h, w, dy, dx)
            denom = sd[a] * sd[b]
            cov = acc[a] / n - mean[a] * mean[b]
            corr = np.divide(cov, denom, out=np.zeros_like(cov), where=denom > 1e-12)
            total[a] += corr
            total[b] += corr
            count[a] += 1
            count[b] += 1
        return (total / np.maximum(count, 1)).astype(np.float32)


def _pair_slices(h: int, w: int, dy: int, dx: int) -> tuple[tuple[slice, slice], tuple[slice, slice]]:
    """Slices ``a`` and ``b`` with ``b`` the neighbour of ``a`` at offset (dy, dx) (dy >= 0)."""
    rows_a, rows_b = slice(0, h - dy), slice(dy, h)
    if dx >= 0:
        cols_a, cols_b = slice(0, w - dx), slice(dx, w)
    else:
        cols_a, cols_b = slice(-dx, w), slice(0, w + dx)
    return (rows_a, cols_a), (rows_b, cols_b)


@dataclass
class SeedImages:
    """Images of the filtered movie used for seeding (all ``(h, w)`` float32).

    Attributes
    ----------
    cn : local correlation image.
    pnr : peak-to-noise ratio image.
    mean, noise : temporal mean and noise level of the filtered movie.
    cn_null, pnr_null : the same statistics of the sign-flipped filtered movie
        (``null_images=True``): what noise and background alone give, since calcium
        transients are positive (see :mod:`.thresholds`).
    thresholds : SeedThresholds, optional
        The thresholds seeds were found with (set by the caller).
    gSig, gSiz : list, optional
        The filter geometry of these images, when the caller records it (the wide scale's).
    wide : SeedImages, optional
        The same images at the wide seeding scale (:mod:`.wide_seeding`), when it was used.
    seeds : ndarray, shape (n, 2), optional
        The seeds taken from these images, when the caller records them (the wide scale's).
    """

    cn: np.ndarray
    pnr: np.ndarray
    mean: np.ndarray
    noise: np.ndarray
    cn_null: np.ndarray | None = None
    pnr_null: np.ndarray | None = None
    thresholds: Any = None
    gSig: Any = None
    gSiz: Any = None
    wide: Any = None
    seeds: Any = None


def correlation_pnr_images(
    chunks: Callable[[], Iterable[np.ndarray]],
    dims: tuple[int, int],
    gSig,
    gSiz,
    center_psf: bool = _DEFAULTS.center_psf,
    noise_range=_DEFAULTS.noise_range,
    noise_method: str = _DEFAULTS.noise_method,
    n_frames: int | None = None,
    threads: int = 1,
    scratch_dir: str | None = None,
    cache: bool = True,
    null_images: bool = False,
    kernel: np.ndarray | None = None,
) -> SeedImages:
    """Correlation and peak-to-noise images of the filtered movie, in two streaming passes.

    Parameters
    ----------
    chunks : callable
        Returns a fresh iterator over ``(L, h, w)`` float32 frame chunks (called twice).
    dims : (h, w)
    gSig, gSiz : (int, int)
        Filter width and size (pixels, at the resolution of the frames).
    center_psf : bool
        Zero-mean filter (one-photon) or plain Gaussian.
    noise_range, noise_method
        Noise estimation, see :mod:`.noise`.
    n_frames : int, optional
        Total frames (sets the noise segment length); counted if omitted.
    threads : int
        Threads for the filtering and the FFTs.
    scratch_dir : str, optional
        Folder for the filtered movie written by the first pass and read by
        the second (``4 h w n_frames`` bytes, removed before returning); the
        system's temporary folder by default.
    cache : bool
        False: filter the frames again in the second pass instead (no scratch disk).
    null_images : bool
        Also compute ``cn_null`` and ``pnr_null`` on the sign-flipped movie (the
        null distribution of :func:`ace_neuro.cnmfe.thresholds.seeding_thresholds`).
    kernel : ndarray, shape (kh, kw), optional
        The filter; by default ``center_psf_kernel(gSig, gSiz, center_psf)`` (another one:
        :func:`ace_neuro.cnmfe.binned_seeding.block_kernel`, on block-averaged frames).

    Returns
    -------
    SeedImages
    """
    if kernel is None:
        kernel = center_psf_kernel(gSig, gSiz, center_psf)
    h, w = dims
    segment = 256 if n_frames is None else int(min(256, n_frames))
    welch = WelchNoise(h * w, segment, noise_range, noise_method, threads)
    expected = None if n_frames is None else 4 * h * w * int(n_frames)
    filtered = ChunkCache(lambda: (filter_frames(frames, kernel, threads) for frames in chunks()), scratch_dir, expected,
                          enabled=cache)
    try:
        return _correlation_pnr(filtered, dims, welch, noise_range, noise_method, null_images)
    finally:
        filtered.close()


def _correlation_pnr(filtered: ChunkCache, dims, welch: WelchNoise, noise_range, noise_method,
                     null_images: bool = False) -> SeedImages:
    """The two passes of :func:`correlation_pnr_images` over the (cached) filtered movie."""
    h, w = dims
    total = np.zeros((h, w), np.float64)
    peak = np.full((h, w), -np.inf, np.float32)
    trough = np.full((h, w), np.inf, np.float32)
    count = 0
    for filt in filtered():
        total += filt.sum(axis=0, dtype=np.float64)
        np.maximum(peak, filt.max(axis=0), out=peak)
        if null_images:
            np.minimum(trough, filt.min(axis=0), out=trough)
        welch.update(filt.reshape(filt.shape[0], -1).T)  # (pixels in C order, frames)
        count += filt.shape[0]
    if welch.count == 0:  # recording shorter than one segment: use what was buffered
        rest = welch.leftover()
        welch = WelchNoise(h * w, rest.shape[1], noise_range, noise_method)
        welch.update(rest)
    mean = (total / max(count, 1)).astype(np.float32)
    noise = welch.result().reshape((h, w))
    noise = np.where(noise > 0, noise, np.inf).astype(np.float32)
    pnr = np.maximum((peak - mean) / noise, 0.0).astype(np.float32)
    corr = CorrelationAccumulator((h, w))
    corr_null = CorrelationAccumulator((h, w)) if null_images else None
    for z in filtered():
        z -= mean
        z /= noise
        corr.update_exceeding(z, 3.0)  # transients only: values below 3 noise levels count as 0
        if corr_null is not None:
            corr_null.update_exceeding(z, 3.0, sign=-1)
    images = SeedImages(cn=corr.result(), pnr=pnr, mean=mean, noise=np.where(np.isfinite(noise), noise, 0.0).astype(np.float32))
    if null_images:
        images.cn_null = corr_null.result()
        images.pnr_null = np.maximum((mean - trough) / noise, 0.0).astype(np.float32)
    return images


def seed_mask(shape: tuple[int, int], border=0) -> np.ndarray:
    """``(h, w)`` bool: pixels that can be seeds, i.e. outside ``border`` (int or (top, bottom, left, right))."""
    top, bottom, left, right = (border,) * 4 if np.isscalar(border) else tuple(border)
    h, w = shape
    ok = np.ones((h, w), bool)
    ok[:int(top)] = False
    if bottom > 0:
        ok[h - int(bottom):] = False
    ok[:, :int(left)] = False
    if right > 0:
        ok[:, w - int(right):] = False
    return ok


def find_seeds(
    cn: np.ndarray,
    pnr: np.ndarray,
    min_corr: float,
    min_pnr: float,
    gSig,
    border=0,
    max_seeds: int | None = None,
    exclude: np.ndarray | None = None,
) -> np.ndarray:
    """Seed pixels: local maxima of ``cn * pnr`` passing both thresholds, strongest first.

    Parameters
    ----------
    cn, pnr : ndarray, shape (h, w)
    min_corr, min_pnr : float
        Thresholds on ``cn`` and ``pnr``.
    gSig : (int, int)
        Neuron half-size; maxima closer than about half of it are one seed.
    border : int or (top, bottom, left, right)
        Pixels at the frame edges that cannot be seeds.
    max_seeds : int, optional
        Keep at most this many.
    exclude : ndarray of bool, shape (h, w), optional
        Pixels that cannot be seeds (e.g. centres of known neurons).

    Returns
    -------
    ndarray, shape (n, 2), int
        ``(row, col)`` of each seed.
    """
    score = np.asarray(cn, np.float64) * np.asarray(pnr, np.float64)
    ok = (cn >= min_corr) & (pnr >= min_pnr) & seed_mask(np.shape(cn), border)
    if exclude is not None:
        ok &= ~exclude
    size = [2 * max(1, int(round(g / 2.0))) + 1 for g in gSig]
    local_max = score == ndi.maximum_filter(score, size=size, mode="nearest")
    rows, cols = np.nonzero(ok & local_max & (score > 0))
    order = np.argsort(-score[rows, cols], kind="stable")
    seeds = np.stack([rows[order], cols[order]], axis=1).astype(np.int64)
    if max_seeds is not None:
        seeds = seeds[: int(max_seeds)]
    return seeds


@dataclass
class InitialComponents:
    """Footprints and traces from :func:`extract_components`.

    Attributes
    ----------
    footprints : list of (ndarray int64, ndarray float32)
        Per component: Fortran pixel indices in the frame and non-negative values.
    traces : ndarray, shape (K, T), float32
        Initial traces (zero baseline, same units as ``footprints`` x traces = data).
    centers : ndarray, shape (K, 2)
    """

    footprints: list
    traces: np.ndarray
    centers: np.ndarray


def _box(center, half, dims):
    r, c = center
    return (max(0, r - half[0]), min(dims[0], r + half[0] + 1), max(0, c - half[1]), min(dims[1], c + half[1] + 1))


def extraction_pixels(dims: tuple[int, int], seeds: np.ndarray, gSiz) -> np.ndarray:
    """The pixels :func:`extract_components` reads: every seed's ``gSiz`` box and its seeding-filter window.

    The extraction pass needs the movie there only, so it can form (and
    transpose) just these pixels of each chunk.

    Parameters
    ----------
    dims : (h, w)
    seeds : ndarray, shape (K, 2), int
        ``(row, col)`` of each seed.
    gSiz : (int, int)
        Box and filter size (pixels, at the resolution of the frames).

    Returns
    -------
    ndarray of bool, shape (h, w)
    """
    h, w = dims
    mask = np.zeros((h, w), bool)
    seeds = np.asarray(seeds, dtype=np.int64).reshape(-1, 2)
    half = [int(v) // 2 for v in gSiz]
    for r0, r1, c0, c1 in (_box(s, half, dims) for s in seeds):
        mask[r0:r1, c0:c1] = True
    # filter_at's window: the kernel's odd size around the seed, reflected at the borders
    kh, kw = (int(v) // 2 * 2 + 1 for v in gSiz)
    for r, c in seeds:
        rows = reflect_index(r + np.arange(kh) - kh // 2, h)
        cols = reflect_index(c + np.arange(kw) - kw // 2, w)
        mask[np.ix_(rows, cols)] = True
    return mask


def extract_components(
    chunks: Callable[[], Iterable[np.ndarray]],
    dims: tuple[int, int],
    seeds: np.ndarray,
    gSig,
    gSiz,
    center_psf: bool,
    n_frames: int,
    filtered_mean: np.ndarray,
    local_background: bool = True,
    keep_fraction: float = 0.2,
) -> InitialComponents:
    """Footprints and traces for all seeds, in one streaming pass.

    For seed ``k`` the trace ``c_k`` is the filtered movie at the seed; every
    pixel of the ``gSiz`` box around it is regressed over time on
    ``[c_k, y_bg, 1]`` (``y_bg``: per-frame median of the box border, the
    local background proxy; omitted if ``local_background`` is false), and the
    non-negative coefficient of ``c_k`` is the footprint, cut at
    ``keep_fraction`` of its peak and to the connected region holding the seed.

    Parameters
    ----------
    chunks : callable
        Fresh iterator over ``(L, h, w)`` float32 frame chunks covering ``n_frames``.
    dims : (h, w)
    seeds : ndarray, shape (K, 2)
    gSig, gSiz, center_psf
        As :func:`correlation_pnr_images`.
    n_frames : int
    filtered_mean : ndarray, shape (h, w)
        Temporal mean of the filtered movie (from the seeding images).
    local_background : bool
    keep_fraction : float

    Returns
    -------
    InitialComponents
    """
    h, w = dims
    seeds = np.asarray(seeds, dtype=np.int64).reshape(-1, 2)
    n_seeds = len(seeds)
    kernel = center_psf_kernel(gSig, gSiz, center_psf)
    half = [int(v) // 2 for v in gSiz]
    boxes = [_box(s, half, dims) for s in seeds]
    n_reg = 3 if local_background else 2
    xtx = np.zeros((n_seeds, n_reg, n_reg), np.float64)
    xty = [np.zeros((n_reg, (b[1] - b[0]) * (b[3] - b[2])), np.float64) for b in boxes]
    traces = np.zeros((n_seeds, n_frames), np.float32)
    t0 = 0
    for frames in chunks():
        n = frames.shape[0]
        # the filtered movie is needed only at the seeds
        centre = filter_at(frames, kernel, seeds) - filtered_mean[seeds[:, 0], seeds[:, 1]]  # (n, K)
        traces[:, t0:t0 + n] = centre.T
        for k, (r0, r1, c0, c1) in enumerate(boxes):
            box = frames[:, r0:r1, c0:c1]
            cols = [centre[:, k].astype(np.float64)]
            if local_background:
                border = np.concatenate(
                    [box[:, 0, :], box[:, -1, :], box[:, 1:-1, 0], box[:, 1:-1, -1]], axis=1
                )
                cols.append(np.median(border, axis=1).astype(np.float64))
            cols.append(np.ones(n))
            x = np.stack(cols, axis=0)  # (n_reg, n)
            xtx[k] += x @ x.T
            xty[k] += x @ box.transpose(0, 2, 1).reshape(n, -1)
        t0 += n
    footprints = []
    keep = []
    for k, (r0, r1, c0, c1) in enumerate(boxes):
        gram = xtx[k] + 1e-9 * np.trace(xtx[k]) * np.eye(n_reg)
        coef = np.linalg.solve(gram, xty[k])[0]
        img = np.maximum(coef, 0.0).reshape((c1 - c0, r1 - r0)).T
        img = _core_region(img, (seeds[k, 0] - r0, seeds[k, 1] - c0), keep_fraction)
        if img is None:
            continue
        rr, cc = np.nonzero(img)
        idx = (rr + r0) + (cc + c0) * h
        order = np.argsort(idx)
        footprints.append((idx[order].astype(np.int64), img[rr, cc][order].astype(np.float32)))
        keep.append(k)
    keep = np.asarray(keep, dtype=np.int64)
    traces = traces[keep]
    traces -= np.median(traces, axis=1, keepdims=True) if len(keep) else 0.0
    np.maximum(traces, 0.0, out=traces)
    return InitialComponents(footprints=footprints, traces=traces, centers=seeds[keep])


def _core_region(img: np.ndarray, centre: tuple[int, int], keep_fraction: float) -> np.ndarray | None:
    """``img`` cut at ``keep_fraction`` of its max, keeping the connected region at ``centre``."""
    peak = img.max()
    if not np.isfinite(peak) or peak <= 0:
        return None
    mask = img >= keep_fraction * peak
    labels, _ = ndi.label(mask)
    label = labels[centre]
    if label == 0:
        # the seed pixel itself fell below the cut: take the region holding the maximum nearest to it
        return None
    return np.where(labels == label, img, 0.0)
