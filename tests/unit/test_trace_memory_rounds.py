"""K x T arrays alive during cnmfe's refinement rounds (issue 23 item 1: peak RSS flat in the recording's length).

The temporal update's float32 result is formed in its float64 working array's memory (no second K x T array at
its end), the state it replaces and the initial state of the refinement are released rather than kept alive by
their callers' names, and S / YrA of a round that is not the last are dropped before the merge (the next
spatial update drops them anyway). Figures: benchmarks/long_session.md, "Session 15: cnmfe's memory against the
length". Every result is the same bits as before.
"""

import tracemalloc

import numpy as np
import pytest
import scipy.sparse

from ace_neuro.cnmfe import fit as fit_module
from ace_neuro.cnmfe import temporal
from ace_neuro.cnmfe.fit import fit_region
from ace_neuro.cnmfe.params import CnmfeOptions
from ace_neuro.cnmfe.reader import MovieSource
from test_temporal_memory import synthetic_trace_problem


@pytest.mark.parametrize("shape", [(1, 1), (1, 5), (3, 7), (5, 1), (40, 1001)])
def test_float32_in_place_is_astype(shape):
    """Row k's float32 values written over rows already read, then the memory shrunk: astype's values."""
    x = np.random.default_rng(0).normal(0.0, 1e3, shape)
    expected = x.astype(np.float32)
    result = temporal.float32_in_place(x.copy())
    assert result.dtype == np.float32 and result.shape == shape
    assert np.array_equal(result, expected)


def test_float32_in_place_gives_half_the_memory_back():
    """During the conversion one row more is allocated; after it, half of the float64 array's bytes are freed."""
    source = np.random.default_rng(1).normal(size=(60, 5000))
    nbytes = source.nbytes
    tracemalloc.start()
    try:
        x = source.copy()
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        result = temporal.float32_in_place(x)
        del x
        now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.nbytes == nbytes // 2 and np.array_equal(result, source.astype(np.float32))
    assert peak - base < 0.05 * nbytes  # no second K x T array (astype: + 0.5)
    assert base - now > 0.45 * nbytes  # the second half given back


