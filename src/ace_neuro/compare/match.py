"""Match the components of two results on one recording by the overlap of their footprints.

Two engines (ours and CaImAn) find the same neuron with slightly different
footprints, in a different order. :func:`footprint_overlap` scores every pair
(cosine similarity of the footprints, or the Jaccard index of their
thresholded masks) and :func:`match_footprints` pairs them one-to-one with the
Hungarian method (``scipy.optimize.linear_sum_assignment``), maximising the
total overlap, keeping only pairs at or above ``min_overlap``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import scipy.optimize
import scipy.sparse

__all__ = ["FootprintMatches", "footprint_overlap", "match_footprints", "as_footprint_columns"]

_METHODS = ("cosine", "iou")


class FootprintMatches(NamedTuple):
    """One-to-one pairs between components ``a`` and ``b``, in increasing ``idx_a``."""

    idx_a: np.ndarray  #: (n,) int64 component of the first result
    idx_b: np.ndarray  #: (n,) int64 matched component of the second result
    overlap: np.ndarray  #: (n,) float64 overlap of each pair (cosine or IoU)
    only_a: np.ndarray  #: int64 components of ``a`` without a match
    only_b: np.ndarray  #: int64 components of ``b`` without a match


def as_footprint_columns(footprints: Any, dims: tuple[int, int] | None = None) -> scipy.sparse.csc_matrix:
    """Footprints as a sparse ``(H*W, K)`` float64 matrix in CaImAn's pixel order (``row + col * H``).

    Parameters
    ----------
    footprints : sparse (H*W, K) matrix, or ndarray (K, H, W)
        CaImAn's / our ``A``, or dense images (converted to the same pixel order).
    dims : (H, W), optional
        Checked against a sparse input's number of pixels when given.
    """
    if scipy.sparse.issparse(footprints):
        out = scipy.sparse.csc_matrix(footprints, dtype=np.float64)
        if dims is not None and out.shape[0] != int(dims[0]) * int(dims[1]):
            raise ValueError(f"footprints have {out.shape[0]} pixels, dims {tuple(dims)} have {int(dims[0]) * int(dims[1])}")
        return out
    dense = np.asarray(footprints, dtype=np.float64)
    if dense.ndim != 3:
        raise ValueError(f"footprints must be a sparse (H*W, K) matrix or an array (K, H, W), got shape {dense.shape}")
    n, height, width = dense.shape
    return scipy.sparse.csc_matrix(dense.transpose(0, 2, 1).reshape(n, height * width).T)


def _masks(columns: scipy.sparse.csc_matrix, mask_threshold: float) -> scipy.sparse.csc_matrix:
    """Pixels above ``mask_threshold`` times each footprint's maximum, as 0/1 columns."""
    columns = columns.tocsc(copy=True)
    columns.eliminate_zeros()
    peak = np.zeros(columns.shape[1])
    for k in range(columns.shape[1]):
        values = columns.data[columns.indptr[k]: columns.indptr[k + 1]]
        peak[k] = values.max() if values.size else 0.0
    column_of = np.repeat(np.arange(columns.shape[1]), np.diff(columns.indptr))
    keep = (columns.data > mask_threshold * peak[column_of]) & (columns.data > 0)
    mask = scipy.sparse.csc_matrix((keep.astype(np.float64), columns.indices, columns.indptr), shape=columns.shape)
    mask.eliminate_zeros()
    return mask


