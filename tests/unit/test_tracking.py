"""Cross-day tracking (ace_neuro.tracking): known answers on footprints with known transforms, readers, CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io
import scipy.sparse

from ace_neuro.tracking import (AlignmentError, Registration, SessionFootprints, SessionTransform, TrackingOptions,
                                read_footprints, register_sessions, warp_to_session)
from ace_neuro.tracking.transforms import rotation_matrix, warp_footprints

TISSUE = (190, 190)
FRAME = (150, 150)
REAL = Path(__file__).resolve().parents[2] / ".." / "shared" / "realdata" / "cellreg_sample"


def _tissue(seed: int, n_cells: int = 110, sigma: float = 2.2) -> tuple[np.ndarray, np.ndarray]:
    """Cells of one animal: (n, 2) centres at least 7 px apart and their footprints (n, H, W) in tissue space."""
    rng = np.random.default_rng(seed)
    centres = []
    while len(centres) < n_cells:
        c = rng.uniform(8, np.array(TISSUE) - 8)
        if all(np.hypot(*(c - o)) >= 7 for o in centres):
            centres.append(c)
    centres = np.array(centres)
    rows, cols = np.mgrid[0:TISSUE[0], 0:TISSUE[1]]
    fp = np.exp(-((rows[None] - centres[:, :1, None]) ** 2 + (cols[None] - centres[:, 1:, None]) ** 2)
                / (2 * sigma ** 2)).astype(np.float32)
    fp[fp < 0.05] = 0
    return centres, fp


def _session(name, tissue_fp, *, angle=0.0, shift=(0.0, 0.0), keep=None, seed=0, warp=0.0):
    """A session: the tissue seen through a frame rotated by ``angle`` and moved by ``shift`` (+ a smooth warp).

    Returns the session and the tissue index of each of its cells (ids are a shuffled, offset numbering).
    """
    rng = np.random.default_rng(seed)
    centre = (np.array(TISSUE) - 1) / 2 + np.asarray(shift)
    field = None
    if warp:
        rows, cols = np.mgrid[0:TISSUE[0], 0:TISSUE[1]]
        field = np.stack([warp * np.sin(2 * np.pi * cols / TISSUE[1]), warp * np.cos(2 * np.pi * rows / TISSUE[0])])
    to_tissue = SessionTransform(FRAME, TISSUE, angle, centre, field)
    warped = warp_footprints(tissue_fp, TISSUE, to_tissue.session_to_common(), inverse=to_tissue.common_to_session())
    mass = np.asarray(warped.sum(axis=1)).ravel()
    full = tissue_fp.reshape(len(tissue_fp), -1).sum(axis=1)
    index = np.flatnonzero(mass > 0.6 * full)  # cells (mostly) inside the frame
    if keep is not None:
        index = np.intersect1d(index, keep)
    ids = 1000 + rng.permutation(len(index))
    return SessionFootprints(name, warped[index], ids=ids, shape=FRAME), dict(zip(ids.tolist(), index.tolist()))


def _links(reg: Registration, truths: list[dict]) -> tuple[set, set]:
    """Found and true links between (session, tissue cell) pairs."""
    found = set()
    for row in reg.assignments:
        cells = [(s, truths[s][i]) for s, i in enumerate(row) if i >= 0]
        for a in range(len(cells)):
            for b in range(a + 1, len(cells)):
                found.add((cells[a], cells[b]))
    true = set()
    for s in range(len(truths)):
        for t in range(s + 1, len(truths)):
            common = set(truths[s].values()) & set(truths[t].values())
            true |= {((s, c), (t, c)) for c in common}
    return found, true


def test_identical_sessions_give_the_identity():
    _, fp = _tissue(1)
    a, truth = _session("a", fp)
    b = SessionFootprints("b", a.footprints, ids=a.ids, shape=a.shape)
    reg = register_sessions([a, b])
    assert reg.n_tracked == a.n_cells
    np.testing.assert_array_equal(reg.assignments[:, 0], reg.assignments[:, 1])
    assert reg.transforms[0].angle_deg == pytest.approx(reg.transforms[1].angle_deg, abs=0.05)
    np.testing.assert_allclose(reg.transforms[0].shift, reg.transforms[1].shift, atol=0.2)
    assert reg.confidence.min() > 0.9
    assert reg.quality["false_positive"] < 0.01 and reg.quality["false_negative"] < 0.01


@pytest.mark.parametrize("angle, shift", [(4.0, (6.0, -9.0)), (-5.0, (0.0, 0.0))])
def test_pure_rotation_and_shift_are_recovered(angle, shift):
    _, fp = _tissue(2)
    a, ta = _session("a", fp)
    b, tb = _session("b", fp, angle=angle, shift=shift)
    reg = register_sessions([a, b])
    # a point of b at p is at R(angle)(p - c) + c + shift in tissue = a's frame + shift
    assert reg.transforms[1].angle_deg - reg.transforms[0].angle_deg == pytest.approx(angle, abs=0.25)
    # and b's translation relative to a's is the tissue shift turned into the common space (a's rotation)
    moved = reg.transforms[1].shift - reg.transforms[0].shift
    np.testing.assert_allclose(moved, rotation_matrix(reg.transforms[0].angle_deg) @ np.asarray(shift), atol=0.3)
    found, true = _links(reg, [ta, tb])
    assert len(found & true) >= 0.97 * len(true) and len(found - true) <= 0.02 * len(found)


def test_cell_present_in_one_session_stays_its_own_row():
    _, fp = _tissue(3)
    everything = np.arange(len(fp))
    a, ta = _session("a", fp)
    lonely = next(iter(ta.values()))
    b, tb = _session("b", fp, angle=-2.0, shift=(3, 4), keep=np.setdiff1d(everything, [lonely]), seed=1)
    c, tc = _session("c", fp, angle=1.5, shift=(-4, 2), keep=np.setdiff1d(everything, [lonely]), seed=2)
    reg = register_sessions([a, b, c])
    lonely_id = [i for i, t in ta.items() if t == lonely][0]
    row = reg.assignments[reg.assignments[:, 0] == lonely_id]
    assert row.shape == (1, 3) and np.all(row[0, 1:] == -1)
    found, true = _links(reg, [ta, tb, tc])
    assert len(found - true) == 0 and len(found & true) >= 0.97 * len(true)


def test_order_of_sessions_permutes_columns_only():
    _, fp = _tissue(4)
    sessions = [_session(name, fp, angle=ang, shift=sh, seed=k, keep=np.random.default_rng(k).permutation(len(fp))[:85])[0]
                for k, (name, ang, sh) in enumerate([("d1", 0, (0, 0)), ("d2", 3, (5, 5)), ("d3", -3, (-6, 2))])]
    first = register_sessions(sessions)
    perm = [2, 0, 1]
    second = register_sessions([sessions[i] for i in perm])
    np.testing.assert_array_equal(second.assignments, first.assignments[:, perm])
    np.testing.assert_allclose(second.confidence, first.confidence)
    assert second.session_names == [first.session_names[i] for i in perm]


def test_warp_with_nonrigid_field_tracks_all_cells_and_maps_back():
    _, fp = _tissue(5)
    made = [_session(f"s{k}", fp, angle=ang, shift=sh, warp=w, seed=k)
            for k, (ang, sh, w) in enumerate([(0, (0, 0), 0), (2.5, (8, -4), 1.5), (-3, (-5, 7), 2.0)])]
    reg = register_sessions([m[0] for m in made])
    found, true = _links(reg, [m[1] for m in made])
    precision, recall = len(found & true) / max(len(found), 1), len(found & true) / len(true)
    assert precision >= 0.98 and recall >= 0.97
    # each tracked cell's common footprint, warped back into a session, lies on that session's footprint
    s = made[1][0]
    back = warp_to_session(reg.common_footprints, reg.transforms[1], s.shape)
    column = reg.assignments[:, 1]
    rows = np.flatnonzero(column >= 0)
    local = {i: k for k, i in enumerate(s.ids)}
    mine = s.footprints[[local[i] for i in column[rows]]]
    theirs = back[rows]
    cos = np.asarray(mine.multiply(theirs).sum(axis=1)).ravel() / (
        scipy.sparse.linalg.norm(mine, axis=1) * scipy.sparse.linalg.norm(theirs, axis=1) + 1e-12)
    assert np.median(cos) > 0.9


def test_another_animal_is_named_unalignable():
    _, fp = _tissue(6)
    _, other = _tissue(60)
    sessions = [_session("day1", fp)[0], _session("day2", fp, angle=2, shift=(3, 3), seed=1)[0],
                _session("other_mouse", other, seed=2)[0]]
    with pytest.raises(AlignmentError, match="other_mouse"):
        register_sessions(sessions)


def _moved_subject(seed: int, n_sessions: int, fp: np.ndarray) -> tuple[list[SessionFootprints], list[dict]]:
    """Sessions of one tissue with shifts up to 20 px, rotations up to 5 degrees and a quarter of cells silent,
    and each one's tissue cells."""
    rng = np.random.default_rng(seed)
    made = [_session(f"day{k + 1}", fp, angle=rng.uniform(-5, 5), shift=rng.uniform(-20, 20, 2), seed=k,
                     keep=rng.permutation(len(fp))[:int(0.75 * len(fp))]) for k in range(n_sessions)]
    return [m[0] for m in made], [m[1] for m in made]


