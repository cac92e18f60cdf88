"""Vessel-edge components rejected in evaluation (ace_neuro.cnmfe.vessels)."""

from __future__ import annotations

import numpy as np
import scipy.sparse

from ace_neuro.cnmfe.estimates import Estimates
from ace_neuro.cnmfe.evaluate import EvaluateOptions, components_table, evaluate_components
from ace_neuro.cnmfe.vessels import (
    find_vessel_edge_components,
    vessel_border_band,
    vessel_edge_components,
    vessel_edge_features,
    vessel_mask,
)

H, W, T = 64, 80, 600


def _background():
    """Vignetted background with one curved dark vessel (rows ~30-35) and round dark gaps."""
    yy, xx = np.mgrid[0:H, 0:W]
    bg = 100.0 * (0.5 + 0.5 * np.exp(-((yy - 20) ** 2 + (xx - 50) ** 2) / (2 * 40.0 ** 2)))
    centre = 32 + 4 * np.sin(xx / 15.0)
    vessel = np.abs(yy - centre) < 3.5
    bg = np.where(vessel, 0.7 * bg, bg)
    gap = (yy - 8) ** 2 + (xx - 10) ** 2 < 9  # a small round dark spot: not a vessel
    return np.where(gap, 0.8 * bg, bg), vessel, centre


def _footprint(rows, cols, sigma=(2.0, 2.0)):
    yy, xx = np.mgrid[0:H, 0:W]
    img = np.zeros((H, W))
    for r, c in zip(rows, cols):
        img = np.maximum(img, np.exp(-((yy - r) ** 2 / (2 * sigma[0] ** 2) + (xx - c) ** 2 / (2 * sigma[1] ** 2))))
    img[img < 0.05] = 0
    return img.ravel(order="F")


def _calcium(rng):
    spikes = (rng.random(T) < 0.02).astype(float)
    return np.convolve(spikes, np.exp(-np.arange(40) / 10.0))[:T]


def _scene():
    rng = np.random.default_rng(0)
    bg, vessel, centre = _background()
    cols = np.arange(20, 60, 3)
    edge_rows = centre[0, cols] - 4.0  # along the upper border of the vessel: a chain
    flicker = np.sin(2 * np.pi * np.arange(T) / 150.0) + 0.3 * rng.normal(size=T)
    footprints = [
        _footprint(edge_rows, cols, (1.2, 1.2)),  # 0: chain hugging the border, symmetric flicker trace
        _footprint([50], [60]),  # 1: cell away from the vessel
        _footprint([centre[0, 40] - 5], [40]),  # 2: cell touching the vessel, calcium trace
        _footprint([centre[0, 70] + 4], [70]),  # 3: compact blob on the border with a flicker trace
    ]
    traces = [flicker, _calcium(rng), _calcium(rng), flicker]
    A = scipy.sparse.csc_matrix(np.stack(footprints, axis=1))
    C = np.stack(traces).astype(np.float32)
    YrA = (0.1 * rng.normal(size=C.shape)).astype(np.float32)
    est = Estimates(A=A, C=C, YrA=YrA, b0=bg.ravel(order="F").astype(np.float32), dims=(H, W), frame_rate=20.0,
                    params={"gSig": [3, 3], "gSiz": [13, 13], "decay_time": 0.4})
    return est, vessel


def test_vessel_mask_finds_the_dark_ridge_not_round_gaps_or_vignetting():
    bg, vessel, _ = _background()
    mask = vessel_mask(bg, gSiz=(13, 13))
    assert (mask & vessel).sum() >= 0.8 * vessel.sum()
    assert (mask & ~vessel).sum() <= 0.1 * vessel.sum()
    assert not mask[5:12, 7:14].any()
    assert not vessel_mask(np.full((H, W), 50.0), gSiz=(13, 13)).any()
    band = vessel_border_band(mask, 3)
    assert band[mask].all() and band.sum() > mask.sum()


