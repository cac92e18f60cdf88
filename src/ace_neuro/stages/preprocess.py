"""Stage ``preprocess``: crop, detrend and dF/F (each optional) of the converted movie.

Inputs: ``movie``, ``metadata`` (frame rate), ``minimum`` and ``maximum``
(projections, to check the crop and that the movie is not constant).
Output: ``movie`` (a symbolic link to the input when nothing is asked).
"""

from __future__ import annotations

from typing import Any

from ace_neuro.params import Param, ParameterError

NAME = "preprocess"

PARAMETERS: tuple[Param, ...] = (
    Param("crop", False, "boolean", "Crop each frame to crop_coords (the seed's crop).", "preprocess"),
    Param(
        "crop_coords",
        None,
        ("string", "array", "object", "null"),
        "Crop box {x0, y0, x1, y1} (or 'x0,y0,x1,y1'), x = column, y = row from the bottom (seed convention).",
        "preprocess",
    ),
    Param(
        "detrend_method",
        None,
        ("string", "null"),
        "Remove slow trends: 'linear' (per-pixel linear fit, mean kept) or 'median' (per-frame mean offset); null = off.",
        "preprocess",
        enum=("linear", "median", None),
    ),
    Param("df_over_f", False, "boolean", "Normalise to dF/F (or dF/sqrt(F)) with a sliding quantile baseline.", "preprocess"),
    Param(
        "df_over_f_method",
        "delta_f_over_sqrt_f",
        "string",
        "Normalisation when df_over_f is on: 'delta_f_over_f' or 'delta_f_over_sqrt_f' (seed default).",
        "preprocess",
        enum=("delta_f_over_f", "delta_f_over_sqrt_f"),
    ),
    Param("secs_window", 5.0, "number", "Baseline window of dF/F, in seconds.", "preprocess", exclusive_minimum=0),
    Param(
        "quantile_min",
        8.0,
        "number",
        "Baseline percentile (0-100) within each window of dF/F.",
        "preprocess",
        minimum=0,
        maximum=100,
    ),)


def check(values: dict[str, Any]) -> dict[str, Any]:
    """Relations between the preprocess parameters (the crop box needs the frame size: checked at run time)."""
    if values["crop"] and values["crop_coords"] is None:
        raise ParameterError("preprocess.crop is true but crop_coords is not set; give 'x0,y0,x1,y1' (y from the bottom)")
    if values["crop_coords"] is not None:
        from ace_neuro.preprocess.movie import parse_crop_coords

        try:
            parse_crop_coords(values["crop_coords"])
        except ValueError as err:
            raise ParameterError(f"preprocess.crop_coords: {err}") from None
    return values


def run(inputs, outputs, params, *, threads: int = 1, log=None) -> None:
    """Write ``outputs.movie`` from ``inputs.movie``."""
    from ace_neuro.preprocess.movie import PreprocessOptions
    from ace_neuro.preprocess.movie_step import run_preprocess_step

    options = PreprocessOptions(**params)  # the stage's parameters are the options' fields, by name
    run_preprocess_step(inputs.movie, inputs.metadata, inputs.minimum, inputs.maximum, outputs.movie, options)