def test_sessions_of_one_animal_are_kept_and_another_animal_is_named_at_the_defaults():
    _, fp = _tissue(11)
    _, other_fp = _tissue(61)
    subject, truths = _moved_subject(11, 4, fp)
    reg = register_sessions(subject)
    found, true = _links(reg, truths)
    assert len(found & true) >= 0.97 * len(true) and len(found - true) <= 0.02 * len(found)
    assert reg.alignment["link_threshold"] > TrackingOptions().min_alignment_correlation
    assert reg.alignment["pairwise_correlation"].min() >= reg.alignment["link_threshold"]
    other = _session("other_mouse", other_fp, angle=2.0, shift=(5, -5), seed=9)[0]
    with pytest.raises(AlignmentError, match=r"cannot align session\(s\) other_mouse:.*same field of view") as info:
        register_sessions([*subject, other])
    assert "day" not in str(info.value).split(":")[0]
    # the fixed floor alone keeps it: what the relative threshold and chance add
    lenient = TrackingOptions(min_relative_alignment_correlation=0.0, min_alignment_over_chance=0.0)
    assert register_sessions([*subject, other], lenient).n_tracked > 0


def test_two_session_subjects_are_decided_by_chance_and_the_floor():
    # with two sessions neither is the odd one out: the pair is kept when it beats chance (a mirrored session
    # aligned the same way) and the floor, else both are named
    _, fp = _tissue(12)
    _, other_fp = _tissue(62)
    (day1, day2), truths = _moved_subject(12, 2, fp)
    reg = register_sessions([day1, day2])
    assert reg.alignment["pairwise_correlation"][0, 1] >= 2 * reg.alignment["chance_correlation"]
    found, true = _links(reg, truths)
    assert len(found & true) >= 0.97 * len(true) and len(found - true) <= 0.02 * len(found)
    other = _session("other_mouse", other_fp, seed=9)[0]
    with pytest.raises(AlignmentError, match=r"day1, other_mouse: no group of them is larger"):
        register_sessions([day1, other])


