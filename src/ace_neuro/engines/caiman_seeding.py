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

CaImAn's seed search then takes the 3x3 median of ``Cn * PNR`` zeroed where
either threshold fails (``cv2.medianBlur`` in ``init_neurons_corr_pnr``) and
seeds only where it reaches ``min_corr * min_pnr`` (5 of the 9 pixels around
a seed pass both thresholds), and drops a seed whose trace has no sharp rise
(:data:`CAIMAN_MIN_JUMP`). The calibration counts single pixels, as ours;
:func:`caiman_seed_pixels` counts the pixels where CaImAn can start a seed with
the calibrated values (``params.json``: ``seed_pixels``), and none is a warning:
CaImAn's first search then finds nothing (its second search, ``init_iter``, runs
on the residual of its ring background, which is not modelled here). (Calibrating on the 3x3 medians instead was
tried: the same thresholds on the real MiniAn crop, no component either way on
the tiny test recording, whose cells do not stand out of noise on CaImAn's
half-rate images; benchmarks/real.md.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable

import numpy as np
import scipy.ndimage as ndi

from ..cnmfe.filters import center_psf_kernel, downsample_frames, filter_frames
from ..cnmfe.init import CorrelationAccumulator, SeedImages, seed_mask
from ..cnmfe.params import CnmfeOptions
from ..cnmfe.thresholds import SeedThresholds, is_auto, resolve_thresholds

__all__ = ["CaimanSeeding", "caiman_noise", "caiman_seed_geometry", "caiman_jump_ratio", "caiman_seed_images",
           "caiman_seed_pixels", "calibrate_for_caiman"]

_DEFAULTS = CnmfeOptions()

#: CaImAn's threshold (in noise units) below which the filtered movie is zeroed for the correlation image.
CAIMAN_THRESH_INIT = 2.0

#: CaImAn drops a seed whose filtered trace's largest frame-to-frame rise is below this many standard deviations of
#: those differences (``y0.max() < 3 * y0.std()`` in ``init_neurons_corr_pnr``).
CAIMAN_MIN_JUMP = 3.0

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
    seed_pixels: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (``params.json``)."""
        return {"min_corr": round(float(self.min_corr), 4), "min_pnr": round(float(self.min_pnr), 3),
                "pnr_scale": round(float(self.pnr_scale), 4), "seed_pixels": self.seed_pixels,
                "calibration": self.thresholds.as_dict()}

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
        if self.seed_pixels == 0:
            out.append(f"seeding thresholds: no pixel of the movie can start a CaImAn seed at min_corr "
                       f"{self.min_corr:g} and min_pnr {thr.min_pnr:.3g} on CaImAn's seeding images (5 of its 3x3 "
                       "neighbours passing both, and a sharp rise in its trace): CaImAn's first seed search finds "
                       "nothing, and whatever it returns comes from its second search in the residual of its ring "
                       "background, which these thresholds were not calibrated on; set min_corr / min_pnr by hand "
                       "(the parameter aid shows the images) or use our engine")
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
    filtered, mean = _filtered_movie(frames, gSig, ksize, center_psf=center_psf, threads=threads)
    return _images_of_filtered(filtered, mean, thresh_init)


def _filtered_movie(frames: np.ndarray, gSig: float, ksize: int, *, center_psf: bool,
                    threads: int) -> tuple[np.ndarray, np.ndarray]:
    """The movie through CaImAn's seeding filter with its temporal mean removed (T, h, w), and that mean (h, w).

    CaImAn filters with the image's edge pixels replicated (``cv2.filter2D(..., borderType=1)``), ours
    (:func:`~ace_neuro.cnmfe.filters.filter_frames`) reflects them; the frames are padded by replication first, in
    chunks of frames, so the images near the edges are CaImAn's (they differ most there).
    """
    kernel = center_psf_kernel((gSig, gSig), (ksize, ksize), center_psf)
    n_frames, h, w = frames.shape
    pad = ksize // 2
    filtered = np.empty((n_frames, h, w), np.float32)
    chunk = max(1, (64 << 20) // (4 * (h + 2 * pad) * (w + 2 * pad)))
    for t0 in range(0, n_frames, chunk):
        padded = np.pad(frames[t0:t0 + chunk], ((0, 0), (pad, pad), (pad, pad)), mode="edge")
        filtered[t0:t0 + chunk] = filter_frames(padded, kernel, threads)[:, pad:pad + h, pad:pad + w]
    mean = filtered.mean(axis=0, dtype=np.float64).astype(np.float32)
    filtered -= mean
    return filtered, mean


def _images_of_filtered(filtered: np.ndarray, mean: np.ndarray, thresh_init: float) -> SeedImages:
    """:func:`caiman_seed_images` of a movie filtered already (:func:`_filtered_movie`)."""
    n_frames, h, w = filtered.shape
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


def caiman_jump_ratio(filtered: np.ndarray, chunk_frames: int | None = None) -> np.ndarray:
    """The check CaImAn makes of a seed's trace, per pixel: its largest frame-to-frame rise in standard deviations.

    CaImAn (``init_neurons_corr_pnr``) drops a seed whose filtered trace's
    differences have a maximum below :data:`CAIMAN_MIN_JUMP` times their
    standard deviation (no sharp rise: slow background, not a transient).

    Parameters
    ----------
    filtered : ndarray, shape (T, h, w), float32
        The movie through CaImAn's seeding filter.
    chunk_frames : int, optional
        Frames per pass (default: about 32 MB of differences).

    Returns
    -------
    ndarray, shape (h, w), float32
        ``max(diff) / std(diff)`` over time (0 where the differences are constant).

    Examples
    --------
    >>> t = np.zeros((50, 1, 2), np.float32); t[25, 0, 0] = 10.0; t[:, 0, 1] = np.sin(np.arange(50) / 8.0)
    >>> jump = caiman_jump_ratio(t)
    >>> bool(jump[0, 0] > 3), bool(jump[0, 1] > 3)     # a sharp transient passes, a slow wave does not
    (True, False)
    """
    n_frames, h, w = filtered.shape
    if n_frames < 2:
        return np.zeros((h, w), np.float32)
    chunk = chunk_frames or max(1, (32 << 20) // (4 * h * w))
    rise = np.full((h, w), -np.inf)
    total, squares = np.zeros((h, w)), np.zeros((h, w))
    for t0 in range(0, n_frames - 1, chunk):
        t1 = min(t0 + chunk, n_frames - 1)
        diff = (filtered[t0 + 1:t1 + 1] - filtered[t0:t1]).astype(np.float64)
        rise = np.maximum(rise, diff.max(axis=0))
        total += diff.sum(axis=0)
        squares += (diff * diff).sum(axis=0)
    n = n_frames - 1
    sd = np.sqrt(np.maximum(squares / n - (total / n) ** 2, 0.0))
    return np.where(sd > 0, rise / np.where(sd > 0, sd, 1.0), 0.0).astype(np.float32)


def caiman_seed_pixels(cn: np.ndarray, pnr: np.ndarray, min_corr: float, min_pnr: float,
                       eligible: np.ndarray | None = None) -> int:
    """Pixels where CaImAn's seed search can start: 5 or more of their 3x3 neighbours pass both thresholds.

    CaImAn (``init_neurons_corr_pnr``) takes the 3x3 median of ``Cn * PNR``
    zeroed where ``Cn < min_corr`` or ``PNR < min_pnr`` and keeps pixels where
    it is at least ``min_corr * min_pnr``; with both thresholds positive that is
    the same as 5 of the 9 passing (the image's edges replicated).

    Parameters
    ----------
    cn, pnr : ndarray, shape (h, w)
        CaImAn's seeding images (:func:`caiman_seed_images`).
    min_corr, min_pnr : float
        Thresholds on those images (``min_pnr`` as compared there, i.e. after CaImAn's ``sqrt(ssub^2 tsub)``).
    eligible : ndarray of bool, shape (h, w), optional
        Pixels that may be seeds (not in the border).

    Returns
    -------
    int

    Examples
    --------
    >>> cn = np.full((9, 9), 0.9, np.float32); pnr = np.zeros((9, 9), np.float32)
    >>> pnr[4, 4] = 10.0                    # one passing pixel alone: no seed
    >>> caiman_seed_pixels(cn, pnr, 0.8, 5.0)
    0
    >>> pnr[3:6, 3:6] = 10.0                # a 3x3 patch: its centre and edge pixels have 5 or more passing
    >>> caiman_seed_pixels(cn, pnr, 0.8, 5.0)
    5
    """
    passing = ((np.asarray(cn) >= min_corr) & (np.asarray(pnr) >= min_pnr)).astype(np.uint8)
    neighbours = ndi.uniform_filter(passing.astype(np.float32), size=3, mode="nearest") * 9.0
    seedable = neighbours >= 4.5
    if eligible is not None:
        seedable &= np.asarray(eligible, bool)
    return int(np.count_nonzero(seedable))


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
    filtered, mean = _filtered_movie(movie, g_sig, ksize, center_psf=bool(seeding.center_psf), threads=threads)
    del movie
    images = _images_of_filtered(filtered, mean, CAIMAN_THRESH_INIT)
    jump = caiman_jump_ratio(filtered)
    del filtered
    eligible = seed_mask(images.cn.shape, int(np.ceil(int(border) / ssub)))
    scale = float(np.sqrt(ssub * ssub * tsub))
    on_images = seeding.min_pnr if is_auto(seeding.min_pnr) else float(seeding.min_pnr) * scale  # CaImAn's scaling
    thr = resolve_thresholds(seeding.min_corr, on_images, images, gSig=(g_sig, g_sig), gSiz=(g_siz, g_siz),
                             false_seed_rate=seeding.seed_false_rate, eligible=eligible)
    min_pnr = thr.min_pnr / scale if thr.auto_pnr else float(seeding.min_pnr)
    seed_pixels = caiman_seed_pixels(images.cn, images.pnr, thr.min_corr, thr.min_pnr,
                                     eligible & (jump >= CAIMAN_MIN_JUMP))
    return CaimanSeeding(min_corr=float(thr.min_corr), min_pnr=float(min_pnr), pnr_scale=scale, thresholds=thr,
                         seed_pixels=seed_pixels)
