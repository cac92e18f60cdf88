"""Motion correction scored against the simulator's known motion (small recordings)."""

from __future__ import annotations

import json

import cv2
import h5py
import numpy as np
import pandas as pd
import pytest
import tifffile

from ace_neuro.motion import run_motion_step
from ace_neuro.simulate import SimulationConfig, load_ground_truth, simulate_frames, simulate_recording

pytestmark = pytest.mark.slow  # each corrects the motion of a simulated recording (several seconds)


def _simulated_movie(tmp_path, **config):
    cfg = SimulationConfig(ephys=False, **config)
    folder = simulate_recording(tmp_path / "rec", cfg)
    movie = tmp_path / "movie.tif"
    tifffile.imwrite(movie, simulate_frames(cfg, 0, cfg.n_frames), imagej=True)
    return movie, load_ground_truth(folder)


def _rmse(estimate: np.ndarray, truth: np.ndarray) -> float:
    """RMSE after removing the constant offset of the template (per patch for patch shifts)."""
    err = estimate - truth
    err = err - err.mean(axis=0)
    return float(np.sqrt(np.mean(err**2)))


def test_rigid_accuracy_on_simulated_recording_with_8px_shifts(tmp_path):
    movie, gt = _simulated_movie(tmp_path, n_frames=240, height=112, width=112, n_neurons=25, seed=11,
                                 motion_amplitude_px=8.0, motion_jump_rate_hz=0.2, nonrigid_amplitude_px=0.0)
    assert np.abs(gt.rigid_shifts).max() > 5.0
    out = tmp_path / "motion"
    run_motion_step(movie, out, max_shifts=[12, 12], threads=1)
    shifts = pd.read_csv(out / "shifts.csv")
    estimate = -shifts[["shift_y_px", "shift_x_px"]].to_numpy()  # correcting shift = minus the displacement
    assert _rmse(estimate, gt.rigid_shifts) <= 0.2
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["correlation_after_mean"] > metrics["correlation_before_mean"]
    assert metrics["n_no_structure_frames"] == 0 and metrics["n_frames_at_max_shifts"] == 0


def test_pw_rigid_accuracy_with_nonrigid_motion(tmp_path):
    movie, gt = _simulated_movie(tmp_path, n_frames=150, height=192, width=192, n_neurons=60, seed=12,
                                 motion_amplitude_px=4.0, nonrigid_amplitude_px=1.0)
    out = tmp_path / "motion"
    run_motion_step(movie, out, pw_rigid=True, max_shifts=[8, 8], threads=2)
    with h5py.File(out / "patch_shifts.h5", "r") as f:
        patch = -f["shifts"][:]
        cy, cx = f["centres_y"][:], f["centres_x"][:]
    yy, xx = np.meshgrid(cy, cx, indexing="ij")
    truth = np.stack([gt.displacement(t, yy.ravel(), xx.ravel()) for t in range(patch.shape[0])]).reshape(patch.shape)
    nonrigid = truth - truth.mean(axis=(1, 2), keepdims=True)
    assert np.abs(nonrigid).max() > 0.5  # the motion is non-rigid
    assert _rmse(patch, truth) <= 0.3
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["pw_rigid"] and metrics["correlation_after_mean"] > metrics["correlation_before_mean"]
    per_frame_gain = np.array(metrics["correlation_after"]) - np.array(metrics["correlation_before"])
    assert np.mean(per_frame_gain > -0.01) > 0.95


def test_rigid_precision_on_1p_recording_with_max_shifts_just_above_the_motion(tmp_path):
    # One-photon structure (vessels, neuropil, fluctuating background, bleaching), rigid motion only, and
    # max_shifts one pixel above the largest true displacement: shifts must be centred on the recording's
    # typical position (not on one template group's) and unbiased by their size.
    movie, gt = _simulated_movie(tmp_path, n_frames=400, height=128, width=128, n_neurons=20, seed=21,
                                 motion_amplitude_px=6.0, motion_jump_rate_hz=0.2, nonrigid_amplitude_px=0.0,
                                 n_vessels=2, bleaching=0.3)
    max_shift = int(np.ceil(np.abs(gt.rigid_shifts).max())) + 1
    out = tmp_path / "motion"
    run_motion_step(movie, out, max_shifts=[max_shift, max_shift], threads=1)
    shifts = pd.read_csv(out / "shifts.csv")
    estimate = -shifts[["shift_y_px", "shift_x_px"]].to_numpy()
    assert _rmse(estimate, gt.rigid_shifts) <= 0.07  # 0.088 with the template of the middle group and the whole-template correlation


