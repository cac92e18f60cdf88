"""AcceptedTraceFile: blocks of components or of frames hold the values of the whole accepted traces."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import scipy.sparse

from ace_neuro.postprocess.traces import AcceptedTraceFile, read_accepted_traces


@pytest.fixture
def estimates(tmp_path):
    from ace_neuro.cnmfe.estimates import Estimates
    from ace_neuro.cnmfe.estimates_file import save_estimates

    rng = np.random.default_rng(0)
    K, T = 11, 301
    bad = np.array([0, 4, 5, 10])
    est = Estimates(A=scipy.sparse.random(64, K, 0.2, format="csc", random_state=0, dtype=np.float32),
                    C=rng.normal(size=(K, T)).astype(np.float32), dims=(8, 8), frame_rate=20.0,
                    S=rng.random((K, T)).astype(np.float32), YrA=rng.normal(size=(K, T)).astype(np.float32),
                    neurons_sn=rng.random(K).astype(np.float32), idx_components=np.setdiff1d(np.arange(K), bad),
                    idx_components_bad=bad)
    return save_estimates(est, tmp_path / "estimates.h5")


@pytest.mark.parametrize("block_bytes", [1, 5000, 10**6])
def test_blocks_hold_the_whole_arrays_values(estimates, block_bytes):
    whole = read_accepted_traces(estimates, n_frames=301, frames_path="frames.csv")
    with AcceptedTraceFile(estimates, n_frames=301, frames_path="frames.csv") as traces:
        np.testing.assert_array_equal(traces.index, whole.index)
        np.testing.assert_array_equal(traces.sn, whole.sn)
        for name, expected in (("C", whole.C), ("YrA", whole.YrA), ("S", whole.S)):
            rows = [traces.rows(name, b) for b in traces.component_blocks(block_bytes=block_bytes)]
            assert np.concatenate(rows).tobytes() == expected.tobytes()
            columns = [traces.frames(name, b) for b in traces.frame_blocks(block_bytes=block_bytes)]
            assert np.concatenate(columns, axis=1).tobytes() == expected.tobytes()


def test_chunked_datasets_are_read_through_hdf5(estimates, tmp_path):
    """A dataset with chunks (another writer's) has no single offset: read by h5py, the same values."""
    with h5py.File(estimates, "a") as h5:
        C = h5["C"][()]
        del h5["C"]
        h5.create_dataset("C", data=C, chunks=(3, 50), compression="gzip")
    whole = read_accepted_traces(estimates, n_frames=301, frames_path="frames.csv")
    with AcceptedTraceFile(estimates) as traces:
        blocks = traces.frame_blocks(block_bytes=1)
        assert np.concatenate([traces.frames("C", b) for b in blocks], axis=1).tobytes() == whole.C.tobytes()


def test_frame_count_mismatch_names_both_files(estimates):
    with pytest.raises(ValueError, match="301 frames but frames.csv lists 300 frames"):
        AcceptedTraceFile(estimates, n_frames=300, frames_path="frames.csv")
