"""The length-aware SNR floor of the evaluate step (cnmfe/snr.py: snr_null_threshold; evaluate.snr_floor)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal

from ace_neuro.cnmfe.evaluate import EvaluateOptions, snr_floor
from ace_neuro.cnmfe.snr import noise_autocorrelation, snr_null_threshold, trace_snr

FR, DECAY = 20.0, 0.4


def _ar1(rng, n, T, phi):
    return scipy.signal.lfilter([1.0], [1.0, -phi], rng.normal(size=(n, T)), axis=1)


@pytest.mark.parametrize("phi", [0.0, 0.6])
def test_noise_components_pass_at_the_same_rate_at_any_length(phi):
    """Pure-noise components (white, or temporally correlated as a real movie's can be) pass the floor at about the
    stated rate at 1,000 and at 12,000 frames: the floor follows the length and the noise's correlation."""
    rate = 0.05  # large enough to be counted on a few hundred traces
    rng = np.random.default_rng(0)
    passing = []
    for T in (1000, 12000):
        noise = _ar1(rng, 300, T, phi)
        floor = snr_floor(noise, EvaluateOptions.from_params(SNR_lowest=0.0, snr_null_rate=rate), frame_rate=FR,
                          decay_time=DECAY)
        assert floor["noise_autocorrelation"] == pytest.approx(phi, abs=0.05)
        passing.append(float(np.mean(trace_snr(noise, FR, DECAY) > floor["SNR_lowest_used"])))
    assert all(0.01 <= p <= 0.1 for p in passing), passing
    assert abs(passing[0] - passing[1]) <= 0.05, passing


def test_correlated_noise_raises_the_floor_and_a_fixed_floor_does_not_follow():
    white = snr_null_threshold(3000, FR, DECAY, 1e-3)["threshold"]
    correlated = snr_null_threshold(3000, FR, DECAY, 1e-3, autocorrelation=0.7)["threshold"]
    assert correlated > white + 0.2
    rng = np.random.default_rng(1)
    noise = _ar1(rng, 300, 3000, 0.7)
    assert np.mean(trace_snr(noise, FR, DECAY) > white) > 0.05  # the white-noise floor lets correlated noise in
    assert np.mean(trace_snr(noise, FR, DECAY) > correlated) < 0.02


def test_a_cell_with_few_transients_in_a_short_recording_is_kept():
    """75 s at 20 Hz, a cell with two transients of 5 noise SDs: a fixed floor of 2.5 rejects it; the noise floor
    (what noise reaches at this length, below 1) keeps it and rejects the noise traces."""
    rng = np.random.default_rng(2)
    T = 1500
    noise = rng.normal(size=(60, T))
    cell = rng.normal(size=T)
    kernel = np.exp(-np.arange(40) / (FR * DECAY))
    for t0 in (300, 1100):
        cell[t0:t0 + 40] += 5.0 * kernel
    snr = trace_snr(np.vstack([noise, cell[None]]), FR, DECAY)
    floor = snr_floor(noise, EvaluateOptions.from_params(SNR_lowest=0.5), frame_rate=FR, decay_time=DECAY)
    assert 0.5 < floor["SNR_lowest_used"] < 1.2 and floor["n_null_traces"] == 400
    assert floor["SNR_lowest_used"] < snr[-1] < 2.5
    assert np.mean(snr[:-1] > floor["SNR_lowest_used"]) <= 0.05


def test_floor_options():
    residuals = np.random.default_rng(3).normal(size=(5, 800))
    # a configured SNR_lowest above the noise's floor wins; null switches the noise floor off
    high = snr_floor(residuals, EvaluateOptions.from_params(SNR_lowest=2.0), frame_rate=FR, decay_time=DECAY)
    assert high["SNR_lowest_used"] == 2.0 and high["threshold"] < 2.0
    off = snr_floor(residuals, EvaluateOptions.from_params(SNR_lowest=0.5, snr_null_rate=None), frame_rate=FR,
                    decay_time=DECAY)
    assert off == {"SNR_lowest": 0.5, "SNR_lowest_used": 0.5}
    assert snr_null_threshold(800, FR, DECAY, 1e-3) == snr_null_threshold(800, FR, DECAY, 1e-3)  # seeded
    assert noise_autocorrelation(np.zeros((0, 10))) == 0.0
    with pytest.raises(ValueError, match="false_rate"):
        snr_null_threshold(800, FR, DECAY, 0.0)
