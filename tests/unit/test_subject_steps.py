"""The register step's files, and a session of another field of view named as unalignable."""

import pandas as pd
import pytest
import scipy.io

from ace_neuro.simulate import SimulationConfig
from ace_neuro.simulate.sessions import SubjectConfig, load_subject_truth, simulate_subject
from ace_neuro.subject_steps import run_register_step
from ace_neuro.tracking import TrackingOptions, AlignmentError

NAMES = ("registration.h5", "tracked_cells.csv", "quality.json", "alignment.png", "alignment_quality.png",
         "model.png", "tracked_cells.png")


@pytest.fixture(scope="module")
def footprint_files(tmp_path_factory):
    """CellReg-style footprint files (cells x H x W) of the active cells of a simulated subject's sessions."""
    folder = tmp_path_factory.mktemp("steps")
    cfg = SimulationConfig(n_frames=20, height=96, width=96, n_neurons=40, seed=4, ephys=False, noise=0.0)
    simulate_subject(folder / "raw", cfg, SubjectConfig(n_sessions=3, max_shift_px=6, max_rotation_deg=3,
                                                        silent_fraction=0.2))
    truth = load_subject_truth(folder / "raw" / "subject_truth.h5")
    paths = []
    for s, name in enumerate(truth.sessions):
        active = truth.footprints(name)[truth.status[s] == 0]
        paths.append(folder / f"spatial_footprints_{name}.mat")
        scipy.io.savemat(paths[-1], {"allFiltersMat": active})
    # a session of another animal: another tissue (seed) seen by the same microscope
    simulate_subject(folder / "other", SimulationConfig(**{**cfg.__dict__, "seed": 99}), SubjectConfig(n_sessions=1))
    other = load_subject_truth(folder / "other" / "subject_truth.h5")
    mirrored = folder / "spatial_footprints_other.mat"
    scipy.io.savemat(mirrored, {"allFiltersMat": other.footprints(other.sessions[0])[other.status[0] == 0]})
    return folder, paths, mirrored


def _outputs(folder):
    return dict(registration_path=folder / NAMES[0], cells_path=folder / NAMES[1], quality_path=folder / NAMES[2],
                alignment_figure_path=folder / NAMES[3], alignment_quality_figure_path=folder / NAMES[4],
                model_figure_path=folder / NAMES[5], cells_figure_path=folder / NAMES[6])


def test_register_step_writes_the_rules_files(footprint_files, tmp_path):
    _, paths, _ = footprint_files
    registration = run_register_step(paths, None, ["d1", "d2", "d3"], subject="m1", **_outputs(tmp_path))
    for name in NAMES:
        assert (tmp_path / name).stat().st_size > 0
    cells = pd.read_csv(tmp_path / "tracked_cells.csv")
    assert list(cells.columns[1:4]) == ["d1", "d2", "d3"] and len(cells) == registration.n_tracked
    assert (cells["n_sessions"] == 3).sum() >= 10


def test_a_session_of_another_field_of_view_is_named_at_the_defaults(footprint_files, tmp_path):
    # on this small field another animal's session still correlates about 0.2 with the others, above the floor
    # min_alignment_correlation; the subject's own sessions (about 0.7) and chance (a mirrored session) set the
    # threshold at the defaults
    _, paths, other = footprint_files
    with pytest.raises(AlignmentError, match=r"subject m1: cannot align session\(s\) other:.*same field of view"):
        run_register_step([*paths, other], None, ["d1", "d2", "d3", "other"], subject="m1", **_outputs(tmp_path))
    assert not (tmp_path / "registration.h5").exists()
    # the floor alone (what decided before the relative rule) keeps it: the test can tell the rules apart
    lenient = TrackingOptions(min_relative_alignment_correlation=0.0, min_alignment_over_chance=0.0)
    registration = run_register_step([*paths, other], None, ["d1", "d2", "d3", "other"], subject="m1",
                                     options=lenient, **_outputs(tmp_path))
    assert registration.n_tracked > 0


def test_paths_must_be_the_writers_names(footprint_files, tmp_path):
    _, paths, _ = footprint_files
    outputs = _outputs(tmp_path)
    outputs["cells_path"] = tmp_path / "cells.csv"
    with pytest.raises(ValueError, match="rule expects"):
        run_register_step(paths, None, ["d1", "d2", "d3"], subject="m1", **outputs)

