"""Fringes: a dimmer component beside a brighter one whose trace follows it.

CNMF-E's residual seeding and the model's imperfect fit of a bright cell leave
components on its rim, its halo and the neuropil around it: their footprints
lie within a neuron's box of the cell (``gSiz / 2`` between centres) and their
traces follow the cell's. Merging does not join them when their footprints do
not overlap, and the trace SNR does not tell them from a cell (the transients
are real, they are the neighbour's). A component is a **fringe** of a brighter
one (higher trace SNR) when both are accepted by the SNR / r-value rule and
the vessel test, their
centres of mass lie within ``gSiz / 2`` and their denoised traces correlate
above ``fringe_corr``. Two real neighbouring cells rarely correlate that much
over a whole recording; a rim of one cell does by construction.

Measured on MiniAn's real demo and on simulations (benchmarks/length.md).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse

__all__ = ["fringe_components"]


def _corrcoef_rows(C: np.ndarray) -> np.ndarray:
    C = np.asarray(C, np.float64)
    centred = C - C.mean(axis=1, keepdims=True)
    norm = np.linalg.norm(centred, axis=1)
    centred /= np.where(norm > 0, norm, np.inf)[:, None]
    return centred @ centred.T


def fringe_components(
    A: scipy.sparse.spmatrix,
    C: np.ndarray,
    dims: tuple[int, int],
    snr: np.ndarray,
    candidates: np.ndarray,
    *,
    radius: float,
    fringe_corr: float,
) -> dict[int, int]:
    """Candidates that are fringes of a brighter candidate, each with the component it fringes.

    Parameters
    ----------
    A : sparse (H*W, K)
        Footprints (CaImAn's pixel order, ``row + col * H``).
    C : ndarray, shape (K, T)
        Denoised traces.
    dims : (H, W)
    snr : ndarray, shape (K,)
        Trace SNR (which of two is the brighter).
    candidates : ndarray of int
        Components that may fringe or be fringed (those the SNR / r-value rule accepts).
    radius : float
        Largest distance between centres of mass, pixels (``gSiz / 2``).
    fringe_corr : float
        Trace correlation above which the dimmer of two close components is a fringe.

    Returns
    -------
    dict
        ``{fringe: brighter}`` (component indices).

    Examples
    --------
    >>> A = scipy.sparse.csc_matrix(np.eye(9)[:, [0, 2, 8]])  # 3x3 frame: pixels (0,0), (2,0), (2,2)
    >>> C = np.array([[0, 1, 5, 1, 0], [0, 1, 4, 1, 0.2], [3, 0, 0, 1, 0]])
    >>> fringe_components(A, C, (3, 3), np.array([5.0, 2.0, 4.0]), np.arange(3), radius=2.5, fringe_corr=0.5)
    {1: 0}
    """
    candidates = np.asarray(candidates, np.int64)
    if candidates.size < 2:
        return {}
    A = scipy.sparse.csc_matrix(A)[:, candidates]
    h, _ = dims
    pixels = np.arange(A.shape[0])
    mass = np.asarray(A.sum(axis=0)).ravel()
    mass = np.where(mass > 0, mass, np.inf)
    rows = np.asarray(A.T @ (pixels % h)).ravel() / mass
    cols = np.asarray(A.T @ (pixels // h)).ravel() / mass
    distance = np.hypot(rows[:, None] - rows[None, :], cols[:, None] - cols[None, :])
    corr = _corrcoef_rows(np.asarray(C)[candidates])
    s = np.asarray(snr, np.float64)[candidates]
    brighter = s[None, :] > s[:, None]
    link = brighter & (distance <= radius) & (corr > fringe_corr)
    out = {}
    for i in np.flatnonzero(link.any(axis=1)):
        j = np.flatnonzero(link[i])
        out[int(candidates[i])] = int(candidates[j[np.argmax(corr[i, j])]])
    return out
