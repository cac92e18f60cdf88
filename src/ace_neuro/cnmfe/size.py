"""The neuron size of a recording, for ``gSig: auto`` (and ``gSiz: auto`` = ``4 gSig + 1``).

``gSig`` is the half-size of a neuron: the seeding filter's width and the
scale every later step assumes. Set too small (3 px for cells 15-20 px
across), seeding finds each cell's brightest core, splits large cells and
misses dim ones; set too large, neighbours merge. The parameter aid measures
it as the half-width at half maximum (HWHM) of the footprints it finds; here
it is measured before any fit, on the movie itself:

1. the **peak image**: per pixel, the largest value of the movie averaged
   over ``tsub`` frames and smoothed over ``smooth_frames`` more, minus the
   pixel's temporal median (one streaming pass). Neurons are the bright
   blobs of this image; the slow background and its fluctuations are removed
   by the median and by step 2.
2. **scale selection** (after Lindeberg 1998): the Laplacian of Gaussian
   ``-LoG_s`` of the peak image for ``s`` from 1 to 12 px, each scale divided
   by its robust spread over the image (so noise, whose fine-scale response
   is the largest, weighs the same at every scale) finds the blobs: the
   ``n_blobs`` strongest local maxima that stand out of noise
   (``min_strength``); the scale-normalised ``-s^2 LoG_s`` gives each blob's
   scale, the ``s`` where it peaks (a Gaussian blob's own standard deviation). For a Gaussian blob of standard deviation ``s`` the
   response peaks at ``s``, whose HWHM is ``sqrt(2 ln 2) s = 1.18 s``.
3. ``gSig`` = the HWHM of the blobs' median scale, rounded (at least 1); fewer than ``MIN_BLOBS`` (5) blobs
   are no measurement: gSig 3 (CaImAn's demo value) with a warning, as when none stands out.
   Checked on MiniAn's real demo (6.8 px, gSig 7, where MiniAn's own
   footprints have a median HWHM of 6.0 px) and on simulations (2.4 px,
   gSig 2, where the simulated somata have 2.8 px: noise sharpens dim ones).

A median at the ends of the scale range is reported as a warning (the cells
may be larger or smaller than this can measure).

References
----------
Lindeberg T. (1998) Feature detection with automatic scale selection.
International Journal of Computer Vision 30:79-116.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any, Callable, Iterable

import numpy as np
import scipy.ndimage as ndi

from ..pools import map_threads
from ..progress import Progress

__all__ = [
    "NeuronSize", "peak_image", "PeakImage", "window_peak", "estimate_neuron_size", "gsiz_for", "resolve_neuron_size",
]

logger = logging.getLogger(__name__)

#: Scales (standard deviations, pixels) of the Laplacian-of-Gaussian search.
SCALES = tuple(float(s) for s in np.arange(1.0, 12.01, 0.25))
#: Fewer blobs than this are no measurement (the median of one or two blobs is whatever they are: a dim recording
#: whose only blob is a noise speck gave gSig 1 and no seed at all, benchmarks/sweep.md): gSig 3 with a warning.
MIN_BLOBS = 5
#: HWHM of a Gaussian blob of standard deviation 1.
_HWHM_PER_SIGMA = float(np.sqrt(2.0 * np.log(2.0)))


@dataclass(frozen=True)
class NeuronSize:
    """What :func:`estimate_neuron_size` found.

    Attributes
    ----------
    gSig : int
        Suggested half-size (pixels, the peak image's resolution).
    median_hwhm_px : float
        Median half-width at half maximum of the blobs.
    n_blobs : int
        Blobs measured.
    warnings : tuple of str
    """

    gSig: int
    median_hwhm_px: float
    n_blobs: int
    warnings: tuple = ()

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["median_hwhm_px"] = round(float(self.median_hwhm_px), 2)
        out["warnings"] = list(self.warnings)
        return out


def gsiz_for(gSig: int) -> int:
    """CaImAn's one-photon box size for a half-size: ``4 gSig + 1``."""
    return 4 * int(gSig) + 1


def peak_image(chunks: Callable[[], Iterable[np.ndarray]], dims: tuple[int, int], *,
               smooth_frames: int = 5) -> np.ndarray:
    """Largest value of each pixel (over a running mean of ``smooth_frames``) minus its temporal median.

    Parameters
    ----------
    chunks : callable
        Returns an iterator over ``(L, h, w)`` float32 frame chunks (called once).
    dims : (h, w)
    smooth_frames : int
        Frames of the running mean that damps single-frame noise before the maximum.

    Returns
    -------
    ndarray, shape (h, w), float32

    Notes
    -----
    The median is that of a subsample of at most 400 frames spread over the recording (memory ``400 h w``
    floats), so the pass streams. :class:`PeakImage` does the work on pixels-by-frames chunks.
    """
    h, w = dims
    acc = PeakImage(h * w, smooth_frames=smooth_frames)
    for frames in chunks():
        frames = np.asarray(frames, np.float32)
        acc.update(frames.reshape(len(frames), h * w).T)  # (pixels in C order, frames): a view
    return acc.result().reshape(h, w)


def window_peak(pixels: np.ndarray, smooth_frames: int, block: int = 2048) -> np.ndarray | None:
    """Per pixel, the largest mean of ``smooth_frames`` consecutive frames of ``pixels`` ``(n_pixels, L)``.

    Each window is summed directly, left to right in float64, so its mean is the same wherever the chunks of
    a movie are cut (the windows across a cut are :class:`PeakImage`'s). ``block`` pixels at a time, in cache.

    Returns
    -------
    ndarray, shape (n_pixels,), float32, or None when ``L < smooth_frames``.
    """
    pixels = np.asarray(pixels, np.float32)
    s = max(1, int(smooth_frames))
    n_windows = pixels.shape[1] - s + 1
    if n_windows < 1:
        return None
    out = np.empty(pixels.shape[0], np.float32)
    for p0 in range(0, pixels.shape[0], block):
        part = pixels[p0:p0 + block]
        sums = part[:, :n_windows].astype(np.float64)
        for j in range(1, s):
            sums += part[:, j:j + n_windows]
        # the maximum before the division: rounding is monotone, so it is the maximum of the means
        out[p0:p0 + block] = (sums.max(axis=1) / s).astype(np.float32)
    return out


class PeakImage:
    """Streaming :func:`peak_image` of ``(n_pixels, L)`` pixels-by-frames chunks (any pixel order).

    Per pixel: the largest mean of ``smooth_frames`` consecutive frames, minus
    the median of a subsample of at most 400 frames spread over the
    recording. The windows inside a chunk are :func:`window_peak`'s (which
    the threads reading the chunks can compute, ``update(best=)``); those
    across the cut from the chunk before are added here, from its last
    ``smooth_frames - 1`` frames.

    Parameters
    ----------
    n_pixels : int
    smooth_frames : int
    block : int
        Pixels per block of the window sums.
    """

    def __init__(self, n_pixels: int, *, smooth_frames: int = 5, block: int = 2048) -> None:
        self.smooth = max(1, int(smooth_frames))
        self.block = max(1, int(block))
        self.peak = np.full(int(n_pixels), -np.inf, np.float32)
        self.tail = np.zeros((int(n_pixels), 0), np.float32)
        self.sample: list[np.ndarray] = []

    def update(self, pixels: np.ndarray, best: np.ndarray | None = None) -> None:
        """Add frames, ``(n_pixels, L)`` float32; ``best``: their :func:`window_peak`, if already computed."""
        pixels = np.asarray(pixels, np.float32)
        s = self.smooth
        for peak in (window_peak(pixels, s, self.block) if best is None else best,
                     window_peak(np.concatenate([self.tail, pixels[:, :s - 1]], axis=1), s, self.block)
                     if self.tail.shape[1] else None):
            if peak is not None:
                np.maximum(self.peak, peak, out=self.peak)
        if s > 1:  # the frames a window across the next cut can start in; copies: a view keeps its chunk alive
            joined = np.concatenate([self.tail, pixels[:, -(s - 1):]], axis=1)
            self.tail = joined[:, -(s - 1):].copy()
        # copies: the sample spans the recording, and views would keep every chunk alive (memory grew with it)
        self.sample.extend(pixels[:, j].copy() for j in range(0, pixels.shape[1], max(1, pixels.shape[1] // 4)))
        if len(self.sample) > 400:
            self.sample = self.sample[::2]

    def result(self, threads: int = 1) -> np.ndarray:
        """``(n_pixels,)`` float32: the peak minus the median, in the chunks' pixel order.

        The median by blocks of pixels (no second copy of the whole sample), shared by ``threads``
        threads: each block's values are its own, so the image is the same for any number.
        """
        if not self.sample:
            raise ValueError("peak_image: the movie has no frames")
        n = self.peak.size
        out = np.empty(n, np.float32)
        fallback = not np.isfinite(self.peak).all()  # fewer frames than smooth_frames

        def block(p0: int) -> None:
            part = np.stack([frame[p0:p0 + 65536] for frame in self.sample])
            peak = np.max(part, axis=0) if fallback else self.peak[p0:p0 + 65536]
            out[p0:p0 + 65536] = peak - np.median(part, axis=0)

        map_threads(block, range(0, n, 65536), threads)
        return out


def _standardised(response: np.ndarray) -> np.ndarray:
    """``response`` over its robust spread (median absolute deviation): equal footing for noise at every scale."""
    spread = float(np.median(np.abs(response - np.median(response))))
    return response / spread if spread > 0 else np.zeros_like(response)


def estimate_neuron_size(image: np.ndarray, *, n_blobs: int = 100, border: int = 0,
                         min_strength: float = 10.0, threads: int = 1) -> NeuronSize:
    """``gSig`` from the blobs of a peak image (module docstring).

    Parameters
    ----------
    image : ndarray, shape (h, w)
        :func:`peak_image` of the movie.
    n_blobs : int
        Strongest blobs measured.
    border : int
        Pixels at the edges where no blob is taken.
    min_strength : float
        Weakest blob measured, in robust spreads of its scale's response (10 is about 7 standard
        deviations: noise does not reach it).
    threads : int
        Threads sharing the scales (each computed alone: the same result for any number).

    Returns
    -------
    NeuronSize

    Examples
    --------
    >>> yy, xx = np.mgrid[0:96, 0:96]
    >>> centres = [(20, 20), (60, 30), (40, 70), (75, 75), (20, 60), (70, 10)]
    >>> img = sum(np.exp(-((yy - r) ** 2 + (xx - c) ** 2) / (2 * 4.0 ** 2)) for r, c in centres)
    >>> estimate_neuron_size(img).gSig
    5
    """
    img = np.nan_to_num(np.asarray(image, np.float64))
    laplacians = np.empty((len(SCALES),) + img.shape)

    def at_scale(i: int) -> np.ndarray:
        laplacians[i] = -ndi.gaussian_laplace(img, SCALES[i], mode="nearest")
        return _standardised(laplacians[i])

    best = np.max(map_threads(at_scale, range(len(SCALES)), threads), axis=0)  # where blobs stand out of noise
    normalised = laplacians * np.square(SCALES)[:, None, None]  # peaks at a Gaussian blob's own scale
    local_max = (best == ndi.maximum_filter(best, size=5, mode="nearest")) & (best >= min_strength)
    if border > 0:
        local_max[:border] = local_max[-border:] = False
        local_max[:, :border] = local_max[:, -border:] = False
    rows, cols = np.nonzero(local_max)
    warnings = []
    if rows.size < MIN_BLOBS:
        found = "no blob stands" if rows.size == 0 else f"only {rows.size} blob(s) (fewer than {MIN_BLOBS}) stand"
        return NeuronSize(3, float("nan"), int(rows.size), (f"{found} out of the peak image: gSig 3 (CaImAn's demo "
                                                            "value) used; set gSig by hand (the parameter aid shows "
                                                            "the sizes)",))
    order = np.argsort(-best[rows, cols])[: int(n_blobs)]
    sigmas = np.asarray(SCALES)[normalised[:, rows[order], cols[order]].argmax(axis=0)]
    median_sigma = float(np.median(sigmas))
    hwhm = median_sigma * _HWHM_PER_SIGMA
    g = max(1, int(round(hwhm)))
    if median_sigma <= SCALES[0] or median_sigma >= SCALES[-1]:
        warnings.append(f"median blob scale {median_sigma:g} px is at the end of the search ({SCALES[0]:g}-{SCALES[-1]:g} "
                        "px): set gSig by hand (the parameter aid shows the sizes)")
    return NeuronSize(g, hwhm, int(order.size), tuple(warnings))


def resolve_neuron_size(source, options, *, border: int = 0, log=None, threads: int = 1):
    """``options`` with ``gSig`` / ``gSiz`` ``"auto"`` replaced by numbers, and what was measured.

    Parameters
    ----------
    source : ace_neuro.cnmfe.reader.MovieSource
        The motion-corrected movie (read once, ``tsub`` frames averaged, when ``gSig`` is ``"auto"``).
    options : ace_neuro.cnmfe.params.CnmfeOptions
    border : int
        Pixels at the edges where no blob is measured.
    log : logging.Logger, optional
        Gets the measurement (info) and its warnings.
    threads : int
        Threads reading and averaging chunks ahead, then sharing the peak image's medians and the scales.

    Returns
    -------
    options : CnmfeOptions
        With numeric ``gSig`` and ``gSiz`` (``gSiz = 4 gSig + 1`` where it was ``"auto"``).
    size : NeuronSize or None
        The measurement (None when ``gSig`` was a number).

    Raises
    ------
    ValueError
        A configured ``gSiz`` smaller than the measured ``gSig``.
    """
    from .passes import time_mean

    seeding = options.seeding
    size = None
    g_sig = seeding.gSig
    if isinstance(g_sig, str):
        if isinstance(seeding.tsub, str):
            raise ValueError("cnmfe: tsub 'auto' is set from the frame rate before the neuron size is measured "
                             "(ace_neuro.cnmfe.params.resolve_tsub)")
        tsub = int(seeding.tsub)
        chunk = source.chunk_frames(float(options.cnmfe_chunk_mb))
        peak = PeakImage(source.n_pixels)

        def averaged(y: np.ndarray, t0: int, t1: int) -> tuple[np.ndarray, np.ndarray | None]:
            x = time_mean(y, tsub) if tsub > 1 else y
            return x, window_peak(x, peak.smooth, peak.block)

        # pixels-by-frames chunks (pixel row + col*h), averaged over tsub frames, and the peaks of the windows
        # inside each chunk, by the reading threads
        progress = Progress(source.n_frames, "cnmfe gSig auto", log or logger, interval_s=30.0)
        for t0, t1, (pixels, best) in source.read_chunks(chunk, tsub, averaged, workers=threads):
            peak.update(pixels, best)
            progress.update(t1 - t0)
        h, w = source.dims
        image = peak.result(threads).reshape(w, h).T
        size = estimate_neuron_size(image, border=int(border), threads=threads)
        largest = max(1, (min(source.dims) - 1) // 4)  # gSiz = 4 gSig + 1 must fit in the frame
        if size.gSig > largest:
            size = NeuronSize(largest, size.median_hwhm_px, size.n_blobs, size.warnings + (
                f"measured gSig {size.gSig} px does not fit a {source.dims[0]}x{source.dims[1]} frame with gSiz = "
                f"4 gSig + 1: gSig {largest} used",))
        g_sig = (size.gSig, size.gSig)
        if log is not None:
            log.info("cnmfe: gSig auto: %d px (median half-width at half maximum %.2f px of %d blobs of the peak "
                     "image)", size.gSig, size.median_hwhm_px, size.n_blobs)
            for warning in size.warnings:
                log.warning("cnmfe: gSig auto: %s", warning)
    g_siz = seeding.gSiz
    if isinstance(g_siz, str):
        g_siz = (gsiz_for(g_sig[0]), gsiz_for(g_sig[1]))
    if g_siz[0] < g_sig[0] or g_siz[1] < g_sig[1]:
        raise ValueError(f"cnmfe: gSiz {list(g_siz)} is smaller than gSig {list(g_sig)} (measured on the movie); "
                         "set gSiz to 'auto' (4*gSig+1) or larger")
    return options.replace(gSig=[int(v) for v in g_sig], gSiz=[int(v) for v in g_siz]), size
