"""The trace SNR's window from the fit's own kernels (cnmfe/snr_window.py, ``evaluate.snr_decay_time``)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ace_neuro.cnmfe.snr import trace_snr
from ace_neuro.cnmfe.snr_window import (
    DECAY_BOUNDS_S,
    MIN_KERNELS,
    kernel_decay_times,
    measured_decay_time,
    snr_window,
    snr_window_samples,
    threshold_for_window,
)
from ace_neuro.cnmfe.temporal import deconvolve_trace, fallback_kernel
from ace_neuro.cnmfe.trace_stats import ar1_filter

FR = 20.0


def _kernels(decay_s: float, n: int, frame_rate: float = FR) -> np.ndarray:
    """``(n, 1)`` AR(1) kernels of this decay, float32 as the estimates store them."""
    return np.full((n, 1), math.exp(-1.0 / (decay_s * frame_rate)), np.float32)


@pytest.mark.parametrize("decay_s", [0.3, 1.2])
def test_measured_decay_follows_the_kernels_fitted_to_traces_of_a_known_decay(decay_s):
    rng = np.random.default_rng(1)
    n, n_frames = 12, 3000
    spikes = (rng.random((n, n_frames)) < 0.3 / FR) * rng.uniform(0.5, 1.5, (n, n_frames))
    traces = 10.0 * ar1_filter(spikes, math.exp(-1.0 / (decay_s * FR))) + rng.standard_normal((n, n_frames))
    g = np.array([deconvolve_trace(y, 1, 1.0, 0.4 * FR)[3] for y in traces])  # the fit's own kernels
    d = measured_decay_time(g, np.ones(n, bool), FR, 0.4)
    # the fit shrinks the kernel's root by 0.98 (CaImAn's fudge factor): the kernel C follows decays this fast
    fitted = -1.0 / (FR * math.log(0.98 * math.exp(-1.0 / (decay_s * FR))))
    assert d["source"] == "measured" and d["n_kernels"] == n and d["n_fallback_kernels"] == 0
    assert abs(d["decay_time"] - fitted) < 0.25 * fitted  # 0.32 s for 0.27 s, 0.85 s for 0.81 s
    window = snr_window("auto", g=g, reference_snr=np.full(n, 4.0), r_values=np.full(n, 0.9), frame_rate=FR,
                        decay_time=0.4, snr_rate=20.0, rval_thr=0.85, rval_lowest=-1.0, min_SNR=3.0, SNR_lowest=2.2)
    assert window["window_samples"] == math.ceil(FR * window["decay_time"]) and window["reference_window_samples"] == 8
    assert window["decay_time"] == round(d["decay_time"], 4)


def test_only_the_confident_components_and_no_fallback_kernels_are_measured():
    fallback = np.tile(fallback_kernel(1, 0.4 * FR).astype(np.float32), (8, 1))  # what the fit gives a flat trace
    g = np.concatenate([_kernels(1.0, MIN_KERNELS), _kernels(0.3, 6), _kernels(2.5, 5), fallback])
    snr = np.concatenate([np.full(MIN_KERNELS, 4.0), np.full(6, 2.0), np.full(5, 5.0), np.full(8, 6.0)])
    r = np.concatenate([np.full(MIN_KERNELS, 0.9), np.full(6, 0.95), np.full(5, 0.5), np.full(8, 0.95)])
    # dim components (SNR <= min_SNR) and those failing rval_thr are not measured, nor the fallback kernels
    w = snr_window("auto", g=g, reference_snr=snr, r_values=r, frame_rate=FR, decay_time=0.4, snr_rate=20.0,
                   rval_thr=0.85, rval_lowest=-1.0, min_SNR=3.0, SNR_lowest=2.2)
    d = w["measured"]
    assert d["source"] == "measured" and d["n_kernels"] == MIN_KERNELS and d["n_fallback_kernels"] == 8
    assert d["n_selected"] == MIN_KERNELS + 8 and d["decay_time"] == pytest.approx(1.0, rel=1e-4)
    assert w["decay_time"] == 1.0 and w["window_samples"] == 20
    snr[:MIN_KERNELS] = np.nan  # no SNR: not measured
    w = snr_window("auto", g=g, reference_snr=snr, r_values=r, frame_rate=FR, decay_time=0.4, snr_rate=20.0,
                   rval_thr=0.85, rval_lowest=-1.0, min_SNR=3.0, SNR_lowest=2.2)
    assert w["measured"]["n_kernels"] == 0 and w["decay_time"] == 0.4


def test_measured_decay_is_bounded():
    n = MIN_KERNELS
    slow = measured_decay_time(_kernels(10.0, n), np.ones(n, bool), FR, 0.4)
    fast = measured_decay_time(_kernels(0.02, n), np.ones(n, bool), FR, 0.4)
    assert slow["decay_time"] == DECAY_BOUNDS_S[1] and slow["median_s"] > 9
    assert fast["decay_time"] == DECAY_BOUNDS_S[0] and fast["median_s"] < 0.03


def test_kernel_decay_times_of_ar2_and_no_kernels():
    rise, decay = math.exp(-1 / 2.0), math.exp(-1 / 30.0)  # roots of an AR(2) kernel: 2 and 30 frames
    g = np.array([[rise + decay, -rise * decay], [0.0, 0.0], [1.2, -0.1]])
    out = kernel_decay_times(g, 15.0)
    assert out[0] == pytest.approx(2.0) and np.isnan(out[1]) and np.isnan(out[2])  # 30 frames at 15 Hz; none; unstable
    assert kernel_decay_times(np.zeros((3, 0)), 15.0).shape == (3,)


def test_thresholds_for_the_window_predict_the_estimator_on_noisy_traces():
    """A threshold re-expressed for a window is what the estimator gives, under that window, the noisy traces whose
    SNR under the reference window is the threshold: one exponential transient near SNR_lowest in Gaussian noise."""
    rng = np.random.default_rng(0)
    rate, decay_s, n_frames = 15.0, 1.5, 3000
    x = rng.standard_normal((50, n_frames))
    x[:, 1500:] += 3 * 2.5 * np.exp(-np.arange(n_frames - 1500) / (decay_s * rate))  # 7.5 noise SDs
    reference = trace_snr(x, rate, 0.4)
    matched = trace_snr(x, rate, decay_s)
    window = snr_window_samples(rate, decay_s)
    predicted = np.array([threshold_for_window(v, decay_s * rate, window, 6) for v in reference])
    assert 2.0 < reference.mean() < 2.5  # near SNR_lowest 2.2 under CaImAn's window
    assert abs(predicted.mean() - matched.mean()) < 0.05 and matched.mean() < reference.mean() - 0.4
    assert threshold_for_window(2.2, decay_s * rate, 6, 6) == 2.2 and threshold_for_window(0.0, 20.0, 30, 6) == 0.0


def _fixed(seconds, frame_rate, snr_rate=20.0):
    """``snr_window`` for a window of ``seconds`` (no measurement), thresholds 3.0 / 2.2 for CaImAn's 0.4 s."""
    return snr_window(seconds, g=None, reference_snr=np.zeros(0), r_values=np.zeros(0), frame_rate=frame_rate,
                      decay_time=0.4, snr_rate=snr_rate, rval_thr=0.85, rval_lowest=-1.0, min_SNR=3.0, SNR_lowest=2.2)


