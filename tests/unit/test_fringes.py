"""Fringes of brighter neighbours (cnmfe/fringes.py) and how the evaluate step reports them."""

from __future__ import annotations

import numpy as np
import scipy.sparse

from ace_neuro.cnmfe.fringes import fringe_components
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
