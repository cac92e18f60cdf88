"""Each pixel's slow trend (photobleaching): the basis, its streaming fit, the source read without it, the model."""

import numpy as np
import pytest
import scipy.sparse

from ace_neuro.cnmfe.estimates import Estimates, frames_to_pixels
from ace_neuro.cnmfe.reader import MovieSource
from ace_neuro.cnmfe.trend import PixelTrend, fit_trend, legendre_basis


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
