"""Components that follow a blood-vessel border: found and rejected in evaluation.

Blood vessels above the imaging plane are dark ridges of the mean image. When
they dilate and constrict with the haemodynamic signal, or move non-rigidly,
their borders flicker; CNMF-E then explains the flicker with components shaped
as crescents and chains hugging the border. Those components pass CaImAn's
quality tests (their traces are strong, their footprints match the movie),
so evaluation needs a test of its own:

1. **Vessel mask** (:func:`vessel_mask`): dark ridges of the background image
   (the model's per-pixel constant ``b0``, i.e. the mean of the movie without
   neurons): the black top-hat of its logarithm with a disk of diameter
   ``2 * gSiz`` (what is darker than its surroundings on a scale up to two
   neuron boxes), at least ``min_depth`` (relative) deep, in connected regions
   elongated enough to be vessels, not gaps between cells.
2. **On the border** (:func:`vessel_edge_features`): the fraction of a
   component's footprint (sum of weights) on a vessel or within ``gSig``
   pixels of one.
3. **Not a cell**: a soma is compact and its raw trace (``C + YrA``) is
   skewed to the positive side (sparse transients with a fast rise and a slow
   decay above a symmetric noise); a flickering border gives a thin or
   elongated footprint and a trace as often below as above its baseline.

A component is rejected (reason ``vessel_edge``) when at least
``border_fraction`` of its footprint lies on a vessel border and it is not
cell-like: elongated (principal axes ratio >= ``max_elongation``) or with a
trace skewness below ``min_skewness``.

**Frame border** (:func:`frame_edge_fraction`, :func:`vessel_edge_report`):
a component whose footprint lies mostly within ``gSig`` pixels of the frame's
edge is reported apart (reason ``border``). There the test cannot tell a vessel
from the frame: the top-hat sees the last rows against replicated ones, a
vessel leaving the frame and the darker frame margin look alike, and a soma cut
by the edge is elongated (half a disk). Such components are still rejected,
but called border components, so nobody looks for a vessel that is not there.

References
----------
Zhou P. et al. (2018) eLife 7:e28728 (CNMF-E; blood vessels as one-photon
background structure). Giovannucci A. et al. (2019) eLife 8:e38173
(component evaluation).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import scipy.ndimage as ndi
import scipy.sparse

from ace_neuro.cnmfe.trace_rows import RawTraceRows
from ace_neuro.cnmfe.trace_stats import skewness

__all__ = [
    "REASON",
    "BORDER_REASON",
    "frame_edge_fraction",
    "vessel_edge_report",
    "VesselEdgeFeatures",
    "vessel_mask",
    "vessel_border_band",
    "vessel_edge_features",
    "vessel_edge_components",
    "find_vessel_edge_components",
]

#: Reason written in ``components.csv`` for a rejected vessel-edge component.
REASON = "vessel_edge"
#: Reason written in ``components.csv`` for a component rejected by the same test on the frame's border.
BORDER_REASON = "border"


def vessel_mask(
    background: np.ndarray,
    *,
    gSiz,
    min_depth: float = 0.08,
    min_elongation: float = 3.0,
) -> np.ndarray:
    """Dark ridges of a background (mean) image: blood vessels.

    Parameters
    ----------
    background : ndarray, shape (h, w), float
        Mean image of the movie without neurons (e.g. CNMF-E's ``b0`` reshaped
        in Fortran order), positive where the tissue is lit.
    gSiz : (int, int)
        Neuron box size in pixels; the top-hat disk has diameter ``2 * max(gSiz) + 1``.
    min_depth : float
        Least relative darkening (``log`` units, ~fraction of the light) of a vessel pixel.
    min_elongation : float
        Least area of a connected dark region in squares of its thickness (twice its
        largest distance to its edge): about its length over its width. Rounder dark
        regions (vignetting, gaps between cells) are not vessels.

    Returns
    -------
    ndarray of bool, shape (h, w)

    Examples
    --------
    >>> img = np.full((64, 64), 100.0); img[30:34, :] = 70.0
    >>> mask = vessel_mask(img, gSiz=(13, 13))
    >>> bool(mask[31, 10]), bool(mask[10, 10])
    (True, False)
    """
    img = np.asarray(background, np.float64)
    if img.ndim != 2:
        raise ValueError(f"background must be a 2-D image, got shape {img.shape}")
    finite = np.isfinite(img) & (img > 0)
    if not finite.any():
        return np.zeros(img.shape, bool)
    floor = np.percentile(img[finite], 1) * 0.5 if np.any(img[finite] > 0) else 1.0
    log_img = np.log(np.where(finite, np.maximum(img, floor), floor)).astype(np.float32)
    size = 2 * int(max(gSiz)) + 1
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    # flat field first: the lens vignetting (far smoother than a vessel) would make the frame edge a valley
    log_img = log_img - ndi.gaussian_filter(log_img, sigma=size, mode="nearest")
    depth = cv2.morphologyEx(log_img, cv2.MORPH_BLACKHAT, disk, borderType=cv2.BORDER_REPLICATE)
    dark = depth >= float(min_depth)
    labels, n = ndi.label(dark)
    if n == 0:
        return dark
    # thickness: twice the largest distance to the region's edge; a vessel (or a network of them) is
    # long for its thickness: its area is many squares of it
    inner = ndi.distance_transform_edt(dark)
    thickness = 2.0 * np.asarray(ndi.maximum(inner, labels, np.arange(1, n + 1)), np.float64)
    area = np.bincount(labels.ravel(), minlength=n + 1)[1:].astype(np.float64)
    keep = np.concatenate([[False], area >= min_elongation * thickness ** 2])
    return keep[labels]


def vessel_border_band(mask: np.ndarray, width: float) -> np.ndarray:
    """``(h, w)`` bool: the vessels of ``mask`` and every pixel within ``width`` pixels of them.

    Components inside a vessel are dimmed by it as much as those on its edge flicker,
    so the band holds the vessel itself and its border on the outside.
    """
    mask = np.asarray(mask, bool)
    if not mask.any():
        return np.zeros(mask.shape, bool)
    return ndi.distance_transform_edt(~mask) <= float(width)


@dataclass(frozen=True)
class VesselEdgeFeatures:
    """Per-component features of :func:`vessel_edge_features` (arrays of shape (K,), float64).

    Attributes
    ----------
    border_fraction : fraction of the footprint's weight on a vessel border band.
    elongation : ratio of the footprint's principal axes (>= 1).
    skewness : skewness of the raw trace ``C + YrA`` (0 for a constant trace).
    """

    border_fraction: np.ndarray
    elongation: np.ndarray
    skewness: np.ndarray


def _footprint_shape(A: scipy.sparse.csc_matrix, dims: tuple[int, int]) -> np.ndarray:
    """Principal-axes ratio of every footprint (weights as mass), ``(K,)``."""
    h = dims[0]
    out = np.ones(A.shape[1])
    for k in range(A.shape[1]):
        idx, w = A.indices[A.indptr[k]:A.indptr[k + 1]], A.data[A.indptr[k]:A.indptr[k + 1]].astype(np.float64)
        if w.sum() <= 0 or idx.size < 3:
            continue
        r, c = idx % h, idx // h
        cov = np.cov(np.vstack([r, c]).astype(np.float64), aweights=np.maximum(w, 0)) + np.eye(2) / 12.0
        lo, hi = np.linalg.eigvalsh(cov)
        out[k] = float(np.sqrt(hi / max(lo, 1e-12)))
    return out


def vessel_edge_features(
    A,
    traces: np.ndarray,
    dims: tuple[int, int],
    mask: np.ndarray,
    *,
    band_width: float,
) -> VesselEdgeFeatures:
    """Where each component lies relative to the vessel borders, its shape and its trace's skewness.

    Parameters
    ----------
    A : sparse matrix, shape (h*w, K)
        Footprints, pixel index ``row + col * h`` (CaImAn's order).
    traces : ndarray, shape (K, T), or RawTraceRows
        Raw traces ``C + YrA`` (converted to float64 a row at a time).
    dims : (h, w)
    mask : ndarray of bool, shape (h, w)
        Vessel mask (:func:`vessel_mask`).
    band_width : float
        Half-width of the border band in pixels (e.g. ``gSig``).

    Returns
    -------
    VesselEdgeFeatures
    """
    A = scipy.sparse.csc_matrix(A)
    K = A.shape[1]
    if not isinstance(traces, RawTraceRows):
        traces = np.asarray(traces)
    if traces.shape[0] != K:
        raise ValueError(f"traces has {traces.shape[0]} rows for {K} footprints")
    band = vessel_border_band(mask, band_width).ravel(order="F")
    mass = np.asarray(A.sum(axis=0)).ravel()
    on_band = np.asarray(A[np.flatnonzero(band)].sum(axis=0)).ravel() if band.any() else np.zeros(K)
    fraction = np.divide(on_band, mass, out=np.zeros(K), where=mass > 0)
    skew = np.zeros(K)
    for k in range(K):
        row = np.asarray(traces[k], np.float64)  # one row in float64 at a time
        if row.size > 2 and np.ptp(row) > 0:
            skew[k] = skewness(row)  # scipy.stats.skew's
    return VesselEdgeFeatures(fraction, _footprint_shape(A, dims), skew)


def vessel_edge_components(
    features: VesselEdgeFeatures,
    *,
    border_fraction: float = 0.5,
    max_elongation: float = 2.0,
    min_skewness: float = 0.5,
) -> np.ndarray:
    """``(K,)`` bool: components on a vessel border that are not cell-like.

    ``features.border_fraction >= border_fraction`` and (``elongation >=
    max_elongation`` or ``skewness < min_skewness``).
    """
    on_border = features.border_fraction >= border_fraction
    not_cell = (features.elongation >= max_elongation) | (features.skewness < min_skewness)
    return on_border & not_cell


def find_vessel_edge_components(estimates, *, gSig, gSiz, **criteria) -> np.ndarray:
    """``(K,)`` bool: the components of CNMF-E estimates that follow a vessel border.

    The vessel mask comes from ``estimates.b0`` (:func:`vessel_mask` with
    ``gSiz``), the band is ``gSig`` pixels wide, the traces are
    ``C + YrA``; ``criteria`` go to :func:`vessel_edge_components`.

    Parameters
    ----------
    estimates : ace_neuro.cnmfe.estimates.Estimates
        With ``A``, ``C``, ``YrA`` (zeros if missing), ``b0`` and ``dims``.
    gSig, gSiz : int or (int, int)
        The recording's neuron half-size and box, pixels (the cnmfe parameters).

    Returns
    -------
    ndarray of bool, shape (K,)
    """
    report = vessel_edge_report(estimates, gSig=gSig, gSiz=gSiz, **criteria)
    flagged = np.zeros(estimates.A.shape[1], bool)
    flagged[report["vessel_edge"] + report["border"]] = True
    return flagged


def frame_edge_fraction(A, dims: tuple[int, int], *, width: float) -> np.ndarray:
    """``(K,)`` float64: the fraction of each footprint's weight within ``width`` pixels of the frame's edge.

    Parameters
    ----------
    A : sparse matrix, shape (h*w, K)
        Footprints, pixel index ``row + col * h``.
    dims : (h, w)
    width : float
        Pixels from the edge (a pixel in the first or last ``ceil(width)`` rows or columns counts).
    """
    A = scipy.sparse.csc_matrix(A)
    h, w = (int(d) for d in dims)
    edge = int(np.ceil(width))
    rows, cols = np.arange(h * w) % h, np.arange(h * w) // h
    near = (rows < edge) | (rows >= h - edge) | (cols < edge) | (cols >= w - edge)
    mass = np.asarray(A.sum(axis=0)).ravel()
    on_edge = np.asarray(A[np.flatnonzero(near)].sum(axis=0)).ravel()
    return np.divide(on_edge, mass, out=np.zeros(A.shape[1]), where=mass > 0)


def vessel_edge_report(estimates, *, gSig, gSiz, edge_fraction: float = 0.5, **criteria) -> dict:
    """The components :func:`find_vessel_edge_components` flags, split into vessel edges and frame-border ones.

    Returns
    -------
    dict
        ``vessel_edge`` and ``border``: sorted lists of component indices
        (a flagged component with at least ``edge_fraction`` of its footprint
        within ``gSig`` pixels of the frame's edge is a ``border`` one);
        ``features``: ``{index: {"border_fraction", "elongation", "skewness",
        "frame_edge_fraction"}}`` of every flagged component (floats, rounded),
        and ``criteria``: the thresholds used, so a reader can say which one
        decided.
    """
    test = {"border_fraction": 0.5, "max_elongation": 2.0, "min_skewness": 0.5, **criteria}
    K = estimates.A.shape[1]
    g_sig = [gSig, gSig] if np.isscalar(gSig) else list(gSig)
    edge_width = float(max(g_sig))
    report = {"vessel_edge": [], "border": [], "features": {},
             "criteria": {**test, "edge_fraction": edge_fraction, "edge_width": edge_width}}
    if K == 0 or estimates.b0 is None:
        return report
    g_siz = [gSiz, gSiz] if np.isscalar(gSiz) else list(gSiz)
    background = np.asarray(estimates.b0, np.float64).reshape(estimates.dims, order="F")
    mask = vessel_mask(background, gSiz=g_siz)
    if not mask.any():
        return report
    traces = RawTraceRows(estimates.C, estimates.YrA)  # C + YrA in float64, a row at a time
    features = vessel_edge_features(estimates.A, traces, estimates.dims, mask, band_width=edge_width)
    flagged = vessel_edge_components(features, **test)
    on_frame_edge = frame_edge_fraction(estimates.A, estimates.dims, width=edge_width)
    border = flagged & (on_frame_edge >= edge_fraction)
    report["vessel_edge"] = np.flatnonzero(flagged & ~border).tolist()
    report["border"] = np.flatnonzero(border).tolist()
    report["features"] = {
        int(k): {"border_fraction": round(float(features.border_fraction[k]), 3),
                 "elongation": round(float(features.elongation[k]), 3),
                 "skewness": round(float(features.skewness[k]), 3),
                 "frame_edge_fraction": round(float(on_frame_edge[k]), 3)}
        for k in np.flatnonzero(flagged)
    }
    return report
