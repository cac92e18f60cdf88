"""Both seeding scales in the same two reads of the movie (session 12): the same images as one scale at a time."""

import numpy as np

from ace_neuro.cnmfe.filters import downsample_frames
from ace_neuro.cnmfe.init import SeedingScale, correlation_pnr_images, correlation_pnr_scales
from ace_neuro.cnmfe.wide_seeding import (blocks_touched, downsampled_geometry, seeds_at_full_resolution,
                                          wide_downsampling, wide_geometry)

DIMS, FRAMES = (37, 42), 300  # odd height: the block average has a partial last row of blocks


def _movie() -> np.ndarray:
    """White noise with two transient blobs (one narrow, one broad), float32 ``(FRAMES, h, w)``."""
    rng = np.random.default_rng(1)
    movie = rng.normal(0.0, 1.0, (FRAMES,) + DIMS).astype(np.float32)
    yy, xx = np.mgrid[0:DIMS[0], 0:DIMS[1]]
    for (r, c), sigma in (((10, 12), 2.0), ((26, 30), 4.5)):
        blob = np.exp(-((yy - r) ** 2 + (xx - c) ** 2) / (2 * sigma ** 2)).astype(np.float32)
        events = (rng.random(FRAMES) < 0.03).astype(np.float32) * 6.0
        movie += events[:, None, None] * blob[None]
    return movie


def _chunks(movie: np.ndarray, size: int = 64):
    return lambda: (movie[t:t + size].copy() for t in range(0, len(movie), size))


def _same(a, b) -> None:
    for name in ("cn", "pnr", "mean", "noise", "cn_null", "pnr_null"):
        x, y = getattr(a, name), getattr(b, name)
        assert (x is None) == (y is None), name
        if x is not None:
            np.testing.assert_array_equal(x, y, err_msg=name)


def test_two_scales_in_one_read_are_the_same_bits_as_one_scale_at_a_time():
    movie = _movie()
    block = wide_downsampling(2.0)
    low_sig, low_siz = downsampled_geometry([2.0, 2.0], [9, 9], 2.0, block)
    low_dims = (-(-DIMS[0] // block), -(-DIMS[1] // block))

    def prepare(frames):
        return downsample_frames(frames, block, 1)

    reads = []

    def counted():
        reads.append(1)
        return _chunks(movie)()

    first, wide = correlation_pnr_scales(counted, [SeedingScale(DIMS, [2.0, 2.0], [9, 9], True),
                                                   SeedingScale(low_dims, low_sig, low_siz, True, prepare)],
                                         n_frames=FRAMES, threads=2)
    assert len(reads) == 2  # the movie read twice for both scales
    _same(first, correlation_pnr_images(_chunks(movie), DIMS, [2.0, 2.0], [9, 9], n_frames=FRAMES, threads=2,
                                        cache=False, null_images=True))
    low = downsample_frames(movie, block, 1)
    _same(wide, correlation_pnr_images(_chunks(low), low_dims, low_sig, low_siz, n_frames=FRAMES, threads=2,
                                       cache=False, null_images=True))
    assert wide.pnr.shape == low_dims
    # the broad blob stands out more at the wide scale than through the soma-sized filter
    assert wide.pnr[26 // block, 30 // block] > first.pnr[26, 30]


def test_the_wide_scale_images_are_block_averaged_with_the_filter_scaled_to_match():
    assert wide_downsampling(2.0) == 2 and wide_downsampling(1.5) == 1
    # twice gSig on 2x2 blocks is the first scale's filter
    assert downsampled_geometry([2.0, 2.0], [9, 9], 2.0, 2) == ([2.0, 2.0], [9, 9])
    assert wide_geometry([2.0, 2.0], [9, 9], 2.0) == ([4.0, 4.0], [19, 19])
    seeds = seeds_at_full_resolution(np.array([[0, 0], [18, 20]]), 2, DIMS)
    assert seeds.tolist() == [[1, 1], [36, 41]]  # the last, partial block's centre clipped into the frame
    mask = np.zeros(DIMS, bool)
    mask[36, 41] = True
    touched = blocks_touched(mask, 2)
    assert touched.shape == (19, 21) and np.flatnonzero(touched).tolist() == [19 * 21 - 1]


def test_a_fit_with_the_seeding_cache_equals_one_reading_the_movie_again(tmp_path, monkeypatch):
    """``seeding_cache`` on: each scale's images one at a time from the replayed chunks; off: both in the same reads."""
    import ace_neuro.cnmfe.fit as fit
    from ace_neuro.cnmfe.params import CnmfeOptions
    from ace_neuro.cnmfe.pipeline import fit_cnmfe
    from ace_neuro.io.movie import caiman_memmap_name, create_caiman_memmap

    rng = np.random.default_rng(0)
    size, frames = 48, 400
    yy, xx = np.mgrid[0:size, 0:size]
    movie = 50.0 + rng.normal(0.0, 1.0, (frames, size, size))
    for (r, c), sigma, flux in (((14, 14), 2.0, 40.0), ((33, 31), 4.5, 60.0)):
        spikes = (rng.random(frames) < 0.02) * rng.uniform(0.6, 1.4, frames)
        calcium = np.zeros(frames)
        for t in range(frames):
            calcium[t] = (0.9 * calcium[t - 1] if t else 0.0) + spikes[t]
        movie += calcium[:, None, None] * (flux * np.exp(-((yy - r) ** 2 + (xx - c) ** 2) / (2 * sigma ** 2)))[None]
    path = tmp_path / caiman_memmap_name("corrected", size, size, frames)
    view = create_caiman_memmap(path, size, size, frames)
    view[:] = movie.astype(np.float32)
    del view
    shared_reads = []
    both_scales = fit.correlation_pnr_scales

    def counted(*args, **kwargs):
        shared_reads.append(1)
        return both_scales(*args, **kwargs)

    monkeypatch.setattr(fit, "correlation_pnr_scales", counted)
    fits = []
    for cache in (False, True):
        shared_reads.clear()
        fits.append(fit_cnmfe(path, CnmfeOptions.from_params({"gSig": 2, "gSiz": 9, "seeding_cache": cache}), threads=1,
                              frame_rate=20.0, scratch_dir=tmp_path / str(cache)))
        assert len(shared_reads) == (0 if cache else 1)  # the first pass's two scales read together without the cache
    assert fits[0].A.shape[1] >= 1
    assert fits[0].params["seeding_thresholds_wide"] == fits[1].params["seeding_thresholds_wide"]
    np.testing.assert_array_equal(fits[0].A.toarray(), fits[1].A.toarray())
    np.testing.assert_array_equal(fits[0].C, fits[1].C)
