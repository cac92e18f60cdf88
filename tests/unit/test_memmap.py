"""The corrected movie's two files: frame blocks (written by the motion workers) and CaImAn's memory map."""

import numpy as np
import pytest

from ace_neuro.io.memmap import (
    BlocksMovie,
    blocks_name,
    blocks_to_caiman,
    caiman_memmap_name,
    create_blocks,
    fill_border_blocks,
    find_corrected_movie,
    find_linkable_movie,
    open_caiman_memmap,
    parse_blocks_name,
    read_blocks,
    read_caiman_pixels,
    write_blocks,
    write_caiman_from_blocks,
)
from ace_neuro.io.movie import open_movie
from ace_neuro.movies import read_frames


def _write(path, frames, per_write, band_mb=8.0):
    create_blocks(path)
    for start in range(0, frames.shape[0], per_write):
        write_blocks(path, start, frames[start : start + per_write], band_mb=band_mb)


def test_float16_blocks_refuse_values_out_of_range(tmp_path):
    frames = np.full((4, 5, 3), 100.0, np.float32)
    frames[2, 1, 1] = np.nan  # border_nan: true writes NaN, which float16 keeps
    path = tmp_path / blocks_name("x", 5, 3, 4, 2, "float16")
    _write(path, frames, 2)
    assert np.isnan(read_blocks(path, 0, 4)).sum() == 1
    frames[3, 2, 2] = 70000.0  # a 16-bit sensor's value, beyond float16's 65504
    with pytest.raises(ValueError, match="blocks_dtype: float32"):
        _write(path, frames, 2)


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_blocks_round_trip_border_and_caiman_transposition(tmp_path, dtype):
    frames = np.random.default_rng(0).normal(size=(11, 9, 7)).astype(np.float32)
    path = tmp_path / blocks_name("x", 9, 7, 11, 3, dtype)
    _write(path, frames, 6, band_mb=1e-4)  # two blocks per write, the last write short; bands of 1-2 columns
    assert parse_blocks_name(path)[3:] == (3, np.dtype(dtype))
    tol = 0 if dtype == "float32" else 2e-3
    np.testing.assert_allclose(read_blocks(path, 2, 10), frames[2:10].transpose(2, 1, 0).reshape(-1, 8), atol=tol)
    stored = frames.astype(dtype).astype(np.float32)  # each value rounded once to the file's type, then moved
    np.testing.assert_array_equal(read_blocks(path, 0, 11), stored.transpose(2, 1, 0).reshape(-1, 11))
    for t0, t1 in ((3, 6), (9, 11)):  # exactly one block (read straight into the result), the last one short
        np.testing.assert_allclose(read_blocks(path, t0, t1), frames[t0:t1].transpose(2, 1, 0).reshape(-1, t1 - t0),
                                   atol=tol)
        np.testing.assert_allclose(read_blocks(path, t0, t1, columns=(1, 4), rows=(2, 6)),
                                   frames[t0:t1, 2:6, 1:4].transpose(2, 1, 0).reshape(-1, t1 - t0), atol=tol)
    np.testing.assert_allclose(  # a band of columns, a range of rows
        read_blocks(path, 1, 5, columns=(2, 5), rows=(3, 8)),
        frames[1:5, 3:8, 2:5].transpose(2, 1, 0).reshape(-1, 4), atol=tol)
    fill_border_blocks(path, 2, -5.0)
    expected = frames.copy()
    expected[:, :2], expected[:, -2:], expected[:, :, :2], expected[:, :, -2:] = -5, -5, -5, -5
    mmap = tmp_path / caiman_memmap_name("x", 9, 7, 11)
    with open(mmap, "wb") as f:
        f.truncate(9 * 7 * 11 * 4)
    for p0 in range(0, 63, 10):  # pixel ranges straddling columns
        blocks_to_caiman(path, mmap, p0, min(63, p0 + 10))
    yr, dims, n_frames = open_caiman_memmap(mmap)
    np.testing.assert_allclose(yr, expected.reshape(11, -1, order="F").T, atol=tol)  # CaImAn: Yr[row + col*H, t]
    np.testing.assert_allclose(open_movie(mmap)[:], expected, atol=tol)
    np.testing.assert_array_equal(read_caiman_pixels(mmap, 5, 40, 3, 9, n_frames=11), np.asarray(yr[5:40, 3:9]))
    assert find_corrected_movie(tmp_path) == path


