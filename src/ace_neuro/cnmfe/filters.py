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

__all__ = ["center_psf_kernel", "filter_frames", "kernel_bands", "filter_at", "reflect_index", "downsample_frames"]


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


#: OpenCV's ``filter2D`` correlates a float32 image directly (vectorised, over the kernel's non-zero taps) only
#: with kernels of fewer elements than this; larger kernels go through a DFT of the whole image (OpenCV's
#: ``dftFilter2D``), 5-10x slower for seeding's kernels (benchmarks/long_session.md, "Session 13").
CV_DIRECT_AREA = 130

#: Above this many non-zero taps OpenCV's DFT is about as cheap (608x608 frames: ~300 taps; 256x256: ~700) and
#: :func:`filter_frames` leaves the kernel to it. The wide seeding scale's kernel at ``gSig`` 2 has 253.
DIRECT_TAPS_MAX = 300


def kernel_bands(kernel: np.ndarray, max_area: int = CV_DIRECT_AREA - 1) -> list[tuple[int, int, np.ndarray]]:
    """Split ``kernel`` into bands of rows, each cut to its non-zero columns and of at most ``max_area`` elements.

    The bands' correlations, each placed at its offset, add up to the kernel's: OpenCV filters each band
    directly where it would filter the whole kernel through a DFT (:data:`CV_DIRECT_AREA`).

    Parameters
    ----------
    kernel : ndarray, shape (kh, kw)
    max_area : int
        Largest ``rows x columns`` of a band.

    Returns
    -------
    list of (row, col, band)
        ``band`` (float32, C-contiguous) is ``kernel[row:row + r, col:col + c]``; rows of zeros are skipped.
        Empty when one row's non-zero columns alone exceed ``max_area``.

    Examples
    --------
    >>> k = np.ones((3, 50), np.float32)
    >>> [(r, c, b.shape) for r, c, b in kernel_bands(k)]
    [(0, 0, (2, 50)), (2, 0, (1, 50))]
    """
    kernel = np.asarray(kernel, np.float32)
    bands: list[tuple[int, int, np.ndarray]] = []
    nonzero = kernel != 0
    rows = np.flatnonzero(nonzero.any(axis=1))
    i = 0
    while i < len(rows):
        r0, lo, hi = int(rows[i]), None, None
        j = i
        while j < len(rows):
            cols = np.flatnonzero(nonzero[rows[j]])
            new_lo = int(cols[0]) if lo is None else min(lo, int(cols[0]))
            new_hi = int(cols[-1]) + 1 if hi is None else max(hi, int(cols[-1]) + 1)
            if (int(rows[j]) + 1 - r0) * (new_hi - new_lo) > max_area:
                break
            lo, hi, j = new_lo, new_hi, j + 1
        if j == i:  # one row too wide for a direct filter
            return []
        r1 = int(rows[j - 1]) + 1
        bands.append((r0, lo, np.ascontiguousarray(kernel[r0:r1, lo:hi])))
        i = j
    return bands


def _direct_bands(kernel: np.ndarray, shape: tuple[int, int]) -> list[tuple[int, int, np.ndarray]] | None:
    """The bands :func:`filter_frames` filters ``shape`` frames with, or None to leave ``kernel`` to ``filter2D``."""
    kh, kw = kernel.shape
    if kernel.size < CV_DIRECT_AREA or np.count_nonzero(kernel) > DIRECT_TAPS_MAX:
        return None  # filtered directly by OpenCV already / the DFT is cheaper
    if kh // 2 >= shape[0] or kw // 2 >= shape[1]:
        return None  # a reflection wider than the frame: OpenCV's border handling
    return kernel_bands(kernel) or None


def _filter_banded(frame: np.ndarray, bands: list[tuple[int, int, np.ndarray]], ksize: tuple[int, int],
                   out: np.ndarray) -> None:
    """``cv2.filter2D(frame, CV_32F, kernel, borderType=BORDER_REFLECT)`` into ``out``, band by band.

    The frame is reflected by the kernel's reach once; each band is correlated directly with the rows and
    columns it covers (anchor at its corner) and the bands' results are added: the kernel's sum, in
    another order (float32 rounding).
    """
    h, w = frame.shape
    kh, kw = ksize
    top, left = kh // 2, kw // 2
    padded = cv2.copyMakeBorder(frame, top, kh - 1 - top, left, kw - 1 - left, cv2.BORDER_REFLECT)
    for b, (r0, c0, band) in enumerate(bands):
        br, bc = band.shape
        part = cv2.filter2D(padded[r0:r0 + h + br - 1, c0:c0 + w + bc - 1], cv2.CV_32F, band, anchor=(0, 0),
                            borderType=cv2.BORDER_REFLECT)
        if b == 0:
            out[...] = part[:h, :w]
        else:
            np.add(out, part[:h, :w], out=out)


def filter_frames(frames: np.ndarray, kernel: np.ndarray, threads: int = 1) -> np.ndarray:
    """Correlate each frame of ``(L, h, w)`` with ``kernel`` (reflected border), float32.

    As ``cv2.filter2D(frame, cv2.CV_32F, kernel, borderType=cv2.BORDER_REFLECT)`` per frame. Kernels of
    :data:`CV_DIRECT_AREA` elements or more, which OpenCV would filter through a DFT, are filtered directly
    in bands (:func:`kernel_bands`), up to :data:`DIRECT_TAPS_MAX` non-zero taps: the same sums in
    another order (float32 rounding, relative differences ~1e-7), 1.5-2x less CPU for the wide seeding
    scale's kernel. With ``threads > 1`` the frames are split between that many threads (OpenCV releases
    the GIL while filtering).
    """
    frames = np.asarray(frames, dtype=np.float32)
    kernel = np.asarray(kernel, dtype=np.float32)
    out = np.empty_like(frames)
    bands = _direct_bands(kernel, frames.shape[1:]) if frames.ndim == 3 else None

    def work(lo: int, hi: int) -> None:
        for i in range(lo, hi):
            if bands is None:
                cv2.filter2D(frames[i], cv2.CV_32F, kernel, dst=out[i], borderType=cv2.BORDER_REFLECT)
            else:
                _filter_banded(frames[i], bands, kernel.shape, out[i])

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
