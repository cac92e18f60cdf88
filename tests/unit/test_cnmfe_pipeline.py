"""CNMF-E end to end: accuracy on a simulated one-photon recording, outputs, empty movies, errors."""

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import tifffile

from ace_neuro.cnmfe.estimates_file import load_estimates
from ace_neuro.cnmfe.params import CnmfeOptions
from ace_neuro.cnmfe.pipeline import fit_cnmfe, run_cnmfe_step
from ace_neuro.cnmfe.score import detection_scores, match_components, trace_correlations
from ace_neuro.io.movie import caiman_memmap_name, create_caiman_memmap
from ace_neuro.params import ParameterError
from ace_neuro.simulate import SimulationConfig, load_ground_truth, simulate_frames, simulate_recording

# Seeding thresholds are set per data set from the PNR / correlation images, as
# CaImAn's one-photon demo instructs; these suit the simulator's default noise. Not 7: one cell of this
# recording (truth index 15) has a residual peak-to-noise ratio of 7.000 after the first round, so at 7 its
# recall was a coin toss (7.005 loses it on the code before the supports grew, 6.996 with them; issue 20).
SEEDING = {"min_corr": 0.8, "min_pnr": 6.9}


def _write_memmap(folder, config):
    folder.mkdir(parents=True, exist_ok=True)
    h, w, t = config.height, config.width, config.n_frames
    view = create_caiman_memmap(folder / caiman_memmap_name("corrected", h, w, t), h, w, t)
    for start in range(0, t, 500):
        view[start:start + 500] = simulate_frames(config, start, min(t, start + 500))
    del view
    return folder


OUTPUT_FILES = ("estimates.h5", "params.json", "correlation_image.tif", "correlation_image.png", "pnr_image.tif",
                "pnr_image.png", "contours.png")


def run_step(memmap_dir, out, params, threads=1, metadata=None, metrics=None, log=None):
    """The cnmfe step with the workflow's file names under ``out``."""
    out = Path(out)
    return run_cnmfe_step(
        memmap_dir, CnmfeOptions.from_params(params), estimates_path=out / "estimates.h5", params_path=out / "params.json",
        correlation_paths=(out / "correlation_image.tif", out / "correlation_image.png"),
        pnr_paths=(out / "pnr_image.tif", out / "pnr_image.png"), contours_path=out / "contours.png",
        threads=threads, metadata_path=metadata, motion_metrics_path=metrics, log=log,
    )


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    root = tmp_path_factory.mktemp("cnmfe_sim")
    config = SimulationConfig(n_frames=1500, height=128, width=128, n_neurons=30, seed=11,
                              motion_amplitude_px=0.0, nonrigid_amplitude_px=0.0, ephys=False)
    simulate_recording(root / "raw", config)
    truth = load_ground_truth(root / "raw" / "ground_truth.h5")
    memmap_dir = _write_memmap(root / "memmap", config)
    (root / "metadata.json").write_text(json.dumps({"frame_rate_hz": config.frame_rate}))
    return root, memmap_dir, truth


@pytest.mark.slow
def test_finds_simulated_neurons_and_their_traces(recording, tmp_path):
    root, memmap_dir, truth = recording
    out = tmp_path / "cnmfe"
    est = run_step(memmap_dir, out, SEEDING, 1, root / "metadata.json", None)
    for name in OUTPUT_FILES:
        assert (out / name).stat().st_size > 0, name
    saved = load_estimates(out / "estimates.h5")
    assert saved.A.shape == (128 * 128, est.A.shape[1]) and saved.C.shape == (est.A.shape[1], 1500)
    assert saved.W is not None and saved.ssub_B == 2 and saved.frame_rate == 20.0
    assert tifffile.imread(out / "correlation_image.tif").shape == (128, 128)
    assert tifffile.imread(out / "pnr_image.tif").shape == (128, 128)
    used = json.loads((out / "params.json").read_text())
    g = used["neuron_size"]["gSig"]  # gSig: auto, measured on the movie
    assert used["min_pnr"] == SEEDING["min_pnr"] and used["fr"] == 20.0
    assert used["gSig"] == [g, g] and used["gSiz"] == [4 * g + 1] * 2

    matches = match_components(saved.A, truth.footprints, dims=(128, 128))
    scores = detection_scores(saved.A, truth.footprints, matches=matches, dims=(128, 128))
    r = trace_correlations(saved.C, truth.calcium, matches)
    assert scores["f1"] >= 0.9, scores
    assert np.median(r) >= 0.9, r
    # the raw traces (C + YrA) also follow the truth, and spikes are non-negative
    r_raw = trace_correlations(saved.C + saved.YrA, truth.calcium, matches)
    assert np.median(r_raw) >= 0.8
    assert saved.S.min() >= -1e-6
    # the model explains the pixel means: b0 + A mean(C) is the movie's temporal mean
    assert saved.sn.shape == (128 * 128,) and np.all(saved.sn > 0)


