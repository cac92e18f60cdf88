"""Register and correct frames against a template (arrays in, arrays out; no I/O).

:class:`Registration` holds everything derived once per movie (template and its
spectrum, high-pass kernel, patch grid and field matrices); :func:`correct_frames`
registers a block of frames and returns the corrected frames, the shifts and
per-frame quality figures. The workflow step streams the movie through it in
chunks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from .filters import highpass_filter, highpass_kernel
from .params import MotionOptions, resolve_max_shifts
from .pwrigid import PatchGrid, displacement_field, field_matrix, patch_grid
from .registration import (
    NO_STRUCTURE_PEAK_Z,
    FrameCorrelator,
    frame_correlator,
    register_frame,
    register_images,
    spectral_band,
    template_spectrum,
)
from .shift import shift_frame, shift_linear, warp_frame

__all__ = ["Registration", "make_registration", "correct_frames", "CorrectedBlock", "pearson_to_template"]

#: Subpixel precision of the DFT refinement: 1/UPSAMPLE_FACTOR pixel, before
#: the parabola refinement.
UPSAMPLE_FACTOR = 10
#: Tukey window (fraction tapered) applied to patches before their FFT, so the
#: circular cross-correlation is not dominated by the patch edges.
WINDOW_ALPHA = 0.3
#: Peak height (standard deviations) that pure noise reaches over a pw-rigid
#: patch's search window; patch confidence is measured above it.
PATCH_Z_FLOOR = 4.0
#: Weight of the rigid shift in the neighbourhood average of patch deviations:
#: equal to a 3x3 neighbourhood of patches whose peaks are 2.5 standard deviations
#: above the noise floor.
PATCH_PRIOR_WEIGHT = 50.0
#: Fraction of the template patches' power kept by the subpixel refinement of
#: patch shifts (the frequencies beyond hold mostly noise; fewer frequencies
#: make the refinement several times cheaper).
PATCH_BAND_ENERGY = 0.999


@dataclass(frozen=True)
class Registration:
    """What every chunk needs to register frames; built once per movie by :func:`make_registration`."""

    template: np.ndarray  # (H, W) float32, in the space shifts are estimated in (high-passed for 1p)
    kernel: np.ndarray | None
    max_shifts: tuple[int, int]
    border_nan: object
    shifts_opencv: bool
    register: bool
    correlator: FrameCorrelator  # the template prepared for rigid registration of whole frames
    margin: tuple[int, int]  # rows / cols excluded from the correlation metric
    template_unit: np.ndarray  # (H, W) float32: interior of the template, zero mean, unit norm; 0 in the margin
    grid: PatchGrid | None = None
    max_deviation_rigid: int = 0
    patch_spectra: np.ndarray | None = None  # (N, py, px//2+1)
    patch_band: tuple[int, int] | None = None
    rows_matrix: np.ndarray | None = None
    cols_matrix: np.ndarray | None = None
    patch_window: np.ndarray | None = None

    @property
    def frame_shape(self) -> tuple[int, int]:
        return self.template.shape  # type: ignore[return-value]


def make_registration(template: np.ndarray, options: MotionOptions) -> Registration:
    """Precompute the registration of frames to ``template``.

    Parameters
    ----------
    template : numpy.ndarray, shape (H, W)
        Template in the space shifts are estimated in: already high-pass
        filtered when ``options.gSig_filt`` is set.
    options : MotionOptions
        Checked motion settings (:func:`ace_neuro.motion.params.motion_options`).

    Returns
    -------
    Registration
    """
    template = np.ascontiguousarray(template, dtype=np.float32)
    if template.ndim != 2:
        raise ValueError(f"template must be one image (H, W), got shape {template.shape}")
    height, width = template.shape
    my, mx = resolve_max_shifts(options.max_shifts, (height, width))
    dev = options.max_deviation_rigid if options.pw_rigid else 0
    margin = (min(my + dev + 2, (height - 1) // 2), min(mx + dev + 2, (width - 1) // 2))
    interior = template[margin[0]: height - margin[0], margin[1]: width - margin[1]].astype(np.float64)
    interior = interior - interior.mean()
    norm = np.linalg.norm(interior)
    unit = np.zeros((height, width), np.float32)
    unit[margin[0]: height - margin[0], margin[1]: width - margin[1]] = interior / norm if norm > 0 else interior
    kernel = highpass_kernel(options.gSig_filt) if options.gSig_filt is not None else None
    common = dict(
        template=template, kernel=kernel, max_shifts=(int(my), int(mx)), border_nan=options.border_nan,
        shifts_opencv=bool(options.shifts_opencv), register=bool(options.apply_motion_correction),
        correlator=frame_correlator(template, margin=(int(my), int(mx))), margin=margin, template_unit=unit,
    )
    if not options.registers_patches:
        return Registration(**common)
    grid = patch_grid((height, width), options.strides, options.overlaps)
    py, px = grid.size
    window = _patch_window((py, px))
    patches = np.stack([template[y: y + py, x: x + px] for y in grid.starts_y for x in grid.starts_x]) * window
    patch_spectra = template_spectrum(patches)
    return Registration(
        **common, grid=grid, max_deviation_rigid=int(options.max_deviation_rigid),
        patch_spectra=patch_spectra, patch_band=spectral_band(patch_spectra, PATCH_BAND_ENERGY),
        rows_matrix=field_matrix(grid.centres_y, height, options.upsample_factor_grid),
        cols_matrix=field_matrix(grid.centres_x, width, options.upsample_factor_grid),
        patch_window=window,
    )


def _patch_window(size: tuple[int, int]) -> np.ndarray:
    """Separable Tukey window: patch edges fade to zero, so the circular cross-correlation is not biased towards zero shift."""
    from scipy.signal.windows import tukey  # noqa: PLC0415

    return np.outer(tukey(size[0], WINDOW_ALPHA), tukey(size[1], WINDOW_ALPHA)).astype(np.float32)


@dataclass
class CorrectedBlock:
    """Result of :func:`correct_frames` for ``n`` frames.

    Attributes
    ----------
    frames : (n, H, W) float32
        Corrected frames (the original data moved, not the high-passed copy).
    shifts : (n, 2) float64
        Rigid correcting shift (rows, cols) in pixels; minus the displacement.
    peak_z : (n,) float64
        Correlation-peak height in standard deviations (see ``NO_STRUCTURE_PEAK_Z``).
    no_structure : (n,) bool
        Frames whose peak was too low to trust; they get a zero shift.
    corr_before, corr_after : (n,) float64
        Pearson correlation of the (high-passed) frame with the template,
        before and after correction, over the interior.
    patch_shifts : (n, ny, nx, 2) float32 or None
        Pw-rigid correcting shift of every patch (rows, cols).
    sums : dict of (H, W) float32
        Sums over the frames of the raw and high-passed frames before and
        after correction (``raw_before``, ``raw_after``, ``hp_before``,
        ``hp_after``), for the mean images.
    """

    frames: np.ndarray
    shifts: np.ndarray
    peak_z: np.ndarray
    no_structure: np.ndarray
    corr_before: np.ndarray
    corr_after: np.ndarray
    patch_shifts: np.ndarray | None
    sums: dict


def pearson_to_template(image: np.ndarray, reg: Registration) -> float:
    """Pearson correlation of an image's interior with the template's interior.

    The template side is precomputed (zero mean, unit norm, zero outside the
    interior), so this is one dot product and the image interior's mean and
    standard deviation. Non-finite pixels (NaN borders reaching the interior)
    are replaced by the interior's mean.
    """
    my, mx = reg.margin
    h, w = image.shape
    image = np.ascontiguousarray(image, dtype=np.float32)
    interior = image[my: h - my, mx: w - mx]
    mean, std = cv2.meanStdDev(interior)
    if not (np.isfinite(mean[0, 0]) and np.isfinite(std[0, 0])):
        finite = np.isfinite(interior)
        if not finite.any():
            return 0.0
        image = np.where(np.isfinite(image), image, np.float32(interior[finite].mean()))
        interior = image[my: h - my, mx: w - mx]
        mean, std = cv2.meanStdDev(interior)
    norm = float(std[0, 0]) * math.sqrt(interior.size)
    if not norm > 0:
        return 0.0
    return float(np.dot(image.ravel(), reg.template_unit.ravel())) / norm


def correct_frames(frames: np.ndarray, reg: Registration) -> CorrectedBlock:
    """Register a block of frames to the template and correct them.

    Shifts are estimated on the high-passed copy of each frame (when the
    registration has a kernel) and applied to the original frame. A frame
    whose correlation peak is below ``NO_STRUCTURE_PEAK_Z`` (no structure in
    common with the template, e.g. all noise or blank) gets a zero shift and is
    flagged. With pw-rigid registration, each patch shift stays within
    ``max_deviation_rigid`` of the frame's rigid shift; a patch without
    structure takes the rigid shift.

    Parameters
    ----------
    frames : numpy.ndarray, shape (n, H, W)
        Original frames, any real dtype.
    reg : Registration
        From :func:`make_registration`.

    Returns
    -------
    CorrectedBlock
    """
    frames = np.asarray(frames)
    if frames.ndim != 3 or frames.shape[1:] != reg.frame_shape:
        raise ValueError(f"frames must be (n, {reg.frame_shape[0]}, {reg.frame_shape[1]}), got {frames.shape}")
    n, height, width = frames.shape
    out = np.empty((n, height, width), dtype=np.float32)
    shifts = np.zeros((n, 2))
    peak_z = np.zeros(n)
    no_structure = np.zeros(n, dtype=bool)
    corr_before = np.zeros(n)
    corr_after = np.zeros(n)
    patch_shifts = None if reg.grid is None else np.zeros((n,) + reg.grid.shape + (2,), dtype=np.float32)
    # float32 within a block (at most a few hundred frames), float64 across blocks (the step)
    sums = {key: np.zeros((height, width), np.float32) for key in ("raw_before", "raw_after", "hp_before", "hp_after")}
    may_be_nan = reg.border_nan is True
    for i in range(n):
        frame = np.ascontiguousarray(frames[i], dtype=np.float32)
        hp = highpass_filter(frame, reg.kernel) if reg.kernel is not None else frame
        corr_before[i] = pearson_to_template(hp, reg)
        if reg.register:
            displacement, peak_z[i] = register_frame(reg.correlator, hp, reg.max_shifts, UPSAMPLE_FACTOR)
            if not peak_z[i] >= NO_STRUCTURE_PEAK_Z:
                no_structure[i] = True
                displacement = np.zeros(2)
        else:
            displacement = np.zeros(2)
        shifts[i] = -displacement
        if reg.grid is not None and not no_structure[i]:
            field = _patch_displacements(hp, displacement, reg)
            patch_shifts[i] = -field
            fy = displacement_field(field[..., 0], reg.rows_matrix, reg.cols_matrix)
            fx = displacement_field(field[..., 1], reg.rows_matrix, reg.cols_matrix)
            out[i] = warp_frame(frame, fy, fx, reg.border_nan)
            hp_after = warp_frame(hp, fy, fx, "copy") if reg.kernel is not None else out[i]
        else:
            if patch_shifts is not None:
                patch_shifts[i] = -displacement
            if displacement[0] == 0 and displacement[1] == 0:
                out[i] = frame
                hp_after = hp
            else:
                out[i] = shift_frame(frame, -displacement, reg.border_nan, reg.shifts_opencv)
                hp_after = shift_linear(hp, -displacement[0], -displacement[1]) if reg.kernel is not None else out[i]
        corr_after[i] = pearson_to_template(hp_after, reg)
        sums["raw_before"] += frame
        sums["raw_after"] += np.nan_to_num(out[i]) if may_be_nan else out[i]
        sums["hp_before"] += hp
        sums["hp_after"] += np.nan_to_num(hp_after) if may_be_nan else hp_after
    return CorrectedBlock(out, shifts, peak_z, no_structure, corr_before, corr_after, patch_shifts, sums)


def _patch_displacements(hp: np.ndarray, rigid: np.ndarray, reg: Registration) -> np.ndarray:
    """Displacement (ny, nx, 2) of every patch, within max_deviation_rigid of the rigid displacement."""
    grid = reg.grid
    dev = reg.max_deviation_rigid
    py, px = grid.size
    height, width = hp.shape
    whole = np.round(rigid).astype(int)
    # Each frame patch is cut where the rigid shift moved the template patch's content,
    # kept inside the frame (no mirrored content at the edges); the search window is
    # centred on the remaining (sub-pixel + clipping) part of the rigid shift.
    ys = np.clip(grid.starts_y + whole[0], 0, height - py)
    xs = np.clip(grid.starts_x + whole[1], 0, width - px)
    patches = np.stack([hp[y: y + py, x: x + px] for y in ys for x in xs]) * reg.patch_window
    offsets = np.stack(np.meshgrid(ys - grid.starts_y, xs - grid.starts_x, indexing="ij"), axis=-1).reshape(-1, 2)
    centre = rigid[None, :] - offsets
    lower = centre - dev
    upper = centre + dev
    residual, z = register_images(reg.patch_spectra, patches, lower, upper, UPSAMPLE_FACTOR, reg.patch_band)
    total = offsets + residual
    return _regularise(total.reshape(grid.shape + (2,)), z.reshape(grid.shape), rigid).astype(np.float32)


def _regularise(patch_d: np.ndarray, peak_z: np.ndarray, rigid: np.ndarray) -> np.ndarray:
    """Average each patch's deviation from the rigid shift with its 8 neighbours, weighted by confidence.

    A patch's weight is ``(peak_z - PATCH_Z_FLOOR)**2`` (zero at or below the
    height pure noise reaches), times 2 / 1 / 0.5 for the patch itself / edge /
    corner neighbours; the rigid shift (deviation 0) enters with the weight
    ``PATCH_PRIOR_WEIGHT``. Weak or structureless patches thus borrow the
    deviation of their better neighbours, or stay near the rigid shift when no
    neighbour has clear structure. In NoRMCorre each patch keeps its own peak;
    on one-photon data many 72-pixel patches have too little structure for
    that and pw-rigid would add noise to the rigid result (docs/motion.md).
    """
    weight = np.clip(peak_z - PATCH_Z_FLOOR, 0.0, None) ** 2
    deviation = (patch_d - rigid).astype(np.float32)
    kernel = np.array([[0.5, 1.0, 0.5], [1.0, 2.0, 1.0], [0.5, 1.0, 0.5]], dtype=np.float32)
    w = weight.astype(np.float32)
    den = cv2.filter2D(w, -1, kernel, borderType=cv2.BORDER_CONSTANT)
    out = np.empty_like(deviation)
    for c in range(2):
        num = cv2.filter2D(deviation[..., c] * w, -1, kernel, borderType=cv2.BORDER_CONSTANT)
        out[..., c] = num / (den + PATCH_PRIOR_WEIGHT)
    return rigid + out
