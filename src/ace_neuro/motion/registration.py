"""Subpixel translation between images: estimating the shift (:mod:`.shift` applies it).

Shifts are found at the peak of the cross-correlation of the (high-passed)
frame with the template, computed by FFT, searched only within the allowed
range, then refined to 1/``upsample_factor`` pixel by evaluating the
cross-correlation's DFT on a fine grid in a 1.5-pixel neighbourhood of the
integer peak (matrix-multiply DFT, Guizar-Sicairos et al. 2008), and finally
to a fraction of that step by a parabola through the three best samples.

Conventions (used throughout :mod:`ace_neuro.motion`): a frame whose content
is the template moved by ``d = (dy, dx)`` pixels, ``frame(y, x) =
template(y - dy, x - dx)``, has *displacement* ``d``. The *shift* reported and
applied (CaImAn's ``shifts_rig`` convention) is the correction ``-d``: the
corrected frame is ``frame(y - shift_y, x - shift_x)``.

References
----------
Guizar-Sicairos M, Thurman ST, Fienup JR (2008). Efficient subpixel image
registration algorithms. Optics Letters 33(2):156-158.
Pnevmatikakis EA, Giovannucci A (2017). NoRMCorre: An online algorithm for
piecewise rigid motion correction of calcium imaging data. J Neurosci
Methods 291:83-94.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import scipy.fft
from ace_neuro.motion.params import MotionOptions

#: The declared defaults of the keywords named like a parameter (each default is written once, in MotionOptions).
_DEFAULTS = MotionOptions()

__all__ = [
    "NO_STRUCTURE_PEAK_Z",
    "fft_size",
    "FrameCorrelator",
    "frame_correlator",
    "register_frame",
    "template_spectrum",
    "spectral_band",
    "register_images",
    "estimate_displacement",
]

#: A correlation peak less than this many standard deviations of the whole
#: cross-correlation surface above its mean is not trusted: the frame (or patch)
#: has no structure in common with the template. Pure noise gives about 3-4
#: over a search window; a frame with neurons gives tens to hundreds.
NO_STRUCTURE_PEAK_Z = 6.0

_HALF_WINDOW_PX = 1.0


def template_spectrum(template: np.ndarray) -> np.ndarray:
    """Complex conjugate of the real 2-D FFT of ``template`` (or of a stack of them).

    Parameters
    ----------
    template : numpy.ndarray, shape (..., H, W)
        Real image(s).

    Returns
    -------
    numpy.ndarray of complex64, shape (..., H, W // 2 + 1)
    """
    return np.conj(scipy.fft.rfft2(np.asarray(template, dtype=np.float32))).astype(np.complex64)


def spectral_band(spectra_conj: np.ndarray, energy: float = 0.9999) -> tuple[int, int]:
    """Row and column frequency limits that hold ``energy`` of the templates' power.

    The cross-correlation's spectrum is the frame's times the template's, so
    beyond the template's band it is negligible; the subpixel refinement then
    only needs frequencies ``|k_row| <= K`` and ``k_col <= L``. For a
    high-passed (one-photon) template this is a fraction of the spectrum.

    Parameters
    ----------
    spectra_conj : numpy.ndarray of complex, shape (..., h, w // 2 + 1)
        From :func:`template_spectrum`.
    energy : float
        Fraction of the power to keep, in (0, 1].

    Returns
    -------
    (K, L) : (int, int)
        Largest row frequency (cycles per image) and column frequency kept.
    """
    power = np.abs(spectra_conj.reshape((-1,) + spectra_conj.shape[-2:])) ** 2
    h, w2 = power.shape[-2:]
    row_power = power.sum(axis=(0, 2))
    col_power = power.sum(axis=(0, 1))
    col_power[1:] *= 2.0
    row_freq = np.abs(np.fft.fftfreq(h) * h).astype(int)
    by_row = np.bincount(row_freq, weights=row_power)
    total = by_row.sum()
    if not total > 0:
        return h // 2, w2 - 1
    k = int(np.searchsorted(np.cumsum(by_row) / total, energy)) + 1
    cum_cols = np.cumsum(col_power) / col_power.sum()
    l_max = int(np.searchsorted(cum_cols, energy)) + 1
    return min(k, h // 2), min(l_max, w2 - 1)


def register_images(
    spectra_conj: np.ndarray,
    images: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    upsample_factor: int = 10,
    band: tuple[int, int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Displacements of a stack of images relative to their templates.

    Parameters
    ----------
    spectra_conj : numpy.ndarray of complex64, shape (N, h, w // 2 + 1)
        :func:`template_spectrum` of the N templates.
    images : numpy.ndarray, shape (N, h, w)
        Images to register, real.
    lower, upper : numpy.ndarray of float, shape (N, 2)
        Allowed displacement range (rows, cols) in pixels for each image;
        ``upper - lower`` must be below the image size.
    upsample_factor : int
        Precision of the DFT refinement is ``1 / upsample_factor`` pixel
        (then refined further by a parabola).
    band : (int, int), optional
        :func:`spectral_band` of the templates: the refinement uses only these
        frequencies (faster, same result within the kept energy).

    Returns
    -------
    displacement : numpy.ndarray of float64, shape (N, 2)
        ``(dy, dx)`` such that ``image(y, x) ~ template(y - dy, x - dx)``.
    peak_z : numpy.ndarray of float64, shape (N,)
        Height of the correlation peak in standard deviations of the whole
        correlation surface; compare with :data:`NO_STRUCTURE_PEAK_Z`. Zero for
        a constant image.
    """
    images = np.asarray(images, dtype=np.float32)
    n, h, w = images.shape
    product = scipy.fft.rfft2(images, axes=(-2, -1)) * spectra_conj
    corr = scipy.fft.irfft2(product, s=(h, w), axes=(-2, -1))
    lower = np.asarray(lower, dtype=np.float64).reshape(n, 2)
    upper = np.asarray(upper, dtype=np.float64).reshape(n, 2)
    flat = corr.reshape(n, -1)
    mean = flat.mean(axis=1)
    std = flat.std(axis=1)
    # Integer search windows [ceil(lower), floor(upper)] (the midpoint when empty),
    # gathered for all images at once; positions past an image's own window are masked.
    first = np.ceil(lower).astype(int)
    last = np.floor(upper).astype(int)
    empty = np.any(last < first, axis=1)
    middle = np.round(0.5 * (lower + upper)).astype(int)
    first[empty], last[empty] = middle[empty], middle[empty]
    size = last - first + 1
    rows = first[:, 0, None] + np.arange(size[:, 0].max())[None, :]  # (n, K)
    cols = first[:, 1, None] + np.arange(size[:, 1].max())[None, :]  # (n, L)
    window = corr[np.arange(n)[:, None, None], (rows % h)[:, :, None], (cols % w)[:, None, :]].astype(np.float64)
    outside = (rows > last[:, 0, None])[:, :, None] | (cols > last[:, 1, None])[:, None, :]
    window[outside] = -np.inf
    best = window.reshape(n, -1).argmax(axis=1)
    r, c = np.divmod(best, window.shape[2])
    idx = np.arange(n)
    coarse = np.stack([rows[idx, r], cols[idx, c]], axis=1).astype(np.float64)
    valid = (std > 0) & np.isfinite(std)
    peak_z = np.where(valid, (window[idx, r, c] - mean) / np.where(valid, std, 1.0), 0.0)
    fine = _refine(product, coarse, (h, w), int(upsample_factor), band)
    fine = np.clip(fine, lower, upper)
    return fine, peak_z


def _refine(
    product: np.ndarray, coarse: np.ndarray, shape: tuple[int, int], upsample_factor: int, band: tuple[int, int] | None
) -> np.ndarray:
    """Upsampled DFT of the cross-power spectra around the coarse peaks (batched)."""
    h, w = shape
    freq_rows = np.fft.fftfreq(h) * h
    freq_cols = np.arange(w // 2 + 1, dtype=np.float64)
    if band is not None:
        k_max, l_max = int(band[0]), int(band[1])
        rows = np.flatnonzero(np.abs(freq_rows) <= k_max)
        product = product[:, rows, : l_max + 1]
        freq_rows, freq_cols = freq_rows[rows], freq_cols[: l_max + 1]
    return _refine_band(product, freq_rows, freq_cols, coarse, shape, upsample_factor)


def _column_weights(freq_cols: np.ndarray, w: int) -> np.ndarray:
    """Weights of the half-spectrum columns in a real signal: 2, except column 0 (and w/2) once."""
    weights = np.full(freq_cols.shape, 2.0)
    weights[freq_cols == 0] = 1.0
    if w % 2 == 0:
        weights[freq_cols == w // 2] = 1.0
    return weights


def _refine_band(
    product: np.ndarray, freq_rows: np.ndarray, freq_cols: np.ndarray, coarse: np.ndarray,
    shape: tuple[int, int], upsample_factor: int,
) -> np.ndarray:
    """Upsampled DFT of band-limited cross-power spectra (N, rows, cols) around the coarse peaks.

    The kernel ``exp(2 pi i (c + o) f / n)`` factors into a per-image phase
    ``exp(2 pi i c f / n)`` (applied to the spectrum) and a shared one for the
    offsets ``o`` of the fine grid, so all N images go through two matrix
    products.
    """
    h, w = shape
    if upsample_factor <= 1:
        return coarse.astype(np.float64)
    n_images = coarse.shape[0]
    half = int(math.ceil(_HALF_WINDOW_PX * upsample_factor))
    offsets = np.arange(-half, half + 1, dtype=np.float64) / upsample_factor
    m = offsets.size
    freq_rows = np.asarray(freq_rows, dtype=np.float64)
    freq_cols = np.asarray(freq_cols, dtype=np.float64)
    weights = _column_weights(freq_cols, w)
    phase_rows = np.exp(2j * np.pi * coarse[:, 0, None] * freq_rows[None, :] / h).astype(np.complex64)
    phase_cols = (weights[None, :] * np.exp(2j * np.pi * coarse[:, 1, None] * freq_cols[None, :] / w)).astype(np.complex64)
    base_rows = np.exp(2j * np.pi * offsets[:, None] * freq_rows[None, :] / h).astype(np.complex64)  # (m, R)
    base_cols = np.exp(2j * np.pi * freq_cols[:, None] * offsets[None, :] / w).astype(np.complex64)  # (C, m)
    shifted = product.astype(np.complex64, copy=False) * phase_rows[:, :, None] * phase_cols[:, None, :]  # (N, R, C)
    n_rows, n_cols = freq_rows.size, freq_cols.size
    by_rows = base_rows @ shifted.transpose(1, 0, 2).reshape(n_rows, n_images * n_cols)  # (m, N*C)
    by_rows = by_rows.reshape(m, n_images, n_cols).transpose(1, 0, 2).reshape(n_images * m, n_cols)
    upsampled = (by_rows @ base_cols).real.reshape(n_images, m, m)
    peak = upsampled.reshape(n_images, -1).argmax(axis=1)
    r, c = np.divmod(peak, m)
    idx = np.arange(n_images)
    centre = upsampled[idx, r, c]
    dr = _parabola_vertices(upsampled[idx, np.maximum(r - 1, 0), c], centre, upsampled[idx, np.minimum(r + 1, m - 1), c])
    dc = _parabola_vertices(upsampled[idx, r, np.maximum(c - 1, 0)], centre, upsampled[idx, r, np.minimum(c + 1, m - 1)])
    dr = np.where((r > 0) & (r < m - 1), dr, 0.0)
    dc = np.where((c > 0) & (c < m - 1), dc, 0.0)
    out = np.empty((n_images, 2), dtype=np.float64)
    out[:, 0] = coarse[:, 0] + offsets[r] + dr / upsample_factor
    out[:, 1] = coarse[:, 1] + offsets[c] + dc / upsample_factor
    return out


def _parabola_vertices(left: np.ndarray, centre: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Vertex offsets (in grid steps, within +-0.5) of parabolas through three samples; 0 where not a maximum."""
    left, centre, right = (np.asarray(v, dtype=np.float64) for v in (left, centre, right))
    denom = left - 2.0 * centre + right
    safe = np.where(denom < 0, denom, -1.0)
    return np.where(denom < 0, np.clip(0.5 * (left - right) / safe, -0.5, 0.5), 0.0)


# ----------------------------------------------------------------------------- one frame, OpenCV FFT


def fft_size(n: int) -> int:
    """Smallest length >= ``n`` of the form ``2^a``, ``3 * 2^a`` or ``5 * 2^a`` (a >= 1): fast and even.

    OpenCV's transforms are several times faster on such lengths than on
    lengths with a large prime factor (608 = 2^5 * 19 -> 640).

    Examples
    --------
    >>> fft_size(608), fft_size(256), fft_size(600), fft_size(700)
    (640, 256, 640, 768)
    """
    n = int(n)
    if n < 1:
        raise ValueError(f"fft_size needs a positive length, got {n}")
    best = None
    for base in (2, 6, 10):
        size = base
        while size < n:
            size *= 2
        best = size if best is None else min(best, size)
    return int(best)


@dataclass(frozen=True)
class FrameCorrelator:
    """A template prepared for registering single frames with OpenCV's real FFT (see :func:`frame_correlator`)."""

    shape: tuple[int, int]  # frame (h, w)
    padded: tuple[int, int]  # transform size (H, W), both even
    template_ccs: np.ndarray  # (H, W) float32, OpenCV CCS spectrum of the padded template
    band_rows: np.ndarray  # (r,) int: spectrum rows kept by the refinement
    freq_rows: np.ndarray  # (r,) float64: their signed frequencies
    l_max: int  # highest column frequency kept


def frame_correlator(template: np.ndarray, energy: float = 0.999, margin: tuple[int, int] = (0, 0)) -> FrameCorrelator:
    """Prepare ``template`` for :func:`register_frame`.

    Only the template's interior, ``margin`` pixels in from each edge, takes
    part (minus its mean; zero outside): for every displacement up to
    ``margin`` it then overlaps the frame entirely, so the cross-correlation
    sums over the same number of pixels at every candidate shift. With the
    whole template the overlap shrinks as the shift grows, which pulls the
    peak towards zero shift (by about 0.006 px per pixel of shift on 256-pixel
    frames). Template and frames are zero-padded to :func:`fft_size` in each
    dimension (a fast transform length).

    Parameters
    ----------
    template : numpy.ndarray, shape (h, w)
        Real image (high-passed for one-photon data).
    energy : float
        Fraction of the template's power the subpixel refinement keeps
        (:func:`spectral_band`).
    margin : (int, int)
        Rows and columns left out at each edge: the largest displacement that
        will be searched (``max_shifts``); clipped so that at least half the
        template remains.

    Returns
    -------
    FrameCorrelator
    """
    template = np.asarray(template, dtype=np.float32)
    if template.ndim != 2 or min(template.shape) < 2:
        raise ValueError(f"template must be a 2-D image of at least 2x2 pixels, got shape {template.shape}")
    h, w = template.shape
    big_h, big_w = fft_size(h), fft_size(w)
    interior = _interior(template, margin)
    padded = cv2.copyMakeBorder(interior, 0, big_h - h, 0, big_w - w, cv2.BORDER_CONSTANT, value=0.0)
    ccs = cv2.dft(padded)
    # The band is measured on the unpadded template (the padding's edge spreads the
    # padded spectrum) and scaled to the padded frequency grid.
    k_max, l_max = spectral_band(template_spectrum(interior), energy)
    k_max = math.ceil(k_max * big_h / h)
    freq = np.fft.fftfreq(big_h) * big_h
    rows = np.flatnonzero(np.abs(freq) <= k_max)
    l_max = min(math.ceil(l_max * big_w / w), big_w // 2 - 1)
    return FrameCorrelator((h, w), (big_h, big_w), ccs, rows, freq[rows], l_max)


def _interior(template: np.ndarray, margin: tuple[int, int]) -> np.ndarray:
    """``template`` minus the mean of its interior, zero within ``margin`` of the edges (float32)."""
    h, w = template.shape
    my = min(max(0, int(margin[0])), h // 4)
    mx = min(max(0, int(margin[1])), w // 4)
    out = np.zeros((h, w), np.float32)
    inside = template[my: h - my, mx: w - mx]
    out[my: h - my, mx: w - mx] = inside - np.float32(cv2.mean(inside)[0])
    return out


def _pad(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``image`` minus its mean, zero-padded at the bottom and right to ``size`` (float32)."""
    mean = float(cv2.mean(image)[0])
    h, w = image.shape
    return cv2.copyMakeBorder(image, 0, size[0] - h, 0, size[1] - w, cv2.BORDER_CONSTANT, value=mean) - np.float32(mean)


def _ccs_band(ccs: np.ndarray, rows: np.ndarray, l_max: int) -> np.ndarray:
    """Complex half spectrum ``Y[rows, 0..l_max]`` from OpenCV's packed CCS layout (even sizes, l_max < W/2)."""
    big_h = ccs.shape[0]
    out = np.empty((rows.size, l_max + 1), np.complex64)
    if l_max > 0:
        out[:, 1:].real = ccs[rows, 1: 2 * l_max: 2]
        out[:, 1:].imag = ccs[rows, 2: 2 * l_max + 1: 2]
    # Column 0 is packed down the first column: Re Y00, Re Y10, Im Y10, ..., Re Y(H/2)0.
    col = ccs[:, 0]
    half = np.empty(big_h // 2 + 1, np.complex64)
    half[0] = col[0]
    half[1: big_h // 2] = col[1: big_h - 1: 2] + 1j * col[2: big_h - 1: 2]
    half[big_h // 2] = col[big_h - 1]
    k = np.where(rows <= big_h // 2, rows, big_h - rows)
    out[:, 0] = np.where(rows <= big_h // 2, half[k], np.conj(half[k]))
    return out


def register_frame(
    correlator: FrameCorrelator,
    image: np.ndarray,
    max_shifts: tuple[int, int],
    upsample_factor: int = 10,
) -> tuple[np.ndarray, float]:
    """Displacement of one image relative to the prepared template (fast path of :func:`register_images`).

    One forward and one inverse real FFT (OpenCV, packed spectra), the integer
    peak searched within ``max_shifts``, then the same subpixel refinement as
    :func:`register_images` on the template's frequency band.

    Parameters
    ----------
    correlator : FrameCorrelator
        From :func:`frame_correlator`.
    image : numpy.ndarray, shape (h, w)
        Real image (high-passed like the template).
    max_shifts : (int, int)
        Largest ``|dy|``, ``|dx|`` searched, pixels.
    upsample_factor : int
        Precision ``1 / upsample_factor`` of the DFT refinement (then a parabola).

    Returns
    -------
    displacement : numpy.ndarray of float64, shape (2,)
        ``(dy, dx)`` with ``image(y, x) ~ template(y - dy, x - dx)``.
    peak_z : float
        Peak height in standard deviations of the correlation surface.
    """
    image = np.asarray(image, dtype=np.float32)
    if image.shape != correlator.shape:
        raise ValueError(f"image {image.shape} does not match the template {correlator.shape}")
    big_h, big_w = correlator.padded
    spectrum = cv2.dft(_pad(image, correlator.padded))
    product = cv2.mulSpectrums(spectrum, correlator.template_ccs, 0, conjB=True)
    corr = cv2.dft(product, flags=cv2.DFT_INVERSE | cv2.DFT_REAL_OUTPUT | cv2.DFT_SCALE)
    my, mx = (int(v) for v in max_shifts)
    rows = np.arange(-my, my + 1)
    cols = np.arange(-mx, mx + 1)
    window = corr[np.ix_(rows % big_h, cols % big_w)]
    r, c = np.unravel_index(int(np.argmax(window)), window.shape)
    mean, std = cv2.meanStdDev(corr)
    mean, std = float(mean[0, 0]), float(std[0, 0])
    peak_z = (float(window[r, c]) - mean) / std if std > 0 and math.isfinite(std) else 0.0
    coarse = np.array([[rows[r], cols[c]]], dtype=np.float64)
    band = _ccs_band(product, correlator.band_rows, correlator.l_max)
    freq_cols = np.arange(correlator.l_max + 1, dtype=np.float64)
    fine = _refine_band(band[None], correlator.freq_rows, freq_cols, coarse, (big_h, big_w), int(upsample_factor))[0]
    bound = np.array([my, mx], dtype=np.float64)
    return np.clip(fine, -bound, bound), peak_z


def estimate_displacement(
    template: np.ndarray,
    frame: np.ndarray,
    max_shifts: tuple[int, int],
    upsample_factor: int = 10,
) -> tuple[tuple[float, float], float]:
    """Displacement of ``frame`` relative to ``template``, within ``max_shifts``.

    Convenience wrapper of :func:`frame_correlator` and :func:`register_frame` for one pair of images.

    Parameters
    ----------
    template, frame : numpy.ndarray, shape (H, W)
        Real images (high-pass filtered for one-photon data).
    max_shifts : (int, int)
        Largest ``|dy|``, ``|dx|`` searched, in pixels.
    upsample_factor : int
        Subpixel precision ``1 / upsample_factor`` before the parabola refinement.

    Returns
    -------
    displacement : (float, float)
        ``(dy, dx)`` with ``frame(y, x) ~ template(y - dy, x - dx)``; the
        correcting shift is its negative.
    peak_z : float
        Peak height in standard deviations of the correlation surface.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> img = rng.normal(size=(64, 64)).astype(np.float32)
    >>> moved = np.roll(img, (2, -3), axis=(0, 1))
    >>> (dy, dx), z = estimate_displacement(img, moved, (5, 5))
    >>> round(dy, 2), round(dx, 2), z > 6
    (2.0, -3.0, True)
    """
    template = np.asarray(template, dtype=np.float32)
    frame = np.asarray(frame, dtype=np.float32)
    if template.shape != frame.shape or template.ndim != 2:
        raise ValueError(f"template {template.shape} and frame {frame.shape} must be 2-D images of the same shape")
    bound = (int(max_shifts[0]), int(max_shifts[1]))
    d, z = register_frame(frame_correlator(template, margin=bound), frame, bound, upsample_factor)
    return (float(d[0]), float(d[1])), float(z)
