"""Merges and splits of a curation file: footprints combined or cut in two, traces re-fitted (ace_neuro.cnmfe.refit)."""

from __future__ import annotations

import numpy as np
import pytest

from ace_neuro.cnmfe.curation import CurationError, components_table, read_curation_edits
from ace_neuro.cnmfe.estimates import Estimates, footprints_to_sparse, frames_to_pixels
from ace_neuro.cnmfe.evaluate import apply_curation, evaluate_components
from ace_neuro.cnmfe.reader import MovieSource
from ace_neuro.cnmfe.refit import apply_merges_and_splits, split_footprint
from ace_neuro.params import defaults

H, W, T, FR = 40, 60, 500, 20.0


def _blob(row, col, sigma=2.0):
    rows, cols = np.mgrid[:H, :W]
    g = np.exp(-((rows - row) ** 2 + (cols - col) ** 2) / (2 * sigma**2))
    g[g < 0.05] = 0
    return g / np.linalg.norm(g)


def _calcium(rng):
    spikes = (rng.random(T) < 0.03) * rng.uniform(0.5, 1.5, T)
    return np.convolve(spikes, np.exp(-np.arange(60) / 8.0))[:T]


@pytest.fixture(scope="module")
def scene():
    """Three neurons (A, B, C); the estimates hold A in two halves (0, 1), B and C as one component (2)."""
    rng = np.random.default_rng(4)
    neurons = np.stack([_blob(12, 12), _blob(20, 34), _blob(20, 44)])
    true_C = np.stack([30 * _calcium(rng) for _ in range(3)])
    movie = (50 + np.einsum("kt,khw->thw", true_C, neurons) + rng.normal(0, 0.5, (T, H, W))).astype(np.float32)
    left, right = neurons[0].copy(), neurons[0].copy()
    left[:, 12:] = 0
    right[:, :12] = 0
    both = neurons[1] + neurons[2]
    footprints = np.stack([left / np.linalg.norm(left), right / np.linalg.norm(right), both / np.linalg.norm(both)])
    C = np.stack([true_C[0] * 0.7, true_C[0] * 0.7, (true_C[1] + true_C[2]) / 2]).astype(np.float32)
    params = {**defaults("cnmfe"), "gSig": [2, 2], "gSiz": [9, 9], "decay_time": 0.4, "p": 1}
    est = Estimates(A=footprints_to_sparse(footprints), C=C, dims=(H, W), frame_rate=FR,
                    b0=np.full(H * W, 50.0, np.float32), params=params)
    return est, movie, neurons, true_C


def test_split_footprint_separates_two_blobs():
    image = _blob(20, 34) + _blob(20, 44)
    pixels = np.flatnonzero(image.ravel(order="F"))
    side = split_footprint(pixels, image.ravel(order="F")[pixels], H)
    cols = pixels // H
    assert set(side[cols < 37]) == {side[cols < 37][0]} and set(side[cols > 41]) == {not side[cols < 37][0]}


def test_merge_and_split_then_refit(scene):
    est, movie, neurons, true_C = scene
    edited = apply_merges_and_splits(est, MovieSource.from_array(movie), merges=[[0, 1]], splits=[2])
    assert edited.n_components == 4 and edited.params["merged_into"] == {"1": 0}
    assert edited.params["split_from"] == {"3": 2}
    A = edited.A.toarray()
    # the merge: one footprint over the whole of neuron A; component 1 keeps its pixels, its trace is zero
    assert np.corrcoef(A[:, 0], neurons[0].ravel(order="F"))[0, 1] > 0.95
    np.testing.assert_allclose(A[:, 1], est.A.toarray()[:, 1], atol=1e-6)
    assert not edited.C[1].any()
    # the split: B and C apart, each with its own re-fitted trace
    for k in (2, 3):
        match = np.argmax([np.corrcoef(A[:, k], n.ravel(order="F"))[0, 1] for n in neurons[1:]]) + 1
        assert np.corrcoef(A[:, k], neurons[match].ravel(order="F"))[0, 1] > 0.9
        assert np.corrcoef(edited.C[k], true_C[match])[0, 1] > 0.9
    assert {np.argmax([np.corrcoef(A[:, k], n.ravel(order="F"))[0, 1] for n in neurons]) for k in (2, 3)} == {1, 2}
    assert np.corrcoef(edited.C[0], true_C[0])[0, 1] > 0.95
    # YrA is the residual of the new model
    Y = frames_to_pixels(movie) - 50.0
    YA = edited.A.T @ Y
    AA = (edited.A.T @ edited.A).toarray()
    expected = (YA[[0, 2, 3]] - AA[[0, 2, 3]] @ edited.C) / np.diag(AA)[[0, 2, 3], None]
    np.testing.assert_allclose(edited.YrA[[0, 2, 3]], expected, atol=1e-2 * np.abs(expected).max())
    # evaluation and the table: the merged-away member is rejected as merged
    evaluated, curated = apply_curation(evaluate_components(edited, movie), {})
    table = components_table(evaluated, curated)
    assert table.loc[1, "reason"] == "merged" and not table.loc[1, "accepted"]
    assert table.loc[[0, 2, 3], "accepted"].all()


def test_curation_file_with_merges_and_splits(tmp_path):
    path = tmp_path / "decisions.yaml"
    path.write_text("accept: [5]\nreject: [0]\nmerge: [[3, 1]]\nsplit: [4]\n")
    edits = read_curation_edits(path, 5)
    assert edits.decisions == {5: True, 0: False} and edits.merges == ((1, 3),) and edits.splits == (4,)
    for text, message in (("merge: [[1]]\n", "two or more"), ("merge: [[1, 2], [2, 3]]\n", "also merged"),
                          ("merge: [[1, 2]]\nsplit: [2]\n", "also split"), ("merge: [1, 2]\n", "list of lists"),
                          ("split: [9]\n", "does not exist"), ("reject: [5]\n", "does not exist")):
        path.write_text(text)
        with pytest.raises(CurationError, match=message):
            read_curation_edits(path, 5)


def test_caiman_engine_refuses_merges_and_splits(tmp_path):
    from ace_neuro.params import ParameterError
    from ace_neuro.stages.evaluate import _no_merges_with_caiman

    path = tmp_path / "decisions.yaml"
    path.write_text("reject: [1]\nsplit: [2]\n")
    with pytest.raises(ParameterError, match="native evaluate engine only"):
        _no_merges_with_caiman(str(path))
    path.write_text("reject: [1]\n")
    _no_merges_with_caiman(str(path))  # decisions alone: CaImAn's engine applies them
