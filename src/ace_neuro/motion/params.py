"""NoRMCorre settings for the engine: one frozen, typed options object, built and checked once.

The parameters themselves (CaImAn's names and one-photon defaults) are
declared in :mod:`ace_neuro.stages.motion` and checked by the one validator,
:func:`ace_neuro.params.stage_parameters`. This module gives the engine the
checked values in the form it computes with (:class:`MotionOptions`, pairs as
``(rows, cols)`` tuples of int) and the checks that need the frame size.

From a notebook, :func:`motion_options` takes CaImAn's names as keyword
arguments and applies the same validation as the workflow::

    options = motion_options(max_shifts=(8, 8), pw_rigid=True)
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Mapping

from ..params import ParameterError, defaults, stage_parameters

__all__ = ["MotionOptions", "motion_options", "check_params", "check_frame_shape", "default_params"]

_PAIRS = ("max_shifts", "strides", "overlaps", "gSig_filt")


def _pair(value: Any) -> tuple[int, int] | None:
    return None if value is None else tuple(int(v) for v in value)


@dataclass(frozen=True)
class MotionOptions:
    """The settings of one motion correction (CaImAn's names; see :mod:`ace_neuro.stages.motion`).

    Build one with :func:`motion_options` (checked against the declarations);
    pairs given as lists are stored as ``(rows, cols)`` tuples of int.

    Attributes
    ----------
    apply_motion_correction : bool
        Register the movie; False writes the same files without registration.
    pw_rigid : bool
        Piecewise-rigid registration (patches) after the rigid one.
    max_shifts : (int, int)
        Largest rigid shift searched (rows, cols), pixels.
    strides, overlaps : (int, int)
        Pw-rigid patch spacing and overlap (rows, cols), pixels; patch = strides + overlaps.
    max_deviation_rigid : int
        Pw-rigid: largest deviation of a patch shift from the frame's rigid shift, pixels.
    gSig_filt : (int, int) or None
        Half-size of the high-pass filter of the copy that shifts are estimated on, pixels; None: raw frames.
    border_nan : {'copy', 'min', True, False}
        Pixels uncovered by a shift: nearest valid pixel, frame minimum, NaN, or mirrored.
    niter_rig : int
        Template refinement passes.
    splits_rig : int
        Groups of frames whose registered means build the template.
    num_frames_split : int
        Consecutive frames per template group.
    upsample_factor_grid : int
        Pw-rigid: spline nodes per patch spacing of the shift field.
    shifts_opencv : bool
        Apply shifts by OpenCV bicubic interpolation (False: Fourier shift, rigid only).
    nonneg_movie : bool
        Add a constant so the written movie is non-negative.
    save_memmap : bool
        Also write CaImAn's float32 C-order memory map.
    blocks_dtype : {'float32', 'float16'}
        Sample type of the frame-block movie.
    template_file : str or None
        Template image (.tif or .npy, raw like the movie); None: built from the data.
    motion_chunk_mb : float
        Memory budget of one chunk of frames per worker, MB (sets peak memory, not the result).
    """

    apply_motion_correction: bool
    pw_rigid: bool
    max_shifts: tuple[int, int]
    strides: tuple[int, int]
    overlaps: tuple[int, int]
    max_deviation_rigid: int
    gSig_filt: tuple[int, int] | None
    border_nan: str | bool
    niter_rig: int
    splits_rig: int
    num_frames_split: int
    upsample_factor_grid: int
    shifts_opencv: bool
    nonneg_movie: bool
    save_memmap: bool
    blocks_dtype: str
    template_file: str | None
    motion_chunk_mb: float

    def __post_init__(self) -> None:
        for name in _PAIRS:
            object.__setattr__(self, name, _pair(getattr(self, name)))

    @property
    def registers_patches(self) -> bool:
        """Whether piecewise-rigid registration runs (``pw_rigid`` and registration on)."""
        return bool(self.pw_rigid and self.apply_motion_correction)

    def as_dict(self) -> dict[str, Any]:
        """The options by name, pairs as lists (as in ``config.yaml``)."""
        return {f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v) for f in fields(self)}


def motion_options(**values: Any) -> MotionOptions:
    """Checked :class:`MotionOptions` from CaImAn-named keyword arguments; the rest take their defaults.

    Parameters
    ----------
    **values
        Any parameter of :mod:`ace_neuro.stages.motion` (``max_shifts=(8, 8)``,
        ``pw_rigid=True``, ...). ``motion_engine`` may be given as ``'native'``
        (these options are for the native engine).

    Raises
    ------
    ParameterError
        An unknown name (with the nearest known one), a value out of its type,
        range or allowed values, values that contradict each other, or
        ``motion_engine='caiman'``.
    """
    checked = stage_parameters("motion", values)
    if checked["motion_engine"] != "native":
        raise ParameterError(
            "motion_options are for the native engine; the CaImAn engine is ace_neuro.engines.caiman.run_motion"
        )
    return MotionOptions(**{f.name: checked[f.name] for f in fields(MotionOptions)})


def default_params() -> dict[str, Any]:
    """Default value of every motion parameter, as a new dict."""
    return defaults("motion")


def check_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Check motion parameters and return them as a dict (pairs as ``(rows, cols)`` tuples of int).

    The mapping form of :func:`motion_options`, for code that passes the
    parameters on by name (the CaImAn engine builds ``MotionCorrect``'s
    arguments from it).

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
        out[name] = _pair(out[name])
    return out


def check_frame_shape(
    frame_shape: tuple[int, int],
    *,
    max_shifts: tuple[int, int],
    pw_rigid: bool,
    apply_motion_correction: bool,
    strides: tuple[int, int],
    overlaps: tuple[int, int],
    max_deviation_rigid: int,
) -> None:
    """Check that motion settings fit frames of ``frame_shape`` (rows, cols).

    Raises
    ------
    ParameterError
        If ``max_shifts`` reaches half the frame, or, with ``pw_rigid``, the
        frame is smaller than one patch (``strides + overlaps``) or
        ``max_deviation_rigid`` reaches half a patch.
    """
    height, width = (int(s) for s in frame_shape)
    my, mx = max_shifts
    if 2 * my >= height or 2 * mx >= width:
        raise ParameterError(
            f"motion.max_shifts = {list(max_shifts)} is too large for {height}x{width} frames: "
            f"each must be below half the frame ({(height - 1) // 2}, {(width - 1) // 2}); lower max_shifts"
        )
    if pw_rigid and apply_motion_correction:
        py = strides[0] + overlaps[0]
        px = strides[1] + overlaps[1]
        if py > height or px > width:
            raise ParameterError(
                f"{height}x{width} frames are smaller than one pw-rigid patch (strides + overlaps = {py}x{px}); "
                "lower motion.strides / motion.overlaps or set pw_rigid: false"
            )
        if 2 * max_deviation_rigid >= min(py, px):
            raise ParameterError(
                f"motion.max_deviation_rigid = {max_deviation_rigid} must be below half a patch "
                f"({min(py, px) // 2} px); lower it or enlarge strides / overlaps"
            )
