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

import numpy as np
import scipy.sparse

from .estimates import decimation_matrix, downsampled_dims

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
    sums = cube.reshape(ab, s, bb * s, n).sum(axis=1, dtype=np.float32)
    sums = sums.reshape(ab, bb, s, n).sum(axis=2, dtype=np.float32)
    ra = np.minimum(s, a - np.arange(ab) * s).astype(np.float32)
    rb = np.minimum(s, b - np.arange(bb) * s).astype(np.float32)
    sums /= (ra[:, None] * rb[None, :])[..., None]
    return sums


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
        h, w = self.dims
        hb, wb = self.low_dims
        s = self.ssub_B
        n = low.shape[1]
        cube = low.reshape(wb, hb, n)
        full = np.repeat(np.repeat(cube, s, axis=0)[:w], s, axis=1)[:, :h]
        return np.ascontiguousarray(full).reshape(w * h, n)


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
    """

    def __init__(self, low_dims: tuple[int, int], radius: int) -> None:
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

    def update(self, residual_low: np.ndarray) -> None:
        """Add frames of the residual ``Y - A C - b0`` at ring resolution, ``(P_B, L)``."""
        x = np.asarray(residual_low, dtype=np.float32)
        n_frames = x.shape[1]
        h, w = self.low_dims
        m = self.margin
        padded = np.zeros((h + 2 * m, w + 2 * m, n_frames), np.float32)
        padded[m:m + h, m:m + w] = x.reshape(w, h, n_frames).transpose(1, 0, 2)
        centre = padded[m:m + h, m:m + w]
        for i, (dy, dx) in enumerate(self.diffs):
            shifted = padded[m + dy:m + dy + h, m + dx:m + dx + w]
            self.products[i] += np.einsum("ijt,ijt->ij", centre, shifted)
        self.sums += centre.sum(axis=2, dtype=np.float64)
        self.count += n_frames

    def _lookup(self, d: np.ndarray, base: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Centred ``P_d(q + base)`` for pixels ``q = (rows, cols)``; 0 where a pixel is outside.

        Centred: ``sum_t (x(q) - m(q)) (x(q + d) - m(q + d))``, so the weights
        model the background's fluctuations, not the residual's mean.
        """
        h, w = self.low_dims
        if _canonical(tuple(int(v) for v in d)):
            k, shift, step = self.index[tuple(int(v) for v in d)], base, d
        else:
            k, shift, step = self.index[(-int(d[0]), -int(d[1]))], base + d, -d
        rr, cc = rows + shift[0], cols + shift[1]
        r2, c2 = rr + step[0], cc + step[1]
        inside = (rr >= 0) & (rr < h) & (cc >= 0) & (cc < w) & (r2 >= 0) & (r2 < h) & (c2 >= 0) & (c2 < w)
        out = np.zeros(rows.size)
        n = max(self.count, 1)
        a, b = (rr[inside], cc[inside]), (r2[inside], c2[inside])
        out[inside] = self.products[k][a] - self.sums[a] * self.sums[b] / n
        return out

    def solve(self, ridge: float = 1e-3, block: int = 8192) -> scipy.sparse.csr_matrix:
        """Ring weights ``W`` ``(P_B, P_B)`` by ridge-regularised least squares per pixel.

        ``ridge`` is relative to the mean diagonal of each pixel's Gram matrix;
        ring members outside the frame get zero weight. Pixels are solved in
        blocks of ``block`` to bound memory.
        """
        R = self.R
        h, _ = self.low_dims
        weights = np.zeros((self.n, R))
        idx = np.arange(R)
        for p0 in range(0, self.n, block):
            pix = np.arange(p0, min(self.n, p0 + block))
            rows, cols = pix % h, pix // h
            gram = np.zeros((pix.size, R, R))
            cross = np.zeros((pix.size, R))
            zero = np.zeros(2, int)
            for r in range(R):
                cross[:, r] = self._lookup(self.offsets[r], zero, rows, cols)
                for s in range(r, R):
                    vals = self._lookup(self.offsets[s] - self.offsets[r], self.offsets[r], rows, cols)
                    gram[:, r, s] = vals
                    gram[:, s, r] = vals
            outside = self.nbr[pix] == self.n
            diag = np.einsum("nii->ni", gram)
            scale = np.where(outside, 0.0, diag).sum(axis=1) / np.maximum((~outside).sum(axis=1), 1)
            scale = np.where(scale > 0, scale, 1.0)
            gram[:, idx, idx] += ridge * scale[:, None] + outside * scale[:, None]
            cross[outside] = 0.0
            wb = np.linalg.solve(gram, cross[..., None])[..., 0]
            wb[outside] = 0.0
            weights[pix] = wb
        outside = self.nbr == self.n
        rows = np.repeat(np.arange(self.n), R)
        keep = ~outside.ravel()
        return scipy.sparse.csr_matrix(
            (weights.ravel()[keep].astype(np.float32), (rows[keep], self.nbr.ravel()[keep])), shape=(self.n, self.n)
        )
