"""Seeding thresholds calibrated on the recording's null statistics (ace_neuro.cnmfe.thresholds)."""

from __future__ import annotations

import numpy as np
import pytest

from ace_neuro.cnmfe.init import SeedImages, correlation_pnr_images, find_seeds
from ace_neuro.cnmfe.params import check_params
from ace_neuro.cnmfe.thresholds import (
    CORR_CANDIDATES,
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
    movie = rng.normal(0.0, 1.0, (T, size, size)).astype(np.float32)
    movie += (5 * np.sin(np.arange(T) / 40.0))[:, None, None].astype(np.float32)
    centres = rng.uniform(10, size - 10, (n_cells, 2))
    _add_cells(movie, centres, 2.0, amplitude, rng)
    return movie, centres


def _add_cells(movie, centres, sd: float, amplitude: float, rng) -> None:
    """Gaussian cells (standard deviation ``sd`` px) with positive transients, added to ``movie`` in place."""
    T, height, width = movie.shape
    yy, xx = np.mgrid[0:height, 0:width]
    for cy, cx in centres:
        shape = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sd ** 2)).astype(np.float32)
        spikes = (rng.random(T) < 0.02).astype(np.float32)
        trace = np.convolve(spikes, np.exp(-np.arange(30) / 8.0))[:T].astype(np.float32)
        movie += amplitude * trace[:, None, None] * shape


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
    """On pure noise + background the flipped and the true statistics have one law: the joint rate holds."""
    movie, _ = _movie(0, 0.0, T=600, size=96)
    images = _images(movie)
    rate = 0.01
    thr = calibrate_thresholds(images.cn, images.pnr, images.cn_null, images.pnr_null, gSig=(3, 3), gSiz=(13, 13),
                               false_seed_rate=rate)
    assert np.mean((images.cn >= thr.min_corr) & (images.pnr >= thr.min_pnr)) <= 2 * rate
    assert thr.n_null_pixels > 0.5 * images.cn.size
    assert thr.gumbel_scale > 0 and thr.min_pnr > thr.gumbel_loc


def test_calibration_ignores_the_side_lobes_of_bright_cells():
    """Bright cells' negative lobes (rings in the flipped movie) would inflate the null's tail; they are left out."""
    movie, centres = _movie(6, 12.0, size=96)
    images = _images(movie)
    rate = 1e-3
    naive = null_quantile(images.pnr_null, rate)
    thr = calibrate_thresholds(images.cn, images.pnr, images.cn_null, images.pnr_null, gSig=(3, 3), gSiz=(13, 13),
                               false_seed_rate=rate)
    quiet, _ = _movie(0, 0.0, size=96)
    quiet_images = _images(quiet)
    reference = calibrate_thresholds(quiet_images.cn, quiet_images.pnr, quiet_images.cn_null, quiet_images.pnr_null,
                                     gSig=(3, 3), gSiz=(13, 13), false_seed_rate=rate)
    assert thr.min_pnr < naive
    assert abs(thr.gumbel_loc - reference.gumbel_loc) < 0.1 * reference.gumbel_loc
    seeds = find_seeds(images.cn, images.pnr, thr.min_corr, thr.min_pnr, (3, 3))
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
    assert set(thr.as_dict()) >= {"min_corr", "min_pnr", "false_seed_rate", "n_null_pixels", "gumbel_loc",
                                  "gumbel_scale", "warnings"}


def test_resolve_keeps_numbers_and_mixes():
    images = SeedImages(cn=np.zeros((8, 8)), pnr=np.zeros((8, 8)), mean=np.zeros((8, 8)), noise=np.ones((8, 8)))
    thr = resolve_thresholds(0.7, 8, images, gSig=(3, 3), gSiz=(13, 13))
    assert (thr.min_corr, thr.min_pnr, thr.auto_corr, thr.auto_pnr) == (0.7, 8.0, False, False)
    with pytest.raises(ValueError, match="null images"):
        resolve_thresholds("auto", 8, images, gSig=(3, 3), gSiz=(13, 13))
    rng = np.random.default_rng(1)
    images.cn_null, images.pnr_null = rng.random((8, 8)), 3 + rng.random((8, 8))
    thr = resolve_thresholds(0.7, "AUTO", images, gSig=(3, 3), gSiz=(13, 13), false_seed_rate=0.1)
    assert thr.min_corr == 0.7 and not thr.auto_corr and thr.auto_pnr and 3 < thr.min_pnr < 5
    thr = resolve_thresholds("auto", 4.0, images, gSig=(3, 3), gSiz=(13, 13), false_seed_rate=0.1)
    assert thr.min_pnr == 4.0 and thr.auto_corr and not thr.auto_pnr
    images.pnr_null = np.full((8, 8), 3.0)  # no spread: CaImAn's demo values, said so
    thr = resolve_thresholds("auto", "auto", images, gSig=(3, 3), gSiz=(13, 13))
    assert (thr.min_corr, thr.min_pnr) == (0.8, 10.0) and any("no spread" in w for w in thr.warnings)


