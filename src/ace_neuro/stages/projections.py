"""Stage ``projections``: per-pixel summary images and the mean-fluorescence series, in one streaming pass.

Inputs: ``movie`` (convert's TIFF), ``frames`` (convert's frames.csv).
Outputs: ``images`` and ``previews`` (one TIFF and one PNG per name of
:data:`PROJECTION_NAMES`, in that order), ``series`` (mean_fluorescence.csv)
and ``series_plot`` (its PNG).
"""

from __future__ import annotations

from ace_neuro.preprocess.params import ProjectionsOptions

NAME = "projections"
OPTIONS = ProjectionsOptions

#: The projections written, in the order of the rule's ``images`` and ``previews`` outputs.
PROJECTION_NAMES = ("max", "min", "mean", "median", "std", "range")


def run(inputs, outputs, options: ProjectionsOptions, *, threads: int = 1, log=None) -> None:
    """Write the projections of ``inputs.movie`` to the rule's outputs."""
    from ace_neuro.preprocess.projections_step import run_projections_step

    run_projections_step(
        inputs.movie,
        inputs.frames,
        images=dict(zip(PROJECTION_NAMES, outputs.images)),
        previews=dict(zip(PROJECTION_NAMES, outputs.previews)),
        series_csv=outputs.series,
        series_png=outputs.series_plot,
        options=options,
    )
