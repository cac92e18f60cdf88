"""Merging a group whose footprints span many pixels: the rank-1 fit without a pixels x pixels matrix."""

from __future__ import annotations

import tracemalloc

import numpy as np
import scipy.sparse

from ace_neuro.cnmfe.merge import merge_components


def _group(rng, n_pixels, n_comp, T, support):
    """``n_comp`` correlated components on supports of ``support`` pixels, each overlapping the next."""
    shared = np.convolve(rng.random(T) < 0.03, np.exp(-np.arange(30) / 8.0))[:T]
    start = np.linspace(0, n_pixels - support, n_comp).astype(int)  # spacing below ``support``: a chain
    cols = []
    for s in start:
        col = np.zeros(n_pixels)
        col[s:s + support] = rng.random(support) + 0.1
        cols.append(col)
    A = scipy.sparse.csc_matrix(np.stack(cols, 1))
    C = shared[None] * rng.uniform(0.5, 2.0, (n_comp, 1)) + 0.02 * rng.random((n_comp, T))
    return A, C


def _reference_rank1(A, C, members):
    """The merged footprint and trace from the top eigenvector of ``A_S (C_S C_S^T) A_S^T`` (pixels x pixels)."""
    sub = A[:, members]
    rows = np.unique(sub.indices)
    a_sub = sub[rows].toarray()
    c_sub = C[members]
    vals, vecs = np.linalg.eigh(a_sub @ (c_sub @ c_sub.T) @ a_sub.T)
    a = np.abs(vecs[:, -1])
    c = np.maximum((a @ a_sub) @ c_sub, 0.0)
    col = np.zeros(A.shape[0])
    col[rows] = a
    return col, c


def test_merged_component_is_the_rank1_fit_of_the_group():
    rng = np.random.default_rng(3)
    A, C = _group(rng, 600, 6, 400, 120)
    A2, C2, groups = merge_components(A, C, 0.7, None)
    assert [g.tolist() for g in groups] == [list(range(6))]
    col, c = _reference_rank1(A, C, groups[0])
    np.testing.assert_allclose(A2[:, 0].toarray().ravel(), col, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(C2[0], c, rtol=1e-4, atol=1e-4 * c.max())


def test_merging_a_large_group_does_not_build_a_pixels_by_pixels_matrix():
    # A group spanning 3,000 pixels made a 3,000 x 3,000 float64 matrix (72 MB) and its full eigendecomposition
    # (seconds each): on a recording moving past max_shifts or strongly bleached, hundreds of seeds merged into
    # groups of thousands of pixels, and merging took 80 % of the fit (sweep.md, motion_10px_jumps).
    rng = np.random.default_rng(4)
    A, C = _group(rng, 4000, 8, 300, 800)
    assert np.unique(A.indices).size > 2500
    tracemalloc.start()
    try:
        A2, C2, groups = merge_components(A, C, 0.7, None)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(groups) == 1 and A2.shape[1] == 1
    assert peak < 20e6, f"peak {peak / 1e6:.0f} MB"
