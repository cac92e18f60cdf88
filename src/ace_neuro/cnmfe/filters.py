"""The seeding filter of CNMF-E and small image helpers.

One-photon frames carry a large, smooth background. Filtering each frame with a
Gaussian of width ``gSig`` minus its own mean over an ellipse of size ``gSiz``
(a zero-sum "Mexican hat") keeps blobs of a neuron's size and removes anything
smoother (Zhou et al. 2018, "center_psf").
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np

__all__ = ["center_psf_kernel", "filter_frames", "filter_at", "reflect_index", "downsample_frames"]


def center_psf_kernel(gSig, gSiz, center: bool = True) -> np.ndarray:
    """Seeding kernel, float32 of shape ``gSiz`` (made odd).

    Parameters
    ----------
    gSig : (int, int)
        Gaussian standard deviation (rows, cols) in pixels.
    gSiz : (int, int)
        Kernel size (rows, cols); even sizes are increased by one.
    center : bool
        If true, subtract the kernel's mean over its elliptical support and zero
        it outside, so that the kernel sums to zero; else a plain Gaussian.

    Returns
    -------
    ndarray, shape (gSiz[0] | 1, gSiz[1] | 1)
    """
    sig = [float(v) for v in gSig]
    siz = [int(v) // 2 * 2 + 1 for v in gSiz]
    gy = cv2.getGaussianKernel(siz[0], sig[0], cv2.CV_64F)
    gx = cv2.getGaussianKernel(siz[1], sig[1], cv2.CV_64F)
    psf = gy @ gx.T
    if center:
        support = psf >= psf[0].max()
        psf = psf - psf[support].mean()
        psf[~support] = 0.0
    return psf.astype(np.float32)


def filter_frames(frames: np.ndarray, kernel: np.ndarray, threads: int = 1) -> np.ndarray:
    """Correlate each frame of ``(L, h, w)`` with ``kernel`` (reflected border), float32.

    With ``threads > 1`` the frames are split between that many threads
    (OpenCV releases the GIL while filtering).
    """
    frames = np.asarray(frames, dtype=np.float32)
    out = np.empty_like(frames)

    def work(lo: int, hi: int) -> None:
        for i in range(lo, hi):
            cv2.filter2D(frames[i], cv2.CV_32F, kernel, dst=out[i], borderType=cv2.BORDER_REFLECT)

    n = frames.shape[0]
    threads = max(1, min(int(threads), n))
    if threads == 1:
        work(0, n)
        return out
    bounds = np.linspace(0, n, threads + 1).astype(int)
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for f in [pool.submit(work, int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]:
            f.result()
    return out


def reflect_index(index: np.ndarray, size: int) -> np.ndarray:
    """OpenCV's ``BORDER_REFLECT`` (``fedcba|abcdef|fedcba``) of integer indices into ``[0, size)``."""
    period = 2 * size
    index = np.mod(index, period)
    return np.where(index < size, index, period - 1 - index)


def filter_at(frames: np.ndarray, kernel: np.ndarray, pixels: np.ndarray) -> np.ndarray:
    """:func:`filter_frames` evaluated only at ``pixels``, ``(L, n)`` float32.

    Parameters
    ----------
    frames : ndarray, shape (L, h, w)
    kernel : ndarray, shape (kh, kw), odd sizes
    pixels : ndarray, shape (n, 2), int
        ``(row, col)`` of each pixel.

    Returns
    -------
    ndarray, shape (L, n)
        The filtered movie at those pixels (same border handling as
        :func:`filter_frames`), at a cost proportional to ``n``, not to the frame.
    """
    frames = np.asarray(frames, dtype=np.float32)
    pixels = np.asarray(pixels, dtype=np.int64).reshape(-1, 2)
    _, h, w = frames.shape
    kh, kw = kernel.shape
    if pixels.shape[0] == 0:
        return np.zeros((frames.shape[0], 0), np.float32)
    rows = reflect_index(pixels[:, 0, None] + np.arange(kh) - kh // 2, h)  # (n, kh)
    cols = reflect_index(pixels[:, 1, None] + np.arange(kw) - kw // 2, w)  # (n, kw)
    patches = frames[:, rows[:, :, None], cols[:, None, :]]  # (L, n, kh, kw)
    return np.einsum("tnij,ij->tn", patches, kernel.astype(np.float32), dtype=np.float32)


def downsample_frames(frames: np.ndarray, ssub: int, tsub: int = 1) -> np.ndarray:
    """Block-average ``(L, h, w)`` frames by ``tsub`` in time and ``ssub`` in space.

    Partial blocks at the edges average the pixels (frames) they have, as
    :func:`ace_neuro.cnmfe.estimates.decimation_matrix`.
    """
    frames = np.asarray(frames, dtype=np.float32)
    n, h, w = frames.shape
    if tsub > 1:
        full = (n // tsub) * tsub
        parts = [frames[:full].reshape(-1, tsub, h, w).mean(axis=1, dtype=np.float32)]
        if full < n:
            parts.append(frames[full:].mean(axis=0, keepdims=True, dtype=np.float32))
        frames = np.concatenate(parts, axis=0) if len(parts) > 1 else parts[0]
    if ssub > 1:
        n = frames.shape[0]
        hb, wb = -(-h // ssub), -(-w // ssub)
        if hb * ssub != h or wb * ssub != w:
            padded = np.zeros((n, hb * ssub, wb * ssub), np.float32)
            padded[:, :h, :w] = frames
            frames = padded
        sums = frames.reshape(n, hb, ssub, wb, ssub).sum(axis=(2, 4), dtype=np.float32)
        rc = np.minimum(ssub, h - np.arange(hb) * ssub).astype(np.float32)
        cc = np.minimum(ssub, w - np.arange(wb) * ssub).astype(np.float32)
        frames = sums / (rc[:, None] * cc[None, :])
    return frames
