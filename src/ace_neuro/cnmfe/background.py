"""Ring-model background of CNMF-E, fitted in one streaming pass.

One-photon background is large and spatially smooth but not low-rank. CNMF-E
models it at each pixel as a weighted sum of the data on a thin ring around the
pixel, outside the neuron it may contain:

    B = W (Y - A C - b0 1^T),   W[i, j] != 0 only for j on the ring of i,

with the ring radius ``ring_size_factor * gSiz / 2``. The weights of pixel
``i`` solve a least-squares problem over time whose normal equations need only
the Gram matrix of the residual on the ring of ``i`` and its products with the
residual at ``i``; both are sums over frames, accumulated chunk by chunk
(memory ``P_B * R**2`` for ``P_B`` pixels at ``ssub_B`` resolution and ``R``
ring pixels, independent of the recording length).

The ring works at ``ssub_B`` x ``ssub_B`` block-averaged resolution and each
full-resolution pixel takes its block's value, the convention of
:func:`ace_neuro.cnmfe.estimates.decimation_matrix`.

References
----------
Zhou P, et al. (2018). Efficient and accurate extraction of in vivo calcium
signals from microendoscopic video data. eLife 7:e28728 (Methods, "ring model").
"""

from __future__ import annotations

from typing import Iterator

import numpy as np
import scipy.sparse

from ..pools import map_threads
from .estimates import downsampled_dims

__all__ = ["ring_radius", "ring_offsets", "ring_neighbours", "RingStats", "Downsampler"]


def ring_radius(gSiz, ring_size_factor: float, ssub_B: int) -> int:
    """Ring radius in pixels at ``ssub_B`` resolution (at least 1)."""
    return max(1, int(round(ring_size_factor * max(gSiz) / 2.0 / ssub_B)))


def ring_offsets(radius: int) -> np.ndarray:
    """``(R, 2)`` integer (row, col) offsets with ``radius <= distance < radius + 1``."""
    r = int(radius)
    yy, xx = np.mgrid[-r - 1:r + 2, -r - 1:r + 2]
    d2 = yy ** 2 + xx ** 2
    keep = (d2 >= r * r) & (d2 < (r + 1) ** 2)
    return np.stack([yy[keep], xx[keep]], axis=1)


def ring_neighbours(dims: tuple[int, int], offsets: np.ndarray) -> np.ndarray:
    """Ring members of every pixel, ``(h*w, R)`` int, Fortran pixel order; ``h*w`` marks "outside"."""
    h, w = dims
    rows, cols = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    rows, cols = rows.ravel(order="F"), cols.ravel(order="F")
    rr = rows[:, None] + offsets[None, :, 0]
    cc = cols[:, None] + offsets[None, :, 1]
    inside = (rr >= 0) & (rr < h) & (cc >= 0) & (cc < w)
    return np.where(inside, rr + cc * h, h * w).astype(np.int64)