def footprint_overlap(a: Any, b: Any, *, method: str = "cosine", mask_threshold: float = 0.2,
                      dims: tuple[int, int] | None = None) -> np.ndarray:
    """Overlap of every footprint of ``a`` with every footprint of ``b``.

    Parameters
    ----------
    a, b : sparse (H*W, K) or ndarray (K, H, W)
        Footprints of the two results (same frame size).
    method : {'cosine', 'iou'}
        ``cosine``: ``<a, b> / (|a| |b|)`` of the non-negative footprints (1 for
        identical shapes, whatever their scale); ``iou``: Jaccard index of the
        masks ``footprint > mask_threshold * max``.
    mask_threshold : float
        Fraction of a footprint's maximum defining its mask (``iou`` only), in [0, 1).
    dims : (H, W), optional

    Returns
    -------
    ndarray of float64, shape (K_a, K_b)
        In [0, 1]; 0 for an empty footprint.
    """
    if method not in _METHODS:
        raise ValueError(f"method must be one of {list(_METHODS)}, got {method!r}")
    if not 0 <= mask_threshold < 1:
        raise ValueError(f"mask_threshold must be in [0, 1), got {mask_threshold}")
    cols_a = as_footprint_columns(a, dims)
    cols_b = as_footprint_columns(b, dims)
    if cols_a.shape[0] != cols_b.shape[0]:
        raise ValueError(f"the two results have {cols_a.shape[0]} and {cols_b.shape[0]} pixels; compare results of one recording")
    if cols_a.shape[1] == 0 or cols_b.shape[1] == 0:
        return np.zeros((cols_a.shape[1], cols_b.shape[1]))
    if method == "cosine":
        cols_a = cols_a.maximum(0)
        cols_b = cols_b.maximum(0)
        norm_a = np.sqrt(np.asarray(cols_a.multiply(cols_a).sum(axis=0)).ravel())
        norm_b = np.sqrt(np.asarray(cols_b.multiply(cols_b).sum(axis=0)).ravel())
        dot = (cols_a.T @ cols_b).toarray()
        denom = norm_a[:, None] * norm_b[None, :]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.clip(np.where(denom > 0, dot / np.where(denom > 0, denom, 1.0), 0.0), 0.0, 1.0)
    mask_a = _masks(cols_a, mask_threshold)
    mask_b = _masks(cols_b, mask_threshold)
    inter = (mask_a.T @ mask_b).toarray()
    area_a = np.asarray(mask_a.sum(axis=0)).ravel()
    area_b = np.asarray(mask_b.sum(axis=0)).ravel()
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def match_footprints(a: Any, b: Any, *, method: str = "cosine", min_overlap: float = 0.5,
                     mask_threshold: float = 0.2, dims: tuple[int, int] | None = None) -> FootprintMatches:
    """Pair the components of ``a`` and ``b`` one-to-one (Hungarian method on footprint overlap).

    Parameters
    ----------
    a, b : sparse (H*W, K) or ndarray (K, H, W)
    method : {'cosine', 'iou'}
        Overlap measure (:func:`footprint_overlap`).
    min_overlap : float
        Pairs with a lower overlap are not matches, in (0, 1].
    mask_threshold : float
        See :func:`footprint_overlap`.
    dims : (H, W), optional

    Returns
    -------
    FootprintMatches

    Examples
    --------
    >>> fa = np.zeros((2, 10, 10)); fa[0, 1:4, 1:4] = 1; fa[1, 6:9, 6:9] = 1
    >>> fb = np.zeros((2, 10, 10)); fb[0, 6:9, 6:9] = 2; fb[1, 0:2, 8:10] = 1
    >>> m = match_footprints(fa, fb)
    >>> m.idx_a.tolist(), m.idx_b.tolist(), m.only_a.tolist(), m.only_b.tolist()
    ([1], [0], [0], [1])
    """
    if not 0 < min_overlap <= 1:
        raise ValueError(f"min_overlap must be in (0, 1], got {min_overlap}")
    overlap = footprint_overlap(a, b, method=method, mask_threshold=mask_threshold, dims=dims)
    n_a, n_b = overlap.shape
    idx_a = idx_b = np.zeros(0, np.int64)
    if n_a and n_b:
        rows, cols = scipy.optimize.linear_sum_assignment(-overlap)
        keep = overlap[rows, cols] >= min_overlap
        idx_a, idx_b = rows[keep].astype(np.int64), cols[keep].astype(np.int64)
    order = np.argsort(idx_a, kind="stable")
    idx_a, idx_b = idx_a[order], idx_b[order]
    return FootprintMatches(
        idx_a, idx_b, overlap[idx_a, idx_b] if idx_a.size else np.zeros(0),
        np.setdiff1d(np.arange(n_a), idx_a).astype(np.int64), np.setdiff1d(np.arange(n_b), idx_b).astype(np.int64),
    )
