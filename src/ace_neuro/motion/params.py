"""Parameters of the motion-correction step: CaImAn's names, meanings and one-photon defaults.

Every key CaImAn's ``motion`` group has keeps its name and meaning; defaults
are those of CaImAn's one-photon (CNMF-E) demo (``gSig_filt=(3, 3)``,
``max_shifts=(5, 5)``, ``strides=(48, 48)``, ``overlaps=(24, 24)``,
``max_deviation_rigid=3``, ``border_nan='copy'``, ``pw_rigid=False``) and
CaImAn's general defaults elsewhere. ``apply_motion_correction`` and
``template_file`` come from the seed / are ours and are marked "(ace-neuro)".

:func:`check_params` validates values and the relations between them and the
frame size before any work starts.
"""

from __future__ import annotations

from typing import Any, Mapping

from ..params import Param, ParameterError, suggest

__all__ = ["PARAMS", "check_params", "default_params"]

_S = "motion"
_PAIR = {"type": "integer", "minimum": 0}
_PAIR_POS = {"type": "integer", "minimum": 1}

PARAMS: tuple[Param, ...] = (
    Param("apply_motion_correction", True, "boolean", "(seed) Register the movie; false writes the same memory map without registration.", _S),
    Param("pw_rigid", False, "boolean", "Piecewise-rigid registration (NoRMCorre patches) after the rigid one.", _S, caiman_group="motion"),
    Param("max_shifts", [5, 5], "array", "Largest rigid shift searched, in pixels (rows, cols); must be below half the frame.", _S, items=_PAIR, caiman_group="motion"),
    Param("strides", [48, 48], "array", "Pw-rigid: distance between patch starts in pixels (rows, cols); patch = strides + overlaps.", _S, items=_PAIR_POS, caiman_group="motion"),
    Param("overlaps", [24, 24], "array", "Pw-rigid: overlap of neighbouring patches in pixels (rows, cols).", _S, items=_PAIR, caiman_group="motion"),
    Param("max_deviation_rigid", 3, "integer", "Pw-rigid: largest deviation of a patch shift from the frame's rigid shift, in pixels.", _S, minimum=0, caiman_group="motion"),
    Param("gSig_filt", [3, 3], "array", "Half-size (pixels) of the high-pass filter applied to a copy used only to estimate shifts (one-photon data); null = register the raw frames.", _S, items=_PAIR_POS, caiman_group="motion"),
    Param("border_nan", "copy", ("string", "boolean"), "Pixels uncovered by a shift: 'copy' nearest valid pixel, true NaN, 'min' frame minimum, false mirror.", _S, enum=("copy", "min", True, False), caiman_group="motion"),
    Param("niter_rig", 1, "integer", "Passes that refine the template over all template groups before the movie is registered.", _S, minimum=1, caiman_group="motion"),
    Param("splits_rig", 14, "integer", "Number of groups of frames, spread over the recording, whose registered means build the template (median of group means).", _S, minimum=1, caiman_group="motion"),
    Param("num_frames_split", 80, "integer", "Consecutive frames per template group.", _S, minimum=1, caiman_group="motion"),
    Param("upsample_factor_grid", 4, "integer", "Pw-rigid: cubic-spline nodes per patch spacing of the shift field before it is interpolated to every pixel (1 = piecewise linear).", _S, minimum=1, caiman_group="motion"),
    Param("shifts_opencv", True, "boolean", "Apply shifts with OpenCV bicubic interpolation; false = exact Fourier shift (rigid only).", _S, caiman_group="motion"),
    Param("nonneg_movie", True, "boolean", "Add a constant so the written movie is non-negative (offset from a sample of frames, recorded in metrics.json).", _S, caiman_group="motion"),
    Param("template_file", None, ("string", "null"), "(ace-neuro) Template image (H, W) as .tif or .npy, raw (unfiltered) like the movie; null = build the template from the data.", _S),
)

_BY_NAME = {p.name: p for p in PARAMS}


def default_params() -> dict[str, Any]:
    """Default value of every motion parameter, as a new dict."""
    return {p.name: (list(p.default) if isinstance(p.default, list) else p.default) for p in PARAMS}


def _pair(name: str, value: Any, minimum: int) -> tuple[int, int]:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = [value, value]
    try:
        a, b = value
        pair = (int(a), int(b))
    except (TypeError, ValueError):
        raise ParameterError(f"motion.{name} must be two integers (rows, cols), got {value!r}") from None
    if pair != (a, b) or min(pair) < minimum:
        raise ParameterError(f"motion.{name} must be two integers >= {minimum} (rows, cols), got {value!r}")
    return pair


def check_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Check motion parameters and return them normalised (tuples, ints).

    Parameters
    ----------
    params : mapping
        ``{name: value}``; missing keys take their defaults, unknown keys are errors.

    Returns
    -------
    dict
        Every parameter, pairs as ``(rows, cols)`` tuples of int.

    Raises
    ------
    ParameterError
        Naming the key, the value and what is allowed.
    """
    out = default_params()
    for name, value in params.items():
        if name not in _BY_NAME:
            raise ParameterError(f"unknown parameter motion.{name}{suggest(name, _BY_NAME)}")
        out[name] = value
    for name in ("apply_motion_correction", "pw_rigid", "shifts_opencv", "nonneg_movie"):
        if not isinstance(out[name], bool):
            raise ParameterError(f"motion.{name} must be true or false, got {out[name]!r}")
    out["max_shifts"] = _pair("max_shifts", out["max_shifts"], 0)
    out["strides"] = _pair("strides", out["strides"], 1)
    out["overlaps"] = _pair("overlaps", out["overlaps"], 0)
    if out["gSig_filt"] is not None:
        out["gSig_filt"] = _pair("gSig_filt", out["gSig_filt"], 1)
    for name in ("max_deviation_rigid", "niter_rig", "splits_rig", "num_frames_split", "upsample_factor_grid"):
        value = out[name]
        minimum = _BY_NAME[name].minimum
        if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value or value < minimum:
            raise ParameterError(f"motion.{name} must be an integer >= {int(minimum)}, got {value!r}")
        out[name] = int(value)
    if out["border_nan"] not in ("copy", "min", True, False) or out["border_nan"] in (0, 1) and not isinstance(out["border_nan"], bool):
        raise ParameterError(f"motion.border_nan must be 'copy', 'min', true or false, got {out['border_nan']!r}")
    if out["pw_rigid"] and not out["shifts_opencv"]:
        raise ParameterError(
            "motion.shifts_opencv = false (Fourier shifting) is implemented for rigid correction only; "
            "set shifts_opencv: true for pw_rigid: true"
        )
    if out["template_file"] is not None and not isinstance(out["template_file"], str):
        raise ParameterError(f"motion.template_file must be a path or null, got {out['template_file']!r}")
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
