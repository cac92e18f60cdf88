"""The recording's slow trend (photobleaching), removed before CNMF-E sees the movie.

One-photon recordings bleach: the background and the cells lose 10-40 % of their
brightness over a session, closer to an exponential than a line. CNMF-E's
background holds one constant per pixel, ``b0``, plus the ring model, fitted on the
fluctuations; a slow fall of the whole field raises the seeding images (every pixel
of a broad area falls together: high correlation and peak-to-noise), is seeded as
broad components, and those components then keep the fall (the ring model is fitted
on what they leave). The trend is removed first instead:

    Y(p, t) = b0(p) + sum_k b(p, k) f(k, t) + [A C + W (Y - A C - b0 - b f)](p, t),

with ``f`` the discrete Legendre polynomials of degree ``1..degree`` over the frames
(orthonormal, and orthogonal to the constant, so ``b0`` stays each pixel's mean).
Each pixel's projections on them are accumulated in one streaming pass
(:func:`fit_trend`; memory ``n_pixels x (1 + degree)``, and ``degree x T`` for ``f``).
A cubic holds an exponential fall of 70 % over the recording to 0.1 % of the
brightness. Of those projections, ``b`` keeps the part that is smooth in space
relative to each pixel's mean ``m``: ``b = m G(b_raw) / G(m)``, ``G`` a Gaussian wider
than a cell (:meth:`TrendSums.result`). Bleaching scales every source of a pixel
alike, so its relative trend is smooth even across vessels and cells; a cell's own slow
activity is local, is diluted by ``G``, and stays in its trace (each pixel's own
trend would take it: on a 67-s simulation without bleaching the traces' median r
with the truth fell from 0.984 to 0.970 that way, and stays 0.984 with ``G``).
The trend is stored as CaImAn's low-rank background ``b`` ``(n_pixels, degree)`` and
``f`` ``(degree, T)``; the ring model reads the movie without it
(:meth:`ace_neuro.cnmfe.estimates.Estimates.background`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.ndimage

__all__ = ["legendre_basis", "PixelTrend", "TrendSums", "fit_trend"]


def legendre_basis(n_frames: int, degree: int) -> np.ndarray:
    """Discrete Legendre polynomials of degree ``1..degree`` on ``n_frames`` equally spaced frames.

    Parameters
    ----------
    n_frames : int
        Frames of the recording, ``T``.
    degree : int
        Highest degree (at most ``n_frames - 1``; fewer rows otherwise).

    Returns
    -------
    f : ndarray, shape (degree, T), float64
        Orthonormal rows (``f @ f.T = I``), each orthogonal to the constant
        (sums to 0); row ``k - 1`` is a polynomial of degree ``k`` in time,
        positive at the last frame.
    """
    T = int(n_frames)
    degree = max(0, min(int(degree), T - 1))
    if degree == 0:
        return np.zeros((0, T))
    x = np.linspace(-1.0, 1.0, T)
    # Gram-Schmidt (by QR) of the continuous Legendre polynomials on the frames: exactly orthonormal on them
    vander = np.polynomial.legendre.legvander(x, degree)  # (T, degree + 1), column 0 the constant
    q, r = np.linalg.qr(vander)
    q *= np.sign(np.diag(r))  # each column as its polynomial's sign (positive leading coefficient)
    return np.ascontiguousarray(q[:, 1:].T)


@dataclass(frozen=True)
class PixelTrend:
    """A slow trend per pixel, ``b @ f``: what :meth:`ace_neuro.cnmfe.reader.MovieSource.read` subtracts.

    Attributes
    ----------
    b : ndarray, shape (n_pixels, degree), float32
        Each pixel's coefficients (pixels of the source's region, Fortran order), intensity units.
    f : ndarray, shape (degree, T), float32
        The basis (:func:`legendre_basis`), one row per degree.
    """

    b: np.ndarray
    f: np.ndarray

    @property
    def degree(self) -> int:
        """Polynomial degrees held (0: nothing to subtract)."""
        return int(self.f.shape[0])

    def subtract(self, pixels: np.ndarray, start: int, stop: int) -> np.ndarray:
        """``pixels -= b @ f[:, start:stop]`` in place, ``pixels`` ``(n_pixels, stop - start)`` float32; returns it.

        Formed by blocks of pixels: a temporary of about 8 MB, not one of the chunk's size.
        """
        if self.degree:
            f = self.f[:, start:stop]
            rows = max(1, 2**21 // max(1, f.shape[1]))
            for i in range(0, pixels.shape[0], rows):
                pixels[i:i + rows] -= self.b[i:i + rows] @ f
        return pixels

    def values(self, start: int, stop: int) -> np.ndarray:
        """The trend of frames ``start:stop``, ``(n_pixels, stop - start)`` float32."""
        return (self.b @ self.f[:, start:stop]).astype(np.float32, copy=False)

    def restrict(self, dims: tuple[int, int], region: tuple[int, int, int, int]) -> "PixelTrend":
        """The trend of the pixels of ``region`` ``(r0, r1, c0, c1)``, given in the coordinates of this trend's ``dims``."""
        h, _ = dims
        r0, r1, c0, c1 = region
        rows = (np.arange(r0, r1)[:, None] + np.arange(c0, c1)[None, :] * h).ravel(order="F")
        return PixelTrend(np.ascontiguousarray(self.b[rows]), self.f)