def test_features_and_decision():
    est, vessel = _scene()
    mask = vessel_mask(est.b0.reshape((H, W), order="F"), gSiz=(13, 13))
    f = vessel_edge_features(est.A, est.C + est.YrA, (H, W), mask, band_width=3)
    assert f.border_fraction[0] > 0.8 and f.border_fraction[1] < 0.1
    assert f.elongation[0] > 3 and f.elongation[1] < 1.3
    assert f.skewness[1] > 1 and abs(f.skewness[0]) < 0.5
    assert vessel_edge_components(f).tolist() == [True, False, False, True]
    assert find_vessel_edge_components(est, gSig=3, gSiz=13).tolist() == [True, False, False, True]


def test_evaluation_rejects_vessel_edges_and_says_why():
    est, _ = _scene()
    movie = np.zeros((T, H, W), np.float32)  # r-values are irrelevant here: judge by SNR alone
    by_snr = {"min_SNR": 0.0, "SNR_lowest": 0.0, "snr_null_rate": None, "rval_lowest": -1.0}
    ev = evaluate_components(est, movie, EvaluateOptions.from_params(by_snr))
    assert 0 in ev.idx_components_bad and 3 in ev.idx_components_bad
    assert 1 in ev.idx_components and 2 in ev.idx_components
    table = components_table(ev)
    assert table["reason"].tolist()[:4] == ["vessel_edge", "", "", "vessel_edge"]
    kept = evaluate_components(est, movie, EvaluateOptions.from_params(by_snr, reject_vessel_edges=False))
    assert kept.idx_components.tolist() == [0, 1, 2, 3]


def test_a_flagged_component_on_the_frame_edge_is_a_border_component():
    from ace_neuro.cnmfe.reasons import decision_reasons
    from ace_neuro.cnmfe.vessels import frame_edge_fraction, vessel_edge_report

    est, _ = _scene()
    _, _, centre = _background()
    rng = np.random.default_rng(1)
    flicker = np.sin(2 * np.pi * np.arange(T) / 150.0) + 0.3 * rng.normal(size=T)
    # 4: a half blob cut by the frame's right edge, on the vessel where it leaves the frame
    A = scipy.sparse.hstack([est.A, scipy.sparse.csc_matrix(_footprint([centre[0, W - 1]], [W - 1])[:, None])]).tocsc()
    est = Estimates(A=A, C=np.vstack([est.C, flicker[None]]).astype(np.float32),
                    YrA=np.vstack([est.YrA, np.zeros((1, T), np.float32)]), b0=est.b0, dims=(H, W),
                    frame_rate=20.0, params=est.params)
    on_edge = frame_edge_fraction(est.A, (H, W), width=3)
    assert on_edge[4] >= 0.5 and on_edge[1] == 0
    report = vessel_edge_report(est, gSig=3, gSiz=13)
    assert report["vessel_edge"] == [0, 3] and report["border"] == [4]
    assert report["features"][4]["frame_edge_fraction"] >= 0.5
    movie = np.zeros((T, H, W), np.float32)
    ev = evaluate_components(est, movie, EvaluateOptions.from_params(min_SNR=0.0, SNR_lowest=0.0, snr_null_rate=None))
    assert components_table(ev)["reason"].tolist() == ["vessel_edge", "", "", "vessel_edge", "border"]
    words, codes = decision_reasons(ev.SNR_comp, ev.r_values, ev.accepted, ev.params,
                                    {"min_SNR": 0.0, "rval_thr": 0.85, "SNR_lowest": 0.0, "rval_lowest": -1.0})
    assert codes == ["vessel_edge", "", "", "vessel_edge", "border"]
    assert words[4].startswith("rejected: border component: ") and "of the frame's edge" in words[4]
    assert words[0].startswith("rejected: vessel edge: ") and "on a vessel border >= 50%" in words[0]
    assert words[1].startswith("accepted: SNR ")
