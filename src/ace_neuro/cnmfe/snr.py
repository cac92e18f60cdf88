"""Trace SNR of components, CaImAn's event exceptionality (``SNR_comp``).

After removing a slow baseline (8th percentile in bins), the noise of a raw
trace ``C + YrA`` is estimated from the values below its mode (half-sample
mode), and the log-probability of the most unlikely run of ``N`` consecutive
samples under that Gaussian noise is turned back into a z value: ``SNR =
-Phi^-1(exp(fitness / N))`` with ``N = ceil(fr * decay_time)``. As in CaImAn
the z values are measured in units of three noise standard deviations, so
CaImAn's thresholds (``min_SNR``) carry over. Works on ``K x T`` traces only.

Frame rate. A sensor exposed for the frame period collects ``1 / rate`` of a
second's light per frame, so at the same light per second a faster recording's
per-frame noise grows as ``sqrt(rate)`` while a cell's transient keeps its
height: CaImAn's per-frame SNR of the same cell falls as ``1 / sqrt(rate)``
(at 60 Hz 0.6 of its 20 Hz value), and fixed thresholds reject at 60 Hz the
cells they accept at 20 Hz. With ``snr_rate`` set, the traces of a recording
faster than it are first averaged over consecutive intervals of ``1 /
snr_rate`` seconds (:func:`resample_traces`, frames weighted by their overlap),
so the SNR is measured on the same time grid at any rate: exactly invariant
for a rate that is a multiple of ``snr_rate``, and the null of the
length-aware floor (:func:`snr_null_threshold`) goes through the same
averaging. A slower recording is left as it is (no light is made up).

References
----------
Bickel D.R., Fruehwirth R. (2006) On a fast, robust estimator of the mode.
Computational Statistics & Data Analysis 50:3500-3530 (half-sample mode).
"""

from __future__ import annotations

import math

import numpy as np
import scipy.special

from ace_neuro.cnmfe.trace_stats import ar1_filter

