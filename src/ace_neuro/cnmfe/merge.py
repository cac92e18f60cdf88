"""Merging of components: overlapping and correlated, or duplicated.

Two components are merged when their footprints overlap and their traces
correlate above ``merge_thr`` (CaImAn's rule), or when they are duplicates:
footprints so similar (cosine similarity above ``dup_thr``) that they are the
same cell found twice, e.g. in the overlap of two patches. Each group of
components connected by these relations is replaced by the best rank-1
non-negative approximation of its summed contribution ``A_S C_S``: the top
eigenvector of ``A_S (C_S C_S^T) A_S^T``, found in the members' space (a few
components) without forming any pixel-by-frame or pixel-by-pixel array
(:func:`top_footprint`).

References
----------
Pnevmatikakis EA, et al. (2016). Neuron 89(2):285-299 (merging).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse
from scipy.sparse.csgraph import connected_components

__all__ = ["merge_groups", "merge_components", "top_footprint"]


#: Bytes of the float64 block of rows :func:`_corrcoef` squares at a time.
_BLOCK_BYTES = 32 * 2**20


def _corrcoef(C: np.ndarray) -> np.ndarray:
    """``(K, K)`` correlation of the rows of ``C`` ``(K, T)``, with one ``K x T`` float64 array alive.

    Centred, normalised and multiplied in place (the squares summed by blocks of rows): the same operations,
    and the same bits, as forming each step's result in a new array.
    """
    Cc = np.array(C, np.float64)  # a copy, centred in place
    Cc -= Cc.mean(axis=1, keepdims=True)
    rows = max(1, _BLOCK_BYTES // (8 * max(1, Cc.shape[1])))
    norm = np.concatenate([np.zeros(0)] + [(Cc[r:r + rows] ** 2).sum(axis=1) for r in range(0, len(Cc), rows)])
    norm = np.sqrt(norm)
    norm = np.where(norm > 0, norm, np.inf)
    Cc /= norm[:, None]
    return Cc @ Cc.T


def _touching(A: scipy.sparse.csc_matrix, dims: tuple[int, int]) -> np.ndarray:
    """``(K, K)`` bool: supports overlap or touch (8-neighbourhood)."""
    h, w = dims
    mask = scipy.sparse.csc_matrix((A != 0).astype(np.float32))
    grown = []
    for k in range(mask.shape[1]):
        idx = mask.indices[mask.indptr[k]:mask.indptr[k + 1]]
        rows, cols = idx % h, idx // h
        rr = (rows[:, None] + np.array([-1, -1, -1, 0, 0, 0, 1, 1, 1])[None]).ravel()
        cc = (cols[:, None] + np.array([-1, 0, 1, -1, 0, 1, -1, 0, 1])[None]).ravel()
        ok = (rr >= 0) & (rr < h) & (cc >= 0) & (cc < w)
        grown.append(np.unique(rr[ok] + cc[ok] * h))
    indptr = np.cumsum([0] + [g.size for g in grown])
    dil = scipy.sparse.csc_matrix(
        (np.ones(indptr[-1], np.float32), np.concatenate(grown) if grown else np.zeros(0, int), indptr), shape=mask.shape
    )
    return (dil.T @ mask).toarray() > 0


def merge_groups(
    A: scipy.sparse.csc_matrix,
    C: np.ndarray,
    merge_thr: float,
    dup_thr: float | None = 0.7,
    dims: tuple[int, int] | None = None,
) -> list[np.ndarray]:
    """Groups of components to merge (each of two or more indices).

    Parameters
    ----------
    A : sparse (n_pixels, K)
        Footprints.
    C : ndarray, shape (K, T)
        Traces.
    merge_thr : float
        Trace correlation above which overlapping components merge.
    dup_thr : float or None
        Footprint cosine similarity above which components merge whatever
        their traces (duplicates); None disables.
    dims : (h, w), optional
        Frame size; when given, footprints that touch (8-neighbourhood)
        count as overlapping, so the two halves of a split neuron merge.

    Returns
    -------
    list of ndarray of int
    """
    A = scipy.sparse.csc_matrix(A, dtype=np.float64, copy=True)  # never share index arrays with the caller
    n_comp = A.shape[1]
    if n_comp < 2:
        return []
    AA = (A.T @ A).toarray()
    norms = np.sqrt(np.maximum(np.diag(AA), 1e-300))
    cosine = AA / norms[:, None] / norms[None, :]
    overlap = AA > 0
    if dims is not None:
        touch = _touching(A, dims)
        overlap |= touch | touch.T
    corr = _corrcoef(C)
    link = overlap & (corr > merge_thr)
    if dup_thr is not None:
        link |= cosine > dup_thr
    np.fill_diagonal(link, False)
    n_groups, labels = connected_components(scipy.sparse.csr_matrix(link), directed=False)
    groups = []
    for g in range(n_groups):
        members = np.flatnonzero(labels == g)
        if members.size > 1:
            groups.append(members)
    return groups


def top_footprint(a_sub: np.ndarray, gram: np.ndarray) -> np.ndarray:
    """Unit top eigenvector of ``a_sub @ gram @ a_sub.T``, computed in the members' space.

    With ``gram = V diag(w) V^T`` (positive semi-definite) and ``Y = a_sub V diag(sqrt(w))``, the matrix is
    ``Y Y^T``; its top eigenvector is ``Y v / |Y v|`` with ``v`` the top eigenvector of the small ``Y^T Y``. The
    pixels x pixels matrix (72 MB and 20 CPU s of eigendecomposition for a group spanning 3,000 pixels, growing
    as the square and the cube) is never formed.

    Parameters
    ----------
    a_sub : ndarray, shape (u, s), float64
        The members' footprints on the union of their supports.
    gram : ndarray, shape (s, s), float64
        ``C_S C_S^T`` of the members' traces.

    Returns
    -------
    ndarray, shape (u,), float64
        The eigenvector, sign not fixed (callers take its absolute value).
    """
    w, V = np.linalg.eigh(gram)
    Y = a_sub @ (V * np.sqrt(np.maximum(w, 0.0)))
    _, small_vecs = np.linalg.eigh(Y.T @ Y)
    vec = Y @ small_vecs[:, -1]
    norm = np.linalg.norm(vec)
    return vec / norm if norm > 0 else vec


def merge_components(
    A: scipy.sparse.csc_matrix,
    C: np.ndarray,
    merge_thr: float,
    dup_thr: float | None = 0.7,
    dims: tuple[int, int] | None = None,
) -> tuple[scipy.sparse.csc_matrix, np.ndarray, list[np.ndarray]]:
    """Merge overlapping correlated components and duplicates.

    Parameters
    ----------
    A : sparse (n_pixels, K), C : (K, T), merge_thr, dup_thr, dims
        See :func:`merge_groups`.

    Returns
    -------
    A_new : csc_matrix (n_pixels, K'), float32, unit-norm columns for merged components
    C_new : ndarray (K', T) float32
    groups : list of ndarray
        The merged groups (indices into the input); the merged component of
        each group takes the place of its first member, the others are removed.
    """
    A = scipy.sparse.csc_matrix(A, dtype=np.float64, copy=True)  # never share index arrays with the caller
    C = np.asarray(C)  # no float64 copy of all traces: each group's rows are promoted where used (same values)
    groups = merge_groups(A, C, merge_thr, dup_thr, dims)
    if not groups:  # the traces themselves (float32): a copy would be one more K x T array alive in the caller
        return scipy.sparse.csc_matrix(A, dtype=np.float32), np.asarray(C, np.float32), []
    cols = [A[:, k] for k in range(A.shape[1])]
    merged = {}
    removed = set()
    for members in groups:
        sub = A[:, members]
        rows = np.unique(sub.indices)
        a_sub = sub[rows].toarray()  # (u, s)
        c_sub = np.asarray(C[members], np.float64)
        a = np.abs(top_footprint(a_sub, c_sub @ c_sub.T))
        c = (a @ a_sub) @ c_sub
        if c.max() < 0:
            c = -c
        c = np.maximum(c, 0.0)
        col = np.zeros(A.shape[0])
        col[rows] = a
        cols[members[0]] = scipy.sparse.csc_matrix(col[:, None])
        merged[int(members[0])] = c
        removed.update(int(k) for k in members[1:])
    keep = [k for k in range(A.shape[1]) if k not in removed]
    A_new = scipy.sparse.hstack([cols[k] for k in keep], format="csc").astype(np.float32)
    # the kept rows straight into float32 (a float32 row through float64 and back is the same bits)
    C_new = np.asarray(C[keep], np.float32)
    for i, k in enumerate(keep):
        if k in merged:
            C_new[i] = merged[k]
    return A_new, C_new, groups
