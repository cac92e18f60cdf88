"""End to end: two simulated subjects' sessions through the workflow (the sheet's subject column), tracked and
re-extracted; a session added to one subject re-runs only what depends on it, nothing of the other subject."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from ace_neuro.cnmfe.estimates_file import load_estimates
from ace_neuro.simulate import SimulationConfig
from ace_neuro.simulate.sessions import SubjectConfig, load_subject_truth, simulate_subject
from ace_neuro.tracking import Registration
from ace_neuro.tracking.reextract import load_reextraction
from helpers import ROOT
from helpers.workflow import run_snakemake as snakemake

pytestmark = pytest.mark.workflow

SESSIONS = ["day1", "day2", "day3"]
#: the second subject: another tissue (seed), other movements, two sessions (a third one is added by a test)
OTHER = ["m2day1", "m2day2"]


def _sheet(workdir: Path, sessions: list[str], other: list[str] = OTHER) -> None:
    rows = ["id,calcium imaging directory,subject"]
    rows += [f"{s},{workdir / 'raw' / ('session' + s[3:])},m1" for s in sessions]
    rows += [f"{s},{workdir / 'raw_m2' / ('session' + s[5:])},m2" for s in other]
    (workdir / "experiments.csv").write_text("\n".join(rows) + "\n")


@pytest.fixture(scope="module")
def subject_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("tracking_workflow")
    cfg = SimulationConfig(n_frames=300, height=64, width=64, n_neurons=14, frames_per_file=300, seed=11, ephys=False,
                           motion_amplitude_px=1.0, spike_to_noise=4.0, min_rate_hz=0.2, max_rate_hz=1.0)
    simulate_subject(workdir / "raw", cfg, SubjectConfig(n_sessions=4, max_shift_px=5, max_rotation_deg=3,
                                                         warp_px=0.5, silent_fraction=0.25))
    simulate_subject(workdir / "raw_m2", SimulationConfig(**{**cfg.__dict__, "seed": 23}),
                     SubjectConfig(n_sessions=3, max_shift_px=8, max_rotation_deg=2, silent_fraction=0.25))
    _sheet(workdir, SESSIONS)
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    config["experiments"] = str(workdir / "experiments.csv")
    config["results"] = "results"
    config["spectral"]["window_params"] = [5, 1]  # the sessions last 15 s
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    snakemake(workdir, "--cores", "2")
    return workdir, load_subject_truth(workdir / "raw" / "subject_truth.h5")


def _truth_ids(workdir: Path, truth, session: str) -> dict[int, int]:
    """Each accepted component of a session -> the simulated cell it is (centroid within 3 px), or -1."""
    index = truth.sessions.index("session" + session[-1])
    est = load_estimates(workdir / "results" / session / "evaluate" / "estimates.h5")
    centres = est.centroids()
    out = {}
    for k in range(est.n_components):
        distance = np.hypot(*(truth.centres[index] - centres[k]).T)
        distance[truth.status[index] != 0] = np.inf
        out[k] = int(np.argmin(distance)) if distance.min() < 3 else -1
    return out


def _tracked_truth(workdir: Path, truth, cells: pd.DataFrame, sessions: list[str]) -> list[int]:
    """The simulated cell of every tracked cell (-1: none), checking that none joins two cells or is split."""
    maps = {s: _truth_ids(workdir, truth, s) for s in sessions}
    rows = []
    for _, row in cells.iterrows():
        ids = {maps[s][int(row[s])] for s in sessions if not pd.isna(row[s])} - {-1}
        assert len(ids) <= 1, f"tracked cell {row['tracked_cell_id']} joins different neurons {ids}"
        rows.append(ids.pop() if ids else -1)
    known = [g for g in rows if g >= 0]
    assert len(known) == len(set(known)), "a neuron was split over several tracked cells"
    return rows


def test_every_tracked_cell_has_a_trace_in_every_session(subject_run):
    workdir, truth = subject_run
    folder = workdir / "results" / "subjects" / "m1"
    cells = pd.read_csv(folder / "register" / "tracked_cells.csv")
    registration = Registration.load(folder / "register" / "registration.h5")
    assert list(cells.columns[1:4]) == SESSIONS  # ordered by start time
    assert len(cells) == registration.n_tracked > 0
    for column, session in enumerate(SESSIONS):
        result = load_reextraction(folder / "reextract" / f"{session}.h5")
        np.testing.assert_array_equal(result.tracked_cell_id, np.arange(len(cells)))
        np.testing.assert_array_equal(result.session_component, registration.assignments[:, column])
        assert result.C.shape == result.S.shape == result.YrA.shape == (len(cells), 300)
        # a cell leaves the field only with its whole footprint: those inside have finite traces
        assert np.isfinite(result.C[result.in_field]).all() and result.in_field.mean() > 0.8
        assert (folder / "reextract" / f"{session}.png").stat().st_size > 0
    for figure in ("alignment.png", "alignment_quality.png", "model.png", "tracked_cells.png", "quality.json"):
        assert (folder / "register" / figure).stat().st_size > 0


def test_every_sessions_nwb_file_has_the_same_tracked_ids(subject_run):
    from pynwb import NWBHDF5IO

    workdir, _ = subject_run
    folder = workdir / "results" / "subjects" / "m1"
    n_tracked = len(pd.read_csv(folder / "register" / "tracked_cells.csv"))
    for column, session in enumerate(SESSIONS):
        path = folder / "nwb" / f"{session}.nwb"
        with NWBHDF5IO(str(path), "r") as io:
            nwb = io.read()
            ophys = nwb.processing["ophys"]
            tracked = ophys["ImageSegmentation"]["TrackedPlaneSegmentation"].to_dataframe()
            own_ids = set(ophys["ImageSegmentation"]["PlaneSegmentation"].id[:])
            assert list(tracked.index) == list(range(n_tracked))
            assert set(tracked["session_component"][tracked["session_component"] >= 0]) <= own_ids
            assert ophys["TrackedFluorescence"]["C"].data.shape == (300, n_tracked)
            assert ophys["TrackedDeconvolved"]["S"].data.shape == (300, n_tracked)
            # the copied file still finds the raw movie it links to
            raw = nwb.acquisition["OnePhotonSeries"].external_file[0]
            assert (path.parent / raw).resolve().is_file()


def test_tracking_and_traces_match_the_truth(subject_run):
    workdir, truth = subject_run
    folder = workdir / "results" / "subjects" / "m1"
    cells = pd.read_csv(folder / "register" / "tracked_cells.csv")
    rows = _tracked_truth(workdir, truth, cells, SESSIONS)
    # a neuron active in one session only stays a row of its own
    indices = [truth.sessions.index("session" + s[3:]) for s in SESSIONS]
    active_once = [row for row, g in enumerate(rows) if g >= 0 and (truth.status[indices, g] == 0).sum() == 1]
    assert active_once and all(cells.loc[row, "n_sessions"] == 1 for row in active_once)
    # re-extracted traces follow the true calcium where the neuron was active, whether the session found it or not
    import h5py

    correlations = []
    for s, index in zip(SESSIONS, indices):
        result = load_reextraction(folder / "reextract" / f"{s}.h5")
        with h5py.File(workdir / "raw" / truth.sessions[index] / "ground_truth.h5") as f:
            calcium = f["calcium"][()]
        for row, g in enumerate(rows):
            if g >= 0 and truth.status[index, g] == 0:
                correlations.append(np.corrcoef(result.C[row], calcium[truth.component[index, g]])[0, 1])
    assert len(correlations) >= 20 and np.median(correlations) > 0.9, correlations


def test_a_fourth_session_reruns_only_what_depends_on_it(subject_run):
    workdir, _ = subject_run
    _sheet(workdir, SESSIONS + ["day4"])
    try:
        per_rule = _dry_run_jobs(workdir)
    finally:
        _sheet(workdir, SESSIONS)
    assert per_rule.pop("register") == ["subject=m1"]
    assert sorted(per_rule.pop("reextract")) == [f"subject=m1, id=day{i}" for i in (1, 2, 3, 4)]
    assert sorted(per_rule.pop("tracked_nwb")) == [f"subject=m1, id=day{i}" for i in (1, 2, 3, 4)]
    # every other job is a single-session step of the new session: none of day1-3 runs again, nothing of m2
    assert per_rule and all(w == ["id=day4"] for w in per_rule.values()), per_rule
    assert {"convert", "motion", "cnmfe", "evaluate"} <= set(per_rule)


def _dry_run_jobs(workdir: Path) -> dict[str, list[str]]:
    """Rule -> wildcards of every job a dry run of the current sheet would run (empty: nothing to do)."""
    result = snakemake(workdir, "--dry-run", "--cores", "2", "--quiet", "host")  # with the job listings
    dry = result.stdout
    jobs = re.findall(r"^(?:local)?rule (\w+):\n((?:[ \t]+.*\n?)*)", dry, flags=re.MULTILINE)
    if not jobs:
        assert "Nothing to be done" in dry + result.stderr, dry[-2000:] + result.stderr[-2000:]
        return {}
    per_rule: dict[str, list[str]] = {}
    for rule, body in jobs:
        match = re.search(r"wildcards: (.*)", body)
        per_rule.setdefault(rule, []).append(match.group(1) if match else "")
    per_rule.pop("all", None)
    return per_rule


def test_a_session_added_to_the_second_subject_reruns_nothing_of_the_first(subject_run):
    workdir, _ = subject_run
    assert not _dry_run_jobs(workdir)  # both subjects are complete
    _sheet(workdir, SESSIONS, OTHER + ["m2day3"])
    try:
        per_rule = _dry_run_jobs(workdir)
    finally:
        _sheet(workdir, SESSIONS)
    assert per_rule.pop("register") == ["subject=m2"]
    assert sorted(per_rule.pop("reextract")) == [f"subject=m2, id=m2day{i}" for i in (1, 2, 3)]
    assert sorted(per_rule.pop("tracked_nwb")) == [f"subject=m2, id=m2day{i}" for i in (1, 2, 3)]
    assert per_rule and all(w == ["id=m2day3"] for w in per_rule.values()), per_rule


def test_the_second_subject_is_tracked_on_its_own(subject_run):
    workdir, _ = subject_run
    truth = load_subject_truth(workdir / "raw_m2" / "subject_truth.h5")
    folder = workdir / "results" / "subjects" / "m2"
    cells = pd.read_csv(folder / "register" / "tracked_cells.csv")
    assert list(cells.columns[1:3]) == OTHER and "day1" not in cells.columns
    rows = _tracked_truth(workdir, truth, cells, OTHER)
    maps = {s: _truth_ids(workdir, truth, s) for s in OTHER}
    found_in_both = (set(maps[OTHER[0]].values()) & set(maps[OTHER[1]].values())) - {-1}
    assert len(found_in_both) >= 5
    assert all(cells.loc[row, "n_sessions"] == 2 for row, g in enumerate(rows) if g in found_in_both)
    for session in OTHER:
        result = load_reextraction(folder / "reextract" / f"{session}.h5")
        assert result.C.shape == (len(cells), 300)


def test_a_subjects_sessions_must_agree_on_its_parameters(subject_run):
    workdir, _ = subject_run
    rows = ["id,calcium imaging directory,subject,p_same_threshold"]
    rows += [f"{s},{workdir / 'raw' / ('session' + s[3:])},m1,{0.5 if s != 'day2' else 0.6}" for s in SESSIONS]
    (workdir / "experiments.csv").write_text("\n".join(rows) + "\n")
    try:
        command = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "workflow" / "Snakefile"),
                   "--directory", str(workdir), "--configfile", str(workdir / "config.yaml"), "--dry-run"]
        result = subprocess.run(command, capture_output=True, text=True, cwd=workdir)
    finally:
        _sheet(workdir, SESSIONS)
    assert result.returncode != 0
    assert "subject m1: the sessions day1 and day2 set register parameter 'p_same_threshold'" in (
        result.stdout + result.stderr)
