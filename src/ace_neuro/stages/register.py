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

from ace_neuro.tracking.params import TrackingOptions

NAME = "register"
OPTIONS = TrackingOptions


def run(inputs, outputs, options: TrackingOptions, *, threads: int = 1, log=None, sessions, subject: str) -> None:
    """Register the sessions' footprints and write the registration, the tracked-cell table, quality and figure."""
    from ace_neuro.subject_steps import run_register_step

    run_register_step(list(inputs.estimates), list(inputs.mean), list(sessions), subject=subject,
                      registration_path=outputs.registration, cells_path=outputs.cells, quality_path=outputs.quality,
                      alignment_figure_path=outputs.alignment,
                      alignment_quality_figure_path=outputs.alignment_quality, model_figure_path=outputs.model,
                      cells_figure_path=outputs.tracked_cells, log=log, options=options)
