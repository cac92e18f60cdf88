"""End to end: a simulated subject's sessions through the workflow, tracked and re-extracted; a fourth session
re-runs only what depends on it; two subjects' files depend only on their own sessions."""

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


def _sheet(workdir: Path, sessions: list[str]) -> None:
    rows = ["id,calcium imaging directory,subject"]
    rows += [f"{s},{workdir / 'raw' / ('session' + s[3:])},m1" for s in sessions]
    (workdir / "experiments.csv").write_text("\n".join(rows) + "\n")


@pytest.fixture(scope="module")
def subject_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("tracking_workflow")
    cfg = SimulationConfig(n_frames=300, height=64, width=64, n_neurons=14, frames_per_file=300, seed=11, ephys=False,
                           motion_amplitude_px=1.0, spike_to_noise=4.0, min_rate_hz=0.2, max_rate_hz=1.0)
    simulate_subject(workdir / "raw", cfg, SubjectConfig(n_sessions=4, max_shift_px=5, max_rotation_deg=3,
                                                         warp_px=0.5, silent_fraction=0.25))
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
    index = truth.sessions.index("session" + session[3:])
    est = load_estimates(workdir / "results" / session / "evaluate" / "estimates.h5")
    centres = est.centroids()
    out = {}
    for k in range(est.n_components):
        distance = np.hypot(*(truth.centres[index] - centres[k]).T)
        distance[truth.status[index] != 0] = np.inf
        out[k] = int(np.argmin(distance)) if distance.min() < 3 else -1
    return out


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
    maps = {s: _truth_ids(workdir, truth, s) for s in SESSIONS}
    rows = []
    for _, row in cells.iterrows():
        ids = {maps[s][int(row[s])] for s in SESSIONS if not pd.isna(row[s])} - {-1}
        assert len(ids) <= 1, f"tracked cell {row['tracked_cell_id']} joins different neurons {ids}"
        rows.append(ids.pop() if ids else -1)
    known = [g for g in rows if g >= 0]
    assert len(known) == len(set(known)), "a neuron was split over several tracked cells"
    # a neuron active in one session only stays a row of its own. Its row may take in another session's false
    # component at the same place (no true cell within 3 px: above, a second neuron would have failed): with gSig 3
    # in all three sessions, day3 accepts a 123 px neuropil-like blob (SNR 2.7) 5.8 px from a cell silent that day,
    # a detection error (benchmarks/sweep.md, neuropil blobs), so one such join in five is allowed.
    indices = [truth.sessions.index("session" + s[3:]) for s in SESSIONS]
    active_once = [row for row, g in enumerate(rows) if g >= 0 and (truth.status[indices, g] == 0).sum() == 1]
    joined = [row for row in active_once if cells.loc[row, "n_sessions"] > 1]
    assert len(active_once) >= 3 and len(joined) <= len(active_once) // 5, (active_once, joined)
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


def _planned_jobs(workdir: Path, *targets: str) -> dict[str, list[str]]:
    """Rule -> wildcards of every job a dry run (of ``targets``, default all) would run."""
    after = ("--", *targets) if targets else ()  # "--": the targets are not values of --quiet
    dry = snakemake(workdir, "--dry-run", "--cores", "2", "--quiet", "host", *after).stdout  # with job listings
    jobs = re.findall(r"^(?:local)?rule (\w+):\n((?:[ \t]+.*\n?)*)", dry, flags=re.MULTILINE)
    assert jobs, dry[-2000:]
    per_rule: dict[str, list[str]] = {}
    for rule, body in jobs:
        match = re.search(r"wildcards: (.*)", body)
        per_rule.setdefault(rule, []).append(match.group(1) if match else "")
    return per_rule


def test_two_subjects_files_depend_only_on_their_own_sessions(tmp_path):
    # the DAG of each subject's outputs, with both subjects in the sheet: a session added to one subject cannot
    # re-run anything of the other (a full run of two subjects: benchmarks/tracking.md)
    cfg = SimulationConfig(n_frames=20, height=48, width=48, n_neurons=6, frames_per_file=20, seed=3, ephys=False)
    simulate_subject(tmp_path / "raw", cfg, SubjectConfig(n_sessions=2))
    simulate_subject(tmp_path / "raw_b", SimulationConfig(**{**cfg.__dict__, "seed": 4}), SubjectConfig(n_sessions=3))
    rows = ["id,calcium imaging directory,subject", f"a1,{tmp_path / 'raw' / 'session1'},ma",
            f"a2,{tmp_path / 'raw' / 'session2'},ma"]
    rows += [f"b{k},{tmp_path / 'raw_b' / f'session{k}'},mb" for k in (1, 2, 3)]
    (tmp_path / "experiments.csv").write_text("\n".join(rows) + "\n")
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    config["experiments"] = str(tmp_path / "experiments.csv")
    config["results"] = "results"
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    for subject, own in (("ma", {"a1", "a2"}), ("mb", {"b1", "b2", "b3"})):
        targets = [f"results/subjects/{subject}/register/registration.h5"]
        targets += [f"results/subjects/{subject}/nwb/{rid}.nwb" for rid in sorted(own)]
        per_rule = _planned_jobs(tmp_path, *targets)
        assert per_rule.pop("register") == [f"subject={subject}"]
        for rule in ("reextract", "tracked_nwb"):
            assert sorted(per_rule.pop(rule)) == [f"subject={subject}, id={rid}" for rid in sorted(own)]
        sessions = {w.removeprefix("id=") for jobs in per_rule.values() for w in jobs if w.startswith("id=")}
        assert sessions == own, per_rule
        assert all(w.startswith("id=") or w == "" for jobs in per_rule.values() for w in jobs), per_rule


def test_a_fourth_session_reruns_only_what_depends_on_it(subject_run):
    workdir, _ = subject_run
    _sheet(workdir, SESSIONS + ["day4"])
    try:
        per_rule = _planned_jobs(workdir)
    finally:
        _sheet(workdir, SESSIONS)
    assert per_rule.pop("register") == ["subject=m1"]
    assert sorted(per_rule.pop("reextract")) == [f"subject=m1, id=day{i}" for i in (1, 2, 3, 4)]
    assert sorted(per_rule.pop("tracked_nwb")) == [f"subject=m1, id=day{i}" for i in (1, 2, 3, 4)]
    per_rule.pop("all", None)
    # every other job is a single-session step of the new session: none of day1-3 runs again
    assert per_rule and all(w == ["id=day4"] for w in per_rule.values()), per_rule
    assert {"convert", "motion", "cnmfe", "evaluate"} <= set(per_rule)


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
