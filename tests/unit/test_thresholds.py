"""Seeding thresholds calibrated on the recording's null statistics (ace_neuro.cnmfe.thresholds)."""

from __future__ import annotations

import numpy as np
import pytest

from ace_neuro.cnmfe.init import SeedImages, correlation_pnr_images, find_seeds
from ace_neuro.cnmfe.params import check_params
from ace_neuro.cnmfe.thresholds import (
    background_pixels,
    calibrate_thresholds,
    is_auto,
    null_quantile,
    resolve_thresholds,
)
from ace_neuro.params import ParameterError


def _movie(n_cells: int, amplitude: float, T: int = 600, size: int = 64, seed: int = 0):
    """Gaussian noise + a slow global background + n_cells Gaussian cells with positive transients."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    movie = rng.normal(0.0, 1.0, (T, size, size)).astype(np.float32)
    movie += (5 * np.sin(np.arange(T) / 40.0))[:, None, None].astype(np.float32)
    centres = rng.uniform(10, size - 10, (n_cells, 2))
    for cy, cx in centres:
        shape = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * 2.0 ** 2)).astype(np.float32)
        spikes = (rng.random(T) < 0.02).astype(np.float32)
        trace = np.convolve(spikes, np.exp(-np.arange(30) / 8.0))[:T].astype(np.float32)
        movie += amplitude * trace[:, None, None] * shape
    return movie, centres


def _images(movie):
    return correlation_pnr_images(lambda: (movie[i:i + 100] for i in range(0, len(movie), 100)), movie.shape[1:],
                                  (3, 3), (13, 13), True, n_frames=len(movie), null_images=True)


def test_null_quantile_and_errors():
    assert null_quantile(np.arange(101.0), 0.01) == pytest.approx(99.0)
    assert null_quantile([1.0, np.nan, 2.0], 0.5) == pytest.approx(1.5)
    with pytest.raises(ValueError, match="false_rate"):
        null_quantile([1.0], 0.0)
    with pytest.raises(ValueError, match="finite"):
        null_quantile([np.nan], 0.1)


def test_noise_only_movie_passes_at_the_stated_rate():
    """On pure noise + background the flipped and the true statistics have one law: the rate holds."""
    movie, _ = _movie(0, 0.0, T=600, size=96)
    images = _images(movie)
    rate = 0.01
    corr, pnr, n = calibrate_thresholds(images.cn, images.pnr, images.cn_null, images.pnr_null, gSig=(3, 3),
                                        gSiz=(13, 13), false_seed_rate=rate)
    passing_each = max(np.mean(images.cn >= corr), np.mean(images.pnr >= pnr))
    assert passing_each < 3 * rate
    assert np.mean((images.cn >= corr) & (images.pnr >= pnr)) <= rate
    assert n > 0.5 * images.cn.size


def test_calibration_ignores_the_side_lobes_of_bright_cells():
    """Bright cells' negative lobes would inflate the flipped tail; the background sample leaves them out."""
    movie, centres = _movie(6, 12.0, size=96)
    images = _images(movie)
    rate = 1e-3
    naive = null_quantile(images.pnr_null, rate)
    corr, pnr, n = calibrate_thresholds(images.cn, images.pnr, images.cn_null, images.pnr_null, gSig=(3, 3),
                                        gSiz=(13, 13), false_seed_rate=rate)
    quiet, _ = _movie(0, 0.0, size=96)
    quiet_images = _images(quiet)
    reference = null_quantile(quiet_images.pnr_null, rate)
    assert pnr < naive
    assert abs(pnr - reference) < 0.25 * reference
    seeds = find_seeds(images.cn, images.pnr, corr, pnr, (3, 3))
    found = [np.min(np.hypot(*(seeds - c).T)) <= 2 for c in centres]
    assert all(found)


def test_auto_finds_dim_cells_that_fixed_thresholds_miss():
    movie, centres = _movie(5, 2.5, T=900, size=96, seed=3)
    images = _images(movie)
    fixed = find_seeds(images.cn, images.pnr, 0.8, 10.0, (3, 3))
    thr = resolve_thresholds("auto", "auto", images, gSig=(3, 3), gSiz=(13, 13))
    auto = find_seeds(images.cn, images.pnr, thr.min_corr, thr.min_pnr, (3, 3))

    def hits(seeds):
        return sum(bool(len(seeds)) and np.min(np.hypot(*(seeds - c).T)) <= 2 for c in centres)

    assert hits(auto) > hits(fixed)
    assert hits(auto) >= 4
    assert thr.auto_corr and thr.auto_pnr and thr.false_seed_rate == 1e-3 and thr.n_null_pixels > 1000
    assert set(thr.as_dict()) >= {"min_corr", "min_pnr", "false_seed_rate", "n_null_pixels"}


def test_resolve_keeps_numbers_and_mixes():
    images = SeedImages(cn=np.zeros((8, 8)), pnr=np.zeros((8, 8)), mean=np.zeros((8, 8)), noise=np.ones((8, 8)))
    thr = resolve_thresholds(0.7, 8, images, gSig=(3, 3), gSiz=(13, 13))
    assert (thr.min_corr, thr.min_pnr, thr.auto_corr, thr.auto_pnr) == (0.7, 8.0, False, False)
    with pytest.raises(ValueError, match="null images"):
        resolve_thresholds("auto", 8, images, gSig=(3, 3), gSiz=(13, 13))
    rng = np.random.default_rng(1)
    images.cn_null, images.pnr_null = rng.random((8, 8)), 3 + rng.random((8, 8))
    thr = resolve_thresholds(0.7, "AUTO", images, gSig=(3, 3), gSiz=(13, 13), false_seed_rate=0.1)
    assert thr.min_corr == 0.7 and not thr.auto_corr and thr.auto_pnr and 3 < thr.min_pnr < 4


def test_background_pixels_leave_out_cell_neighbourhoods():
    cn = np.zeros((40, 40))
    pnr = np.full((40, 40), 3.0)
    cn[20, 20], pnr[20, 20] = 0.95, 30.0
    null = background_pixels(cn, pnr, np.zeros_like(cn), np.full_like(pnr, 3.0), first_corr=0.8, first_pnr=8.0,
                             gSig=(3, 3), gSiz=(13, 13))
    assert not null[20, 20] and not null[20, 29] and null[20, 31] and null[0, 0]


def test_auto_is_the_default_and_validated():
    p = check_params({})
    assert p["min_corr"] == "auto" and p["min_pnr"] == "auto" and p["seed_false_rate"] == 1e-3
    assert check_params({"min_corr": "Auto", "min_pnr": 7})["min_corr"] == "auto"
    with pytest.raises(ParameterError, match="min_pnr"):
        check_params({"min_pnr": "high"})
    with pytest.raises(ParameterError, match="min_corr"):
        check_params({"min_corr": 1.5})
    with pytest.raises(ParameterError, match="seed_false_rate"):
        check_params({"seed_false_rate": 0})
    assert is_auto("auto") and not is_auto(0.8)
