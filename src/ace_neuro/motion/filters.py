"""High-pass filter used to estimate shifts on one-photon data.

One-photon frames are dominated by a smooth, bright, fluctuating background
that moves with the tissue only partly; registering the raw frames locks onto
it. NoRMCorre for 1p (CaImAn's ``gSig_filt``) estimates shifts on a copy
filtered by a zero-sum centre-surround kernel (a Gaussian minus its mean over
a disc), which keeps neuron-sized structure and removes the background. The
shifts are then applied to the original frames.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["highpass_kernel", "highpass_filter"]


def highpass_kernel(gSig_filt: tuple[int, int]) -> np.ndarray:
    """Zero-sum centre-surround kernel for a half-size ``gSig_filt``.

    A Gaussian of standard deviation ``gSig_filt`` (rows, cols) on a box of
    odd size about ``3 * gSig_filt``, restricted to the inscribed ellipse, minus
    its mean over that ellipse, so that a constant (or a background smoother
    than the kernel) is removed.

    Parameters
    ----------
    gSig_filt : (int, int)
        Expected half-size of a neuron in pixels (rows, cols), >= 1.

    Returns
    -------
    numpy.ndarray of float32, shape (ky, kx)
        The kernel; sums to zero.

    Examples
    --------
    >>> k = highpass_kernel((3, 3))
    >>> k.shape, abs(float(k.sum())) < 1e-6
    ((9, 9), True)
    """
    sy, sx = (int(v) for v in gSig_filt)
    if sy < 1 or sx < 1:
        raise ValueError(f"gSig_filt must be two integers >= 1, got {gSig_filt!r}")
    ry, rx = (3 * sy) // 2, (3 * sx) // 2
    y = np.arange(-ry, ry + 1, dtype=np.float64)[:, None]
    x = np.arange(-rx, rx + 1, dtype=np.float64)[None, :]
    gauss = np.exp(-0.5 * (y / sy) ** 2 - 0.5 * (x / sx) ** 2)
    inside = (y / (ry + 0.5)) ** 2 + (x / (rx + 0.5)) ** 2 <= 1.0
    kernel = np.where(inside, gauss, 0.0)
    kernel[inside] -= kernel[inside].mean()
    kernel /= np.abs(kernel).sum()
    return kernel.astype(np.float32)


def highpass_filter(frame: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Filter one frame with ``kernel`` (mirror borders).

    Parameters
    ----------
    frame : numpy.ndarray, shape (H, W)
        Any real dtype.
    kernel : numpy.ndarray of float32
        From :func:`highpass_kernel`.

    Returns
    -------
    numpy.ndarray of float32, shape (H, W)
    """
    if frame.ndim != 2:
        raise ValueError(f"highpass_filter expects one frame (H, W), got shape {frame.shape}")
    return cv2.filter2D(np.asarray(frame, dtype=np.float32), cv2.CV_32F, kernel, borderType=cv2.BORDER_REFLECT)
