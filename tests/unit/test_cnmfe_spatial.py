"""Footprint supports of the spatial update: they grow to cover the whole cell and are never cut square by a box."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal
import scipy.sparse

from ace_neuro.cnmfe.spatial import clean_footprint, footprint_supports, hals_footprints, values_on_supports

H = W = 48


def _gaussian(centre, sigma):
    yy, xx = np.mgrid[0:H, 0:W]
    return np.exp(-((yy - centre[0]) ** 2 + (xx - centre[1]) ** 2) / (2 * sigma ** 2))


def _column(img):
    return scipy.sparse.csc_matrix(img.ravel(order="F")[:, None].astype(np.float32))


def _spatial_rounds(A, true_footprints, traces, noise, gSig, gSiz, n_rounds, fit_traces=None):
    """``n_rounds`` spatial updates (supports, HALS, cleaning) on the movie ``Y = a c + noise`` (Fortran pixels).

    The footprints are fitted with ``fit_traces`` (default: the true ``traces``; fewer rows: cells the model lacks).
    """
    Y = np.stack([f.ravel(order="F") for f in true_footprints], axis=1) @ traces + noise  # (P, T)
    fit_traces = traces if fit_traces is None else fit_traces
    C = fit_traces - fit_traces.mean(axis=1, keepdims=True)
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


def _calcium(rng, T, rate=0.03, decay=0.9):
    """Non-negative calcium-like traces: Poisson spikes through a first-order decay, ``(n, T)``."""
    spikes = rng.poisson(rate, size=T).astype(float)
    return scipy.signal.lfilter([1.0], [1.0, -decay], spikes)


def _adjacent_cells(neighbour_in_model, shared):
    """Two touching cells (7 px apart, sigma 3), traces with a ``shared`` part, after three spatial updates.

    Returns the fitted footprints (one per cell in the model) and the true ones.
    """
    rng = np.random.default_rng(1)
    T = 1000
    cells = [_gaussian((24, 20), 3.0), _gaussian((24, 27), 3.0)]
    common = _calcium(rng, T)
    traces = np.stack([_calcium(rng, T) + shared * common, _calcium(rng, T) + shared * common]) * 5.0
    noise = 0.3 * rng.standard_normal((H * W, T))
    cores = [np.where(c > 0.6, c, 0.0) for c in cells]
    n_model = 2 if neighbour_in_model else 1
    A0 = scipy.sparse.hstack([_column(c) for c in cores[:n_model]], format="csc")
    A = _spatial_rounds(A0, cells, traces, noise, (3, 3), (13, 13), n_rounds=3, fit_traces=traces[:n_model])
    return [A[:, k].toarray().ravel().reshape((H, W), order="F") for k in range(n_model)], cells


def _share_on_core(img, own, other):
    """Fraction of footprint ``img``'s mass on the core of ``other`` (where it is 3x brighter than ``own``)."""
    core = other > 3 * own
    return float(img[core].sum() / img.sum())


@pytest.mark.parametrize("neighbour_in_model", [True, False])
def test_two_adjacent_cells_with_their_own_traces_keep_apart(neighbour_in_model):
    """Two touching cells with their own activity: neither footprint takes in the other as its supports grow.

    With both in the model the joint fit splits the shared pixels by trace (a footprint keeps the other's core only
    as much as the true cell reaches into it, 7 %). With the neighbour not in the model yet (to be seeded from the
    residual), the first cell's footprint takes little of it: its activity is not the first cell's.
    """
    found, cells = _adjacent_cells(neighbour_in_model, shared=0.0)
    for k, img in enumerate(found):
        own, other = cells[k], cells[1 - k]
        truth = _share_on_core(own, own, other)
        assert _share_on_core(img, own, other) <= truth + (0.01 if neighbour_in_model else 0.05)
        assert _cosine(img.ravel(), own.ravel()) > (0.99 if neighbour_in_model else 0.95)


@pytest.mark.xfail(strict=True, reason="issue 20: a neighbour not in the model whose activity correlates with the "
                   "cell's leaks into the grown footprint; telling it apart needs each pixel's own variance")
def test_a_missed_neighbour_with_correlated_activity_is_not_taken_in():
    """The neighbour not in the model, traces correlated (r 0.34): its core takes 24 % of the footprint's mass
    (truth 7 %; the gSiz-box supports before: 16 %). A criterion on the correlation of each pixel's residual with the
    trace would stop it; the spatial update's sums do not hold each pixel's variance yet."""
    found, cells = _adjacent_cells(False, shared=0.5)
    own, other = cells
    assert _share_on_core(found[0], own, other) <= _share_on_core(own, own, other) + 0.05


def test_values_on_supports_are_the_dense_columns_there():
    A = scipy.sparse.random(60, 5, density=0.2, format="csc", dtype=np.float32, random_state=2)
    supports = [np.array([0, 3, 7, 59]), np.arange(60), np.array([], np.int64), np.flatnonzero(A[:, 3].toarray()),
                np.array([1, 2])]
    got = values_on_supports(A, supports)
    for k, s in enumerate(supports):
        assert got[k].dtype == np.float32
        np.testing.assert_array_equal(got[k], A[:, k].toarray().ravel()[s])
