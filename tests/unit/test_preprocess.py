"""Projections, crop, detrend and dF/F against independent computations."""

import numpy as np
import pytest

from ace_neuro.preprocess import (
    PreprocessOptions,
    compute_projections,
    crop_slices,
    df_over_f,
    parse_crop_coords,
    preprocessed_chunks,
)


def _run(movie, frame_rate=10.0, **params):
    defaults = dict(crop=False, crop_coords=None, detrend_method=None, df_over_f=False,
                    df_over_f_method="delta_f_over_f", secs_window=5.0, quantile_min=8.0)
    defaults.update(params)
    parts = list(preprocessed_chunks(movie, frame_rate, PreprocessOptions(**defaults)))
    assert [s.start for s, _ in parts] == sorted(s.start for s, _ in parts)
    return np.concatenate([chunk for _, chunk in parts])


@pytest.fixture
def movie():
    rng = np.random.default_rng(3)
    return rng.integers(10, 250, size=(57, 9, 11)).astype(np.uint8)


def test_projections_match_numpy_in_any_chunking(movie):
    for chunk in (1, 7, 57):
        p = compute_projections(movie, median_max_frames=1000, chunk_frames=chunk)
        np.testing.assert_array_equal(p.max, movie.max(0))
        np.testing.assert_array_equal(p.min, movie.min(0))
        np.testing.assert_allclose(p.mean, movie.mean(0), rtol=1e-6)
        np.testing.assert_allclose(p.std, movie.std(0), rtol=1e-5)
        np.testing.assert_array_equal(p.median, np.median(movie, 0))
        np.testing.assert_array_equal(p.range, movie.max(0).astype(float) - movie.min(0))
        np.testing.assert_allclose(p.mean_fluorescence, movie.mean(axis=(1, 2)))


def test_median_uses_an_even_subsample(movie):
    p = compute_projections(movie, median_max_frames=5)
    np.testing.assert_array_equal(p.median_frames, [0, 14, 28, 42, 56])
    np.testing.assert_array_equal(p.median, np.median(movie[[0, 14, 28, 42, 56]], 0))


def test_std_is_precise_on_a_bright_movie():
    # A large offset with a tiny variance is where a naive sum of squares fails.
    movie = 60000 + np.random.default_rng(0).integers(0, 3, size=(200, 4, 4)).astype(np.uint16)
    np.testing.assert_allclose(compute_projections(movie).std, movie.std(0), rtol=1e-4)


def test_crop_uses_the_seed_convention():
    # y is counted from the bottom: rows H - y1 .. H - y0.
    rows, cols = crop_slices({"x0": 1, "y0": 2, "x1": 4, "y1": 5}, (10, 8))
    assert (rows, cols) == (slice(5, 8), slice(1, 4))
    assert crop_slices({"x0": 4, "y0": 5, "x1": 1, "y1": 2}, (10, 8)) == (rows, cols)
    movie = np.arange(3 * 10 * 8, dtype=np.uint8).reshape(3, 10, 8)
    out = _run(movie, crop=True, crop_coords="1,2,4,5")
    np.testing.assert_array_equal(out, movie[:, 5:8, 1:4])
    assert out.dtype == np.uint8


@pytest.mark.parametrize("text", ["1,2,4,5", "(1, 2, 4, 5)", "[1,2,4,5]", "{'x0': 1, 'y0': 2, 'x1': 4, 'y1': 5}",
                                  '{"x0": 1, "y0": 2, "x1": 4, "y1": 5}'])
def test_crop_coords_formats(text):
    assert parse_crop_coords(text) == {"x0": 1, "y0": 2, "x1": 4, "y1": 5}


def test_crop_box_outside_frame_is_an_error():
    with pytest.raises(ValueError, match=r"reaches outside the 8x10 \(width x height\) frame"):
        crop_slices({"x0": 0, "y0": 0, "x1": 9, "y1": 5}, (10, 8))
    with pytest.raises(ValueError, match="is empty"):
        crop_slices({"x0": 3, "y0": 0, "x1": 3, "y1": 5}, (10, 8))
    with pytest.raises(ValueError, match="expected four integers"):
        parse_crop_coords("1,2,3")


def test_linear_detrend_removes_a_known_ramp_and_keeps_the_mean():
    t = np.arange(80, dtype=np.float64)
    rng = np.random.default_rng(1)
    level = rng.uniform(50, 100, size=(5, 6))
    slope = rng.uniform(-0.3, 0.3, size=(5, 6))
    signal = rng.normal(0, 1, size=(80, 5, 6))
    movie = (level + slope * (t[:, None, None] - t.mean()) + signal).astype(np.float32)
    out = _run(movie, detrend_method="linear")
    # Independent reference: per-pixel polyfit.
    fit = np.polynomial.polynomial.polyfit(t, movie.reshape(80, -1).astype(np.float64), 1)
    expected = movie - (fit[1][None] * (t - t.mean())[:, None]).reshape(80, 5, 6)
    np.testing.assert_allclose(out, expected, atol=1e-3)
    np.testing.assert_allclose(out.mean(0), movie.mean(0), atol=1e-3)


def test_median_detrend_removes_the_frame_mean_trend():
    movie = np.ones((20, 3, 3), np.float32) * 50 + np.arange(20, dtype=np.float32)[:, None, None]
    movie[:, 0, 0] += 7
    out = _run(movie, detrend_method="median")
    means = movie.mean(axis=(1, 2))
    np.testing.assert_allclose(out, movie - (means - np.median(means))[:, None, None], atol=1e-5)
    np.testing.assert_allclose(out.mean(axis=(1, 2)), np.median(means), atol=1e-4)


