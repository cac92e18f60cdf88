"""The trace update's memory: K x T arrays it holds at once (issue 23: cnmfe's peak RSS flat in the length).

At 608x608 x 24,000 frames cnmfe's peak RSS was 2.97 GB against 2.22 GB at 6,000 (benchmarks/long_session.md,
Session 12): the trace update held C, YA, S, YrA and A^T A C as K x T float64 at once (~5.4 x K x T x 8 bytes).
"""

import tracemalloc

import numpy as np

from ace_neuro.cnmfe.temporal import update_traces


def synthetic_trace_problem(n_comp: int, n_frames: int, seed: int = 0):
    """``(YA, AA, C_start)``: K components overlapping their neighbours, T frames of AR(1) calcium with noise
    (also used by benchmarks/bench_trace_memory.py)."""
    rng = np.random.default_rng(seed)
    gram = np.eye(n_comp) * 50.0
    for k in range(n_comp - 1):  # each component overlaps its neighbours
        gram[k, k + 1] = gram[k + 1, k] = 3.0
    spikes = (rng.random((n_comp, n_frames)) < 0.01) * rng.gamma(2.0, 1.0, (n_comp, n_frames))
    calcium = np.zeros((n_comp, n_frames))
    for t in range(1, n_frames):
        calcium[:, t] = 0.95 * calcium[:, t - 1] + spikes[:, t]
    projected = (gram @ calcium + rng.normal(0.0, 5.0, (n_comp, n_frames))).astype(np.float32)
    start = np.maximum(projected / 50.0, 0.0).astype(np.float32)
    return projected, gram, start


def test_trace_update_holds_at_most_four_float64_copies_of_the_traces():
    """Peak memory of the update (NumPy's allocations, traced) under 4 x K x T x 8 bytes (was ~5.4: a float64 copy
    of YA, S in float64, and two temporaries for YrA), with every output float32 of shape (K, T)."""
    projected, gram, start = synthetic_trace_problem(100, 2000)
    tracemalloc.start()
    try:
        result = update_traces(projected, gram, start, 1, None)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    traces_bytes = projected.shape[0] * projected.shape[1] * 8
    assert peak < 4.0 * traces_bytes, (peak, traces_bytes)
    for trace_array in (result.C, result.S, result.YrA):
        assert trace_array.dtype == np.float32 and trace_array.shape == projected.shape
    assert np.all(np.isfinite(result.YrA)) and result.S.max() > 0
