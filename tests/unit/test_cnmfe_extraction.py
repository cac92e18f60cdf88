"""The seeding's extraction pass forms the movie on the pixels it reads only: the same values there, fewer passes."""

import logging

import numpy as np
import scipy.sparse

from ace_neuro.cnmfe.fit import (_full_resolution_rows, fit_region, movie_extraction_frames, movie_passes,
                                 residual_extraction_frames)
from ace_neuro.cnmfe.init import extraction_pixels
from ace_neuro.cnmfe.params import CnmfeOptions
from ace_neuro.cnmfe.passes import ModelState
from ace_neuro.cnmfe.reader import MovieSource


def _passes(movie, **params):
    options = CnmfeOptions.from_params({"gSig": 2, "gSiz": 9, "cnmfe_chunk_mb": 0.05, **params})
    return movie_passes(MovieSource.from_array(movie), options), options


def _compare_on_pixels(full_chunks, restricted_chunks, mask):
    n = 0
    for full, part in zip(full_chunks(), restricted_chunks(), strict=True):
        assert full.shape == part.shape
        np.testing.assert_array_equal(part[:, mask], full[:, mask])  # bit for bit where extraction reads
        assert not part[:, ~mask].any()
        n += 1
    assert n > 1  # several chunks compared


def _seeds_and_mask(init_dims):
    seeds = np.array([[0, 3], [7, 9], [init_dims[0] - 2, init_dims[1] - 1]])
    return seeds, extraction_pixels(init_dims, seeds, (9, 9))


def test_extraction_pixels_cover_boxes_and_filter_windows():
    mask = extraction_pixels((20, 30), np.array([[10, 15], [0, 0]]), (5, 7))
    assert mask[8:13, 12:19].all() and mask[0:3, 0:4].all()
    assert mask.sum() == 5 * 7 + 3 * 4  # a box, and a box cut by the corner (its reflected window inside it)
    assert not extraction_pixels((20, 30), np.zeros((0, 2), int), (5, 7)).any()


def test_movie_extraction_chunks_equal_the_seeding_chunks_on_the_pixels_read():
    rng = np.random.default_rng(0)
    movie = rng.normal(10.0, 3.0, (97, 23, 19)).astype(np.float32)
    for tsub, ssub in ((2, 1), (1, 1), (3, 2)):
        passes, _ = _passes(movie, tsub=tsub, ssub=ssub)
        init_dims = (-(-23 // ssub), -(-19 // ssub))
        seeds, mask = _seeds_and_mask(init_dims)
        rows = _full_resolution_rows(mask, passes.dims, ssub)
        _compare_on_pixels(passes.init_frames(None), movie_extraction_frames(passes)(rows), mask)


def test_residual_extraction_chunks_equal_the_residual_chunks_on_the_pixels_read():
    rng = np.random.default_rng(1)
    T, h, w = 97, 23, 19
    movie = rng.normal(10.0, 3.0, (T, h, w)).astype(np.float32)
    A = scipy.sparse.random(h * w, 4, density=0.05, format="csc", dtype=np.float32, random_state=2)
    C = rng.uniform(0, 2, (4, T)).astype(np.float32)
    b0 = rng.normal(10.0, 1.0, h * w).astype(np.float32)
    for tsub, with_ring in ((2, True), (1, True), (2, False)):
        passes, _ = _passes(movie, tsub=tsub)
        P_B = passes.down.low_dims[0] * passes.down.low_dims[1]
        W = scipy.sparse.random(P_B, P_B, density=0.1, format="csr", dtype=np.float32, random_state=3) * 0.1
        state = ModelState(A, C, b0, W if with_ring else None)
        seeds, mask = _seeds_and_mask((h, w))
        rows = _full_resolution_rows(mask, passes.dims, 1)
        _compare_on_pixels(passes.residual_frames(state), residual_extraction_frames(passes, state)(rows), mask)


def test_no_extraction_pass_without_seeds(caplog):
    """Passes counted from the progress lines: nothing seeded (thresholds out of reach) reads the movie twice per
    seeding scale (statistics, correlation image; the first pass has two scales, ``wide_seeding``), with no
    extraction pass."""
    movie = np.random.default_rng(2).normal(50.0, 2.0, (60, 16, 16)).astype(np.float32)
    options = CnmfeOptions.from_params({"gSig": 2, "gSiz": 9, "min_corr": 0.99, "min_pnr": 1000.0})
    with caplog.at_level(logging.INFO, logger="ace_neuro.cnmfe.passes"):
        fit = fit_region(MovieSource.from_array(movie), options, frame_rate=20.0)
    assert fit.state.A.shape[1] == 0
    done = [r.getMessage().split(":")[0] for r in caplog.records if "(100%)" in r.getMessage()]
    assert done.count("cnmfe seeding") == 4
    assert done.count("cnmfe residual seeding") == 2
