"""Each pixel's slow trend (photobleaching): the basis, its streaming fit, the source read without it, the model."""

import numpy as np
import pytest
import scipy.sparse

from ace_neuro.cnmfe.estimates import Estimates, frames_to_pixels
from ace_neuro.cnmfe.fit import fit_region
from ace_neuro.cnmfe.params import CnmfeOptions
from ace_neuro.cnmfe.reader import MovieSource
from ace_neuro.cnmfe.spatial import centroids
from ace_neuro.cnmfe.trend import PixelTrend, fit_trend, legendre_basis
from ace_neuro.simulate import SimulationConfig, simulate_frames
from ace_neuro.simulate.model import build_model


def test_the_basis_is_orthonormal_orthogonal_to_the_constant_and_polynomial():
    f = legendre_basis(500, 3)
    assert f.shape == (3, 500)
    np.testing.assert_allclose(f @ f.T, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(f.sum(axis=1), 0.0, atol=1e-10)
    t = np.linspace(-1, 1, 500)
    for k in range(3):  # row k is a polynomial of degree k + 1: a fit of that degree holds it exactly
        coef = np.polynomial.polynomial.polyfit(t, f[k], k + 1)
        np.testing.assert_allclose(np.polynomial.polynomial.polyval(t, coef), f[k], atol=1e-10)
        residual = f[k] - np.polynomial.polynomial.polyval(t, np.polynomial.polynomial.polyfit(t, f[k], k))
        assert np.abs(residual).max() > 1e-3  # ... and one of a lower degree does not
    assert legendre_basis(3, 5).shape == (2, 3) and legendre_basis(10, 0).shape == (0, 10)


def _bleaching_movie(T=400, h=12, w=10, loss=0.7, seed=0, noise=0.1):
    """A field that loses ``loss`` of its brightness exponentially, at a rate that varies over the field, plus noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(T) / (T - 1)
    rate = np.linspace(0.5, 1.0, w)[None, :] * np.ones((h, 1))  # faster bleaching to the right
    level = 100 + 50 * rng.random((h, w))
    clean = level[None] * np.exp(np.log(1 - loss) * rate[None] * t[:, None, None])
    return (clean + rng.normal(0, noise, (T, h, w))).astype(np.float32), clean


def test_the_trend_of_exponential_bleaching_is_removed_and_each_pixels_mean_kept():
    movie, clean = _bleaching_movie()
    source = MovieSource.from_array(movie)
    trend = fit_trend(source, 3, chunk_frames=64, threads=2)
    assert trend.b.shape == (12 * 10, 3) and trend.f.shape == (3, 400) and trend.b.dtype == np.float32
    detrended = source.with_trend(trend)
    y = detrended.read(0, 400)
    raw = frames_to_pixels(movie)
    np.testing.assert_allclose(y.mean(axis=1), raw.mean(axis=1), rtol=1e-5)
    # what is left is the noise (sd 0.1): the fall of up to 70 % (35-105 units) is gone to within 0.25 units
    # (a cubic's error on this exponential, 0.1 units at most, and the noise's share of the fit)
    left = y - frames_to_pixels(movie - clean) - frames_to_pixels(clean).mean(axis=1, keepdims=True)
    assert np.abs(left).max() < 0.25
    assert np.abs(raw - raw.mean(axis=1, keepdims=True) - frames_to_pixels(movie - clean)).max() > 30
    # the same values in chunks of any size, and in frames; the stored movie is not changed
    np.testing.assert_array_equal(np.concatenate([detrended.read(a, min(a + 33, 400)) for a in range(0, 400, 33)],
                                                 axis=1), y)
    np.testing.assert_allclose(frames_to_pixels(detrended.read_frames(10, 20)), y[:, 10:20], rtol=1e-6)
    np.testing.assert_array_equal(source.read(0, 400), raw)
    assert detrended.without_trend().trend is None


def test_a_region_of_a_detrended_movie_is_read_without_its_pixels_trend():
    movie, _ = _bleaching_movie()
    source = MovieSource.from_array(movie)
    detrended = source.with_trend(fit_trend(source, 2, chunk_frames=100))
    whole = detrended.read(50, 90).reshape(10, 12, 40)  # [col, row, t]
    region = (3, 9, 2, 7)
    part = detrended.sub(region)
    np.testing.assert_array_equal(part.read(50, 90).reshape(5, 6, 40), whole[2:7, 3:9])
    inner = part.sub((4, 6, 3, 5))  # a region of the region
    np.testing.assert_array_equal(inner.read(50, 90).reshape(2, 2, 40), whole[3:5, 4:6])
    with pytest.raises(ValueError, match="outside"):
        part.sub((0, 2, 0, 2))
    with pytest.raises(ValueError, match="trend of"):
        source.with_trend(PixelTrend(np.zeros((5, 1), np.float32), np.zeros((1, 400), np.float32)))


def test_degree_zero_is_an_empty_trend_and_the_movie_as_stored():
    movie, _ = _bleaching_movie(T=50)
    source = MovieSource.from_array(movie)
    trend = fit_trend(source, 0, chunk_frames=16)
    assert trend.degree == 0
    np.testing.assert_array_equal(source.with_trend(trend).read(0, 50), source.read(0, 50))


def test_the_ring_model_reads_the_movie_without_the_trend():
    rng = np.random.default_rng(1)
    h, w, T = 8, 6, 30
    n = h * w
    A = scipy.sparse.csc_matrix(rng.random((n, 2)).astype(np.float32))
    C = rng.random((2, T)).astype(np.float32)
    b0 = rng.random(n).astype(np.float32)
    W = scipy.sparse.csr_matrix(rng.random((n, n)).astype(np.float32) * (rng.random((n, n)) < 0.1))
    b = rng.random((n, 2)).astype(np.float32)
    f = legendre_basis(T, 2).astype(np.float32)
    Y = rng.random((n, T)).astype(np.float32)
    est = Estimates(A=A, C=C, dims=(h, w), frame_rate=10.0, b0=b0, W=W, ssub_B=1, b=b, f=f)
    trend = b @ f
    expected = b0[:, None] + trend + W @ (Y - A @ C - b0[:, None] - trend)
    np.testing.assert_allclose(est.background(Y, slice(0, T)), expected, rtol=1e-4, atol=1e-4)
    # frames chosen by index take the trend of those frames
    np.testing.assert_allclose(est.background(Y[:, [3, 7]], np.array([3, 7])), expected[:, [3, 7]], rtol=1e-4,
                               atol=1e-4)


def test_the_smooth_relative_trend_removes_bleaching_and_leaves_a_cells_own_slow_change():
    T, h, w = 300, 40, 40
    rng = np.random.default_rng(2)
    t = np.arange(T) / (T - 1)
    rows, cols = np.mgrid[0:h, 0:w]
    level = 100 + 40 * np.sin(cols / 5.0) + 30 * (np.abs(rows - 20) < 2)  # stripes and a bright band: sharp structure
    bleach = np.exp(np.log(0.5) * t)  # the whole field loses half its light
    cell = 30 * np.exp(-((rows - 12) ** 2 + (cols - 28) ** 2) / (2 * 2.0 ** 2))
    activity = 0.2 + t  # the cell's own slow rise over the session
    clean = (level[None] + cell[None] * activity[:, None, None]) * bleach[:, None, None]
    movie = (clean + rng.normal(0, 0.1, (T, h, w))).astype(np.float32)
    source = MovieSource.from_array(movie)
    own = fit_trend(source, 3, chunk_frames=100)
    smooth = fit_trend(source, 3, chunk_frames=100, smooth_px=13.0)
    centre, field = 12 + 28 * h, 35 + 5 * h  # the cell's centre; a pixel of the field far from it (Fortran order)
    y_own, y_smooth = source.with_trend(own).read(0, T), source.with_trend(smooth).read(0, T)
    # each pixel's own trend takes the cell's rise with the bleaching: its pixel is left flat
    assert np.ptp(y_own[centre]) < 1.0
    # the smooth relative trend leaves the cell's own change (its rise times the field's bleaching)
    expected = cell[12, 28] * activity * bleach
    assert np.corrcoef(y_smooth[centre], expected)[0, 1] > 0.95
    assert np.ptp(y_smooth[centre]) > 5.0
    # and still removes the bleaching of the field, across its sharp structure (a fall of 50 % of ~100 there)
    assert np.ptp(y_smooth[field]) < 2.0
    band = 20 + 5 * h  # on the bright band
    assert np.ptp(y_smooth[band]) < 2.0


def _simulated_fits(bleaching: float, seed: int):
    """Fits of a 96 x 96 x 1,000-frame simulation (8 cells of radius 5, 15 Hz, no motion) without and with the trend.

    Returns the bleaching curve, the true centres and, per ``trend_degree`` (0, 3): the traces ``(K, T)``, each
    component's footprint size (pixels) and its centroid's distance to every true centre ``(K, n_cells)``.
    """
    config = SimulationConfig(n_frames=1000, height=96, width=96, n_neurons=8, seed=seed, bleaching=bleaching,
                              neuron_radius_px=5.0, frame_rate=15.0, motion_amplitude_px=0.0,
                              nonrigid_amplitude_px=0.0, ephys=False)
    model = build_model(config)
    source = MovieSource.from_array(simulate_frames(config).astype(np.float32))
    centres = np.asarray(model.centres, float)
    fits = {}
    for degree in (0, 3):
        fit = fit_region(source, CnmfeOptions.from_params({"trend_degree": degree, "gSig": [3, 3], "gSiz": [13, 13]}),
                         frame_rate=15.0)
        A = fit.state.A
        distance = np.hypot(*(centroids(A, (96, 96))[:, None, :] - centres[None]).transpose(2, 0, 1))
        fits[degree] = (fit.state.C, np.diff(A.indptr), distance)
        assert (fit.trend is None) == (degree == 0)
    return model.bleach.astype(float), centres, fits


def _r_with(traces: np.ndarray, curve: np.ndarray) -> np.ndarray:
    return np.array([np.corrcoef(c, curve)[0, 1] if np.ptp(c) > 0 else 0.0 for c in traces])


@pytest.mark.slow
def test_a_bleaching_field_gives_no_component_that_follows_the_fall():
    curve, centres, fits = _simulated_fits(bleaching=0.7, seed=2)
    C0, size0, d0 = fits[0]
    C3, _, d3 = fits[3]
    # CNMF-E's constant b0: broad components (hundreds of pixels) whose traces are the bleaching curve
    follows = np.abs(_r_with(C0, curve)) >= 0.9
    assert follows.any() and size0[follows].max() >= 300
    # with the trend removed, no trace follows it, and every cell is still found (centroid within 3 px)
    assert np.abs(_r_with(C3, curve)).max() < 0.5
    assert (d3.min(axis=0) <= 3).all() and (d0.min(axis=0) <= 3).all()


@pytest.mark.slow
def test_without_bleaching_the_trend_changes_nothing_found():
    _, centres, fits = _simulated_fits(bleaching=0.0, seed=1)
    (C0, _, d0), (C3, _, d3) = fits[0], fits[3]
    assert (d0.min(axis=0) <= 3).all() and (d3.min(axis=0) <= 3).all()
    # each cell's trace is the same in both fits (the smooth relative trend leaves a cell's activity to it)
    same = [np.corrcoef(C0[np.argmin(d0[:, j])], C3[np.argmin(d3[:, j])])[0, 1] for j in range(len(centres))]
    assert min(same) > 0.99, same
