"""The seeding filter in bands (``filter_frames`` on kernels OpenCV would filter through a DFT)."""

import cv2
import numpy as np
import pytest

from ace_neuro.cnmfe.filters import CV_DIRECT_AREA, center_psf_kernel, filter_frames, kernel_bands

EPS32 = float(np.finfo(np.float32).eps)


def _exact(frames: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """The correlation in float64 (OpenCV's direct filter at double precision, reflected border)."""
    return np.stack([cv2.filter2D(f.astype(np.float64), cv2.CV_64F, kernel.astype(np.float64),
                                  borderType=cv2.BORDER_REFLECT) for f in frames])


def _rounding_bound(frames: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Per value, 64 float32 epsilons times the sum of the products' magnitudes (``|k|`` correlated with ``|f|``).

    A float32 sum of ``n`` terms is within ``(n - 1) eps`` of that magnitude sum in the worst case; rounding errors
    add like a random walk, so ``~sqrt(n) eps`` in practice: 64 eps covers the bands' sums of up to 129 taps plus
    the additions of the bands, and any offset or missing tap (an error of the order of one term) exceeds it.
    """
    return 64 * EPS32 * _exact(np.abs(frames), np.abs(kernel)) + 1e-30


def _movie(shape, seed=0, offset=100.0):
    rng = np.random.default_rng(seed)
    return (rng.normal(scale=3.0, size=shape) + offset).astype(np.float32)


@pytest.mark.parametrize("gsig, gsiz", [(3, 13), (4, 17), (4, 19)])
def test_banded_filter_is_the_correlation_to_float32_rounding(gsig, gsiz):
    frames = _movie((3, 57, 64))
    kernel = center_psf_kernel([gsig, gsig], [gsiz, gsiz])
    assert kernel.size >= CV_DIRECT_AREA  # OpenCV would take the DFT: the banded path is the one tested
    got = filter_frames(frames, kernel)
    exact = _exact(frames, kernel)
    assert np.all(np.abs(got - exact) <= _rounding_bound(frames, kernel))
    # the previous path (OpenCV's DFT) is as close, so the two differ by rounding only
    old = np.stack([cv2.filter2D(f, cv2.CV_32F, kernel, borderType=cv2.BORDER_REFLECT) for f in frames])
    assert np.all(np.abs(old - exact) <= _rounding_bound(frames, kernel))


def test_banded_filter_handles_uneven_kernels_and_zero_rows():
    rng = np.random.default_rng(5)
    kernel = rng.normal(size=(14, 11)).astype(np.float32)  # even height: anchor (5, 7) as OpenCV's
    kernel[3] = 0
    kernel[:, 0] = 0
    frames = _movie((2, 23, 30), seed=2, offset=0.0)
    got = filter_frames(frames, kernel)
    assert np.all(np.abs(got - _exact(frames, kernel)) <= _rounding_bound(frames, kernel))


def test_small_kernels_keep_opencvs_direct_filter_bit_for_bit():
    frames = _movie((4, 40, 33), seed=1)
    kernel = center_psf_kernel([2, 2], [9, 9])  # 81 elements: OpenCV filters it directly
    expected = np.stack([cv2.filter2D(f, cv2.CV_32F, kernel, borderType=cv2.BORDER_REFLECT) for f in frames])
    np.testing.assert_array_equal(filter_frames(frames, kernel), expected)


def test_threads_give_the_same_bits():
    frames = _movie((7, 48, 52), seed=4)
    kernel = center_psf_kernel([4, 4], [19, 19])
    np.testing.assert_array_equal(filter_frames(frames, kernel, threads=3), filter_frames(frames, kernel))


def test_kernel_bands_tile_the_kernel_within_opencvs_direct_size():
    for kernel in (center_psf_kernel([4, 4], [19, 19]), center_psf_kernel([6, 6], [25, 25]),
                   center_psf_kernel([3, 5], [13, 21], center=False)):
        bands = kernel_bands(kernel)
        rebuilt = np.zeros_like(kernel)
        for r, c, band in bands:
            assert band.size < CV_DIRECT_AREA and band.flags.c_contiguous
            assert not rebuilt[r:r + band.shape[0], c:c + band.shape[1]].any()  # bands do not overlap
            rebuilt[r:r + band.shape[0], c:c + band.shape[1]] = band
        np.testing.assert_array_equal(rebuilt, kernel)
    assert kernel_bands(np.ones((2, 200), np.float32)) == []  # one row wider than a direct filter
