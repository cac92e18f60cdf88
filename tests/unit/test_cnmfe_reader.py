"""Chunked reads of the CaImAn memory map (in place) and of the motion step's frame-block file."""

import numpy as np
import pytest

from ace_neuro.cnmfe.reader import (
    ChunkCache,
    MovieSource,
    frames_to_pixels,
    pixels_to_frames,
)
from ace_neuro.io.memmap import blocks_name, create_blocks, write_blocks
from ace_neuro.io.movie import caiman_memmap_name, create_caiman_memmap


@pytest.fixture()
def movie(tmp_path):
    rng = np.random.default_rng(0)
    data = rng.normal(size=(50, 13, 11)).astype(np.float32)
    path = tmp_path / caiman_memmap_name("m", 13, 11, 50)
    view = create_caiman_memmap(path, 13, 11, 50)
    view[:] = data
    del view
    return path, data


def test_pixel_layout_round_trip():
    frames = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)
    pixels = frames_to_pixels(frames)
    assert pixels.shape == (12, 2)
    assert pixels[1 + 2 * 3, 1] == frames[1, 1, 2]  # pixel row + col*h
    np.testing.assert_array_equal(pixels_to_frames(pixels, (3, 4)), frames)


def _blocks(tmp_path, data, block_frames, dtype="float32"):
    path = tmp_path / blocks_name("m", data.shape[1], data.shape[2], data.shape[0], block_frames, dtype)
    create_blocks(path)
    for start in range(0, data.shape[0], 2 * block_frames):  # two blocks per write, the last one short
        write_blocks(path, start, data[start : start + 2 * block_frames])
    return MovieSource.from_path(path)


@pytest.mark.parametrize("region", [None, (2, 9, 3, 10), (0, 13, 4, 7)])
def test_reads_match_the_movie_in_both_layouts(movie, tmp_path, region):
    path, data = movie
    src = MovieSource.from_path(path)
    blocks = _blocks(tmp_path, data, 6)
    assert blocks.layout == "blocks" and blocks.chunk_frames(0.001) % 6 == 0
    r0, r1, c0, c1 = region or (0, 13, 0, 11)
    for source in (src, blocks):
        sub = source.sub((r0, r1, c0, c1))
        got = pixels_to_frames(sub.read(7, 31), (r1 - r0, c1 - c0))
        np.testing.assert_array_equal(got, data[7:31, r0:r1, c0:c1])
        np.testing.assert_array_equal(sub.read_frames(7, 31), data[7:31, r0:r1, c0:c1])
        for a, b in sub.chunks(sub.chunk_frames(0.001), step=3):  # aligned chunks of the block file, last one short
            np.testing.assert_array_equal(pixels_to_frames(sub.read(a, b), (r1 - r0, c1 - c0)), data[a:b, r0:r1, c0:c1])
    np.testing.assert_array_equal(
        MovieSource.from_array(data).sub((r0, r1, c0, c1)).read_frames(3, 9), data[3:9, r0:r1, c0:c1]
    )
    with pytest.raises(ValueError, match="outside the movie"):
        src.read(40, 60)
    with pytest.raises(ValueError, match="outside the movie"):
        blocks.read_frames(40, 60)
    with pytest.raises(ValueError, match="outside the movie"):
        blocks.read(45, 51)


def test_float16_blocks_read_as_float32(movie, tmp_path):
    _, data = movie
    blocks = _blocks(tmp_path, data, 4, "float16")
    assert blocks.dtype == "float16"
    got = blocks.read_frames(0, 50)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, data, rtol=1e-3, atol=1e-3)


def test_layout_conversions_of_large_float32_chunks_match_numpy():
    rng = np.random.default_rng(1)
    frames = rng.normal(size=(5, 37, 23)).astype(np.float32)
    pixels = frames_to_pixels(frames)
    np.testing.assert_array_equal(pixels, frames.transpose(2, 1, 0).reshape(-1, 5))
    np.testing.assert_array_equal(pixels_to_frames(pixels, (37, 23)), frames)


def test_chunks_cover_the_recording_in_steps(movie):
    src = MovieSource.from_memmap(movie[0])
    spans = list(src.chunks(16, step=3))
    assert spans[0] == (0, 15) and spans[-1][1] == 50
    assert all(b - a == 15 for a, b in spans[:-1])


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_read_chunks_come_in_order_transformed_by_the_threads(movie, tmp_path, workers):
    _, data = movie
    blocks = _blocks(tmp_path, data, 4)
    seen = []
    got = list(blocks.read_chunks(8, 2, lambda y, a, b: (y.sum(axis=0), a, b), workers=workers))
    for start, stop, (sums, a, b) in got:
        seen.append((start, stop))
        assert (a, b) == (start, stop)
        np.testing.assert_array_equal(sums, blocks.read(start, stop).sum(axis=0))
    assert seen == list(blocks.chunks(8, 2))
    plain = [(a, b, y) for a, b, y in MovieSource.from_array(data).read_chunks(16, workers=workers)]
    np.testing.assert_array_equal(np.concatenate([pixels_to_frames(y, (13, 11)) for _, _, y in plain]), data)


def test_read_chunks_raise_at_the_failing_chunk_and_stop_early_without_starting_the_rest(movie):
    _, data = movie
    source = MovieSource.from_array(data)
    started = []

    def failing(y, start, stop):
        started.append(start)
        if start == 16:
            raise OSError("disk gone")
        return start

    chunks = source.read_chunks(8, transform=failing, workers=2)
    assert [next(chunks)[2], next(chunks)[2]] == [0, 8]
    with pytest.raises(OSError, match="disk gone"):
        next(chunks)
    started.clear()
    early = source.read_chunks(8, transform=failing, workers=2)
    next(early)
    early.close()  # the caller stops after one chunk: at most the chunks already begun were read
    assert sorted(started) == [0, 8, 16][: len(started)] and len(started) <= 3  # not 24, 32, ...


