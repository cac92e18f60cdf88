"""Three SciPy functions on traces, in NumPy, bit for bit: evaluate's step without ``scipy.signal`` / ``scipy.stats``.

Importing ``scipy.signal`` or ``scipy.stats`` costs ~0.8 CPU s (SciPy 1.17: both pull in ``scipy.interpolate``,
``scipy.optimize``, ``scipy.special`` and parse docstrings at import), more than the evaluate step's own work on a
small recording, for three functions: :func:`scipy.signal.find_peaks` with a height (the r-values' peak frames),
:func:`scipy.signal.lfilter` as an AR(1) filter (the SNR floor's null traces) and :func:`scipy.stats.skew` (the
vessel-border features). Each function here follows SciPy's own arithmetic, operation for operation, so its results
are SciPy's to the last bit (``tests/unit/test_trace_stats.py`` compares them).
"""

from __future__ import annotations

import numpy as np

__all__ = ["peaks_above", "ar1_filter", "skewness"]


def peaks_above(trace: np.ndarray, height: float) -> np.ndarray:
    """Local maxima of ``trace`` at or above ``height``: ``scipy.signal.find_peaks(trace, height=height)[0]``.

    A peak is a sample, or a run of equal samples (a plateau), with a lower
    sample on both sides; a plateau's peak is its middle sample (the left one
    of two). The first and last samples are never peaks.

    Parameters
    ----------
    trace : numpy.ndarray, shape (T,)
        Any real dtype.
    height : float
        Lowest value of a peak (inclusive).

    Returns
    -------
    numpy.ndarray of intp, shape (n_peaks,)
        Indices of the peaks, increasing.

    Examples
    --------
    >>> peaks_above(np.array([0, 2, 1, 3, 3, 3, 0, 5]), 1.5)
    array([1, 4])
    """
    x = np.asarray(trace)
    if x.ndim != 1:
        raise ValueError(f"trace must be 1-D, got shape {x.shape}")
    if x.shape[0] < 3:
        return np.zeros(0, dtype=np.intp)
    starts = np.concatenate(([0], np.flatnonzero(x[1:] != x[:-1]) + 1))  # first sample of each run of equal values
    ends = np.concatenate((starts[1:] - 1, [x.shape[0] - 1]))
    values = x[starts]
    # a run with a lower run on both sides; the first and last runs touch the trace's ends
    inner = np.flatnonzero((values[:-2] < values[1:-1]) & (values[2:] < values[1:-1])) + 1
    middles = (starts[inner] + ends[inner]) // 2
    return middles[x[middles] >= height].astype(np.intp)


def ar1_filter(noise: np.ndarray, phi: float) -> np.ndarray:
    """AR(1) filter along the last axis: ``scipy.signal.lfilter([1.0], [1.0, -phi], noise, axis=-1)``.

    ``y[t] = noise[t] + phi * y[t - 1]``, ``y[0] = noise[0]``, in float64,
    the same operations as ``lfilter``'s direct form II (its state is
    ``phi * y[t - 1]`` exactly).

    Parameters
    ----------
    noise : numpy.ndarray, shape (..., T)
        Converted to float64.
    phi : float
        The lag-1 coefficient.

    Returns
    -------
    numpy.ndarray of float64, shape (..., T)

    Examples
    --------
    >>> ar1_filter(np.array([[1.0, 0.0, 0.0, 2.0]]), 0.5)
    array([[1.   , 0.5  , 0.25 , 2.125]])
    """
    x = np.asarray(noise, dtype=np.float64)
    # time first, so that each step reads and writes one contiguous row of every trace
    moved = np.ascontiguousarray(x.reshape(-1, x.shape[-1]).T)
    out = np.empty_like(moved)
    phi = float(phi)
    if moved.shape[0]:
        out[0] = moved[0]
    for t in range(1, moved.shape[0]):
        np.multiply(out[t - 1], phi, out=out[t])
        np.add(out[t], moved[t], out=out[t])
    return np.ascontiguousarray(out.T).reshape(x.shape)


def skewness(values: np.ndarray) -> float:
    """Sample skewness (biased): ``scipy.stats.skew(values)``, NaN when the values are (numerically) constant.

    ``m3 / m2 ** 1.5`` with ``m2`` the mean of ``d ** 2`` and ``m3`` the mean
    of ``d ** 2 * d``, ``d`` the deviations from the mean, in float64.

    Parameters
    ----------
    values : numpy.ndarray, shape (n,)
        Converted to float64 (SciPy computes float32 input in float32).

    Returns
    -------
    float

    Examples
    --------
    >>> round(skewness(np.array([0.0, 0.0, 0.0, 1.0])), 6)
    1.154701
    """
    x = np.asarray(values, dtype=np.float64)
    mean = np.mean(x, keepdims=True)
    deviations = x - mean
    m2 = np.mean(deviations**2)
    s = deviations.copy()
    s = s**2
    s *= deviations
    m3 = np.mean(s)
    with np.errstate(all="ignore"):
        if m2 <= (np.finfo(np.float64).eps * mean[0]) ** 2:
            return float("nan")
        return float(m3 / m2**1.5)
