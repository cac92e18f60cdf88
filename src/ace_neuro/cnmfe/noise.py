"""Noise level from the power spectrum, per pixel (streamed) or per trace.

The noise standard deviation is read from the high-frequency part of the power
spectral density, where calcium signals have little power: with frequencies
normalised to the frame rate, the band ``noise_range`` (default 0.25-0.5)
averaged by ``noise_method`` ('mean', 'median' or 'logmexp'), as CaImAn's
``get_noise_fft``. For white noise of variance ``s**2`` the one-sided
periodogram normalised here has expectation ``s**2`` at every frequency.

For pixels the periodogram is averaged over fixed-length Hann-windowed segments
(Welch), so the estimate streams over chunks of frames.

References
----------
Pnevmatikakis EA, et al. (2016). Simultaneous denoising, deconvolution, and
demixing of calcium imaging data. Neuron 89(2):285-299.
Welch P (1967). The use of fast Fourier transform for the estimation of power
spectra. IEEE Trans Audio Electroacoust 15(2):70-73.
"""

from __future__ import annotations

import numpy as np
import scipy.fft

from ..pools import map_threads
from ace_neuro.cnmfe.params import CnmfeOptions

#: The declared defaults of the keywords named like a parameter (each default is written once, in CnmfeOptions).
_DEFAULTS = CnmfeOptions()

__all__ = ["band_to_noise", "trace_noise", "WelchNoise"]

#: Pixels per block of :meth:`WelchNoise.update`: a block's segment (float32) and its spectrum (complex64) stay
#: near 1 MB each, so they are reused from the heap and the cache (4,096 pixels, 4 MB each, faulted memory in
#: anew for every block and took twice the CPU: benchmarks/long_session.md, "Session 13"). Rows are
#: independent: the result does not depend on it.
WELCH_BLOCK = 1024


def band_to_noise(psd_band: np.ndarray, method: str = "mean") -> np.ndarray:
    """Noise standard deviation from PSD values in the noise band.

    Parameters
    ----------
    psd_band : ndarray, shape (..., F)
        Power spectral density (variance per frequency bin) at F frequencies.
    method : {'mean', 'median', 'logmexp'}

    Returns
    -------
    ndarray, shape (...)
        ``sqrt(average PSD)``.
    """
    psd_band = np.asarray(psd_band, dtype=np.float64)
    if psd_band.shape[-1] == 0:
        raise ValueError("the noise band holds no frequency; use a longer recording or a wider noise_range")
    if method == "mean":
        avg = psd_band.mean(axis=-1)
    elif method == "median":
        avg = np.median(psd_band, axis=-1)
    elif method == "logmexp":
        avg = np.exp(np.mean(np.log(psd_band + 1e-30), axis=-1))
    else:
        raise ValueError(f"noise_method must be 'mean', 'median' or 'logmexp', got {method!r}")
    return np.sqrt(avg)


def _band(n: int, noise_range: tuple[float, float]) -> np.ndarray:
    freqs = np.fft.rfftfreq(n)
    return (freqs > noise_range[0]) & (freqs <= noise_range[1])


def trace_noise(traces: np.ndarray, noise_range=_DEFAULTS.noise_range, method: str = "mean") -> np.ndarray:
    """Noise standard deviation of each trace from its (Hann-windowed) periodogram.

    The window keeps slow drifts from leaking into the noise band.

    Parameters
    ----------
    traces : ndarray, shape (K, T) or (T,)
    noise_range : (low, high)
        Band in cycles per frame (0.5 = Nyquist).
    method : {'mean', 'median', 'logmexp'}

    Returns
    -------
    ndarray, shape (K,) or scalar, float64
    """
    traces = np.asarray(traces, dtype=np.float64)
    single = traces.ndim == 1
    traces = np.atleast_2d(traces)
    n = traces.shape[-1]
    if n < 4:
        return np.zeros(traces.shape[0]) if not single else 0.0
    window = np.hanning(n + 2)[1:-1]
    spec = np.fft.rfft((traces - traces.mean(axis=-1, keepdims=True)) * window, axis=-1)
    psd = (np.abs(spec) ** 2) / np.sum(window ** 2)  # E = s^2 for white noise
    out = band_to_noise(psd[..., _band(n, noise_range)], method)
    return out[0] if single else out


