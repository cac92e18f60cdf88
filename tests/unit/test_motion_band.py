"""Components made of the band motion correction uncovered (cnmfe/motion_band.py) and how evaluation reports them."""

from __future__ import annotations

import numpy as np
import scipy.sparse

from ace_neuro.cnmfe.curation import components_table
from ace_neuro.cnmfe.estimates import Estimates
from ace_neuro.cnmfe.evaluate import evaluate_components
from ace_neuro.cnmfe.motion_band import copied_share, motion_band_report, uncovered_counts
from ace_neuro.cnmfe.params import EvaluateOptions
from ace_neuro.cnmfe.reasons import decision_reasons
from test_fringes import H, W, _blob  # the same 40 x 40 frame and Gaussian footprints

T = 600
BY_SNR = {"min_SNR": 0.0, "SNR_lowest": 0.0, "snr_null_rate": None, "rval_lowest": -1.0, "fringe_corr": None}
THRESHOLDS = {"min_SNR": 0.0, "rval_thr": 0.85, "SNR_lowest": 0.0, "rval_lowest": -1.0}


def _scene(seed=0):
    """Shifts jumping between 0 and 6 px (top rows uncovered), three components:
    0 at the top edge, active exactly when the band is uncovered (the copies); 1 a cell 7 px from the top edge
    with transients of its own; 2 a cell in the middle."""
    rng = np.random.default_rng(seed)
    uncovered = (np.arange(T) // 50) % 3 == 1  # a third of the frames, in blocks of 50
    shifts = np.zeros((T, 2))
    shifts[uncovered, 0] = 6.0
    shifts[:, 1] = 0.3 * rng.normal(size=T)
    kernel = np.exp(-np.arange(40) / 8.0)
    own = [np.convolve(rng.random(T) < 0.02, kernel)[:T] for _ in range(2)]
    copies = uncovered * (1.0 + 0.2 * rng.random(T))
    C = np.stack([copies, own[0], own[1]]).astype(np.float32)
    A = scipy.sparse.csc_matrix(np.stack([_blob(1, 20, 2.5), _blob(7, 10), _blob(20, 25)], axis=1))
    YrA = (0.05 * rng.normal(size=C.shape)).astype(np.float32)
    est = Estimates(A=A, C=C, YrA=YrA, dims=(H, W), frame_rate=20.0,
                    params={"gSig": [2, 2], "gSiz": [9, 9], "decay_time": 0.4})
    return est, shifts


def test_uncovered_rows_and_the_share_of_a_footprint_on_them():
    counts = uncovered_counts(np.array([[5.0, 0.0], [0.0, -2.2], [3.0, 3.0], [-40.0, 0.0]]), (H, W))
    assert counts.tolist() == [[5, 0, 0, 0], [0, 0, 0, 3], [3, 0, 3, 0], [0, 40, 0, 0]]
    rows = np.zeros((H, W))
    rows[:10] = 1.0  # uniform over the top 10 rows
    share = copied_share(rows, counts)
    # 5 of its 10 rows; none (right columns); 3 rows + 3 columns of the other 7 rows; all
    assert np.allclose(share, [0.5, 3 / W, 0.3 + 0.7 * 3 / W, 1.0])


def test_a_component_made_of_the_copies_is_in_the_band_and_a_cell_beside_it_is_not():
    est, shifts = _scene()
    report = motion_band_report(est.A, est.C, est.dims, shifts, np.arange(3))
    assert report["components"] == [0]
    assert report["features"][0]["activity_share"] > 0.5 > report["features"][1]["activity_share"]
    assert 2 not in report["features"]  # never in the band
    assert report["largest_band"]["top"] == 6 and report["largest_band"]["bottom"] == 0
    # without motion (every shift 0) nothing is in the band
    assert motion_band_report(est.A, est.C, est.dims, np.zeros((T, 2)), np.arange(3))["components"] == []


def test_evaluation_rejects_the_band_component_and_says_why():
    est, shifts = _scene()
    movie = np.zeros((T, H, W), np.float32)  # r-values are irrelevant here: judge by SNR alone
    ev = evaluate_components(est, movie, EvaluateOptions.from_params(BY_SNR, reject_vessel_edges=False),
                             motion_shifts=shifts)
    assert ev.idx_components.tolist() == [1, 2]
    assert components_table(ev)["reason"].tolist() == ["motion_band", "", ""]
    words, codes = decision_reasons(ev.SNR_comp, ev.r_values, ev.accepted, ev.params, THRESHOLDS)
    assert codes == ["motion_band", "", ""]
    assert words[0].startswith("rejected: made of the band along the frame's edge that motion uncovered: ")
    assert "> motion_band_activity 0.5" in words[0]
    # off, or without the shifts: kept
    off = evaluate_components(est, movie, EvaluateOptions.from_params(BY_SNR, reject_vessel_edges=False,
                                                                      motion_band_activity=None), motion_shifts=shifts)
    assert off.idx_components.tolist() == [0, 1, 2]
    no_shifts = evaluate_components(est, movie, EvaluateOptions.from_params(BY_SNR, reject_vessel_edges=False))
    assert no_shifts.idx_components.tolist() == [0, 1, 2]
