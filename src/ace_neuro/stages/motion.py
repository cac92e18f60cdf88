"""Stage ``motion``: NoRMCorre rigid / piecewise-rigid registration into the corrected movie files.

Parameters keep CaImAn's names and one-photon defaults (``gSig_filt=(3, 3)``,
``strides=(48, 48)``, ``overlaps=(24, 24)``, ``max_deviation_rigid=3``,
``border_nan='copy'``, ``pw_rigid=False``) except ``max_shifts='auto'`` (10 px,
at most a tenth of the frame, at least CaImAn's 5 px); keys of our own are
marked "(ace-neuro)" or "(seed)". What needs the frame size (``max_shifts``
'auto', below half the frame, a patch inside the frame) is resolved and
checked by the engine as soon as it knows the size.

Input: ``movie`` (preprocess output). Outputs: ``memmap`` (folder holding the
frame-block movie ``..._frames_T_block_B_float32.blocks`` that cnmfe and
evaluate read and, with ``save_memmap``, CaImAn's
``..._d1_H_d2_W_d3_1_order_C_frames_T.mmap``), ``template``, ``shifts``,
``patch_shifts``, ``metrics``, ``mean_png``, ``shifts_png``.
"""

from __future__ import annotations

from ace_neuro.motion.params import MotionOptions

NAME = "motion"
OPTIONS = MotionOptions


def run(inputs, outputs, options: MotionOptions, *, threads: int = 1, log=None) -> None:
    """Register ``inputs.movie`` and write the rule's outputs."""
    from ace_neuro.motion import correct_motion

    if options.motion_engine == "caiman":
        from ace_neuro.engines.caiman import run_motion

        run_motion(inputs.movie, memmap_dir=outputs.memmap, template=outputs.template, shifts=outputs.shifts,
                   patch_shifts=outputs.patch_shifts, metrics=outputs.metrics, mean_png=outputs.mean_png,
                   shifts_png=outputs.shifts_png, options=options, threads=threads, log=log)
        return
    from pathlib import Path

    from ace_neuro.io.disk import check_free_space
    from ace_neuro.io.movie import open_movie
    from ace_neuro.resources import estimate

    movie = open_movie(inputs.movie)
    (n_frames, height, width), dtype = movie.shape, movie.dtype
    del movie
    needed_mb = estimate("motion", n_frames, height, width, dtype, options=options)["disk_mb"]
    check_free_space(Path(outputs.metrics).parent, needed_mb * 10**6, what="motion")
    names = ("memmap", "template", "shifts", "patch_shifts", "metrics", "mean_png", "shifts_png")
    correct_motion(inputs.movie, {name: getattr(outputs, name) for name in names}, options, threads=threads, logger=log)
