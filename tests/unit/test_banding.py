"""Row and column banding: measured against pixel noise, removed with cells kept, off = unchanged, streaming."""

import json
import os

import numpy as np
import pytest

from ace_neuro.options import ParameterError
from ace_neuro.preprocess import PreprocessOptions, preprocessed_chunks
from ace_neuro.preprocess.banding import (
    DebandedMovie,
    choose_banding,
    debanded_block,
    frame_blocks,
    measure_banding,
    reference_image,
)


def _cells_movie(n_frames=80, height=40, width=48, noise=2.0, rows_sd=0.0, columns_sd=0.0, seed=0):
    """Float movie: a vignetted background, two cells with transients, Gaussian noise, optional banding."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:height, :width]
    background = 60 + 20 * np.exp(-((y - height / 2) ** 2 + (x - width / 2) ** 2) / (2 * 20.0**2))
    cells = [np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * 2.0**2)) for cy, cx in ((12, 15), (28, 33))]
    traces = np.zeros((2, n_frames))
    traces[0, 20:30] = 30.0
    traces[1, 50:58] = 25.0
    clean = background[None] + np.tensordot(traces.T, np.stack(cells), axes=1)
    movie = clean + noise * rng.standard_normal(clean.shape)
    movie += rows_sd * rng.standard_normal((n_frames, height, 1)) + columns_sd * rng.standard_normal((n_frames, 1, width))
    return movie.astype(np.float32), clean.astype(np.float32)


def test_measure_banding_against_pixel_noise():
    plain, _ = _cells_movie()
    banded, _ = _cells_movie(rows_sd=3.0)
    quiet = measure_banding(plain, window_frames=40)
    loud = measure_banding(banded, window_frames=40)
    assert quiet["row_ratio"] < 2 and quiet["column_ratio"] < 2  # about 1 for independent noise
    assert loud["row_ratio"] > 8 and loud["column_ratio"] < 2
    assert loud["row_rms"] == pytest.approx(3.0, rel=0.25)
    assert quiet["noise_sd"] == pytest.approx(2.0, rel=0.2)


def test_banding_removed_cells_and_background_kept():
    banded, clean = _cells_movie(rows_sd=3.0, columns_sd=2.0)
    plain, _ = _cells_movie()  # the same noise, no banding
    axes, record = choose_banding(banded, "auto", banding_min_ratio=4.0, window_frames=40)
    assert axes == ("rows", "columns") and record["removed"] == ["rows", "columns"]
    out = DebandedMovie(banded, axes, window_frames=40)[:]

    def row_banding(movie):  # rms of the rows' offsets from the clean movie, each frame's level taken out
        error = movie - clean
        error -= np.median(error, axis=(1, 2), keepdims=True)
        return np.sqrt(np.mean(np.median(error, axis=2) ** 2)), np.std(error)

    (before, before_sd), (after, after_sd), (_, noise_sd) = row_banding(banded), row_banding(out), row_banding(plain)
    assert before > 2.5 and after < 0.25 * before  # left: the offsets' estimation noise
    assert after_sd < 0.6 * before_sd and after_sd < 1.1 * noise_sd
    for (r, c), frame in (((12, 15), 25), ((28, 33), 54)):  # each cell's transient is kept
        assert out[frame, r, c] - np.median(out[:, r, c]) == pytest.approx(clean[frame, r, c] - clean[0, r, c], abs=6)


def test_off_and_auto_without_banding_leave_the_movie_unchanged():
    movie = np.random.default_rng(1).integers(0, 255, size=(30, 16, 20)).astype(np.uint8)
    for mode in ("off", "auto"):
        chunks = list(preprocessed_chunks(movie, 10.0, PreprocessOptions(remove_banding=mode)))
        out = np.concatenate([c for _, c in chunks])
        assert out.dtype == movie.dtype
        np.testing.assert_array_equal(out, movie)
    assert choose_banding(movie, "off")[1]["removed"] == []


def test_streaming_equals_one_shot():
    banded, _ = _cells_movie(n_frames=70, rows_sd=3.0)
    blocks = frame_blocks(70, 16)
    assert [b.stop - b.start for b in blocks] == [16, 16, 16, 22]  # the short last block joins the one before
    movie = DebandedMovie(banded, ("rows",), window_frames=16)
    reference = reference_image(banded)
    one_shot = np.concatenate([debanded_block(banded[b], ("rows",), reference) for b in blocks])
    for step in (1, 7, 70):
        read = np.concatenate([movie[a : a + step] for a in range(0, 70, step)])
        np.testing.assert_array_equal(read, one_shot)


def test_integer_movie_keeps_its_dtype_when_banding_is_removed():
    banded, _ = _cells_movie(rows_sd=4.0)
    movie = np.clip(np.rint(banded), 0, 255).astype(np.uint8)
    out = np.concatenate([c for _, c in preprocessed_chunks(movie, 10.0, PreprocessOptions(remove_banding="rows"))])
    assert out.dtype == np.uint8 and out.shape == movie.shape
    assert measure_banding(out, window_frames=40)["row_ratio"] < 0.5 * measure_banding(movie, window_frames=40)["row_ratio"]


def test_step_links_without_banding_and_writes_with_it(tmp_path):
    from ace_neuro.io.movie import create_tiff, open_movie
    from ace_neuro.preprocess.movie_step import run_preprocess_step

    metadata = tmp_path / "metadata.json"
    metadata.write_text(json.dumps({"frame_rate_hz": 10.0}))
    for name, rows_sd in (("plain", 0.0), ("banded", 4.0)):
        movie, _ = _cells_movie(rows_sd=rows_sd)
        source = tmp_path / f"{name}.tif"
        out = create_tiff(source, movie.shape, np.uint8, 10.0)
        out[:] = np.clip(np.rint(movie), 0, 255)
        out.flush()
        del out
        result = tmp_path / name / "movie.tif"
        result.parent.mkdir()
        run_preprocess_step(source, metadata, result, PreprocessOptions(remove_banding="auto"))
        assert os.path.islink(result) == (rows_sd == 0)
        assert open_movie(result).dtype == np.uint8


def test_options_are_validated():
    with pytest.raises(ParameterError, match='"rows"'):
        PreprocessOptions(remove_banding="row")
    with pytest.raises(ParameterError, match="banding_min_ratio"):
        PreprocessOptions(banding_min_ratio=0)
    assert not PreprocessOptions(remove_banding="auto").does_nothing  # auto measures the movie
    assert PreprocessOptions().does_nothing  # off by default


def test_banding_that_lasts_longer_than_a_block_is_removed():
    movie, clean = _cells_movie(n_frames=96)
    rng = np.random.default_rng(4)
    for start in range(0, 96, 32):  # each block of 32 frames has its own row pattern
        movie[start : start + 32] += 4.0 * rng.standard_normal((1, movie.shape[1], 1)).astype(np.float32)
    before = movie - clean
    out = DebandedMovie(movie, ("rows",), window_frames=32)[:]

    def temporal_row_banding(error):
        error = error - np.median(error, axis=(1, 2), keepdims=True)
        error -= np.median(error, axis=0)  # what does not change (the rows' fixed pattern) is not banding
        return np.sqrt(np.mean(np.median(error, axis=2) ** 2))

    assert temporal_row_banding(before) > 2.5 and temporal_row_banding(out - clean) < 0.25 * temporal_row_banding(before)
