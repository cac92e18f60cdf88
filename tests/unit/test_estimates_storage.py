"""How the estimates files store their largest datasets (issue 23 item 2: peak disk).

The spike trains ``S`` (mostly zeros), the denoised traces ``C`` and a sparse matrix's ``indices`` are stored
gzip-compressed, read back with the same bits; CaImAn's ``R`` (our ``YrA``, given twice) is stored once.
"""

import h5py
import numpy as np
import scipy.sparse

from ace_neuro.cnmfe.estimates import Estimates, footprints_to_sparse
from ace_neuro.cnmfe.estimates_file import load_estimates, save_estimates, storage_options
from ace_neuro.io.caiman import export_caiman_hdf5

H, W, K, T = 24, 20, 6, 5000


def _estimates():
    """Estimates shaped like CNMF-E's: sparse spikes, decaying calcium traces, a ring matrix on a regular grid."""
    rng = np.random.default_rng(0)
    S = np.where(rng.random((K, T)) < 0.01, rng.random((K, T)) * 5, 0).astype(np.float32)
    C = np.zeros((K, T), np.float32)
    for t in range(1, T):
        C[:, t] = 0.95 * C[:, t - 1] + S[:, t]
    fp = np.zeros((K, H, W), np.float32)
    for k in range(K):
        fp[k, 3 * k : 3 * k + 3, 2:6] = 1.0
    n = (H // 2) * (W // 2)
    rows = np.repeat(np.arange(n), 8)
    cols = (rows + np.tile(np.array([-9, -8, -7, -1, 1, 7, 8, 9]), n)) % n
    ring = scipy.sparse.csr_matrix((np.full(rows.size, 0.125, np.float32), (rows, cols)), shape=(n, n))
    return Estimates(A=footprints_to_sparse(fp), C=C, S=S, YrA=rng.normal(size=(K, T)).astype(np.float32),
                     b0=np.ones(H * W, np.float32), W=ring, dims=(H, W), frame_rate=20.0, ssub_B=2)


def test_our_file_stores_spikes_traces_and_indices_compressed_same_bits(tmp_path):
    est = _estimates()
    path = save_estimates(est, tmp_path / "estimates.h5")
    with h5py.File(path, "r") as h5:
        assert h5["S"].compression == "gzip" and h5["S"].shuffle
        assert h5["S"].id.get_storage_size() < 0.3 * h5["S"].nbytes  # ~99 % zeros
        assert h5["C"].compression == "gzip"
        assert h5["W/indices"].compression == "gzip"
        assert h5["W/indices"].id.get_storage_size() < 0.5 * h5["W/indices"].nbytes
        assert h5["YrA"].compression is None  # noise: not worth the CPU
    back = load_estimates(path)
    for name in ("C", "S", "YrA", "b0"):
        assert getattr(back, name).dtype == getattr(est, name).dtype
        np.testing.assert_array_equal(getattr(back, name), getattr(est, name))
    assert (back.W != est.W).nnz == 0 and (back.A != est.A).nnz == 0


def test_caiman_copy_stores_the_residual_once_and_compressed(tmp_path):
    est = _estimates()
    path = export_caiman_hdf5(est, tmp_path / "estimates_caiman.hdf5")
    with h5py.File(path, "r") as h5:
        group = h5["estimates"]
        assert group["R"] == group["YrA"]  # one dataset, two names (a hard link)
        np.testing.assert_array_equal(group["R"][()], est.YrA)
        assert group["S"].compression == "gzip"
        np.testing.assert_array_equal(group["S"][()], est.S)
        np.testing.assert_array_equal(group["C"][()], est.C)
        stored = sum(group[name].id.get_storage_size() for name in ("C", "S", "R"))  # YrA is R
    assert stored < 0.5 * 4 * K * T * 4  # C, S, R and YrA plain: 4 x K x T float32


def test_storage_options_chunks_fit_the_array():
    assert storage_options("C", np.zeros((3, 100), np.float32))["chunks"] == (3, 100)
    assert storage_options("indices", np.zeros(10**6, np.int32))["chunks"] == (32768,)
    assert storage_options("S", np.zeros((0, 100), np.float32)) == {}
    assert storage_options("YrA", np.zeros((10, 10), np.float32)) == {}


def test_caiman_copy_links_only_the_same_array_not_equal_lists(tmp_path):
    """Parameters given as lists become new arrays one after the other (whose ids Python may reuse): each keeps
    its own values (a link by a reused id once wrote gSig's values under gSiz)."""
    est = _estimates().replace(params={"gSig": [2, 2], "gSiz": [9, 9], "min_corr": 0.8})
    path = export_caiman_hdf5(est, tmp_path / "estimates_caiman.hdf5")
    with h5py.File(path, "r") as h5:
        assert h5["params/init/gSig"][()].tolist() == [2, 2]
        assert h5["params/init/gSiz"][()].tolist() == [9, 9]
        assert h5["estimates/C"] != h5["estimates/S"]
