"""Stage ``preprocess``: crop, detrend and dF/F (each optional) of the converted movie.

Inputs: ``movie``, ``metadata`` (frame rate), ``minimum`` and ``maximum``
(projections, to check the crop and that the movie is not constant).
Output: ``movie`` (a symbolic link to the input when nothing is asked).
"""

from __future__ import annotations

from ace_neuro.preprocess.params import PreprocessOptions

NAME = "preprocess"
OPTIONS = PreprocessOptions


def run(inputs, outputs, options: PreprocessOptions, *, threads: int = 1, log=None) -> None:
    """Write ``outputs.movie`` from ``inputs.movie``."""
    from ace_neuro.preprocess.movie_step import run_preprocess_step

    run_preprocess_step(inputs.movie, inputs.metadata, inputs.minimum, inputs.maximum, outputs.movie, options)
