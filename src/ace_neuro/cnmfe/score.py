"""Score extracted components against ground truth: matching, detection F1, trace correlation.

Matching criterion (comparable to CaImAn's ``register_ROIs``):

1. Each footprint is binarised: pixels above ``mask_threshold`` times the
   footprint's maximum (CaImAn's ``max_thr``; ``0`` keeps every non-zero
   pixel, CaImAn's default).
2. For every (estimated, true) pair the Jaccard index (intersection over
   union, IoU) of the two masks and the distance between the footprints'
   centres of mass (in pixels) are computed.
3. A pair may match only if ``IoU >= min_iou`` and the distance is at most
   ``max_centroid_distance``. CaImAn's defaults are a Jaccard *distance*
   ``thresh_cost = 0.7`` (i.e. ``IoU >= 0.3``) and ``max_dist = 10`` px; ours
   are the same. Our default ``mask_threshold`` is 0.2 rather than CaImAn's
   0, because estimated footprints carry long faint tails and simulated ones
   (Gaussians) have unbounded support; pass ``mask_threshold=0`` for CaImAn's
   masks.
4. The Hungarian algorithm (``scipy.optimize.linear_sum_assignment``) picks
   the one-to-one assignment minimising ``(1 - IoU) + 1e-3 * distance /
   max_centroid_distance`` (the small distance term only breaks ties) over the
   allowed pairs.

So a neuron split into two estimated pieces matches at most one of them (the
other counts as a false positive), and a merge of two true neurons matches at
most one.

References
----------
Giovannucci A. et al. (2019) CaImAn an open source tool for scalable calcium
imaging data analysis. eLife 8:e38173 (component registration, ``register_ROIs``).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import scipy.optimize
import scipy.sparse

__all__ = ["ComponentMatches", "match_components", "detection_scores", "trace_correlations", "footprint_cosines",
           "footprint_area_ratios"]

_FORBIDDEN = 1e6


class ComponentMatches(NamedTuple):
    """One-to-one matches between estimated and true components.

    Attributes
    ----------
    idx_est, idx_true : ndarray of int64, shape (n_matched,)
        Matched indices, sorted by ``idx_true``.
    iou : ndarray of float64, shape (n_matched,)
        Jaccard index of the two masks.
    distance : ndarray of float64, shape (n_matched,)
        Distance between the centres of mass, in pixels.
    """

    idx_est: np.ndarray
    idx_true: np.ndarray
    iou: np.ndarray
    distance: np.ndarray


def _as_sparse_columns(
    footprints: Any, dims: tuple[int, int] | None, name: str
) -> tuple[scipy.sparse.csc_matrix, tuple[int, int]]:
    """Footprints as a CSC ``(H*W, K)`` matrix (Fortran pixel order) and the frame size."""
    if scipy.sparse.issparse(footprints):
        if dims is None:
            raise ValueError(f"{name} is a sparse (H*W, K) matrix: pass dims=(H, W) to interpret its pixels")
        height, width = (int(d) for d in dims)
        if footprints.shape[0] != height * width:
            raise ValueError(f"{name} has {footprints.shape[0]} pixel rows but dims {dims} make {height * width}")
        return scipy.sparse.csc_matrix(footprints, dtype=np.float64), (height, width)
    array = np.asarray(footprints, dtype=np.float64)
    if array.ndim != 3:
        raise ValueError(f"{name} must be (K, H, W) dense or a sparse (H*W, K) matrix, got shape {array.shape}")
    n_comp, height, width = array.shape
    if dims is not None and tuple(int(d) for d in dims) != (height, width):
        raise ValueError(f"{name} has frames of {height}x{width} but dims={tuple(dims)}")
    columns = array.transpose(0, 2, 1).reshape(n_comp, height * width).T
    return scipy.sparse.csc_matrix(columns), (height, width)


def _masks_and_centroids(
    columns: scipy.sparse.csc_matrix, height: int, mask_threshold: float
) -> tuple[scipy.sparse.csc_matrix, np.ndarray]:
    """Binary masks (H*W, K) and (K, 2) (row, col) centres of mass of the thresholded footprints."""
    n_comp = columns.shape[1]
    rows_idx: list[np.ndarray] = []
    cols_idx: list[np.ndarray] = []
    centroids = np.full((n_comp, 2), np.nan)
    for k in range(n_comp):
        sl = slice(columns.indptr[k], columns.indptr[k + 1])
        values = columns.data[sl]
        pixels = columns.indices[sl]
        if values.size == 0 or values.max() <= 0:
            continue
        keep = values > mask_threshold * values.max()
        keep &= values > 0
        pixels, values = pixels[keep], values[keep]
        rows_idx.append(pixels)
        cols_idx.append(np.full(pixels.size, k))
        total = values.sum()
        centroids[k] = (np.dot(values, pixels % height) / total, np.dot(values, pixels // height) / total)
    if rows_idx:
        r = np.concatenate(rows_idx)
        c = np.concatenate(cols_idx)
    else:
        r = c = np.zeros(0, dtype=np.int64)
    masks = scipy.sparse.csc_matrix((np.ones(r.size), (r, c)), shape=columns.shape)
    return masks, centroids


def match_components(
    footprints_est: Any,
    footprints_true: Any,
    *,
    dims: tuple[int, int] | None = None,
    max_centroid_distance: float = 10.0,
    min_iou: float = 0.3,
    mask_threshold: float = 0.2,
) -> ComponentMatches:
    """Match estimated to true footprints one-to-one (Hungarian assignment on mask IoU).

    Parameters
    ----------
    footprints_est, footprints_true : ndarray (K, H, W) or scipy.sparse (H*W, K)
        Footprints; sparse matrices use CaImAn's pixel order (``row + col*H``)
        and need ``dims``. ``K`` may be 0 on either side.
    dims : (H, W), optional
        Frame size; required when a side is sparse.
    max_centroid_distance : float
        Largest allowed distance between matched centres of mass, pixels
        (CaImAn ``max_dist``).
    min_iou : float
        Smallest allowed Jaccard index of matched masks (CaImAn:
        ``1 - thresh_cost``).
    mask_threshold : float
        Fraction of each footprint's maximum above which a pixel is in its
        mask (CaImAn ``max_thr``), in [0, 1).

    Returns
    -------
    ComponentMatches
        ``(idx_est, idx_true, iou, distance)``, sorted by ``idx_true``.

    Examples
    --------
    >>> true = np.zeros((2, 10, 10)); true[0, 1:4, 1:4] = 1; true[1, 6:9, 6:9] = 1
    >>> est = true[::-1].copy()                       # same neurons, other order
    >>> m = match_components(est, true)
    >>> m.idx_est.tolist(), m.idx_true.tolist()
    ([1, 0], [0, 1])
    """
    if not 0 <= mask_threshold < 1:
        raise ValueError(f"mask_threshold must be in [0, 1), got {mask_threshold}")
    if not 0 < min_iou <= 1:
        raise ValueError(f"min_iou must be in (0, 1], got {min_iou}")
    if not max_centroid_distance > 0:
        raise ValueError(f"max_centroid_distance must be > 0 pixels, got {max_centroid_distance}")
    est, dims_est = _as_sparse_columns(footprints_est, dims, "footprints_est")
    true, dims_true = _as_sparse_columns(footprints_true, dims, "footprints_true")
    if dims_est != dims_true:
        raise ValueError(f"footprints_est frames are {dims_est} but footprints_true frames are {dims_true}")
    empty = np.zeros(0, dtype=np.int64)
    if est.shape[1] == 0 or true.shape[1] == 0:
        return ComponentMatches(empty, empty, np.zeros(0), np.zeros(0))
    height = dims_est[0]
    mask_est, cent_est = _masks_and_centroids(est, height, mask_threshold)
    mask_true, cent_true = _masks_and_centroids(true, height, mask_threshold)
    intersection = (mask_est.T @ mask_true).toarray()
    area_est = np.asarray(mask_est.sum(axis=0)).ravel()
    area_true = np.asarray(mask_true.sum(axis=0)).ravel()
    union = area_est[:, None] + area_true[None, :] - intersection
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, intersection / union, 0.0)
    distance = np.sqrt(((cent_est[:, None, :] - cent_true[None, :, :]) ** 2).sum(-1))
    allowed = (iou >= min_iou) & (distance <= max_centroid_distance)  # nan distance -> not allowed
    cost = np.where(allowed, (1.0 - iou) + 1e-3 * np.nan_to_num(distance) / max_centroid_distance, _FORBIDDEN)
    rows, cols = scipy.optimize.linear_sum_assignment(cost)
    ok = allowed[rows, cols]
    rows, cols = rows[ok], cols[ok]
    order = np.argsort(cols, kind="stable")
    rows, cols = rows[order].astype(np.int64), cols[order].astype(np.int64)
    return ComponentMatches(rows, cols, iou[rows, cols], distance[rows, cols])


def detection_scores(
    footprints_est: Any,
    footprints_true: Any,
    *,
    matches: ComponentMatches | None = None,
    **match_kwargs: Any,
) -> dict[str, float | int]:
    """Precision, recall and F1 of detected components against ground truth.

    Parameters
    ----------
    footprints_est, footprints_true : see :func:`match_components`
    matches : ComponentMatches, optional
        Precomputed matches; computed with ``match_kwargs`` when omitted.
    **match_kwargs
        Passed to :func:`match_components` (``dims``, ``min_iou``, ...).

    Returns
    -------
    dict
        ``precision = n_matched / n_est``, ``recall = n_matched / n_true``,
        ``f1`` (their harmonic mean), ``n_true``, ``n_est``, ``n_matched``.
        With nothing estimated precision is 1 (no false positive); with no
        true component recall is 1 (nothing to miss); F1 is 0 when either is 0.
    """
    n_est = _count(footprints_est)
    n_true = _count(footprints_true)
    if matches is None:
        matches = match_components(footprints_est, footprints_true, **match_kwargs)
    n_matched = int(len(matches.idx_est))
    precision = n_matched / n_est if n_est else 1.0
    recall = n_matched / n_true if n_true else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return {
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
        "n_true": int(n_true),
        "n_est": int(n_est),
        "n_matched": n_matched,
    }


def _count(footprints: Any) -> int:
    if scipy.sparse.issparse(footprints):
        return int(footprints.shape[1])
    array = np.asarray(footprints)
    if array.ndim != 3:
        raise ValueError(f"footprints must be (K, H, W) dense or a sparse (H*W, K) matrix, got shape {array.shape}")
    return int(array.shape[0])


def trace_correlations(traces_est: np.ndarray, traces_true: np.ndarray, matches: Any) -> np.ndarray:
    """Pearson correlation between each matched pair of traces.

    Parameters
    ----------
    traces_est : ndarray, shape (K_est, T)
    traces_true : ndarray, shape (K_true, T)
    matches : ComponentMatches or (idx_est, idx_true)
        Matched index pairs.

    Returns
    -------
    ndarray of float64, shape (n_matched,)
        ``r`` per pair, in the order of ``matches``; ``nan`` where a trace is
        constant.
    """
    idx_est, idx_true = (np.asarray(m, dtype=np.int64) for m in tuple(matches)[:2])
    traces_est = np.asarray(traces_est, dtype=np.float64)
    traces_true = np.asarray(traces_true, dtype=np.float64)
    if traces_est.ndim != 2 or traces_true.ndim != 2:
        raise ValueError(f"traces must be (K, T); got {traces_est.shape} and {traces_true.shape}")
    if traces_est.shape[1] != traces_true.shape[1]:
        raise ValueError(
            f"estimated traces have {traces_est.shape[1]} frames but true traces have {traces_true.shape[1]}"
        )
    if idx_est.shape != idx_true.shape:
        raise ValueError(f"matches must pair indices one-to-one, got {idx_est.size} and {idx_true.size}")
    if idx_est.size == 0:
        return np.zeros(0)
    out_of_range = idx_est.max() >= traces_est.shape[0] or idx_true.max() >= traces_true.shape[0]
    if out_of_range or min(idx_est.min(), idx_true.min()) < 0:
        raise IndexError("matches index a trace that does not exist")
    a = traces_est[idx_est] - traces_est[idx_est].mean(axis=1, keepdims=True)
    b = traces_true[idx_true] - traces_true[idx_true].mean(axis=1, keepdims=True)
    denom = np.sqrt((a * a).sum(1) * (b * b).sum(1))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(denom > 0, (a * b).sum(1) / np.where(denom > 0, denom, 1.0), np.nan)
    return r


def _matched_columns(footprints_est: Any, footprints_true: Any, matches: Any, dims: tuple[int, int] | None):
    """The matched footprints as two CSC ``(H*W, n_matched)`` matrices (same pixel order), in ``matches``' order."""
    est, dims_est = _as_sparse_columns(footprints_est, dims, "footprints_est")
    true, dims_true = _as_sparse_columns(footprints_true, dims, "footprints_true")
    if dims_est != dims_true:
        raise ValueError(f"footprints_est frames are {dims_est} but footprints_true frames are {dims_true}")
    idx_est, idx_true = (np.asarray(m, dtype=np.int64) for m in tuple(matches)[:2])
    if idx_est.shape != idx_true.shape:
        raise ValueError(f"matches must pair indices one-to-one, got {idx_est.size} and {idx_true.size}")
    if idx_est.size and (idx_est.max() >= est.shape[1] or idx_true.max() >= true.shape[1]
                         or min(idx_est.min(), idx_true.min()) < 0):
        raise IndexError("matches index a footprint that does not exist")
    return est[:, idx_est].tocsc(), true[:, idx_true].tocsc(), dims_est