def test_save_and_load_round_trip(tmp_path):
    _, fp = _tissue(7)
    reg = register_sessions([_session("a", fp)[0], _session("b", fp, angle=1, shift=(2, 1), seed=1)[0]])
    path = reg.save(tmp_path / "registration.h5")
    back = Registration.load(path)
    np.testing.assert_array_equal(back.assignments, reg.assignments)
    np.testing.assert_allclose(back.confidence, reg.confidence)
    assert (back.common_footprints != reg.common_footprints).nnz == 0
    assert back.quality == pytest.approx(reg.quality)
    np.testing.assert_allclose(back.transforms[1].field, reg.transforms[1].field)
    assert not list(tmp_path.glob(".*partial*"))


def test_bad_input_is_one_clear_error(tmp_path):
    with pytest.raises(ValueError, match="non-negative"):
        SessionFootprints("x", -np.ones((2, 5, 5)))
    with pytest.raises(ValueError, match="unique"):
        register_sessions([SessionFootprints("x", np.ones((1, 5, 5))), SessionFootprints("x", np.ones((1, 5, 5)))])
    with pytest.raises(ValueError, match="p_same_threshold"):
        TrackingOptions(p_same_threshold=1.5)
    with pytest.raises(FileNotFoundError, match="nope.mat"):
        read_footprints(tmp_path / "nope.mat")
    (tmp_path / "junk.h5").write_bytes(b"not hdf5")
    with pytest.raises(ValueError, match="junk.h5"):
        read_footprints(tmp_path / "junk.h5")


