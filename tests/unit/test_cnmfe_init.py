"""Seeding: filter, noise, correlation and PNR images, seeds, and initial footprints."""

import cv2
import numpy as np

from ace_neuro.cnmfe.filters import center_psf_kernel, downsample_frames, filter_at, filter_frames
from ace_neuro.cnmfe.init import CorrelationAccumulator, correlation_pnr_images, extract_components, find_seeds
from ace_neuro.cnmfe.noise import WelchNoise, trace_noise


def _gauss(dims, centre, sigma):
    yy, xx = np.mgrid[: dims[0], : dims[1]]
    return np.exp(-((yy - centre[0]) ** 2 + (xx - centre[1]) ** 2) / (2 * sigma**2))


def _spiky_trace(rng, T, rate=0.03, g=0.9):
    s = (rng.random(T) < rate) * rng.uniform(1, 2, T)
    c = np.zeros(T)
    for t in range(T):
        c[t] = (g * c[t - 1] if t else 0) + s[t]
    return c


def test_center_psf_kernel_is_zero_mean_hat():
    k = center_psf_kernel([3, 3], [13, 13])
    assert k.shape == (13, 13)
    assert abs(k.sum()) < 1e-5
    assert k[6, 6] == k.max() > 0
    assert k.min() < 0
    np.testing.assert_allclose(k, k.T, atol=1e-7)
    assert np.all(k[0, 0] == 0)  # outside the elliptical support
    g = center_psf_kernel([3, 3], [12, 12], center=False)
    assert g.shape == (13, 13) and abs(g.sum() - 1) < 1e-5


def test_filter_removes_smooth_background():
    yy, xx = np.mgrid[:40, :40]
    smooth = (100 + 0.5 * yy + 0.3 * xx).astype(np.float32)[None]
    out = filter_frames(smooth, center_psf_kernel([3, 3], [13, 13]))
    assert np.abs(out[0, 8:-8, 8:-8]).max() < 1e-3


def test_downsample_frames_block_means():
    x = np.arange(5 * 5 * 3, dtype=np.float32).reshape(3, 5, 5)
    y = downsample_frames(x, 2, 2)
    assert y.shape == (2, 3, 3)
    np.testing.assert_allclose(y[0, 0, 0], x[:2, :2, :2].mean())
    np.testing.assert_allclose(y[1, 2, 2], x[2, 4, 4])
    np.testing.assert_allclose(y[0, 2, 1], x[:2, 4, 2:4].mean())


def test_noise_estimates_match_white_noise_level():
    rng = np.random.default_rng(1)
    sd = np.array([0.5, 2.0, 7.0])
    x = rng.normal(size=(3000, 3)) * sd + np.linspace(0, 50, 3000)[:, None]  # a slow drift must not count
    welch = WelchNoise(3, 256)
    for start in range(0, 3000, 700):
        welch.update(x[start:start + 700].T)  # (pixels, frames)
    np.testing.assert_allclose(welch.result(), sd, rtol=0.06)
    np.testing.assert_allclose(trace_noise(x.T), sd, rtol=0.06)


def test_welch_noise_sums_the_plain_periodograms_bit_for_bit():
    """The in-place centring, windowing and squaring give the plain formula's sums, bit for bit."""
    import scipy.fft

    x = np.random.default_rng(8).normal(5, 2, size=(300, 700)).astype(np.float32)  # (pixels, frames)
    welch = WelchNoise(300, 128, (0.25, 0.5))
    for start in range(0, 700, 90):
        welch.update(x[:, start:start + 90], block=128)
    expected = np.zeros_like(welch.acc)
    for p0 in range(0, 300, 128):
        for i in range(5):
            part = x[p0:p0 + 128, i * 128:(i + 1) * 128]
            spec = scipy.fft.rfft((part - part.mean(axis=1, keepdims=True)) * welch.window, axis=1)[:, welch.band]
            expected[p0:p0 + 128] += (spec.real.astype(np.float64) ** 2 + spec.imag.astype(np.float64) ** 2) * welch.scale
    assert welch.count == 5
    np.testing.assert_array_equal(welch.acc, expected)


