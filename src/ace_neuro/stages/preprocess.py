"""Stage ``preprocess``: crop, detrend and dF/F (each optional) of the converted movie.

Inputs: ``movie``, ``metadata`` (frame rate). The movie is checked not to be constant (read up to its first
changing frame), so the step does not wait for the projections.
Output: ``movie`` (a symbolic link to the input when nothing is asked).
"""

from __future__ import annotations

from ace_neuro.preprocess.params import PreprocessOptions

NAME = "preprocess"
OPTIONS = PreprocessOptions


def run(inputs, outputs, options: PreprocessOptions, *, threads: int = 1, log=None) -> None:
    """Write ``outputs.movie`` from ``inputs.movie``."""
    from ace_neuro.preprocess.movie_step import run_preprocess_step

    run_preprocess_step(inputs.movie, inputs.metadata, outputs.movie, options)
