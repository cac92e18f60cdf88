"""NoRMCorre settings: the ``motion`` step's parameters, declared once as one frozen, typed options class.

:class:`MotionOptions` holds every parameter under CaImAn's name with its
one-photon default (``gSig_filt=(3, 3)``,
``strides=(48, 48)``, ``overlaps=(24, 24)``, ``max_deviation_rigid=3``,
``border_nan='copy'``, ``pw_rigid=False``) except ``max_shifts``: ``'auto'``
(:func:`resolve_max_shifts`: 10 px, at most a tenth of the frame but at
least 5 px, CaImAn's demo value); keys of our own are marked
"(ace-neuro)" or "(seed)". It is checked on construction
(:class:`ace_neuro.options.Options`); pairs are stored as ``(rows, cols)``
tuples of int. Both engines (ours and CaImAn's, :mod:`ace_neuro.engines.caiman`)
take it. Relations that need the frame size (``max_shifts`` below half the
frame, a patch inside the frame) are checked by :func:`check_frame_shape` as
soon as the size is known.

From a notebook::

    options = MotionOptions.from_params(max_shifts=(8, 8), pw_rigid=True)  # or motion_options(...)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Mapping

from ace_neuro.options import Options, ParameterError, option

__all__ = ["MotionOptions", "AUTO_MAX_SHIFTS_PX", "blocks_dtype_for", "motion_options", "check_params", "check_frame_shape",
           "default_params", "resolve_max_shifts", "with_resolved_max_shifts"]

#: ``max_shifts: auto``'s range in pixels, before the cap of a tenth of the frame (MiniAn's default ``max_sh``;
#: CaImAn's 5 px clipped 10 px jumps: benchmarks/motion_range.md).
AUTO_MAX_SHIFTS_PX = 10


@dataclass(frozen=True)
class MotionOptions(Options):
    """The settings of one motion correction (CaImAn's names; build with :meth:`from_params` or :func:`motion_options`).

    Pairs given as one number or a list are stored as ``(rows, cols)`` tuples
    of int; each field's help is its declaration's (``ace-neuro config``
    prints them all).
    """

    STAGE: ClassVar[str] = "motion"

    apply_motion_correction: bool = option(True, "boolean", "(seed) Register the movie; false writes the same memory map without registration.")
    pw_rigid: bool = option(False, "boolean", "Piecewise-rigid registration (NoRMCorre patches) after the rigid one.", caiman_group="motion")
    max_shifts: tuple[int, int] | str = option("auto", ("array", "string"), "Largest rigid shift searched, in pixels (rows, cols); must be below half the frame. 'auto' = 10 px, at most a tenth of the frame, at least 5 px (CaImAn's demo value, a head-fixed mouse; freely moving mice move more: benchmarks/motion_range.md).", items={"type": "integer", "minimum": 0}, pair=True, caiman_group="motion")
    strides: tuple[int, int] = option([48, 48], "array", "Pw-rigid: distance between patch starts in pixels (rows, cols); patch = strides + overlaps.", items={"type": "integer", "minimum": 1}, pair=True, caiman_group="motion")
    overlaps: tuple[int, int] = option([24, 24], "array", "Pw-rigid: overlap of neighbouring patches in pixels (rows, cols).", items={"type": "integer", "minimum": 0}, pair=True, caiman_group="motion")
    max_deviation_rigid: int = option(3, "integer", "Pw-rigid: largest deviation of a patch shift from the frame's rigid shift, in pixels.", minimum=0, caiman_group="motion")
    gSig_filt: tuple[int, int] | None = option([3, 3], ("array", "null"), "Half-size (pixels) of the high-pass filter applied to a copy used only to estimate shifts (one-photon data); null = register the raw frames.", items={"type": "integer", "minimum": 1}, pair=True, caiman_group="motion")
    border_nan: str | bool = option("copy", ("string", "boolean"), "Pixels uncovered by a shift: 'copy' nearest valid pixel, true NaN, 'min' frame minimum, false mirror.", enum=("copy", "min", True, False), caiman_group="motion")
    niter_rig: int = option(1, "integer", "Passes that refine the template over all template groups before the movie is registered.", minimum=1, caiman_group="motion")
    splits_rig: int = option(14, "integer", "Number of groups of frames, spread over the recording, whose registered means build the template (median of group means).", minimum=1, caiman_group="motion")
    num_frames_split: int = option(80, "integer", "Consecutive frames per template group.", minimum=1, caiman_group="motion")
    upsample_factor_grid: int = option(4, "integer", "Pw-rigid: cubic-spline nodes per patch spacing of the shift field before it is interpolated to every pixel (1 = piecewise linear).", minimum=1, caiman_group="motion")
    shifts_opencv: bool = option(True, "boolean", "Apply shifts with OpenCV bicubic interpolation; false = exact Fourier shift (rigid only).", caiman_group="motion")
    nonneg_movie: bool = option(True, "boolean", "Add a constant so the written movie is non-negative (offset from a sample of frames, recorded in metrics.json).", caiman_group="motion")
    save_memmap: bool = option(False, "boolean", "(ace-neuro) Also write CaImAn's float32 C-order memory map (caiman.load_memmap opens it) next to the frame-block movie, for use outside the workflow: 4 more bytes per pixel and frame of disk. Every rule reads the frame-block movie; the CaImAn engine makes its own map from it when this is false.")
    blocks_dtype: str = option("auto", "string", "(ace-neuro) Sample type of the frame-block movie cnmfe and evaluate read: 'auto' = uint8 for an 8-bit movie (the Miniscope's), float32 otherwise. 'uint8' (8-bit movies only): the corrected frames rounded to the nearest grey level and clipped to 0-255, the sensor's own quantisation (rounding error at most half a grey level, RMS 0.29, added in variance to the pixels' own noise: docs/motion.md), a quarter of float32's disk; 'float16': 11 significant bits (at most 1/16 of a grey level), half of float32's disk, values beyond +-65504 are an error. cnmfe skips its seeding caches unless float32.", enum=("auto", "float32", "float16", "uint8"))
    motion_engine: str = option("native", "string", "(ace-neuro) Engine of this step: 'native' (ours) or 'caiman' (MotionCorrect of CaImAn 1.12, in the conda environment workflow/envs/caiman.yaml; docs/engines.md).", enum=("native", "caiman"))
    template_file: str | None = option(None, ("string", "null"), "(ace-neuro) Template image (H, W) as .tif or .npy, raw (unfiltered) like the movie; null = build the template from the data.")
    motion_chunk_mb: float = option(256.0, "number", "(ace-neuro) Memory budget of one chunk of frames per worker (MB); sets peak memory, not the result.", exclusive_minimum=0.0)

    @staticmethod
    def check(values: dict[str, Any]) -> dict[str, Any]:
        """Fourier shifting is implemented for rigid correction only; ``max_shifts`` as text is ``'auto'``."""
        if isinstance(values["max_shifts"], str):
            if values["max_shifts"].strip().lower() != "auto":
                raise ParameterError(
                    f"motion.max_shifts must be a number, a pair [rows, cols] or 'auto', got {values['max_shifts']!r}"
                )
            values["max_shifts"] = "auto"
        if values["pw_rigid"] and not values["shifts_opencv"]:
            raise ParameterError(
                "motion.shifts_opencv = false (Fourier shifting) is implemented for rigid correction only; "
                "set shifts_opencv: true for pw_rigid: true"
            )
        return values

    @property
    def registers_patches(self) -> bool:
        """Whether piecewise-rigid registration runs (``pw_rigid`` and registration on)."""
        return bool(self.pw_rigid and self.apply_motion_correction)


def motion_options(**values: Any) -> MotionOptions:
    """Checked :class:`MotionOptions` from CaImAn-named keyword arguments; the rest take their defaults.

    The same as ``MotionOptions.from_params(**values)``.

    Raises
    ------
    ParameterError
        An unknown name (with the nearest known one), a value out of its type,
        range or allowed values, or values that contradict each other.
    """
    return MotionOptions.from_params(values)


def default_params() -> dict[str, Any]:
    """Default value of every motion parameter (JSON form), as a new dict."""
    return MotionOptions.defaults()


def check_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Check motion parameters and return them as a dict (pairs as ``(rows, cols)`` tuples of int).

    Raises
    ------
    ParameterError
        Naming the key, the value and what is allowed.
    """
    options = MotionOptions.from_params(params)
    return {p.name: getattr(options, p.name) for p in options.parameters()}


def resolve_max_shifts(max_shifts: tuple[int, int] | str, frame_shape: tuple[int, int]) -> tuple[int, int]:
    """The search range for frames of ``frame_shape``: ``max_shifts`` itself, or what ``'auto'`` means there.

    Parameters
    ----------
    max_shifts : (int, int) or 'auto'
        ``motion.max_shifts``.
    frame_shape : (int, int)
        (H, W) of the frames, pixels.

    Returns
    -------
    (int, int)
        Rows, cols in pixels. ``'auto'`` gives :data:`AUTO_MAX_SHIFTS_PX` on each axis, at most a tenth of the
        frame on that axis but at least CaImAn's 5 px (and below half the frame): the correlation leaves a
        ``max_shifts`` border of the template out, and on a 48x48 movie every pixel beyond 5 lost frames to "no
        structure" (10 px: all of them), and on real data 20 px lost template enough to cost matches
        (benchmarks/motion_range.md). 100 px and larger frames get 10 px.

    Examples
    --------
    >>> resolve_max_shifts("auto", (608, 608)), resolve_max_shifts("auto", (48, 64)), resolve_max_shifts((5, 5), (48, 48))
    ((10, 10), (5, 6), (5, 5))
    """
    if not isinstance(max_shifts, str):
        return int(max_shifts[0]), int(max_shifts[1])
    return tuple(min(AUTO_MAX_SHIFTS_PX, max(5, int(n) // 10), (int(n) - 1) // 2) for n in frame_shape)


def with_resolved_max_shifts(options: MotionOptions, frame_shape: tuple[int, int], logger=None) -> MotionOptions:
    """``options`` with ``max_shifts`` as the pair of :func:`resolve_max_shifts` (``'auto'`` logged when given).

    Parameters
    ----------
    options : MotionOptions
    frame_shape : (int, int)
        (H, W) of the frames, pixels.
    logger : logging.Logger, optional
        Where the value ``'auto'`` resolved to is reported (info).

    Returns
    -------
    MotionOptions
        The same options, ``max_shifts`` a ``(rows, cols)`` tuple of int.
    """
    resolved = resolve_max_shifts(options.max_shifts, frame_shape)
    if isinstance(options.max_shifts, str) and logger is not None:
        logger.info("motion: max_shifts auto -> %s for %dx%d frames (%d px, at most a tenth of the frame, at least 5)",
                    list(resolved), frame_shape[0], frame_shape[1], AUTO_MAX_SHIFTS_PX)
    return options.replace(max_shifts=resolved)


def check_frame_shape(
    frame_shape: tuple[int, int],
    *,
    max_shifts: tuple[int, int] | str,
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
    my, mx = resolve_max_shifts(max_shifts, (height, width))
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


def blocks_dtype_for(blocks_dtype: str, movie_dtype) -> str:
    """The frame-block movie's sample type for ``motion.blocks_dtype`` and the motion step's input sample type.

    ``"auto"`` stores uint8 for 8-bit movies (the corrected frames rounded to the sensor's own grey levels
    again: an error of at most half a grey level, RMS 0.29, well under an 8-bit sensor's noise; docs/motion.md)
    and float32 for anything else (a 16-bit sensor, a preprocessed float movie keeps its precision).
    ``"uint8"`` for a movie that is not 8-bit is an error (its values would be clipped to 0-255).

    Examples
    --------
    >>> blocks_dtype_for("auto", "uint8"), blocks_dtype_for("auto", "uint16"), blocks_dtype_for("float32", "uint8")
    ('uint8', 'float32', 'float32')
    """
    import numpy as np  # noqa: PLC0415

    kind = np.dtype(movie_dtype)
    eight_bit = kind == np.uint8
    if blocks_dtype == "uint8" and not eight_bit:
        raise ParameterError(
            f"motion.blocks_dtype: uint8 stores grey levels 0-255 and is for 8-bit movies only; the motion step's "
            f"input is {kind.name}: set blocks_dtype to auto, float32 or float16"
        )
    if blocks_dtype != "auto":
        return str(blocks_dtype)
    return "uint8" if eight_bit else "float32"