class TrendSums:
    """Streaming projections of each pixel on :func:`legendre_basis`, fed ``(n, L)`` chunks in any order.

    Parameters
    ----------
    n_pixels : int
    n_frames : int
    degree : int
    """

    def __init__(self, n_pixels: int, n_frames: int, degree: int) -> None:
        self.f = legendre_basis(n_frames, degree)
        # the constant first (each pixel's sum), then the projections on f
        self.basis = np.vstack([np.ones((1, self.f.shape[1])), self.f])
        self.sums = np.zeros((int(n_pixels), self.basis.shape[0]), np.float64)
        self.frames = 0

    def chunk_sums(self, pixels: np.ndarray, start: int, stop: int) -> np.ndarray:
        """What frames ``start:stop`` add, ``(n, 1 + degree)`` float64 (a pure function: the reading threads form it)."""
        return pixels.astype(np.float64, copy=False) @ self.basis[:, start:stop].T

    def add(self, part: np.ndarray, n_frames: int) -> None:
        """Add :meth:`chunk_sums`' result for ``n_frames`` frames."""
        self.sums += part
        self.frames += int(n_frames)

    def result(self, dims: tuple[int, int] | None = None, smooth_px: float | None = None) -> PixelTrend:
        """The fitted trend (every frame must have been added once).

        Parameters
        ----------
        dims : (h, w), optional
            The region's frame (pixels in Fortran order); needed with ``smooth_px``.
        smooth_px : float, optional
            Keep only the trend's spatially smooth part, relative to each pixel's mean:
            ``b = m * (G b_raw) / (G m)`` with ``G`` a Gaussian of this sigma (pixels) and ``m``
            each pixel's mean. Bleaching scales every source of a pixel alike, so its relative
            trend is smooth even across vessels and cells; a cell's own slow activity is local,
            and is mostly left to its trace. None: each pixel's own trend.
        """
        if self.frames != self.f.shape[1]:
            raise ValueError(f"trend: {self.frames} frames added, the basis has {self.f.shape[1]}")
        b = self.sums[:, 1:]
        if smooth_px and b.shape[1]:
            b = _smooth_relative(b, self.sums[:, 0] / max(self.frames, 1), dims, float(smooth_px))
        return PixelTrend(b.astype(np.float32), self.f.astype(np.float32))


def _smooth_relative(b: np.ndarray, mean: np.ndarray, dims: tuple[int, int], sigma: float) -> np.ndarray:
    """``mean * G(b) / G(mean)`` per column of ``b`` ``(h*w, L)`` (Fortran pixel order); ``G(b)`` where ``G(mean)`` ~ 0."""
    h, w = dims

    def smooth(values: np.ndarray) -> np.ndarray:
        image = values.reshape((h, w), order="F")
        return scipy.ndimage.gaussian_filter(image, sigma, mode="nearest").ravel(order="F")

    level = smooth(mean)
    floor = 1e-6 * max(float(np.abs(mean).max()), 1e-30)
    out = np.empty_like(b)
    for k in range(b.shape[1]):
        smoothed = smooth(b[:, k])
        out[:, k] = np.where(np.abs(level) > floor, mean * smoothed / np.where(level == 0, 1.0, level), smoothed)
    return out


def fit_trend(source, degree: int, chunk_frames: int, threads: int = 1, smooth_px: float | None = None) -> PixelTrend:
    """Each pixel's trend of degree ``1..degree`` over the recording, in one pass over ``source``.

    Parameters
    ----------
    source : MovieSource
        The region (its raw frames: a trend already attached is not read).
    degree : int
        Highest polynomial degree (:func:`legendre_basis`); 0: an empty trend.
    chunk_frames : int
        Frames per chunk read.
    threads : int
        Threads reading chunks ahead and forming their sums.
    smooth_px : float, optional
        Keep the spatially smooth part of the relative trend (:meth:`TrendSums.result`); None: each pixel's own.

    Returns
    -------
    PixelTrend
        ``b`` ``(n_pixels, degree)`` float32 (least-squares coefficients: ``f`` is orthonormal), ``f``
        ``(degree, T)`` float32.
    """
    raw = source.without_trend()
    sums = TrendSums(raw.n_pixels, raw.n_frames, degree)
    if not sums.f.shape[0]:
        return PixelTrend(np.zeros((raw.n_pixels, 0), np.float32), np.zeros((0, raw.n_frames), np.float32))
    for start, stop, part in raw.read_chunks(chunk_frames, 1, sums.chunk_sums, workers=threads, reuse=True):
        sums.add(part, stop - start)
    return sums.result(raw.dims, smooth_px)
