"""Calcium event detection on CNMF-E traces.

Two detectors, both pure (arrays in, arrays out):

* :func:`detect_events_derivative` -- peaks of the zeroth, first or second
  derivative of each trace (the seed's ``find_calcium_events_with_derivatives``),
  found by :func:`scipy.signal.find_peaks` with a height and a minimum distance.
* :func:`detect_events_deconvolution` -- groups of frames of deconvolved
  activity ``S`` (the seed's ``find_calcium_events_with_deconvolution``),
  kept when their summed activity reaches a threshold.

The seed's thresholds were absolute, so one number meant different things for
different neurons. Here a threshold is by default a multiple of each trace's
robust noise, estimated from the median absolute deviation (MAD):
``sigma = 1.4826 * MAD``, which equals the standard deviation for Gaussian noise
and ignores sparse calcium transients. The absolute mode is kept as an option.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.signal import find_peaks

__all__ = [
    "Events",
    "DERIVATIVE_ORDERS",
    "robust_std",
    "trace_noise",
    "derivative_noise",
    "detect_events_derivative",
    "detect_events_deconvolution",
]

#: Name of the derivative -> its order, as in the seed.
DERIVATIVE_ORDERS: dict[str, int] = {"zeroth": 0, "first": 1, "second": 2}

_MAD_TO_STD = 1.4826


class Events(NamedTuple):
    """Detected events, one entry per event, sorted by neuron then frame.

    Attributes
    ----------
    neuron : ndarray of int64, shape (E,)
        Row of the trace array the event belongs to.
    frame : ndarray of int64, shape (E,)
        Frame of the event (0-based, in the traces' time axis).
    amplitude : ndarray of float64, shape (E,)
        Derivative method: value of the searched signal at the peak (trace
        units, per frame for derivatives). Deconvolution: summed activity of
        the event (trace units: the total jump of the calcium trace).
    """

    neuron: np.ndarray
    frame: np.ndarray
    amplitude: np.ndarray


def _empty_events() -> Events:
    return Events(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float64))


def _check_traces(traces: np.ndarray, name: str) -> np.ndarray:
    traces = np.asarray(traces, dtype=np.float64)
    if traces.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (neurons, frames); got shape {traces.shape}")
    if not np.all(np.isfinite(traces)):
        raise ValueError(f"{name} contains NaN or infinite values; clean or drop those neurons first")
    return traces


def robust_std(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Standard deviation estimated from the median absolute deviation.

    Parameters
    ----------
    x : ndarray
        Samples.
    axis : int
        Axis along which to estimate.

    Returns
    -------
    ndarray
        ``1.4826 * median(|x - median(x)|)`` along ``axis`` (the standard
        deviation for Gaussian samples, insensitive to sparse outliers).
    """
    x = np.asarray(x, dtype=np.float64)
    med = np.median(x, axis=axis, keepdims=True)
    return _MAD_TO_STD * np.median(np.abs(x - med), axis=axis)


def trace_noise(traces: np.ndarray) -> np.ndarray:
    """Noise standard deviation of each trace, from its first difference.

    The difference of white noise of standard deviation ``sigma`` has standard
    deviation ``sqrt(2) * sigma``; differencing removes the slow baseline and
    the decays of transients, and the MAD ignores their rises.

    Parameters
    ----------
    traces : ndarray, shape (K, T)
        Raw (not denoised) traces, e.g. CNMF-E ``C + YrA``.

    Returns
    -------
    ndarray of float64, shape (K,)
        ``robust_std(diff(traces)) / sqrt(2)``.
    """
    traces = _check_traces(traces, "traces")
    if traces.shape[1] < 3:
        raise ValueError(f"need at least 3 frames to estimate noise; got {traces.shape[1]}")
    return robust_std(np.diff(traces, axis=1), axis=1) / np.sqrt(2.0)


def derivative_noise(traces: np.ndarray, order: int) -> np.ndarray:
    """Robust noise of the ``order``-th derivative of each trace.

    Parameters
    ----------
    traces : ndarray, shape (K, T)
        Raw traces.
    order : {0, 1, 2}
        Derivative order. For 0 the noise of the trace itself is estimated
        from its first difference (:func:`trace_noise`), which a slow
        baseline or long transients do not inflate.

    Returns
    -------
    ndarray of float64, shape (K,)
    """
    if order == 0:
        return trace_noise(traces)
    traces = _check_traces(traces, "traces")
    return robust_std(np.diff(traces, n=order, axis=1), axis=1)


def detect_events_derivative(
    traces: np.ndarray,
    *,
    derivative: str = "first",
    height: float = 4.0,
    distance: int = 1,
    threshold_mode: str = "noise",
    noise_traces: np.ndarray | None = None,
) -> Events:
    """Events as peaks of a derivative of each trace.

    Parameters
    ----------
    traces : ndarray, shape (K, T)
        Calcium traces (e.g. CNMF-E ``C``), one row per neuron.
    derivative : {'zeroth', 'first', 'second'}
        Signal searched for peaks: the trace, its first or its second
        difference.
    height : float
        Minimum peak height. With ``threshold_mode='noise'``: in units of the
        robust noise (1.4826 * MAD) of the same derivative of ``noise_traces``,
        measured from the signal's median. With ``'absolute'``: in trace units
        (per frame for derivatives), as the seed did.
    distance : int
        Minimum number of frames between two peaks of one neuron (>= 1);
        of closer peaks the larger is kept.
    threshold_mode : {'noise', 'absolute'}
        How ``height`` is read.
    noise_traces : ndarray, shape (K, T), optional
        Traces the noise is measured on (e.g. raw ``C + YrA`` when ``traces``
        is the denoised ``C``, whose own MAD is close to zero). Defaults to
        ``traces``.

    Returns
    -------
    Events
        Event frames are in the traces' frame axis, at the last frame of the
        difference stencil: for the first difference ``x[i+1] - x[i]`` at
        frame ``i + 1``, for the second ``x[i+2] - 2 x[i+1] + x[i]`` at
        ``i + 2``; both are the frame where a sudden rise first appears.

    References
    ----------
    Seed: ``MiniscopePostprocessor.find_calcium_events_with_derivatives``.
    """
    traces = _check_traces(traces, "traces")
    if derivative not in DERIVATIVE_ORDERS:
        raise ValueError(
            f"derivative must be one of {sorted(DERIVATIVE_ORDERS)}; got {derivative!r}"
        )
    if threshold_mode not in ("noise", "absolute"):
        raise ValueError(f"threshold_mode must be 'noise' or 'absolute'; got {threshold_mode!r}")
    if not np.isfinite(height) or height < 0:
        raise ValueError(f"height must be a finite number >= 0; got {height}")
    distance = int(distance)
    if distance < 1:
        raise ValueError(f"distance must be at least 1 frame; got {distance}")
    order = DERIVATIVE_ORDERS[derivative]
    n_neurons, n_frames = traces.shape
    if n_neurons == 0 or n_frames <= order + 2:
        return _empty_events()
    signal = np.diff(traces, n=order, axis=1) if order else traces
    shift = order
    if threshold_mode == "noise":
        ref = traces if noise_traces is None else _check_traces(noise_traces, "noise_traces")
        if ref.shape != traces.shape:
            raise ValueError(
                f"noise_traces shape {ref.shape} differs from traces shape {traces.shape}"
            )
        unit = derivative_noise(ref, order)
        unit = np.where(unit > 0, unit, np.finfo(np.float64).tiny)
        thresholds = np.median(signal, axis=1) + height * unit
    else:
        thresholds = np.full(n_neurons, float(height))

    neurons, frames, amplitudes = [], [], []
    for k in range(n_neurons):
        peaks, props = find_peaks(signal[k], height=thresholds[k], distance=distance)
        neurons.append(np.full(peaks.size, k, np.int64))
        frames.append(peaks.astype(np.int64) + shift)
        amplitudes.append(props["peak_heights"].astype(np.float64))
    return Events(np.concatenate(neurons), np.concatenate(frames), np.concatenate(amplitudes))


def detect_events_deconvolution(
    activity: np.ndarray,
    *,
    height: float = 3.0,
    distance: int = 1,
    threshold_mode: str = "noise",
    noise: np.ndarray | None = None,
) -> Events:
    """Events as groups of deconvolved activity reaching a threshold.

    Frames whose activity is at least a quarter of the threshold are grouped
    into runs (so one spike that the deconvolution spread over adjacent frames
    is one event); runs separated by fewer than ``distance`` frames are merged.
    A group is an event if its summed activity reaches the threshold. The
    event frame is the group's frame of largest activity and the amplitude is
    the group's summed activity (the total jump of the calcium trace).

    Parameters
    ----------
    activity : ndarray, shape (K, T)
        Deconvolved activity, CNMF-E ``S`` (non-negative, trace units).
    height : float
        Threshold on the summed activity of an event: in units of each
        neuron's noise standard deviation ``noise[k]`` (``'noise'`` mode) or
        in trace units (``'absolute'``).
    distance : int
        Runs whose gap (frames between the end of one and the start of the
        next) is smaller than this are merged (>= 1; 1 merges only touching
        runs).
    threshold_mode : {'noise', 'absolute'}
        How ``height`` is read.
    noise : ndarray, shape (K,), optional
        Noise standard deviation of each neuron's raw trace (for example
        :func:`trace_noise` of ``C + YrA``, or CNMF's ``neurons_sn``);
        required in ``'noise'`` mode.

    Returns
    -------
    Events

    References
    ----------
    Seed: ``MiniscopePostprocessor.find_calcium_events_with_deconvolution``.
    Friedrich, Zhou & Paninski (2017), Fast online deconvolution of calcium
    imaging data, PLoS Comput Biol 13:e1005423.
    """
    activity = _check_traces(activity, "activity")
    if threshold_mode not in ("noise", "absolute"):
        raise ValueError(f"threshold_mode must be 'noise' or 'absolute'; got {threshold_mode!r}")
    if not np.isfinite(height) or height <= 0:
        raise ValueError(f"height must be a finite number > 0; got {height}")
    distance = int(distance)
    if distance < 1:
        raise ValueError(f"distance must be at least 1 frame; got {distance}")
    n_neurons, n_frames = activity.shape
    if threshold_mode == "noise":
        if noise is None:
            raise ValueError("threshold_mode='noise' needs the noise of each neuron (noise=...)")
        noise = np.asarray(noise, dtype=np.float64).reshape(-1)
        if noise.shape != (n_neurons,):
            raise ValueError(f"noise must have shape ({n_neurons},); got {noise.shape}")
        if not np.all(np.isfinite(noise)) or np.any(noise < 0):
            raise ValueError("noise must be finite and >= 0 for every neuron")
        thresholds = height * noise
    else:
        thresholds = np.full(n_neurons, float(height))
    if n_neurons == 0 or n_frames == 0:
        return _empty_events()

    neurons, frames, amplitudes = [], [], []
    for k in range(n_neurons):
        thr = thresholds[k]
        s = activity[k]
        candidates = np.flatnonzero(s >= 0.25 * thr) if thr > 0 else np.flatnonzero(s > 0)
        if candidates.size == 0:
            continue
        # a new group starts where the gap to the previous candidate frame is >= distance
        starts = np.concatenate([[0], np.flatnonzero(np.diff(candidates) - 1 >= distance) + 1])
        values = s[candidates]
        totals = np.add.reduceat(values, starts)
        group = np.repeat(np.arange(starts.size), np.diff(np.concatenate([starts, [candidates.size]])))
        # frame of the largest activity in each group: first of each group after sorting by (group, -value)
        order = np.lexsort((-values, group))
        peak = candidates[order[starts]]
        keep = (totals >= thr) & (totals > 0)
        neurons.append(np.full(int(keep.sum()), k, np.int64))
        frames.append(peak[keep].astype(np.int64))
        amplitudes.append(totals[keep].astype(np.float64))
    if not neurons:
        return _empty_events()
    return Events(np.concatenate(neurons), np.concatenate(frames), np.concatenate(amplitudes))
