"""Frames corrupted in transmission: found (black-outs, check patterns), not found in clean movies, held in convert."""

import json

import numpy as np
import pandas as pd
import pytest
from scipy.ndimage import gaussian_filter, shift

from ace_neuro.io.convert import convert_recording
from ace_neuro.io.frame_quality import FrameQuality, held_sources, tile_roughness
from ace_neuro.io.miniscope import RecordingError
from ace_neuro.io.movie import open_movie
from helpers.recording_folders import write_v4


def _clean_movie(n=48, h=64, w=72, seed=0):
    """A one-photon-like movie, uint8 (n, h, w): vignetted background with blurred vessels, photobleaching, Poisson
    noise, a slow drift and a 5 px motion jump at frame 24, one frame dropped (17) and a saturating transient."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: h + 20, : w + 20]
    field = 50 + 70 * np.exp(-((yy - h / 2) ** 2 + (xx - w / 2) ** 2) / (2 * 35.0**2))
    field -= 40 * (gaussian_filter(rng.normal(size=field.shape), 2.5) > 0.08)  # vessels
    field = gaussian_filter(field, 1.0)
    cell = 200 * np.exp(-((yy - 30) ** 2 + (xx - 35) ** 2) / (2 * 2.5**2))
    frames = []
    for t in [t for t in range(n + 1) if t != 17]:
        scene = field * (1 - 0.3 * t / n) + cell * (t in (30, 31)) + cell * 0.5 * (t == 32)
        dy, dx = 0.05 * t + 5.0 * (t >= 24), -0.03 * t
        scene = shift(scene, (dy, dx), order=1, mode="nearest")[10 : 10 + h, 10 : 10 + w]
        frames.append(np.clip(rng.poisson(np.clip(scene, 0, None) * 2) / 2, 0, 255))
    return np.asarray(frames[:n], dtype=np.uint8)


def _corrupt(movie, seed=1):
    """The movie with a black-out (frame 20), a two-row check-pattern segment (33) and a check-pattern block (2)."""
    rng = np.random.default_rng(seed)
    bad = movie.copy()
    bad[20, 30:50] = 0
    bad[33, 43:45, 8:48] = rng.choice([30, 220], size=(2, 40))
    bad[2, 8:14] = rng.choice([20, 240], size=(6, movie.shape[2]))
    return bad, [2, 20, 33]


def _flags(movie, chunk=10):
    quality = FrameQuality()
    for start in range(0, movie.shape[0], chunk):
        quality.check(movie[start : start + chunk])
    return quality.finish()


def test_tile_roughness_is_zero_on_flat_tiles_and_ignores_the_remainder():
    frame = np.zeros((17, 20), dtype=np.uint8)
    frame[:8, :8] = np.arange(8)[:, None] ** 2  # curved along columns: second differences 2 each
    rough = tile_roughness(frame)
    assert rough.shape == (2, 2)
    assert rough[0, 0] == 2 * 6 * 8 and np.count_nonzero(rough) == 1


@pytest.mark.parametrize("tile", [8, 3, 5])
def test_tile_roughness_of_8_bit_frames_in_integers_equals_the_float_sums(tile):
    rng = np.random.default_rng(tile)
    for frame in (rng.integers(0, 256, (61, 77), dtype=np.uint8), rng.choice([0, 255], (64, 72)).astype(np.uint8)):
        fast = tile_roughness(frame, tile)
        assert fast.dtype == np.float32
        np.testing.assert_array_equal(fast, tile_roughness(frame.astype(np.float32), tile))


@pytest.mark.parametrize("seed", [0, 1])
def test_clean_movie_with_motion_transient_bleaching_and_dropped_frame_has_none_flagged(seed):
    assert not _flags(_clean_movie(seed=seed)).any()


@pytest.mark.parametrize("chunk", [1, 7, 48])
def test_black_out_and_check_patterns_are_found_whatever_the_chunk(chunk):
    bad, corrupted = _corrupt(_clean_movie())
    assert np.flatnonzero(_flags(bad, chunk)).tolist() == corrupted


def test_held_sources_take_the_good_frame_before_and_after_at_the_start():
    corrupted = np.array([True, False, False, True, True, False])
    assert held_sources(corrupted).tolist() == [1, 1, 2, 2, 2, 5]


def _convert(folder, out, **options):
    return convert_recording(folder, out / "movie.tif", out / "metadata.json", out / "frames.csv", **options)


def test_convert_holds_corrupted_frames_lists_them_and_keep_leaves_the_movie_as_decoded(tmp_path):
    bad, corrupted = _corrupt(_clean_movie())
    folder = write_v4(tmp_path / "session", [bad[:30], bad[30:]])
    metadata = _convert(folder, tmp_path / "replace", convert_chunk_frames=8)
    movie = np.asarray(open_movie(tmp_path / "replace" / "movie.tif"))
    expected = bad.copy()
    expected[[2, 20, 33]] = bad[[1, 19, 32]]
    np.testing.assert_array_equal(movie, expected)
    table = pd.read_csv(tmp_path / "replace" / "frames.csv")
    assert np.flatnonzero(table["corrupted"]).tolist() == corrupted
    saved = json.loads((tmp_path / "replace" / "metadata.json").read_text())
    assert saved["corrupted_frames"] == metadata["corrupted_frames"]
    assert metadata["corrupted_frames"] == {"total": 3, "frames": corrupted, "handling": "replace"}

    _convert(folder, tmp_path / "keep", corrupted_frames="keep")
    np.testing.assert_array_equal(open_movie(tmp_path / "keep" / "movie.tif"), bad)
    assert np.flatnonzero(pd.read_csv(tmp_path / "keep" / "frames.csv")["corrupted"]).tolist() == corrupted


def test_convert_stops_when_most_frames_are_corrupted(tmp_path):
    movie = _clean_movie(n=24)
    movie[6:] = 0  # blacked out from frame 6 on
    folder = write_v4(tmp_path / "session", [movie])
    with pytest.raises(RecordingError, match=r"Miniscope: 18 of 24 frames look corrupted"):
        _convert(folder, tmp_path / "out")
    assert not (tmp_path / "out" / "movie.tif").exists()


def test_convert_warns_about_a_long_run_of_corrupted_frames(tmp_path, caplog):
    movie = _clean_movie(n=80)
    movie[10:40, 16:] = 0  # 30 frames in a row blacked out below row 16
    folder = write_v4(tmp_path / "session", [movie])
    with caplog.at_level("WARNING", logger="ace_neuro.io.convert"):
        metadata = _convert(folder, tmp_path / "out")
    assert metadata["corrupted_frames"]["frames"] == list(range(10, 40))
    assert "frames 10-39 (30 in a row) corrupted" in caplog.text
    np.testing.assert_array_equal(open_movie(tmp_path / "out" / "movie.tif")[10:40], np.repeat(movie[9:10], 30, 0))


def test_median_of_frames_is_numpy_s_median_bit_for_bit():
    """The running reference's median (sorted lanes) gives np.median's values and dtype, odd and even counts."""
    from ace_neuro.io.frame_quality import median_of_frames

    rng = np.random.default_rng(1)
    for dtype in (np.float32, np.float64):
        for n in range(1, 27):
            stack = (rng.random((n, 7, 9)) * rng.choice([1.0, 100.0, 1e4])).astype(dtype)
            if n % 3 == 0:
                stack = np.round(stack)  # ties
            got, expected = median_of_frames(stack), np.median(stack, axis=0)
            assert got.dtype == expected.dtype and np.array_equal(got, expected), (dtype, n)
