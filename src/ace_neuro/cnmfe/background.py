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


class Downsampler:
    """Block-mean ``D`` (full -> ``ssub_B`` grid) and nearest upsampling ``U = (D > 0)^T``."""

    def __init__(self, dims: tuple[int, int], ssub_B: int) -> None:
        self.dims = tuple(int(d) for d in dims)
        self.ssub_B = int(ssub_B)
        self.low_dims = downsampled_dims(self.dims, self.ssub_B)
        if self.ssub_B == 1:
            self.down = None
            self.up = None
        else:
            self.down = decimation_matrix(self.dims, self.ssub_B)
            self.up = scipy.sparse.csr_matrix((self.down > 0).T.astype(np.float32))

    def to_low(self, flat: np.ndarray) -> np.ndarray:
        """``(L, h*w)`` -> ``(L, P_B)``."""
        return flat if self.down is None else np.asarray((self.down @ flat.T).T, dtype=np.float32)

    def to_full(self, flat_low: np.ndarray) -> np.ndarray:
        """``(L, P_B)`` -> ``(L, h*w)``."""
        return flat_low if self.up is None else np.asarray((self.up @ flat_low.T).T, dtype=np.float32)


class RingStats:
    """Sufficient statistics for the ring weights, accumulated over chunks of frames.

    Parameters
    ----------
    low_dims : (int, int)
        Grid of the ring model (``ssub_B`` resolution).
    radius : int
        Ring radius in grid pixels.
    block_mb : float
        Memory for the temporary ``(pixels, R, frames)`` gather.
    """

    def __init__(self, low_dims: tuple[int, int], radius: int, block_mb: float = 64.0) -> None:
        self.low_dims = tuple(int(d) for d in low_dims)
        self.n = self.low_dims[0] * self.low_dims[1]
        self.nbr = ring_neighbours(self.low_dims, ring_offsets(radius))
        self.R = self.nbr.shape[1]
        dtype = np.float64 if self.n * self.R * self.R * 8 <= 512 * 2**20 else np.float32
        self.gram = np.zeros((self.n, self.R, self.R), dtype)
        self.cross = np.zeros((self.n, self.R), np.float64)
        self.block_mb = float(block_mb)

    def update(self, residual_low: np.ndarray) -> None:
        """Add frames of the residual ``Y - A C - b0`` at ring resolution, ``(L, P_B)``."""
        x = np.asarray(residual_low, dtype=np.float32)
        n_frames = x.shape[0]
        xpad = np.concatenate([x, np.zeros((n_frames, 1), np.float32)], axis=1)  # column n = outside
        xt = np.ascontiguousarray(xpad.T)  # (n+1, L)
        step = max(1, int(self.block_mb * 2**20 // (4 * self.R * max(n_frames, 1))))
        for p0 in range(0, self.n, step):
            p1 = min(self.n, p0 + step)
            ring = xt[self.nbr[p0:p1]]  # (b, R, L)
            self.gram[p0:p1] += np.matmul(ring, ring.transpose(0, 2, 1))
            self.cross[p0:p1] += np.matmul(ring, xt[p0:p1, :, None])[..., 0]

    def solve(self, ridge: float = 1e-3) -> scipy.sparse.csr_matrix:
        """Ring weights ``W`` ``(P_B, P_B)`` by ridge-regularised least squares per pixel.

        ``ridge`` is relative to the mean diagonal of each pixel's Gram matrix;
        ring members outside the frame get zero weight.
        """
        outside = self.nbr == self.n
        gram = self.gram.astype(np.float64)
        diag = np.einsum("nii->ni", gram)
        scale = diag.mean(axis=1)
        scale = np.where(scale > 0, scale, 1.0)
        idx = np.arange(self.R)
        gram[:, idx, idx] += ridge * scale[:, None] + outside * scale[:, None]
        weights = np.linalg.solve(gram, self.cross[..., None])[..., 0]
        weights[outside] = 0.0
        rows = np.repeat(np.arange(self.n), self.R)
        keep = ~outside.ravel()
        return scipy.sparse.csr_matrix(
            (weights.ravel()[keep].astype(np.float32), (rows[keep], self.nbr.ravel()[keep])), shape=(self.n, self.n)
        )
