"""Candidate pairs of cells across sessions and their transitive, session-exclusive grouping into tracked cells.

:func:`candidate_pairs` lists every pair of cells from different sessions with centroids closer than
``max_distance`` in the common space, with the distance and the cosine similarity of their footprints.

:func:`cluster_cells` groups the cells by greedy average-linkage agglomeration of ``P(same)``: starting from
one group per cell, the two groups with the highest mean ``P(same)`` over all their cross pairs (pairs that are
not candidates count as 0) are merged, as long as that mean exceeds ``threshold`` and the two groups share no
session. The result is transitive by construction (a partition) and holds each cell at most once per session;
it does not depend on the order of the sessions (ties are broken by the cells' positions, not their sessions').

:func:`register_scores` gives CellReg's per-cell scores: the mean ``P(same)`` of the pairs inside a tracked
cell (true positive score), the mean ``1 - P(same)`` of the candidate pairs between it and other tracked cells
(true negative score), and their pair-weighted mean (register score).
"""

from __future__ import annotations

import heapq
from typing import NamedTuple

import numpy as np
import scipy.sparse
import scipy.spatial

__all__ = ["CandidatePairs", "candidate_pairs", "cluster_cells", "register_scores", "centroids"]


class CandidatePairs(NamedTuple):
    """Pairs of cells (global indices into the stacked sessions) from different sessions."""

    first: np.ndarray  #: (n,) int64
    second: np.ndarray  #: (n,) int64, first < second
    distance: np.ndarray  #: (n,) float64 centroid distance (common-space pixels)
    similarity: np.ndarray  #: (n,) float64 footprint cosine similarity


