"""Spatial update of CNMF-E: non-negative footprints on a dilated support (HALS).

Given traces ``C`` and the background-subtracted data ``Y - B``, the footprints
minimise ``||Y - B - b0 1^T - A C||^2`` with ``A >= 0`` and each footprint
restricted to a support: its current pixels dilated by a disk of radius ``gSig``
(so supports grow round by round, as far as the data show the cell), within a
round disk of radius ``gSiz`` around its centre. The per-pixel constant ``b0``
is eliminated by centring the traces over time. The problem needs only
``U = (Y - B) (C - mean C)^T`` on the supports and ``V = (C - mean C)(C - mean C)^T``,
sums over frames that stream; the solver is hierarchical alternating least
squares (HALS), one footprint at a time, touching only overlapping neighbours.

References
----------
Cichocki A, Phan AH (2009). Fast local algorithms for large scale nonnegative
matrix and tensor factorizations. IEICE Trans Fundamentals E92-A(3):708-721.
Zhou P, et al. (2018). eLife 7:e28728.
"""

from __future__ import annotations

import numpy as np
import scipy.ndimage as ndi
import scipy.sparse

__all__ = ["footprint_supports", "values_on_supports", "hals_footprints", "clean_footprint", "centroids"]


def centroids(A: scipy.sparse.csc_matrix, dims: tuple[int, int]) -> np.ndarray:
    """Weighted centre ``(row, col)`` of every footprint, ``(K, 2)`` float64."""
    h, _ = dims
    A = scipy.sparse.csc_matrix(A)
    out = np.zeros((A.shape[1], 2))
    for k in range(A.shape[1]):
        idx = A.indices[A.indptr[k]:A.indptr[k + 1]]
        val = A.data[A.indptr[k]:A.indptr[k + 1]].astype(np.float64)
        if val.sum() <= 0:
            out[k] = np.nan
            continue
        out[k] = ((idx % h) @ val / val.sum(), (idx // h) @ val / val.sum())
    return out


def values_on_supports(A: scipy.sparse.csc_matrix, supports: list[np.ndarray]) -> list[np.ndarray]:
    """Each footprint's values on its support (zero where it has none), ``A[s_k, k]``, in ``A``'s dtype.

    Parameters
    ----------
    A : scipy.sparse.csc_matrix, shape (P, K)
    supports : list of ndarray of int
        Sorted pixel indices, one array per column of ``A`` (:func:`footprint_supports`).

    Returns
    -------
    list of ndarray, shape (len(s_k),)
        The values ``A[:, k].toarray()[s_k]`` would give, read from the column's stored entries
        (no dense column of the frame's size per footprint).
    """
    A = scipy.sparse.csc_matrix(A)
    if not A.has_canonical_format:
        A = A.copy()
        A.sum_duplicates()
    out = []
    for k, support in enumerate(supports):
        idx = A.indices[A.indptr[k]:A.indptr[k + 1]]
        val = A.data[A.indptr[k]:A.indptr[k + 1]]
        values = np.zeros(support.size, A.dtype)
        if support.size and idx.size:
            pos = np.minimum(np.searchsorted(support, idx), support.size - 1)
            hit = support[pos] == idx
            values[pos[hit]] = val[hit]
        out.append(values)
    return out


def _disk(radius: int) -> np.ndarray:
    r = int(radius)
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
    return (yy ** 2 + xx ** 2) <= r * r + r  # a round-ish disk


def footprint_supports(A: scipy.sparse.csc_matrix, dims: tuple[int, int], gSig, gSiz) -> list[np.ndarray]:
    """Allowed pixels of each footprint at the next spatial update: its support grown by a disk of radius ``gSig``.

    As CaImAn's CNMF-E (its ``'dilate'`` search), the support of each update is the previous one dilated, so a
    footprint can grow round by round as far as the data show the cell and is never cut square by a box: an
    out-of-focus cell, larger than ``gSig`` says, is covered whole. The growth is bounded by the disk of radius
    ``max(gSiz)`` (the box size) around the footprint's centre, where a cell of the expected size has long faded
    into noise. Which of the new pixels the footprint takes is decided by the data (:func:`hals_footprints`, then
    :func:`clean_footprint`).

    Parameters
    ----------
    A : scipy.sparse.csc_matrix, shape (h*w, K)
        Current footprints (Fortran pixel order).
    dims : (h, w)
    gSig, gSiz : (int, int)
        Neuron half-size and box size, pixels.

    Returns
    -------
    list of ndarray of int64
        Sorted Fortran pixel indices, one array per footprint.
    """
    h, w = dims
    A = scipy.sparse.csc_matrix(A)
    radius = max(1, int(np.ceil(max(gSig))))
    selem = _disk(radius)
    limit = float(max(gSiz))
    cents = centroids(A, dims)
    out = []
    for k in range(A.shape[1]):
        idx = A.indices[A.indptr[k]:A.indptr[k + 1]][A.data[A.indptr[k]:A.indptr[k + 1]] > 0]
        if idx.size == 0:
            out.append(np.zeros(0, np.int64))
            continue
        rows, cols = idx % h, idx // h
        r0, r1 = max(0, rows.min() - radius), min(h, rows.max() + radius + 1)
        c0, c1 = max(0, cols.min() - radius), min(w, cols.max() + radius + 1)
        mask = np.zeros((r1 - r0, c1 - c0), bool)
        mask[rows - r0, cols - c0] = True
        grown = ndi.binary_dilation(mask, structure=selem)
        rr, cc = np.nonzero(grown)
        near = (rr + r0 - cents[k, 0]) ** 2 + (cc + c0 - cents[k, 1]) ** 2 <= limit * limit
        keep = near | mask[rr, cc]  # pixels already in the footprint stay
        out.append(np.sort(((rr[keep] + r0) + (cc[keep] + c0) * h).astype(np.int64)))
    return out


def hals_footprints(
    supports: list[np.ndarray],
    U: list[np.ndarray],
    V: np.ndarray,
    initial: list[np.ndarray],
    n_iter: int = 5,
) -> list[np.ndarray]:
    """Non-negative least squares for footprints on fixed supports by HALS.

    Minimises ``sum_t ||y_t - sum_k a_k c_k(t)||^2`` (centred data and traces)
    over ``a_k >= 0`` supported on ``supports[k]``.

    Parameters
    ----------
    supports : list of ndarray of int64
        Sorted pixel indices of each footprint's support.
    U : list of ndarray of float
        ``U[k][i] = sum_t y_t[supports[k][i]] c_k(t)``.
    V : ndarray, shape (K, K)
        ``V = C C^T``.
    initial : list of ndarray
        Starting values on the supports.
    n_iter : int

    Returns
    -------
    list of ndarray of float32
        Footprint values on the supports.
    """
    n_comp = len(supports)
    a = [np.asarray(v, np.float64).copy() for v in initial]
    if n_comp == 0:
        return []
    n_pix = int(max((s.max() + 1 if s.size else 0) for s in supports))
    indptr = np.cumsum([0] + [s.size for s in supports])
    mask = scipy.sparse.csc_matrix(
        (np.ones(indptr[-1], np.float32), np.concatenate(supports), indptr), shape=(n_pix, n_comp)
    )
    overlap = (mask.T @ mask).tocsr()
    pairs: list[list[tuple[int, np.ndarray, np.ndarray]]] = []
    for k in range(n_comp):
        lst = []
        for j in overlap.indices[overlap.indptr[k]:overlap.indptr[k + 1]]:
            if j == k:
                continue
            _, pk, pj = np.intersect1d(supports[k], supports[j], assume_unique=True, return_indices=True)
            lst.append((int(j), pk, pj))
        pairs.append(lst)
    for _ in range(int(n_iter)):
        for k in range(n_comp):
            vkk = V[k, k]
            if vkk <= 0 or supports[k].size == 0:
                a[k][:] = 0.0
                continue
            grad = U[k] - vkk * a[k]
            for j, pk, pj in pairs[k]:
                if V[j, k] != 0.0:
                    grad[pk] -= V[j, k] * a[j][pj]
            a[k] = np.maximum(a[k] + grad / vkk, 0.0)
    return [v.astype(np.float32) for v in a]


def clean_footprint(idx: np.ndarray, values: np.ndarray, dims: tuple[int, int], keep_fraction: float = 0.02):
    """Keep the connected region of ``values >= keep_fraction * max`` that holds the maximum.

    Returns
    -------
    (idx, values) restricted, or two empty arrays when the footprint is zero.
    """
    h, _ = dims
    if values.size == 0 or values.max() <= 0:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    rows, cols = idx % h, idx // h
    r0, c0 = rows.min(), cols.min()
    img = np.zeros((rows.max() - r0 + 1, cols.max() - c0 + 1), np.float32)
    img[rows - r0, cols - c0] = values
    labels, _ = ndi.label(img >= keep_fraction * img.max(), structure=np.ones((3, 3)))
    peak = np.unravel_index(np.argmax(img), img.shape)
    keep = labels[rows - r0, cols - c0] == labels[peak]
    return idx[keep], values[keep].astype(np.float32)
