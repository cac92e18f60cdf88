"""The wide seeding scale's images on 2x2-block-averaged frames (``cnmfe/binned_seeding.py``)."""

import numpy as np
import pytest

import ace_neuro.cnmfe.init as init
from ace_neuro.cnmfe.binned_seeding import (binned_correlation_pnr_images, binned_dims, block_average, block_kernel,
                                            upsample_image, wide_bin)
from ace_neuro.cnmfe.filters import center_psf_kernel, downsample_frames, filter_frames
from ace_neuro.cnmfe.fit import fit_region
from ace_neuro.cnmfe.params import CnmfeOptions
from ace_neuro.cnmfe.reader import MovieSource

N = 96


def _blob(centre, sigma: float, size: int = N) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size]
    return np.exp(-((yy - centre[0]) ** 2 + (xx - centre[1]) ** 2) / (2.0 * sigma ** 2)).astype(np.float32)


def test_block_kernel_of_one_pixel_blocks_is_the_seeding_kernel():
    for sig, siz in (([4.0, 4.0], [19, 19]), ([6.0, 6.0], [25, 25]), ([3.0, 5.0], [13, 19])):  # (ties on the ellipse's edge aside)
        for center in (True, False):
            np.testing.assert_allclose(block_kernel(sig, siz, 1, center), center_psf_kernel(sig, siz, center),
                                       atol=1e-7)


def test_block_kernel_shape_and_zero_sum():
    k = block_kernel([4.0, 4.0], [19, 19], 2)
    assert k.shape == (9, 9) and k.dtype == np.float32
    assert abs(float(k.sum(dtype=np.float64))) < 1e-6 * float(np.abs(k).sum())
    assert np.count_nonzero(k) < 130  # filtered directly by OpenCV, a quarter of the 19 x 19 kernel's 253 taps
    np.testing.assert_array_equal(k, k[::-1, ::-1])  # centred on the block's centre
    assert block_kernel([6.0, 6.0], [25, 25], 2).shape == (13, 13)
    assert block_kernel([6.0, 6.0], [25, 25], 3).shape == (9, 9)


@pytest.mark.parametrize("centre", [(48.0, 48.0), (47.5, 48.5), (46.3, 49.8)])
@pytest.mark.parametrize("sigma", [4.0, 4.5, 6.0])
def test_a_wide_blob_filtered_on_blocks_as_at_full_resolution(centre, sigma):
    """An out-of-focus cell (sigma >= 2 gSig) through the block kernel on 2x2-averaged frames: within 2 % of
    the full-resolution wide filter's value at each block's centre, everywhere. The session-12 kernel
    (the seeding kernel at half gSig and gSiz, its disc 4 blocks instead of 4.5) misses by more, even rescaled."""
    frame = 100.0 * _blob(centre, sigma)[None]
    full = filter_frames(frame, center_psf_kernel([4.0, 4.0], [19, 19]))[0]
    at_centres = downsample_frames(full[None], 2)[0]  # the full-resolution image between each block's 4 pixels
    blocks = downsample_frames(frame, 2)
    ours = filter_frames(blocks, block_kernel([4.0, 4.0], [19, 19], 2))[0]
    scale = float(np.abs(at_centres).max())
    assert np.abs(ours - at_centres).max() <= 0.02 * scale
    halved = filter_frames(blocks, center_psf_kernel([2.0, 2.0], [9, 9]))[0]
    halved *= at_centres.max() / halved.max()
    assert np.abs(halved - at_centres).max() > 0.02 * scale


def test_upsample_image_interpolates_between_block_centres():
    ii, jj = np.mgrid[0:3, 0:4]
    ramp = (ii + 10.0 * jj).astype(np.float32)  # a plane over the blocks: block (i, j)'s centre is pixel (2i + 0.5, 2j + 0.5)
    up = upsample_image(ramp, (5, 7), 2)
    assert up.shape == (5, 7) and up.dtype == np.float32
    pp, qq = np.mgrid[0:5, 0:7]
    plane = (pp - 0.5) / 2.0 + 10.0 * (qq - 0.5) / 2.0
    inside = (pp >= 1) & (pp <= 4) & (qq >= 1) & (qq <= 6)  # between block centres (held flat beyond them)
    np.testing.assert_allclose(up[inside], plane[inside], atol=1e-5)
    assert upsample_image(np.array([[0.0, 4.0]], np.float32), (2, 4), 2)[0].tolist() == [0.0, 1.0, 3.0, 4.0]
    assert binned_dims((5, 7), 2) == (3, 4)
    assert wide_bin([4.0, 4.0], 2) == 2 and wide_bin([2.0, 2.0], 2) == 1 and wide_bin([9.0, 9.0], 4) == 4