def test_readers_of_cellreg_caiman_and_ours_agree(tmp_path):
    from ace_neuro.cnmfe.estimates import Estimates, footprints_to_sparse
    from ace_neuro.cnmfe.estimates_file import save_estimates
    from ace_neuro.io.caiman import export_caiman_hdf5

    rng = np.random.default_rng(0)
    stack = np.zeros((3, 12, 10))
    stack[0, 2:5, 1:4] = 1
    stack[1, 7, 8] = 2
    stack[2, 9:11, 2:9] = rng.random((2, 7))
    scipy.io.savemat(tmp_path / "spatial_footprints_01.mat", {"allFiltersMat": stack})
    cellreg = read_footprints(tmp_path / "spatial_footprints_01.mat")
    np.testing.assert_allclose(cellreg.dense(), stack, rtol=1e-6)
    est = Estimates(A=footprints_to_sparse(stack.astype(np.float32)), C=rng.random((3, 20)), dims=(12, 10),
                    frame_rate=10.0, idx_components=np.array([0, 2]), idx_components_bad=np.array([1]))
    ours = read_footprints(save_estimates(est, tmp_path / "day1" / "evaluate" / "estimates.h5"))
    assert ours.name == "day1"
    np.testing.assert_array_equal(ours.ids, [0, 2])
    np.testing.assert_allclose(ours.dense(), stack[[0, 2]], rtol=1e-6)
    caiman = read_footprints(export_caiman_hdf5(est, tmp_path / "caiman.hdf5"))
    np.testing.assert_array_equal(caiman.ids, [0, 2])
    np.testing.assert_allclose(caiman.dense(), stack[[0, 2]], rtol=1e-6)


def test_cli_tracks_cellreg_files(tmp_path):
    from ace_neuro.cli import main

    _, fp = _tissue(8)
    paths = []
    for k, (ang, sh) in enumerate([(0, (0, 0)), (2, (4, -3)), (-1.5, (-3, 5))]):
        session, _ = _session(f"s{k}", fp, angle=ang, shift=sh, seed=k)
        path = tmp_path / f"spatial_footprints_0{k + 1}.mat"
        scipy.io.savemat(path, {"allFiltersMat": session.dense()})
        paths.append(str(path))
    assert main(["track", *paths, "--out", str(tmp_path / "out"), "--nonrigid", "false"]) == 0
    import pandas as pd

    table = pd.read_csv(tmp_path / "out" / "tracked_cells.csv")
    assert list(table.columns[1:4]) == ["spatial_footprints_01", "spatial_footprints_02", "spatial_footprints_03"]
    assert (table["n_sessions"] == 3).mean() > 0.6
    for name in ("registration.h5", "quality.json", "alignment.png", "alignment_quality.png", "model.png",
                 "tracked_cells.png"):
        assert (tmp_path / "out" / name).stat().st_size > 0
    assert main(["track", paths[0], "--out", str(tmp_path / "bad"), "--p-same-threshold", "2"]) == 2


