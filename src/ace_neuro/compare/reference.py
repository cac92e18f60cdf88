"""Our components against another tool's result on a real recording (MiniAn's CNMF, for one).

On a real recording there is no ground truth; a published tool's result on the
same movie is a reference: it has false units of its own and misses some
cells, so the numbers say how far two careful pipelines agree, and the
unmatched units must be looked at by eye.

Matching (:func:`match_to_reference`): :func:`ace_neuro.cnmfe.score.match_components`
(Hungarian assignment on the Jaccard index of the footprints' masks at 20 % of
their peak), allowing pairs whose centres of mass lie within
``max_centroid_distance`` pixels (default 8, half the diameter of a 15-20 px
cell) and whose masks overlap by ``min_iou`` (default 0.2: the two tools cut
a cell's edge differently).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse

from ace_neuro.cnmfe.score import match_components, trace_correlations

__all__ = ["ReferenceResult", "load_minian_reference", "match_to_reference"]


@dataclass
class ReferenceResult:
    """Another tool's components on a movie.

    Attributes
    ----------
    A : scipy.sparse.csc_matrix, shape (H*W, K)
        Footprints in CaImAn's pixel order (``row + col * H``).
    C : ndarray, shape (K, T)
        Traces.
    dims : (H, W)
    """

    A: scipy.sparse.csc_matrix
    C: np.ndarray
    dims: tuple[int, int]


def load_minian_reference(folder: str | os.PathLike) -> ReferenceResult:
    """MiniAn's result as stored in ``../shared/realdata/minian_demo_left`` (see its README).

    ``minian_reference_A.npz``: scipy sparse ``(K, H*W)``, row-major pixels;
    ``minian_reference.npz``: ``C`` (K, T) and ``dims`` (H, W).
    """
    folder = Path(folder)
    meta = np.load(folder / "minian_reference.npz")
    height, width = (int(v) for v in meta["dims"])
    rows = scipy.sparse.load_npz(folder / "minian_reference_A.npz").tocoo()
    pixel = rows.col
    fortran = (pixel // width) + (pixel % width) * height  # row-major (r*W + c) -> r + c*H
    A = scipy.sparse.csc_matrix((rows.data.astype(np.float64), (fortran, rows.row)), shape=(height * width, rows.shape[0]))
    return ReferenceResult(A, np.asarray(meta["C"], np.float64), (height, width))


def match_to_reference(A, C, reference: ReferenceResult, *, max_centroid_distance: float = 8.0,
                       min_iou: float = 0.2, cut_margin: tuple[int, float] | None = None) -> dict[str, Any]:
    """Counts, matched fractions and trace agreement of ``(A, C)`` against ``reference``.

    Parameters
    ----------
    A : sparse (H*W, K)
        Our footprints (accepted only, typically).
    C : ndarray (K, T)
        Our traces, same frames as the reference's.
    reference : ReferenceResult
    max_centroid_distance, min_iou : float
        See the module docstring.
    cut_margin : (column, distance), optional
        The reference left out units whose centre lies within ``distance`` px
        of ``column`` (a cut through the field): ours there are left out too
        (counted in ``n_ours_at_cut``), so both sides are scored on one region.

    Returns
    -------
    dict
        ``n_ours`` (scored), ``n_ours_at_cut``, ``ours_kept`` (indices of ours scored; the indices
        below count among them), ``n_reference``, ``n_matched``, ``ours_matched_fraction``
        (a precision against the reference), ``reference_found_fraction`` (a
        recall), ``median_trace_r`` of matched pairs, ``idx_ours``,
        ``idx_reference`` (the pairs), ``only_ours`` and ``only_reference``.
    """
    A = scipy.sparse.csc_matrix(A)
    C = np.asarray(C)
    kept = np.arange(A.shape[1])
    if cut_margin is not None and A.shape[1]:
        from ace_neuro.cnmfe.score import _masks_and_centroids

        _, centres = _masks_and_centroids(A.astype(np.float64), reference.dims[0], 0.2)
        kept = np.flatnonzero(np.abs(centres[:, 1] - float(cut_margin[0])) > float(cut_margin[1]))
    n_at_cut = int(A.shape[1] - kept.size)
    A, C = A[:, kept], C[kept]
    matches = match_components(A, reference.A, dims=reference.dims, max_centroid_distance=max_centroid_distance,
                               min_iou=min_iou)
    n_ours, n_ref = int(A.shape[1]), int(reference.A.shape[1])
    n = len(matches.idx_est)
    r = trace_correlations(np.asarray(C), reference.C, matches) if n else np.zeros(0)
    return {
        "n_ours": n_ours,
        "n_ours_at_cut": n_at_cut,
        "ours_kept": kept.tolist(),
        "n_reference": n_ref,
        "n_matched": n,
        "ours_matched_fraction": round(n / n_ours, 4) if n_ours else None,
        "reference_found_fraction": round(n / n_ref, 4) if n_ref else None,
        "median_trace_r": round(float(np.median(r)), 4) if n else None,
        "idx_ours": matches.idx_est.tolist(),
        "idx_reference": matches.idx_true.tolist(),
        "trace_r": [round(float(v), 4) for v in r],
        "only_ours": sorted(set(range(n_ours)) - set(matches.idx_est.tolist())),
        "only_reference": sorted(set(range(n_ref)) - set(matches.idx_true.tolist())),
    }
