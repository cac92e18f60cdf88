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

The converse, for components under ``SNR_lowest``: a dim cell with transients
of its own (:func:`independent_components`). Its trace keeps its SNR once
what its brighter neighbours' traces explain is removed (a rim, a halo or the
neuropil between cells loses it: its transients are theirs), and its
footprint's core lies outside the cores of brighter accepted components (a
fragment or duplicate lies inside one). The evaluate step accepts such a
component down to ``SNR_lowest_independent`` (with the r-value rule).

Measured on MiniAn's real demo and on simulations (benchmarks/length.md).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse

__all__ = ["fringe_components", "independent_components"]


def _unit_row(C: np.ndarray, k: int) -> np.ndarray:
    """``(T,)`` float64: row ``k`` of ``C`` centred and scaled to unit norm (zeros for a constant row)."""
    row = np.asarray(C[int(k) : int(k) + 1], np.float64)
    row -= row.mean(axis=1, keepdims=True)
    norm = np.linalg.norm(row, axis=1)
    row /= np.where(norm > 0, norm, np.inf)[:, None]
    return row[0]


def _pair_correlations(C: np.ndarray, rows: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """``(n, n)`` float64: Pearson correlations of the rows ``rows`` of ``C`` where ``pairs`` is True, 0 elsewhere.

    Two rows in float64 at a time (the close pairs are few): memory does not grow with the number of components
    nor the traces' length, as the whole ``(n, T)`` centred float64 array did.
    """
    corr = np.zeros(pairs.shape)
    for i in np.flatnonzero(pairs.any(axis=1)):
        unit_i = _unit_row(C, rows[i])
        for j in np.flatnonzero(pairs[i]):
            corr[i, j] = float(unit_i @ _unit_row(C, rows[j]))
    return corr


def _centres(A: scipy.sparse.csc_matrix, dims: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Centres of mass (rows, columns) of the footprints, pixels."""
    h = dims[0]
    pixels = np.arange(A.shape[0])
    mass = np.asarray(A.sum(axis=0)).ravel()
    mass = np.where(mass > 0, mass, np.inf)
    return np.asarray(A.T @ (pixels % h)).ravel() / mass, np.asarray(A.T @ (pixels // h)).ravel() / mass


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
    rows, cols = _centres(scipy.sparse.csc_matrix(A)[:, candidates], dims)
    distance = np.hypot(rows[:, None] - rows[None, :], cols[:, None] - cols[None, :])
    s = np.asarray(snr, np.float64)[candidates]
    close = (s[None, :] > s[:, None]) & (distance <= radius)  # j brighter than i and close to it
    corr = _pair_correlations(C, candidates, close)
    link = close & (corr > fringe_corr)
    out = {}
    for i in np.flatnonzero(link.any(axis=1)):
        j = np.flatnonzero(link[i])
        out[int(candidates[i])] = int(candidates[j[np.argmax(corr[i, j])]])
    return out


def _unexplained(trace: np.ndarray, regressors: np.ndarray) -> np.ndarray:
    """``trace`` minus its least-squares fit by ``regressors`` (rows) and a constant; ``(T,)``."""
    if regressors.shape[0] == 0:
        return trace
    design = np.column_stack([regressors.T, np.ones(trace.size)])
    beta, *_ = np.linalg.lstsq(design, trace, rcond=None)
    return trace - regressors.T @ beta[:-1]


def _core_cover(A: scipy.sparse.csc_matrix, k: int, others: np.ndarray, level: float) -> float:
    """Fraction of footprint ``k``'s core (pixels >= ``level`` x its peak) inside the cores of ``others``."""
    def core(j):
        col = A[:, j]
        return set(col.indices[col.data >= level * col.data.max()].tolist()) if col.nnz else set()

    own = core(k)
    if not own or others.size == 0:
        return 0.0
    covered = set().union(*(core(j) for j in others))
    return len(own & covered) / len(own)


def independent_components(
    A: scipy.sparse.spmatrix,
    C: np.ndarray,
    raw: np.ndarray,
    dims: tuple[int, int],
    snr: np.ndarray,
    accepted: np.ndarray,
    candidates: np.ndarray,
    *,
    radius: float,
    frame_rate: float,
    decay_time: float,
    snr_rate: float | None = None,
    min_own_fraction: float = 0.9,
    max_core_covered: float = 0.25,
    core_level: float = 0.3,
) -> dict[int, dict[str, float]]:
    """How much of each candidate's signal is its own; which candidates are independent cells.

    For a candidate ``k``, its neighbours are the components with a higher
    SNR whose centre of mass lies within ``radius``. Its **own SNR** is the
    trace SNR (:func:`~ace_neuro.cnmfe.snr.trace_snr`) of its raw trace once
    the least-squares fit of the neighbours' denoised traces is removed; its
    **core covered** is the fraction of its core (pixels at or above
    ``core_level`` of its peak) inside the cores of accepted neighbours. It is
    independent when its own SNR is at least ``min_own_fraction`` of its SNR
    and at most ``max_core_covered`` of its core is covered.

    Parameters
    ----------
    A : sparse (H*W, K)
        Footprints (pixel index ``row + col * H``).
    C, raw : ndarray, shape (K, T)
        Denoised traces and raw traces ``C + YrA``.
    dims : (H, W)
    snr : ndarray, shape (K,)
        Trace SNR of every component.
    accepted : ndarray of int
        Components accepted so far (their cores may cover a candidate's).
    candidates : ndarray of int
        Components to judge.
    radius : float
        Largest distance between centres of mass of neighbours, pixels (``gSiz``).
    frame_rate, decay_time : float
        Hz and seconds, as for the SNR.
    snr_rate : float, optional
        Hz, as for the SNR (:func:`~ace_neuro.cnmfe.snr.trace_snr`).
    min_own_fraction, max_core_covered, core_level : float
        The test's limits (see above).

    Returns
    -------
    dict
        ``{k: {"own_snr", "core_covered", "independent"}}`` for each candidate (floats, and 0.0 / 1.0).

    Examples
    --------
    >>> T = np.arange(400); rng = np.random.default_rng(1)
    >>> cell = np.exp(-((T - 100) % 400) / 8.0) * (T >= 100)
    >>> dim = np.exp(-((T - 300) % 400) / 8.0) * (T >= 300)
    >>> C = np.stack([cell, 0.4 * cell, 0.4 * dim]); raw = C + 0.05 * rng.normal(size=C.shape)
    >>> A = scipy.sparse.csc_matrix(np.eye(25)[:, [12, 13, 14]])  # 5x5 frame, three neighbouring pixels
    >>> out = independent_components(A, C, raw, (5, 5), np.array([9.0, 2.0, 2.0]), np.array([0]), np.array([1, 2]),
    ...                              radius=3.0, frame_rate=20.0, decay_time=0.4)
    >>> bool(out[1]["independent"]), bool(out[2]["independent"])  # 1 follows 0; 2 has its own transient
    (False, True)
    """
    from ace_neuro.cnmfe.snr import trace_snr

    candidates = np.asarray(candidates, np.int64)
    if candidates.size == 0:
        return {}
    A = scipy.sparse.csc_matrix(A)
    C = np.asarray(C, np.float64)
    snr = np.asarray(snr, np.float64)
    rows, cols = _centres(A, dims)
    is_accepted = np.zeros(A.shape[1], bool)
    is_accepted[np.asarray(accepted, np.int64)] = True
    residuals, covered = [], []
    for k in candidates:
        near = (np.hypot(rows - rows[k], cols - cols[k]) <= radius) & (snr > snr[k])
        near[k] = False
        residuals.append(_unexplained(np.asarray(raw[k], np.float64), C[near]))
        covered.append(_core_cover(A, int(k), np.flatnonzero(near & is_accepted), core_level))
    own = trace_snr(np.asarray(residuals), frame_rate, decay_time, snr_rate)
    out = {}
    for k, own_k, cov_k in zip(candidates.tolist(), own, covered):
        independent = own_k >= min_own_fraction * snr[k] and cov_k <= max_core_covered
        out[int(k)] = {"own_snr": round(float(own_k), 3), "core_covered": round(float(cov_k), 3),
                       "independent": float(independent)}
    return out