def test_block_writes_must_be_whole_blocks(tmp_path):
    path = tmp_path / blocks_name("x", 4, 5, 10, 4)
    create_blocks(path)
    with pytest.raises(ValueError, match="whole blocks"):
        write_blocks(path, 2, np.zeros((4, 4, 5), np.float32))
    with pytest.raises(ValueError, match="truncated or renamed"):
        (tmp_path / blocks_name("y", 4, 5, 10, 4)).write_bytes(b"12")
        parse_blocks_name(tmp_path / blocks_name("y", 4, 5, 10, 4))


def test_blocks_movie_reads_any_frames_like_an_array_and_converts_to_caimans_map(tmp_path):
    frames = np.random.default_rng(1).normal(size=(13, 6, 5)).astype(np.float32)
    path = tmp_path / blocks_name("x", 6, 5, 13, 4)
    _write(path, frames, 4)
    movie = open_movie(path)
    assert isinstance(movie, BlocksMovie) and movie.shape == (13, 6, 5) and len(movie) == 13
    np.testing.assert_array_equal(movie[:], frames)
    np.testing.assert_array_equal(movie[2:11:3], frames[2:11:3])  # across blocks, with a step
    np.testing.assert_array_equal(movie[np.array([12, 0, 5, 5])], frames[[12, 0, 5, 5]])  # any order, repeats
    np.testing.assert_array_equal(movie[7], frames[7])
    np.testing.assert_array_equal(movie[3:9, 1:4, 2], frames[3:9, 1:4, 2])
    assert movie[5:5].shape == (0, 6, 5)
    np.testing.assert_array_equal(read_frames(movie, slice(1, 12)), frames[1:12])
    mmap = write_caiman_from_blocks(path, tmp_path / caiman_memmap_name("x", 6, 5, 13), budget_mb=1e-4)
    np.testing.assert_array_equal(open_movie(mmap)[:], frames)
    assert find_linkable_movie(tmp_path) == mmap  # CaImAn's map is what other files link to, when there is one
    mmap.unlink()
    assert find_linkable_movie(tmp_path) == path
    with pytest.raises(FileNotFoundError, match="re-run the motion step"):
        BlocksMovie(tmp_path / blocks_name("gone", 6, 5, 13, 4))


@pytest.mark.parametrize("opencv_casts", [True, False])  # False: OpenCV 4.11 (numpy 1.x), NumPy converts
def test_float16_conversions_match_numpy_bit_for_bit(opencv_casts, monkeypatch):
    from ace_neuro.io import memmap
    from ace_neuro.io.memmap import _cast_2d
    import cv2

    if opencv_casts and not memmap._opencv_casts_half():
        pytest.skip("this OpenCV does not convert float16 in its arithmetic")
    monkeypatch.setattr(memmap, "_opencv_casts_half", lambda: opencv_casts)

    rng = np.random.default_rng(1)
    bits = rng.integers(0, 2**32, size=(4000, 37), dtype=np.uint64).astype(np.uint32)
    wide = bits.view(np.float32)  # every kind of float32: NaN, infinities, subnormals, huge and tiny
    wide[0, :4] = [-0.0, np.inf, -np.inf, 65520.0]
    wide = np.concatenate([wide, (rng.random((4000, 37)) * 300).astype(np.float32)])  # and grey levels
    with np.errstate(over="ignore", invalid="ignore"):
        narrow = wide.astype(np.float16)
    got = _cast_2d(wide, cv2.CV_16F)
    nan = np.isnan(narrow)
    np.testing.assert_array_equal(np.isnan(got), nan)  # NaN stays NaN (its payload bits may differ)
    np.testing.assert_array_equal(got.view(np.uint16)[~nan], narrow.view(np.uint16)[~nan])
    assert np.isinf(narrow).any() and (narrow.view(np.uint16) == 0x8000).any()  # infinities and -0 were covered
    out = np.zeros((narrow.shape[0], 50), np.float32)
    _cast_2d(narrow[:, 3:30], cv2.CV_32F, out[:, 10:37])  # strided source and destination
    back = narrow[:, 3:30].astype(np.float32)
    nan = np.isnan(back)
    np.testing.assert_array_equal(np.isnan(out[:, 10:37]), nan)
    np.testing.assert_array_equal(out[:, 10:37].view(np.uint32)[~nan], back.view(np.uint32)[~nan])