def test_welch_noise_does_not_depend_on_how_the_frames_arrive():
    rng = np.random.default_rng(3)
    frames = rng.normal(size=(1000, 5, 7)).astype(np.float32)  # (T, h, w)
    pixels = frames.reshape(1000, -1).T  # (35, 1000), a transposed view
    whole = WelchNoise(35, 64)
    whole.update(pixels[:, :960])  # all at once
    for sizes, block in (([44] * 23, 8), ([64] * 15, 4096), ([7, 200, 1, 300, 452], 3)):
        chunked = WelchNoise(35, 64)
        start = 0
        for size in sizes:  # segments spanning chunks, chunks holding several segments, a tail left over
            chunked.update(pixels[:, start:start + size], block=block)
            start += size
        assert chunked.count == 15
        if block == 4096:  # the same pixel blocks as ``whole``: the same FFTs, bit for bit
            np.testing.assert_array_equal(chunked.result(), whole.result())
        else:  # the FFT's vectorised batches differ with the block size, by an ulp at most
            np.testing.assert_allclose(chunked.result(), whole.result(), rtol=1e-6)
        np.testing.assert_array_equal(chunked.leftover(), pixels[:, 960:start])


def test_local_correlation_matches_direct_computation():
    rng = np.random.default_rng(0)
    T, h, w = 60, 6, 7
    common = rng.normal(size=(T, 1, 1))
    movie = (rng.normal(size=(T, h, w)) + common * rng.uniform(0, 2, (1, h, w))).astype(np.float32)
    acc = CorrelationAccumulator((h, w))
    acc.update(movie[:25])
    acc.update(movie[25:])
    cn = acc.result()
    direct = np.zeros((h, w))
    for r in range(h):
        for c in range(w):
            vals = []
            for dr in (-1, 0, 1):
                for dc in (-1, 0, 1):
                    rr, cc = r + dr, c + dc
                    if (dr or dc) and 0 <= rr < h and 0 <= cc < w:
                        vals.append(np.corrcoef(movie[:, r, c], movie[:, rr, cc])[0, 1])
            direct[r, c] = np.mean(vals)
    np.testing.assert_allclose(cn, direct, atol=1e-5)


def test_correlation_of_exceedances_equals_the_dense_thresholded_one():
    # seeding's correlation image visits only values >= 3 (and <= -3 for the null): the same image as the dense
    # sums of the thresholded movie, to float tolerance (float64 sums in another order)
    rng = np.random.default_rng(1)
    T, h, w = 90, 9, 11
    common = rng.normal(size=(T, 1, 1)) * 2.5
    z = (rng.normal(size=(T, h, w)) * 1.5 + common * rng.uniform(0, 1, (1, h, w))).astype(np.float32)
    for sign in (1, -1):
        dense, sparse = CorrelationAccumulator((h, w)), CorrelationAccumulator((h, w))
        for chunk in (z[:40], z[40:]):
            flipped = sign * chunk
            dense.update(np.where(flipped >= 3.0, flipped, 0.0).astype(np.float32))
            sparse.update_exceeding(chunk, 3.0, sign=sign)
        assert dense.n == sparse.n == T
        np.testing.assert_allclose(sparse.s1, dense.s1, rtol=1e-12)
        np.testing.assert_allclose(sparse.s2, dense.s2, rtol=1e-12)
        for offset in dense.cross:
            np.testing.assert_allclose(sparse.cross[offset], dense.cross[offset], rtol=1e-12, atol=1e-12)
        cn = dense.result()
        assert np.count_nonzero(cn) > h * w // 4  # enough exceedances for a real comparison
        np.testing.assert_allclose(sparse.result(), cn, rtol=1e-6, atol=1e-7)


def _one_neuron_movie(T=600, dims=(40, 40), centre=(20, 18), seed=0):
    rng = np.random.default_rng(seed)
    trace = _spiky_trace(rng, T)
    fp = _gauss(dims, centre, 2.0)
    yy, xx = np.mgrid[: dims[0], : dims[1]]
    bg_space = 1 + 0.5 * np.sin(yy / 15.0) * np.cos(xx / 13.0)
    bg_time = 1 + 0.2 * np.sin(np.arange(T) / 40.0)
    movie = 50 * bg_time[:, None, None] * bg_space[None] + 20 * trace[:, None, None] * fp[None]
    movie = movie + rng.normal(scale=1.0, size=movie.shape)
    return movie.astype(np.float32), trace, fp


