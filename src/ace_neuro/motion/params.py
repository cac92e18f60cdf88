"""Motion parameters checked for the engine: the stage's declarations, pairs as tuples, the frame-size checks.

The parameters themselves (CaImAn's names and one-photon defaults) are
declared in :mod:`ace_neuro.stages.motion` and checked by the one validator,
:func:`ace_neuro.params.stage_parameters`; this module gives the engine the
checked values in the form it computes with, and the checks that need the
frame size.
"""

from __future__ import annotations

from typing import Any, Mapping

from ..params import ParameterError, defaults, stage_parameters

__all__ = ["check_params", "check_frame_shape", "default_params"]

_PAIRS = ("max_shifts", "strides", "overlaps", "gSig_filt")


def default_params() -> dict[str, Any]:
    """Default value of every motion parameter, as a new dict."""
    return defaults("motion")


def check_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Check motion parameters and return them normalised (pairs as ``(rows, cols)`` tuples of int).

    Parameters
    ----------
    params : mapping
        ``{name: value}``; missing keys take their defaults, unknown keys are errors.

    Raises
    ------
    ParameterError
        Naming the key, the value and what is allowed.
    """
    out = dict(stage_parameters("motion", params))
    for name in _PAIRS:
        if out[name] is not None:
            out[name] = tuple(int(v) for v in out[name])
    return out


def check_frame_shape(params: Mapping[str, Any], frame_shape: tuple[int, int]) -> None:
    """Check that checked parameters fit frames of ``frame_shape`` (rows, cols).

    Raises
    ------
    ParameterError
        If ``max_shifts`` reaches half the frame, or, with ``pw_rigid``, the
        frame is smaller than one patch (``strides + overlaps``).
    """
    height, width = (int(s) for s in frame_shape)
    my, mx = params["max_shifts"]
    if 2 * my >= height or 2 * mx >= width:
        raise ParameterError(
            f"motion.max_shifts = {list(params['max_shifts'])} is too large for {height}x{width} frames: "
            f"each must be below half the frame ({(height - 1) // 2}, {(width - 1) // 2}); lower max_shifts"
        )
    if params["pw_rigid"] and params["apply_motion_correction"]:
        py = params["strides"][0] + params["overlaps"][0]
        px = params["strides"][1] + params["overlaps"][1]
        if py > height or px > width:
            raise ParameterError(
                f"{height}x{width} frames are smaller than one pw-rigid patch (strides + overlaps = {py}x{px}); "
                "lower motion.strides / motion.overlaps or set pw_rigid: false"
            )
        if 2 * params["max_deviation_rigid"] >= min(py, px):
            raise ParameterError(
                f"motion.max_deviation_rigid = {params['max_deviation_rigid']} must be below half a patch "
                f"({min(py, px) // 2} px); lower it or enlarge strides / overlaps"
            )
