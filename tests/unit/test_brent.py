"""Brent's root (ace_neuro.cnmfe.brent) against scipy.optimize.brentq: the same float, bit for bit."""

import math

import numpy as np
import pytest
import scipy.optimize

from ace_neuro.cnmfe.brent import brentq
from ace_neuro.cnmfe.snr_window import threshold_for_window, transient_snr


def _functions(rng):
    """Smooth functions of several shapes with a bracket around a sign change: (f, a, b)."""
    while True:
        kind = int(rng.integers(4))
        if kind == 0:
            c = rng.normal(size=4)
            f = lambda x, c=c: c[0] + c[1] * x + c[2] * x * x + c[3] * x**3  # noqa: E731
            a, b = sorted(rng.uniform(-10, 20, 2))
        elif kind == 1:
            s = rng.uniform(0.1, 10)
            f = lambda x, s=s: math.tanh(x - s) + 0.3 * math.sin(3 * x)  # noqa: E731
            a, b = sorted(rng.uniform(-10, 20, 2))
        elif kind == 2:  # the SNR window's own function
            v, d, w = rng.uniform(0.5, 8), rng.uniform(1, 60), int(rng.integers(2, 40))
            f = lambda x, v=v, d=d, w=w: transient_snr(x, d, w) - v  # noqa: E731
            a, b = 0.0, float(rng.uniform(1, 40))
        else:
            s = rng.uniform(-5, 5)
            f = lambda x, s=s: math.exp(x) - math.exp(s)  # noqa: E731
            a, b = sorted(rng.uniform(-10, 10, 2))
        if f(a) * f(b) < 0:
            yield f, a, b


@pytest.mark.parametrize("xtol", [2e-12, 1e-10, 1e-3])
def test_brentq_is_scipy_brentq_bit_for_bit(xtol):
    rng = np.random.default_rng(17)
    functions = _functions(rng)
    for _ in range(300):
        f, a, b = next(functions)
        assert brentq(f, a, b, xtol=xtol) == scipy.optimize.brentq(f, a, b, xtol=xtol)


def test_brentq_ends_on_a_zero_and_refuses_a_bracket_without_a_sign_change():
    assert brentq(lambda x: x - 1.0, 1.0, 3.0) == 1.0
    assert brentq(lambda x: x - 3.0, 1.0, 3.0) == 3.0
    with pytest.raises(ValueError, match="different signs"):
        brentq(lambda x: x * x + 1.0, -1.0, 1.0)
    with pytest.raises(RuntimeError, match="no convergence"):
        brentq(lambda x: math.exp(x) - 2.0, 0.0, 5.0, maxiter=3)


def test_the_snr_window_threshold_is_the_one_scipy_root_gave():
    """threshold_for_window's root by scipy.optimize.brentq, as before ace_neuro.cnmfe.brent."""
    for value, decay, window, reference in [(2.2, 23.1, 24, 6), (1.7858, 15.0, 16, 8), (3.5, 4.0, 5, 12)]:
        def gap(peak):
            return transient_snr(peak, decay, reference) - value

        high = max(1.0, 2.0 * value)
        while gap(high) < 0:
            high *= 2.0
        peak = scipy.optimize.brentq(gap, 0.0, high, xtol=1e-10)
        assert threshold_for_window(value, decay, window, reference) == round(transient_snr(peak, decay, window), 4)
