"""Footprint supports of the spatial update: they grow to cover the whole cell and are never cut square by a box."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse

from ace_neuro.cnmfe.spatial import clean_footprint, footprint_supports, hals_footprints

# The support growth these tests describe (branch coverage, 7367ac5) was reverted on main: on a dense field
# (tests/unit/test_cnmfe_pipeline.py, 30 cells in 128 x 128) grown footprints took in neighbours and recall fell
# 0.8 (the test asks 0.9). They stay as the target of issue 20's footprint-coverage row: strict, so the day the
# growth returns without the regression they pass and this mark must go.
pytestmark = pytest.mark.xfail(strict=True, reason="support growth reverted on main (issue 20): footprints still "
                               "end at the gSiz box")

H = W = 48


def _gaussian(centre, sigma):
    yy, xx = np.mgrid[0:H, 0:W]
    return np.exp(-((yy - centre[0]) ** 2 + (xx - centre[1]) ** 2) / (2 * sigma ** 2))


def _column(img):
    return scipy.sparse.csc_matrix(img.ravel(order="F")[:, None].astype(np.float32))


def _spatial_rounds(A, true_footprints, traces, noise, gSig, gSiz, n_rounds):
    """``n_rounds`` spatial updates (supports, HALS, cleaning) on the movie ``Y = a c + noise`` (Fortran pixels)."""
    Y = np.stack([f.ravel(order="F") for f in true_footprints], axis=1) @ traces + noise  # (P, T)
    C = traces - traces.mean(axis=1, keepdims=True)
    V = C @ C.T
    for _ in range(n_rounds):
        supports = footprint_supports(A, (H, W), gSig, gSiz)
        U = [Y[s] @ C[k] for k, s in enumerate(supports)]
        initial = [A[:, k].toarray().ravel()[s] for k, s in enumerate(supports)]
        values = hals_footprints(supports, U, V, initial, n_iter=5)
        cols = [clean_footprint(s, v, (H, W)) for s, v in zip(supports, values)]
        indptr = np.cumsum([0] + [len(i) for i, _ in cols])
        A = scipy.sparse.csc_matrix((np.concatenate([v for _, v in cols]), np.concatenate([i for i, _ in cols]),
                                     indptr), shape=(H * W, len(cols)))
    return A


def _cosine(a, b):
    return float(a @ b / np.sqrt((a @ a) * (b @ b)))


def test_a_footprint_filling_its_box_grows_round_not_square():
    """A support that fills the gSiz box (what seeding gives a cell larger than gSig says) is not kept in that box."""
    box = np.zeros((H, W))
    box[20:29, 20:29] = 1.0  # the 9 x 9 box of gSiz 9 around (24, 24)
    support = footprint_supports(_column(box), (H, W), (2, 2), (9, 9))[0]
    rows, cols = support % H, support // H
    assert rows.min() < 20 and rows.max() > 28 and cols.min() < 20 and cols.max() > 28
    # grown by a disk, not a square: the corners are cut
    mask = np.zeros(H * W, bool)
    mask[support] = True
    mask = mask.reshape((H, W), order="F")
    assert mask[18, 24] and mask[24, 18] and not mask[18, 18]


def test_spatial_updates_cover_an_out_of_focus_cell_whole():
    """A blurred cell (sigma 5 px) seeded with gSig 2 / gSiz 9: its footprint follows the data beyond the box.

    The box-bound supports of before kept the 9 x 9 core (cosine 0.80 to the cell); grown supports cover it.
    """
    rng = np.random.default_rng(0)
    T = 600
    cell = _gaussian((24, 24), 5.0)
    neighbour = _gaussian((24, 40), 2.0)  # a small in-focus neighbour with its own activity
    traces = np.maximum(rng.standard_normal((2, T)), 0.0) * 4.0
    noise = 0.5 * rng.standard_normal((H * W, T))
    core = np.where((np.abs(np.mgrid[0:H, 0:W][0] - 24) <= 4) & (np.abs(np.mgrid[0:H, 0:W][1] - 24) <= 4), cell, 0.0)
    A0 = scipy.sparse.hstack([_column(core), _column(np.where(neighbour > 0.2, neighbour, 0.0))], format="csc")
    A = _spatial_rounds(A0, [cell, neighbour], traces, noise, (2, 2), (9, 9), n_rounds=2)
    found = A[:, 0].toarray().ravel()
    assert _cosine(core.ravel(order="F"), cell.ravel(order="F")) < 0.85
    assert _cosine(found, cell.ravel(order="F")) > 0.95
    img = found.reshape((H, W), order="F")
    rows, cols = np.nonzero(img > 0.2 * img.max())
    assert rows.min() < 20 and rows.max() > 28 and cols.min() < 20  # beyond the 9 x 9 box on every side
    # it does not bleed into the neighbour: little of its mass on the neighbour's core
    assert img[neighbour > 0.5].sum() < 0.05 * img.sum()
    assert _cosine(A[:, 1].toarray().ravel(), neighbour.ravel(order="F")) > 0.95


@pytest.mark.slow
def test_fit_covers_blurred_cells_of_a_simulation(tmp_path):
    """The whole fit on a small simulation with realistic optics: matched footprints are close to the blurred truth.

    With the square gSiz-box supports of before: cosines 0.83 / 0.93 / 0.96 / 0.99 (median 0.944); now 0.94 or more.
    """
    from ace_neuro.cnmfe.params import CnmfeOptions
    from ace_neuro.cnmfe.pipeline import fit_cnmfe
    from ace_neuro.cnmfe.score import footprint_cosines, match_components, trace_correlations
    from ace_neuro.io.movie import caiman_memmap_name, create_caiman_memmap
    from ace_neuro.simulate import SimulationConfig, load_ground_truth, simulate_frames, simulate_recording

    cfg = SimulationConfig(n_frames=1000, height=96, width=96, n_neurons=8, seed=3, defocus_blur_px=6.0,
                           neuron_brightness=30.0, motion_amplitude_px=0.0, nonrigid_amplitude_px=0.0, ephys=False)
    simulate_recording(tmp_path / "raw", cfg)
    path = tmp_path / caiman_memmap_name("corrected", 96, 96, 1000)
    view = create_caiman_memmap(path, 96, 96, 1000)
    view[:] = simulate_frames(cfg)
    del view
    truth = load_ground_truth(tmp_path / "raw")
    # gSig / gSiz of sharp cells of this size (what gSig: auto measures on the in-focus ones), fixed thresholds
    options = CnmfeOptions.from_params(dict(gSig=2, gSiz=9, min_corr=0.7, min_pnr=5))
    est = fit_cnmfe(path, options, threads=1, frame_rate=cfg.frame_rate)
    matches = match_components(est.A, truth.footprints, dims=est.dims)
    cos = footprint_cosines(est.A, truth.footprints, matches, dims=est.dims)
    assert len(cos) >= 4 and (truth.neuron_blur_px[matches.idx_true] > 2).any()
    assert cos.min() >= 0.92 and np.median(cos) >= 0.955, cos
    assert np.median(trace_correlations(est.C, truth.calcium, matches)) >= 0.95
