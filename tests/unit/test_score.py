"""Ground-truth scoring: matching, detection scores, trace correlations."""

import numpy as np
import pytest
import scipy.sparse

from ace_neuro.cnmfe.estimates import footprints_to_sparse
from ace_neuro.cnmfe.score import ComponentMatches, detection_scores, match_components, trace_correlations

H, W = 40, 50


def _disk(center, radius, dims=(H, W)):
    rows, cols = np.mgrid[: dims[0], : dims[1]]
    d2 = (rows - center[0]) ** 2 + (cols - center[1]) ** 2
    return np.exp(-d2 / (2 * (radius / 2) ** 2)) * (d2 <= radius**2)


CENTERS = [(8, 8), (8, 30), (25, 12), (30, 40), (20, 25)]


@pytest.fixture
def truth():
    return np.stack([_disk(c, 5) for c in CENTERS])


def test_identical_footprints_in_shuffled_order_match_exactly(truth):
    perm = np.array([3, 0, 4, 1, 2])
    est = truth[perm] * 2.5  # scale does not matter
    m = match_components(est, truth)
    assert m.idx_true.tolist() == [0, 1, 2, 3, 4]
    # est index i holds true neuron perm[i]: true j is est argwhere(perm == j)
    assert m.idx_est.tolist() == [int(np.flatnonzero(perm == j)[0]) for j in range(5)]
    np.testing.assert_allclose(m.iou, 1.0)
    np.testing.assert_allclose(m.distance, 0.0, atol=1e-9)
    s = detection_scores(est, truth)
    assert s == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "n_true": 5, "n_est": 5, "n_matched": 5}


def test_split_neuron_and_missing_neuron(truth):
    # neuron 0 split into left and right halves; neuron 3 missing; others shifted by one pixel
    left = truth[0].copy()
    left[:, 8:] = 0
    right = truth[0].copy()
    right[:, :8] = 0
    est = np.stack([np.roll(truth[1], 1, axis=1), right, left, truth[2], np.roll(truth[4], 1, axis=0)])
    m = match_components(est, truth)
    assert m.idx_true.tolist() == [0, 1, 2, 4]
    assert m.idx_est[1:].tolist() == [0, 3, 4]
    assert m.idx_est[0] in (1, 2)  # exactly one half of the split neuron matches
    s = detection_scores(est, truth)
    assert (s["n_matched"], s["n_est"], s["n_true"]) == (4, 5, 5)
    assert s["precision"] == pytest.approx(0.8)
    assert s["recall"] == pytest.approx(0.8)
    assert s["f1"] == pytest.approx(0.8)


def test_gates_on_overlap_and_distance(truth):
    far = np.roll(truth[:1], 12, axis=2)  # same shape 12 px away: no overlap
    assert len(match_components(far, truth[:1]).idx_est) == 0
    near = np.roll(truth[:1], 2, axis=2)
    m = match_components(near, truth[:1])
    assert m.idx_est.tolist() == [0]
    assert m.distance[0] == pytest.approx(2.0, abs=1e-6)
    # a demanding IoU rejects the shifted copy
    assert len(match_components(near, truth[:1], min_iou=0.95).idx_est) == 0
    # and a tight distance gate rejects it too
    assert len(match_components(near, truth[:1], max_centroid_distance=1.0).idx_est) == 0


def test_sparse_input_matches_dense(truth):
    est = truth[[2, 0, 1]]
    dense = match_components(est, truth)
    sparse = match_components(footprints_to_sparse(est), footprints_to_sparse(truth), dims=(H, W))
    for a, b in zip(dense, sparse):
        np.testing.assert_allclose(a, b)
    with pytest.raises(ValueError, match="pass dims"):
        match_components(footprints_to_sparse(est), truth)


def test_empty_on_either_side(truth):
    none = np.zeros((0, H, W))
    m = match_components(none, truth)
    assert isinstance(m, ComponentMatches) and len(m.idx_est) == 0
    s = detection_scores(none, truth)
    assert (s["precision"], s["recall"], s["f1"], s["n_matched"]) == (1.0, 0.0, 0.0, 0)
    s = detection_scores(truth, none)
    assert (s["precision"], s["recall"], s["f1"]) == (0.0, 1.0, 0.0)
    s = detection_scores(none, none)
    assert s["f1"] == 1.0
    s = detection_scores(scipy.sparse.csc_matrix((H * W, 0)), truth, dims=(H, W))
    assert s["n_est"] == 0 and s["recall"] == 0.0


def test_trace_correlations_exact():
    rng = np.random.default_rng(0)
    true = rng.normal(size=(3, 200))
    est = np.stack([2 * true[2] + 1, -true[0], rng.normal(size=200), np.ones(200)])
    r = trace_correlations(est, true, (np.array([0, 1, 3]), np.array([2, 0, 1])))
    assert r[0] == pytest.approx(1.0)
    assert r[1] == pytest.approx(-1.0)
    assert np.isnan(r[2])  # constant trace
    expected = np.corrcoef(est[2], true[1])[0, 1]
    assert trace_correlations(est, true, ([2], [1]))[0] == pytest.approx(expected)
    assert trace_correlations(est, true, ([], [])).shape == (0,)
    with pytest.raises(ValueError, match="frames"):
        trace_correlations(est[:, :10], true, ([0], [0]))


def test_bad_arguments(truth):
    with pytest.raises(ValueError, match="mask_threshold"):
        match_components(truth, truth, mask_threshold=1.5)
    with pytest.raises(ValueError, match="frames are"):
        match_components(truth, truth[:, :-1])
    with pytest.raises(ValueError, match=r"\(K, H, W\)"):
        match_components(truth[0], truth)


def test_footprint_cosine_and_area_ratio_of_a_core_only_footprint():
    from ace_neuro.cnmfe.score import footprint_area_ratios, footprint_cosines

    yy, xx = np.mgrid[0:40, 0:40]
    true = np.exp(-((yy - 20.0) ** 2 + (xx - 20.0) ** 2) / (2 * 5.0 ** 2))[None]
    core = np.where((np.abs(yy - 20) <= 3) & (np.abs(xx - 20) <= 3), true[0], 0.0)[None]  # cut square by a 7x7 box
    whole = 3.0 * true  # any scale
    assert footprint_cosines(whole, true, ([0], [0]))[0] == pytest.approx(1.0)
    cos = footprint_cosines(core, true, ([0], [0]))[0]
    # the core holds the energy of the 7x7 box: cos = sqrt(sum over the box / sum everywhere) of the squared Gaussian
    expected = np.sqrt((core[0] ** 2).sum() / (true[0] ** 2).sum())
    assert cos == pytest.approx(expected) and cos < 0.8
    assert footprint_area_ratios(whole, true, ([0], [0]))[0] == pytest.approx(1.0)
    assert footprint_area_ratios(core, true, ([0], [0]))[0] == pytest.approx(49 / (true[0] > 0.2).sum())
    sparse = scipy.sparse.csc_matrix(core[0].ravel(order="F")[:, None])
    assert footprint_cosines(sparse, true, ([0], [0]), dims=(40, 40))[0] == pytest.approx(cos)
    assert footprint_cosines(core, true, ([], [])).shape == (0,)
    with pytest.raises(IndexError):
        footprint_cosines(core, true, ([1], [0]))
