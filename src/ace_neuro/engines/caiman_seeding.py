"""Seeding thresholds for CaImAn where ours are ``auto``: our calibration, on the images CaImAn seeds on.

CaImAn needs numbers for ``min_corr`` and ``min_pnr``. Ours default to
``auto``: a calibration against the recording's own sign-flipped movie
(:mod:`ace_neuro.cnmfe.thresholds`). The CaImAn engine runs that same
calibration on the statistics CaImAn's one-photon initialisation
(``init_neurons_corr_pnr``, CaImAn 1.12) computes, so the numbers mean for
CaImAn what they mean for us:

* the movie CaImAn seeds on: ``ssub`` x ``ssub`` pixels and ``tsub`` frames
  averaged (``initialize_components``), with ``gSig / ssub``;
* its filter: the zero-mean Gaussian of width ``gSig[0]`` on a
  ``2 int(2 gSig) + 1`` pixel box (``center_psf``), or the plain Gaussian;
* its peak-to-noise ratio: the filtered movie's peak over its mean, divided by
  the (unwindowed) periodogram noise of the band 0.25-0.5 cycles per frame
  (:func:`caiman_noise`);
* its correlation image: the 8-neighbour correlation of the filtered movie
  zeroed below ``thresh_init`` (2) times the noise (ours: 3).

CaImAn multiplies the ``min_pnr`` it is given by ``sqrt(ssub^2 tsub)`` before
comparing it with the downsampled movie's ratios (``greedyROI_corr``), so the
calibrated value is divided by that factor before CaImAn gets it.

The filtered, downsampled movie is held in memory (``4 T h w / (tsub ssub^2)``
bytes), as CaImAn's initialisation itself does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable

import numpy as np

from ..cnmfe.filters import center_psf_kernel, downsample_frames, filter_frames
from ..cnmfe.init import CorrelationAccumulator, SeedImages, seed_mask
from ..cnmfe.params import CnmfeOptions
from ..cnmfe.thresholds import SeedThresholds, is_auto, resolve_thresholds

__all__ = ["CaimanSeeding", "caiman_noise", "caiman_seed_geometry", "caiman_seed_images", "calibrate_for_caiman"]

_DEFAULTS = CnmfeOptions()

#: CaImAn's threshold (in noise units) below which the filtered movie is zeroed for the correlation image.
CAIMAN_THRESH_INIT = 2.0

#: CaImAn's noise band for the seeding images (``get_noise_fft`` defaults, cycles per frame).
CAIMAN_NOISE_RANGE = (0.25, 0.5)


@dataclass(frozen=True)
class CaimanSeeding:
    """The seeding thresholds CaImAn runs with, and how they were obtained.

    Attributes
    ----------
    min_corr, min_pnr : float
        What CaImAn is given (``min_pnr`` as CaImAn takes it, before its ``sqrt(ssub^2 tsub)``).
    pnr_scale : float
        ``sqrt(ssub^2 tsub)``: CaImAn compares ``pnr_scale * min_pnr`` with its downsampled movie's ratios.
    thresholds : SeedThresholds
        The calibration on CaImAn's seeding images (``min_pnr`` there is ``pnr_scale`` times CaImAn's).
    """

    min_corr: float
    min_pnr: float
    pnr_scale: float
    thresholds: SeedThresholds

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (``params.json``)."""
        return {"min_corr": round(float(self.min_corr), 4), "min_pnr": round(float(self.min_pnr), 3),
                "pnr_scale": round(float(self.pnr_scale), 4), "calibration": self.thresholds.as_dict()}

    def decisions(self) -> list[str]:
        """Each ``auto`` replaced, in words (the log's warnings and ``params.json``'s ``caiman_decisions``)."""
        thr = self.thresholds
        out = []
        if thr.auto_corr:
            out.append(f"min_corr: 'auto' -> {self.min_corr:g}, calibrated as our engine does (false seed rate "
                       f"{thr.false_seed_rate:g}) on CaImAn's own seeding images")
        if thr.auto_pnr:
            out.append(f"min_pnr: 'auto' -> {self.min_pnr:.3g} as CaImAn takes it ({thr.min_pnr:.3g} on its seeding "
                       f"images, which are {self.pnr_scale:.3g}x less noisy after ssub / tsub), calibrated as our "
                       "engine does")
        return out + [f"seeding thresholds: {w}" for w in thr.warnings]


