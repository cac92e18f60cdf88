"""The trace SNR's window from the recording's own decay (``evaluate.snr_decay_time``).

CaImAn judges a trace's events over ``N = ceil(fr * decay_time)`` consecutive samples (:func:`~ace_neuro.cnmfe.snr.
trace_snr`), with ``decay_time`` the indicator's decay the user configured (CaImAn's default 0.4 s, GCaMP6f-like);
``min_SNR`` and ``SNR_lowest`` were chosen for that window. Labs rarely set ``decay_time``, and their indicators
decay in 0.2-2 s: a window much shorter than the decay underweights broad, slow events.

``snr_decay_time: auto`` measures the decay on the fit: the median decay time of the AR kernels (``g``) CNMF-E
fitted to the confident components, those that pass both of CaImAn's upper thresholds with CaImAn's window (SNR >
``min_SNR`` and ``r >= rval_thr``), leaving out the kernels that are the fit's fallback (the configured
``decay_time``'s, set where a trace gave no decaying model), bounded to :data:`DECAY_BOUNDS_S`; with fewer than
:data:`MIN_KERNELS` such kernels the configured ``decay_time`` is used (:func:`measured_decay_time`). The kernels
of dim components are noise-dominated and decay fast (MiniAn's demo: median 0.83 s for SNR <= 2.2 against 1.79 s
for the confident ones, benchmarks/real.md, Session 13), so the r-value rule alone, which most components of a
one-photon movie pass, would measure the noise.

The thresholds follow the window (:func:`threshold_for_window`): ``min_SNR`` and ``SNR_lowest`` are given for
CaImAn's window (``cnmfe.decay_time``); with another window each is replaced by the SNR, under the new window, of
the transient the reference window puts at that threshold: a jump to ``peak`` decaying as the window's kernel
(``z_i = peak exp(-i / tau)``, noise-free, in the estimator's units). So an isolated event just at the floor with
CaImAn's window stays just at the floor; what a window matched to the decay gains are components with broad or
repeated events. The length-aware noise floor (``snr_null_rate``) is simulated with the window used, as before.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.optimize
import scipy.special

from ace_neuro.cnmfe.fallback_kernel import fallback_kernel  # not from temporal: OASIS, scipy.signal, scipy.stats
from ace_neuro.cnmfe.snr import snr_window_samples  # noqa: F401 (one definition of the window, re-exported)

__all__ = ["DECAY_BOUNDS_S", "MIN_KERNELS", "kernel_decay_times", "measured_decay_time", "snr_sample_rate",
           "snr_window_samples", "transient_snr", "threshold_for_window"]

#: Seconds: a measured decay is clipped to this range (fast GCaMP8 to slow GCaMP6s / 7s, with margin).
DECAY_BOUNDS_S = (0.1, 3.0)
#: Fewest measured kernels (components passing the r-value rule, fallback kernels left out) for a measured decay.
MIN_KERNELS = 10


def kernel_decay_times(g: np.ndarray, frame_rate: float) -> np.ndarray:
    """Decay time of each autoregressive kernel: ``-1 / (fr ln rho)``, ``rho`` its largest root's modulus.

    Parameters
    ----------
    g : ndarray, shape (K, p)
        AR(p) coefficients (``Estimates.g``), p = 1 or 2.
    frame_rate : float
        Hz.

    Returns
    -------
    ndarray of float64, shape (K,)
        Seconds; NaN for no kernel (p = 0), a zero or non-finite one, or one that does not decay (``rho >= 1``).

    Examples
    --------
    >>> kernel_decay_times(np.array([[np.exp(-1 / 15.0)], [0.0]]), 15.0).round(3).tolist()
    [1.0, nan]
    """
    g = np.asarray(g, np.float64)
    if g.ndim != 2:
        raise ValueError(f"g must have shape (K, p), got {g.shape}")
    out = np.full(g.shape[0], np.nan)
    for k, row in enumerate(g):
        if row.size == 0 or not np.all(np.isfinite(row)) or not np.any(row):
            continue
        rho = float(np.max(np.abs(np.roots(np.r_[1.0, -row]))))
        if 0.0 < rho < 1.0:
            out[k] = -1.0 / (float(frame_rate) * math.log(rho))
    return out


def measured_decay_time(g: np.ndarray, selected: np.ndarray, frame_rate: float, decay_time: float) -> dict:
    """The recording's decay time: the median fitted kernel decay of the selected components.

    Parameters
    ----------
    g : ndarray, shape (K, p)
        The fit's AR coefficients (``Estimates.g``).
    selected : ndarray of bool, shape (K,)
        The components to measure (:func:`snr_window`: the confident ones).
    frame_rate : float
        Hz.
    decay_time : float
        Seconds: the configured decay (``cnmfe.decay_time``). The fit gives a trace without a decaying model the
        kernel of this decay (:func:`~ace_neuro.cnmfe.temporal.deconvolve_trace`); such kernels are left out, and
        it is the answer when fewer than :data:`MIN_KERNELS` remain.

    Returns
    -------
    dict
        ``decay_time`` (s, the value to use), ``source`` (``"measured"`` or ``"fallback"``), ``median_s`` (the
        unbounded median, None without kernels), ``quartiles_s``, ``n_kernels`` (measured), ``n_fallback_kernels``
        (selected but left out), ``n_selected``, ``bounds_s``, ``min_kernels``.

    Examples
    --------
    >>> g = np.full((12, 1), np.exp(-1 / 24.0))
    >>> d = measured_decay_time(g, np.ones(12, bool), 20.0, 0.4)
    >>> d["source"], round(d["decay_time"], 3)
    ('measured', 1.2)
    >>> measured_decay_time(g[:5], np.ones(5, bool), 20.0, 0.4)["source"]
    'fallback'
    """
    g = np.asarray(g, np.float64)
    if g.ndim == 1:
        g = g.reshape(-1, 1) if g.size else g.reshape(0, 0)
    passing = np.asarray(selected, bool).reshape(-1)
    if g.shape[0] != passing.size:
        raise ValueError(f"g has {g.shape[0]} kernels but {passing.size} components are selected or not")
    if g.shape[1]:
        fallback_coefficients = fallback_kernel(g.shape[1], float(decay_time) * float(frame_rate))
        fallback = np.all(np.isclose(g, fallback_coefficients[None, :], rtol=1e-6, atol=1e-7), axis=1)
    else:
        fallback = np.zeros(g.shape[0], bool)
    decays = kernel_decay_times(g, frame_rate)
    chosen = decays[passing & ~fallback & np.isfinite(decays)]
    out = {"source": "fallback", "decay_time": float(decay_time), "median_s": None, "quartiles_s": None,
           "n_kernels": int(chosen.size), "n_fallback_kernels": int(np.sum(passing & fallback)),
           "n_selected": int(passing.sum()), "bounds_s": list(DECAY_BOUNDS_S), "min_kernels": MIN_KERNELS}
    if chosen.size:
        q25, q50, q75 = np.quantile(chosen, [0.25, 0.5, 0.75])
        out.update(median_s=round(float(q50), 4), quartiles_s=[round(float(q25), 4), round(float(q75), 4)])
        if chosen.size >= MIN_KERNELS:
            out.update(source="measured", decay_time=float(np.clip(q50, *DECAY_BOUNDS_S)))
    return out


def snr_sample_rate(frame_rate: float, snr_rate: float | None) -> float:
    """Hz: the rate of the samples the SNR is measured on (``snr_rate`` when the recording is faster, as
    :func:`~ace_neuro.cnmfe.snr.trace_snr` averages it)."""
    return float(snr_rate) if snr_rate is not None and float(frame_rate) > float(snr_rate) else float(frame_rate)


def transient_snr(peak: float, decay_samples: float, window: int) -> float:
    """The SNR (:func:`~ace_neuro.cnmfe.snr.trace_snr`'s statistic) of one noise-free exponential transient.

    The run of ``window`` samples from the peak: ``z_i = peak exp(-i / decay_samples)``, ``SNR = -Phi^-1(exp(mean_i
    log Phi(-z_i)))``.

    Parameters
    ----------
    peak : float
        Height in the estimator's units (three noise standard deviations).
    decay_samples : float
        Decay time constant, samples (> 0).
    window : int
        ``N``, samples.

    Returns
    -------
    float

    Examples
    --------
    >>> round(transient_snr(3.0, 1e9, 6), 3)   # a flat run of 6 samples at 3: its own height
    3.0
    """
    z = float(peak) * np.exp(-np.arange(int(window)) / float(decay_samples))
    return float(-scipy.special.ndtri_exp(np.mean(scipy.special.log_ndtr(-z))))


def threshold_for_window(value: float, decay_samples: float, window: int, reference_window: int) -> float:
    """An SNR threshold given for ``reference_window`` re-expressed for ``window``: the SNR under ``window`` of the
    exponential transient (decay ``decay_samples``) whose SNR under ``reference_window`` is ``value``.

    Parameters
    ----------
    value : float
        The threshold for the reference window (e.g. ``SNR_lowest``); values <= 0 are returned as they are.
    decay_samples : float
        The transient's decay, samples (the window's decay time times the SNR's sample rate).
    window, reference_window : int
        Samples.

    Returns
    -------
    float
        Rounded to 4 decimals; ``value`` itself when the windows are equal.

    Examples
    --------
    >>> threshold_for_window(2.2, 6.0, 6, 6)
    2.2
    >>> round(threshold_for_window(2.2, 23.1, 24, 6), 2)   # 1.54 s at 15 Hz: CaImAn's window 0.4 s -> 1.6 s
    1.6
    """
    value = float(value)
    if window == reference_window or not value > 0:
        return value

    def gap(peak: float) -> float:
        return transient_snr(peak, decay_samples, reference_window) - value

    high = max(1.0, 2.0 * value)
    while gap(high) < 0:
        high *= 2.0
    peak = scipy.optimize.brentq(gap, 0.0, high, xtol=1e-10)
    return round(transient_snr(peak, decay_samples, window), 4)


def snr_window(setting: float | str | None, *, g: np.ndarray | None, reference_snr: np.ndarray, r_values: np.ndarray,
               frame_rate: float, decay_time: float, snr_rate: float | None, rval_thr: float, rval_lowest: float,
               min_SNR: float, SNR_lowest: float) -> dict:
    """The SNR's decay time and window for ``evaluate.snr_decay_time``, and ``min_SNR`` / ``SNR_lowest`` for it.

    Parameters
    ----------
    setting : "auto", float or None
        ``"auto"``: :func:`measured_decay_time`; a number: seconds; None: ``decay_time`` (CaImAn's window).
    g : ndarray, shape (K, p), or None
        The fit's AR coefficients.
    reference_snr, r_values : ndarray, shape (K,)
        The SNR with CaImAn's window (``decay_time``) and the r-values: with ``"auto"`` the kernels of the confident
        components (``SNR > min_SNR``, ``r >= rval_thr``, ``r > rval_lowest``) are measured.
    frame_rate : float
        Hz.
    decay_time : float
        Seconds: ``cnmfe.decay_time``, the reference window's (the thresholds are given for it).
    snr_rate : float or None
        ``evaluate.snr_frame_rate`` (:func:`snr_sample_rate`).
    rval_thr, rval_lowest, min_SNR, SNR_lowest : float
        The evaluate thresholds as configured.

    Returns
    -------
    dict
        ``setting``, ``decay_time`` (s, the window's), ``reference_decay_time`` (s), ``sample_rate`` (Hz),
        ``window_samples``, ``reference_window_samples``, ``min_SNR`` and ``SNR_lowest`` (for the window,
        :func:`threshold_for_window`; as configured when the windows are equal), and with ``"auto"`` the
        measurement (``measured``: :func:`measured_decay_time`'s dict).

    Examples
    --------
    >>> g = np.full((12, 1), np.exp(-1 / 23.1)); r = np.full(12, 0.9); snr = np.full(12, 4.0)
    >>> w = snr_window("auto", g=g, reference_snr=snr, r_values=r, frame_rate=15.0, decay_time=0.4, snr_rate=20.0,
    ...                rval_thr=0.85, rval_lowest=-1.0, min_SNR=3.0, SNR_lowest=2.2)
    >>> w["window_samples"], w["reference_window_samples"], round(w["SNR_lowest"], 2), round(w["min_SNR"], 2)
    (24, 6, 1.6, 2.18)
    """
    rate = snr_sample_rate(frame_rate, snr_rate)
    out = {"setting": setting, "reference_decay_time": float(decay_time), "sample_rate": rate}
    if setting is None:
        window_decay = float(decay_time)
    elif isinstance(setting, str):
        if setting != "auto":
            raise ValueError(f"snr_decay_time must be 'auto', a number of seconds or None, got {setting!r}")
        g = np.zeros((np.size(r_values), 0)) if g is None else g
        snr, r = np.asarray(reference_snr, np.float64), np.asarray(r_values, np.float64)
        confident = np.isfinite(snr) & np.isfinite(r) & (snr > min_SNR) & (r >= rval_thr) & (r > rval_lowest)
        out["measured"] = measured_decay_time(g, confident, frame_rate, decay_time)
        window_decay = out["measured"]["decay_time"]
    else:
        window_decay = float(setting)
    window_decay = round(float(window_decay), 4)
    window, reference = snr_window_samples(rate, window_decay), snr_window_samples(rate, decay_time)
    decay_samples = window_decay * rate
    out.update(decay_time=window_decay, window_samples=window, reference_window_samples=reference,
               min_SNR=threshold_for_window(min_SNR, decay_samples, window, reference),
               SNR_lowest=threshold_for_window(SNR_lowest, decay_samples, window, reference))
    return out
