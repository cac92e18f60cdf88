"""The parameters of cross-day tracking: the ``register`` and ``reextract`` stages.

Each class declares its stage's parameters once (:func:`ace_neuro.options.option`)
and is valid by construction; the workflow's config, schema and sample-sheet
columns are generated from them (:mod:`ace_neuro.params`). A subject's sessions
must agree on them (:mod:`ace_neuro.subjects`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ace_neuro.options import Options, option

__all__ = ["TrackingOptions", "ReextractOptions"]


@dataclass(frozen=True)
class TrackingOptions(Options):
    """Options of :func:`ace_neuro.tracking.register_sessions` (pixels and degrees)."""

    STAGE: ClassVar[str] = "register"

    max_rotation_deg: float = option(10.0, "number", "Largest rotation between two sessions searched (degrees).", minimum=0.0, maximum=180.0)
    rotation_step_deg: float = option(1.0, "number", "Step of the coarse rotation search (degrees; refined to 0.25 and a parabola).", exclusive_minimum=0.0)
    max_shift_fraction: float = option(0.35, "number", "Largest translation between two sessions, as a fraction of the frame size.", exclusive_minimum=0.0, maximum=1.0)
    nonrigid: bool = option(True, "boolean", "Add a smooth displacement field after the rotation and translation.")
    nonrigid_patch: int | None = option(None, ("integer", "null"), "Patch size (pixels) of the local correlations of the non-rigid field; null: 8 cell diameters, at least 32.", minimum=8)
    max_nonrigid_shift: float | None = option(None, ("number", "null"), "Largest local displacement of the non-rigid field (pixels); null: one cell diameter.", minimum=0.0)
    min_alignment_correlation: float = option(0.2, "number", "Floor of the correlation after alignment that links two sessions; the working threshold is relative (min_relative_alignment_correlation, min_alignment_over_chance). Sessions outside the largest group of linked sessions are named as unalignable (an error).", minimum=-1.0, maximum=0.999)
    min_relative_alignment_correlation: float = option(0.5, "number", "Two sessions are linked when their correlation after alignment is at least this fraction of the subject's typical one (median over its sessions of each one's best); sessions outside the largest group of linked sessions are named as unalignable. Not used with two sessions (no typical level).", minimum=0.0, maximum=1.0)
    min_alignment_over_chance: float = option(2.0, "number", "Two sessions are linked only when their correlation after alignment is at least this multiple of chance: the subject's best pair aligned again with one session turned (45, 90, 180 degrees) or mirrored, the same images as another field of view (the second smallest of six, so a symmetric vessel pattern does not raise it). 0: not measured.", minimum=0.0)
    use_images: bool = option(True, "boolean", "Align on the sessions' summary images (mean, correlation) besides the footprints' projection.")
    max_distance: float | None = option(None, ("number", "null"), "Largest centroid distance (pixels) of a candidate pair of cells; null: two median cell diameters.", exclusive_minimum=0.0)
    registration_approach: str = option("auto", "string", "Where P(same) of a pair of cells comes from: 'probabilistic' (CellReg's approach: a same/different model fitted to the subject's own pairs), 'fixed' (a model set in advance from the cell diameter, docs/tracking.md, for subjects with few cells), or 'auto': probabilistic with at least min_pairs_to_fit candidate pairs, else fixed, with a warning in the log and quality.json.", enum=("auto", "probabilistic", "fixed"))
    min_pairs_to_fit: int = option(100, "integer", "With registration_approach auto: the fewest candidate pairs of cells (closer than max_distance, from different sessions) the same/different model is fitted to (about ten per fitted parameter); fewer take the fixed model.", minimum=10)
    p_same_threshold: float = option(0.5, "number", "Tracked cells merge while their mean probability of being the same neuron exceeds this (CellReg's P_same threshold).", exclusive_minimum=0.0, maximum=0.999)


@dataclass(frozen=True)
class ReextractOptions(Options):
    """Union re-extraction of the tracked cells in one session (:mod:`ace_neuro.tracking.reextract`)."""

    STAGE: ClassVar[str] = "reextract"

    reextract_rounds: int = option(2, "integer", "Rounds of ring-background fit and temporal update with the tracked cells' footprints fixed (each one pass over the movie per step).", minimum=1)
    reextract_footprints: str = option("own", "string", "Footprint of a tracked cell in a session where it was found: 'own' (the session's footprint) or 'registered' (the common footprint mapped into the session, as for the sessions where it was not found).", enum=("own", "registered"))
