"""Rigid and non-rigid brain motion, and frame timing (jitter, dropped frames)."""

from __future__ import annotations

import math

import numpy as np
from scipy import signal

from .config import SimulationConfig
from .fields import smooth_field


def rigid_motion(rng: np.random.Generator, cfg: SimulationConfig) -> np.ndarray:
    """(T, 2) bounded smooth random walk with occasional sharper jumps."""
    T, fs, A = cfg.n_frames, cfg.frame_rate, cfg.motion_amplitude_px
    if A == 0:
        return np.zeros((T, 2), np.float32)
    dt = 1.0 / fs
    out = np.zeros((T, 2))
    for axis in range(2):
        # slow drift/wander (Ornstein-Uhlenbeck, tau 2 s) + fast small jitter (tau 0.1 s)
        slow = signal.lfilter([1.0], [1.0, -math.exp(-dt / 2.0)], rng.standard_normal(T))
        slow *= (A / 2.5) / max(slow.std(), 1e-12)
        fast = signal.lfilter([1.0], [1.0, -math.exp(-dt / 0.1)], rng.standard_normal(T))
        fast *= (A / 15.0) / max(fast.std(), 1e-12)
        out[:, axis] = slow + fast
    n_jumps = rng.poisson(cfg.motion_jump_rate_hz * T / fs)
    for t0 in np.sort(rng.integers(1, T, size=n_jumps)):
        step = rng.normal(0, A / 2.0, size=2)
        tau = rng.uniform(0.5, 3.0)  # s, relaxation back towards the rest position
        rise = max(1, int(round(0.1 * fs)))  # the jump happens within ~0.1 s
        t = np.arange(T - t0)
        profile = np.minimum(t / rise, 1.0) * np.exp(-np.maximum(t - rise, 0) * dt / tau)
        out[t0:] += profile[:, None] * step
    return (A * np.tanh(out / A)).astype(np.float32)


def nonrigid_motion(rng: np.random.Generator, cfg: SimulationConfig) -> tuple[np.ndarray, np.ndarray]:
    """Field (2, H, W), zero spatial mean, max magnitude 1; time course (T,) bounded by the amplitude."""
    H, W, T, fs = cfg.height, cfg.width, cfg.n_frames, cfg.frame_rate
    fld = np.stack([smooth_field(rng, (H, W), max(H, W) / 2.5) for _ in range(2)])
    fld -= fld.mean(axis=(1, 2), keepdims=True)
    mag = np.sqrt((fld**2).sum(axis=0)).max()
    fld = (fld / mag if mag > 0 else fld).astype(np.float32)
    if cfg.nonrigid_amplitude_px == 0:
        return fld, np.zeros(T, np.float32)
    x = signal.lfilter([1.0], [1.0, -math.exp(-1.0 / (fs * 1.0))], rng.standard_normal(T))
    x /= max(x.std(), 1e-12)
    return fld, (cfg.nonrigid_amplitude_px * np.tanh(x / 1.5)).astype(np.float32)


def frame_timing(rng: np.random.Generator, cfg: SimulationConfig) -> tuple[np.ndarray, np.ndarray]:
    """Acquisition times (s, jittered) and whether each frame was written (False: dropped), both (T,)."""
    T, fs = cfg.n_frames, cfg.frame_rate
    times = np.arange(T) / fs + rng.normal(0, cfg.timestamp_jitter_ms / 1000.0, T)
    times[0] = 0.0
    written = np.ones(T, bool)
    if cfg.dropped_frames:
        written[rng.choice(np.arange(1, T), size=cfg.dropped_frames, replace=False)] = False
    return times, written