def test_pnr_and_correlation_peak_on_the_neuron():
    movie, _, _ = _one_neuron_movie()
    chunks = lambda: (movie[s:s + 128] for s in range(0, len(movie), 128))  # noqa: E731
    img = correlation_pnr_images(chunks, movie.shape[1:], [2, 2], [9, 9], True, n_frames=len(movie))
    kernel = center_psf_kernel([2, 2], [9, 9])
    filt = filter_frames(movie, kernel)
    np.testing.assert_allclose(img.mean, filt.mean(axis=0), rtol=1e-4, atol=1e-3)
    expected_pnr = (filt.max(axis=0) - filt.mean(axis=0)) / img.noise
    np.testing.assert_allclose(img.pnr, expected_pnr, rtol=1e-4, atol=1e-3)
    r, c = np.unravel_index(np.argmax(img.cn * img.pnr), img.cn.shape)
    assert abs(r - 20) <= 1 and abs(c - 18) <= 1
    assert img.pnr[20, 18] > 10 and img.cn[20, 18] > 0.8
    far = img.pnr.copy()
    far[10:31, 8:29] = 0
    assert far.max() < 8  # pure noise: peak-to-noise of a few


def test_find_seeds_thresholds_order_border_and_exclusion():
    cn = np.zeros((30, 30), np.float32)
    pnr = np.zeros((30, 30), np.float32)
    for (r, c), v in {(10, 10): 20, (20, 22): 30, (1, 15): 50, (25, 5): 5}.items():
        cn += 0.95 * _gauss((30, 30), (r, c), 1.5)
        pnr += v * _gauss((30, 30), (r, c), 1.5)
    seeds = find_seeds(cn, pnr, 0.8, 10, [3, 3], border=2)
    assert seeds.tolist() == [[20, 22], [10, 10]]  # (1, 15) in the border, (25, 5) below min_pnr
    assert find_seeds(cn, pnr, 0.8, 10, [3, 3], border=0, max_seeds=1).tolist() == [[1, 15]]
    excl = np.zeros((30, 30), bool)
    excl[19:22, 21:24] = True
    assert find_seeds(cn, pnr, 0.8, 10, [3, 3], border=2, exclude=excl).tolist() == [[10, 10]]
    assert len(find_seeds(cn, pnr, 0.99, 10, [3, 3])) == 0


def test_extract_components_recovers_footprint_and_trace_under_background():
    movie, trace, fp = _one_neuron_movie(seed=3)
    chunks = lambda: (movie[s:s + 100] for s in range(0, len(movie), 100))  # noqa: E731
    img = correlation_pnr_images(chunks, movie.shape[1:], [2, 2], [9, 9], True, n_frames=len(movie))
    comps = extract_components(chunks, movie.shape[1:], np.array([[20, 18]]), [2, 2], [9, 9], True, len(movie), img.mean)
    assert len(comps.footprints) == 1
    idx, val = comps.footprints[0]
    est = np.zeros(40 * 40)
    est[idx] = val
    est = est.reshape((40, 40), order="F")
    win = (slice(16, 25), slice(14, 23))
    assert np.corrcoef(est[win].ravel(), fp[win].ravel())[0, 1] > 0.95
    assert np.corrcoef(comps.traces[0], trace)[0, 1] > 0.9
    assert comps.traces.min() >= 0


def test_filter_at_pixels_matches_filtering_whole_frames_including_borders():
    rng = np.random.default_rng(3)
    frames = (rng.normal(size=(12, 31, 26)) + 5).astype(np.float32)
    pixels = np.array([[0, 0], [30, 25], [2, 13], [15, 1], [30, 0], [15, 12]])
    for kernel in (center_psf_kernel([3, 3], [13, 13]), center_psf_kernel([2, 3], [9, 13], center=False)):
        expected = filter_frames(frames, kernel)[:, pixels[:, 0], pixels[:, 1]]
        np.testing.assert_allclose(filter_at(frames, kernel, pixels), expected, rtol=1e-5, atol=1e-5)
    assert filter_at(frames, kernel, np.zeros((0, 2), int)).shape == (12, 0)
