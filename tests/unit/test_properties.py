"""Properties of the small pure functions, over inputs hypothesis draws (shapes, sizes, gaps, boxes).

Each test states what must hold for every input, where the example-based tests beside it check a few cases.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from hypothesis import given, strategies as st
from hypothesis.extra.numpy import arrays

from ace_neuro.cnmfe.patches import patch_regions
from ace_neuro.curate.data import crop_coords_from_box
from ace_neuro.curate.server import trace_envelope
from ace_neuro.io.memmap import frames_to_pixels, pixels_to_frames
from ace_neuro.io.miniscope import detect_dropped_frames, natural_key, select_video_files
from ace_neuro.preprocess import crop_slices, parse_crop_coords


@given(height=st.integers(1, 300), width=st.integers(1, 300), rf=st.integers(1, 80), data=st.data())
def test_patches_cover_the_frame_stay_inside_and_overlap_by_the_stride(height, width, rf, data):
    size = 2 * rf + 1
    stride = data.draw(st.integers(0, size - 1), label="stride")
    regions = patch_regions((height, width), rf, stride)
    covered = np.zeros((height, width), dtype=int)
    for r0, r1, c0, c1 in regions:
        assert 0 <= r0 < r1 <= height and 0 <= c0 < c1 <= width
        assert r1 - r0 == min(size, height) and c1 - c0 == min(size, width)  # whole patches, cut only by the frame
        covered[r0:r1, c0:c1] += 1
    assert covered.min() >= 1
    assert len(set(regions)) == len(regions)
    for axis_starts, extent in ((sorted({r[0] for r in regions}), height), (sorted({r[2] for r in regions}), width)):
        for first, second in zip(axis_starts, axis_starts[1:]):
            assert first + size - second >= stride  # neighbours share at least `stride` pixels


@given(arrays(np.float32, st.tuples(st.integers(1, 5), st.integers(1, 9), st.integers(1, 9)),
              elements=st.floats(-1e6, 1e6, width=32)))
def test_pixel_layout_round_trips_and_numbers_pixels_down_the_columns(frames):
    n, height, width = frames.shape
    pixels = frames_to_pixels(frames)
    assert pixels.shape == (height * width, n) and pixels.flags.c_contiguous
    row, col = height - 1, width // 2
    np.testing.assert_array_equal(pixels[row + col * height], frames[:, row, col])
    back = pixels_to_frames(pixels, (height, width))
    assert back.flags.c_contiguous
    np.testing.assert_array_equal(back, frames)


@given(height=st.integers(1, 400), width=st.integers(1, 400), data=st.data())
def test_crop_box_round_trips_between_the_seeds_convention_and_numpy_slices(height, width, data):
    r0 = data.draw(st.integers(0, height - 1), label="r0")
    r1 = data.draw(st.integers(r0 + 1, height), label="r1")
    c0 = data.draw(st.integers(0, width - 1), label="c0")
    c1 = data.draw(st.integers(c0 + 1, width), label="c1")
    coords = crop_coords_from_box((r0, r1), (c0, c1), (height, width))
    assert crop_slices(coords, (height, width)) == (slice(r0, r1), slice(c0, c1))
    text = "{x0},{y0},{x1},{y1}".format(**coords)
    assert parse_crop_coords(text) == parse_crop_coords(f"({text})") == parse_crop_coords(coords) == coords


@given(arrays(np.float32, st.integers(0, 3000), elements=st.floats(-1e4, 1e4, width=32)), st.integers(2, 400))
def test_trace_envelope_keeps_every_extreme_in_time_order_within_the_budget(trace, max_points):
    frames, values = trace_envelope(trace, max_points)
    assert len(frames) <= max(max_points, 2)
    assert np.all(np.diff(frames) > 0)
    np.testing.assert_array_equal(values, trace[frames])
    if trace.size:
        assert values.max() == trace.max() and values.min() == trace.min()
    # each bin of the reduced plot keeps its own minimum and maximum
    if trace.size > max_points:
        edges = np.linspace(0, trace.size, max(max_points // 2, 1) + 1).astype(np.int64)
        for lo, hi in zip(edges[:-1], edges[1:]):
            kept = values[(frames >= lo) & (frames < hi)]
            assert kept.max() == trace[lo:hi].max() and kept.min() == trace[lo:hi].min()


@given(st.lists(st.integers(0, 4), min_size=2, max_size=200), st.floats(10.0, 100.0), st.data())
def test_dropped_frames_are_counted_from_gaps_with_jittered_stamps(dropped_before, period_ms, data):
    """Frames stamped at whole periods after the given drops, each stamp off by up to a tenth of a period."""
    dropped = np.array([0, *dropped_before[1:]])
    slots = np.cumsum(dropped + 1) - 1  # acquisition slot of each written frame
    jitter = data.draw(st.lists(st.floats(-0.1, 0.1), min_size=slots.size, max_size=slots.size), label="jitter")
    stamps = (slots + np.array(jitter)) * period_ms
    np.testing.assert_array_equal(detect_dropped_frames(stamps, frame_period_ms=period_ms), dropped)
    daq = slots + 1  # the DAQ counter alone tells the same
    np.testing.assert_array_equal(detect_dropped_frames(np.arange(slots.size) * period_ms, daq, period_ms), dropped)


@given(st.lists(st.integers(0, 10_000), min_size=1, max_size=30, unique=True), st.sampled_from(["", "msCam"]))
def test_video_files_sort_by_their_numbers_and_select_by_index_and_range(numbers, prefix):
    names = [f"{prefix}{n}.avi" for n in numbers]
    ordered = sorted(names, key=natural_key)
    assert [int(name[len(prefix):-4]) for name in ordered] == sorted(numbers)
    videos = [Path(name) for name in ordered]
    last = len(videos) - 1
    assert select_video_files(videos, f"0-{last}") == list(range(len(videos)))
    assert select_video_files(videos, ordered[last]) == [last]
