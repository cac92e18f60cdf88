"""Stage ``register`` (per subject): the cells of a subject's sessions registered and tracked across sessions.

Runs once per tracking group of the sample sheet (``subject`` / ``fov`` columns, :mod:`ace_neuro.subjects`) with
two sessions or more, on every session's evaluated estimates (accepted components) and summary images.
Parameter names are :class:`ace_neuro.tracking.TrackingOptions`'s (``docs/tracking.md``); a subject's sessions
must agree on them.

Inputs: ``estimates`` (each session's evaluate estimates, in session order), ``mean`` (each session's mean
projection). Outputs: ``registration`` (HDF5), ``cells`` (CSV, one row per tracked cell), ``quality`` (JSON),
``alignment``, ``alignment_quality``, ``model``, ``tracked_cells`` (PNG figures, ``ace_neuro.tracking.figures``). Extras: ``sessions`` (recording ids in order), ``subject``.
"""

from __future__ import annotations

from ace_neuro.params import Param

NAME = "register"

PARAMETERS: tuple[Param, ...] = (
    Param("max_rotation_deg", 10.0, "number", "Largest rotation between two sessions searched (degrees).", NAME,
          minimum=0.0, maximum=180.0),
    Param("rotation_step_deg", 1.0, "number", "Step of the coarse rotation search (degrees).", NAME,
          exclusive_minimum=0.0),
    Param("max_shift_fraction", 0.35, "number", "Largest translation between two sessions, as a fraction of the "
          "frame size.", NAME, exclusive_minimum=0.0, maximum=1.0),
    Param("nonrigid", True, "boolean", "Add a smooth displacement field after the rotation and translation.", NAME),
    Param("nonrigid_patch", None, ("integer", "null"), "Patch size (pixels) of the local correlations of the "
          "non-rigid field; null: 8 cell diameters, at least 32.", NAME, minimum=8),
    Param("max_nonrigid_shift", None, ("number", "null"), "Largest local displacement of the non-rigid field "
          "(pixels); null: one cell diameter.", NAME, minimum=0.0),
    Param("min_alignment_correlation", 0.2, "number", "A session whose correlation with every other session after "
          "alignment is below this is named as unalignable (an error).", NAME, minimum=-1.0, maximum=0.999),
    Param("use_images", True, "boolean", "Align on the sessions' summary images (mean, correlation) besides the "
          "footprints' projection.", NAME),
    Param("max_distance", None, ("number", "null"), "Largest centroid distance (pixels) of a candidate pair of "
          "cells; null: two median cell diameters.", NAME, exclusive_minimum=0.0),
    Param("p_same_threshold", 0.5, "number", "Tracked cells merge while their mean probability of being the same "
          "neuron exceeds this (CellReg's P_same threshold).", NAME, exclusive_minimum=0.0, maximum=0.999),
)


def run(inputs, outputs, params, *, threads: int = 1, log=None, sessions, subject: str) -> None:
    """Register the sessions' footprints and write the registration, the tracked-cell table, quality and figure."""
    from ace_neuro.subject_steps import run_register_step

    # the stage's parameters are TrackingOptions' fields, by name
    run_register_step(list(inputs.estimates), list(inputs.mean), list(sessions), subject=subject,
                      registration_path=outputs.registration, cells_path=outputs.cells, quality_path=outputs.quality,
                      alignment_figure_path=outputs.alignment,
                      alignment_quality_figure_path=outputs.alignment_quality, model_figure_path=outputs.model,
                      cells_figure_path=outputs.tracked_cells, log=log, **params)