def test_uint8_blocks_store_rounded_clipped_grey_levels_read_as_float32(tmp_path):
    """blocks_dtype uint8: each value rounded to the nearest grey level (halves to even) and clipped to 0-255,
    read back as float32 by every reader (read_blocks, BlocksMovie, the CaImAn map, the border fill)."""
    rng = np.random.default_rng(4)
    frames = rng.uniform(-6.0, 262.0, size=(11, 9, 7)).astype(np.float32)  # interpolation overshoots both ends
    frames[0, :3, 0] = [0.5, 1.5, 254.5]  # halves go to the even neighbour
    path = tmp_path / blocks_name("x", 9, 7, 11, 3, "uint8")
    _write(path, frames, 6, band_mb=1e-4)
    assert parse_blocks_name(path)[4] == np.uint8 and path.stat().st_size == 9 * 7 * 11
    expected = np.clip(np.rint(frames), 0, 255)
    assert expected[0, :3, 0].tolist() == [0.0, 2.0, 254.0]
    got = read_blocks(path, 0, 11)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, expected.transpose(2, 1, 0).reshape(-1, 11))
    inside = (frames >= 0) & (frames <= 255)
    assert np.abs(got - frames.transpose(2, 1, 0).reshape(-1, 11))[inside.transpose(2, 1, 0).reshape(-1, 11)].max() <= 0.5
    np.testing.assert_array_equal(read_blocks(path, 1, 5, columns=(2, 5), rows=(3, 8)),
                                  expected[1:5, 3:8, 2:5].transpose(2, 1, 0).reshape(-1, 4))
    np.testing.assert_array_equal(read_blocks(path, 3, 6), expected[3:6].transpose(2, 1, 0).reshape(-1, 3))
    movie = BlocksMovie(path)
    assert movie.dtype == np.float32 and movie[4:9].dtype == np.float32
    np.testing.assert_array_equal(movie[4:9], expected[4:9])
    fill_border_blocks(path, 2, -3.7)  # the movie's minimum below 0 (an overshoot): stored as 0
    expected[:, :2], expected[:, -2:], expected[:, :, :2], expected[:, :, -2:] = 0, 0, 0, 0
    mmap = tmp_path / caiman_memmap_name("x", 9, 7, 11)
    write_caiman_from_blocks(path, mmap)  # CaImAn's map stays float32
    yr, _, _ = open_caiman_memmap(mmap)
    assert yr.dtype == np.float32
    np.testing.assert_array_equal(yr, expected.reshape(11, -1, order="F").T)


def test_quantise_uint8_matches_numpy_rounding_and_clipping():
    from ace_neuro.io.memmap import quantise_uint8

    values = np.random.default_rng(5).uniform(-300.0, 600.0, size=(64, 1000)).astype(np.float32)
    values[0, :8] = [-0.5, 0.5, 1.5, 2.5, 253.5, 254.5, 255.5, -np.inf]
    stored = quantise_uint8(values)
    assert stored.dtype == np.uint8 and stored.shape == values.shape
    np.testing.assert_array_equal(stored, np.clip(np.rint(values), 0, 255).astype(np.uint8))
