"""Tests of the ground-truth simulator (small sizes: 64x64, <= 150 frames)."""

from __future__ import annotations

import csv
import dataclasses
import json

import cv2
import h5py
import numpy as np
import pytest
from scipy import ndimage

from ace_neuro.simulate import (
    SimulationConfig,
    load_ground_truth,
    simulate_frames,
    simulate_recording,
    simulate_ttl_times,
)
from ace_neuro.simulate.model import build_model
from ace_neuro.simulate.render import _clean_canvas

SMALL = dict(n_frames=150, height=64, width=64, n_neurons=12, frames_per_file=60)


def _read_avi(path):
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame[..., 0] if frame.ndim == 3 else frame)
    cap.release()
    return np.array(frames)


def _reference(cfg, t):
    """Unmoved clean fluorescence of acquired frame t on the field of view (float32)."""
    model = build_model(cfg)
    p = cfg.pad
    return _clean_canvas(model, t, t + 1)[0, p : p + cfg.height, p : p + cfg.width], model


def test_deterministic_per_seed_and_chunk_independent():
    cfg = SimulationConfig(**SMALL, seed=3)
    a = simulate_frames(cfg)
    b = simulate_frames(cfg)
    assert a.dtype == np.uint8 and a.shape == (150, 64, 64)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(simulate_frames(cfg, 37, 61), a[37:61])
    c = simulate_frames(SimulationConfig(**SMALL, seed=4))
    assert np.mean(a != c) > 0.5


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    cfg = SimulationConfig(**SMALL, seed=1, dropped_frames=4)
    out = simulate_recording(tmp_path_factory.mktemp("sim") / "session", cfg)
    return out, cfg


