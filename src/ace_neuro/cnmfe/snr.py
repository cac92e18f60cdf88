"""Trace SNR of components, CaImAn's event exceptionality (``SNR_comp``).

After removing a slow baseline (8th percentile in bins), the noise of a raw
trace ``C + YrA`` is estimated from the values below its mode (half-sample
mode), and the log-probability of the most unlikely run of ``N`` consecutive
samples under that Gaussian noise is turned back into a z value: ``SNR =
-Phi^-1(exp(fitness / N))`` with ``N = ceil(fr * decay_time)``. As in CaImAn
the z values are measured in units of three noise standard deviations, so
CaImAn's thresholds (``min_SNR``) carry over. Works on ``K x T`` traces only.

References
----------
Bickel D.R., Fruehwirth R. (2006) On a fast, robust estimator of the mode.
Computational Statistics & Data Analysis 50:3500-3530 (half-sample mode).
"""

from __future__ import annotations

import math

import numpy as np
import scipy.special

__all__ = ["trace_snr"]

#: CaImAn's z values are in units of this many noise standard deviations.
_SIGMA_FACTOR = 3.0


def _half_sample_mode(sorted_values: np.ndarray) -> float:
    """Half-sample mode of one sorted 1-D array (Bickel & Fruehwirth 2006)."""
    data = sorted_values
    while data.size > 3:
        half = data.size // 2 + data.size % 2
        widths = data[half - 1 :] - data[: data.size - half + 1]
        start = int(np.argmin(widths))
        data = data[start : start + half]
    if data.size == 3:
        left, right = data[1] - data[0], data[2] - data[1]
        if left < right:
            return float(data[:2].mean())
        if right < left:
            return float(data[1:].mean())
        return float(data[1])
    return float(data.mean())


def _remove_slow_baseline(traces: np.ndarray) -> np.ndarray:
    """Subtract the 8th percentile of consecutive bins (``min(T // 5, 800)`` frames), interpolated."""
    n_frames = traces.shape[1]
    bin_len = min(n_frames // 5, 800)
    if bin_len < 2:
        return traces - np.percentile(traces, 8, axis=1, keepdims=True)
    n_bins = int(math.ceil(n_frames / bin_len))
    centers = np.empty(n_bins)
    levels = np.empty((traces.shape[0], n_bins))
    for i in range(n_bins):
        lo, hi = i * bin_len, min((i + 1) * bin_len, n_frames)
        centers[i] = (lo + hi - 1) / 2.0
        levels[:, i] = np.percentile(traces[:, lo:hi], 8, axis=1)
    t = np.arange(n_frames)
    baseline = np.stack([np.interp(t, centers, row) for row in levels]) if traces.shape[0] else levels[:, :0]
    return traces - baseline


def trace_snr(traces: np.ndarray, frame_rate: float, decay_time: float) -> np.ndarray:
    """CaImAn's trace SNR (event exceptionality) of each trace.

    Parameters
    ----------
    traces : ndarray, shape (K, T)
        Raw traces, ``C + YrA``.
    frame_rate : float
        Frames per second (Hz).
    decay_time : float
        Typical transient decay time in seconds; events are judged over
        ``N = ceil(frame_rate * decay_time)`` consecutive frames.

    Returns
    -------
    ndarray of float64, shape (K,)
        SNR in CaImAn's units (z of the least likely ``N``-frame run, noise
        scaled by 3); 0 for a constant trace.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> noise = rng.normal(size=(1, 3000))
    >>> spiky = noise.copy(); spiky[0, 1000:1010] += 30
    >>> snr = trace_snr(np.vstack([noise, spiky]), 30.0, 0.3)
    >>> bool(snr[0] < 1.5), bool(snr[1] > 5)
    (True, True)
    """
    traces = np.asarray(traces)
    if traces.ndim != 2:
        raise ValueError(f"traces must have shape (K, T), got {traces.shape}")
    if not frame_rate > 0 or not decay_time > 0:
        raise ValueError(f"frame_rate and decay_time must be > 0, got {frame_rate} and {decay_time}")
    n_comp, n_frames = traces.shape
    if n_comp == 0:
        return np.zeros(0)
    if n_frames < 2:
        raise ValueError(f"traces need at least 2 frames to estimate noise, got {n_frames}")
    window = int(min(max(1, math.ceil(frame_rate * decay_time)), n_frames))
    snr = np.zeros(n_comp)
    kernel = np.ones(window)
    block = 64  # traces converted to float64 at a time
    for k in range(n_comp):
        if k % block == 0:
            detrended = _remove_slow_baseline(np.asarray(traces[k : k + block], dtype=np.float64))
        x = detrended[k % block]
        if not np.all(np.isfinite(x)):
            raise ValueError(
                f"trace {k} holds NaN or infinite values; the estimates are corrupt, re-run the cnmfe step"
            )
        mode = _half_sample_mode(np.sort(x))
        below = (mode - x)[x < mode]
        if below.size == 0:
            continue
        sd = math.sqrt(float(np.mean(below**2)))
        if sd <= 0:
            continue
        z = (x - mode) / (_SIGMA_FACTOR * sd)
        log_tail = scipy.special.log_ndtr(-z)
        fitness = float(np.min(np.convolve(log_tail, kernel, mode="valid")))
        value = -scipy.special.ndtri_exp(fitness / window)
        snr[k] = value if np.isfinite(value) else 0.0
    return snr
