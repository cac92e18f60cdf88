"""Peak contrast (cnmfe/contrast.py) and the evaluate step's ``min_peak_contrast``."""

from __future__ import annotations

import numpy as np
import scipy.sparse

from ace_neuro.cnmfe.contrast import core_ring_contrast, peak_contrasts
from ace_neuro.cnmfe.reader import MovieSource

H = W = 48
T = 400


def _blob(r, c, sd=2.5):
    yy, xx = np.mgrid[:H, :W]
    img = np.exp(-((yy - r) ** 2 + (xx - c) ** 2) / (2 * sd**2))
    img[img < 0.05] = 0
    return img


def _scene(seed=0):
    """A soma lighting up alone (0) and a patch whose whole surroundings light up with it (1), in noise."""
    rng = np.random.default_rng(seed)
    kernel = np.exp(-np.arange(30) / 6.0)
    soma = np.convolve(np.isin(np.arange(T), [60, 200, 330]), kernel)[:T]
    field = np.convolve(np.isin(np.arange(T), [100, 260]), kernel)[:T]
    A = scipy.sparse.csc_matrix(np.stack([_blob(14, 14).ravel(order="F"), _blob(34, 34).ravel(order="F")], axis=1))
    yy, xx = np.mgrid[:H, :W]
    wide = np.exp(-((yy - 34) ** 2 + (xx - 34) ** 2) / (2 * 12.0**2))  # a broad glow around component 1
    movie = (soma[:, None, None] * _blob(14, 14)[None] + field[:, None, None] * wide[None]
             + 0.15 * rng.normal(size=(T, H, W))).astype(np.float32)
    C = np.stack([soma, field])
    return A, C, movie


def test_core_ring_contrast_of_a_blob_an_even_field_and_nothing():
    blob = _blob(24, 24)
    noise = np.random.default_rng(1).normal(0, 0.1, (H, W))
    assert core_ring_contrast(blob, blob + noise) > 5
    assert abs(core_ring_contrast(blob, 1.0 + noise)) < 1  # the whole field lit: core no brighter than its ring
    assert core_ring_contrast(np.zeros((H, W)), noise) == 0.0


def test_a_soma_stands_out_at_its_peaks_and_a_patch_of_a_wide_glow_does_not():
    A, C, movie = _scene()
    values = peak_contrasts(A, C, (H, W), MovieSource.from_array(movie), np.array([0, 1]), frame_rate=20.0)
    assert values[0] > 5 and values[1] < 2, values
    # components in any order, and none
    assert peak_contrasts(A, C, (H, W), MovieSource.from_array(movie), np.array([1]), frame_rate=20.0)[0] == values[1]
    assert peak_contrasts(A, C, (H, W), MovieSource.from_array(movie), np.array([], int), frame_rate=20.0).size == 0


def test_the_evaluate_step_keeps_the_soma_under_the_floor_only_when_asked():
    from ace_neuro.cnmfe.estimates import Estimates
    from ace_neuro.cnmfe.evaluate import EvaluateOptions, components_table, evaluate_components
    from ace_neuro.cnmfe.snr import trace_snr

    A, C, movie = _scene()
    rng = np.random.default_rng(2)
    raw = C + 0.1 * rng.normal(size=C.shape)
    est = Estimates(A=A, C=C.astype(np.float32), YrA=(raw - C).astype(np.float32), b0=np.zeros(H * W, np.float32),
                    dims=(H, W), frame_rate=20.0, params={"gSig": [3, 3], "gSiz": [13, 13], "decay_time": 0.4})
    snr = trace_snr(raw, 20.0, 0.4)
    # the floor rejects both (the r-value rule accepts both)
    rule = {"min_SNR": 100.0, "SNR_lowest": float(snr.max()) + 0.1, "snr_null_rate": None, "fringe_corr": None,
            "reject_vessel_edges": False, "rval_thr": 0.0}
    off = evaluate_components(est, movie, EvaluateOptions.from_params(rule))
    assert off.idx_components.tolist() == [] and off.params["peak_contrast_components"] == {}
    on = evaluate_components(est, movie, EvaluateOptions.from_params(rule, min_peak_contrast=3.0))
    assert on.idx_components.tolist() == [0]
    assert set(on.params["peak_contrast_components"]) == {"0", "1"}
    table = components_table(on)
    assert table["reason"].tolist() == ["", "quality"]
    from ace_neuro.cnmfe.reasons import decision_reasons

    thresholds = {k: on.params[k] for k in ("min_SNR", "rval_thr", "SNR_lowest", "rval_lowest")}
    words, codes = decision_reasons(on.SNR_comp, on.r_values, np.array([True, False]), on.params, thresholds)
    assert codes == ["", "quality"]
    assert words[0].startswith("accepted: stands out at its own peaks (peak contrast")
    assert "> min_peak_contrast 3" in words[0]
    assert "<= min_peak_contrast 3" in words[1]