def test_background_pixels_leave_out_cell_neighbourhoods_and_filter_rings():
    pnr = np.full((40, 40), 3.0)
    pnr_null = np.full((40, 40), 3.0)
    pnr[20, 20] = 30.0  # a cell
    pnr_null[5, 5] = 9.0  # a ring pixel of a filter's side lobe
    null = background_pixels(pnr, pnr_null, gSig=(3, 3), gSiz=(13, 13))
    assert not null[20, 20] and not null[20, 29] and null[20, 31] and null[0, 0] and not null[5, 5]
    eligible = np.zeros((40, 40), bool)
    eligible[:10, :10] = True
    assert background_pixels(pnr, pnr_null, gSig=(3, 3), gSiz=(13, 13), eligible=eligible).sum() == 99


def test_auto_is_the_default_and_validated():
    p = check_params({})
    assert p["min_corr"] == "auto" and p["min_pnr"] == "auto" and p["seed_false_rate"] == 1e-3
    assert p["gSig"] == "auto" and p["gSiz"] == "auto"
    assert check_params({"gSig": 5})["gSig"] == [5, 5] and check_params({"gSig": "AUTO", "gSiz": 21})["gSiz"] == [21, 21]
    with pytest.raises(ParameterError, match="gSig"):
        check_params({"gSig": "large"})
    with pytest.raises(ParameterError, match="gSiz"):
        check_params({"gSig": 5, "gSiz": 3})
    assert check_params({"min_corr": "Auto", "min_pnr": 7})["min_corr"] == "auto"
    with pytest.raises(ParameterError, match="min_pnr"):
        check_params({"min_pnr": "high"})
    with pytest.raises(ParameterError, match="min_corr"):
        check_params({"min_corr": 1.5})
    with pytest.raises(ParameterError, match="seed_false_rate"):
        check_params({"seed_false_rate": 0})
    assert is_auto("auto") and not is_auto(0.8)


def _smooth_noise_movie(T: int, size: int = 96, n_cells: int = 0, amplitude: float = 0.0, seed: int = 0):
    """Noise after a median filter of 7 px, as MiniAn's preprocessing leaves a movie, plus large cells (sd 4 px)
    with positive transients."""
    import scipy.ndimage as ndi

    rng = np.random.default_rng(seed)
    noise = rng.normal(0.0, 1.0, (T, size, size)).astype(np.float32)
    movie = ndi.median_filter(noise, size=(1, 7, 7))
    centres = rng.uniform(14, size - 14, (n_cells, 2))
    _add_cells(movie, centres, 4.0, amplitude, rng)
    return movie, centres


def _images_at(movie, g):
    return correlation_pnr_images(lambda: (movie[i:i + 100] for i in range(0, len(movie), 100)), movie.shape[1:],
                                  (g, g), (4 * g + 1, 4 * g + 1), True, n_frames=len(movie), null_images=True)


@pytest.mark.slow
def test_spatially_correlated_noise_does_not_drive_min_corr_to_the_bound():
    """Median-filtered noise seen through a wide filter is as correlated as a cell: a Cn quantile of the null sits at
    1.0 (seeding off, as on MiniAn's real demo); the joint calibration seeds the cells instead."""
    movie, centres = _smooth_noise_movie(800, n_cells=4, amplitude=1.5, seed=2)
    images = _images_at(movie, 5)
    assert null_quantile(images.cn_null, 1e-3) >= 0.97  # what the former per-statistic quantile gave
    thr = resolve_thresholds("auto", "auto", images, gSig=(5, 5), gSiz=(21, 21))
    assert thr.min_corr < 0.95 and not any("highest" in w for w in thr.warnings)
    seeds = find_seeds(images.cn, images.pnr, thr.min_corr, thr.min_pnr, (5, 5))
    assert all(np.min(np.hypot(*(seeds - c).T)) <= 3 for c in centres)
    assert len(seeds) <= 2 * len(centres)


