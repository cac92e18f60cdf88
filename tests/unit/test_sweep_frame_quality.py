"""A bright recording whose centre saturates the sensor is not 'corrupted in transmission' (benchmarks/sweep.md).

Found by the sweep (``ace-neuro simulate --background-level 200``): the saturated centre (every pixel 255, exactly
flat) shrinks as the recording bleaches, and each tile leaving saturation gained sensor noise against a flat
reference: 982 of 1,000 frames were flagged and convert stopped, blaming the wireless link.
"""

import numpy as np
from scipy.ndimage import shift

from ace_neuro.io.convert import convert_recording
from ace_neuro.io.frame_quality import FrameQuality
from helpers.recording_folders import write_v4


def _saturated_movie(n=60, h=64, w=64, seed=0, peak=500.0):
    """uint8 (n, h, w): a vignetted background whose centre is far above 255 (at the default ``peak`` 90 % of the
    pixels at 255 in the first frame, 20 % in the last), bleaching by half over the movie, 1 px motion jitter,
    shot noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w]
    field = 120 + peak * np.exp(-((yy - h / 2) ** 2 + (xx - w / 2) ** 2) / (2 * 22.0**2))
    frames = [rng.poisson(shift(field, rng.normal(0, 1, 2), order=1, mode="nearest") * (1 - 0.5 * t / n) * 4) / 4
              for t in range(n)]
    return np.clip(frames, 0, 255).astype(np.uint8)


def _flags(movie, chunk=10):
    quality = FrameQuality()
    for start in range(0, movie.shape[0], chunk):
        quality.check(movie[start : start + chunk])
    return quality.finish()


def test_saturated_centre_shrinking_with_bleaching_is_not_corrupted():
    movie = _saturated_movie()
    assert (movie[0] == 255).mean() > 0.8 and (movie[-1] == 255).mean() < 0.3
    assert not _flags(movie).any()


def test_garbage_and_a_white_block_in_a_saturating_recording_are_still_found():
    movie = _saturated_movie(seed=1, peak=300.0)  # 59 % of the pixels at 255 in the first frame, none in the last
    rng = np.random.default_rng(2)
    movie[30, 2:6] = rng.choice([20, 240], size=(4, movie.shape[2]))  # check pattern across the frame
    movie[45, :8, 16:48] = 255  # a filled block (4 tiles) at the top edge, not saturated before
    assert np.flatnonzero(_flags(movie)).tolist() == [30, 45]


def test_convert_of_a_saturating_recording_warns_and_records_the_saturated_share(tmp_path, caplog):
    movie = _saturated_movie(n=30)
    folder = write_v4(tmp_path / "session", [movie])
    metadata = convert_recording(folder, tmp_path / "movie.tif", tmp_path / "metadata.json", tmp_path / "frames.csv")
    assert metadata["corrupted_frames"]["total"] == 0
    assert 0.5 < metadata["saturated_tile_fraction"] < 1
    assert "sensor's ceiling (saturated)" in caplog.text
