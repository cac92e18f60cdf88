"""The chance level of the alignment check on a field whose vessels look the same mirrored and turned."""

from __future__ import annotations

import numpy as np

from ace_neuro.tracking import SessionFootprints, SessionTransform, register_sessions
from ace_neuro.tracking.align import _pair_rigid, alignment_channels, cell_diameter
from ace_neuro.tracking.transforms import warp_image
from test_tracking import FRAME, TISSUE, _links, _session, _tissue


def _cross_subject():
    """Three sessions of a field crossed by a horizontal and a vertical vessel (the same up to a translation when
    mirrored, transposed or turned by 90 or 180 degrees), moved and rotated, each missing a fifth of its cells."""
    _, fp = _tissue(41, n_cells=60)
    rows, cols = np.mgrid[0:TISSUE[0], 0:TISSUE[1]]
    vessels = 3.0 * (np.exp(-(rows - 97.0) ** 2 / 18) + np.exp(-(cols - 91.0) ** 2 / 18))
    rng = np.random.default_rng(41)
    sessions, truths = [], []
    for k, (angle, shift) in enumerate([(0.0, (0.0, 0.0)), (3.0, (9.0, -7.0)), (-2.0, (-6.0, 8.0))]):
        session, truth = _session(f"day{k + 1}", fp, angle=angle, shift=shift, seed=k,
                                  keep=rng.permutation(len(fp))[:48])
        to_tissue = SessionTransform(FRAME, TISSUE, angle, (np.array(TISSUE) - 1) / 2 + np.asarray(shift))
        image = warp_image(vessels, to_tissue.session_to_common()) + 0.05 * rng.standard_normal(FRAME)
        sessions.append(SessionFootprints(session.name, session.footprints, ids=session.ids, shape=FRAME,
                                          images={"vessels": image.astype(np.float32)}))
        truths.append(truth)
    return sessions, truths


def test_a_symmetric_vessel_cross_does_not_make_valid_sessions_unalignable():
    sessions, truths = _cross_subject()
    reg = register_sessions(sessions)
    pairwise = reg.alignment["pairwise_correlation"]
    chance = float(reg.alignment["chance_correlation"])
    assert pairwise[~np.eye(3, dtype=bool)].min() > 2 * chance
    found, true = _links(reg, truths)
    assert found == true and len(true) > 50
    # mirrored, the cross matches itself: chance from mirrors alone (as before) would have been more than half of
    # the pairs' correlations, and min_alignment_over_chance (2) would have named the sessions unalignable
    diameter = cell_diameter(sessions)
    channels = [alignment_channels(s, diameter=diameter, image_keys=["vessels"]) for s in sessions[:2]]
    coarse = np.arange(-10.0, 10.5, 1.0)
    mirrored = [_pair_rigid(channels[1], [np.ascontiguousarray(f(c)) for c in channels[0]], coarse=coarse,
                            max_shift=(52, 52), diameter=diameter)[2] for f in (lambda c: c[:, ::-1], lambda c: c.T)]
    assert 2 * min(mirrored) > pairwise[0, 1]