@pytest.mark.slow
def test_patches_give_the_same_neurons(recording):
    root, memmap_dir, truth = recording
    path = next(memmap_dir.glob("*.mmap"))
    est = fit_cnmfe(path, CnmfeOptions.from_params(SEEDING, rf=40, stride=20), threads=2, frame_rate=20.0)  # CaImAn demo values
    matches = match_components(est.A, truth.footprints, dims=(128, 128))
    scores = detection_scores(est.A, truth.footprints, matches=matches, dims=(128, 128))
    assert scores["f1"] >= 0.85, scores
    assert np.median(trace_correlations(est.C, truth.calcium, matches)) >= 0.9


def test_movie_without_neurons_gives_empty_estimates_and_a_warning(tmp_path, caplog):
    # fluctuating background (smooth at this frame size), bleaching and noise only: no somata,
    # out-of-focus cells or vessels
    config = SimulationConfig(n_frames=300, height=96, width=96, n_neurons=0, seed=3, neuropil_strength=0.0, n_vessels=0,
                              motion_amplitude_px=0.0, nonrigid_amplitude_px=0.0, ephys=False)
    memmap_dir = _write_memmap(tmp_path / "memmap", config)
    caplog.set_level(logging.WARNING, logger="ace_neuro")
    # CaImAn's fixed thresholds: 'auto' lets a fraction seed_false_rate of noise pixels through as candidates
    # (rejected by evaluation), so only fixed ones give an empty fit here
    est = run_step(memmap_dir, tmp_path / "out", {"fr": 20.0, "min_corr": 0.8, "min_pnr": 10}, 1, None, None,
                         logging.getLogger("ace_neuro.test"))
    assert est.A.shape == (96 * 96, 0) and est.C.shape == (0, 300)
    assert any("no neuron found" in rec.getMessage() for rec in caplog.records)
    saved = load_estimates(tmp_path / "out" / "estimates.h5")
    assert saved.A.shape[1] == 0 and saved.W is not None
    assert (tmp_path / "out" / "contours.png").exists()


def test_parameters_are_checked_before_any_work(tmp_path):
    with pytest.raises(ParameterError, match="gSiz"):
        run_step(tmp_path / "missing", tmp_path / "out", {"gSig": [5, 5], "gSiz": [3, 3]})
    with pytest.raises(ParameterError, match="rf = 5 is smaller than gSiz"):
        run_step(tmp_path / "missing", tmp_path / "out", {"rf": 5, "gSiz": 13})
    with pytest.raises(ParameterError, match="min_pnr"):
        run_step(tmp_path / "missing", tmp_path / "out", {"min_pnr": 0})
    with pytest.raises(ParameterError, match="did you mean 'merge_thr'"):
        run_step(tmp_path / "missing", tmp_path / "out", {"merge_threshold": 0.8})
    assert not (tmp_path / "out").exists()


def test_frame_rate_is_required(tmp_path):
    config = SimulationConfig(n_frames=60, height=32, width=32, n_neurons=2, seed=1, ephys=False)
    memmap_dir = _write_memmap(tmp_path / "memmap", config)
    with pytest.raises(ValueError, match="frame_rate_hz"):
        run_step(memmap_dir, tmp_path / "out", {}, 1, tmp_path / "absent.json", None)
