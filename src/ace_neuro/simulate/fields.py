"""Random smooth fields and band-limited time series, the simulator's building blocks."""

from __future__ import annotations

import math

import cv2
import numpy as np
from scipy import ndimage


def seeded_rng(seed: int, purpose: int) -> np.random.Generator:
    """The random generator of one part of the model (``purpose``), independent of the others for a ``seed``."""
    return np.random.default_rng([seed, purpose])


def smooth_field(rng: np.random.Generator, shape: tuple[int, int], scale_px: float) -> np.ndarray:
    """Smooth random field with zero mean and unit standard deviation, correlation length ~scale_px."""
    h, w = shape
    ch, cw = max(2, int(math.ceil(h / scale_px)) + 2), max(2, int(math.ceil(w / scale_px)) + 2)
    coarse = rng.standard_normal((ch, cw)).astype(np.float32)
    fine = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)
    fine = ndimage.gaussian_filter(fine, sigma=scale_px / 4.0, mode="reflect")
    fine -= fine.mean()
    sd = fine.std()
    return (fine / sd if sd > 0 else fine).astype(np.float32)


def band_limited_noise(rng: np.random.Generator, n: int, fs: float, lo: float, hi: float) -> np.ndarray:
    """Gaussian noise of length n with power only between lo and hi Hz, unit std."""
    spec = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, d=1.0 / fs)
    hi = min(hi, fs / 2)
    spec[(freqs < lo) | (freqs > hi)] = 0
    if not np.any(spec):
        spec[min(1, len(spec) - 1)] = 1.0
    x = np.fft.irfft(spec, n=n)
    x -= x.mean()
    sd = x.std()
    return x / sd if sd > 0 else x