def caiman_seed_geometry(gSig, gSiz, ssub: int) -> tuple[float, int, int]:
    """CaImAn's seeding ``gSig``, filter box and ``gSiz`` at the seeding resolution (one value for both axes).

    CaImAn divides ``gSig`` (a float) and ``gSiz`` (rounded) by ``ssub`` and
    filters with the first axis' values on a ``2 int(2 gSig) + 1`` box.

    Examples
    --------
    >>> caiman_seed_geometry([3, 3], [13, 13], 1)
    (3.0, 13, 13)
    >>> caiman_seed_geometry([5, 5], [21, 21], 2)
    (2.5, 11, 10)
    """
    g_sig = float(gSig[0]) / int(ssub)
    return g_sig, int(2 * g_sig) * 2 + 1, int(round(float(gSiz[0]) / int(ssub)))


def caiman_noise(traces: np.ndarray, band=CAIMAN_NOISE_RANGE, max_samples: int = 3072) -> np.ndarray:
    """Noise level of each trace as CaImAn's ``get_noise_fft`` (``noise_method='mean'``) measures it.

    The plain periodogram ``|DFT|^2 / T`` averaged over the frequencies in
    ``band`` ``(low, high]`` cycles per frame, square-rooted; traces longer than
    ``max_samples`` frames are measured on three pieces of a third of that
    (start, middle, end), as CaImAn does. Ours (:func:`ace_neuro.cnmfe.noise.trace_noise`)
    windows the periodogram, which reads a few per cent higher on short movies,
    enough to move a threshold at the edge of CaImAn's seeding.

    Parameters
    ----------
    traces : ndarray, shape (K, T)
    band : (float, float)
        Frequencies (cycles per frame) holding only noise: CaImAn's default for its seeding images, whatever
        ``noise_range`` says (CaImAn's initialisation does not read it).
    max_samples : int

    Returns
    -------
    ndarray, shape (K,), float64
    """
    traces = np.asarray(traces, dtype=np.float64)
    n = traces.shape[-1]
    if n > max_samples:
        third, middle = max_samples // 3, n // 2
        traces = np.concatenate([traces[:, 1:third + 1], traces[:, int(middle - third / 2):int(middle + third / 2)],
                                 traces[:, -third:]], axis=-1)
        n = traces.shape[-1]
    freqs = np.arange(n // 2 + 1) / n
    inside = (freqs > band[0]) & (freqs <= band[1])
    power = np.abs(np.fft.rfft(traces, axis=-1)[:, inside]) ** 2 / n
    return np.sqrt(power.mean(axis=-1))


def _thresholded_correlation(filtered: np.ndarray, noise: np.ndarray, *, sign: float, thresh: float,
                             chunk_frames: int) -> np.ndarray:
    """Correlation image of ``sign * filtered / noise`` zeroed below ``thresh``, in chunks of frames."""
    acc = CorrelationAccumulator(filtered.shape[1:])
    for t0 in range(0, filtered.shape[0], chunk_frames):
        z = filtered[t0:t0 + chunk_frames] * np.float32(sign) / noise
        z[z < thresh] = 0.0
        acc.update(z)
    return acc.result()


def caiman_seed_images(frames: np.ndarray, gSig: float, ksize: int, *, center_psf: bool = _DEFAULTS.center_psf,
                       thresh_init: float = CAIMAN_THRESH_INIT, threads: int = 1) -> SeedImages:
    """CaImAn's seeding images of a (downsampled) movie, and those of its sign-flipped copy (the null).

    Parameters
    ----------
    frames : ndarray, shape (T, h, w)
        The movie at CaImAn's seeding resolution (float32; not modified).
    gSig : float
        Gaussian width of the seeding filter (pixels, at that resolution).
    ksize : int
        Side of the filter's box (pixels, odd).
    center_psf : bool
        Zero-mean filter (one-photon), else the plain Gaussian.
    thresh_init : float
        Noise units below which the movie is zeroed for the correlation images.
    threads : int
        Threads for the filtering.

    Returns
    -------
    SeedImages
        ``cn``, ``pnr``, ``cn_null``, ``pnr_null``, ``mean`` and ``noise``, each ``(h, w)`` float32.
    """
    kernel = center_psf_kernel((gSig, gSig), (ksize, ksize), center_psf)
    filtered = filter_frames(frames, kernel, threads)
    n_frames, h, w = filtered.shape
    mean = filtered.mean(axis=0, dtype=np.float64).astype(np.float32)
    filtered -= mean
    flat = filtered.reshape(n_frames, h * w)
    block = max(1, (64 << 20) // (16 * max(n_frames, 1)))  # pixels per periodogram block: ~64 MB of spectrum
    noise = np.concatenate([caiman_noise(flat[:, i:i + block].T) for i in range(0, h * w, block)]
                           ).reshape(h, w).astype(np.float32)
    noise = np.where(noise > 0, noise, np.inf).astype(np.float32)
    chunk = max(1, (32 << 20) // (4 * h * w))
    images = SeedImages(
        cn=_thresholded_correlation(filtered, noise, sign=1.0, thresh=thresh_init, chunk_frames=chunk),
        pnr=np.maximum(filtered.max(axis=0) / noise, 0.0).astype(np.float32),
        mean=mean, noise=np.where(np.isfinite(noise), noise, 0.0).astype(np.float32),
    )
    images.cn_null = _thresholded_correlation(filtered, noise, sign=-1.0, thresh=thresh_init, chunk_frames=chunk)
    images.pnr_null = np.maximum(-filtered.min(axis=0) / noise, 0.0).astype(np.float32)
    return images


def _downsampled_movie(chunks: Callable[[], Iterable[np.ndarray]], ssub: int, tsub: int) -> np.ndarray:
    """The movie averaged over ``ssub`` x ``ssub`` pixels and ``tsub`` frames (chunks of whole ``tsub`` groups)."""
    return np.concatenate([downsample_frames(frames, ssub, tsub) for frames in chunks()], axis=0)


def calibrate_for_caiman(chunks: Callable[[], Iterable[np.ndarray]], options: CnmfeOptions, *, border: int = 0,
                         threads: int = 1) -> CaimanSeeding | None:
    """The ``min_corr`` / ``min_pnr`` to give CaImAn for ``auto`` ones (None when both are numbers).

    Parameters
    ----------
    chunks : callable
        Returns an iterator over the motion-corrected movie's ``(L, H, W)``
        float32 chunks, each a multiple of ``tsub`` frames but the last.
    options : CnmfeOptions
        With numeric ``gSig`` / ``gSiz`` (measured first where ``auto``).
    border : int
        Pixels at the edges where no seed may lie (full resolution).
    threads : int

    Returns
    -------
    CaimanSeeding or None
    """
    seeding = options.seeding
    if not (is_auto(seeding.min_corr) or is_auto(seeding.min_pnr)):
        return None
    if isinstance(seeding.gSig, str) or isinstance(seeding.gSiz, str):
        raise ValueError("calibrate_for_caiman needs numeric gSig / gSiz (measure them first)")
    ssub, tsub = int(seeding.ssub), int(seeding.tsub)
    g_sig, ksize, g_siz = caiman_seed_geometry(seeding.gSig, seeding.gSiz, ssub)
    movie = _downsampled_movie(chunks, ssub, tsub)
    images = caiman_seed_images(movie, g_sig, ksize, center_psf=bool(seeding.center_psf), threads=threads)
    del movie
    eligible = seed_mask(images.cn.shape, int(np.ceil(int(border) / ssub)))
    scale = float(np.sqrt(ssub * ssub * tsub))
    on_images = seeding.min_pnr if is_auto(seeding.min_pnr) else float(seeding.min_pnr) * scale  # CaImAn's scaling
    thr = resolve_thresholds(seeding.min_corr, on_images, images, gSig=(g_sig, g_sig), gSiz=(g_siz, g_siz),
                             false_seed_rate=seeding.seed_false_rate, eligible=eligible)
    min_pnr = thr.min_pnr / scale if thr.auto_pnr else float(seeding.min_pnr)
    return CaimanSeeding(min_corr=float(thr.min_corr), min_pnr=float(min_pnr), pnr_scale=scale, thresholds=thr)
