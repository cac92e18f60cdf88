"""The wide seeding scale's images on block-averaged frames: a quarter of the pixels, a sixteenth of the taps.

The wide scale (:mod:`.wide_seeding`) looks for cells at least ``wide_seeding`` times as wide as a soma, through
a zero-mean Gaussian of ``wide_seeding gSig`` (:func:`.filters.center_psf_kernel`: 19 x 19 at ``gSig`` 2). What
it passes is smooth on the scale of a pixel, so it can be computed on frames averaged over ``b x b`` blocks
(area-preserving; ``b`` = ``wide_seeding_ssub``) with a kernel of about ``1 / b`` the width in block pixels:
``1 / b^2`` of the pixels and ``1 / b^2`` of the taps per pixel.

The block kernel (:func:`block_kernel`) is the full-resolution kernel itself, centred on the block's centre
(between pixels for even ``b``) and summed over the ``b x b`` pixels of every block: on frames constant over each
block it gives exactly the full-resolution filter's value at the block's centre, and its zero-mean disc keeps the
full-resolution radius (``gSiz // 2`` pixels, the blocks on its edge weighted by the pixels they hold). The
halved kernel ``center_psf_kernel(gSig, gSiz)`` on block-averaged frames, tried in session 12
(benchmarks/long_session.md), has a disc of ``gSiz // 2`` *block* pixels, a narrower filter: its null and its
calibrated ``min_pnr`` moved.

The statistics (mean, peak, noise, the correlation image with each block's 8 neighbours and their sign-flipped
null) are computed on the block-averaged filtered movie (:func:`.init.correlation_pnr_images`), then the images
are brought back to the seeding resolution by bilinear interpolation (:func:`upsample_image`), where the
thresholds are calibrated and the seeds found as before: a seed lands in its block's pixel nearest to the
interpolated peak, and the null and the images that are thresholded are the same interpolated images.
"""

from __future__ import annotations

from typing import Callable, Iterable

import cv2
import numpy as np

from .filters import downsample_frames
from .init import SeedImages, correlation_pnr_images

__all__ = ["binned_dims", "wide_bin", "block_average", "block_kernel", "upsample_image",
           "binned_correlation_pnr_images"]