def footprint_cosines(footprints_est: Any, footprints_true: Any, matches: Any, *,
                      dims: tuple[int, int] | None = None) -> np.ndarray:
    """Cosine similarity of each matched pair of footprints (their whole extent, every pixel).

    ``cos = <a_est, a_true> / (|a_est| |a_true|)``: 1 when the estimated footprint has the true one's shape (at
    any scale), lower when it covers only the cell's core (the missing pixels' share of the energy) or spreads
    onto pixels where the true footprint is zero.

    Parameters
    ----------
    footprints_est, footprints_true : see :func:`match_components`
    matches : ComponentMatches or (idx_est, idx_true)
    dims : (H, W), optional
        Required when a side is sparse.

    Returns
    -------
    ndarray of float64, shape (n_matched,)
        In the order of ``matches``; ``nan`` where a footprint is zero.

    Examples
    --------
    >>> true = np.zeros((1, 9, 9)); true[0, 2:7, 2:7] = 1
    >>> core = np.zeros((1, 9, 9)); core[0, 3:6, 3:6] = 1
    >>> round(float(footprint_cosines(core, true, ([0], [0]))[0]), 2)   # 9 of 25 pixels: sqrt(9/25)
    0.6
    """
    est, true, _ = _matched_columns(footprints_est, footprints_true, matches, dims)
    if est.shape[1] == 0:
        return np.zeros(0)
    dot = np.asarray(est.multiply(true).sum(axis=0)).ravel()
    norms = np.sqrt(np.asarray(est.multiply(est).sum(axis=0)).ravel() * np.asarray(true.multiply(true).sum(axis=0)).ravel())
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norms > 0, dot / np.where(norms > 0, norms, 1.0), np.nan)


