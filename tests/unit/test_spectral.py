"""Multitaper spectrogram, band-pass and Hilbert phase against known answers."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pandas as pd
import pytest
from scipy import signal
from scipy.signal.windows import dpss

from ace_neuro.postprocess.spectral import (
    bandpass_filter,
    hilbert_phase,
    auto_window_params,
    multitaper_spectrogram,
    power_to_db,
    regularize_samples,
)

FS = 20.0


def test_chirp_peaks_at_its_instantaneous_frequency():
    t = np.arange(int(600 * FS)) / FS
    f0, f1 = 1.0, 8.0
    x = signal.chirp(t, f0=f0, t1=t[-1], f1=f1, method="linear")
    x += 0.1 * np.random.default_rng(0).standard_normal(t.size)
    spec = multitaper_spectrogram(x, FS, window_params=(30, 3), freq_range=(0, 15))
    assert spec.frequencies[-1] == pytest.approx(FS / 2)  # clipped to Nyquist
    expected = f0 + (f1 - f0) * spec.times / t[-1]
    peak = spec.frequencies[np.argmax(spec.power, axis=0)]
    # resolution 2 NW / window = 0.13 Hz; the chirp moves 0.35 Hz within one window
    assert np.max(np.abs(peak - expected)) < 0.25


def test_two_tones_switching_halfway_peak_at_the_right_frequency_and_time():
    t = np.arange(int(300 * FS)) / FS
    x = np.where(t < 150, np.sin(2 * np.pi * 2.0 * t), 0.5 * np.sin(2 * np.pi * 5.0 * t))
    spec = multitaper_spectrogram(x, FS)
    peak = spec.frequencies[np.argmax(spec.power, axis=0)]
    first = spec.times + 15 < 150  # windows entirely in the first half
    second = spec.times - 15 > 150
    assert np.all(np.abs(peak[first] - 2.0) < 0.05)
    assert np.all(np.abs(peak[second] - 5.0) < 0.05)
    # power of a sinusoid A sin: A^2 / 2 in total, spread over the taper band
    df = spec.frequencies[1] - spec.frequencies[0]
    total = spec.power.sum(axis=0) * df
    assert total[first] == pytest.approx(0.5, rel=0.05)
    assert total[second] == pytest.approx(0.125, rel=0.05)


def test_white_noise_level_is_one_sided_psd():
    sigma = 3.0
    x = sigma * np.random.default_rng(1).standard_normal(int(900 * FS))
    spec = multitaper_spectrogram(x, FS, freq_range=(0, FS / 2))
    inner = (spec.frequencies > 0.5) & (spec.frequencies < FS / 2 - 0.5)
    assert spec.power[inner].mean() == pytest.approx(2 * sigma**2 / FS, rel=0.03)
    assert np.all(np.isfinite(power_to_db(spec.power)))


@pytest.mark.parametrize("weighting", ["unity", "eigen"])
def test_matches_taper_averaged_scipy_spectrograms(weighting):
    """Independent implementation: scipy.signal.spectrogram with each DPSS taper as window."""
    rng = np.random.default_rng(2)
    n = int(200 * FS)
    x = np.cumsum(rng.standard_normal(n)) * 0.05 + np.sin(2 * np.pi * 0.7 * np.arange(n) / FS)
    window_s, step_s, nw, k = 30.0, 3.0, 2.0, 3
    ours = multitaper_spectrogram(
        x, FS, window_params=(window_s, step_s), time_bandwidth=nw, num_tapers=k,
        freq_range=(0, 10), weighting=weighting,
    )
    n_win, n_step = int(window_s * FS), int(step_s * FS)
    tapers, ratios = dpss(n_win, nw, Kmax=k, return_ratios=True)
    weights = np.full(k, 1 / k) if weighting == "unity" else ratios / ratios.sum()
    reference = 0
    for taper, weight in zip(tapers, weights):
        f, t, sxx = signal.spectrogram(
            x, fs=FS, window=taper, nperseg=n_win, noverlap=n_win - n_step, nfft=1024,
            detrend="constant", scaling="density", mode="psd",
        )
        reference = reference + weight * sxx
    assert ours.nfft == 1024
    np.testing.assert_allclose(ours.frequencies, f)
    np.testing.assert_allclose(ours.times, t, atol=0.5 / FS)
    np.testing.assert_allclose(ours.power, reference, rtol=1e-9, atol=1e-12 * reference.max())


def test_matches_direct_dft_loop_with_linear_detrend():
    rng = np.random.default_rng(3)
    n = int(90 * FS)
    x = 0.02 * np.arange(n) + rng.standard_normal(n)
    ours = multitaper_spectrogram(x, FS, window_params=(20, 10), detrend_opt="linear", freq_range=(0.5, 4))
    n_win = int(20 * FS)
    tapers = dpss(n_win, 2.0, Kmax=3)
    nfft = 512
    for w, start in enumerate(range(0, n - n_win + 1, int(10 * FS))):
        seg = x[start : start + n_win]
        ramp = np.arange(n_win)
        slope, intercept = np.polyfit(ramp, seg, 1)
        seg = seg - (intercept + slope * ramp)
        for i, freq in enumerate(ours.frequencies):
            m = int(round(freq * nfft / FS))
            basis = np.exp(-2j * np.pi * m * ramp / nfft)
            periodograms = [abs(np.sum(seg * taper * basis)) ** 2 for taper in tapers]
            assert ours.power[i, w] == pytest.approx(2 * np.mean(periodograms) / FS, rel=1e-9)


def test_several_signals_at_once_match_one_by_one():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, int(120 * FS)))
    together = multitaper_spectrogram(x, FS, memory_budget_mb=0.05)  # several blocks of windows
    for i in range(3):
        alone = multitaper_spectrogram(x[i], FS)
        np.testing.assert_allclose(together.power[i], alone.power)


def test_nonsense_spectrogram_parameters_give_clear_errors():
    x = np.zeros(int(20 * FS))
    with pytest.raises(ValueError, match=r"window of 30 s .* longer than the recording .* 20 s.*leave window_params unset"):
        multitaper_spectrogram(x, FS, window_params=(30, 3))  # set explicitly: not adapted
    with pytest.raises(ValueError, match="at or above the Nyquist frequency 10 Hz"):
        multitaper_spectrogram(x, FS, window_params=(5, 1), freq_range=(12, 15))
    with pytest.raises(ValueError, match="0 <= low < high"):
        multitaper_spectrogram(x, FS, window_params=(5, 1), freq_range=(5, 2))
    with pytest.raises(ValueError, match="window_params"):
        multitaper_spectrogram(x, FS, window_params=(5, -1))
    with pytest.raises(ValueError, match="NaN"):
        multitaper_spectrogram(np.full(400, np.nan), FS, window_params=(5, 1))


def test_bandpass_passes_the_band_and_rejects_outside():
    t = np.arange(int(300 * FS)) / FS
    inside = np.sin(2 * np.pi * 0.5 * t)
    fast = np.sin(2 * np.pi * 5.0 * t)
    slow = np.sin(2 * np.pi * 0.005 * t)
    middle = slice(int(30 * FS), -int(30 * FS))
    out = bandpass_filter(inside + fast + slow, FS, lowcut=0.1, highcut=1.5, filter_order=2)
    np.testing.assert_allclose(out[middle], inside[middle], atol=0.06)
    # zero phase: no lag between input and output of the in-band tone
    lag = np.argmax(signal.correlate(out[middle], inside[middle], mode="full")) - (inside[middle].size - 1)
    assert lag == 0


def test_bandpass_errors_name_the_problem():
    x = np.zeros(1000)
    with pytest.raises(ValueError, match="highcut 12 Hz is at or above the Nyquist frequency 10 Hz"):
        bandpass_filter(x, FS, lowcut=0.1, highcut=12)
    with pytest.raises(ValueError, match="0 < lowcut < highcut"):
        bandpass_filter(x, FS, lowcut=2, highcut=1)
    with pytest.raises(ValueError, match="too short"):
        bandpass_filter(np.zeros(10), FS)


def test_phase_of_a_sinusoid_advances_at_its_frequency():
    freq = 0.4
    t = np.arange(int(200 * FS)) / FS
    x = 3.0 * np.cos(2 * np.pi * freq * t + 0.3) + 10.0  # offset removed by the band-pass
    phase, amplitude = hilbert_phase(bandpass_filter(x, FS, lowcut=0.1, highcut=1.5))
    middle = slice(int(20 * FS), -int(20 * FS))
    rate = np.polyfit(t[middle], np.unwrap(phase[middle]), 1)[0]
    assert rate == pytest.approx(2 * np.pi * freq, rel=1e-3)
    wrapped_error = np.angle(np.exp(1j * (phase[middle] - (2 * np.pi * freq * t[middle] + 0.3))))
    assert np.max(np.abs(wrapped_error)) < 0.05
    assert np.median(amplitude[middle]) == pytest.approx(3.0, rel=0.02)
    assert np.all((phase > -np.pi - 1e-12) & (phase <= np.pi + 1e-12))


def test_regularize_samples_fills_dropped_frames_on_the_acquisition_grid():
    full = np.arange(20, dtype=float) ** 1.0 * 2.0
    written = np.array([0, 1, 2, 5, 6, 7, 8, 9, 12, 13, 14, 15, 16, 17, 18, 19])
    dropped = np.diff(np.concatenate([[-1], written])) - 1
    uniform, positions = regularize_samples(full[written], dropped)
    np.testing.assert_array_equal(positions, written)
    np.testing.assert_allclose(uniform, full)
    with pytest.raises(ValueError, match="dropped_before has 3 entries but there are 16 frames"):
        regularize_samples(full[written], [0, 0, 0])


def _write_recording(tmp_path, values, time_s, dropped, fs):
    frames = pd.DataFrame({
        "frame": np.arange(values.size), "time_s": time_s, "timestamp_ms": np.round(time_s * 1000),
        "file": "0.avi", "frame_in_file": np.arange(values.size), "dropped_before": dropped,
    })
    frames.to_csv(tmp_path / "frames.csv", index=False)
    pd.DataFrame({"frame": frames["frame"], "time_s": time_s, "mean_fluorescence": values}).to_csv(
        tmp_path / "mean_fluorescence.csv", index=False
    )
    (tmp_path / "metadata.json").write_text(json.dumps({"frame_rate_hz": fs}))


def test_spectral_step_writes_all_outputs(tmp_path):
    from ace_neuro.params import defaults
    from ace_neuro.postprocess.spectral_step import run_spectral_step

    fs = 15.0
    n = int(240 * fs)
    t_all = np.arange(n) / fs
    x_all = 100 + 2 * np.sin(2 * np.pi * 0.5 * t_all) + 0.5 * np.sin(2 * np.pi * 3.0 * t_all)
    written = np.ones(n, bool)
    written[np.random.default_rng(5).choice(np.arange(1, n), 40, replace=False)] = False
    keep = np.flatnonzero(written)
    dropped = np.diff(np.concatenate([[-1], keep])) - 1
    _write_recording(tmp_path, x_all[keep], t_all[keep], dropped, fs)
    out = tmp_path / "spectral"
    params = defaults("spectral")
    run_spectral_step(
        tmp_path / "mean_fluorescence.csv", tmp_path / "frames.csv", tmp_path / "metadata.json",
        out / "spectrogram.h5", out / "phase.csv", out / "filtered.csv", out / "spectrogram.png", **params,
    )
    with h5py.File(out / "spectrogram.h5") as h5:
        power = h5["power_db"][()]
        freqs = h5["frequencies_hz"][()]
        times = h5["times_s"][()]
        assert json.loads(h5.attrs["parameters"])["window_params"] is None  # the default: adapted to the recording
        assert list(h5.attrs["window_params_used"]) == [30.0, 3.0]
        assert h5.attrs["n_interpolated_frames"] == 40
    assert power.shape == (freqs.size, times.size)
    assert freqs[-1] == pytest.approx(7.5)  # 15 Hz clipped to Nyquist
    assert times[0] == pytest.approx(15.0, abs=0.1)
    mean_db = power.mean(axis=1)
    peaks = freqs[signal.find_peaks(mean_db, prominence=10)[0]]
    assert np.any(np.abs(peaks - 0.5) < 0.05) and np.any(np.abs(peaks - 3.0) < 0.05)
    phase = pd.read_csv(out / "phase.csv")
    filtered = pd.read_csv(out / "filtered.csv")
    assert list(phase.columns) == ["frame", "time_s", "phase_rad", "amplitude"]
    assert list(filtered.columns) == ["frame", "time_s", "filtered"]
    assert len(phase) == len(filtered) == keep.size
    middle = slice(300, -300)
    expected = 2 * np.sin(2 * np.pi * 0.5 * t_all[keep])
    np.testing.assert_allclose(filtered["filtered"].to_numpy()[middle], expected[middle], atol=0.15)
    expected_phase = 2 * np.pi * 0.5 * t_all[keep] - np.pi / 2  # sin = cos(. - pi/2)
    error = np.angle(np.exp(1j * (phase["phase_rad"].to_numpy() - expected_phase)))[middle]
    assert np.max(np.abs(error)) < 0.1
    assert (out / "spectrogram.png").read_bytes()[:4] == b"\x89PNG"


def test_spectral_step_rejects_band_above_nyquist(tmp_path):
    from ace_neuro.params import defaults
    from ace_neuro.postprocess.spectral_step import run_spectral_step

    fs = 2.0
    t = np.arange(200) / fs
    _write_recording(tmp_path, np.sin(t), t, np.zeros(200, int), fs)
    out = tmp_path / "spectral"
    with pytest.raises(ValueError, match="highcut 1.5 Hz is at or above the Nyquist frequency 1 Hz"):
        run_spectral_step(
            tmp_path / "mean_fluorescence.csv", tmp_path / "frames.csv", tmp_path / "metadata.json",
            out / "spectrogram.h5", out / "phase.csv", out / "filtered.csv", out / "spectrogram.png",
            **defaults("spectral"),
        )
    assert not out.exists() or not any(out.iterdir())


def test_spectral_step_per_neuron_spectrograms(tmp_path):
    import scipy.sparse

    from ace_neuro.cnmfe.estimates import Estimates

    from ace_neuro.cnmfe.estimates_file import save_estimates
    from ace_neuro.params import defaults
    from ace_neuro.postprocess.spectral_step import run_spectral_step

    fs = 10.0
    n = int(120 * fs)
    t = np.arange(n) / fs
    _write_recording(tmp_path, np.sin(2 * np.pi * 1.0 * t), t, np.zeros(n, int), fs)
    traces = np.stack([np.sin(2 * np.pi * f * t) for f in (0.5, 2.0, 3.0)]).astype(np.float32)
    est = Estimates(
        A=scipy.sparse.random(16, 3, density=0.5, format="csc", random_state=0, dtype=np.float32),
        C=traces, dims=(4, 4), frame_rate=fs,
        idx_components=np.array([0, 2]), idx_components_bad=np.array([1]),
    )
    save_estimates(est, tmp_path / "estimates.h5")
    params = dict(defaults("spectral"), spectral_per_neuron=True, window_params=[20.0, 5.0])
    out = tmp_path / "spectral"
    run_spectral_step(
        tmp_path / "mean_fluorescence.csv", tmp_path / "frames.csv", tmp_path / "metadata.json",
        out / "spectrogram.h5", out / "phase.csv", out / "filtered.csv", out / "spectrogram.png", **params,
        estimates_path=tmp_path / "estimates.h5",
    )
    with h5py.File(out / "spectrogram.h5") as h5:
        np.testing.assert_array_equal(h5["neuron_index"][()], [0, 2])
        power = h5["neuron_power_db"][()]
        freqs = h5["frequencies_hz"][()]
        assert power.shape == (2,) + h5["power_db"].shape
        assert freqs[np.argmax(h5["power_db"][()].mean(axis=1))] == pytest.approx(1.0, abs=0.1)  # half-bandwidth NW/T
    peaks = freqs[np.argmax(power.mean(axis=2), axis=1)]
    np.testing.assert_allclose(peaks, [0.5, 3.0], atol=0.1)


def test_default_window_adapts_to_a_short_recording(caplog):
    t = np.arange(int(10 * FS)) / FS  # a 10 s pilot recording
    x = np.sin(2 * np.pi * 2.0 * t)
    with caplog.at_level("WARNING"):
        spec = multitaper_spectrogram(x, FS)
    assert spec.window_params == (5.0, 0.5)
    assert spec.times.size == 11 and spec.times[0] == pytest.approx((5.0 * FS - 1) / 2 / FS)
    assert abs(spec.frequencies[np.argmax(spec.power.mean(axis=1))] - 2.0) < 0.5
    assert "less than the default 30 s spectrogram window: using a 5 s window stepped by 0.5 s" in caplog.text
    caplog.clear()
    long = multitaper_spectrogram(np.sin(2 * np.pi * 2.0 * np.arange(int(60 * FS)) / FS), FS)
    assert long.window_params == (30.0, 3.0) and "spectrogram window" not in caplog.text


def test_auto_window_too_short_recording_says_so():
    assert auto_window_params(int(40 * FS), FS) == (30.0, 3.0)
    with pytest.raises(ValueError, match=r"too short for a multitaper spectrogram .* at least 5 samples"):
        auto_window_params(8, FS, time_bandwidth=2.0, num_tapers=3)
