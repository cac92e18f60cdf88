"""Event detection against synthetic calcium traces with known spike times."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import scipy.sparse

from ace_neuro.postprocess.events import (
    detect_events_deconvolution,
    detect_events_derivative,
    robust_std,
    trace_noise,
)

FR = 20.0
TAU_S = 0.6  # GCaMP-like decay


def _spike_trains(rng, n_neurons, n_frames, rate_hz=0.15, refractory_s=1.0):
    """Sparse spike frames per neuron, at least ``refractory_s`` apart."""
    trains = []
    for _ in range(n_neurons):
        frames, t = [], int(rng.integers(5, 40))
        while True:
            t += int(round(refractory_s * FR)) + int(rng.exponential(1.0 / rate_hz) * FR)
            if t >= n_frames - 5:
                break
            frames.append(t)
        trains.append(np.asarray(frames, np.int64))
    return trains


def _synthetic(seed=0, n_neurons=6, n_frames=3000, snr=(10.0, 16.0)):
    """AR(1) calcium traces with very different scales; jumps of snr * noise."""
    rng = np.random.default_rng(seed)
    g = np.exp(-1.0 / (FR * TAU_S))
    trains = _spike_trains(rng, n_neurons, n_frames)
    scales = np.geomspace(0.01, 100.0, n_neurons)  # 4 orders of magnitude between neurons
    clean = np.zeros((n_neurons, n_frames))
    spikes = np.zeros((n_neurons, n_frames))
    for k, frames in enumerate(trains):
        spikes[k, frames] = rng.uniform(*snr, frames.size) * scales[k]
        c = 0.0
        for t in range(n_frames):
            c = g * c + spikes[k, t]
            clean[k, t] = c
    noise = rng.standard_normal((n_neurons, n_frames)) * scales[:, None]
    baseline = rng.uniform(-2, 2, n_neurons)[:, None] * scales[:, None]
    return trains, clean, clean + noise + baseline, scales, g


def _recall_precision(true_frames, detected_frames, tolerance=2):
    """One-to-one matching of event frames within ``tolerance`` frames."""
    detected = sorted(int(f) for f in detected_frames)
    used = set()
    hits = 0
    for t in true_frames:
        candidates = [i for i, d in enumerate(detected) if abs(d - t) <= tolerance and i not in used]
        if candidates:
            used.add(min(candidates, key=lambda i: abs(detected[i] - t)))
            hits += 1
    recall = hits / max(len(true_frames), 1)
    precision = hits / max(len(detected), 1) if detected else (1.0 if not true_frames.size else 0.0)
    return recall, precision


def _per_neuron(events, k):
    return events.frame[events.neuron == k]


def _oasis(raw, g):
    from oasis.functions import deconvolve

    denoised, activity = [], []
    for y in raw:
        c, s, b, _, _ = deconvolve(y, tau_d=TAU_S, framerate=FR, penalty=1)
        denoised.append(c)
        activity.append(s)
    return np.asarray(denoised), np.asarray(activity)


@pytest.fixture(scope="module")
def synthetic():
    trains, clean, raw, scales, g = _synthetic()
    denoised, activity = _oasis(raw, g)
    return trains, clean, raw, scales, g, denoised, activity


def test_robust_std_matches_gaussian_sigma_and_ignores_sparse_spikes():
    rng = np.random.default_rng(1)
    x = rng.normal(0, 2.5, 20000)
    x[rng.choice(x.size, 200, replace=False)] += 100.0  # 1 % huge outliers
    assert robust_std(x) == pytest.approx(2.5, rel=0.05)
    assert np.std(x) > 9  # the plain standard deviation is ruined
    traces = np.cumsum(rng.normal(0, 0.01, (2, 5000)), axis=1) + rng.normal(0, 0.3, (2, 5000))
    assert trace_noise(traces) == pytest.approx([0.3, 0.3], rel=0.08)


def test_first_derivative_event_is_at_the_frame_of_the_rise():
    trace = np.zeros((1, 100))
    trace[0, 40:] = 1.0  # a step appearing at frame 40
    events = detect_events_derivative(trace, derivative="first", height=0.5, threshold_mode="absolute")
    assert events.frame.tolist() == [40]
    assert events.amplitude.tolist() == [1.0]
    events = detect_events_derivative(trace + np.arange(100) * 0.0, derivative="second", height=0.5,
                                      threshold_mode="absolute")
    assert events.frame.tolist() == [40]  # last frame of the stencil: where the rise appears


@pytest.mark.parametrize("derivative", ["first", "zeroth"])
def test_derivative_method_on_denoised_traces_recovers_spike_times(synthetic, derivative):
    trains, _, raw, _, _, denoised, _ = synthetic
    height = 4.0 if derivative == "first" else 5.0
    events = detect_events_derivative(
        denoised, derivative=derivative, height=height, distance=int(0.2 * FR), noise_traces=raw
    )
    for k, true in enumerate(trains):
        recall, precision = _recall_precision(true, _per_neuron(events, k))
        if derivative == "first":
            assert recall >= 0.9 and precision >= 0.9, (k, recall, precision)
        else:
            # the trace's peak lags the spike by the rise; within two frames for fast rises
            assert recall >= 0.8 and precision >= 0.8, (k, recall, precision)


def test_derivative_method_on_raw_traces_recovers_spike_times(synthetic):
    trains, _, raw, _, _, _, _ = synthetic
    events = detect_events_derivative(raw, derivative="first", height=4.0, distance=int(0.2 * FR))
    for k, true in enumerate(trains):
        recall, precision = _recall_precision(true, _per_neuron(events, k))
        assert recall >= 0.9 and precision >= 0.85, (k, recall, precision)


def test_deconvolution_method_recovers_spike_times(synthetic):
    trains, _, raw, _, _, _, activity = synthetic
    events = detect_events_deconvolution(activity, height=3.0, distance=int(0.2 * FR), noise=trace_noise(raw))
    for k, true in enumerate(trains):
        recall, precision = _recall_precision(true, _per_neuron(events, k))
        assert recall >= 0.9 and precision >= 0.9, (k, recall, precision)
    # amplitudes are the summed activity: the size of the calcium jump, in trace units
    ratios, pairs = [], []
    for k, true in enumerate(trains):
        spikes = synthetic[1][k]  # clean trace: jump at frame t is clean[t] - g * clean[t - 1]
        jumps = spikes[true] - synthetic[4] * spikes[true - 1]
        sel = events.neuron == k
        for t, jump in zip(true, jumps):
            near = np.flatnonzero(sel & (np.abs(events.frame - t) <= 2))
            if near.size:
                ratios.append(events.amplitude[near[0]] / jump)
                pairs.append((jump / synthetic[3][k], events.amplitude[near[0]] / synthetic[3][k]))
    assert 0.6 < np.median(ratios) < 1.15
    pairs = np.asarray(pairs)
    assert np.corrcoef(pairs[:, 0], pairs[:, 1])[0, 1] > 0.7


def test_deconvolution_merges_a_spike_split_over_adjacent_frames():
    activity = np.zeros((1, 50))
    activity[0, 10:12] = [0.6, 0.5]  # each below the threshold of 1.0, together above
    activity[0, 30] = 0.3  # below
    events = detect_events_deconvolution(activity, height=1.0, threshold_mode="absolute")
    assert events.frame.tolist() == [10]
    assert events.amplitude.tolist() == pytest.approx([1.1])


def test_noise_threshold_is_scale_free_and_absolute_is_not(synthetic):
    _, _, raw, _, _, _, _ = synthetic
    events = detect_events_derivative(raw[:1], derivative="first", height=4.0, distance=4)
    scaled = detect_events_derivative(raw[:1] * 1e4, derivative="first", height=4.0, distance=4)
    assert events.frame.tolist() == scaled.frame.tolist()
    assert events.frame.size > 5
    absolute = detect_events_derivative(raw[:1] * 1e4, derivative="first", height=4.0, distance=4,
                                        threshold_mode="absolute")
    assert absolute.frame.size > 5 * events.frame.size  # absolute 4.0 is deep in the noise at that scale


def test_empty_and_invalid_inputs():
    empty = detect_events_derivative(np.zeros((0, 100)))
    assert empty.frame.size == 0 and empty.neuron.dtype == np.int64
    assert detect_events_deconvolution(np.zeros((0, 100)), noise=np.zeros(0)).frame.size == 0
    with pytest.raises(ValueError, match="derivative must be one of"):
        detect_events_derivative(np.zeros((1, 100)), derivative="third")
    with pytest.raises(ValueError, match="needs the noise"):
        detect_events_deconvolution(np.zeros((1, 100)))
    with pytest.raises(ValueError, match="2-D array"):
        detect_events_derivative(np.zeros(100))
    with pytest.raises(ValueError, match="NaN"):
        detect_events_derivative(np.full((1, 100), np.nan))


def _write_inputs(tmp_path, C, S, YrA, accepted):
    from ace_neuro.cnmfe.estimates import Estimates
    from ace_neuro.cnmfe.estimates_file import save_estimates

    K, T = C.shape
    dims = (8, 8)
    A = scipy.sparse.random(dims[0] * dims[1], K, density=0.2, format="csc", random_state=0, dtype=np.float32)
    rejected = np.setdiff1d(np.arange(K), accepted)
    est = Estimates(
        A=A, C=C.astype(np.float32), dims=dims, frame_rate=FR, S=S.astype(np.float32),
        YrA=YrA.astype(np.float32), idx_components=np.asarray(accepted, np.int64),
        idx_components_bad=rejected.astype(np.int64),
    )
    save_estimates(est, tmp_path / "estimates.h5")
    frames = pd.DataFrame({
        "frame": np.arange(T), "time_s": np.arange(T) / FR + 0.5, "timestamp_ms": np.arange(T) * 50,
        "file": "0.avi", "frame_in_file": np.arange(T), "dropped_before": 0,
    })
    frames.to_csv(tmp_path / "frames.csv", index=False)
    (tmp_path / "metadata.json").write_text(json.dumps({"frame_rate_hz": FR}))


def test_events_step_writes_table_and_raster(tmp_path, synthetic):
    from ace_neuro.params import defaults
    from ace_neuro.postprocess.events_step import run_events_step

    trains, _, raw, _, _, denoised, activity = synthetic
    accepted = [0, 2, 3, 5]  # components 1 and 4 rejected
    _write_inputs(tmp_path, denoised, activity, raw - denoised, accepted)
    params = defaults("events")
    counts = run_events_step(tmp_path / "estimates.h5", tmp_path / "frames.csv", tmp_path / "metadata.json",
                             tmp_path / "out" / "events.csv", tmp_path / "out" / "raster.png", **params)
    written = pd.read_csv(tmp_path / "out" / "events.csv")
    assert list(written.columns) == ["neuron", "frame", "time_s", "amplitude", "method"]
    assert len(written) == sum(counts.values()) > 0
    assert counts == written["method"].value_counts().to_dict()
    assert set(written["neuron"]) == set(accepted)
    assert set(written["method"]) == {"derivative", "deconvolution"}
    assert np.allclose(written["time_s"], written["frame"] / FR + 0.5)
    for method in ("derivative", "deconvolution"):
        for k in accepted:
            frames = written[(written.method == method) & (written.neuron == k)]["frame"].to_numpy()
            recall, precision = _recall_precision(trains[k], frames)
            assert recall >= 0.85 and precision >= 0.85, (method, k, recall, precision)
    png = (tmp_path / "out" / "raster.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_events_step_with_no_neurons_writes_empty_outputs(tmp_path):
    from ace_neuro.params import defaults
    from ace_neuro.postprocess.events_step import run_events_step

    _write_inputs(tmp_path, np.zeros((0, 200)), np.zeros((0, 200)), np.zeros((0, 200)), [])
    run_events_step(tmp_path / "estimates.h5", tmp_path / "frames.csv", tmp_path / "metadata.json",
                    tmp_path / "events.csv", tmp_path / "raster.png", **defaults("events"))
    written = pd.read_csv(tmp_path / "events.csv")
    assert len(written) == 0 and list(written.columns) == ["neuron", "frame", "time_s", "amplitude", "method"]
    assert (tmp_path / "raster.png").stat().st_size > 0


def test_events_step_rejects_mismatched_frame_count(tmp_path, synthetic):
    from ace_neuro.params import defaults
    from ace_neuro.postprocess.events_step import run_events_step

    _, _, raw, _, _, denoised, activity = synthetic
    _write_inputs(tmp_path, denoised[:, :500], activity[:, :500], (raw - denoised)[:, :500], [0])
    pd.read_csv(tmp_path / "frames.csv").iloc[:400].to_csv(tmp_path / "frames.csv", index=False)
    with pytest.raises(ValueError, match="500 frames but .*frames.csv lists 400 frames"):
        run_events_step(tmp_path / "estimates.h5", tmp_path / "frames.csv", tmp_path / "metadata.json",
                        tmp_path / "events.csv", tmp_path / "raster.png", **defaults("events"))
