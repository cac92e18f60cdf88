"""The automatic decision of every component in words (ace_neuro.cnmfe.reasons), as the curation page shows it."""

from __future__ import annotations

import numpy as np

from ace_neuro.cnmfe.reasons import decision_reasons

THRESHOLDS = {"min_SNR": 3.0, "rval_thr": 0.85, "SNR_lowest": 0.5, "rval_lowest": -1.0}


def test_each_rule_is_named_with_its_value_and_threshold():
    snr = np.array([5.1, 2.0, 2.54, 0.3, 4.0, np.nan])
    r = np.array([0.5, 0.9, 0.62, 0.95, 0.99, 0.5])
    accepted = np.array([True, True, False, False, True, False])
    words, codes = decision_reasons(snr, r, accepted, {}, THRESHOLDS)
    assert words[0] == "accepted: SNR 5.10 > min_SNR 3"
    assert words[1] == "accepted: r 0.90 >= rval_thr 0.85"
    assert words[2] == "rejected: SNR 2.54 <= min_SNR 3 and r 0.62 < rval_thr 0.85"
    assert words[3] == "rejected: SNR 0.30 <= SNR_lowest 0.5"
    assert words[4] == "accepted: SNR 4.00 > min_SNR 3 and r 0.99 >= rval_thr 0.85"
    assert "holds no metrics" in words[5]
    assert codes == ["", "", "quality", "quality", "", "recorded"]


def test_a_decision_the_record_does_not_explain_says_so():
    words, codes = decision_reasons(np.array([5.0]), np.array([0.9]), np.array([False]), {}, THRESHOLDS)
    assert codes == ["recorded"] and "re-run evaluate" in words[0]


def test_vessel_and_border_rejections_name_the_test_that_fired():
    params = {
        "vessel_edge_components": [0], "border_components": [1],
        "vessel_edge_features": {"0": {"border_fraction": 0.8, "elongation": 1.2, "skewness": 0.1,
                                       "frame_edge_fraction": 0.0},
                                 "1": {"border_fraction": 1.0, "elongation": 4.7, "skewness": 1.0,
                                       "frame_edge_fraction": 0.99}},
        "vessel_edge_criteria": {"border_fraction": 0.5, "max_elongation": 2.0, "min_skewness": 0.5,
                                 "edge_fraction": 0.5, "edge_width": 3.0},
    }
    words, codes = decision_reasons(np.array([1.0, 2.54]), np.array([0.6, 0.99]), np.array([False, False]),
                                    params, THRESHOLDS)
    assert codes == ["vessel_edge", "border"]
    assert words[0] == ("rejected: vessel edge: 80% of the footprint on a vessel border >= 50%, not cell-like "
                        "(trace skewness 0.10 < 0.5); also SNR 1.00 <= min_SNR 3 and r 0.60 < rval_thr 0.85")
    assert words[1] == ("rejected: border component: 99% of the footprint within 3.0 px of the frame's edge, over a "
                        "dark ridge of the background, not cell-like (elongation 4.7 >= 2); the SNR / r-value rule "
                        "alone would accept it (r 0.99 >= rval_thr 0.85)")
