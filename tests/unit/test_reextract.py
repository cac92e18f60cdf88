"""Union re-extraction: traces of fixed footprints with the ring background, silent cells included."""

import h5py
import numpy as np
import pytest
import scipy.sparse

from ace_neuro.cnmfe.estimates import footprints_to_sparse
from ace_neuro.cnmfe.params import CnmfeOptions
from ace_neuro.cnmfe.reader import MovieSource
from ace_neuro.io.miniscope import iter_frames, open_recording
from ace_neuro.simulate import SimulationConfig
from ace_neuro.simulate.sessions import SubjectConfig, load_subject_truth, simulate_subject
from ace_neuro.tracking.reextract import (load_reextraction, reextract_traces, reextraction_from_state,
                                          save_reextraction, union_footprints)

CFG = SimulationConfig(n_frames=500, height=64, width=64, n_neurons=15, seed=2, ephys=False, motion_amplitude_px=0,
                       nonrigid_amplitude_px=0)


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    out = simulate_subject(tmp_path_factory.mktemp("re") / "subject", CFG, SubjectConfig(n_sessions=1, silent_fraction=0.3))
    truth = load_subject_truth(out / "subject_truth.h5")
    movie = np.concatenate([c for c, _, _ in iter_frames(open_recording(out / "session1"))]).astype(np.float32)
    with h5py.File(out / "session1" / "ground_truth.h5") as g:
        calcium = g["calcium"][()]
    return truth, movie, calcium


def test_every_cell_gets_its_trace(session, tmp_path):
    truth, movie, calcium = session
    footprints = truth.footprints("session1")
    in_field = np.flatnonzero(truth.status[0] != 2)
    gone = np.flatnonzero((truth.status[0] == 2) & (footprints.max(axis=(1, 2)) == 0))[:1]
    assert gone.size
    cells = np.concatenate([in_field, gone])
    components = np.full(cells.size, -1)
    A = union_footprints(footprints[cells], components)
    state, present = reextract_traces(MovieSource.from_array(movie), A, CnmfeOptions.from_params(gSig=3, gSiz=13),
                                      frame_rate=CFG.frame_rate)
    result = reextraction_from_state(state, present, footprints=A, tracked_cell_id=cells, session_component=components,
                                     dims=movie.shape[1:], frame_rate=CFG.frame_rate, n_frames=movie.shape[0],
                                     ssub_B=2)
    assert result.C.shape == (cells.size, movie.shape[0])
    active = truth.status[0, cells] == 0
    silent = truth.status[0, cells] == 1
    assert active.sum() >= 5 and silent.sum() >= 3
    r = [np.corrcoef(result.C[j], calcium[truth.component[0, k]])[0, 1] for j, k in enumerate(cells) if active[j]]
    assert np.mean(r) > 0.8 and min(r) > 0.5, r
    # a silent cell's trace stays near its floor; an active one's rises
    peak = result.C[:-1].max(axis=1)
    silent, active = silent[:-1], active[:-1]
    assert np.median(peak[silent]) < 0.5 * np.median(peak[active])
    # the cell that left the field keeps its row, with no trace
    assert not result.in_field[-1] and np.isnan(result.C[-1]).all()
    assert np.all(np.isfinite(result.C[:-1])) and np.all(np.isfinite(result.raw[:-1]))
    path = save_reextraction(result, tmp_path / "s.h5", session="session1", subject="m")
    back = load_reextraction(path)
    np.testing.assert_array_equal(back.tracked_cell_id, cells)
    np.testing.assert_array_equal(back.C, result.C)
    assert (back.A != result.A).nnz == 0


def test_union_footprints_prefers_the_sessions_own():
    registered = np.zeros((3, 8, 8), np.float32)
    registered[0, 1, 1] = registered[1, 4, 4] = registered[2, 6, 6] = 1.0
    own = np.zeros((2, 8, 8), np.float32)
    own[0, 2, 2] = own[1, 5, 5] = 2.0
    A = union_footprints(registered, np.array([1, -1, 0]), footprints_to_sparse(own))
    images = A.T.toarray().reshape(3, 8, 8).transpose(0, 2, 1)
    assert images[0, 5, 5] == 2 and images[1, 4, 4] == 1 and images[2, 2, 2] == 2
    with pytest.raises(ValueError, match="does not exist"):
        union_footprints(registered, np.array([5, -1, 0]), footprints_to_sparse(own))


def test_footprints_of_another_frame_are_refused(session):
    _, movie, _ = session
    A = scipy.sparse.csc_matrix(np.ones((10, 1), np.float32))
    with pytest.raises(ValueError, match="this session's frame"):
        reextract_traces(MovieSource.from_array(movie), A, CnmfeOptions.from_params(), frame_rate=20.0)


def test_union_footprints_reads_sparse_row_major():
    registered = np.zeros((2, 5, 7), np.float32)
    registered[0, 1, 3] = 1.0
    registered[1, 4, 6] = 2.0
    sparse = scipy.sparse.csr_matrix(registered.reshape(2, -1))
    A = union_footprints(sparse, np.array([-1, -1]), shape=(5, 7))
    assert (A != footprints_to_sparse(registered)).nnz == 0


def test_no_cell_in_the_field(session):
    _, movie, _ = session
    A = scipy.sparse.csc_matrix((movie.shape[1] * movie.shape[2], 2), dtype=np.float32)
    state, present = reextract_traces(MovieSource.from_array(movie), A, CnmfeOptions.from_params(gSig=3, gSiz=13),
                                      frame_rate=20.0)
    result = reextraction_from_state(state, present, footprints=A, tracked_cell_id=np.array([4, 7]),
                                     session_component=np.array([-1, -1]), dims=movie.shape[1:], frame_rate=20.0,
                                     n_frames=movie.shape[0], ssub_B=2)
    assert not result.in_field.any() and result.C.shape == (2, movie.shape[0]) and np.isnan(result.C).all()
    np.testing.assert_allclose(result.b0, movie.mean(axis=0).ravel(order="F"), rtol=1e-5)
