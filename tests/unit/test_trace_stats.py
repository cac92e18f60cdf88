"""The NumPy versions of find_peaks, lfilter (AR(1)) and skew give SciPy's results bit for bit."""

import numpy as np
import pytest
import scipy.signal
import scipy.stats

from ace_neuro.cnmfe.trace_stats import ar1_filter, peaks_above, skewness


def _traces(rng):
    """Traces of several kinds: smooth, noisy, quantised (plateaus), constant, short, ending on plateaus."""
    out = [rng.standard_normal(3000), np.cumsum(rng.standard_normal(500)), np.round(rng.standard_normal(800) * 2),
           np.zeros(50), np.array([1.0]), np.array([1.0, 2.0]), np.array([0.0, 1.0, 0.0]), np.array([0.0, 1, 1, 1]),
           np.array([1.0, 1, 0, 2, 2, 1, 3, 3, 3, 3, 0]), np.array([2.0, 1, 2]),
           rng.integers(0, 3, 400).astype(np.float32), np.repeat(rng.standard_normal(60), rng.integers(1, 5, 60))]
    return out


@pytest.mark.parametrize("fraction", [0.0, 0.3, 0.9])
def test_peaks_above_is_find_peaks_with_a_height(fraction):
    rng = np.random.default_rng(3)
    for trace in _traces(rng):
        low, high = float(trace.min()), float(trace.max())
        height = low + fraction * (high - low)
        expected, _ = scipy.signal.find_peaks(trace, height=height)
        got = peaks_above(trace, height)
        assert got.dtype == expected.dtype
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("phi", [0.0, 0.06, 0.5, 0.97])
def test_ar1_filter_is_lfilter_bit_for_bit(phi):
    noise = np.random.default_rng(5).standard_normal((50, 3001))
    expected = scipy.signal.lfilter([1.0], [1.0, -phi], noise, axis=1)
    got = ar1_filter(noise, phi)
    assert got.shape == expected.shape and got.flags.c_contiguous
    assert np.array_equal(got, expected)  # the same bits, not close
    assert np.array_equal(ar1_filter(noise[0], phi), expected[0])


def test_skewness_is_scipy_skew_bit_for_bit():
    rng = np.random.default_rng(7)
    for trace in [rng.standard_normal(3000), rng.exponential(size=1000) * 1e3 + 5, np.cumsum(rng.standard_normal(500)),
                  rng.standard_normal(3), np.array([0.0, 0.0, 0.0, 1.0])]:
        assert skewness(trace) == float(scipy.stats.skew(trace))
    assert np.isnan(skewness(np.full(10, 3.0))) and np.isnan(float(scipy.stats.skew(np.full(10, 3.0))))


def test_the_evaluate_step_imports_neither_scipy_signal_nor_scipy_stats():
    """What the evaluate rule imports on our own estimates (stage, step, vessels, fringes, outputs, figures): ~0.8 CPU s
    less. (parameter_aid, for estimates from elsewhere that do not record gSig, still imports the fit.)"""
    import subprocess
    import sys

    modules = ["ace_neuro.stages.evaluate", "ace_neuro.allocator", "ace_neuro.cnmfe.evaluate",
               "ace_neuro.cnmfe.vessels",
               "ace_neuro.cnmfe.fringes", "ace_neuro.cnmfe.size",
               "ace_neuro.cnmfe.outputs", "ace_neuro.cnmfe.figures", "ace_neuro.io.caiman", "ace_neuro.io.memmap"]
    code = (f"import sys; import {', '.join(modules)}; "
            "print(sorted(m for m in sys.modules if m in ('scipy.signal', 'scipy.stats', 'oasis')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
