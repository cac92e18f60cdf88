"""Stage ``motion``: NoRMCorre rigid / piecewise-rigid registration into the corrected movie files.

Parameters keep CaImAn's names and one-photon defaults (``gSig_filt=(3, 3)``,
``max_shifts=(5, 5)``, ``strides=(48, 48)``, ``overlaps=(24, 24)``,
``max_deviation_rigid=3``, ``border_nan='copy'``, ``pw_rigid=False``); keys of
our own are marked "(ace-neuro)" or "(seed)". Relations that need the frame
size (``max_shifts`` below half the frame, a patch inside the frame) are
checked by the engine as soon as it knows the size.

Input: ``movie`` (preprocess output). Outputs: ``memmap`` (folder holding the
frame-block movie ``..._frames_T_block_B_float32.blocks`` that cnmfe and
evaluate read and, with ``save_memmap``, CaImAn's
``..._d1_H_d2_W_d3_1_order_C_frames_T.mmap``), ``template``, ``shifts``,
``patch_shifts``, ``metrics``, ``mean_png``, ``shifts_png``.
"""

from __future__ import annotations

from typing import Any

from ace_neuro.params import Param, ParameterError

NAME = "motion"

_S = NAME
_PAIR = {"type": "integer", "minimum": 0}
_PAIR_POS = {"type": "integer", "minimum": 1}

PARAMETERS: tuple[Param, ...] = (
    Param("apply_motion_correction", True, "boolean", "(seed) Register the movie; false writes the same memory map without registration.", _S),
    Param("pw_rigid", False, "boolean", "Piecewise-rigid registration (NoRMCorre patches) after the rigid one.", _S, caiman_group="motion"),
    Param("max_shifts", [5, 5], "array", "Largest rigid shift searched, in pixels (rows, cols); must be below half the frame.", _S, items=_PAIR, pair=True, caiman_group="motion"),
    Param("strides", [48, 48], "array", "Pw-rigid: distance between patch starts in pixels (rows, cols); patch = strides + overlaps.", _S, items=_PAIR_POS, pair=True, caiman_group="motion"),
    Param("overlaps", [24, 24], "array", "Pw-rigid: overlap of neighbouring patches in pixels (rows, cols).", _S, items=_PAIR, pair=True, caiman_group="motion"),
    Param("max_deviation_rigid", 3, "integer", "Pw-rigid: largest deviation of a patch shift from the frame's rigid shift, in pixels.", _S, minimum=0, caiman_group="motion"),
    Param("gSig_filt", [3, 3], ("array", "null"), "Half-size (pixels) of the high-pass filter applied to a copy used only to estimate shifts (one-photon data); null = register the raw frames.", _S, items=_PAIR_POS, pair=True, caiman_group="motion"),
    Param("border_nan", "copy", ("string", "boolean"), "Pixels uncovered by a shift: 'copy' nearest valid pixel, true NaN, 'min' frame minimum, false mirror.", _S, enum=("copy", "min", True, False), caiman_group="motion"),
    Param("niter_rig", 1, "integer", "Passes that refine the template over all template groups before the movie is registered.", _S, minimum=1, caiman_group="motion"),
    Param("splits_rig", 14, "integer", "Number of groups of frames, spread over the recording, whose registered means build the template (median of group means).", _S, minimum=1, caiman_group="motion"),
    Param("num_frames_split", 80, "integer", "Consecutive frames per template group.", _S, minimum=1, caiman_group="motion"),
    Param("upsample_factor_grid", 4, "integer", "Pw-rigid: cubic-spline nodes per patch spacing of the shift field before it is interpolated to every pixel (1 = piecewise linear).", _S, minimum=1, caiman_group="motion"),
    Param("shifts_opencv", True, "boolean", "Apply shifts with OpenCV bicubic interpolation; false = exact Fourier shift (rigid only).", _S, caiman_group="motion"),
    Param("nonneg_movie", True, "boolean", "Add a constant so the written movie is non-negative (offset from a sample of frames, recorded in metrics.json).", _S, caiman_group="motion"),
    Param("save_memmap", False, "boolean", "(ace-neuro) Also write CaImAn's float32 C-order memory map (caiman.load_memmap opens it) next to the frame-block movie, for use outside the workflow: 4 more bytes per pixel and frame of disk. Every rule reads the frame-block movie; the CaImAn engine makes its own map from it when this is false.", _S),
    Param("blocks_dtype", "float32", "string", "(ace-neuro) Sample type of the frame-block movie cnmfe and evaluate read: float16 halves its disk (relative precision 1/2048, ample for 8-bit recordings; cnmfe then skips its seeding caches).", _S, enum=("float32", "float16")),
    Param("motion_engine", "native", "string", "(ace-neuro) Engine of this step: 'native' (ours) or 'caiman' (MotionCorrect of CaImAn 1.12, in the conda environment workflow/envs/caiman.yaml; docs/engines.md).", _S, enum=("native", "caiman")),
    Param("template_file", None, ("string", "null"), "(ace-neuro) Template image (H, W) as .tif or .npy, raw (unfiltered) like the movie; null = build the template from the data.", _S),
    Param("motion_chunk_mb", 256.0, "number", "(ace-neuro) Memory budget of one chunk of frames per worker (MB); sets peak memory, not the result.", _S, exclusive_minimum=0.0),
)


def check(values: dict[str, Any]) -> dict[str, Any]:
    """Relations between the motion parameters."""
    if values["pw_rigid"] and not values["shifts_opencv"]:
        raise ParameterError(
            "motion.shifts_opencv = false (Fourier shifting) is implemented for rigid correction only; "
            "set shifts_opencv: true for pw_rigid: true"
        )
    return values


def run(inputs, outputs, params, *, threads: int = 1, log=None) -> None:
    """Register ``inputs.movie`` and write the rule's outputs."""
    from ace_neuro.motion import MotionOptions, correct_motion

    if params["motion_engine"] == "caiman":
        from ace_neuro.engines.caiman import run_motion

        run_motion(inputs.movie, memmap_dir=outputs.memmap, template=outputs.template, shifts=outputs.shifts,
                   patch_shifts=outputs.patch_shifts, metrics=outputs.metrics, mean_png=outputs.mean_png,
                   shifts_png=outputs.shifts_png, params=params, threads=threads, log=log)
        return
    from pathlib import Path

    from ace_neuro.io.disk import check_free_space
    from ace_neuro.io.movie import open_movie
    from ace_neuro.resources import estimate

    n_frames, height, width = open_movie(inputs.movie).shape
    needed_mb = estimate("motion", n_frames, height, width, params=dict(params))["disk_mb"]
    check_free_space(Path(outputs.metrics).parent, needed_mb * 10**6, what="motion")
    # the stage's parameters are the options' fields, by name, but for the engine switch
    options = MotionOptions(**{name: value for name, value in params.items() if name != "motion_engine"})
    names = ("memmap", "template", "shifts", "patch_shifts", "metrics", "mean_png", "shifts_png")
    correct_motion(inputs.movie, {name: getattr(outputs, name) for name in names}, options, threads=threads, logger=log)
