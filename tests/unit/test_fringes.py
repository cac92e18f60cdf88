"""Fringes of brighter neighbours (cnmfe/fringes.py) and how the evaluate step reports them."""

from __future__ import annotations

import numpy as np
import scipy.sparse

from ace_neuro.cnmfe.fringes import fringe_components, independent_components
from ace_neuro.cnmfe.reasons import decision_reasons

H = W = 40


def _blob(r, c, sd=2.0):
    yy, xx = np.mgrid[:H, :W]
    img = np.exp(-((yy - r) ** 2 + (xx - c) ** 2) / (2 * sd**2))
    img[img < 0.05] = 0
    return img.ravel(order="F")


def _scene(seed=0):
    rng = np.random.default_rng(seed)
    T = 600
    cell = np.convolve(rng.random(T) < 0.02, np.exp(-np.arange(30) / 8.0))[:T]
    other = np.convolve(rng.random(T) < 0.02, np.exp(-np.arange(30) / 8.0))[:T]
    A = scipy.sparse.csc_matrix(np.stack([_blob(20, 20), _blob(20, 24), _blob(25, 20), _blob(20, 34)], axis=1))
    C = np.stack([cell, 0.3 * cell + 0.05 * rng.normal(size=T), other, cell])  # 1: a rim of 0; 2: a neighbour
    return A, C


def test_a_rim_is_a_fringe_and_an_independent_neighbour_is_not():
    A, C = _scene()
    snr = np.array([9.0, 2.5, 4.0, 3.0])
    # 3 follows 0 too, but 14 px away: beyond gSiz / 2 = 6.5 px, a cell of its own
    assert fringe_components(A, C, (H, W), snr, np.arange(4), radius=6.5, fringe_corr=0.5) == {1: 0}
    # only among the candidates given (those the SNR / r-value rule accepts)
    assert fringe_components(A, C, (H, W), snr, np.array([1, 2, 3]), radius=6.5, fringe_corr=0.5) == {}
    assert fringe_components(A, C, (H, W), snr, np.arange(4), radius=6.5, fringe_corr=0.99) == {}


def test_reasons_name_the_brighter_component():
    params = {"fringe_components": {"1": 0}, "fringe_corr": 0.5}
    words, codes = decision_reasons(np.array([9.0, 2.5]), np.array([0.9, 0.9]), np.array([True, False]), params,
                                    {"min_SNR": 3.0, "rval_thr": 0.85, "SNR_lowest": 2.2, "rval_lowest": -1.0})
    assert codes == ["", "fringe"]
    assert words[1].startswith("rejected: fringe of the brighter component 0") and "would accept it" in words[1]


def _dim_scene(seed=1):
    """A bright cell (0), its dim rim (1, follows 0) and a dim cell beside it with transients of its own (2)."""
    rng = np.random.default_rng(seed)
    T = 800
    kernel = np.exp(-np.arange(40) / 8.0)
    bright = np.convolve(rng.random(T) < 0.01, kernel)[:T]
    own = np.convolve(np.isin(np.arange(T), [150, 500]), kernel)[:T]  # two transients of its own
    C = np.stack([5 * bright, 0.6 * bright, 0.6 * own])
    raw = C + 0.12 * rng.normal(size=C.shape)
    A = scipy.sparse.csc_matrix(np.stack([_blob(20, 20), _blob(20, 25), _blob(26, 26)], axis=1))
    return A, C, raw


def test_a_rim_is_not_independent_and_a_dim_cell_with_its_own_transients_is():
    from ace_neuro.cnmfe.snr import trace_snr

    A, C, raw = _dim_scene()
    snr = trace_snr(raw, 20.0, 0.4)
    assert snr[0] > snr[1] and snr[0] > snr[2]
    out = independent_components(A, C, raw, (H, W), snr, np.array([0]), np.array([1, 2]), radius=13.0,
                                 frame_rate=20.0, decay_time=0.4)
    assert not out[1]["independent"] and out[1]["own_snr"] < 0.5 * snr[1]  # its transients are the bright cell's
    assert out[2]["independent"] and out[2]["own_snr"] >= 0.9 * snr[2] and out[2]["core_covered"] == 0.0
    # a duplicate inside the bright cell's core is not independent even with transients of its own
    A_dup = scipy.sparse.csc_matrix(np.stack([_blob(20, 20), _blob(20, 25), _blob(20, 21)], axis=1))
    dup = independent_components(A_dup, C, raw, (H, W), snr, np.array([0]), np.array([2]), radius=13.0,
                                 frame_rate=20.0, decay_time=0.4)
    assert not dup[2]["independent"] and dup[2]["core_covered"] > 0.25


def test_reasons_of_an_independent_dim_cell():
    params = {"independent_components": {"1": {"own_snr": 1.7, "core_covered": 0.0, "independent": 1.0},
                                         "2": {"own_snr": 0.4, "core_covered": 0.1, "independent": 0.0}},
              "SNR_lowest_independent": 1.2}
    words, codes = decision_reasons(np.array([9.0, 1.8, 1.9]), np.array([0.9, 0.95, 0.95]),
                                    np.array([True, True, False]), params,
                                    {"min_SNR": 3.0, "rval_thr": 0.85, "SNR_lowest": 2.2, "rval_lowest": -1.0})
    assert codes == ["", "", "quality"]
    assert words[1].startswith("accepted: independent dim cell: SNR 1.80 > SNR_lowest_independent 1.2")
    assert "SNR_lowest 2.2" in words[2] and "not an independent cell (its own SNR 0.40" in words[2]


def test_the_evaluate_step_keeps_the_independent_dim_cell_only_when_asked():
    from ace_neuro.cnmfe.estimates import Estimates
    from ace_neuro.cnmfe.evaluate import EvaluateOptions, components_table, evaluate_components
    from ace_neuro.cnmfe.snr import trace_snr

    A, C, raw = _dim_scene()
    T = C.shape[1]
    movie = np.asarray((A @ C).T, np.float32).reshape((T, W, H)).transpose(0, 2, 1)  # pixel order row + col * H
    est = Estimates(A=A, C=C.astype(np.float32), YrA=(raw - C).astype(np.float32), b0=np.zeros(H * W, np.float32),
                    dims=(H, W), frame_rate=20.0, params={"gSig": [2, 2], "gSiz": [13, 13], "decay_time": 0.4})
    snr = trace_snr(raw, 20.0, 0.4)
    # the floor rejects both dim components (1: a rim of 0, 2: a cell of its own); the r-value rule accepts all
    rule = {"min_SNR": 100.0, "SNR_lowest": float(max(snr[1], snr[2])) + 0.1, "snr_null_rate": None,
            "fringe_corr": None, "reject_vessel_edges": False}
    off = evaluate_components(est, movie, EvaluateOptions.from_params(rule))
    assert off.idx_components.tolist() == [0]
    on = evaluate_components(est, movie, EvaluateOptions.from_params(rule, SNR_lowest_independent=0.1))
    assert on.idx_components.tolist() == [0, 2]
    assert set(on.params["independent_components"]) == {"1", "2"}
    assert components_table(on)["reason"].tolist() == ["", "quality", ""]
