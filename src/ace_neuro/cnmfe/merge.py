"""Merging of components: overlapping and correlated, or duplicated.

Two components are merged when their footprints overlap and their traces
correlate above ``merge_thr`` (CaImAn's rule), or when they are duplicates:
footprints so similar (cosine similarity above ``dup_thr``) that they are the
same cell found twice, e.g. in the overlap of two patches. Each group of
components connected by these relations is replaced by the best rank-1
non-negative approximation of its summed contribution ``A_S C_S``, found from
``A_S (C_S C_S^T) A_S^T`` without forming any pixel-by-frame array.

References
----------
Pnevmatikakis EA, et al. (2016). Neuron 89(2):285-299 (merging).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse
from scipy.sparse.csgraph import connected_components

__all__ = ["merge_groups", "merge_components"]


def _corrcoef(C: np.ndarray) -> np.ndarray:
    C = np.asarray(C, np.float64)
    Cc = C - C.mean(axis=1, keepdims=True)
    norm = np.sqrt((Cc ** 2).sum(axis=1))
    norm = np.where(norm > 0, norm, np.inf)
    Cc = Cc / norm[:, None]
    return Cc @ Cc.T


def _leading_footprint(a_sub: np.ndarray, gram: np.ndarray) -> np.ndarray:
    """The leading eigenvector of ``a_sub gram a_sub^T`` ``(u, u)``, from an ``(u, s)`` problem.

    With ``gram = V diag(w) V^T`` (``s x s``, positive semi-definite), ``a_sub gram a_sub^T = H H^T`` with
    ``H = a_sub V diag(sqrt(w))``, whose leading left singular vector is the eigenvector sought: ``O(u s^2)``
    instead of the ``O(u^3)`` of the ``u x u`` eigenproblem (``u``, the group's pixels, runs to thousands for
    large footprints; ``s``, its members, is a few).

    Parameters
    ----------
    a_sub : ndarray, shape (u, s)
        The members' footprints on the group's pixels.
    gram : ndarray, shape (s, s)
        ``C_S C_S^T`` of the members' traces.

    Returns
    -------
    ndarray, shape (u,), unit norm (its sign is arbitrary)
    """
    w, v = np.linalg.eigh(gram)
    half = a_sub @ (v * np.sqrt(np.maximum(w, 0.0)))
    vecs, _, _ = np.linalg.svd(half, full_matrices=False)
    return vecs[:, 0]


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
    C = np.asarray(C, np.float64)
    groups = merge_groups(A, C, merge_thr, dup_thr, dims)
    if not groups:
        return scipy.sparse.csc_matrix(A, dtype=np.float32), C.astype(np.float32), []
    cols = [A[:, k] for k in range(A.shape[1])]
    traces = [C[k] for k in range(C.shape[0])]
    removed = set()
    for members in groups:
        sub = A[:, members]
        rows = np.unique(sub.indices)
        a_sub = sub[rows].toarray()  # (u, s)
        c_sub = C[members]
        a = np.abs(_leading_footprint(a_sub, c_sub @ c_sub.T))
        c = (a @ a_sub) @ c_sub
        if c.max() < 0:
            c = -c
        c = np.maximum(c, 0.0)
        col = np.zeros(A.shape[0])
        col[rows] = a
        cols[members[0]] = scipy.sparse.csc_matrix(col[:, None])
        traces[members[0]] = c
        removed.update(int(k) for k in members[1:])
    keep = [k for k in range(A.shape[1]) if k not in removed]
    A_new = scipy.sparse.hstack([cols[k] for k in keep], format="csc").astype(np.float32)
    C_new = np.stack([traces[k] for k in keep]).astype(np.float32)
    return A_new, C_new, groups
