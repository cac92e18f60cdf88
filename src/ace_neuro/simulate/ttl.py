"""Ephys TTL pulses: one per acquired frame on a drifting ephys clock, with missing and spurious pulses."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["simulate_ttl_times"]


def simulate_ttl_times(
    frame_times_s: np.ndarray,
    *,
    drift_ppm: float = 20.0,
    offset_s: float = 3.25,
    n_missing: int = 3,
    n_extra: int = 3,
    jitter_s: float = 1e-4,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """TTL rising edges recorded on an ephys clock, one per acquired frame, with faults.

    The ephys clock runs ``drift_ppm`` parts per million fast relative to the Miniscope
    clock and reads ``offset_s`` at the first frame:
    ``true_ephys = offset_s + frame_times_s * (1 + drift_ppm * 1e-6)``. Observed edges add
    Gaussian jitter, lose ``n_missing`` pulses (never the first or the last) and gain
    ``n_extra`` spurious pulses at random times between the first and last pulse, at
    least a quarter of the median frame period away from every true pulse.

    Parameters
    ----------
    frame_times_s : ndarray, shape (T,), float
        Acquisition times of all acquired frames in seconds (Miniscope clock), increasing.
    drift_ppm, offset_s, jitter_s : float
        Clock drift (ppm), ephys time of frame time 0 (s), edge jitter standard deviation (s).
    n_missing, n_extra : int
        Number of missed and of spurious pulses.
    seed : int
        Seed of the random faults and jitter.

    Returns
    -------
    ttl_times_s : ndarray, shape (T - n_missing + n_extra,), float64
        Observed rising-edge times on the ephys clock, sorted.
    true_frame_times_ephys_s : ndarray, shape (T,), float64
        Exact (jitter-free) ephys time of every acquired frame.
    missing_idx : ndarray, shape (n_missing,), int64
        Acquired frame indices whose pulse is missing, sorted.
    extra_idx : ndarray, shape (n_extra,), int64
        Indices into ``ttl_times_s`` of the spurious pulses, sorted.

    Examples
    --------
    >>> t = np.arange(100) / 20.0
    >>> ttl, true, miss, extra = simulate_ttl_times(t, n_missing=2, n_extra=1)
    >>> len(ttl), len(true), len(miss), len(extra)
    (99, 100, 2, 1)
    """
    times = np.asarray(frame_times_s, dtype=np.float64)
    if times.ndim != 1 or times.size < 2:
        raise ValueError(f"frame_times_s must be a 1-D array of at least 2 times, got shape {times.shape}")
    if not np.all(np.isfinite(times)) or np.any(np.diff(times) <= 0):
        raise ValueError("frame_times_s must be finite and strictly increasing")
    T = times.size
    if not (0 <= n_missing <= T - 2):
        raise ValueError(f"n_missing = {n_missing} must be between 0 and {T - 2} (frames minus first and last)")
    if n_extra < 0:
        raise ValueError(f"n_extra = {n_extra} must be >= 0")
    if jitter_s < 0:
        raise ValueError(f"jitter_s = {jitter_s} must be >= 0")
    if not math.isfinite(drift_ppm) or abs(drift_ppm) >= 1e4:
        raise ValueError(f"drift_ppm = {drift_ppm} must be finite and below 10000 in magnitude")
    period = float(np.median(np.diff(times)))
    if jitter_s > period / 10:
        raise ValueError(f"jitter_s = {jitter_s} must be below a tenth of the frame period ({period:g} s)")
    rng = np.random.default_rng([int(seed), 11])
    true = offset_s + times * (1.0 + drift_ppm * 1e-6)
    observed = true + rng.normal(0.0, jitter_s, T) if jitter_s > 0 else true.copy()
    missing = np.sort(rng.choice(np.arange(1, T - 1), size=n_missing, replace=False)).astype(np.int64)
    kept = np.delete(observed, missing)
    extra = []
    while len(extra) < n_extra:
        cand = rng.uniform(true[0], true[-1])
        if np.min(np.abs(true - cand)) >= period / 4 and all(abs(cand - e) >= period / 4 for e in extra):
            extra.append(cand)
    all_times = np.concatenate([kept, np.asarray(extra, np.float64)])
    is_extra = np.concatenate([np.zeros(kept.size, bool), np.ones(len(extra), bool)])
    order = np.argsort(all_times, kind="stable")
    return all_times[order], true, missing, np.flatnonzero(is_extra[order]).astype(np.int64)