def test_short_recording_calibrates():
    """60 frames: the Gumbel law of the null is fitted on the bulk, so thresholds stay finite and the cells are found."""
    movie, centres = _movie(4, 12.0, T=60, size=80, seed=5)
    images = _images(movie)
    thr = resolve_thresholds("auto", "auto", images, gSig=(3, 3), gSiz=(13, 13))
    assert np.isfinite(thr.min_pnr) and CORR_CANDIDATES[0] <= thr.min_corr <= CORR_CANDIDATES[-1]
    seeds = find_seeds(images.cn, images.pnr, thr.min_corr, thr.min_pnr, (3, 3))
    assert sum(np.min(np.hypot(*(seeds - c).T)) <= 2 for c in centres) >= 3


@pytest.mark.slow
def test_false_seeds_do_not_grow_with_length():
    """On noise alone the pixels passing both calibrated thresholds stay at the stated rate at 500 and at 4,000
    frames (the selection of min_corr among 10 candidates may pick a lucky one: within 3x), while the Gumbel law of
    the null's peak-to-noise ratio moves up with the length as the noise's maximum does."""
    rate = 1e-3
    passing, locations = [], []
    for T in (500, 4000):
        movie, _ = _smooth_noise_movie(T, size=96, seed=7)
        images = _images_at(movie, 3)
        thr = resolve_thresholds("auto", "auto", images, gSig=(3, 3), gSiz=(13, 13), false_seed_rate=rate)
        passing.append(np.mean((images.cn >= thr.min_corr) & (images.pnr >= thr.min_pnr)))
        locations.append(thr.gumbel_loc)
    assert max(passing) <= 3 * rate
    assert locations[1] > locations[0]


def test_min_corr_at_a_bound_of_the_search_is_a_warning():
    """Noise as correlated as the cells (every correlation 0.99): the correlation cannot tell them apart, so min_corr
    ends at the lowest candidate; that bound is a warning (log, params.json, parameter aid), naming the fallback."""
    rng = np.random.default_rng(4)
    cn = np.full((64, 64), 0.99)
    pnr_null = rng.gumbel(3.0, 0.4, (64, 64))
    pnr = rng.gumbel(3.0, 0.4, (64, 64))
    pnr[30:33, 30:33] = 20.0  # one cell
    thr = calibrate_thresholds(cn, pnr, cn, pnr_null, gSig=(3, 3), gSiz=(13, 13))
    assert thr.min_corr == CORR_CANDIDATES[0]
    assert any("lowest candidate" in w and "fallback" in w for w in thr.warnings)
    assert thr.as_dict()["warnings"] == list(thr.warnings) and not thr.notes
    # an interior value is not a warning
    cn_null = rng.uniform(0.3, 0.9, (64, 64))
    cn_cells = cn_null.copy()
    cn_cells[30:33, 30:33] = 0.99
    thr = calibrate_thresholds(cn_cells, pnr, cn_null, pnr_null, gSig=(3, 3), gSiz=(13, 13), false_seed_rate=0.01)
    assert CORR_CANDIDATES[0] < thr.min_corr < CORR_CANDIDATES[-1] and not thr.warnings, thr


def test_min_corr_at_the_highest_candidate_is_a_warning():
    """The issue's 63-frame crop: calibrated to the ceiling of the correlation (seeding nearly off) with nothing in the
    log. Noise correlating up to 0.94 and cells just above it: min_corr ends at the highest candidate, a warning."""
    rng = np.random.default_rng(6)
    cn_null = rng.uniform(0.3, 0.94, (64, 64))
    pnr_null = rng.gumbel(3.0, 0.4, (64, 64))
    cn, pnr = rng.uniform(0.3, 0.94, (64, 64)), rng.gumbel(3.0, 0.4, (64, 64))
    for r, c in ((8, 8), (8, 40), (30, 24), (50, 10), (50, 50)):  # five cells, dim but more correlated than noise
        cn[r:r + 3, c:c + 3], pnr[r:r + 3, c:c + 3] = 0.97, 4.0
    thr = calibrate_thresholds(cn, pnr, cn_null, pnr_null, gSig=(3, 3), gSiz=(13, 13))
    assert thr.min_corr == CORR_CANDIDATES[-1]
    assert any("highest candidate" in w and "seeding is nearly off" in w for w in thr.warnings), thr.warnings
    assert thr.as_dict()["warnings"] == list(thr.warnings)


