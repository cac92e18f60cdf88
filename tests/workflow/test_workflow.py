"""The workflow end to end: Snakemake on a tiny simulated recording.

Checks every output, that a second run has nothing to do, that changing one
preprocess parameter re-runs only what depends on it, that a misspelled config
key stops the run at start, and that the SLURM profile builds the same DAG.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from ace_neuro import load_estimates
from ace_neuro.io.miniscope import iter_frames, open_recording
from ace_neuro.io.movie import open_movie
from helpers import ROOT
from helpers.pages import shown_files
from helpers.workflow import planned_jobs, run_snakemake
from helpers.workflow import write_config as write_workdir_config


def write_config(workdir: Path, **changes) -> None:
    # the recording lasts 15 s, shorter than the default 30 s window
    changes = {"spectral": {"window_params": [5, 1]}, **changes}
    write_workdir_config(workdir, **changes)


@pytest.fixture(scope="module")
def workdir(small_workflow) -> Path:
    """The session's ``small_workflow`` (tests/conftest.py): 64 x 64, 300 frames, 2 dropped; config as
    :func:`write_config` writes it."""
    return small_workflow


def test_every_output_is_written(workdir):
    base = workdir / "results" / "rec1"
    for stage in ("convert", "projections", "preprocess", "motion", "cnmfe", "evaluate", "events", "spectral", "sync"):
        assert (base / "logs" / f"{stage}.log").stat().st_size > 0
        assert (base / "benchmarks" / f"{stage}.tsv").exists()
    recording = open_recording(workdir / "raw" / "rec1")
    frames = np.concatenate([chunk for chunk, _, _ in iter_frames(recording)])
    movie = open_movie(base / "convert" / "movie.tif")
    assert movie.shape == (298, 64, 64)  # 300 acquired, 2 dropped
    np.testing.assert_array_equal(movie, frames)
    table = pd.read_csv(base / "convert" / "frames.csv")
    assert table["dropped_before"].sum() == 2
    for name in ("max", "min", "mean", "median", "std", "range"):
        assert (base / "projections" / f"{name}.tif").exists() and (base / "projections" / f"{name}.png").exists()
    series = pd.read_csv(base / "projections" / "mean_fluorescence.csv")
    np.testing.assert_allclose(series["mean_fluorescence"], frames.mean(axis=(1, 2)))
    # The seed's defaults: no preprocessing, so the preprocess output is the same file, not a copy.
    assert (base / "preprocess" / "movie.tif").samefile(base / "convert" / "movie.tif")
    provenance = yaml.safe_load((base / "provenance.json").read_text())
    assert provenance["parameters"]["preprocess"]["quantile_min"] == 8.0
    assert {f["path"] for f in provenance["inputs"]} >= {"Miniscope/0.avi", "Miniscope/timeStamps.csv"}
    assert all(len(f["sha256"]) == 64 for f in provenance["inputs"])
    movies = sorted(p.name for p in (base / "motion" / "memmap").iterdir() if not p.name.startswith("."))  # no .mmap
    assert len(movies) == 1 and movies[0].startswith("corrected_d1_64_d2_64_frames_298_block_")
    assert movies[0].endswith("_uint8.blocks")  # an 8-bit movie: blocks_dtype auto stores grey levels (uint8)
    shifts = pd.read_csv(base / "motion" / "shifts.csv")
    assert len(shifts) == 298
    estimates = load_estimates(base / "evaluate" / "estimates.h5")
    assert estimates.dims == (64, 64) and estimates.C.shape[1] == 298
    assert estimates.A.shape[1] >= 3, "CNMF-E found almost none of the 6 simulated neurons"
    components = pd.read_csv(base / "evaluate" / "components.csv")
    assert len(components) == estimates.A.shape[1]
    events = pd.read_csv(base / "events" / "events.csv")
    assert set(events["neuron"]) <= set(components.loc[components["accepted"], "id"])
    for name in ("contours.png", "correlation_image.png", "pnr_image.png"):
        assert (base / "cnmfe" / name).stat().st_size > 0
    for name in ("spectrogram.h5", "phase.csv", "filtered.csv", "spectrogram.png"):
        assert (base / "spectral" / name).stat().st_size > 0
    ephys = pd.read_csv(base / "sync" / "frames_ephys_time.csv")
    assert len(ephys) == 298 and ephys["ephys_time_s"].is_monotonic_increasing
    assert not list((workdir / "results").rglob(".*.partial*"))


def test_second_run_has_nothing_to_do(workdir):
    assert planned_jobs(run_snakemake(workdir, "-n")) == {}


def test_changing_a_preprocess_parameter_reruns_only_what_depends_on_it(workdir):
    write_config(workdir, preprocess={"detrend_method": "linear"})
    try:
        jobs = planned_jobs(run_snakemake(workdir, "-n"))
        assert "preprocess" in jobs
        assert "convert" not in jobs and "projections" not in jobs
        assert set(jobs) - {"preprocess", "all", "provenance"} <= {"motion", "cnmfe", "evaluate", "events", "spectral",
                                                                  "sync", "report", "nwb", "summary", "export"}
    finally:
        write_config(workdir)


def test_misspelled_config_key_stops_at_start(workdir, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    shutil.copy(workdir / "experiments.csv", bad / "experiments.csv")
    config = yaml.safe_load((workdir / "config.yaml").read_text())
    config["experiments"] = str(bad / "experiments.csv")
    config["preprocess"]["quantile_mn"] = 5
    (bad / "config.yaml").write_text(yaml.safe_dump(config))
    result = run_snakemake(bad, "-n", check=False)
    assert result.returncode != 0
    assert "unknown parameter preprocess.quantile_mn; did you mean 'quantile_min'?" in result.stdout + result.stderr


@pytest.mark.skipif(
    importlib.util.find_spec("snakemake_executor_plugin_slurm") is None,
    reason="the SLURM executor plugin is an optional extra: pip install -e '.[workflow,slurm]' (make slurm-check does)",
)
def test_slurm_profile_builds_the_same_dag(workdir, tmp_path):
    write_config(workdir)
    result = run_snakemake(workdir, "-n", "--forceall", "--profile", str(ROOT / "workflow" / "profiles" / "slurm"))
    local = run_snakemake(workdir, "-n", "--forceall")
    assert planned_jobs(result) == planned_jobs(local)
    assert planned_jobs(local)["convert"] == 1


def test_changed_raw_file_reruns_convert_and_everything_after(workdir):
    video = workdir / "raw" / "rec1" / "Miniscope" / "1.avi"
    original = video.read_bytes()
    stat = video.stat()
    try:
        video.write_bytes(original[: len(original) // 2])  # a re-copy cut short
        jobs = planned_jobs(run_snakemake(workdir, "-n"))
        assert "convert" in jobs and "provenance" in jobs
    finally:
        video.write_bytes(original)
        os.utime(video, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert planned_jobs(run_snakemake(workdir, "-n")) == {}


def test_bad_sheet_cell_stops_before_any_job(workdir, tmp_path):
    bad = tmp_path / "bad_cell"
    bad.mkdir()
    sheet = (workdir / "experiments.csv").read_text().splitlines()
    (bad / "experiments.csv").write_text(f"{sheet[0]},events_method\n{sheet[1]},derivativ\n")
    config = yaml.safe_load((workdir / "config.yaml").read_text())
    config["experiments"] = str(bad / "experiments.csv")
    (bad / "config.yaml").write_text(yaml.safe_dump(config))
    result = run_snakemake(bad, "-n", check=False)
    assert result.returncode != 0
    text = result.stdout + result.stderr
    assert 'line 2 (id rec1): events.events_method = "derivativ" is not allowed; it must be one of' in text
    assert "Job stats" not in text


def test_rule_resources_follow_the_recording_size(workdir):
    from ace_neuro.resources import estimate

    text = run_snakemake(workdir, "-n", "--forceall", "--quiet", "host").stdout  # the listings the profile keeps quiet
    motion = text.split("rule motion:", 1)[1].split("\n\n", 1)[0]
    expected = estimate("motion", 298, 64, 64)
    assert f"disk_mb={expected['disk_mb']}" in motion and f"mem_mb={expected['mem_mb']}" in motion


def test_cnmfe_parameters_target_builds_the_aid_without_the_fit(workdir):
    """The opt-in parameter aid runs from the motion memory map alone (no cnmfe job) and is not part of `all` until
    made; once made, it joins the recording's targets: its page and the report show it."""
    out = workdir / "results" / "rec1" / "cnmfe_parameters"
    shutil.rmtree(out, ignore_errors=True)
    # a run lists its jobs as a dry run would (its "Job stats"): one run checks the plan and makes it
    made = planned_jobs(run_snakemake(workdir, "--cores", "2", "all_cnmfe_parameters"))
    assert made.get("cnmfe_parameters") == 1 and "cnmfe" not in made
    for name in ("images.png", "histograms.png", "seeds.png", "patches.png", "suggestion.txt", "summary.json"):
        assert (out / name).stat().st_size > 0
    summary = yaml.safe_load((out / "summary.json").read_text())
    g = summary["neuron_size_auto"]["gSig"]  # gSig: auto, measured on the movie
    assert [g, g] in summary["gSig_candidates"] and summary["thresholds_auto"][1]["auto_pnr"]
    # made, it is a target: the next run re-makes the recording's page (and provenance), not the aid
    jobs = planned_jobs(run_snakemake(workdir, "--cores", "2"))
    assert jobs.get("summary") == 1 and set(jobs) <= {"summary", "provenance", "all"}
    assert planned_jobs(run_snakemake(workdir, "-n")) == {}
    aid = {f"cnmfe_parameters/{name}.png" for name in ("images", "histograms", "seeds", "patches")}
    page = workdir / "results" / "rec1" / "summary.html"
    assert aid <= shown_files(page) and "Seeding images of recording rec1" in page.read_text()
    assert "Not made for this recording: the movies" in page.read_text()  # write_movies is off here
    run_snakemake(workdir, "--report", "report.html")
    report = (workdir / "report.html").read_text()
    figures = sorted(str(p.relative_to(workdir)) for p in (workdir / "results").rglob("*.png"))
    assert [f for f in figures if f not in report] == [], "figures missing from the report"