def test_chunk_cache_replays_the_first_complete_run_then_removes_its_file(tmp_path):
    calls = []

    def factory():
        calls.append(1)
        for i in range(3):
            yield np.full((i + 1, 4, 5), float(i), np.float32)

    cache = ChunkCache(factory, str(tmp_path))
    first = next(iter(cache()))  # abandoned run: nothing recorded, its file removed
    assert first.shape == (1, 4, 5) and list(tmp_path.iterdir()) == []
    recorded = list(cache())
    replayed = list(cache())
    assert len(calls) == 2  # the replay did not call the factory
    for a, b in zip(recorded, replayed, strict=True):
        np.testing.assert_array_equal(a, b)
    assert len(list(tmp_path.iterdir())) == 1
    cache.close()
    assert list(tmp_path.iterdir()) == []


def test_chunk_cache_without_room_recomputes_every_time(tmp_path):
    calls = []

    def factory():
        calls.append(1)
        yield np.ones((2, 3, 3), np.float32)

    cache = ChunkCache(factory, str(tmp_path), expected_bytes=2**62)  # more than any disk
    assert not cache.enabled
    for _ in range(2):
        np.testing.assert_array_equal(list(cache())[0], np.ones((2, 3, 3)))
    assert len(calls) == 2 and list(tmp_path.iterdir()) == []
    cache.close()


@pytest.mark.parametrize("seeding_cache", [True, False])
def test_seeding_cache_off_writes_no_scratch_file(tmp_path, monkeypatch, seeding_cache):
    from ace_neuro.cnmfe import reader
    from ace_neuro.cnmfe.fit import fit_region
    from ace_neuro.cnmfe.params import CnmfeOptions

    created = []
    real = reader.tempfile.mkstemp
    monkeypatch.setattr(reader.tempfile, "mkstemp", lambda **kw: created.append(kw) or real(**kw))
    movie = np.random.default_rng(0).normal(10, 1, size=(120, 24, 24)).astype(np.float32)
    options = CnmfeOptions.from_params(seeding_cache=seeding_cache, gSig=[2, 2], gSiz=[7, 7], min_corr=0.5, min_pnr=3)
    fit_region(MovieSource.from_array(movie), options, frame_rate=20.0, scratch_dir=tmp_path)
    # the refinement's traces spill (cnmfe.trace_spill, prefix "traces_") is not a seeding cache
    caches = [kw for kw in created if kw.get("prefix") != "traces_"]
    assert bool(caches) == seeding_cache
    assert not list(tmp_path.iterdir())  # caches removed at the end


@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_read_chunks_into_reused_buffers_give_the_same_chunks(movie, tmp_path, dtype):
    """``reuse``: every chunk read into its thread's buffers (a region too; the last chunk short), same values."""
    _, data = movie
    blocks = _blocks(tmp_path, data, 4, dtype).sub((2, 9, 3, 10))
    fresh = list(blocks.read_chunks(12, 2, lambda y, a, b: y.copy(), workers=2))
    reused = list(blocks.read_chunks(12, 2, lambda y, a, b: y.copy(), workers=2, reuse=True))
    assert [(a, b) for a, b, _ in reused] == [(a, b) for a, b, _ in fresh] and fresh[-1][1] - fresh[-1][0] < 12
    for (_, _, x), (_, _, y) in zip(fresh, reused):
        np.testing.assert_array_equal(x, y)


def test_read_chunks_of_given_bounds_read_those_chunks_only(movie, tmp_path):
    _, data = movie
    blocks = _blocks(tmp_path, data, 4)
    wanted = [(0, 8), (24, 32), (48, 50)]
    got = list(blocks.read_chunks(8, 2, lambda y, a, b: y.copy(), workers=2, reuse=True, bounds=wanted))
    assert [(a, b) for a, b, _ in got] == wanted
    for a, b, y in got:
        np.testing.assert_array_equal(y, blocks.read(a, b))
    with pytest.raises(ValueError, match="at most 8 frames"):
        list(blocks.read_chunks(8, 2, bounds=[(0, 12)]))


def test_keep_freed_memory_sets_glibc_malloc_where_there_is_one():
    import ctypes

    from ace_neuro.cnmfe.pipeline import keep_freed_memory

    try:
        ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        assert keep_freed_memory() is False  # not glibc: nothing changed
    else:
        assert keep_freed_memory() is True
        big = np.ones((3000, 3000), np.float32)  # 36 MB, above glibc's default 32 MB: now from the heap
        assert float(big.sum()) == 9e6


def test_uint8_blocks_read_as_float32_grey_levels(movie, tmp_path):
    _, data = movie
    grey = data * 40.0 + 128.0  # values over 0-255 and past both ends
    blocks = _blocks(tmp_path, grey, 4, "uint8")
    assert blocks.dtype == "uint8" and blocks.block_scratch().dtype == np.uint8
    got = blocks.sub((2, 9, 3, 10)).read_frames(5, 33)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, np.clip(np.rint(grey[5:33, 2:9, 3:10]), 0, 255))
    chunks = list(blocks.read_chunks(12, 2, lambda y, a, b: y.copy(), workers=2, reuse=True))
    for a, b, y in chunks:
        np.testing.assert_array_equal(pixels_to_frames(y, (13, 11)), np.clip(np.rint(grey[a:b]), 0, 255))
