"""Components whose signal continues beyond their footprint: out-of-focus neuropil, not cells.

A soma ends: around its footprint the movie, once the background model and every
component are removed, holds nothing of its transients, or, seen through
out-of-focus blur, only the blur's tail, which ends within about the blur length.
An out-of-focus blob of neuropil, or a broad piece of background the ring model
left, does not end where CNMF-E cut its footprint (the support is grown within a
neuron's box, and merges join a few such pieces): at the component's peak frames
the cleaned movie keeps its signal well beyond the support. Those components pass
CaImAn's tests (the transients are real, the footprint matches the movie inside
the support), so evaluation needs a test of its own (benchmarks/sweep.md, Sessions
12 and 13: the false components of ``empty_field``, ``base``, ``bleaching_0.7`` and
``spike_to_noise_0.5`` follow the simulated neuropil).

The measure, on the image the r-value uses (the movie averaged over the frames
around the component's largest peaks, minus the background model and the other
components, its own ``a c`` kept): the mean over two rings ``gSig`` pixels wide
around the footprint's support (:func:`surround_pixels`: 1 to ``gSig`` steps from
it, and ``gSig + 1`` to ``2 gSig``), each divided by the mean over the footprint's
core (its pixels at or above half its maximum, :func:`surround_ratios`). A cell
gives about 0 on both (plus or minus a neighbour's misfit); a blurred cell a good
fraction on the first ring and about 0 on the second; neuropil a good fraction on
both. A component is rejected (reason ``neuropil``, :func:`surround_components`)
when the first ratio exceeds ``surround_thr`` **and** the second exceeds
``surround_outer_thr`` times the first: its light has not ended within the next
``gSig`` pixels. The first ring alone (``surround_outer_thr: null``, Session 12's
rule) also rejects out-of-focus cells (a defocused simulation, blur 4 px, seed 7:
3 true cells at 0.109-0.132 on the first ring, -0.012 to 0.006 on the second).
Why a quarter: light falling as a Gaussian of scale ``s`` from a support ``r0``
from the centre keeps about ``exp(-g (r0 + g) / s**2)`` of the first ring's level
on the second (ring width ``g``): under a quarter while ``s`` is up to about
1.3 ``gSig`` with ``r0 >= s``; the simulator's neuropil blobs measure 0.40-0.77.
"""

from __future__ import annotations

import numpy as np
import scipy.ndimage as ndi
import scipy.sparse

__all__ = ["REASON", "surround_pixels", "surround_ratio", "surround_ratios", "surround_components"]

#: Reason written in ``components.csv`` for a component rejected because its signal continues beyond it.
REASON = "neuropil"


