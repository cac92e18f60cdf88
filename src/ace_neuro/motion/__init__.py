"""Motion correction (NoRMCorre) for one-photon calcium imaging, streaming.

Rigid and piecewise-rigid registration of every frame to a template, shifts
estimated on a high-pass filtered copy (``gSig_filt``) and applied to the
original data, subpixel by upsampled-DFT cross-correlation.

Modules: :mod:`.params` (:class:`MotionOptions`: the settings by CaImAn's
names, declared once and checked on construction), :mod:`.filters` (high-pass
kernel), :mod:`.registration` (subpixel shift estimate), :mod:`.shift` (shifting and warping frames),
:mod:`.template` (template from the data), :mod:`.pwrigid` (patch grid, shift
field), :mod:`.correct` (register and correct a block of frames),
:mod:`.step` (the workflow step: streaming, memory map, metrics, figures),
:mod:`.figures`. Names load on first use (:func:`ace_neuro.lazy.attach`), so
importing the package or its ``params`` loads no OpenCV.

References
----------
Pnevmatikakis EA, Giovannucci A (2017). NoRMCorre: An online algorithm for
piecewise rigid motion correction of calcium imaging data. J Neurosci
Methods 291:83-94.
Guizar-Sicairos M, Thurman ST, Fienup JR (2008). Efficient subpixel image
registration algorithms. Optics Letters 33(2):156-158.
"""

from ace_neuro.lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "params": ["MotionOptions", "motion_options", "check_params"],
        "filters": ["highpass_kernel", "highpass_filter"],
        "registration": ["estimate_displacement", "register_images"],
        "shift": ["shift_frame", "warp_frame"],
        "correct": ["Registration", "CorrectedBlock", "make_registration", "correct_frames"],
        "step": ["correct_motion", "run_motion_step"],
    },
)
