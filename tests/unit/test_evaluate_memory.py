"""evaluate holds no K x T array: its traced peak is a small fraction of K x T x 8 bytes, and its files the same.

Issue 23 item 1 (every rule's peak RSS flat from 1,500 to 54,000 frames): the evaluate step leaves the traces in
the estimates file (:mod:`ace_neuro.cnmfe.trace_file`), computes its statistics a block of rows at a time
(:mod:`ace_neuro.cnmfe.trace_rows`, made 64 KiB here so a small problem shows it) and copies the traces to its
outputs. K = 200 components x T = 6,000 frames (9.6 MB in float64); reading the traces whole, as the step did,
peaks at several times K x T x 8.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse

K, T, FR = 200, 6000, 20.0
KT8 = K * T * 8
#: Peak traced memory allowed, as a fraction of K x T x 8 bytes (the whole traces held once in float64 = 1).
FRACTION = 0.35


def _estimates(n_comp: int, n_frames: int, dims=(16, 16), seed: int = 0, nb: int = 0):
    from ace_neuro.cnmfe.estimates import Estimates

    rng = np.random.default_rng(seed)
    spikes = (rng.random((n_comp, n_frames)) < 0.01).astype(np.float32) * 5.0
    spikes[: n_comp // 5] = 0.0  # noise only: rejected
    calcium = np.empty_like(spikes)
    calcium[:, 0] = spikes[:, 0]
    for t in range(1, n_frames):
        calcium[:, t] = np.float32(0.9) * calcium[:, t - 1] + spikes[:, t]
    n_pixels = dims[0] * dims[1]
    A = scipy.sparse.random(n_pixels, n_comp, density=0.05, format="csc", random_state=seed, dtype=np.float32)
    A = A + scipy.sparse.csc_matrix((np.ones(n_comp, np.float32), (rng.integers(0, n_pixels, n_comp),
                                                                    np.arange(n_comp))), shape=A.shape)
    return Estimates(
        A=A, C=calcium, dims=dims, frame_rate=FR, S=spikes, YrA=rng.normal(0, 0.3, (n_comp, n_frames)).astype(np.float32),
        b0=np.full(n_pixels, 50.0, np.float32), b=rng.random((n_pixels, nb)).astype(np.float32),
        f=rng.random((nb, n_frames)).astype(np.float32), g=np.full((n_comp, 1), 0.9, np.float32),
        params={"decay_time": 0.4, "gSig": [2, 2], "gSiz": [9, 9], "fr": FR},
    )


def _write_movie(folder, est):
    from ace_neuro.io.memmap import blocks_name, create_blocks, write_blocks

    h, w = est.dims
    path = folder / blocks_name("corrected", h, w, est.n_frames, 100, "float32")
    create_blocks(path)
    rng = np.random.default_rng(1)
    for start in range(0, est.n_frames, 500):
        stop = min(est.n_frames, start + 500)
        frames = (est.A @ est.C[:, start:stop]).T + est.b0 + rng.normal(0, 1, (stop - start, h * w))
        write_blocks(path, start, np.asarray(frames, np.float32).reshape(stop - start, h, w, order="F"))
    return path


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    """cnmfe/estimates.h5 of K x T and its movie (16 x 16 pixels)."""
    from ace_neuro.cnmfe.estimates_file import save_estimates

    folder = tmp_path_factory.mktemp("evaluate_memory")
    est = _estimates(K, T)
    save_estimates(est, folder / "estimates.h5")
    (folder / "memmap").mkdir()
    _write_movie(folder / "memmap", est)
    return folder


def _run(folder, out, **kwargs):
    from ace_neuro.cnmfe.evaluate import run_evaluate_step
    from ace_neuro.cnmfe.params import EvaluateOptions

    out.mkdir(exist_ok=True)
    options = EvaluateOptions.from_params({"evaluate_chunk_mb": 0.25})
    return run_evaluate_step(folder / "estimates.h5", folder / "memmap", out / "estimates.h5",
                             out / "components.csv", out / "estimates_caiman.hdf5", options, **kwargs)


@pytest.mark.slow
def test_evaluate_step_holds_no_whole_traces(recording, tmp_path, monkeypatch):
    import tracemalloc

    from ace_neuro.cnmfe import trace_rows

    monkeypatch.setattr(trace_rows, "BLOCK_BYTES", 2**16)
    _run(recording, tmp_path / "first")  # imports
    tracemalloc.start()
    try:
        _run(recording, tmp_path / "second")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < FRACTION * KT8, f"evaluate's traced peak {peak / KT8:.2f} x K x T x 8 bytes"


def _datasets(path) -> dict:
    import h5py

    out = {}
    with h5py.File(path, "r") as h5:
        h5.visititems(lambda name, obj: out.__setitem__(name, (obj.dtype, obj[()]))
                      if isinstance(obj, h5py.Dataset) else None)
    return out


@pytest.mark.parametrize("nb", [0, 1])
def test_streamed_outputs_are_the_whole_estimates_outputs(tmp_path, nb):
    """The files written from the estimates left in their file hold what the in-memory writers write."""
    from ace_neuro.cnmfe.estimates_file import save_estimates
    from ace_neuro.cnmfe.evaluate import evaluate_components
    from ace_neuro.cnmfe.outputs import write_evaluate_outputs
    from ace_neuro.cnmfe.reader import MovieSource
    from ace_neuro.cnmfe.trace_file import open_file_estimates, write_file_evaluate_outputs

    est = _estimates(40, 600, nb=nb, seed=3)
    save_estimates(est, tmp_path / "in.h5")
    movie = _write_movie(tmp_path, est)
    whole = evaluate_components(est, MovieSource.from_path(movie))
    write_evaluate_outputs(whole, estimates_out=tmp_path / "a.h5", components_csv=tmp_path / "a.csv",
                           caiman_out=tmp_path / "a.hdf5", mmap_file=None)
    with open_file_estimates(tmp_path / "in.h5") as lazy:
        streamed = evaluate_components(lazy, MovieSource.from_path(movie))
        write_file_evaluate_outputs(streamed, np.zeros(40, bool), estimates_out=tmp_path / "b.h5",
                                    components_csv=tmp_path / "b.csv", caiman_out=tmp_path / "b.hdf5", mmap_file=None)
    assert 0 < whole.idx_components.size < 40
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    for a, b in (("a.h5", "b.h5"), ("a.hdf5", "b.hdf5")):
        da, db = _datasets(tmp_path / a), _datasets(tmp_path / b)
        assert sorted(da) == sorted(db)
        for name in da:
            assert da[name][0] == db[name][0], name
            assert np.array_equal(da[name][1], db[name][1]), name
    import h5py

    with h5py.File(tmp_path / "b.hdf5", "r") as h5:  # CaImAn's R: one copy of YrA under two names
        assert h5["estimates/R"].id == h5["estimates/YrA"].id


def test_trace_dataset_indexes_like_the_array(tmp_path):
    import h5py

    from ace_neuro.cnmfe.trace_file import TraceDataset

    values = np.arange(60, dtype=np.float32).reshape(6, 10)
    with h5py.File(tmp_path / "t.h5", "w") as h5:
        h5.create_dataset("C", data=values, chunks=(2, 4), compression="gzip")
    with h5py.File(tmp_path / "t.h5", "r") as h5:
        lazy = TraceDataset(h5["C"])
        assert lazy.shape == (6, 10) and len(lazy) == 6 and np.shape(lazy) == (6, 10)
        for key in (2, -1, slice(1, 4), slice(None), np.array([4, 1, 4]), (3, np.array([0, 5, 9])),
                    (slice(None), slice(2, 7)), (slice(2, 5), slice(0, 3)), np.array([True, False] * 3)):
            assert np.array_equal(lazy[key], values[key]), key
        assert np.array_equal(np.asarray(lazy), values)
        with pytest.raises(IndexError):
            lazy[6]