def surround_pixels(A: scipy.sparse.spmatrix, dims: tuple[int, int], width: int,
                    n_rings: int = 1) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each footprint's rings: the pixels within ``n_rings * width`` of its support (8-connected steps), outside it.

    Ring ``j`` (1, 2, ...) holds the pixels ``(j - 1) * width + 1`` to ``j * width`` steps from the support
    (chessboard distance: what ``j * width`` dilations by a 3 x 3 square reach).

    Parameters
    ----------
    A : sparse (H*W, K)
        Footprints (CaImAn's pixel order, ``row + col * H``).
    dims : (H, W)
    width : int
        Pixels per ring.
    n_rings : int
        Rings around each support.

    Returns
    -------
    list of K (pixels, ring) pairs
        ``pixels``: sorted int64 pixel indices (CaImAn's order), clipped to the frame; ``ring``: int8, the ring
        (1 .. n_rings) of each.

    Examples
    --------
    >>> A = scipy.sparse.csc_matrix(np.eye(25)[:, [12]])  # one pixel at the centre of 5 x 5
    >>> pixels, ring = surround_pixels(A, (5, 5), 1, n_rings=2)[0]
    >>> pixels.size, np.bincount(ring).tolist()
    (24, [0, 8, 16])
    """
    h, w = dims
    A = scipy.sparse.csc_matrix(A)
    reach = int(width) * int(n_rings)
    out = []
    for k in range(A.shape[1]):
        pixels = A.indices[A.indptr[k]: A.indptr[k + 1]][A.data[A.indptr[k]: A.indptr[k + 1]] > 0]
        if not pixels.size or reach <= 0:
            out.append((np.zeros(0, np.int64), np.zeros(0, np.int8)))
            continue
        rows, cols = pixels % h, pixels // h
        r0, r1 = max(rows.min() - reach, 0), min(rows.max() + reach + 1, h)
        c0, c1 = max(cols.min() - reach, 0), min(cols.max() + reach + 1, w)
        outside = np.ones((r1 - r0, c1 - c0), bool)
        outside[rows - r0, cols - c0] = False
        steps = ndi.distance_transform_cdt(outside, metric="chessboard")  # steps to the support; 0 on it
        rr, cc = np.nonzero((steps > 0) & (steps <= reach))
        ring = (steps[rr, cc] + int(width) - 1) // int(width)
        index = (rr + r0) + (cc + c0) * h
        order = np.argsort(index, kind="stable")
        out.append((index[order].astype(np.int64), ring[order].astype(np.int8)))
    return out


def surround_ratio(weights: np.ndarray, mean_image: np.ndarray) -> float:
    """The mean image over the ring (``weights == 0``) divided by its mean over the core (``weights >= max / 2``).

    Parameters
    ----------
    weights : ndarray, shape (n,)
        The footprint on its pixels and the ring's (0 there).
    mean_image : ndarray, shape (n,)
        The cleaned movie with the component's own ``a c`` averaged over its peak frames, on the same pixels.

    Returns
    -------
    float
        NaN without a ring or when the core's mean is not positive.
    """
    weights = np.asarray(weights, np.float64)
    return float(surround_ratios(weights, (weights <= 0).astype(np.int8), mean_image)[0])


def surround_ratios(weights: np.ndarray, ring: np.ndarray, mean_image: np.ndarray) -> np.ndarray:
    """The mean image over each ring divided by its mean over the footprint's core (``weights >= max / 2``).

    Parameters
    ----------
    weights : ndarray, shape (n,)
        The footprint on its pixels, 0 on the rings'.
    ring : ndarray of int, shape (n,)
        0 on the footprint's pixels, ``j`` on ring ``j``'s (:func:`surround_pixels`).
    mean_image : ndarray, shape (n,)
        The cleaned movie with the component's own ``a c`` averaged over its peak frames, on the same pixels.

    Returns
    -------
    ndarray of float64, shape (max(ring),)
        One ratio per ring; NaN for an empty ring, or all NaN when the core's mean is not positive.

    Examples
    --------
    >>> surround_ratios(np.array([1.0, 1.0, 0.0, 0.0]), np.array([0, 0, 1, 2]), np.array([2.0, 2.0, 0.5, 0.0]))
    array([0.25, 0.  ])
    """
    weights, mean_image = np.asarray(weights, np.float64), np.asarray(mean_image, np.float64)
    ring = np.asarray(ring, np.int64)
    n_rings = int(ring.max(initial=0))
    out = np.full(n_rings, np.nan)
    inside = ring == 0
    if not inside.any() or not (weights[inside] > 0).any():
        return out
    core = inside & (weights >= 0.5 * weights[inside].max())
    level = float(mean_image[core].mean())
    if not level > 0:
        return out
    for j in range(1, n_rings + 1):
        on = ring == j
        if on.any():
            out[j - 1] = float(mean_image[on].mean()) / level
    return out


def surround_components(surround: np.ndarray, candidates: np.ndarray, surround_thr: float,
                        surround_outer_thr: float | None) -> dict[int, float]:
    """``{k: inner ratio}`` of the candidates whose signal continues beyond their footprint.

    Parameters
    ----------
    surround : ndarray, shape (K,) or (K, 2)
        Each component's ring ratios (:func:`surround_ratios`): the inner ring's, and the outer ring's.
    candidates : ndarray of int
    surround_thr : float
        The inner ring's ratio above which the signal reaches beyond the footprint.
    surround_outer_thr : float or None
        When set, the outer ring must also keep more than this fraction of the inner ring's level (the signal
        has not ended within the next ring: wider than a cell as the optics show it). A NaN outer ratio (no outer
        ring in the frame) does not reject. None: the inner ring alone decides.
    """
    surround = np.asarray(surround, np.float64)
    surround = surround.reshape(surround.shape[0], -1)
    inner = surround[:, 0]
    outer = surround[:, 1] if surround.shape[1] > 1 else np.full(surround.shape[0], np.nan)
    out = {}
    for k in np.asarray(candidates, np.int64):
        if not (np.isfinite(inner[k]) and inner[k] > surround_thr):
            continue
        if surround_outer_thr is not None and not (np.isfinite(outer[k]) and outer[k] > surround_outer_thr * inner[k]):
            continue
        out[int(k)] = round(float(inner[k]), 3)
    return out