def test_trace_update_forms_its_float32_traces_in_place(monkeypatch):
    """The update's peak is its float64 working traces and S (~1.6 x K x T x 8 bytes beside YA, with a batch);
    before, the float32 traces were a new array formed beside the float64 ones at the end (~2.0). With
    ``overwrite_C`` the caller's float64 array is the working one (no copy) and holds the result. Same bits."""
    projected, gram, start = synthetic_trace_problem(120, 2000)
    traces_bytes = projected.size * 8
    monkeypatch.setattr(temporal, "TRACE_BATCH_BYTES", traces_bytes // 20, raising=False)
    expected = temporal.update_traces(projected, gram, start, 1, None)
    for overwrite_C in (False, True):
        work = projected.copy()
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            C = start.astype(np.float64) if overwrite_C else start  # the float64 working traces: traced
            result = temporal.update_traces(work, gram, C, 1, None, overwrite_YA=True, overwrite_C=overwrite_C)
            peak = tracemalloc.get_traced_memory()[1] - base
        finally:
            tracemalloc.stop()
        assert peak < 1.9 * traces_bytes, (overwrite_C, peak / traces_bytes)  # main: 2.0 (a second float64 copy)
        assert np.shares_memory(result.YrA, work) and np.shares_memory(result.C, C) == overwrite_C
        for name in ("C", "S", "YrA", "bl", "c1", "g", "lam", "neurons_sn"):
            assert np.array_equal(getattr(result, name), getattr(expected, name)), name


def _movie(seed: int = 0, n_frames: int = 300, side: int = 32) -> np.ndarray:
    """Four Gaussian cells with AR(1) calcium on noise, ``(T, side, side)`` float32."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:side, :side]
    movie = rng.normal(20.0, 1.0, (n_frames, side, side))
    for r, c in ((8, 8), (8, 23), (23, 9), (22, 22)):
        spikes = (rng.random(n_frames) < 0.04) * rng.gamma(3.0, 2.0, n_frames)
        calcium = np.zeros(n_frames)
        for t in range(1, n_frames):
            calcium[t] = 0.9 * calcium[t - 1] + spikes[t]
        movie += calcium[:, None, None] * np.exp(-((yy - r) ** 2 + (xx - c) ** 2) / 8.0)[None]
    return movie.astype(np.float32)


def test_refinement_releases_the_states_it_replaces(monkeypatch):
    """The initial state (K_init x T traces) was kept alive by fit_region's name through every round, and each
    temporal update's input state by refine's: both are released now."""
    inputs = []
    refine, temporal_update = fit_module.refine, fit_module.temporal_update

    def spy_refine(passes, state, *args, **kwargs):
        inputs.append(("refine", state))
        return refine(passes, state, *args, **kwargs)

    def spy_update(passes, state, *args, **kwargs):
        inputs.append(("temporal_update", state))
        return temporal_update(passes, state, *args, **kwargs)

    monkeypatch.setattr(fit_module, "refine", spy_refine)
    monkeypatch.setattr(fit_module, "temporal_update", spy_update)
    options = CnmfeOptions.from_params({"gSig": 2, "gSiz": 9, "n_refine_iter": 2, "cnmfe_chunk_mb": 0.2})
    fit = fit_region(MovieSource.from_array(_movie()), options, frame_rate=20.0)
    assert fit.state.A.shape[1] > 0 and fit.state.traces is not None
    assert [name for name, _ in inputs][:2] == ["refine", "temporal_update"]
    for name, state in inputs:
        assert state.C is None and state.traces is None, name  # released once the fit had no more use for them


def test_normalised_traces_by_blocks_of_rows(monkeypatch):
    """The spatial update's traces scaled by the footprints' norms: the selection and the product were two more
    K x T arrays beside the traces and the result; now blocks of rows, the same bits."""
    rng = np.random.default_rng(4)
    A = scipy.sparse.random(500, 80, density=0.05, format="csc", dtype=np.float32, random_state=4)
    A[:, 7] = 0.0  # an empty footprint: dropped
    A = scipy.sparse.csc_matrix(A)
    C = rng.random((80, 3000)).astype(np.float32)
    A32 = scipy.sparse.csc_matrix(A, dtype=np.float32)
    norms = np.sqrt(np.asarray(A32.multiply(A32).sum(axis=0)).ravel())
    expected = (C[norms > 0] * norms[norms > 0][:, None]).astype(np.float32)
    monkeypatch.setattr(fit_module, "_ROW_BLOCK_BYTES", C.size * 8 // 20)
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        _, scaled = fit_module.normalise_footprints(A, C)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert np.array_equal(scaled, expected) and scaled.dtype == np.float32
    assert peak < 1.3 * C.nbytes, peak / C.nbytes  # the result and a block (before: ~2 x C.nbytes more)


def test_trace_file_reads_the_columns_written(tmp_path):
    """Frames-major scratch file: a chunk's columns and the whole array (float32 or float64) are the values
    written, bit for bit; the file is removed on close."""
    from ace_neuro.cnmfe.trace_spill import TraceFile

    traces = np.random.default_rng(6).normal(size=(7, 1003)).astype(np.float32)
    with TraceFile(traces, tmp_path) as spilled:
        for t0, t1 in ((0, 1), (5, 260), (1000, 1003), (0, 1003)):
            part = spilled.columns(t0, t1)
            assert part.flags.c_contiguous and np.array_equal(part, traces[:, t0:t1])
        assert np.array_equal(spilled.read(np.float32), traces)
        assert np.array_equal(spilled.read(np.float64), traces.astype(np.float64))
        path = spilled.path
    assert not list(tmp_path.iterdir()) and path


def test_chunk_passes_read_the_traces_from_disk(monkeypatch):
    """In the refinement the ring fit and temporal_stats (the passes with chunks in flight) read the traces a chunk
    at a time from a scratch file: the state holds no K x T traces while they run."""
    from ace_neuro.cnmfe.passes import MoviePasses

    seen = []
    for name in ("fit_background", "temporal_stats"):
        original = getattr(MoviePasses, name)

        def spy(self, state, *args, _original=original, _name=name, **kwargs):
            seen.append((_name, state.C is None and state.trace_file is not None))
            return _original(self, state, *args, **kwargs)

        monkeypatch.setattr(MoviePasses, name, spy)
    options = CnmfeOptions.from_params({"gSig": 2, "gSiz": 9, "n_refine_iter": 2, "cnmfe_chunk_mb": 0.2})
    fit = fit_region(MovieSource.from_array(_movie()), options, frame_rate=20.0)
    assert fit.state.A.shape[1] > 0
    in_rounds = seen  # the first ring fit (the initial traces) too
    assert {name for name, _ in in_rounds} == {"fit_background", "temporal_stats"}
    assert all(on_disk for _, on_disk in in_rounds), seen