def _block_mean(cube: np.ndarray, s: int) -> np.ndarray:
    """``(a, b, L)`` -> ``(ceil(a/s), ceil(b/s), L)`` block means over the first two axes.

    Partial blocks average what they hold.
    """
    a, b, n = cube.shape
    ab, bb = -(-a // s), -(-b // s)
    if ab * s != a or bb * s != b:
        padded = np.zeros((ab * s, bb * s, n), np.float32)
        padded[:a, :b] = cube
        cube = padded
    # each block's sum as NumPy's sum over the block's two outer axes adds (the same bits): the block's pixels
    # along the first axis, for each offset along the second, then those partial sums in order; formed from
    # strided views of the cube, with one temporary of the result's size and no copy of the chunk
    sums = _first_axis_sum(cube, s, 0)
    part = np.empty_like(sums) if s > 1 else None
    for j in range(1, s):
        sums += _first_axis_sum(cube, s, j, out=part)
    if ab * s == a and bb * s == b:
        sums /= np.float32(s * s)  # the same division as by the array of the blocks' sizes, all s * s here
    else:
        ra = np.minimum(s, a - np.arange(ab) * s).astype(np.float32)
        rb = np.minimum(s, b - np.arange(bb) * s).astype(np.float32)
        sums /= (ra[:, None] * rb[None, :])[..., None]
    return sums


def _first_axis_sum(cube: np.ndarray, s: int, j: int, out: np.ndarray | None = None) -> np.ndarray:
    """``cube[0::s, j::s] + cube[1::s, j::s] + ...`` (``s`` terms, added in that order), float32, into ``out``."""
    if s == 1:
        return cube[:, j::s].astype(np.float32, copy=True)
    out = np.add(cube[0::s, j::s], cube[1::s, j::s], out=out)
    for i in range(2, s):
        out += cube[i::s, j::s]
    return out


class Downsampler:
    """Block-mean ``D`` (full -> ``ssub_B`` grid) and nearest upsampling ``U = (D > 0)^T``.

    Same operators as :func:`ace_neuro.cnmfe.estimates.decimation_matrix`,
    applied by reshaping instead of sparse products.
    """

    def __init__(self, dims: tuple[int, int], ssub_B: int) -> None:
        self.dims = tuple(int(d) for d in dims)
        self.ssub_B = int(ssub_B)
        self.low_dims = downsampled_dims(self.dims, self.ssub_B)

    def to_low(self, pixels: np.ndarray) -> np.ndarray:
        """``(h*w, L)`` -> ``(P_B, L)`` (Fortran pixel order on both grids)."""
        if self.ssub_B == 1:
            return pixels
        h, w = self.dims
        n = pixels.shape[1]
        cube = pixels.reshape(w, h, n)  # [col, row, t]
        return _block_mean(cube, self.ssub_B).reshape(-1, n)

    def to_full(self, low: np.ndarray) -> np.ndarray:
        """``(P_B, L)`` -> ``(h*w, L)``: every pixel takes its block's value."""
        if self.ssub_B == 1:
            return low
        full = np.empty((self.dims[0] * self.dims[1], low.shape[1]), low.dtype)
        for full_part, low_part in self._blocks(full, low):
            full_part[...] = low_part
        return full

    def subtract_full(self, pixels: np.ndarray, low: np.ndarray) -> np.ndarray:
        """``pixels -= U low`` in place, ``pixels`` ``(h*w, L)``, ``low`` ``(P_B, L)``; returns ``pixels``.

        The same values as ``pixels - to_full(low)`` without a full-size temporary.
        """
        if self.ssub_B == 1:
            pixels -= low
            return pixels
        for full_part, low_part in self._blocks(pixels, low):
            full_part -= low_part
        return pixels

    def _blocks(self, full: np.ndarray, low: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Pairs of views: the pixels at offset ``(i, j)`` of every block, and their blocks' low values."""
        h, w = self.dims
        hb, wb = self.low_dims
        s = self.ssub_B
        n = low.shape[1]
        full_cube = full.reshape(w, h, n)  # [col, row, t]
        low_cube = low.reshape(wb, hb, n)
        for i in range(s):
            for j in range(s):
                part = full_cube[i::s, j::s]
                yield part, low_cube[: part.shape[0], : part.shape[1]]


def _canonical(d: tuple[int, int]) -> bool:
    return d[0] > 0 or (d[0] == 0 and d[1] >= 0)


class RingStats:
    """Sufficient statistics for the ring weights, accumulated over chunks of frames.

    For pixel ``i`` with ring members ``i + o_r`` the normal equations need
    ``G_i[r, s] = sum_t x(i + o_r, t) x(i + o_s, t)`` and
    ``g_i[r] = sum_t x(i, t) x(i + o_r, t)``. Both are values of the lagged
    product images ``P_d(q) = sum_t x(q, t) x(q + d, t)`` for the differences
    ``d`` of ring offsets, so only those images are accumulated (one per
    difference vector, up to sign), and ``G`` is assembled at the end.

    Parameters
    ----------
    low_dims : (int, int)
        Grid of the ring model (``ssub_B`` resolution).
    radius : int
        Ring radius in grid pixels.
    threads : int
        Threads sharing the accumulation of the product images.
    """

    def __init__(self, low_dims: tuple[int, int], radius: int, threads: int = 1) -> None:
        self.threads = max(1, int(threads))
        self.low_dims = tuple(int(d) for d in low_dims)
        self.n = self.low_dims[0] * self.low_dims[1]
        self.offsets = ring_offsets(radius)
        self.nbr = ring_neighbours(self.low_dims, self.offsets)
        self.R = self.nbr.shape[1]
        diffs = {(0, 0)}
        for a in self.offsets:
            diffs.add(tuple(int(v) for v in a))
            for b in self.offsets:
                d = tuple(int(v) for v in (b - a))
                diffs.add(d if _canonical(d) else (-d[0], -d[1]))
        self.diffs = sorted(diffs)
        self.index = {d: i for i, d in enumerate(self.diffs)}
        self.margin = 2 * int(radius) + 2
        h, w = self.low_dims
        self.products = np.zeros((len(self.diffs), h, w), np.float64)
        self.sums = np.zeros((h, w), np.float64)
        self.count = 0

    def prepare(self, residual_low: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """What :meth:`update` adds, formed from one chunk alone (the accumulators are not touched).

        Parameters
        ----------
        residual_low : ndarray, shape (P_B, L)
            Frames of the residual ``Y - A C - b0`` at ring resolution.

        Returns
        -------
        padded : ndarray, shape (h + 2 margin, w + 2 margin, L), float32
            The frames as images, zero-padded by the ring's reach.
        sums : ndarray, shape (h, w), float64
            Each pixel's sum over the frames.

        A pure function of the chunk: the reading threads can form it while
        :meth:`update` adds the chunk before (:meth:`.passes.MoviePasses.fit_background`).
        """
        x = np.asarray(residual_low, dtype=np.float32)
        n_frames = x.shape[1]
        h, w = self.low_dims
        m = self.margin
        padded = np.zeros((h + 2 * m, w + 2 * m, n_frames), np.float32)
        padded[m:m + h, m:m + w] = x.reshape(w, h, n_frames).transpose(1, 0, 2)
        return padded, padded[m:m + h, m:m + w].sum(axis=2, dtype=np.float64)

    def update(self, residual_low: np.ndarray | tuple[np.ndarray, np.ndarray], band_bytes: int = 2**22) -> None:
        """Add frames of the residual ``Y - A C - b0`` at ring resolution, ``(P_B, L)`` (or :meth:`prepare`'s result).

        The product images are formed by bands of rows: each band (with the
        rows its differences reach) stays in the cache while every difference
        reads it, and the bands are shared by ``threads`` threads. Each pixel's
        sum over frames is the same loop whatever the band, so the images are
        the same bit for bit whatever ``threads`` and ``band_bytes`` (about the
        bytes of one band of the chunk).
        """
        padded, sums = residual_low if isinstance(residual_low, tuple) else self.prepare(residual_low)
        n_frames = padded.shape[2]
        h, w = self.low_dims
        m = self.margin
        centre = padded[m:m + h, m:m + w]
        # bands of at most about band_bytes, as many as a multiple of the threads (an even share for each)
        n_bands = -(-4 * (w + 2 * m) * n_frames * h // max(1, int(band_bytes)))
        n_bands = min(h, -(-max(1, n_bands) // self.threads) * self.threads)
        rows = -(-h // n_bands)

        def band(r0: int) -> None:
            r1 = min(h, r0 + rows)
            here = centre[r0:r1]
            for i, (dy, dx) in enumerate(self.diffs):
                shifted = padded[m + dy + r0:m + dy + r1, m + dx:m + dx + w]
                self.products[i, r0:r1] += np.einsum("ijt,ijt->ij", here, shifted)

        # numpy releases the GIL in einsum's loops; each band's rows of the product images are its own
        map_threads(band, range(0, h, rows), self.threads)
        self.sums += sums
        self.count += n_frames

    def _centred_images(self) -> tuple[np.ndarray, int]:
        """Centred lagged products as zero-padded images, ``(n_diffs, h + 2m, w + 2m)`` float64, and ``m``.

        Entry ``[k, m + r, m + c]`` is the centred lagged product
        ``sum_t (x(q) - m(q)) (x(q + d) - m(q + d))`` of difference ``d = diffs[k]`` at pixel
        ``q = (r, c)`` (zero where ``q`` or ``q + d`` is outside the frame), so the weights model
        the background's fluctuations, not the residual's mean.
        """
        h, w = self.low_dims
        m = self.margin
        n = max(self.count, 1)
        sums = np.zeros((h + 2 * m, w + 2 * m))
        sums[m:m + h, m:m + w] = self.sums
        out = np.zeros((len(self.diffs), h + 2 * m, w + 2 * m))
        for k, (dy, dx) in enumerate(self.diffs):
            partner = sums[m + dy:m + dy + h, m + dx:m + dx + w]  # zero where q + d is outside
            out[k, m:m + h, m:m + w] = self.products[k] - self.sums * partner / n
        return out, m

    def solve(self, ridge: float = 1e-3, block: int = 8192) -> scipy.sparse.csr_matrix:
        """Ring weights ``W`` ``(P_B, P_B)`` by ridge-regularised least squares per pixel.

        ``ridge`` is relative to the mean diagonal of each pixel's Gram matrix;
        ring members outside the frame get zero weight. Pixels are solved in
        blocks of about ``block`` (whole columns of the grid) to bound memory.
        """
        R = self.R
        h, w = self.low_dims
        images, m = self._centred_images()
        weights = np.zeros((self.n, R))
        idx = np.arange(R)

        def values(d, base, c0: int, c1: int) -> np.ndarray:
            # centred P_d(q + base) for the pixels of columns c0:c1 (Fortran order)
            d = (int(d[0]), int(d[1]))
            if _canonical(d):
                k, shift = self.index[d], (int(base[0]), int(base[1]))
            else:
                k, shift = self.index[(-d[0], -d[1])], (int(base[0]) + d[0], int(base[1]) + d[1])
            img = images[k, m + shift[0]:m + shift[0] + h, m + shift[1] + c0:m + shift[1] + c1]
            return img.ravel(order="F")

        # blocks of whole columns shared by the threads, each the size of a single thread's block: the same
        # memory in flight, and each pixel's system solved alone, so the weights do not depend on the threads
        cols_per_block = max(1, int(block) // max(h, 1) // self.threads)
        zero = np.zeros(2, int)

        def solve_block(c0: int) -> np.ndarray:
            c1 = min(w, c0 + cols_per_block)
            pix = np.arange(c0 * h, c1 * h)
            gram_rs = np.empty((R, R, pix.size))  # pixel-last while filling: contiguous writes
            cross = np.empty((R, pix.size))
            for r in range(R):
                cross[r] = values(self.offsets[r], zero, c0, c1)
                for s_ in range(r, R):
                    gram_rs[r, s_] = values(self.offsets[s_] - self.offsets[r], self.offsets[r], c0, c1)
                    gram_rs[s_, r] = gram_rs[r, s_]
            gram = gram_rs.transpose(2, 0, 1)  # a view: LAPACK's batched solve copies each matrix anyway
            cross = cross.T
            outside = self.nbr[pix] == self.n
            diag = np.einsum("nii->ni", gram)
            scale = np.where(outside, 0.0, diag).sum(axis=1) / np.maximum((~outside).sum(axis=1), 1)
            scale = np.where(scale > 0, scale, 1.0)
            gram[:, idx, idx] += ridge * scale[:, None] + outside * scale[:, None]
            cross[outside] = 0.0
            wb = np.linalg.solve(gram, cross[..., None])[..., 0]
            wb[outside] = 0.0
            return wb

        starts = range(0, w, cols_per_block)
        for c0, wb in zip(starts, map_threads(solve_block, starts, self.threads)):
            weights[c0 * h:min(w, c0 + cols_per_block) * h] = wb
        outside = self.nbr == self.n
        rows = np.repeat(np.arange(self.n), R)
        keep = ~outside.ravel()
        return scipy.sparse.csr_matrix(
            (weights.ravel()[keep].astype(np.float32), (rows[keep], self.nbr.ravel()[keep])), shape=(self.n, self.n)
        )
