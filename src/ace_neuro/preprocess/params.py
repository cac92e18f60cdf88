"""The parameters of the preprocess package's steps: ``projections`` and ``preprocess`` (crop, detrend, dF/F).

Each class declares its stage's parameters once (:func:`ace_neuro.options.option`)
and is valid by construction; the workflow's config, schema and sample-sheet
columns are generated from them (:mod:`ace_neuro.params`).
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from typing import Any, ClassVar, Mapping

from ace_neuro.options import Options, ParameterError, option

__all__ = ["ProjectionsOptions", "PreprocessOptions", "parse_crop_coords"]


@dataclass(frozen=True)
class ProjectionsOptions(Options):
    """The projections step (:func:`ace_neuro.preprocess.projections_step.run_projections_step`)."""

    STAGE: ClassVar[str] = "projections"

    median_max_frames: int = option(1000, "integer", "The median projection uses at most this many frames, evenly spread over the recording.", minimum=1)


@dataclass(frozen=True)
class PreprocessOptions(Options):
    """What to do to a movie: crop, row/column banding, detrend, dF/F (:func:`ace_neuro.preprocess.movie.preprocessed_chunks`).

    ``crop_coords`` is the crop box x0, y0, x1, y1 (:func:`parse_crop_coords`;
    y counted from the bottom); the box is checked against the frame size
    when the movie is read.
    """

    STAGE: ClassVar[str] = "preprocess"

    crop: bool = option(False, "boolean", "Crop each frame to crop_coords (the seed's crop).")
    crop_coords: str | tuple | dict | None = option(None, ("string", "array", "object", "null"), "Crop box {x0, y0, x1, y1} (or 'x0,y0,x1,y1'), x = column, y = row from the bottom (seed convention).")
    remove_banding: str = option("off", "string", "Remove each frame's row and/or column banding (sensor read-out, wireless link): 'auto' = the rows (columns) whose banding measures at least banding_min_ratio times what pixel noise predicts (logged), 'rows', 'columns', 'both', or 'off' (movie unchanged, not measured).", enum=("auto", "rows", "columns", "both", "off"))
    banding_min_ratio: float = option(4.0, "number", "With remove_banding 'auto': remove the rows' (columns') banding when its rms is at least this many times what independent pixel noise predicts (about 1 without banding, 2 after a median filter; 50 on a wireless Miniscope clip).", exclusive_minimum=0)
    detrend_method: str | None = option(None, ("string", "null"), "Remove slow trends: 'linear' (per-pixel linear fit, mean kept) or 'median' (per-frame mean offset); null = off.", enum=("linear", "median", None))
    df_over_f: bool = option(False, "boolean", "Normalise to dF/F (or dF/sqrt(F)) with a sliding quantile baseline.")
    df_over_f_method: str = option("delta_f_over_sqrt_f", "string", "Normalisation when df_over_f is on: 'delta_f_over_f' or 'delta_f_over_sqrt_f' (seed default).", enum=("delta_f_over_f", "delta_f_over_sqrt_f"))
    secs_window: float = option(5.0, "number", "Baseline window of dF/F, in seconds.", exclusive_minimum=0)
    quantile_min: float = option(8.0, "number", "Baseline percentile (0-100) within each window of dF/F.", minimum=0, maximum=100)

    @staticmethod
    def check(values: dict[str, Any]) -> dict[str, Any]:
        """A crop needs its box, and the box must parse."""
        if values["crop"] and values["crop_coords"] is None:
            raise ParameterError("preprocess.crop is true but crop_coords is not set; give 'x0,y0,x1,y1' (y from the bottom)")
        if values["crop_coords"] is not None:
            try:
                parse_crop_coords(values["crop_coords"])
            except ValueError as err:
                raise ParameterError(f"preprocess.crop_coords: {err}") from None
        return values

    @property
    def changes_values(self) -> bool:
        """Whether the output is float32 (detrend or dF/F): cropping and removing banding keep the recorded dtype."""
        return bool(self.detrend_method) or bool(self.df_over_f)

    @property
    def does_nothing(self) -> bool:
        """No crop, no banding removal (``remove_banding: off``), no detrend, no dF/F: the output is the input.

        With ``remove_banding: auto`` the step runs: it measures the movie and, when there is no banding to remove,
        its output is still the input (a link).
        """
        return not self.crop and self.remove_banding == "off" and not self.changes_values


def parse_crop_coords(value: Any) -> dict[str, int]:
    """Crop box ``{'x0', 'y0', 'x1', 'y1'}`` from a dict, a list of four numbers or a string.

    Strings may be ``"x0,y0,x1,y1"``, ``"(x0, y0, x1, y1)"`` or a dict literal /
    JSON object (``"{'x0': 10, 'y0': 5, 'x1': 200, 'y1': 180}"``).

    Raises
    ------
    ValueError
        If the value does not give four integer coordinates.
    """
    original = value
    if isinstance(value, str):
        text = value.strip()
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            try:
                value = ast.literal_eval(text)
            except (ValueError, SyntaxError):
                value = [v for v in text.strip("()[]").replace(";", ",").split(",") if v.strip()]
    if isinstance(value, Mapping):
        missing = {"x0", "y0", "x1", "y1"} - set(value)
        if missing:
            raise ValueError(f"crop_coords {original!r}: missing {sorted(missing)}; give x0, y0, x1, y1")
        value = [value["x0"], value["y0"], value["x1"], value["y1"]]
    try:
        numbers = [float(v) for v in value]
    except (TypeError, ValueError):
        numbers = []
    if len(numbers) != 4 or any(n != int(n) for n in numbers):
        raise ValueError(
            f"crop_coords {original!r}: expected four integers x0, y0, x1, y1 (e.g. '10,5,200,180' or "
            "{'x0': 10, 'y0': 5, 'x1': 200, 'y1': 180})"
        )
    x0, y0, x1, y1 = (int(n) for n in numbers)
    return {"x0": x0, "y0": y0, "x1": x1, "y1": y1}
