"""The evaluate step's trace SNR does not depend on the frame rate (issue 20; benchmarks/frame_rate.md).

A sensor exposed for the frame period collects 1 / rate of a second's light per frame: at the same light per
second, a 60 Hz recording's per-frame noise is sqrt(3) times a 20 Hz one's while a transient keeps its height.
CaImAn's per-frame SNR of the same cell then falls to about 0.6 of its 20 Hz value, below the thresholds set at
20 Hz; with ``snr_frame_rate`` (default 20 Hz) the SNR, its length-aware floor and so the accept decision are the
same at 20, 30 and 60 Hz.
"""

from __future__ import annotations

import numpy as np
import pytest

from ace_neuro.cnmfe.evaluate import EvaluateOptions, classify_components, snr_floor
from ace_neuro.cnmfe.snr import resample_traces, trace_snr

SECONDS, DECAY, TAU = 60.0, 0.4, 0.7


def _same_light_traces(frame_rate: float, n: int, amplitude: float, seed: int) -> np.ndarray:
    """``n`` raw traces of ``SECONDS`` s: three transients (``amplitude`` in units of a 20 Hz frame's noise,
    decay ``TAU`` s) at the same times, noise of a frame exposed for ``1 / frame_rate`` s."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(SECONDS * frame_rate)) / frame_rate
    signal = sum(amplitude * np.exp(-(t - s) / TAU) * (t >= s) for s in (10.0, 30.0, 45.0))
    return signal + np.sqrt(frame_rate / 20.0) * rng.standard_normal((n, t.size))


def test_the_same_cells_keep_their_snr_and_decision_at_any_frame_rate():
    options = EvaluateOptions.from_params()
    assert options.snr_frame_rate == 20.0
    results = {}
    for rate in (20.0, 30.0, 60.0):
        cells = _same_light_traces(rate, 100, 13.0, seed=int(rate))
        noise = _same_light_traces(rate, 100, 0.0, seed=100 + int(rate))
        snr = trace_snr(np.vstack([cells, noise]), rate, DECAY, options.snr_frame_rate)
        floor = snr_floor(noise, options, frame_rate=rate, decay_time=DECAY)
        good, _ = classify_components(snr, np.zeros(snr.size), min_SNR=options.min_SNR, rval_thr=1.0,
                                      SNR_lowest=floor["SNR_lowest_used"])
        results[rate] = (float(np.median(snr[:100])), int(np.sum(good < 100)), int(np.sum(good >= 100)),
                         floor["threshold"])
    snr20, kept20, false20, null20 = results[20.0]
    assert 3.0 < snr20 < 4.0 and kept20 >= 60 and false20 == 0, results
    for rate in (30.0, 60.0):
        # CaImAn's per-frame SNR would be 0.6 of the 20 Hz value at 60 Hz (1.95), every cell rejected
        snr, kept, false, null = results[rate]
        assert snr == pytest.approx(snr20, rel=0.12), results
        assert abs(kept - kept20) <= 20 and false == 0, results
        assert null == pytest.approx(null20, abs=0.2), results


def test_per_frame_snr_without_snr_frame_rate_falls_with_the_rate():
    """``snr_frame_rate: null`` is CaImAn's SNR at the recording's own rate: the same cell's SNR falls with the
    rate at the same light per second (what the default corrects), and a recording at or below the rate is
    measured as before, bit for bit."""
    slow, fast = _same_light_traces(20.0, 50, 13.0, seed=1), _same_light_traces(60.0, 50, 13.0, seed=2)
    assert np.median(trace_snr(fast, 60.0, DECAY)) < 0.75 * np.median(trace_snr(slow, 20.0, DECAY))
    for rate in (10.0, 15.0, 20.0):
        x = _same_light_traces(rate, 5, 7.0, seed=3)
        assert np.array_equal(trace_snr(x, rate, DECAY, 20.0), trace_snr(x, rate, DECAY))


def test_resample_traces_averages_whole_and_partial_frames():
    x = np.arange(12.0)[None]
    assert resample_traces(x, 60.0, 20.0).tolist() == [[1.0, 4.0, 7.0, 10.0]]
    assert resample_traces(x, 20.0, 20.0) is not None and np.array_equal(resample_traces(x, 15.0, 20.0), x)
    # 1.5 frames per interval: each frame counts with its overlap; the mean of a constant is kept
    assert np.allclose(resample_traces(x, 30.0, 20.0)[0, :2], [(0 + 0.5 * 1) / 1.5, (0.5 * 1 + 2) / 1.5])
    assert np.allclose(resample_traces(np.full((2, 100), 3.0), 47.0, 20.0), 3.0)
    with pytest.raises(ValueError, match="snr_rate"):
        trace_snr(x, 60.0, DECAY, 0.0)


def test_tsub_auto_averages_the_same_seconds_at_any_frame_rate():
    """Seeding frames of 0.1 s: tsub 2 at 15-20 Hz (CaImAn's demo value, the real recordings of benchmarks/real.md
    unchanged), 3 at 30 Hz, 6 at 60 Hz; the fit resolves it from the frame rate and records the number."""
    from ace_neuro.cnmfe.params import CnmfeOptions, resolve_tsub, seeding_tsub
    from ace_neuro.cnmfe.pipeline import prepare_fit
    from ace_neuro.cnmfe.reader import MovieSource

    assert [seeding_tsub(fr) for fr in (7.5, 10.0, 15.0, 20.0, 25.0, 30.0, 60.0)] == [1, 1, 2, 2, 3, 3, 6]
    options = CnmfeOptions.from_params(gSig=[3, 3], gSiz=[13, 13])
    assert options.tsub == "auto" and resolve_tsub(options, 60.0).tsub == 6
    assert resolve_tsub(options.replace(tsub=4), 60.0).tsub == 4  # a number is kept
    with pytest.raises(ValueError, match="frame rate"):
        resolve_tsub(options, None)
    source = MovieSource.from_array(np.random.default_rng(0).normal(10, 1, (60, 20, 20)).astype(np.float32))
    for rate, tsub in ((15.0, 2), (30.0, 3), (60.0, 6)):
        assert prepare_fit(source, options, frame_rate=rate, border_pix=0).options.tsub == tsub


def test_a_short_last_baseline_bin_does_not_sink_the_trace():
    """2,000 frames at 60 Hz are 666 samples at 20 Hz: bins of 133 left a last bin of one sample, whose '8th
    percentile' on a transient pulled the baseline up and a bright cell's SNR from 8 to 0.3 (the sweep's 60 Hz
    case). The remainder now joins the last bin; lengths that fill their bins are unchanged."""
    rng = np.random.default_rng(4)
    t = np.arange(1001) / 20.0
    cell = sum(6.0 * np.exp(-(t - s) / TAU) * (t >= s) for s in (5.0, 20.0, 35.0, 49.9)) + rng.standard_normal(t.size)
    whole, cut = trace_snr(cell[None, :1000], 20.0, DECAY)[0], trace_snr(cell[None], 20.0, DECAY)[0]
    assert cut == pytest.approx(whole, rel=0.15), (whole, cut)
