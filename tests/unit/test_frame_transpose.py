"""Frames transposed one by one (OpenCV) as numpy's transposed copy, bit for bit."""

import numpy as np

from ace_neuro.io.memmap import _transpose_frames, frames_to_pixels, pixels_to_frames


def test_transpose_frames_is_numpys_transposed_copy():
    rng = np.random.default_rng(0)
    for shape, dtype in (((3, 70, 90), np.float32), ((2, 5, 7), np.float32), ((2, 80, 64), np.float64),
                         ((4, 64, 64), np.float16)):
        a = rng.normal(size=shape).astype(dtype)
        got = _transpose_frames(a)
        assert got.flags.c_contiguous and got.dtype == dtype
        np.testing.assert_array_equal(got, np.ascontiguousarray(a.transpose(0, 2, 1)))
    view = rng.normal(size=(4, 90, 70)).astype(np.float32)[::2]  # not contiguous
    np.testing.assert_array_equal(_transpose_frames(view), np.ascontiguousarray(view.transpose(0, 2, 1)))


def test_pixels_to_frames_inverts_frames_to_pixels_on_large_frames():
    frames = np.random.default_rng(1).normal(size=(5, 96, 80)).astype(np.float32)
    pixels = frames_to_pixels(frames)
    np.testing.assert_array_equal(pixels[:, 2], frames[2].ravel(order="F"))  # pixel row + col * h
    np.testing.assert_array_equal(pixels_to_frames(pixels, (96, 80)), frames)
