"""Both seeding scales in the same two reads of the movie (session 12): the same images as one scale at a time."""

import numpy as np

from ace_neuro.cnmfe.init import SeedingScale, correlation_pnr_images, correlation_pnr_scales
from ace_neuro.cnmfe.wide_seeding import wide_geometry

DIMS, FRAMES = (37, 42), 300


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
    w_sig, w_siz = wide_geometry([2.0, 2.0], [9, 9], 2.0)
    reads = []

    def counted():
        reads.append(1)
        return _chunks(movie)()

    first, wide = correlation_pnr_scales(counted, [SeedingScale(DIMS, [2.0, 2.0], [9, 9], False),
                                                   SeedingScale(DIMS, w_sig, w_siz, True)],
                                         n_frames=FRAMES, threads=2)
    assert len(reads) == 2  # the movie read twice for both scales
    _same(first, correlation_pnr_images(_chunks(movie), DIMS, [2.0, 2.0], [9, 9], n_frames=FRAMES, threads=2,
                                        cache=False, null_images=False))
    _same(wide, correlation_pnr_images(_chunks(movie), DIMS, w_sig, w_siz, n_frames=FRAMES, threads=2,
                                       cache=False, null_images=True))
    assert first.cn_null is None and wide.cn_null is not None
    # the broad blob stands out more at the wide scale than through the soma-sized filter
    assert wide.pnr[26, 30] > first.pnr[26, 30]


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
