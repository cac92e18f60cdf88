"""Cross-day tracking of small subjects (too few pairs to fit the same/different model): the fixed model."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from ace_neuro.tracking import TrackingOptions, register_sessions
from ace_neuro.tracking.assign import CandidatePairs
from ace_neuro.tracking.model import fixed_pair_model
from ace_neuro.tracking.registration import _pair_probability
from test_tracking import _links, _session, _tissue


def test_fixed_model_calls_close_overlapping_pairs_the_same_cell():
    model = fixed_pair_model(max_distance=16.0, diameter=8.0)
    p = model.probability(np.array([0.5, 1.5, 4.0, 4.0, 8.0, 12.0]), np.array([0.95, 0.8, 0.6, 0.2, 0.2, 0.0]))
    assert model.source == "fixed" and p[0] > 0.99 and p[1] > 0.95 and p[2] > 0.5
    assert p[3] < 0.5 and p[4] < 0.05 and p[5] < 0.01
    # lengths scale with the diameter: the same pair measured in pixels twice as small has the same P(same)
    half = fixed_pair_model(max_distance=8.0, diameter=4.0)
    np.testing.assert_allclose(half.probability(np.array([0.75, 2.0]), np.array([0.8, 0.6])), p[1:3], rtol=1e-6)
    with pytest.raises(ValueError, match="diameter"):
        fixed_pair_model(max_distance=16.0, diameter=0.0)


def _small_subject():
    """Three sessions of a 16-cell field, moved and rotated, each missing a few cells."""
    _, fp = _tissue(31, n_cells=16)
    rng = np.random.default_rng(31)
    moves = [(0.0, (0.0, 0.0)), (3.0, (8.0, -6.0)), (-2.5, (-5.0, 9.0))]
    out = [_session(f"day{k + 1}", fp, angle=a, shift=s, seed=k, keep=rng.permutation(len(fp))[:13])
           for k, (a, s) in enumerate(moves)]
    return [s for s, _ in out], [t for _, t in out]


def test_small_subject_is_tracked_with_the_fixed_model_and_says_why(caplog):
    sessions, truths = _small_subject()
    with caplog.at_level(logging.WARNING, logger="ace_neuro.tracking"):
        reg = register_sessions(sessions)
    pairs = reg.quality["n_candidate_pairs"]
    assert 10 <= pairs < TrackingOptions().min_pairs_to_fit
    assert reg.quality["model_source"] == reg.model["source"] == "fixed"
    assert f"only {pairs} candidate pairs" in reg.quality["model_note"]
    assert "fixed model" in caplog.text and "min_pairs_to_fit" in caplog.text
    found, true = _links(reg, truths)
    assert found == true and len(true) >= 10
    # the choice, on the same pairs: asked for (or with min_pairs_to_fit lowered) the model is fitted
    pairs = CandidatePairs(np.arange(pairs), np.arange(pairs) + 1, reg.pairs["distance"], reg.pairs["similarity"])
    diameter, max_distance = reg.quality["cell_diameter"], reg.quality["max_distance"]
    for approach, minimum, source in (("probabilistic", 50, "fitted"), ("auto", 10, "fitted"), ("fixed", 10, "fixed")):
        model, p_same, note = _pair_probability(pairs, max_distance, diameter=diameter, approach=approach,
                                                min_pairs_to_fit=minimum)
        assert model.source == source and p_same.shape == (len(pairs.first),) and note
    np.testing.assert_allclose(p_same, reg.pairs["p_same"])


def test_too_few_pairs_for_the_probabilistic_approach_is_one_clear_error():
    few = CandidatePairs(np.arange(4), np.arange(4) + 4, np.array([0.5, 1.0, 6.0, 9.0]), np.array([0.9, 0.8, 0.1, 0]))
    model, p_same, _ = _pair_probability(few, 16.0, diameter=8.0, approach="auto", min_pairs_to_fit=50)
    assert model.source == "fixed" and (p_same[:2] > 0.9).all() and (p_same[2:] < 0.1).all()
    with pytest.raises(ValueError, match=r"only 4 .*too few to fit .*registration_approach"):
        _pair_probability(few, 16.0, diameter=8.0, approach="probabilistic", min_pairs_to_fit=50)
