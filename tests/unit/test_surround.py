"""Components whose signal continues beyond their footprint (cnmfe/surround.py): rejected as neuropil."""

from __future__ import annotations

import numpy as np
import scipy.sparse

from ace_neuro.cnmfe.curation import components_table
from ace_neuro.cnmfe.estimates import Estimates
from ace_neuro.cnmfe.evaluate import evaluate_components
from ace_neuro.cnmfe.params import EvaluateOptions
from ace_neuro.cnmfe.reasons import decision_reasons
from ace_neuro.cnmfe.rvalues import peak_frames, spatial_r_values, spatial_r_values_and_surround

H = W = 48
T = 500
FR = 20.0
BY_SNR = {"min_SNR": 0.0, "SNR_lowest": 0.0, "snr_null_rate": None, "rval_lowest": -1.0, "fringe_corr": None,
          "reject_vessel_edges": False, "surround_thr": 0.1}


def _gauss(r, c, sd):
    yy, xx = np.mgrid[:H, :W]
    return np.exp(-((yy - r) ** 2 + (xx - c) ** 2) / (2 * sd**2))


def _transients(rng):
    c = np.convolve(rng.random(T) < 0.015, np.exp(-np.arange(60) / 10.0))[:T]
    c[T // 2: T // 2 + 20] += 1.0  # at least one event
    return 10.0 * c


def _scene(seed=0):
    """0: a cell (Gaussian, sd 2, ends where its footprint ends); 1: an out-of-focus blob (sd 8) whose footprint
    CNMF-E cut to a disk of radius 5: the movie holds the whole blob."""
    rng = np.random.default_rng(seed)
    cell, blob = _gauss(14, 14, 2.0), _gauss(32, 32, 8.0)
    cell_fp = np.where(cell >= 0.05, cell, 0.0)
    blob_fp = np.where(_gauss(32, 32, 1.0) >= np.exp(-25 / 2.0), blob, 0.0)  # the disk of radius 5
    C = np.stack([_transients(rng), _transients(rng)])
    movie = (C[0][:, None, None] * cell + C[1][:, None, None] * blob + rng.normal(0, 0.5, (T, H, W)))
    A = scipy.sparse.csc_matrix(np.stack([cell_fp.ravel(order="F"), blob_fp.ravel(order="F")], axis=1))
    Y = movie.reshape(T, -1, order="F").T  # (pixels, T), CaImAn's order
    dense = A.toarray()
    YrA = dense.T @ (Y - dense @ C) / (dense**2).sum(0)[:, None]
    est = Estimates(A=A, C=C.astype(np.float32), YrA=YrA.astype(np.float32), b0=np.zeros(H * W, np.float32),
                    dims=(H, W), frame_rate=FR, params={"gSig": [2, 2], "gSiz": [9, 9], "decay_time": 0.5})
    return est, movie.astype(np.float32)


def test_the_blob_continues_beyond_its_footprint_and_the_cell_does_not():
    est, movie = _scene()
    frames = peak_frames(est.C, FR, 10)
    r, surround = spatial_r_values_and_surround(est, movie, frames, surround_px=2)
    assert abs(surround[0]) < 0.05 and surround[1] > 0.3
    assert np.array_equal(r, spatial_r_values(est, movie, frames))  # the same r-values, bit for bit
    _, none = spatial_r_values_and_surround(est, movie, frames, surround_px=0)
    assert np.isnan(none).all()


def test_evaluation_rejects_the_blob_as_neuropil_and_says_why():
    est, movie = _scene()
    ev = evaluate_components(est, movie, EvaluateOptions.from_params(BY_SNR))
    assert ev.idx_components.tolist() == [0]
    assert components_table(ev)["reason"].tolist() == ["", "neuropil"]
    words, codes = decision_reasons(ev.SNR_comp, ev.r_values, ev.accepted, ev.params,
                                    {"min_SNR": 0.0, "rval_thr": 0.85, "SNR_lowest": 0.0, "rval_lowest": -1.0})
    assert codes == ["", "neuropil"]
    assert words[1].startswith("rejected: out-of-focus neuropil or background: its signal continues beyond")
    assert "> surround_thr 0.1" in words[1]
    off = evaluate_components(est, movie, EvaluateOptions.from_params(BY_SNR, surround_thr=None))
    assert off.idx_components.tolist() == [0, 1]
    assert EvaluateOptions().surround_thr is None  # opt-in: out-of-focus cells continue beyond their footprint too
