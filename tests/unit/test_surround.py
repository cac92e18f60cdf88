"""Components whose signal continues beyond their footprint (cnmfe/surround.py): rejected as neuropil.

Three components in noise: a cell that ends where its footprint ends; an out-of-focus *cell* (blurred, its
footprint only its core) whose light reaches past the footprint but ends within about the blur length; and a
neuropil blob much wider than a cell, cut to a disk, whose light goes on.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse

from ace_neuro.cnmfe.curation import components_table
from ace_neuro.cnmfe.estimates import Estimates
from ace_neuro.cnmfe.evaluate import evaluate_components
from ace_neuro.cnmfe.params import EvaluateOptions
from ace_neuro.cnmfe.reasons import decision_reasons
from ace_neuro.cnmfe.rvalues import peak_frames, spatial_r_values, spatial_r_values_and_surround
from ace_neuro.cnmfe.surround import surround_components, surround_pixels

H = W = 64
T = 500
FR = 20.0
G_SIG = 3
BY_SNR = {"min_SNR": 0.0, "SNR_lowest": 0.0, "snr_null_rate": None, "rval_lowest": -1.0, "fringe_corr": None,
          "reject_vessel_edges": False, "surround_thr": 0.1}


def _gauss(r, c, sd):
    yy, xx = np.mgrid[:H, :W]
    return np.exp(-((yy - r) ** 2 + (xx - c) ** 2) / (2 * sd**2))


def _disk(r, c, radius):
    yy, xx = np.mgrid[:H, :W]
    return (yy - r) ** 2 + (xx - c) ** 2 <= radius**2


def _transients(rng):
    c = np.convolve(rng.random(T) < 0.015, np.exp(-np.arange(60) / 10.0))[:T]
    c[T // 2: T // 2 + 20] += 1.0  # at least one event
    return 10.0 * c


def _scene(seed=0):
    """0: a cell (Gaussian, sd 2; its footprint down to 5 % of its peak); 1: an out-of-focus blob (sd 9, three
    times a cell) whose footprint CNMF-E cut to a disk of radius 6; 2: a blurred cell (sd 3 = gSig, a soma of sd 2
    seen through a blur of about 2.2 px) whose footprint is its core, a disk of radius 3. The movie holds each whole.
    """
    rng = np.random.default_rng(seed)
    shapes = [_gauss(14, 14, 2.0), _gauss(42, 40, 9.0), _gauss(14, 48, 3.0)]
    footprints = [np.where(shapes[0] >= 0.05, shapes[0], 0.0), np.where(_disk(42, 40, 6), shapes[1], 0.0),
                  np.where(_disk(14, 48, 3), shapes[2], 0.0)]
    C = np.stack([_transients(rng) for _ in shapes])
    movie = sum(C[k][:, None, None] * shapes[k] for k in range(3)) + rng.normal(0, 0.5, (T, H, W))
    A = scipy.sparse.csc_matrix(np.stack([f.ravel(order="F") for f in footprints], axis=1))
    Y = movie.reshape(T, -1, order="F").T  # (pixels, T), CaImAn's order
    dense = A.toarray()
    YrA = dense.T @ (Y - dense @ C) / (dense**2).sum(0)[:, None]
    est = Estimates(A=A, C=C.astype(np.float32), YrA=YrA.astype(np.float32), b0=np.zeros(H * W, np.float32),
                    dims=(H, W), frame_rate=FR, params={"gSig": [G_SIG, G_SIG], "gSiz": [13, 13], "decay_time": 0.5})
    return est, movie.astype(np.float32)


def test_rings_are_steps_from_the_support():
    A = scipy.sparse.csc_matrix(_disk(30, 30, 4).ravel(order="F")[:, None].astype(float))
    pixels, ring = surround_pixels(A, (H, W), 3, n_rings=2)[0]
    rows, cols = pixels % H, pixels // H
    support = np.argwhere(_disk(30, 30, 4))
    steps = np.abs(np.stack([rows, cols], 1)[:, None, :] - support[None]).max(2).min(1)  # chessboard distance
    assert steps.min() == 1 and steps.max() == 6
    assert np.array_equal(ring, (steps + 2) // 3)
    assert not np.isin(pixels, np.flatnonzero(A.toarray()[:, 0])).any()
    edge = scipy.sparse.csc_matrix(_disk(0, 0, 2).ravel(order="F")[:, None].astype(float))  # clipped to the frame
    corner, _ = surround_pixels(edge, (H, W), 3, n_rings=2)[0]
    assert (corner % H).max() <= 8 and (corner // H).max() <= 8


def test_a_cell_ends_a_blurred_cell_ends_within_a_ring_a_blob_goes_on():
    est, movie = _scene()
    frames = peak_frames(est.C, FR, 10)
    r, surround = spatial_r_values_and_surround(est, movie, frames, surround_px=G_SIG)
    assert surround.shape == (3, 2)
    inner, outer = surround[:, 0], surround[:, 1]
    assert abs(inner[0]) < 0.05 and abs(outer[0]) < 0.05  # the cell ends at its footprint
    assert inner[2] > 0.1 and outer[2] < 0.2 * inner[2]  # the blurred cell reaches past it, then ends
    assert inner[1] > 0.3 and outer[1] > 0.5 * inner[1]  # the blob goes on
    assert np.array_equal(r, spatial_r_values(est, movie, frames))  # the same r-values, bit for bit
    _, none = spatial_r_values_and_surround(est, movie, frames, surround_px=0)
    assert np.isnan(none).all()
    # the first ring alone cannot tell the blurred cell from the blob; both rings can
    assert sorted(surround_components(surround, np.arange(3), 0.1, None)) == [1, 2]
    assert sorted(surround_components(surround, np.arange(3), 0.1, 0.25)) == [1]


def test_evaluation_keeps_the_blurred_cell_rejects_the_blob_as_neuropil_and_says_why():
    est, movie = _scene()
    ev = evaluate_components(est, movie, EvaluateOptions.from_params(BY_SNR))
    assert ev.idx_components.tolist() == [0, 2]
    assert components_table(ev)["reason"].tolist() == ["", "neuropil", ""]
    assert len(ev.params["surround_ratios"]) == len(ev.params["surround_outer_ratios"]) == 3
    words, codes = decision_reasons(ev.SNR_comp, ev.r_values, ev.accepted, ev.params,
                                    {"min_SNR": 0.0, "rval_thr": 0.85, "SNR_lowest": 0.0, "rval_lowest": -1.0})
    assert codes == ["", "neuropil", ""]
    assert words[1].startswith("rejected: out-of-focus neuropil or background: its signal continues beyond")
    assert "> surround_thr 0.1" in words[1] and "more than surround_outer_thr 0.25 of the first ring's" in words[1]
    first_ring = evaluate_components(est, movie, EvaluateOptions.from_params(BY_SNR, surround_outer_thr=None))
    assert first_ring.idx_components.tolist() == [0]  # the first ring alone loses the blurred cell
    off = evaluate_components(est, movie, EvaluateOptions.from_params(BY_SNR, surround_thr=None))
    assert off.idx_components.tolist() == [0, 1, 2]