def _patch_scale_field(size: int) -> np.ndarray:
    """(2, size, size) smooth field of plane waves, 160-200 px wavelength (3-4 patch strides), max magnitude 1."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    field = np.stack([np.sin(2 * np.pi * (0.8 * yy + 0.6 * xx) / 180 + 0.4) + 0.6 * np.sin(2 * np.pi * xx / 200 + 1.0),
                      np.cos(2 * np.pi * (-0.5 * yy + 0.87 * xx) / 160 + 2.0) + 0.6 * np.sin(2 * np.pi * yy / 170)])
    field -= field.mean(axis=(1, 2), keepdims=True)
    return field / np.sqrt((field**2).sum(axis=0)).max()


def test_pw_rigid_beats_rigid_on_a_patch_scale_field(tmp_path):
    # A noiseless static simulated recording on a larger canvas, warped by d(t, p) = a(t) F(p) with F varying
    # on the scale of the patches (|a| <= 3 px), cropped, then shot and read noise: the truth is exact.
    size, pad, n = 144, 8, 160
    cfg = SimulationConfig(n_frames=n, height=size + 2 * pad, width=size + 2 * pad, n_neurons=45, seed=31,
                           motion_amplitude_px=0.0, nonrigid_amplitude_px=0.0, noise=0.0, ephys=False)
    clean = simulate_frames(cfg, 0, n).astype(np.float32)
    field = _patch_scale_field(size)
    course = 3.0 * np.sin(2 * np.pi * np.arange(n) / 80.0)
    rng = np.random.default_rng(32)
    base_y, base_x = np.mgrid[0:size, 0:size].astype(np.float32)
    movie = np.empty((n, size, size), np.uint8)
    for t in range(n):
        map_y = (base_y + pad - course[t] * field[0]).astype(np.float32)
        map_x = (base_x + pad - course[t] * field[1]).astype(np.float32)
        warped = np.maximum(cv2.remap(clean[t], map_x, map_y, cv2.INTER_LANCZOS4), 0)
        movie[t] = np.clip(np.rint(warped + np.sqrt(0.25 * warped + 1.5**2) * rng.standard_normal(warped.shape)), 0, 255)
    tifffile.imwrite(tmp_path / "movie.tif", movie, imagej=True)
    out = tmp_path / "motion"
    run_motion_step(tmp_path / "movie.tif", out, pw_rigid=True, max_shifts=[6, 6], threads=1)
    with h5py.File(out / "patch_shifts.h5", "r") as f:
        patch = -f["shifts"][:].astype(np.float64)
        cy, cx = f["centres_y"][:], f["centres_x"][:]
    iy, ix = np.round(cy).astype(int), np.round(cx).astype(int)
    truth = course[:, None, None, None] * np.moveaxis(field[:, iy][:, :, ix], 0, -1)[None]
    rigid = -pd.read_csv(out / "shifts.csv")[["shift_y_px", "shift_x_px"]].to_numpy()
    pw_error = _rmse(patch, truth)
    rigid_error = _rmse(np.broadcast_to(rigid[:, None, None, :], truth.shape), truth)
    assert pw_error < 0.85 * rigid_error, (pw_error, rigid_error)


def test_frames_at_max_shifts_are_a_warning(tmp_path, caplog):
    # Motion larger than max_shifts: the frames past the bound are clipped there (not corrected fully), which
    # metrics.json counted but the log never said (the sweep's motion_10px_jumps: 393 of 1,000 frames, silently).
    movie, gt = _simulated_movie(tmp_path, n_frames=240, height=112, width=112, n_neurons=25, seed=11,
                                 motion_amplitude_px=8.0, motion_jump_rate_hz=0.2, nonrigid_amplitude_px=0.0)
    out = tmp_path / "motion"
    with caplog.at_level("WARNING"):
        run_motion_step(movie, out, max_shifts=[4, 4], threads=1)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_frames_at_max_shifts"] > 0
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("max_shifts" in message and f"{metrics['n_frames_at_max_shifts']} of 240 frames" in message
               for message in warnings), warnings


def test_motion_within_max_shifts_is_no_warning(tmp_path, caplog):
    movie, _ = _simulated_movie(tmp_path, n_frames=120, height=112, width=112, n_neurons=25, seed=11,
                                motion_amplitude_px=2.0, nonrigid_amplitude_px=0.0)
    with caplog.at_level("WARNING"):
        run_motion_step(movie, tmp_path / "motion", max_shifts=[6, 6], threads=1)
    assert not [r for r in caplog.records if r.levelname == "WARNING" and "max_shifts" in r.getMessage()]


def test_default_max_shifts_follows_10px_jumps(tmp_path, caplog):
    # Freely moving mice jump further than CaImAn's demo range (5 px, which clipped 393 of 1,000 frames of the
    # sweep's motion_10px_jumps): the default 'auto' (10 px, at most a tenth of the frame, at least 5) follows them.
    movie, gt = _simulated_movie(tmp_path, n_frames=240, height=112, width=112, n_neurons=25, seed=11,
                                 motion_amplitude_px=10.0, motion_jump_rate_hz=0.2, nonrigid_amplitude_px=0.0)
    truth = np.asarray(gt.rigid_shifts)
    assert np.abs(truth - truth.mean(0)).max() > 6  # the motion goes past 5 px
    out = tmp_path / "motion"
    with caplog.at_level("INFO"):
        run_motion_step(movie, out, threads=1)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_frames_at_max_shifts"] == 0
    assert metrics["params"]["max_shifts"] == [10, 10]  # resolved (10 px, under 112 // 10) and recorded
    assert any("max_shifts auto -> [10, 10]" in r.getMessage() for r in caplog.records)
    shifts = pd.read_csv(out / "shifts.csv")[["shift_y_px", "shift_x_px"]].to_numpy()
    assert _rmse(-shifts, truth) < 0.2


def test_default_max_shifts_fits_small_frames(tmp_path):
    # A 48x48 movie (the size of the workflow's .test recording): 'auto' keeps CaImAn's 5 px there; 12 px (a quarter)
    # left too little of the template: every frame had no correlation peak and was not corrected.
    movie, gt = _simulated_movie(tmp_path, n_frames=60, height=48, width=48, n_neurons=4, seed=2,
                                 motion_amplitude_px=2.0, nonrigid_amplitude_px=0.0)
    out = tmp_path / "motion"
    run_motion_step(movie, out, threads=1)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["params"]["max_shifts"] == [5, 5]
    assert metrics["n_no_structure_frames"] == 0
    shifts = pd.read_csv(out / "shifts.csv")[["shift_y_px", "shift_x_px"]].to_numpy()
    assert _rmse(-shifts, np.asarray(gt.rigid_shifts)) < 0.15