def test_thresholds_follow_the_window_both_ways():
    # a fast indicator (0.2 s) shortens the window: the same transient's SNR under it is higher
    fast, slow = _fixed(0.2, FR), _fixed(1.54, 15.0)
    assert fast["window_samples"] == 4 and fast["SNR_lowest"] > 2.2 and fast["min_SNR"] > 3.0
    assert slow["window_samples"] == 24 and slow["sample_rate"] == 15.0
    assert slow["SNR_lowest"] == pytest.approx(1.6, abs=0.01) and slow["min_SNR"] == pytest.approx(2.18, abs=0.01)
    # a 60 Hz recording is measured at snr_frame_rate: the same window in seconds
    at_60 = _fixed(1.54, 60.0)
    assert at_60["sample_rate"] == 20.0 and at_60["window_samples"] == 31 and at_60["reference_window_samples"] == 8
    with pytest.raises(ValueError, match="snr_decay_time"):
        _fixed("fast", FR)


def test_the_measured_window_imports_neither_oasis_nor_scipy_signal_stats():
    """evaluate's SNR window at run time: the fallback kernel from its own module (not the fit's temporal module, which
    imports OASIS, scipy.signal and scipy.stats: ~1 CPU s)."""
    import subprocess
    import sys

    code = ("import sys\nimport numpy as np\n"
            "from ace_neuro.cnmfe.snr_window import measured_decay_time, threshold_for_window\n"
            "g = np.full((12, 1), np.exp(-1 / 24.0))\n"
            "assert measured_decay_time(g, np.ones(12, bool), 20.0, 0.4)['source'] == 'measured'\n"
            "assert measured_decay_time(g[:5], np.ones(5, bool), 20.0, 0.4)['source'] == 'fallback'\n"
            "threshold_for_window(2.2, 23.1, 24, 6)\n"
            "print(sorted(m for m in sys.modules if m in ('oasis', 'scipy.signal', 'scipy.stats')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
