"""K x T arrays cnmfe holds at once past 6,000 frames (issue 23 item 1: peak RSS flat in the recording's length).

Each test traces NumPy's allocations (``tracemalloc``) of one step on a synthetic problem and bounds its peak in
units of the traces' size, K x T x 8 bytes; each bound failed on the code before session 13 (the figures are in
benchmarks/long_session.md, "Session 13: cnmfe past 6,000 frames"). The results are checked against the
step's plain formulas, bit for bit.
"""

import tracemalloc
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.sparse

from ace_neuro.cnmfe import merge, temporal
from ace_neuro.cnmfe.fit import _to_full_resolution
from ace_neuro.cnmfe.init import InitialComponents
from test_temporal_memory import synthetic_trace_problem


def _traced_peak(fn, *args, **kwargs):
    """``(fn(*args, **kwargs), peak bytes of NumPy's allocations during the call)``."""
    tracemalloc.start()
    try:
        result = fn(*args, **kwargs)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return result, peak


def test_trace_update_with_workers_holds_bounded_batches(monkeypatch):
    """With a pool, a level of non-overlapping components (half of them here) was denoised at once: its raw traces
    and OASIS's float64 results (~1.5 x K x T x 8 bytes more) beside the traces; before: ~3.5 x K x T x 8 at
    the peak. Now batches of TRACE_BATCH_BYTES, the same bits as without a pool."""
    projected, gram, start = synthetic_trace_problem(120, 2000)
    traces_bytes = projected.size * 8
    monkeypatch.setattr(temporal, "TRACE_BATCH_BYTES", traces_bytes // 20, raising=False)
    with ThreadPoolExecutor(1) as pool:  # threads stand in for the worker processes: their memory is traced too
        pooled, peak = _traced_peak(temporal.update_traces, projected, gram, start, 1, None, pool=pool)
    assert peak < 2.75 * traces_bytes, peak / traces_bytes
    alone = temporal.update_traces(projected, gram, start, 1, None)
    for name in ("C", "S", "YrA", "bl", "c1", "g", "lam", "neurons_sn"):
        assert np.array_equal(getattr(pooled, name), getattr(alone, name)), name


def test_trace_update_returns_YrA_in_YA_memory(monkeypatch):
    """``overwrite_YA``: YrA in YA's float32 memory, the float64 traces freed before the float32 copy is kept;
    peak ~2 x K x T x 8 (was 3.5, with YrA formed as a whole K x T float64 array). Same bits."""
    projected, gram, start = synthetic_trace_problem(120, 2000)
    traces_bytes = projected.size * 8
    monkeypatch.setattr(temporal, "TRACE_BATCH_BYTES", traces_bytes // 20, raising=False)
    expected = temporal.update_traces(projected, gram, start, 1, None)
    work = projected.copy()
    result, peak = _traced_peak(temporal.update_traces, work, gram, start, 1, None, overwrite_YA=True)
    assert peak < 2.25 * traces_bytes, peak / traces_bytes
    assert np.shares_memory(result.YrA, work)
    for name in ("C", "S", "YrA", "bl", "g", "neurons_sn"):
        assert np.array_equal(getattr(result, name), getattr(expected, name)), name


def test_residual_traces_by_blocks_is_the_whole_product():
    """YrA by blocks of rows, in place over YA: the bits of ``(YA - AA @ C) / diag`` formed whole, in float64."""
    rng = np.random.default_rng(3)
    gram = rng.random((90, 90))
    gram = gram @ gram.T
    gram[5, 5] = 0.0  # a row with no footprint: divided by 1
    traces = rng.random((90, 700))
    projected = rng.normal(size=(90, 700)).astype(np.float32)
    diag = np.diag(gram).copy()
    whole = ((projected - gram @ traces) / np.where(diag > 0, diag, 1.0)[:, None]).astype(np.float32)
    blocks = temporal.residual_traces(projected, gram, traces, diag, block_bytes=8 * 700 * 7)
    assert np.array_equal(blocks, whole)
    in_place = temporal.residual_traces(projected, gram, traces, diag, out=projected, block_bytes=8 * 700 * 11)
    assert in_place is projected and np.array_equal(in_place, whole)


def _merge_problem(n_comp: int, n_frames: int, side: int = 120, seed: int = 0):
    """Square footprints on a ``side`` x ``side`` frame, pairs of neighbours sharing one correlated trace."""
    rng = np.random.default_rng(seed)
    rows, cols, vals = [], [], []
    per_row = side // 6
    for k in range(n_comp):
        r0, c0 = 6 * ((k // 2) // per_row % per_row), 6 * ((k // 2) % per_row) + (k % 2) * 3
        pix = [(r0 + i) % side + ((c0 + j) % side) * side for i in range(5) for j in range(5)]
        rows += pix
        cols += [k] * len(pix)
        vals += list(rng.random(len(pix)) + 0.5)
    A = scipy.sparse.csc_matrix((vals, (rows, cols)), shape=(side * side, n_comp))
    base = rng.gamma(1.0, 1.0, (n_comp // 2 + 1, n_frames))
    C = (base[np.arange(n_comp) // 2] + 0.05 * rng.random((n_comp, n_frames))).astype(np.float32)
    return A, C, (side, side)


def test_merge_holds_one_float64_copy_of_the_traces(monkeypatch):
    """The merge held C in float64, its centred copy and its squares (3 x K x T x 8) and then built the result
    through float64 rows; now one float64 copy (correlations) and the float32 result. Same bits."""
    A, C, dims = _merge_problem(160, 3000)
    traces_bytes = C.size * 8
    monkeypatch.setattr(merge, "_BLOCK_BYTES", traces_bytes // 20, raising=False)
    (A_new, C_new, groups), peak = _traced_peak(merge.merge_components, A, C, 0.8, 0.7, dims)
    assert groups and C_new.dtype == np.float32
    assert peak < 1.5 * traces_bytes, peak / traces_bytes
    # the formulas: correlations of float64 rows, each group's rank-1 trace, the others' rows unchanged
    C64 = C.astype(np.float64)
    Cc = C64 - C64.mean(axis=1, keepdims=True)
    Cc = Cc / np.where((n := np.sqrt((Cc ** 2).sum(axis=1))) > 0, n, np.inf)[:, None]
    assert np.array_equal(merge._corrcoef(C), Cc @ Cc.T)
    removed = {int(k) for g in groups for k in g[1:]}
    keep = [k for k in range(C.shape[0]) if k not in removed]
    firsts = {int(g[0]) for g in groups}
    for i, k in enumerate(keep):
        if k not in firsts:
            assert np.array_equal(C_new[i], C[k])


def test_full_resolution_traces_filled_in_place():
    """The initial traces at full resolution: one K x T float32 array (was a list of K rows and its copy)."""
    rng = np.random.default_rng(1)
    n_comp, n_frames, tsub = 150, 4000, 2
    footprints = [(np.arange(9) + 20 * k, rng.random(9).astype(np.float32) + 0.1) for k in range(n_comp)]
    traces = rng.random((n_comp, n_frames // tsub)).astype(np.float32)
    comps = InitialComponents(footprints=footprints, traces=traces, centers=np.zeros((n_comp, 2)))
    (A, C), peak = _traced_peak(_to_full_resolution, comps, (60, 60), (60, 60), 1, tsub, n_frames)
    assert peak < 1.5 * n_comp * n_frames * 4, peak / (n_comp * n_frames * 4)
    for k, (idx, val) in enumerate(footprints):
        norm = float(np.sqrt(np.sum(val.astype(np.float64) ** 2)))
        assert np.array_equal(C[k], np.repeat(traces[k], tsub) * norm)
    assert C.dtype == np.float32 and A.shape == (3600, n_comp)


def test_dropping_components_keeps_the_traces_once():
    """Components dropped after a temporal update (silent ones): the state's traces and the update's were
    copied apart (C twice, 16 x K x T bytes formed); now one array for both (12 x K x T: C, S and YrA)."""
    from ace_neuro.cnmfe.fit import _drop_silent
    from ace_neuro.cnmfe.passes import ModelState
    from ace_neuro.cnmfe.temporal import TraceResult

    rng = np.random.default_rng(2)
    n_comp, n_frames = 100, 3000
    C, S, YrA = (rng.random((n_comp, n_frames)).astype(np.float32) for _ in range(3))
    C[7] = 0.0  # silent
    small = [np.zeros(n_comp, np.float32) for _ in range(5)]
    traces = TraceResult(C, S, YrA, small[0], small[1], np.zeros((n_comp, 1), np.float32), small[2], small[3])
    A = scipy.sparse.random(400, n_comp, density=0.05, format="csc", dtype=np.float32, random_state=1)
    state = ModelState(A, C, np.zeros(400, np.float32), None, traces)
    kept, peak = _traced_peak(_drop_silent, state)
    assert peak < 13 * n_comp * n_frames, peak / (n_comp * n_frames)
    assert kept.C.shape == (n_comp - 1, n_frames) and np.shares_memory(kept.C, kept.traces.C)
    assert np.array_equal(kept.C, np.delete(C, 7, axis=0)) and np.array_equal(kept.traces.YrA, np.delete(YrA, 7, axis=0))


def test_traces_are_denoised_with_one_blas_thread(monkeypatch):
    """OpenBLAS splits a vector product of more than 10,000 elements over its threads; on traces past 10,000
    frames the AR fit's and OASIS's dot products then cost ~7x the CPU per frame (benchmarks/long_session.md,
    Session 13) and their bits depend on the machine's thread count. The denoising runs with one BLAS thread
    (in this process and in the trace workers) and the count is restored after."""
    from ace_neuro.blas import set_blas_threads

    before = set_blas_threads(None)
    if before is None:  # no OpenBLAS in this NumPy: nothing to check
        return
    seen = []
    original = temporal.deconvolve_trace

    def spy(*args, **kwargs):
        seen.append(set_blas_threads(None))
        return original(*args, **kwargs)

    monkeypatch.setattr(temporal, "deconvolve_trace", spy)
    set_blas_threads(2)
    try:
        projected, gram, start = synthetic_trace_problem(6, 300)
        temporal.update_traces(projected, gram, start, 1, None)
        assert seen and set(seen) == {1}
        assert set_blas_threads(None) == 2
        with temporal.TracePool(1) as pool:
            assert pool.get().submit(set_blas_threads, None).result() == 1
    finally:
        set_blas_threads(before)


def test_merge_without_groups_returns_the_traces_themselves():
    """No group to merge: the float32 traces are returned as they are (a copy stayed alive in the caller's
    refinement loop through the next round: one more K x T array)."""
    rng = np.random.default_rng(5)
    A = scipy.sparse.csc_matrix(np.kron(np.eye(4), np.ones((9, 1))))  # four disjoint footprints
    C = rng.random((4, 500)).astype(np.float32)
    _, C_new, groups = merge.merge_components(A, C, 0.99, None)
    assert groups == [] and np.shares_memory(C_new, C)
