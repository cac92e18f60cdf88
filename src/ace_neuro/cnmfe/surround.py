"""Components whose signal continues beyond their footprint: out-of-focus neuropil, not cells.

A soma ends: around its footprint the movie, once the background model and every
component are removed, holds nothing of its transients. An out-of-focus blob of
neuropil, or a broad piece of background the ring model left, does not end where
CNMF-E cut its footprint (the support is grown within a neuron's box, and merges
join a few such pieces): at the component's peak frames the cleaned movie keeps
its signal in a ring just outside the support. Those components pass CaImAn's
tests (the transients are real, the footprint matches the movie inside the
support), so evaluation needs a test of its own (benchmarks/sweep.md, Session
12: the false components of ``empty_field``, ``base``, ``bleaching_0.7`` and
``spike_to_noise_0.5`` follow the simulated neuropil).

The measure (:func:`surround_ratio`), on the image the r-value uses (the movie
averaged over the frames around the component's largest peaks, minus the
background model and the other components, its own ``a c`` kept): the mean over
a ring ``gSig`` pixels wide just outside the footprint's support, divided by the
mean over the footprint's core (its pixels at or above half its maximum). A cell
gives about 0 (plus or minus a neighbour's misfit); a truncated blob a good
fraction of its core. A component is rejected (reason ``neuropil``) when the
ratio exceeds ``surround_thr``. Off by default: an out-of-focus *cell* also
continues beyond a soma-sized footprint (a defocused simulation, blur 4 px,
seed 7: 3 true cells at 0.109-0.132), so the ratio alone cannot tell blurred
cells from neuropil.
"""

from __future__ import annotations

import numpy as np
import scipy.ndimage as ndi
import scipy.sparse

__all__ = ["REASON", "surround_pixels", "surround_ratio", "surround_components"]

#: Reason written in ``components.csv`` for a component rejected because its signal continues beyond it.
REASON = "neuropil"


def surround_pixels(A: scipy.sparse.spmatrix, dims: tuple[int, int], width: int) -> list[np.ndarray]:
    """Each footprint's ring: the pixels within ``width`` of its support (8-connected steps), outside it.

    Parameters
    ----------
    A : sparse (H*W, K)
        Footprints (CaImAn's pixel order, ``row + col * H``).
    dims : (H, W)
    width : int
        Pixels.

    Returns
    -------
    list of K int64 arrays
        Sorted pixel indices (CaImAn's order), clipped to the frame.

    Examples
    --------
    >>> A = scipy.sparse.csc_matrix(np.eye(25)[:, [12]])  # one pixel at the centre of 5 x 5
    >>> surround_pixels(A, (5, 5), 1)[0].size
    8
    """
    h, w = dims
    A = scipy.sparse.csc_matrix(A)
    out = []
    for k in range(A.shape[1]):
        pixels = A.indices[A.indptr[k]: A.indptr[k + 1]][A.data[A.indptr[k]: A.indptr[k + 1]] > 0]
        if not pixels.size or width <= 0:
            out.append(np.zeros(0, np.int64))
            continue
        rows, cols = pixels % h, pixels // h
        r0, r1 = max(rows.min() - width, 0), min(rows.max() + width + 1, h)
        c0, c1 = max(cols.min() - width, 0), min(cols.max() + width + 1, w)
        support = np.zeros((r1 - r0, c1 - c0), bool)
        support[rows - r0, cols - c0] = True
        ring = ndi.binary_dilation(support, structure=np.ones((3, 3), bool), iterations=int(width)) & ~support
        rr, cc = np.nonzero(ring)
        out.append(np.sort((rr + r0) + (cc + c0) * h).astype(np.int64))
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
    weights, mean_image = np.asarray(weights, np.float64), np.asarray(mean_image, np.float64)
    ring = weights <= 0
    if not ring.any() or ring.all():
        return float("nan")
    core = weights >= 0.5 * weights.max()
    level = float(mean_image[core].mean())
    return float(mean_image[ring].mean() / level) if level > 0 else float("nan")


def surround_components(surround: np.ndarray, candidates: np.ndarray, surround_thr: float) -> dict[int, float]:
    """``{k: ratio}`` of the candidates whose ratio (:func:`surround_ratio`) exceeds ``surround_thr``."""
    surround = np.asarray(surround, np.float64)
    return {int(k): round(float(surround[k]), 3) for k in np.asarray(candidates, np.int64)
            if np.isfinite(surround[k]) and surround[k] > surround_thr}
