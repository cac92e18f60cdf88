"""The multi-session simulator: one tissue seen by several sessions, with every cell's identity."""

import json

import h5py
import numpy as np
import pytest

from ace_neuro.cli import main
from ace_neuro.simulate import SimulationConfig
from ace_neuro.simulate.sessions import SubjectConfig, load_subject_truth, simulate_subject

CFG = SimulationConfig(n_frames=60, height=64, width=64, n_neurons=15, seed=5, ephys=False, noise=0.0)


@pytest.fixture(scope="module")
def subject(tmp_path_factory):
    out = tmp_path_factory.mktemp("subject") / "mouse"
    simulate_subject(out, CFG, SubjectConfig(n_sessions=3, max_shift_px=8, max_rotation_deg=5, warp_px=1.0,
                                             silent_fraction=0.3))
    return out, load_subject_truth(out / "subject_truth.h5")


def test_session_folders_and_truth(subject):
    out, truth = subject
    assert truth.sessions == ["session1", "session2", "session3"]
    n = truth.status.shape[1]
    assert truth.status.shape == (3, n) and n > CFG.n_neurons  # the tissue is larger than the field
    starts = []
    for s, name in enumerate(truth.sessions):
        meta = json.loads((out / name / "metaData.json").read_text())
        starts.append(meta["recordingStartTime"]["msecSinceEpoch"])
        assert meta["animalName"] == "sim_subject5"
        with h5py.File(out / name / "ground_truth.h5") as g:
            n_active = g["footprints"].shape[0]
        assert n_active == int((truth.status[s] == 0).sum())
        assert sorted(truth.component[s][truth.status[s] == 0]) == list(range(n_active))
        assert np.all(truth.component[s][truth.status[s] != 0] == -1)
    assert np.all(np.diff(starts) == 24 * 3600 * 1000)
    # every state happens: cells silent in some sessions, cells leaving and entering the field
    assert (truth.status == 1).any() and (truth.status == 2).any()
    in_field = truth.status != 2
    assert (in_field.any(axis=0) & ~in_field.all(axis=0)).any()


def test_footprints_follow_the_transform(subject):
    out, truth = subject
    yy, xx = np.mgrid[0:CFG.height, 0:CFG.width]
    for s, name in enumerate(truth.sessions):
        footprints = truth.footprints(name)
        with h5py.File(out / name / "ground_truth.h5") as g:
            own = g["footprints"][()]
        active = np.flatnonzero(truth.status[s] == 0)
        # the subject's truth and the session's own truth hold the same footprints
        np.testing.assert_allclose(footprints[active], own[truth.component[s, active]], atol=1e-5)
        # the footprint's centroid is the cell's centre mapped into the session (away from the border)
        inner = [k for k in active if (8 < truth.centres[s, k] ).all() and (truth.centres[s, k] < 56).all()]
        assert inner
        for k in inner:
            w = footprints[k]
            centroid = np.array([(w * yy).sum(), (w * xx).sum()]) / w.sum()
            assert np.abs(centroid - truth.centres[s, k]).max() < 0.6  # vessels darken part of some cells
        out_of_field = truth.status[s] == 2
        far = out_of_field & (np.abs(truth.centres[s] - 32).max(axis=1) > 32 + 12)
        assert np.all(footprints[far].max(axis=(1, 2)) == 0)


def test_sessions_differ_by_their_transforms(subject):
    out, truth = subject
    # positions of the cells present in two sessions are related by the sessions' rotation and shift (+ warp)
    a, b = 0, 1
    both = (truth.status[a] != 2) & (truth.status[b] != 2)
    pa, pb = truth.centres[a, both], truth.centres[b, both]
    c = np.array([(CFG.height - 1) / 2, (CFG.width - 1) / 2])
    angle = np.radians(truth.rotation_deg[b] - truth.rotation_deg[a])
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    ra = np.radians(truth.rotation_deg[a])
    rot_a = np.array([[np.cos(ra), -np.sin(ra)], [np.sin(ra), np.cos(ra)]])
    # tissue point of a: R_a (p_a - c) + t_a = R_b (p_b - c) + t_b (+ warps of at most 1 px each)
    lhs = (pa - c) @ rot_a.T + truth.shift[a]
    rb = np.radians(truth.rotation_deg[b])
    rot_b = np.array([[np.cos(rb), -np.sin(rb)], [np.sin(rb), np.cos(rb)]])
    rhs = (pb - c) @ rot_b.T + truth.shift[b]
    assert np.abs(lhs - rhs).max() < 2.0 + 1e-3
    assert np.abs(pa - pb).max() > 2.0  # and the sessions did move
    del rot


def test_deterministic_and_cli(tmp_path, subject):
    _, truth = subject
    rc = main(["simulate", str(tmp_path / "again"), "--sessions", "3", "--n-frames", "60", "--height", "64",
               "--width", "64", "--n-neurons", "15", "--seed", "5", "--ephys", "false", "--noise", "0",
               "--max-shift-px", "8", "--max-rotation-deg", "5", "--warp-px", "1", "--silent-fraction", "0.3"])
    assert rc == 0
    again = load_subject_truth(tmp_path / "again" / "subject_truth.h5")
    np.testing.assert_array_equal(again.status, truth.status)
    np.testing.assert_allclose(again.centres, truth.centres)


def test_bad_options(tmp_path):
    with pytest.raises(ValueError, match="n_sessions"):
        SubjectConfig(n_sessions=0)
    with pytest.raises(ValueError, match="silent_fraction"):
        SubjectConfig(silent_fraction=1.0)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "data.txt").write_text("x")
    with pytest.raises(ValueError, match="not an earlier simulated subject"):
        simulate_subject(tmp_path / "other", CFG, SubjectConfig(n_sessions=2))