def test_v4_layout_and_lossless_frames(recording):
    out, cfg = recording
    assert sorted(p.name for p in out.iterdir()) == ["Miniscope", "ephys_ttl.csv", "ground_truth.h5", "metaData.json"]
    assert not list(out.parent.glob(".*partial*"))
    session = json.loads((out / "metaData.json").read_text())
    assert session["miniscopes"] == ["Miniscope"] and session["cameras"] == []
    assert set(session["recordingStartTime"]) == {"year", "month", "day", "hour", "minute", "second", "msec",
                                                  "msecSinceEpoch"}
    for key in ("researcherName", "animalName", "experimentName", "baseDirectory"):
        assert key in session
    device = json.loads((out / "Miniscope" / "metaData.json").read_text())
    assert device["deviceType"] == "Miniscope_V4_BNO" and device["compression"] == "FFV1"
    assert device["framesPerFile"] == 60 and device["frameRate"] == "20FPS"
    assert device["ROI"] == {"leftEdge": 0, "topEdge": 0, "width": 64, "height": 64}

    written = 150 - 4
    avis = sorted((out / "Miniscope").glob("*.avi"), key=lambda p: int(p.stem))
    assert [p.name for p in avis] == ["0.avi", "1.avi", "2.avi"]
    movies = [_read_avi(p) for p in avis]
    assert [len(m) for m in movies] == [60, 60, written - 120]

    gt = load_ground_truth(out)
    assert gt.frame_written.sum() == written and gt.frame_written[0]
    expected = simulate_frames(cfg)[gt.frame_written]
    np.testing.assert_array_equal(np.concatenate(movies), expected)

    with open(out / "Miniscope" / "timeStamps.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["Frame Number", "Time Stamp (ms)", "Buffer Index", "DAQ Frame Number"]
    assert len(rows) == written
    daq = np.array([int(r["DAQ Frame Number"]) for r in rows])
    np.testing.assert_array_equal(daq, np.flatnonzero(gt.frame_written))
    np.testing.assert_array_equal([int(r["Frame Number"]) for r in rows], np.arange(written))
    dropped = np.flatnonzero(~gt.frame_written)
    jumps = np.flatnonzero(np.diff(daq) > 1)
    assert sum(np.diff(daq)[jumps] - 1) == 4
    assert set(daq[jumps] + 1) <= set(dropped)
    stamps = np.array([int(r["Time Stamp (ms)"]) for r in rows])
    assert stamps[0] == 0
    np.testing.assert_allclose(stamps, gt.frame_times_s[gt.frame_written] * 1000, atol=0.5)
    period = np.diff(gt.frame_times_s)
    assert np.all(np.abs(period - 0.05) < 0.006) and 0.0003 < period.std() < 0.003  # ~1 ms jitter


def test_ground_truth_contents(recording):
    out, cfg = recording
    gt = load_ground_truth(out / "ground_truth.h5")
    K, T = 12, 150
    assert gt.footprints.shape == (K, 64, 64) and gt.calcium.shape == (K, T) and gt.spikes.shape == (K, T)
    assert gt.rigid_shifts.shape == (T, 2) and gt.nonrigid_field.shape == (2, 64, 64)
    assert gt.nonrigid_timecourse.shape == (T,) and gt.frame_times_s.shape == (T,)
    assert gt.config == cfg and gt.frame_rate == 20.0
    assert np.all(np.abs(gt.rigid_shifts) <= cfg.motion_amplitude_px + 1e-6)
    assert np.all(np.abs(gt.nonrigid_timecourse) <= cfg.nonrigid_amplitude_px + 1e-6)
    # the calcium is the AR(2) filtered spike train
    g1, g2 = gt.ar_coefficients[0]
    c, s = gt.calcium[0].astype(np.float64), gt.spikes[0].astype(np.float64)
    np.testing.assert_allclose(c[2:] - g1 * c[1:-1] - g2 * c[:-2], s[2:], atol=1e-4)
    assert np.all(gt.spikes >= 0) and gt.spikes.sum() > 0
    np.testing.assert_array_equal(gt.spikes > 0, gt.spike_counts > 0)
    # blood vessels: static dark landmarks, visible in the mean of the written movie
    transmission = gt.vessel_transmission
    assert transmission.max() <= 1.0 and transmission.min() < 1 - 0.5 * cfg.vessel_contrast
    movie = np.concatenate([_read_avi(p) for p in sorted((out / "Miniscope").glob("*.avi"))]).astype(np.float64)
    mean = movie.mean(axis=0)
    assert mean[transmission < 0.85].mean() < 0.9 * mean[transmission > 0.99].mean()
    sparse = load_ground_truth(out, sparse_footprints=True).footprints
    assert sparse.shape == (K, 64 * 64) and sparse.nnz < 0.5 * K * 64 * 64
    np.testing.assert_array_equal(sparse.toarray().reshape(K, 64, 64), gt.footprints)
    w = gt.for_written_frames()
    assert w.calcium.shape == (K, T - 4) and w.rigid_shifts.shape == (T - 4, 2) and w.frame_written.all()
    np.testing.assert_array_equal(w.frame_index, gt.written_frame_index)
    with h5py.File(out / "ground_truth.h5") as f:
        assert json.loads(f.attrs["config_json"])["seed"] == 1
        assert f["ephys/true_frame_times_s"].shape == (T,)
    ttl = np.loadtxt(out / "ephys_ttl.csv", skiprows=1, delimiter=",")
    assert ttl.size == T - cfg.ephys_missing + cfg.ephys_extra
    np.testing.assert_allclose(ttl, gt.ephys["ttl_times_s"], atol=1e-6)


def test_background_dominates_and_dynamic_range():
    cfg = SimulationConfig(**SMALL, seed=2)
    ref, model = _reference(cfg, 0)
    p = cfg.pad
    csc = model.footprints.tocsc()
    peaks = np.array([csc[:, k].max() for k in range(cfg.n_neurons)])  # ADU per unit calcium at the centre
    assert ref.mean() > 3 * np.median(peaks)
    frames = simulate_frames(cfg)
    assert 60 <= frames.mean() <= 130
    assert np.mean(frames == 255) < 1e-3 and np.mean(frames == 0) < 1e-3
    # photobleaching alone (no fluctuations, neuropil or neurons): the last frame is dimmer by the fraction
    still = SimulationConfig(**{**SMALL, "n_neurons": 0}, background_fluctuation=0.0, neuropil_strength=0.0,
                             bleaching=0.2)
    still_frames = simulate_frames(still).astype(np.float64)
    ratio = still_frames[-1].mean() / still_frames[0].mean()
    assert abs(ratio - 0.8) < 0.01
    # the neurons are visible: correlation image peaks near the true centres
    d = frames.astype(np.float32) - ndimage.uniform_filter(frames.astype(np.float32), (1, 15, 15))
    active = model.calcium.max(axis=1) > 1.0
    centres = np.rint(model.centres[active]).astype(int)
    sd = d.std(axis=0)
    assert np.median(sd[centres[:, 0], centres[:, 1]]) > np.median(sd)


def test_motion_sign_convention_rigid():
    cfg = SimulationConfig(**SMALL, seed=5, noise=0.0, nonrigid_amplitude_px=0.0, motion_amplitude_px=4.0,
                           neuron_brightness=40.0)
    gt_shifts = build_model(cfg).rigid
    t = int(np.argmax(np.abs(gt_shifts).sum(axis=1)))
    d = gt_shifts[t].astype(np.float64)
    assert np.abs(d).max() > 1.0
    ref, _ = _reference(cfg, t)
    frame = simulate_frames(cfg, t, t + 1)[0].astype(np.float64)
    inner = (slice(8, -8), slice(8, -8))
    corrected = ndimage.shift(frame, -d, order=3, mode="nearest")  # move the frame by -d
    wrong = ndimage.shift(frame, +d, order=3, mode="nearest")
    err_ok = np.abs(corrected - ref)[inner].mean()
    assert err_ok < 1.0  # only quantisation and interpolation differences
    assert err_ok < 0.3 * np.abs(wrong - ref)[inner].mean()
    assert err_ok < 0.3 * np.abs(frame - ref)[inner].mean()


def test_motion_nonrigid_displacement_field():
    cfg = SimulationConfig(**SMALL, seed=6, noise=0.0, motion_amplitude_px=0.0, nonrigid_amplitude_px=3.0,
                           neuron_brightness=40.0)
    model = build_model(cfg)
    t = int(np.argmax(np.abs(model.nonrigid_timecourse)))
    ref, _ = _reference(cfg, t)
    frame = simulate_frames(cfg, t, t + 1)[0].astype(np.float64)
    yy, xx = np.mgrid[0:64, 0:64]
    d = model.nonrigid_timecourse[t] * model.nonrigid_field  # (2, H, W), rigid part is zero
    assert np.abs(d).max() > 1.0
    # frame(y, x) = ref(y - d_y, x - d_x)
    predicted = ndimage.map_coordinates(ref, [yy - d[0], xx - d[1]], order=3, mode="nearest")
    inner = (slice(8, -8), slice(8, -8))
    assert np.abs(predicted - frame)[inner].mean() < 1.0
    assert np.abs(predicted - frame)[inner].mean() < 0.3 * np.abs(ref - frame)[inner].mean()
    # the field has no rigid component and GroundTruth.displacement agrees with it
    np.testing.assert_allclose(model.nonrigid_field.mean(axis=(1, 2)), 0, atol=1e-5)


def test_displacement_method(recording):
    out, _ = recording
    gt = load_ground_truth(out)
    rows, cols = np.array([0, 10, 63]), np.array([5, 20, 63])
    d = gt.displacement(17, rows, cols)
    expected = gt.rigid_shifts[17] + gt.nonrigid_timecourse[17] * gt.nonrigid_field[:, rows, cols].T
    np.testing.assert_allclose(d, expected, atol=1e-5)
    with pytest.raises(ValueError, match="frame_index"):
        gt.displacement(10_000, rows, cols)


def test_ttl_times_drift_missing_extra():
    t = np.arange(2000) / 20.0 + np.random.default_rng(0).normal(0, 0.001, 2000)
    t[0] = 0
    ttl, true, missing, extra = simulate_ttl_times(t, drift_ppm=50.0, offset_s=2.0, n_missing=5, n_extra=4,
                                                   jitter_s=1e-4, seed=9)
    assert ttl.size == 2000 - 5 + 4 and true.size == 2000
    assert missing.size == 5 and extra.size == 4 and np.all(np.diff(ttl) > 0)
    slope, intercept = np.polyfit(t, true, 1)
    assert abs(slope - (1 + 50e-6)) < 1e-9 and abs(intercept - 2.0) < 1e-9
    genuine = np.delete(ttl, extra)
    kept = np.delete(np.arange(2000), missing)
    err = genuine - true[kept]
    assert np.abs(err).max() < 6e-4 and 5e-5 < err.std() < 2e-4
    for e in ttl[extra]:
        assert np.min(np.abs(true - e)) >= 0.05 / 4 - 0.002
    again = simulate_ttl_times(t, drift_ppm=50.0, offset_s=2.0, n_missing=5, n_extra=4, jitter_s=1e-4, seed=9)
    np.testing.assert_array_equal(again[0], ttl)
    with pytest.raises(ValueError, match="n_missing"):
        simulate_ttl_times(t[:3], n_missing=2)
    with pytest.raises(ValueError, match="increasing"):
        simulate_ttl_times(t[::-1])


@pytest.mark.parametrize(
    "field, value",
    [
        ("n_frames", 1),
        ("n_frames", 10.5),
        ("height", 8),
        ("noise", -1.0),
        ("bleaching", 1.0),
        ("dropped_frames", 100),
        ("max_rate_hz", 0.01),
        ("motion_amplitude_px", 40.0),
        ("frames_per_file", 0),
        ("ephys", "yes"),
        ("frame_rate", float("nan")),
        ("defocus_blur_px", -1.0),
        ("defocus_blur_px", 20.0),
    ],
)
def test_bad_config_names_the_field(field, value):
    kwargs = dict(SMALL)
    kwargs[field] = value
    with pytest.raises(ValueError, match=f"SimulationConfig.{field}"):
        SimulationConfig(**kwargs)


def test_load_ground_truth_errors(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        load_ground_truth(tmp_path / "nope.h5")
    bad = tmp_path / "bad.h5"
    with h5py.File(bad, "w") as f:
        f["x"] = 1
    with pytest.raises(ValueError, match="footprints"):
        load_ground_truth(bad)


def test_no_neurons_is_valid(tmp_path):
    cfg = SimulationConfig(n_frames=20, height=32, width=32, n_neurons=0, ephys=False)
    out = simulate_recording(tmp_path / "empty", cfg)
    gt = load_ground_truth(out)
    assert gt.footprints.shape == (0, 32, 32) and gt.calcium.shape == (0, 20) and gt.ephys is None
    assert not (out / "ephys_ttl.csv").exists()


def test_documented_model_reconstructs_frames(tmp_path):
    """Without motion and noise, the ground-truth arrays and the documented formula give the movie."""
    cfg = SimulationConfig(n_frames=40, height=48, width=56, n_neurons=8, motion_amplitude_px=0.0,
                           nonrigid_amplitude_px=0.0, noise=0.0, ephys=False, seed=11)
    out = simulate_recording(tmp_path / "still", cfg)
    movie = np.concatenate([_read_avi(p) for p in sorted((out / "Miniscope").glob("*.avi"))]).astype(np.float64)
    with h5py.File(out / "ground_truth.h5") as f:
        g = {k: f[k][()] for k in ("footprints", "calcium", "bleaching", "background/baseline", "background/spatial",
                                   "background/temporal", "background/vessel_transmission",
                                   "neuropil/footprints_coarse", "neuropil/traces")}
        pad = int(f["neuropil"].attrs["canvas_pad"])
        hc, wc = (int(v) for v in f["neuropil"].attrs["canvas_shape"])
    for t in (0, 17, 39):
        bg = g["background/baseline"] * (1 + np.tensordot(g["background/temporal"][:, t], g["background/spatial"], 1))
        coarse = np.tensordot(g["neuropil/traces"][:, t], g["neuropil/footprints_coarse"], 1).astype(np.float32)
        neuropil = cv2.resize(coarse, (wc, hc), interpolation=cv2.INTER_LINEAR)[pad : pad + 48, pad : pad + 56]
        cells = np.tensordot(g["calcium"][:, t], g["footprints"], 1)
        clean = g["bleaching"][t] * (bg + g["background/vessel_transmission"] * neuropil + cells)
        assert np.abs(np.clip(np.rint(clean), 0, 255) - movie[t]).max() <= 1.0


def test_refuses_to_replace_foreign_folder(tmp_path):
    cfg = SimulationConfig(n_frames=10, height=32, width=32, n_neurons=2, ephys=False)
    foreign = tmp_path / "data"
    foreign.mkdir()
    (foreign / "precious.txt").write_text("keep me")
    with pytest.raises(ValueError, match="not an earlier simulated recording"):
        simulate_recording(foreign, cfg)
    assert (foreign / "precious.txt").read_text() == "keep me"
    again = simulate_recording(tmp_path / "sim", cfg)
    simulate_recording(again, SimulationConfig(n_frames=12, height=32, width=32, n_neurons=2, ephys=False))
    assert load_ground_truth(again).calcium.shape == (2, 12)


def test_noise_variance_follows_shot_plus_read_model():
    """Temporal variance per pixel = gain * mean + read_noise**2 (+ 1/12 from rounding)."""
    cfg = SimulationConfig(n_frames=120, height=48, width=48, n_neurons=0, background_fluctuation=0.0,
                           neuropil_strength=0.0, bleaching=0.0, motion_amplitude_px=0.0, nonrigid_amplitude_px=0.0,
                           gain_adu_per_photon=0.5, read_noise_adu=2.0, background_level=60.0, ephys=False)
    frames = simulate_frames(cfg).astype(np.float64)
    mean, var = frames.mean(axis=0), frames.var(axis=0, ddof=1)
    slope, intercept = np.polyfit(mean.ravel(), var.ravel(), 1)
    assert abs(slope - 0.5) < 0.08
    assert abs(intercept - (4.0 + 1 / 12)) < 3.0
    doubled = simulate_frames(dataclasses.replace(cfg, noise=2.0)).astype(np.float64)
    ratio = doubled.var(axis=0, ddof=1).mean() / var.mean()
    assert 3.5 < ratio < 4.5
    quiet = simulate_frames(dataclasses.replace(cfg, noise=0.0)).astype(np.float64)
    assert quiet.var(axis=0).max() == 0


def test_spike_to_noise_sets_brightness_against_measured_noise():
    """One spike's mean peak dF / per-pixel noise sd is what spike_to_noise asks for."""
    base = dict(n_frames=40, height=64, width=64, n_neurons=0, motion_amplitude_px=0.0, nonrigid_amplitude_px=0.0,
                n_vessels=0, bleaching=0.0, background_fluctuation=0.0, ephys=False)
    cfg = SimulationConfig(spike_to_noise=0.8, **base)
    assert cfg.soma_brightness_adu == pytest.approx(0.8 * cfg.noise_sd_adu)
    noisy = simulate_frames(cfg).astype(np.float64)
    clean = simulate_frames(dataclasses.replace(cfg, noise=0.0, spike_to_noise=0.0)).astype(np.float64)
    measured = (noisy - clean).std()
    level = clean.mean()
    assert level == pytest.approx(cfg.background_level * (1 + cfg.neuropil_strength), rel=0.15)
    assert measured == pytest.approx(cfg.noise_sd_adu, rel=0.1)
    cfg_n = SimulationConfig(**{**base, "n_neurons": 30}, spike_to_noise=0.5)
    peaks = build_model(cfg_n).footprints.max(axis=0).toarray().ravel()
    assert peaks.mean() == pytest.approx(0.5 * cfg_n.noise_sd_adu, rel=0.15)
    with pytest.raises(ValueError, match="spike_to_noise"):
        SimulationConfig(spike_to_noise=-1.0)


def test_dynamic_vessels_flicker_at_their_borders_only(tmp_path):
    base = dict(n_frames=120, height=64, width=64, n_neurons=0, noise=0.0, motion_amplitude_px=0.0,
                nonrigid_amplitude_px=0.0, background_fluctuation=0.0, neuropil_strength=0.0, bleaching=0.0,
                n_vessels=2, ephys=False, frames_per_file=200)
    static = simulate_frames(SimulationConfig(**base)).astype(np.float64)
    cfg = SimulationConfig(**base, vessel_dilation=0.2, vessel_wobble_px=1.0)
    moving = simulate_frames(cfg).astype(np.float64)
    assert static.std(axis=0).max() <= 0.5  # static vessels: nothing changes (quantisation only)
    flicker = moving.std(axis=0)
    simulate_recording(tmp_path / "rec", cfg)
    gt = load_ground_truth(tmp_path / "rec")
    assert gt.vessel_border_mask.any() and gt.vessel_mask.any()
    assert gt.vessel_radius_scale.shape[1] == cfg.n_frames
    assert np.all(np.abs(gt.vessel_radius_scale - 1) <= 0.2 + 1e-6) and gt.vessel_radius_scale.std() > 0.02
    near = ndimage.binary_dilation(gt.vessel_border_mask, iterations=2)
    assert flicker[~near].max() <= 1.0  # away from vessels the frames do not change
    assert np.percentile(flicker[gt.vessel_border_mask], 90) > 2.0
    # the resting vessels are those of the static recording
    assert np.allclose(static.mean(axis=0)[~near], moving.mean(axis=0)[~near], atol=1.0)
    # an old configuration (no dynamic fields) still loads and has no flickering border
    simulate_recording(tmp_path / "static", SimulationConfig(**base))
    assert not load_ground_truth(tmp_path / "static").vessel_border_mask.any()


def test_defocus_blur_makes_out_of_focus_cells_larger_and_dimmer(tmp_path):
    sharp_cfg = SimulationConfig(**{**SMALL, "n_vessels": 0, "n_frames": 40})
    blurred_cfg = dataclasses.replace(sharp_cfg, defocus_blur_px=4.0)
    sharp, blurred = build_model(sharp_cfg), build_model(blurred_cfg)
    # the default draws no depth: every cell in focus, the model as before the option existed
    assert np.all(sharp.blur_px == 0) and np.all(sharp.depths == 0)
    assert np.all(np.abs(blurred.depths) <= 1) and np.ptp(blurred.depths) > 1.0
    np.testing.assert_allclose(blurred.blur_px, 4.0 * np.abs(blurred.depths), rtol=1e-6)
    # only the footprints change (same cells, activity and background)
    np.testing.assert_array_equal(sharp.centres, blurred.centres)
    np.testing.assert_array_equal(sharp.calcium, blurred.calcium)
    np.testing.assert_array_equal(sharp.baseline, blurred.baseline)
    a_sharp, a_blur = sharp.footprints.tocsc(), blurred.footprints.tocsc()
    for k in range(sharp_cfg.n_neurons):
        s, b = a_sharp[:, k].toarray().ravel(), a_blur[:, k].toarray().ravel()
        assert b.sum() == pytest.approx(s.sum(), rel=0.03)  # flux kept (both cut at 1 % of their peak)
        if blurred.blur_px[k] > 1.5:  # larger and dimmer
            assert b.max() < 0.8 * s.max() and (b > 0.2 * b.max()).sum() > 1.3 * (s > 0.2 * s.max()).sum()
    # the ground truth is the blurred footprint, with each cell's depth and blur
    simulate_recording(tmp_path / "rec", blurred_cfg)
    truth = load_ground_truth(tmp_path / "rec")
    np.testing.assert_array_equal(truth.neuron_blur_px, blurred.blur_px)
    np.testing.assert_array_equal(truth.neuron_depths, blurred.depths)
    np.testing.assert_array_equal(truth.out_of_focus(1.0), blurred.blur_px >= 1.0)
    p = blurred_cfg.pad
    canvas = a_blur.toarray().T.reshape((-1,) + blurred.canvas_shape)[:, p:p + 64, p:p + 64]
    np.testing.assert_allclose(truth.footprints, canvas, rtol=1e-6)
    # multi-session subjects bring their own footprints: realistic optics there is an error, not ignored
    with pytest.raises(ValueError, match="defocus_blur_px"):
        build_model(blurred_cfg, centres=sharp.centres, footprints=sharp.footprints)
