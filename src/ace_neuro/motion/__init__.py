"""Motion correction (NoRMCorre) for one-photon calcium imaging, streaming.

Rigid and piecewise-rigid registration of every frame to a template, shifts
estimated on a high-pass filtered copy (``gSig_filt``) and applied to the
original data, subpixel by upsampled-DFT cross-correlation.

Modules: :mod:`.params` (:class:`MotionOptions`: the settings by CaImAn's
names, checked once by :func:`motion_options`), :mod:`.filters` (high-pass
kernel), :mod:`.registration` (subpixel shift estimate), :mod:`.shift` (shifting and warping frames),
:mod:`.template` (template from the data), :mod:`.pwrigid` (patch grid, shift
field), :mod:`.correct` (register and correct a block of frames),
:mod:`.step` (the workflow step: streaming, memory map, metrics, figures),
:mod:`.figures`.

References
----------
Pnevmatikakis EA, Giovannucci A (2017). NoRMCorre: An online algorithm for
piecewise rigid motion correction of calcium imaging data. J Neurosci
Methods 291:83-94.
Guizar-Sicairos M, Thurman ST, Fienup JR (2008). Efficient subpixel image
registration algorithms. Optics Letters 33(2):156-158.
"""

from .correct import CorrectedBlock, Registration, correct_frames, make_registration
from .filters import highpass_filter, highpass_kernel
from .params import MotionOptions, check_params, motion_options
from .registration import estimate_displacement, register_images
from .shift import shift_frame, warp_frame
from .step import correct_motion, run_motion_step

__all__ = [
    "MotionOptions",
    "motion_options",
    "check_params",
    "highpass_kernel",
    "highpass_filter",
    "estimate_displacement",
    "register_images",
    "shift_frame",
    "warp_frame",
    "Registration",
    "CorrectedBlock",
    "make_registration",
    "correct_frames",
    "correct_motion",
    "run_motion_step",
]