def binned_dims(dims: tuple[int, int], b: int) -> tuple[int, int]:
    """``(h, w)`` in ``b x b`` blocks, partial blocks at the edges counted.

    Examples
    --------
    >>> binned_dims((608, 607), 2)
    (304, 304)
    """
    return -(-int(dims[0]) // b), -(-int(dims[1]) // b)


def wide_bin(w_sig, requested: int) -> int:
    """The block size used: ``requested``, lowered until the wide filter is at least 1.5 block pixels wide.

    Parameters
    ----------
    w_sig : (float, float)
        The wide scale's ``gSig`` (pixels at the seeding resolution).
    requested : int
        ``wide_seeding_ssub`` (1: full resolution).

    Examples
    --------
    >>> wide_bin([4.0, 4.0], 2), wide_bin([2.0, 2.0], 2), wide_bin([4.0, 4.0], 1)
    (2, 1, 1)
    """
    b = max(1, int(requested))
    while b > 1 and min(float(g) for g in w_sig) / b < 1.5:
        b -= 1
    return b


def block_average(frames: np.ndarray, b: int) -> np.ndarray:
    """``(L, h, w)`` frames averaged over ``b x b`` blocks, ``(L, h_b, w_b)`` float32 (:func:`binned_dims`).

    :func:`.filters.downsample_frames` (partial blocks at the edges average the pixels they hold), with the
    whole blocks averaged by OpenCV's area resampling frame by frame: the same values (float32 rounding), at
    about a tenth of the CPU.

    Examples
    --------
    >>> block_average(np.arange(15, dtype=np.float32).reshape(1, 3, 5), 2)[0].tolist()
    [[3.0, 5.0, 6.5], [10.5, 12.5, 14.0]]
    """
    frames = np.asarray(frames, dtype=np.float32)
    n, h, w = frames.shape
    hb, wb = binned_dims((h, w), b)
    hw, ww = h // b, w // b  # whole blocks
    out = np.empty((n, hb, wb), np.float32)
    if hw and ww:
        whole = out if (hw, ww) == (hb, wb) else np.empty((n, hw, ww), np.float32)
        for i in range(n):
            cv2.resize(frames[i, :hw * b, :ww * b], (ww, hw), dst=whole[i], interpolation=cv2.INTER_AREA)
        if whole is not out:
            out[:, :hw, :ww] = whole
    if hw < hb:
        out[:, hw:, :] = downsample_frames(frames[:, hw * b:, :], b)
    if ww < wb:
        out[:, :, ww:] = downsample_frames(frames[:, :, ww * b:], b)
    return out


def block_kernel(gSig, gSiz, b: int, center: bool = True) -> np.ndarray:
    """The seeding kernel of ``gSig`` / ``gSiz`` (full-resolution pixels) summed over ``b x b`` blocks, float32.

    The kernel of :func:`.filters.center_psf_kernel` (a Gaussian of standard deviation ``gSig``; with
    ``center`` its support is the ellipse of semi-axes ``gSiz // 2`` and its mean there is subtracted), evaluated
    at the full-resolution pixels around a block's centre, is summed over each block. Correlated with frames
    averaged over the same blocks it gives, on frames constant over each block, the full-resolution filter's
    value at the block's centre; its sum is zero with ``center``.

    Parameters
    ----------
    gSig : (float, float)
        Standard deviation (rows, cols), full-resolution pixels.
    gSiz : (int, int)
        Full-resolution kernel size (made odd, as :func:`.filters.center_psf_kernel`).
    b : int
        Block size (pixels).
    center : bool

    Returns
    -------
    ndarray, shape (2 R_y + 1, 2 R_x + 1), float32
        ``R = floor((gSiz // 2 + (b - 1) / 2) / b)``: the blocks holding a pixel within ``gSiz // 2`` of the
        centre along each axis.

    Examples
    --------
    >>> k = block_kernel([4.0, 4.0], [19, 19], 2)
    >>> k.shape, abs(float(k.sum())) < 1e-6
    ((9, 9), True)
    """
    sig = [float(v) for v in gSig]
    reach = [int(v) // 2 for v in gSiz]  # center_psf_kernel's half-size (sizes made odd)
    half = [int(np.floor((r + (b - 1) / 2.0) / b)) for r in reach]
    # the full-resolution pixels' offsets from the central block's centre, block by block (blocks x b each axis)
    within = np.arange(b) - (b - 1) / 2.0
    offsets = [(np.arange(-n, n + 1)[:, None] * b + within[None, :]).ravel() for n in half]
    # the full-resolution kernel's normalised Gaussian (cv2.getGaussianKernel's sum over the integer taps)
    norm = [np.exp(-(np.arange(-r, r + 1) ** 2) / (2.0 * s * s)).sum() for r, s in zip(reach, sig)]
    gy = np.exp(-(offsets[0] ** 2) / (2.0 * sig[0] ** 2)) / norm[0]
    gx = np.exp(-(offsets[1] ** 2) / (2.0 * sig[1] ** 2)) / norm[1]
    psf = gy[:, None] * gx[None, :]
    if center:
        edge = np.exp(-(reach[0] ** 2) / (2.0 * sig[0] ** 2)) / norm[0] / norm[1]  # the disc's edge value
        support = psf >= edge * (1.0 - 1e-9)
        psf = np.where(support, psf - psf[support].mean(), 0.0)
    else:
        inside = [np.abs(o) <= r for o, r in zip(offsets, reach)]
        psf = psf * (inside[0][:, None] & inside[1][None, :])
    ny, nx = (2 * n + 1 for n in half)
    return psf.reshape(ny, b, nx, b).sum(axis=(1, 3)).astype(np.float32)


def upsample_image(image: np.ndarray, dims: tuple[int, int], b: int) -> np.ndarray:
    """A ``(h_b, w_b)`` image of ``b x b`` blocks at the ``(h, w)`` pixels, bilinear between block centres, float32.

    Examples
    --------
    >>> upsample_image(np.array([[0.0, 4.0]], np.float32), (2, 4), 2)[0].tolist()
    [0.0, 1.0, 3.0, 4.0]
    """
    h, w = dims
    hb, wb = image.shape
    up = cv2.resize(np.asarray(image, np.float32), (wb * b, hb * b), interpolation=cv2.INTER_LINEAR)
    return np.ascontiguousarray(up[:h, :w])


def binned_correlation_pnr_images(
    chunks: Callable[[], Iterable[np.ndarray]],
    dims: tuple[int, int],
    gSig,
    gSiz,
    b: int,
    center_psf: bool,
    noise_range,
    noise_method: str,
    n_frames: int | None = None,
    threads: int = 1,
    scratch_dir: str | None = None,
    cache: bool = True,
    null_images: bool = False,
) -> SeedImages:
    """:func:`.init.correlation_pnr_images` of frames averaged over ``b x b`` blocks, as images of ``dims``.

    Parameters
    ----------
    chunks : callable
        Fresh iterator over ``(L, h, w)`` float32 chunks (called twice, or once with ``cache``).
    dims : (h, w)
    gSig, gSiz
        The filter, in pixels of ``dims`` (:func:`block_kernel` makes it a kernel of blocks).
    b : int
        Block size; 1 is :func:`.init.correlation_pnr_images` itself.
    center_psf, noise_range, noise_method, n_frames, threads, scratch_dir, cache, null_images
        As :func:`.init.correlation_pnr_images`.

    Returns
    -------
    SeedImages
        ``cn``, ``pnr``, ``mean``, ``noise`` (and the null images) of the block-averaged filtered movie,
        interpolated to ``(h, w)`` (:func:`upsample_image`); ``mean`` in the filtered movie's units
        (:func:`.init.extract_components` reads it at the seeds only as a constant subtracted from each trace,
        which its regression's intercept and the traces' median subtraction remove).
    """
    if b <= 1:
        return correlation_pnr_images(chunks, dims, gSig, gSiz, center_psf, noise_range, noise_method, n_frames,
                                      threads, scratch_dir, cache=cache, null_images=null_images)
    low = binned_dims(dims, b)
    kernel = block_kernel(gSig, gSiz, b, center_psf)
    images = correlation_pnr_images(lambda: (block_average(f, b) for f in chunks()), low, gSig, gSiz,
                                    center_psf, noise_range, noise_method, n_frames, threads, scratch_dir,
                                    cache=cache, null_images=null_images, kernel=kernel)
    up = {name: upsample_image(getattr(images, name), dims, b)
          for name in ("cn", "pnr", "mean", "noise", "cn_null", "pnr_null") if getattr(images, name) is not None}
    return SeedImages(**up)