def footprint_area_ratios(footprints_est: Any, footprints_true: Any, matches: Any, *,
                          dims: tuple[int, int] | None = None, mask_threshold: float = 0.2) -> np.ndarray:
    """Area of each matched estimated footprint over its true footprint's area (masks as :func:`match_components`).

    Parameters
    ----------
    footprints_est, footprints_true, matches, dims : see :func:`footprint_cosines`
    mask_threshold : float
        A pixel is in a footprint's mask above this fraction of its maximum, in [0, 1).

    Returns
    -------
    ndarray of float64, shape (n_matched,)
        ``area_est / area_true`` (pixels); ``nan`` where the true mask is empty.
    """
    if not 0 <= mask_threshold < 1:
        raise ValueError(f"mask_threshold must be in [0, 1), got {mask_threshold}")
    est, true, dims_est = _matched_columns(footprints_est, footprints_true, matches, dims)
    if est.shape[1] == 0:
        return np.zeros(0)
    mask_est, _ = _masks_and_centroids(est, dims_est[0], mask_threshold)
    mask_true, _ = _masks_and_centroids(true, dims_est[0], mask_threshold)
    area_est = np.asarray(mask_est.sum(axis=0)).ravel()
    area_true = np.asarray(mask_true.sum(axis=0)).ravel()
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(area_true > 0, area_est / np.where(area_true > 0, area_true, 1.0), np.nan)