def test_both_thresholds_at_their_lower_bounds_and_no_pixel_passing_are_warnings():
    """Noise that never correlates (the 54,000-frame run's first seeding): both thresholds at the lower bounds of the
    search is a warning naming its fallback; a movie with nothing above the noise is one more."""
    rng = np.random.default_rng(7)
    cn_null, pnr_null = rng.uniform(0.0, 0.2, (64, 64)), rng.gumbel(3.0, 0.4, (64, 64))
    thr = calibrate_thresholds(rng.uniform(0.0, 0.2, (64, 64)), rng.gumbel(3.0, 0.4, (64, 64)), cn_null, pnr_null,
                               gSig=(3, 3), gSiz=(13, 13))
    assert thr.min_corr == CORR_CANDIDATES[0] and thr.min_pnr <= thr.gumbel_loc + 1e-9
    assert any("at the lower bounds of the search" in w and "fallback" in w for w in thr.warnings), thr.warnings
    assert any("no pixel of the movie passes" in w for w in thr.warnings), thr.warnings


def test_min_corr_at_the_lowest_candidate_that_still_filters_noise_is_a_note():
    """A clean movie: noise's correlation mostly under the lowest candidate, a cell just above it. The lowest
    candidate seeds the most pixels, and since the correlation still rejects most of the noise it is a note
    saying so, not the "cannot tell noise from cells" warning (which fired on clean simulations)."""
    rng = np.random.default_rng(5)
    cn_null = rng.uniform(0.0, 0.5, (64, 64))
    pnr_null = rng.gumbel(3.0, 0.4, (64, 64))
    cn, pnr = cn_null.copy(), rng.gumbel(3.0, 0.4, (64, 64))
    cn[30:33, 30:33], pnr[30:33, 30:33] = 0.31, 20.0  # one cell, correlated just above the lowest candidate
    thr = calibrate_thresholds(cn, pnr, cn_null, pnr_null, gSig=(3, 3), gSiz=(13, 13))
    assert thr.min_corr == CORR_CANDIDATES[0] and thr.corr_pass_fraction < 0.9
    assert not thr.warnings, thr.warnings
    assert any("lowest candidate" in n and "still filters" in n for n in thr.notes), thr.notes


def test_dim_cells_below_the_former_correlation_floor_are_seeded():
    """White noise through a narrow filter rarely correlates above 0.4, and dim cells' correlation is 0.3-0.5 there:
    the search reaches below 0.5, so they are seeded (a floor of 0.5 found 2 of 6), with false seeds in the rate's
    budget (1e-3 of the pixels) and the searched range recorded."""
    movie, centres = _movie(6, 1.6, T=1000, size=96, seed=3)
    images = _images_at(movie, 2)
    thr = resolve_thresholds("auto", "auto", images, gSig=(2, 2), gSiz=(9, 9))
    floor = resolve_thresholds(0.5, "auto", images, gSig=(2, 2), gSiz=(9, 9))

    def seeded(t):
        seeds = find_seeds(images.cn, images.pnr, t.min_corr, t.min_pnr, (2, 2))
        dist = np.hypot(*(seeds[:, None, :] - centres[None]).transpose(2, 0, 1))
        return int((dist.min(axis=0) <= 2).sum()), int((dist.min(axis=1) > 6).sum())

    (hits, far), (hits_floor, _) = seeded(thr), seeded(floor)
    assert thr.min_corr < 0.5 and not thr.warnings, thr  # clean noise: the lowest candidate is a note, not a warning
    assert (thr.min_corr == CORR_CANDIDATES[0]) == any("lowest candidate" in n for n in thr.notes), thr
    assert hits == len(centres) and hits_floor <= 3
    assert far <= 1e-3 * images.cn.size
    assert thr.as_dict()["corr_search"] == [CORR_CANDIDATES[0], CORR_CANDIDATES[-1]]
