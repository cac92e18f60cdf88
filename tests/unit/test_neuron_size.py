"""The neuron size measured on the movie (ace_neuro.cnmfe.size): gSig 'auto'."""

from __future__ import annotations

import numpy as np
import pytest

from ace_neuro.cnmfe.params import CnmfeOptions
from ace_neuro.cnmfe.reader import MovieSource
from ace_neuro.cnmfe.size import estimate_neuron_size, gsiz_for, peak_image, resolve_neuron_size


def _blob_movie(sd: float, T: int = 300, size: int = 128, n_cells: int = 12, noise: float = 1.0, seed: int = 0):
    """Noise + cells (Gaussian, standard deviation ``sd`` px) with positive transients."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    movie = rng.normal(20.0, noise, (T, size, size)).astype(np.float32)
    grid = np.linspace(4 * sd, size - 4 * sd, int(np.ceil(np.sqrt(n_cells))))
    centres = [(r, c) for r in grid for c in grid][:n_cells]
    for cy, cx in centres:
        shape = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sd ** 2)).astype(np.float32)
        spikes = (rng.random(T) < 0.03).astype(np.float32)
        trace = np.convolve(spikes, np.exp(-np.arange(30) / 6.0))[:T].astype(np.float32)
        movie += 6.0 * trace[:, None, None] * shape
    return movie


@pytest.mark.parametrize("sd", [2.5, 5.0])
def test_size_of_gaussian_cells(sd):
    movie = _blob_movie(sd)
    image = peak_image(lambda: (movie[i:i + 64] for i in range(0, len(movie), 64)), movie.shape[1:])
    size = estimate_neuron_size(image)
    expected = np.sqrt(2 * np.log(2)) * sd  # half-width at half maximum
    assert abs(size.median_hwhm_px - expected) <= 0.25 * expected
    assert size.gSig == round(size.median_hwhm_px) and size.n_blobs >= 6 and not size.warnings


def test_noise_only_falls_back_with_a_warning():
    movie = np.random.default_rng(1).normal(10.0, 1.0, (200, 64, 64)).astype(np.float32)
    image = peak_image(lambda: iter([movie]), movie.shape[1:])
    size = estimate_neuron_size(image)
    assert size.n_blobs == 0 and size.gSig == 3 and "no blob" in size.warnings[0]


def test_resolve_replaces_auto_and_keeps_numbers():
    movie = _blob_movie(4.0, T=200)
    source = MovieSource.from_array(movie)
    options, size = resolve_neuron_size(source, CnmfeOptions.from_params({"tsub": 2}))
    g = size.gSig
    assert options.seeding.gSig == (g, g) and options.seeding.gSiz == (gsiz_for(g),) * 2 and g in (4, 5, 6)
    options, size = resolve_neuron_size(source, CnmfeOptions.from_params({"gSig": 3}))
    assert size is None and options.seeding.gSig == (3, 3) and options.seeding.gSiz == (13, 13)
    with pytest.raises(ValueError, match="gSiz"):
        resolve_neuron_size(source, CnmfeOptions.from_params({"gSiz": 3, "tsub": 2}))


def test_peak_image_keeps_no_chunk_alive():
    """The frames sampled for the median are copies: memory stays flat in the recording's length."""
    import weakref

    rng = np.random.default_rng(3)
    alive = []

    def chunks():
        for _ in range(40):
            chunk = rng.normal(size=(12, 8, 9)).astype(np.float32)
            alive.append(weakref.ref(chunk))
            yield chunk
            assert sum(r() is not None for r in alive) <= 3  # this chunk, the previous one (the running mean's tail)

    image = peak_image(chunks, (8, 9))
    assert image.shape == (8, 9) and np.isfinite(image).all()


def test_peak_image_is_its_definition():
    """Largest 5-frame running mean minus the median of the sampled frames, whatever the chunking."""
    rng = np.random.default_rng(4)
    movie = rng.normal(10.0, 2.0, (90, 6, 7)).astype(np.float32)
    csum = np.cumsum(movie, axis=0, dtype=np.float64)
    run = (csum[4:] - np.concatenate([np.zeros((1, 6, 7)), csum[:-5]])) / 5
    for size in (30, 90, 7, 3, 1):  # chunks shorter than the window too
        image = peak_image(lambda: (movie[i:i + size] for i in range(0, 90, size)), (6, 7))
        sampled = [movie[i + j] for i in range(0, 90, size) for j in range(0, min(size, 90 - i), max(1, min(size, 90 - i) // 4))]
        expected = run.max(axis=0).astype(np.float32) - np.median(np.stack(sampled), axis=0)
        np.testing.assert_allclose(image, expected, rtol=0, atol=1e-5)


def test_window_peaks_do_not_depend_on_the_cuts():
    """Each window is summed on its own: the peaks are the same bits whatever the chunking, and the reading threads'
    in-chunk peaks (``update(best=)``) give the same as computing them in ``update``."""
    from ace_neuro.cnmfe.size import PeakImage, window_peak

    rng = np.random.default_rng(5)
    pixels = rng.normal(100.0, 7.0, (300, 83)).astype(np.float16).astype(np.float32)
    whole = window_peak(pixels, 5)
    for size in (83, 10, 4, 1):
        streamed, given = PeakImage(300), PeakImage(300)
        for i in range(0, 83, size):
            part = pixels[:, i:i + size]
            streamed.update(part)
            given.update(part, window_peak(part, 5))
        np.testing.assert_array_equal(streamed.peak, whole)
        np.testing.assert_array_equal(given.peak, whole)
    assert window_peak(pixels[:, :4], 5) is None