def _transient_movie(centre, sigma, frames=300, size=64, seed=0):
    rng = np.random.default_rng(seed)
    spikes = (rng.random(frames) < 0.03) * rng.uniform(0.5, 1.5, frames)
    c = np.zeros(frames)
    for t in range(frames):
        c[t] = (0.9 * c[t - 1] if t else 0.0) + spikes[t]
    movie = 50.0 + rng.normal(0.0, 1.0, (frames, size, size))
    movie += 4.0 * c[:, None, None] * _blob(centre, sigma, size)[None]
    return movie.astype(np.float32)


def test_binned_images_at_the_seeding_resolution_peak_where_the_full_resolution_ones_do():
    movie = _transient_movie((30.0, 37.0), 4.5)
    chunks = lambda: iter([movie[:150], movie[150:]])  # noqa: E731
    args = ((64, 64), [4.0, 4.0], [19, 19])
    images = binned_correlation_pnr_images(chunks, *args, 2, True, (0.25, 0.5), "mean", 300, cache=False,
                                           null_images=True)
    for name in ("cn", "pnr", "mean", "noise", "cn_null", "pnr_null"):
        assert getattr(images, name).shape == (64, 64) and getattr(images, name).dtype == np.float32
    full = init.correlation_pnr_images(chunks, *args, True, (0.25, 0.5), "mean", 300, cache=False, null_images=True)
    peak = np.unravel_index(np.argmax(images.cn * images.pnr), (64, 64))
    full_peak = np.unravel_index(np.argmax(full.cn * full.pnr), (64, 64))
    assert max(abs(int(a) - int(b)) for a, b in zip(peak, full_peak)) <= 1
    assert images.pnr[peak] == pytest.approx(full.pnr[full_peak], rel=0.1)
    assert np.median(images.pnr_null) == pytest.approx(np.median(full.pnr_null), rel=0.1)
    # one-pixel blocks: the full-resolution images themselves
    one = binned_correlation_pnr_images(chunks, *args, 1, True, (0.25, 0.5), "mean", 300, cache=False)
    np.testing.assert_array_equal(one.pnr, full.pnr)


def test_the_fits_wide_scale_filters_half_resolution_frames(monkeypatch):
    """The default fit filters the wide scale's frames at half resolution with a 9 x 9 block kernel (main: the
    full frames with the 19 x 19 kernel); ``wide_seeding_ssub: 1`` keeps the full resolution."""
    calls = []
    original = init.filter_frames

    def spy(frames, kernel, threads=1):
        calls.append((tuple(np.shape(frames)[1:]), tuple(np.shape(kernel))))
        return original(frames, kernel, threads)

    monkeypatch.setattr(init, "filter_frames", spy)
    movie = _transient_movie((30.0, 37.0), 4.5, frames=200)
    for params, wide_call in (({}, ((32, 32), (9, 9))), ({"wide_seeding_ssub": 1}, ((64, 64), (19, 19)))):
        calls.clear()
        options = CnmfeOptions.from_params({"gSig": 2, "gSiz": 9, "n_refine_iter": 0, "residual_seeding": False,
                                            **params})
        fit_region(MovieSource.from_array(movie), options, frame_rate=20.0)
        assert wide_call in calls
        if not params:  # no full-resolution 19 x 19 filter of whole frames left
            assert ((64, 64), (19, 19)) not in calls


@pytest.mark.parametrize("shape", [(3, 8, 8), (3, 9, 8), (2, 7, 13), (2, 1, 5)])
@pytest.mark.parametrize("b", [2, 3])
def test_block_average_is_downsample_frames(shape, b):
    frames = np.random.default_rng(1).uniform(0.0, 100.0, shape).astype(np.float32)
    out = block_average(frames, b)
    assert out.shape == (shape[0],) + binned_dims(shape[1:], b) and out.dtype == np.float32
    np.testing.assert_allclose(out, downsample_frames(frames, b), rtol=1e-6, atol=1e-4)