def test_df_over_f_formula():
    frames = np.array([[[12.0, 4.0]]])
    baseline = np.array([[10.0, 4.0]])
    np.testing.assert_allclose(df_over_f(frames, baseline), [[[0.2, 0.0]]])
    np.testing.assert_allclose(df_over_f(frames, baseline, "delta_f_over_sqrt_f"), [[[2 / np.sqrt(10), 0.0]]])
    with pytest.raises(ValueError, match="df_over_f_method 'bogus'"):
        df_over_f(frames, baseline, "bogus")


def test_df_over_f_recovers_transients_over_a_known_baseline():
    # A pixel with a constant baseline F0 and sparse transients: dF/F is the transient / F0.
    fr, n = 10.0, 300
    f0 = np.array([[40.0, 100.0]])
    transient = np.zeros(n)
    transient[[50, 51, 52, 160, 161, 250]] = [20, 12, 6, 30, 15, 25]
    movie = (f0[None] + transient[:, None, None] * np.array([[1.0, 2.0]])[None]).astype(np.float32)
    out = _run(movie, fr, df_over_f=True, df_over_f_method="delta_f_over_f", secs_window=5, quantile_min=8)
    expected = transient[:, None, None] * np.array([[1.0, 2.0]])[None] / f0[None]
    np.testing.assert_allclose(out, expected, atol=1e-5)
    sqrt = _run(movie, fr, df_over_f=True, df_over_f_method="delta_f_over_sqrt_f")
    np.testing.assert_allclose(sqrt, transient[:, None, None] * np.array([[1.0, 2.0]])[None] / np.sqrt(f0[None]), atol=1e-4)


def test_df_over_f_follows_a_slow_baseline():
    # Baseline rising linearly: windowed quantiles interpolated between window centres follow it.
    fr, n = 20.0, 2000
    t = np.arange(n)
    f0 = 50 + 0.01 * t
    movie = np.repeat(f0[:, None, None], 2, axis=2).astype(np.float32)
    out = _run(movie, fr, df_over_f=True, df_over_f_method="delta_f_over_f", secs_window=5)
    inner = slice(100, n - 100)  # the ends are held at the first and last window's baseline
    # The 8th percentile of a ramp over a 100-frame window lies (0.5 - 0.08) * 100 frames below its centre value
    # (numpy's linear percentile of 0..99 is 7.92, not 8), and interpolating between window centres follows the ramp.
    lag = (49.5 - 0.08 * 99) * 0.01
    expected = lag / (f0 - lag)
    np.testing.assert_allclose(out[inner, 0, 0], expected[inner], atol=2e-5)


def test_constant_movie_is_an_error_not_nan():
    movie = np.full((30, 4, 4), 17, np.uint8)
    with pytest.raises(ValueError, match="every frame is identical"):
        _run(movie, df_over_f=True)


def test_window_longer_than_movie_is_an_error(movie):
    with pytest.raises(ValueError, match="secs_window 60 s is 600 frames"):
        _run(movie, 10.0, df_over_f=True, secs_window=60)


def test_zero_valued_movie_is_offset_like_the_seed():
    # Minimum 0: the seed adds 1 before dF/F so that the baseline is positive.
    movie = np.zeros((40, 2, 2), np.uint8)
    movie[10] = 3
    out = _run(movie, 10.0, df_over_f=True, df_over_f_method="delta_f_over_f", secs_window=2)
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out[10], 3.0)


def test_constant_movie_check_reads_up_to_the_first_changing_frame():
    """preprocess checks the movie itself (it no longer waits for the projections): a change in the last frame
    is found, a constant movie is an error, and a movie with signal is not read past its first chunk."""
    from ace_neuro.preprocess.projections import check_movie_not_constant

    movie = np.full((50, 3, 4), 9, np.uint8)
    with pytest.raises(ValueError, match="movie.tif: every frame is identical"):
        check_movie_not_constant(movie, "movie.tif", chunk_frames=7)
    movie[-1, 2, 3] = 10
    check_movie_not_constant(movie, chunk_frames=7)

    class FirstChunkOnly:
        """A movie whose frames past the first chunk cannot be read."""

        shape, ndim = movie.shape, 3

        def __getitem__(self, index):
            if isinstance(index, slice) and index.stop > 7:
                raise AssertionError(f"read frames {index}")
            return movie[index]

    movie[3, 0, 0] = 0
    check_movie_not_constant(FirstChunkOnly(), chunk_frames=7)


def test_median_last_axis_is_numpy_s_median_for_every_dtype():
    """The radix-sorted median (8- and 16-bit integers) and the fallback give np.median's values and dtype."""
    from ace_neuro.preprocess.projections import median_last_axis

    rng = np.random.default_rng(2)
    for dtype in (np.uint8, np.uint16, np.int8, np.int16, np.uint32, np.float32):
        for n in (1, 2, 3, 10, 11, 1000):
            if np.dtype(dtype).kind in "ui":
                info = np.iinfo(dtype)
                values = rng.integers(info.min, info.max, (4, 6, n), endpoint=True).astype(dtype)
            else:
                values = rng.random((4, 6, n)).astype(dtype)
            got, expected = median_last_axis(values), np.median(values, axis=-1)
            assert got.dtype == expected.dtype and np.array_equal(got, expected), (dtype, n)