__all__ = ["trace_snr", "snr_null_threshold", "noise_autocorrelation", "resample_traces"]

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
    """Subtract the 8th percentile of consecutive bins (``min(T // 5, 800)`` frames), interpolated.

    A remainder shorter than half a bin joins the last bin: a bin of a few frames has no baseline to give (its
    8th percentile is whatever those frames hold; on a transient it pulled the baseline up and the trace far below
    zero, e.g. 1,001 frames in bins of 200).
    """
    n_frames = traces.shape[1]
    bin_len = min(n_frames // 5, 800)
    if bin_len < 2:
        return traces - np.percentile(traces, 8, axis=1, keepdims=True)
    n_bins = int(math.ceil(n_frames / bin_len))
    if n_bins > 1 and n_frames - (n_bins - 1) * bin_len < bin_len / 2:
        n_bins -= 1
    centers = np.empty(n_bins)
    levels = np.empty((traces.shape[0], n_bins))
    for i in range(n_bins):
        lo, hi = i * bin_len, (i + 1) * bin_len if i < n_bins - 1 else n_frames
        centers[i] = (lo + hi - 1) / 2.0
        levels[:, i] = np.percentile(traces[:, lo:hi], 8, axis=1)
    t = np.arange(n_frames)
    baseline = np.stack([np.interp(t, centers, row) for row in levels]) if traces.shape[0] else levels[:, :0]
    return traces - baseline


def _least_likely_run(x: np.ndarray, window: int) -> float:
    """SNR of the least likely run of ``window`` samples of one detrended trace; 0 where it has no spread."""
    mode = _half_sample_mode(np.sort(x))
    below = (mode - x)[x < mode]
    if below.size == 0:
        return 0.0
    sd = math.sqrt(float(np.mean(below**2)))
    if sd <= 0:
        return 0.0
    z = (x - mode) / (_SIGMA_FACTOR * sd)
    fitness = float(np.min(np.convolve(scipy.special.log_ndtr(-z), np.ones(window), mode="valid")))
    value = -scipy.special.ndtri_exp(fitness / window)
    return float(value) if np.isfinite(value) else 0.0


def resample_traces(traces: np.ndarray, frame_rate: float, snr_rate: float) -> np.ndarray:
    """Means of each trace over consecutive intervals of ``1 / snr_rate`` s (a slower recording unchanged).

    Frame ``i`` covers ``[i, i + 1)`` frame periods; interval ``j`` covers ``[j k, (j + 1) k)`` with ``k =
    frame_rate / snr_rate`` frames, and each frame counts with its overlap (whole frames when ``k`` is an
    integer). The last partial interval is dropped.

    Parameters
    ----------
    traces : ndarray, shape (K, T)
    frame_rate, snr_rate : float
        Hz.

    Returns
    -------
    ndarray of float64, shape (K, floor(T / k))
        ``traces`` (as float64) when ``frame_rate <= snr_rate`` or fewer than two intervals fit.

    Examples
    --------
    >>> resample_traces(np.arange(6.0)[None], 60.0, 20.0).tolist()
    [[1.0, 4.0]]
    >>> resample_traces(np.arange(6.0)[None], 30.0, 20.0).round(3).tolist()   # 1.5 frames per interval
    [[0.333, 1.667, 3.333, 4.667]]
    """
    x = np.asarray(traces, np.float64)
    k = float(frame_rate) / float(snr_rate)
    n_out = int(math.floor(x.shape[1] / k + 1e-9))
    if k <= 1.0 or n_out < 2:
        return x
    cumulative = np.zeros((x.shape[0], x.shape[1] + 1))
    np.cumsum(x, axis=1, out=cumulative[:, 1:])
    edges = np.minimum(np.arange(n_out + 1) * k, x.shape[1])
    whole = np.minimum(np.floor(edges + 1e-9).astype(np.int64), x.shape[1])
    part = np.clip(edges - whole, 0.0, None)
    at_edges = cumulative[:, whole] + part * x[:, np.minimum(whole, x.shape[1] - 1)]
    return np.diff(at_edges, axis=1) / k


def snr_window_samples(sample_rate: float, decay_time: float) -> int:
    """CaImAn's SNR window ``N = ceil(rate * decay_time)``, at least 1 (samples).

    >>> snr_window_samples(15.0, 0.4), snr_window_samples(15.0, 1.54)
    (6, 24)
    """
    return max(1, int(math.ceil(float(sample_rate) * float(decay_time))))


def trace_snr(traces: np.ndarray, frame_rate: float, decay_time: float, snr_rate: float | None = None) -> np.ndarray:
    """CaImAn's trace SNR (event exceptionality) of each trace.

    Parameters
    ----------
    traces : ndarray, shape (K, T)
        Raw traces, ``C + YrA``.
    frame_rate : float
        Frames per second (Hz).
    decay_time : float
        Typical transient decay time in seconds; events are judged over
        ``N = ceil(rate * decay_time)`` consecutive samples.
    snr_rate : float, optional
        Hz: the traces of a faster recording are averaged to this rate first
        (:func:`resample_traces`; ``rate`` above is then ``snr_rate``), so the
        SNR of a cell does not fall with the frame rate at the same light per
        second; None = CaImAn's SNR at ``frame_rate``.

    Returns
    -------
    ndarray of float64, shape (K,)
        SNR in CaImAn's units (z of the least likely ``N``-sample run, noise
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
    if snr_rate is not None and not snr_rate > 0:
        raise ValueError(f"snr_rate must be > 0 Hz or None, got {snr_rate}")
    n_samples = resample_traces(traces[:1], frame_rate, snr_rate).shape[1] if snr_rate is not None else n_frames
    resampled = n_samples < n_frames
    rate = float(snr_rate) if resampled else float(frame_rate)
    window = min(snr_window_samples(rate, decay_time), n_samples)
    snr = np.zeros(n_comp)
    block = 64  # traces converted to float64 at a time
    for k in range(n_comp):
        if k % block == 0:
            chunk = np.asarray(traces[k : k + block], dtype=np.float64)
            detrended = _remove_slow_baseline(resample_traces(chunk, frame_rate, snr_rate) if resampled else chunk)
        x = detrended[k % block]
        if not np.all(np.isfinite(x)):
            raise ValueError(
                f"trace {k} holds NaN or infinite values; the estimates are corrupt, re-run the cnmfe step"
            )
        snr[k] = _least_likely_run(x, window)
    return snr



def noise_autocorrelation(residuals: np.ndarray) -> float:
    """Median lag-1 autocorrelation of the residual traces ``YrA`` (the traces' noise), clipped to [0, 0.95].

    Parameters
    ----------
    residuals : ndarray, shape (K, T)

    Returns
    -------
    float
        0 when there is nothing to measure.
    """
    from ace_neuro.cnmfe.trace_rows import row_blocks

    if np.ndim(residuals) != 2 or np.shape(residuals)[0] == 0 or np.shape(residuals)[1] < 3:
        return 0.0
    lag1 = []
    for start, stop in row_blocks(*np.shape(residuals)):  # a few rows in float64 at a time (the same values)
        x = np.asarray(residuals[start:stop], np.float64)
        x = x - x.mean(axis=1, keepdims=True)
        den = np.sum(x * x, axis=1)
        ok = den > 0
        lag1.append(np.sum(x[ok, 1:] * x[ok, :-1], axis=1) / den[ok])
    lag1 = np.concatenate(lag1)
    if not lag1.size:
        return 0.0
    return float(np.clip(np.median(lag1), 0.0, 0.95))


def _gumbel_upper_fit(values: np.ndarray) -> tuple[float, float]:
    """``(loc, scale)`` of the Gumbel law through the median and the 90th percentile of ``values`` (the upper half:
    the tail is extrapolated from there; slightly conservative for this statistic, whose tail is lighter)."""
    q50, q90 = np.quantile(np.asarray(values, np.float64), [0.5, 0.9])
    g50, g90 = -math.log(-math.log(0.5)), -math.log(-math.log(0.9))
    scale = max(float(q90 - q50) / (g90 - g50), 0.0)
    return float(q50 - scale * g50), scale


def snr_null_threshold(n_frames: int, frame_rate: float, decay_time: float, false_rate: float, *,
                       autocorrelation: float = 0.0, snr_rate: float | None = None, n_traces: int = 400,
                       seed: int = 0) -> dict:
    """The SNR that noise alone passes at ``false_rate`` per component, at this recording's length and noise.

    The SNR is the least likely run of ``N`` frames of a trace, the extreme of
    about ``T / N`` runs, so its law under noise is close to a Gumbel law whose
    location and spread depend on the length ``T``, the window ``N`` and the
    noise's temporal correlation. ``n_traces`` noise traces of the recording's
    length (Gaussian, AR(1) with the residuals' lag-1 ``autocorrelation``;
    seeded, so the result is reproducible) go through the same estimator
    (:func:`trace_snr`: baseline, half-sample mode, noise from below the mode),
    a Gumbel law is fitted to their upper half (median and 90th percentile),
    and the floor is its ``1 - false_rate`` quantile.

    Parameters
    ----------
    n_frames : int
        Trace length (frames).
    frame_rate, decay_time : float
        Hz and seconds: the SNR's window ``N = ceil(frame_rate * decay_time)``.
    false_rate : float
        Fraction of noise-only components allowed above the floor, in (0, 1).
    autocorrelation : float
        Lag-1 autocorrelation of the noise, in [0, 1) (:func:`noise_autocorrelation`).
    snr_rate : float, optional
        Hz: the rate :func:`trace_snr` averages faster traces to (the null goes through the same averaging).
    n_traces, seed : int
        Size of the null sample and its random seed.

    Returns
    -------
    dict
        ``threshold`` (the floor, CaImAn's SNR units), ``gumbel_loc``, ``gumbel_scale``, ``noise_autocorrelation``,
        ``n_null_traces``, ``false_rate``.

    Examples
    --------
    >>> d = snr_null_threshold(2000, 20.0, 0.4, 1e-3)
    >>> 0.7 < d["threshold"] < 1.5
    True
    """
    if not 0.0 < float(false_rate) < 1.0:
        raise ValueError(f"false_rate must be in (0, 1), got {false_rate}")
    if not 0.0 <= float(autocorrelation) < 1.0:
        raise ValueError(f"autocorrelation must be in [0, 1), got {autocorrelation}")
    rng = np.random.default_rng(seed)
    phi = float(autocorrelation)
    from ace_neuro.cnmfe import trace_rows

    sample = []
    # a few traces at a time (at most 50; fewer when long): memory stays small at any length; the generator's
    # stream is drawn in order, so the traces are the same whatever the block
    for start, stop in trace_rows.row_blocks(n_traces, int(n_frames), min(trace_rows.BLOCK_BYTES, 50 * 8 * int(n_frames))):
        noise = rng.standard_normal((stop - start, int(n_frames)))
        if phi > 0:
            noise = ar1_filter(noise, phi)  # scipy.signal.lfilter([1.0], [1.0, -phi], noise, axis=1)
        sample.append(trace_snr(noise, frame_rate, decay_time, snr_rate))
    loc, scale = _gumbel_upper_fit(np.concatenate(sample))
    threshold = loc - scale * math.log(-math.log1p(-float(false_rate)))
    return {"threshold": round(float(threshold), 4), "gumbel_loc": round(float(loc), 4),
            "gumbel_scale": round(float(scale), 4), "noise_autocorrelation": round(phi, 4),
            "n_null_traces": int(n_traces), "false_rate": float(false_rate)}