def centroids(footprints: scipy.sparse.csr_matrix, shape: tuple[int, int]) -> np.ndarray:
    """Intensity-weighted centroids (row, col) of (K, H*W) footprints: (K, 2) float64 (NaN for empty ones)."""
    fp = scipy.sparse.csr_matrix(footprints)
    row = (fp.indices // shape[1]).astype(np.float64)
    col = (fp.indices % shape[1]).astype(np.float64)
    owner = np.repeat(np.arange(fp.shape[0]), np.diff(fp.indptr))
    weight = np.bincount(owner, fp.data, minlength=fp.shape[0])
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.stack([np.bincount(owner, fp.data * row, minlength=fp.shape[0]) / weight,
                         np.bincount(owner, fp.data * col, minlength=fp.shape[0]) / weight], axis=1)


def candidate_pairs(footprints: scipy.sparse.csr_matrix, session_of: np.ndarray, shape: tuple[int, int], *,
                    max_distance: float, coverage: np.ndarray | None = None) -> CandidatePairs:
    """Every pair of cells of different sessions closer than ``max_distance``.

    A pair of sessions is compared only where both see the tissue: both footprints are cut to the common-space
    pixels covered by both sessions before their centroids and similarity are computed, so a cell cut by the
    edge of one session's frame is compared with the same cut of its partner.

    Parameters
    ----------
    footprints : sparse (N, Hc*Wc)
        All sessions' footprints in the common space, stacked.
    session_of : ndarray (N,) int
        Each cell's session.
    shape : (Hc, Wc)
        Common-space shape.
    max_distance : float
        Pixels.
    coverage : ndarray (S, Hc*Wc) bool, optional
        Pixels of the common space each session covers (default: everywhere).
    """
    footprints = scipy.sparse.csr_matrix(footprints)
    centres = centroids(footprints, shape)
    ok = np.all(np.isfinite(centres), axis=1)
    index = np.flatnonzero(ok)
    empty = np.zeros(0, np.int64)
    if index.size < 2:
        return CandidatePairs(empty, empty, np.zeros(0), np.zeros(0))
    tree = scipy.spatial.cKDTree(centres[index])
    pairs = tree.query_pairs(1.5 * max_distance + 2, output_type="ndarray")
    first, second = index[pairs[:, 0]], index[pairs[:, 1]]
    keep = session_of[first] != session_of[second]
    first, second = first[keep], second[keep]
    swap = session_of[first] > session_of[second]
    first[swap], second[swap] = second[swap], first[swap]
    distance = np.zeros(first.size)
    similarity = np.zeros(first.size)
    n_sessions = int(session_of.max()) + 1
    for s in range(n_sessions):
        for t in range(s + 1, n_sessions):
            sel = np.flatnonzero((session_of[first] == s) & (session_of[second] == t))
            if sel.size == 0:
                continue
            cells = np.unique(np.concatenate([first[sel], second[sel]]))
            sub = footprints[cells]
            if coverage is not None:
                sub = sub @ scipy.sparse.diags((coverage[s] & coverage[t]).astype(np.float32))
                sub = scipy.sparse.csr_matrix(sub)
            where = {c: k for k, c in enumerate(cells)}
            ia = np.array([where[c] for c in first[sel]])
            ib = np.array([where[c] for c in second[sel]])
            sub_centres = centroids(sub, shape)
            distance[sel] = np.linalg.norm(sub_centres[ia] - sub_centres[ib], axis=1)
            norm = np.sqrt(np.asarray(sub.multiply(sub).sum(axis=1)).ravel())
            unit = scipy.sparse.diags(1.0 / np.where(norm > 0, norm, 1)) @ sub
            unit = scipy.sparse.csr_matrix(unit)
            similarity[sel] = np.asarray(unit[ia].multiply(unit[ib]).sum(axis=1)).ravel()
    keep = np.isfinite(distance) & (distance < max_distance)
    first, second, distance, similarity = first[keep], second[keep], distance[keep], similarity[keep]
    swap = first > second
    first[swap], second[swap] = second[swap], first[swap]
    order = np.lexsort((second, first))
    return CandidatePairs(first[order], second[order], distance[order], np.clip(similarity[order], 0, 1))


def cluster_cells(n_cells: int, session_of: np.ndarray, pairs: CandidatePairs, probability: np.ndarray, *,
                  threshold: float = 0.5, tie_key: np.ndarray | None = None) -> np.ndarray:
    """Group cells into tracked cells: greedy average linkage of P(same) with one cell per session at most.

    Parameters
    ----------
    n_cells : int
    session_of : ndarray (n_cells,) int
    pairs : CandidatePairs
    probability : ndarray (n_pairs,)
        P(same) of each candidate pair.
    threshold : float
        Groups merge while their mean P(same) exceeds this.
    tie_key : ndarray (n_cells,), optional
        A per-cell key that does not depend on the session order (e.g. a position rank) to break ties.

    Returns
    -------
    ndarray (n_cells,) int64
        Group label of every cell (0 .. n_groups - 1, numbered by the smallest tie key of their members).
    """
    tie = np.arange(n_cells) if tie_key is None else np.asarray(tie_key)
    members: dict[int, list[int]] = {c: [c] for c in range(n_cells)}
    sessions: dict[int, set] = {c: {int(session_of[c])} for c in range(n_cells)}
    key: dict[int, int] = {c: int(tie[c]) for c in range(n_cells)}
    links: dict[int, dict[int, float]] = {c: {} for c in range(n_cells)}
    for a, b, p in zip(pairs.first.tolist(), pairs.second.tolist(), np.asarray(probability, float).tolist()):
        links[a][b] = links[a].get(b, 0.0) + p
        links[b][a] = links[b].get(a, 0.0) + p
    heap = []

    def push(a: int, b: int) -> None:
        mean = links[a][b] / (len(members[a]) * len(members[b]))
        if mean > threshold:
            ka, kb = sorted((key[a], key[b]))
            heapq.heappush(heap, (-mean, ka, kb, a, b))

    for a in links:
        for b in links[a]:
            if a < b:
                push(a, b)
    next_id = n_cells
    while heap:
        _, _, _, a, b = heapq.heappop(heap)
        if a not in members or b not in members or b not in links[a]:
            continue
        if sessions[a] & sessions[b]:
            continue
        c = next_id
        next_id += 1
        members[c] = members.pop(a) + members.pop(b)
        sessions[c] = sessions.pop(a) | sessions.pop(b)
        key[c] = min(key.pop(a), key.pop(b))
        merged: dict[int, float] = {}
        for old in (a, b):
            for other, value in links.pop(old).items():
                if other in (a, b):
                    continue
                merged[other] = merged.get(other, 0.0) + value
                del links[other][old]
        links[c] = merged
        for other, value in merged.items():
            links[other][c] = value
            push(c, other)
    labels = np.empty(n_cells, np.int64)
    for number, group in enumerate(sorted(members, key=lambda g: key[g])):
        labels[members[group]] = number
    return labels


def register_scores(labels: np.ndarray, pairs: CandidatePairs, probability: np.ndarray) -> dict[str, np.ndarray]:
    """CellReg's per-tracked-cell scores from the candidate pairs.

    Returns
    -------
    dict of (n_groups,) float64 arrays
        ``true_positive`` (mean P of pairs inside the group; NaN for single cells), ``true_negative`` (mean
        1 - P of candidate pairs to other groups; NaN without neighbours), ``register`` (mean over both kinds of
        pairs; 1 for an isolated single cell), ``n_within`` and ``n_between`` (pair counts).
    """
    n_groups = int(labels.max()) + 1 if labels.size else 0
    p = np.asarray(probability, float)
    la, lb = labels[pairs.first], labels[pairs.second]
    inside = la == lb
    tp_sum = np.bincount(la[inside], p[inside], minlength=n_groups)
    tp_n = np.bincount(la[inside], minlength=n_groups).astype(float)
    between = ~inside
    tn_groups = np.concatenate([la[between], lb[between]])
    tn_values = np.concatenate([1 - p[between], 1 - p[between]])
    tn_sum = np.bincount(tn_groups, tn_values, minlength=n_groups)
    tn_n = np.bincount(tn_groups, minlength=n_groups).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        tp = tp_sum / tp_n
        tn = tn_sum / tn_n
        register = np.where(tp_n + tn_n > 0, (tp_sum + tn_sum) / (tp_n + tn_n), 1.0)
    return {"true_positive": tp, "true_negative": tn, "register": register, "n_within": tp_n, "n_between": tn_n}