class WelchNoise:
    """Streaming per-pixel noise: Welch-averaged periodogram over fixed segments.

    Parameters
    ----------
    n_pixels : int
    segment : int
        Frames per segment (at most the recording length).
    noise_range, method
        As :func:`trace_noise`.

    Feed chunks of shape ``(n_pixels, L)`` with :meth:`update` (any chunk
    length: frames are buffered into full segments), then call :meth:`result`.
    """

    def __init__(self, n_pixels: int, segment: int, noise_range=_DEFAULTS.noise_range, method: str = "mean",
                 workers: int = 1) -> None:
        self.segment = max(4, int(segment))
        self.workers = max(1, int(workers))
        self.method = method
        self.band = _band(self.segment, noise_range)
        if not self.band.any():
            raise ValueError(f"noise band {noise_range} holds no frequency at {self.segment} frames per segment")
        bins = np.flatnonzero(self.band)  # one run of bins: the frequencies increase
        self.band_bins = (int(bins[0]), int(bins[-1]) + 1)
        self.window = np.hanning(self.segment + 2)[1:-1].astype(np.float32)
        self.scale = 1.0 / float(np.sum(self.window.astype(np.float64) ** 2))
        self.acc = np.zeros((n_pixels, int(self.band.sum())), np.float64)
        self.count = 0
        self._buffer: list[np.ndarray] = []
        self._buffered = 0

    def update(self, chunk: np.ndarray, block: int = WELCH_BLOCK) -> None:
        """Add frames, ``(n_pixels, L)`` (any strides: a transposed view of ``(L, h, w)`` frames is not copied).

        Whole segments are processed as soon as the buffered frames fill them,
        ``block`` pixels at a time: each block's frames are gathered from the
        buffered chunks (a copy that stays in the cache, where one concatenation
        of whole chunks along the frame axis would not), and the frames left over
        stay buffered as views of their chunks. The blocks are shared by
        ``workers`` threads; each block's rows of the sums are its own, so the
        result does not depend on ``workers``.
        """
        chunk = np.asarray(chunk, dtype=np.float32)
        self._buffer.append(chunk)
        self._buffered += chunk.shape[1]
        n_full = self._buffered // self.segment
        if n_full == 0:
            return
        starts = range(0, chunk.shape[0], block)
        # threads over blocks when there are enough of them, else the FFT's own threads (the same transforms)
        fft_workers = 1 if len(starts) >= self.workers else self.workers

        def add_block(p0: int) -> None:
            frames = np.concatenate([c[p0:p0 + block] for c in self._buffer], axis=1)
            for i in range(n_full):
                self._add(p0, frames[:, i * self.segment:(i + 1) * self.segment], fft_workers)

        map_threads(add_block, starts, self.workers if fft_workers == 1 else 1)
        self.count += n_full
        self._buffer = _last_frames(self._buffer, self._buffered - n_full * self.segment)
        self._buffered -= n_full * self.segment

    def _add(self, p0: int, part: np.ndarray, workers: int = 1) -> None:
        """Add the periodogram of one segment of pixels ``p0:p0 + len(part)``, ``part`` ``(pixels, segment)`` float32.

        ``part`` is overwritten (centred and windowed in place: no temporaries of its size).
        """
        np.subtract(part, part.mean(axis=1, keepdims=True), out=part)
        part *= self.window
        lo, hi = self.band_bins
        spec = scipy.fft.rfft(part, axis=1, workers=workers)[:, lo:hi]
        # |X|^2 in float64: each square exact, then the same sum, scaling and addition as before, in place
        power = np.square(spec.real, dtype=np.float64)
        power += np.square(spec.imag, dtype=np.float64)
        power *= self.scale
        self.acc[p0:p0 + part.shape[0]] += power

    def leftover(self) -> np.ndarray | None:
        """Buffered frames that did not fill a segment, ``(n_pixels, m)``, or None."""
        return np.concatenate(self._buffer, axis=1) if self._buffer else None

    def result(self) -> np.ndarray:
        """Noise standard deviation per pixel, ``(n_pixels,)`` float32."""
        if self.count == 0:
            raise ValueError("WelchNoise: fewer frames than one segment were given")
        return band_to_noise(self.acc / self.count, self.method).astype(np.float32)


def _last_frames(chunks: list[np.ndarray], n: int) -> list[np.ndarray]:
    """Views of the last ``n`` frames (columns) of a list of ``(pixels, L_i)`` chunks, in order."""
    kept: list[np.ndarray] = []
    for chunk in reversed(chunks):
        if n <= 0:
            break
        take = min(n, chunk.shape[1])
        kept.append(chunk[:, chunk.shape[1] - take:])
        n -= take
    return kept[::-1]