@pytest.mark.slow
@pytest.mark.skipif(not REAL.is_dir(), reason="needs ../shared/realdata/cellreg_sample (CellReg's sample data)")
def test_cellreg_sample_two_sessions_and_a_mirrored_one():
    day1 = read_footprints(REAL / "spatial_footprints_01.mat")
    day2 = read_footprints(REAL / "spatial_footprints_02.mat")
    reg = register_sessions([day1, day2])
    both = int(((reg.assignments >= 0).sum(axis=1) == 2).sum())
    assert both > 0.6 * min(day1.n_cells, day2.n_cells)
    assert reg.quality["false_positive"] < 0.05 and reg.quality["false_negative"] < 0.05
    assert reg.alignment["correlation_rigid"].min() > 0.5
    mirrored = SessionFootprints("mirrored", day2.dense()[:, :, ::-1])  # same statistics, another field of view
    with pytest.raises(AlignmentError, match="mirrored"):
        register_sessions([day1, day2, mirrored])


@pytest.mark.slow
@pytest.mark.skipif(not REAL.is_dir(), reason="needs ../shared/realdata/cellreg_sample (CellReg's sample data)")
def test_cellreg_sample_all_five_sessions_are_kept_at_the_defaults():
    days = [read_footprints(REAL / f"spatial_footprints_0{k}.mat") for k in range(1, 6)]
    reg = register_sessions(days, TrackingOptions(nonrigid=False))
    assert reg.assignments.shape[1] == 5 and 700 < reg.n_tracked < 900
    pairwise = reg.alignment["pairwise_correlation"]
    assert pairwise[~np.eye(5, dtype=bool)].min() > reg.alignment["link_threshold"]
    # another field of view of the same statistics, turned a quarter: named among five real sessions
    turned = SessionFootprints("turned", np.ascontiguousarray(np.rot90(days[2].dense(), axes=(1, 2))))
    with pytest.raises(AlignmentError, match=r"cannot align session\(s\) turned:"):
        register_sessions([*days, turned], TrackingOptions(nonrigid=False))


def test_a_session_without_cells_is_a_column_of_its_own():
    _, fp = _tissue(9)
    a, _ = _session("a", fp)
    b, _ = _session("b", fp, angle=1, shift=(2, 2), seed=1)
    rng = np.random.default_rng(0)
    # the same vessels in every session, the cell-less one aligns on them: a winding vessel and a branch ending
    # inside the field (a straight cross would look the same mirrored, which the chance measure cannot tell)
    rows, cols = np.mgrid[0:FRAME[0], 0:FRAME[1]]
    vessels = 5 * (np.abs(rows - 40 - 12 * np.sin(cols / 17.0)) < 2).astype(np.float32)
    vessels[(np.abs(cols - 90 - 0.4 * rows) < 1.5) & (rows > 45) & (rows < 120)] = 5

    def mean_image():
        return {"mean": vessels + 0.1 * rng.random(FRAME).astype(np.float32)}

    nothing = scipy.sparse.csr_matrix((0, FRAME[0] * FRAME[1]))
    sessions = [SessionFootprints(s.name, s.footprints, ids=s.ids, shape=s.shape, images=mean_image())
                for s in (a, b)]
    reg = register_sessions([*sessions, SessionFootprints("c", nothing, shape=FRAME, images=mean_image())])
    assert np.all(reg.assignments[:, 2] == -1) and reg.n_tracked >= a.n_cells
    with pytest.raises(AlignmentError, match="no cells and no summary images"):
        register_sessions([a, b, SessionFootprints("c", nothing, shape=FRAME)])


def test_a_single_session_gives_one_row_per_cell():
    _, fp = _tissue(10)
    a, _ = _session("a", fp)
    reg = register_sessions([a])
    assert reg.n_tracked == a.n_cells and sorted(reg.assignments[:, 0]) == sorted(a.ids)
