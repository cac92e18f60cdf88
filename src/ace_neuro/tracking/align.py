"""Align sessions to a common space: rotation and translation, then a smooth non-rigid field.

No session is privileged. Every pair of sessions is aligned rigidly (a grid of rotations, each with an FFT
cross-correlation for the translation, then a finer rotation step and sub-pixel peaks); the per-session
rotations and translations are the weighted least-squares solution of all pairwise estimates, with zero mean
rotation and translation. Each session is then refined rigidly against the mean of the *other* sessions in the
common space (a leave-one-out template), and a smooth displacement field is measured on a grid of patches
(local cross-correlations, weighted by their peak correlation, smoothed, interpolated); the mean field over the
sessions is removed, so the common space has the average geometry.

What is aligned: the projection of the footprints (each scaled to a maximum of 1 and summed, as CellReg does when
no images exist) and any summary images every session has (mean, correlation, vessels), each high-pass filtered
and standardised; the cross-correlations of the channels are summed.

Which sessions are the subject's is decided relative to the subject's own data, not by a fixed correlation
(images, cell density and field size differ between labs): two sessions are *linked* when their correlation
after their pairwise alignment is at least ``min_relative_alignment_correlation`` (0.5) times the subject's
typical one (the median over its sessions of each session's best correlation), at least
``min_alignment_over_chance`` (2) times chance, and at least the floor ``min_correlation``. Chance is measured
on the data: the subject's best pair aligned again with one session turned by 45, 90 and 180 degrees and
mirrored (unturned, turned by 45 and by 90 degrees), i.e. the same images seen as another field of view, so the
search over rotations and translations finds only what any two unrelated fields of view of these statistics
reach; the second smallest of the six, so that a vessel pattern symmetric under some of them (a straight
vessel, an axis-aligned cross) does not raise it. Sessions outside the largest group of linked sessions are
named in an :class:`AlignmentError` (another animal's or another field of view's recording is not matched);
with two sessions there is no typical level to compare with, and only chance and the floor decide (both
sessions are named when they do not link, since neither is the odd one out).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Sequence

import cv2
import numpy as np
import scipy.fft
import scipy.ndimage

from .footprints import SessionFootprints
from .transforms import SessionTransform, rotation_matrix, warp_image
from .params import TrackingOptions

#: The declared defaults of the keywords named like a parameter (each default is written once, in TrackingOptions).
_DEFAULTS = TrackingOptions()

__all__ = ["AlignmentError", "AlignmentResult", "align_sessions", "alignment_channels", "estimate_rigid",
           "footprint_projection", "cell_diameter"]

logger = logging.getLogger(__name__)


class AlignmentError(ValueError):
    """A session cannot be aligned to the others (low correlation after the best rotation and translation)."""


@dataclasses.dataclass
class AlignmentResult:
    """Transforms and what was measured on the way.

    Attributes
    ----------
    transforms : list of SessionTransform
    pairwise_correlation : ndarray (S, S)
        Pearson correlation of the alignment images of every pair after their pairwise rigid alignment.
    correlation_before, correlation_rigid, correlation_nonrigid : ndarray (S,)
        Each session's correlation with the mean of the other sessions in the common space: placed at the
        centre without rotation, after the rigid transform, after the non-rigid field.
    field_rms : ndarray (S,)
        Root-mean-square length of each session's displacement field (pixels).
    common_images : ndarray (S, Hc, Wc)
        Each session's footprint projection in the common space (after the full transform).
    raw_common_images : ndarray (S, Hc, Wc)
        The same placed at the centre without transform ("before").
    names : list of str
        The sessions' names, in the order of every per-session array here (the order ``align_sessions`` was
        given; :func:`~.registration.register_sessions` gives them in name order).
    chance_correlation : float
        Correlation of the subject's best pair with one session turned or mirrored (what unrelated fields of view
        reach; :func:`_chance_correlation`).
    link_threshold : float
        Correlation two sessions needed to be linked (see the module's docstring).
    """

    transforms: list
    pairwise_correlation: np.ndarray
    correlation_before: np.ndarray
    correlation_rigid: np.ndarray
    correlation_nonrigid: np.ndarray
    field_rms: np.ndarray
    common_images: np.ndarray
    raw_common_images: np.ndarray
    names: list = dataclasses.field(default_factory=list)
    chance_correlation: float = 0.0
    link_threshold: float = 0.0


def footprint_projection(session: SessionFootprints) -> np.ndarray:
    """Sum of the footprints each scaled to a maximum of 1: (H, W) float32."""
    fp = session.footprints
    if fp.shape[0] == 0:
        return np.zeros(session.shape, np.float32)
    peak = fp.max(axis=1).toarray().ravel()
    peak[peak <= 0] = 1
    scaled = fp.multiply(1.0 / peak[:, None]).tocsr()
    return np.asarray(scaled.sum(axis=0), dtype=np.float32).reshape(session.shape)


def cell_diameter(sessions: Sequence[SessionFootprints]) -> float:
    """Median diameter (pixels) of the circle with the area of a footprint above half its maximum."""
    areas = []
    for s in sessions:
        fp = s.footprints
        if fp.shape[0] == 0:
            continue
        peak = fp.max(axis=1).toarray().ravel()
        row = np.repeat(np.arange(fp.shape[0]), np.diff(fp.indptr))
        above = fp.data >= 0.5 * peak[row]
        areas.append(np.bincount(row[above], minlength=fp.shape[0]))
    if not areas:
        return 8.0
    area = np.median(np.concatenate(areas))
    return float(max(2 * np.sqrt(area / np.pi), 2.0))


def _standardise(image: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    values = image[valid] if valid is not None else image
    std = values.std() if values.size else 0
    out = (image - (values.mean() if values.size else 0)) / (std if std > 0 else 1)
    if valid is not None:
        out[~valid] = 0
    return out.astype(np.float32)


def alignment_channels(session: SessionFootprints, *, diameter: float,
                       image_keys: Sequence[str] = ()) -> list[np.ndarray]:
    """The images a session is aligned on, high-pass filtered and standardised: list of (H, W) float32.

    The footprint projection always comes first; ``image_keys`` name the session's summary images to add.
    """
    images = [footprint_projection(session)] + [session.images[k] for k in image_keys]
    sigma_high = 2.0 * diameter
    sigma_low = max(diameter / 8.0, 0.5)
    out = []
    for image in images:
        image = image.astype(np.float32)
        smooth = cv2.GaussianBlur(image, (0, 0), sigma_low)
        background = cv2.GaussianBlur(image, (0, 0), sigma_high)
        out.append(_standardise(smooth - background))
    return out


def _rotated_canvas(image: np.ndarray, angle_deg: float, canvas_shape: tuple[int, int]) -> np.ndarray:
    """``image`` rotated about its centre into a canvas centred on the same point (cubic interpolation).

    A canvas pixel ``u`` (row, col) reads the image at ``R(angle)^-1 (u - c_canvas) + c_image``.
    """
    c_in = (np.asarray(image.shape, float) - 1) / 2
    c_out = (np.asarray(canvas_shape, float) - 1) / 2
    cos, sin = np.cos(np.deg2rad(angle_deg)), np.sin(np.deg2rad(angle_deg))
    # OpenCV's (x = col, y = row) matrix of the canvas -> image map
    matrix = np.array([[cos, -sin, c_in[1] - cos * c_out[1] + sin * c_out[0]],
                       [sin, cos, c_in[0] - sin * c_out[1] - cos * c_out[0]]])
    # cubic: linear interpolation blurs every angle but 0 and biases the search towards no rotation
    return cv2.warpAffine(np.ascontiguousarray(image, np.float32), matrix, (canvas_shape[1], canvas_shape[0]),
                          flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=0.0)


def _parabola(left: float, centre: float, right: float) -> float:
    denom = left - 2 * centre + right
    return 0.0 if denom >= 0 else float(np.clip(0.5 * (left - right) / denom, -0.5, 0.5))


def _best_translation(fixed_spectra, moving_channels, fft_shape, expected, max_shift):
    """Sum over channels of the cross-correlation; best integer + sub-pixel shift near ``expected``."""
    total = None
    for spectrum, moving in zip(fixed_spectra, moving_channels):
        corr = scipy.fft.irfft2(spectrum * np.conj(scipy.fft.rfft2(moving, s=fft_shape)),
                                s=fft_shape)
        total = corr if total is None else total + corr
    e0, e1 = int(round(expected[0])), int(round(expected[1]))
    r = np.arange(e0 - max_shift[0], e0 + max_shift[0] + 1)
    c = np.arange(e1 - max_shift[1], e1 + max_shift[1] + 1)
    window = total[np.ix_(r % fft_shape[0], c % fft_shape[1])]
    i, j = np.unravel_index(np.argmax(window), window.shape)
    peak = float(window[i, j])
    dr = _parabola(window[i - 1, j], peak, window[i + 1, j]) if 0 < i < window.shape[0] - 1 else 0.0
    dc = _parabola(window[i, j - 1], peak, window[i, j + 1]) if 0 < j < window.shape[1] - 1 else 0.0
    return peak, np.array([r[i] + dr, c[j] + dc])


def estimate_rigid(fixed: Sequence[np.ndarray], moving: Sequence[np.ndarray], *, angles_deg: np.ndarray,
                   max_shift: tuple[int, int], expected_shift: np.ndarray | None = None,
                   refine_step_deg: float = 0.25) -> tuple[float, np.ndarray, float]:
    """Rotation and translation mapping ``moving`` onto ``fixed``.

    Parameters
    ----------
    fixed, moving : sequences of (H, W) float32 channels (standardised, zero outside the image)
    angles_deg : ndarray
        Rotations tried; the best is refined with ``refine_step_deg`` steps and a parabola.
    max_shift : (int, int)
        Largest translation searched, rows and cols, about ``expected_shift``.
    expected_shift : (2,), optional
        Expected ``shift`` (below); default: the frames' centres coincide.

    Returns
    -------
    angle_deg : float
    shift : ndarray (2,)
        A moving point ``p`` lies at ``R(angle) (p - c_moving) + shift`` in the fixed frame.
    correlation : float
        Mean over channels of the Pearson correlation of the overlapping pixels after alignment.
    """
    fixed_shape = fixed[0].shape
    # the canvas holds the moving image at any rotation; its centre is an integer number of pixels from the
    # image's, so that no rotation is sampled between pixels
    height, width = moving[0].shape
    pad = int(np.ceil((np.hypot(height, width) - min(height, width)) / 2)) + 1
    canvas_shape = (height + 2 * pad, width + 2 * pad)
    fft_shape = (scipy.fft.next_fast_len(fixed_shape[0] + canvas_shape[0]),
                 scipy.fft.next_fast_len(fixed_shape[1] + canvas_shape[1]))
    fixed_spectra = [scipy.fft.rfft2(f, s=fft_shape) for f in fixed]
    centre_canvas = (np.asarray(canvas_shape, float) - 1) / 2
    if expected_shift is None:
        expected_shift = (np.asarray(fixed_shape, float) - 1) / 2
    # canvas point u sits at u + s in the fixed frame; shift = centre_canvas + s
    expected_s = np.asarray(expected_shift, float) - centre_canvas

    def score(angle: float) -> tuple[float, np.ndarray]:
        rotated = [_rotated_canvas(m, angle, canvas_shape) for m in moving]
        return _best_translation(fixed_spectra, rotated, fft_shape, expected_s, max_shift)

    results = {float(a): score(float(a)) for a in angles_deg}
    best = max(results, key=lambda a: results[a][0])
    if refine_step_deg > 0 and len(angles_deg) > 1:
        step = float(np.min(np.diff(np.sort(angles_deg))))
        for a in np.arange(best - step + refine_step_deg, best + step, refine_step_deg):
            a = float(round(a, 6))
            if a not in results:
                results[a] = score(a)
        best = max(results, key=lambda a: results[a][0])
        left, right = best - refine_step_deg, best + refine_step_deg
        if left in results and right in results:
            offset = _parabola(results[left][0], results[best][0], results[right][0])
            if offset != 0:
                refined = best + offset * refine_step_deg
                results[refined] = score(refined)
                if results[refined][0] >= results[best][0]:
                    best = refined
    shift = centre_canvas + results[best][1]
    corr = rigid_correlation(fixed, moving, best, shift)
    return best, shift, corr


def _downsample(image: np.ndarray) -> np.ndarray:
    """Half-size image (2 x 2 block means; odd last rows / columns dropped)."""
    h, w = image.shape[0] // 2 * 2, image.shape[1] // 2 * 2
    return image[:h, :w].reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))


def _pair_rigid(fixed, moving, *, coarse: np.ndarray, max_shift: tuple[int, int], diameter: float):
    """:func:`estimate_rigid` over the coarse angles on half-size images when cells are large enough (>= 6 px
    across: 4 times cheaper), then refined at full size around the coarse answer."""
    if diameter < 6 or min(fixed[0].shape + moving[0].shape) < 64:
        return estimate_rigid(fixed, moving, angles_deg=coarse, max_shift=max_shift)
    step = float(np.min(np.diff(coarse))) if coarse.size > 1 else 1.0
    angle, shift, _ = estimate_rigid([_downsample(f) for f in fixed], [_downsample(m) for m in moving],
                                     angles_deg=coarse, max_shift=(max_shift[0] // 2 + 1, max_shift[1] // 2 + 1),
                                     refine_step_deg=step / 2)
    # half-size pixel p' is full-size 2 p' + 0.5: a half-size shift s' is 2 s' + 0.5 at full size
    return estimate_rigid(fixed, moving, angles_deg=angle + np.array([-0.5, -0.25, 0.0, 0.25, 0.5]) * step,
                          max_shift=(4, 4), expected_shift=2 * shift + 0.5, refine_step_deg=step / 8)


def _pull_back(moving_shape, fixed_shape, angle_deg, shift) -> np.ndarray:
    """(2, Hf, Wf) moving coordinates of every fixed pixel for ``p_f = R (p_m - c_m) + shift``."""
    t = SessionTransform(moving_shape, fixed_shape, angle_deg, shift)
    return t.common_to_session()


def _pearson(a: np.ndarray, b: np.ndarray, valid: np.ndarray) -> float:
    if valid.sum() < 16:
        return 0.0
    x, y = a[valid].astype(np.float64), b[valid].astype(np.float64)
    x -= x.mean()
    y -= y.mean()
    denom = np.sqrt((x * x).sum() * (y * y).sum())
    return float((x * y).sum() / denom) if denom > 0 else float("nan")


def rigid_correlation(fixed, moving, angle_deg, shift) -> float:
    """Mean over channels of the Pearson correlation over the overlap after the rigid transform."""
    coords = _pull_back(moving[0].shape, fixed[0].shape, angle_deg, shift)
    inside = ((coords[0] >= 0) & (coords[0] <= moving[0].shape[0] - 1) & (coords[1] >= 0)
              & (coords[1] <= moving[0].shape[1] - 1))
    values = [_pearson(f, warp_image(m, coords), inside) for f, m in zip(fixed, moving)]
    values = [v for v in values if np.isfinite(v)]  # a blank channel (a session without cells) says nothing
    return float(np.mean(values)) if values else 0.0


def _synchronise(n: int, pairs: list[tuple[int, int, float, np.ndarray, float]],
                 centres: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per-session (angle, translation) from pairwise estimates, weighted least squares, zero means.

    ``pairs`` holds (i, j, angle_ij, shift_ij, weight) with ``p_j = R_ij (p_i - c_i) + shift_ij``. The
    session transforms ``p_c = R_i (p_i - c_i) + t_i`` satisfy ``angle_i = angle_j + angle_ij`` and
    ``t_i = t_j + R_j (shift_ij - c_j)``.
    """
    if n == 1:
        return np.zeros(1), np.zeros((1, 2))
    rows, rhs, weights = [], [], []
    for i, j, angle, _, w in pairs:
        row = np.zeros(n)
        row[i], row[j] = 1, -1
        rows.append(row), rhs.append(angle), weights.append(w)
    rows.append(np.ones(n)), rhs.append(0.0), weights.append(1.0)
    sw = np.sqrt(np.asarray(weights))[:, None]
    angles = np.linalg.lstsq(np.asarray(rows) * sw, np.asarray(rhs) * sw[:, 0], rcond=None)[0]
    rows, rhs, weights = [], [], []
    for i, j, _, shift, w in pairs:
        row = np.zeros(n)
        row[i], row[j] = 1, -1
        rows.append(row), rhs.append(rotation_matrix(angles[j]) @ (shift - centres[j])), weights.append(w)
    rows.append(np.ones(n)), rhs.append(np.zeros(2)), weights.append(1.0)
    sw = np.sqrt(np.asarray(weights))[:, None]
    shifts = np.linalg.lstsq(np.asarray(rows) * sw, np.asarray(rhs) * sw, rcond=None)[0]
    return angles, shifts


def _common_frame(shapes, angles, shifts, max_size_factor: float = 2.0):
    """Bounding box of all transformed frames: common shape and the shifts moved into it."""
    corners = []
    for shape, angle, shift in zip(shapes, angles, shifts):
        t = SessionTransform(shape, (1, 1), angle, shift)
        h, w = shape
        corners.append(t.rigid_points(np.array([[0, 0], [0, w - 1], [h - 1, 0], [h - 1, w - 1]])))
    corners = np.concatenate(corners)
    low = np.floor(corners.min(axis=0))
    high = np.ceil(corners.max(axis=0))
    size = (high - low + 1).astype(int)
    limit = max_size_factor * np.max(np.asarray(shapes), axis=0)
    if np.any(size > limit):
        raise AlignmentError(f"the aligned sessions span {tuple(size)} pixels, more than {max_size_factor} times "
                             "the largest frame: the sessions do not overlap")
    return (int(size[0]), int(size[1])), shifts - low


def _leave_one_out(images: np.ndarray, valid: np.ndarray, i: int) -> tuple[np.ndarray, np.ndarray]:
    others = [j for j in range(images.shape[0]) if j != i]
    total = images[others].sum(axis=0)
    count = valid[others].sum(axis=0)
    template = np.where(count > 0, total / np.maximum(count, 1), 0).astype(np.float32)
    return template, count > 0


def _warp_channels(channels, transform: SessionTransform):
    coords = transform.common_to_session()
    h, w = transform.session_shape
    valid = (coords[0] >= 0) & (coords[0] <= h - 1) & (coords[1] >= 0) & (coords[1] <= w - 1)
    return [warp_image(c, coords) for c in channels], valid


def _patch_shifts(template: np.ndarray, template_valid: np.ndarray, image: np.ndarray, valid: np.ndarray, *,
                  patch: int, max_shift: int, min_correlation: float):
    """Local shifts on a grid of patches: centres (ny, nx, 2), shifts (ny, nx, 2), weights (ny, nx)."""
    h, w = image.shape
    stride = max(patch // 2, 1)
    starts_r = np.arange(0, max(h - patch, 0) + 1, stride)
    starts_c = np.arange(0, max(w - patch, 0) + 1, stride)
    shifts = np.zeros((starts_r.size, starts_c.size, 2))
    weights = np.zeros((starts_r.size, starts_c.size))
    centres = np.zeros((starts_r.size, starts_c.size, 2))
    taper = np.outer(np.hanning(patch + 2)[1:-1], np.hanning(patch + 2)[1:-1]).astype(np.float32)
    size = (2 * patch, 2 * patch)
    for a, r0 in enumerate(starts_r):
        for b, c0 in enumerate(starts_c):
            sl = np.s_[r0:r0 + patch, c0:c0 + patch]
            centres[a, b] = (r0 + (patch - 1) / 2, c0 + (patch - 1) / 2)
            both = valid[sl] & template_valid[sl]
            if both.mean() < 0.9:
                continue
            t = template[sl] - template[sl][both].mean()
            m = image[sl] - image[sl][both].mean()
            t, m = t * both * taper, m * both * taper
            corr = scipy.fft.irfft2(scipy.fft.rfft2(m, s=size) * np.conj(scipy.fft.rfft2(t, s=size)), s=size)
            idx = np.arange(-max_shift, max_shift + 1)
            window = corr[np.ix_(idx % size[0], idx % size[1])]
            i, j = np.unravel_index(np.argmax(window), window.shape)
            norm = np.sqrt((t * t).sum() * (m * m).sum())
            peak = window[i, j] / norm if norm > 0 else 0
            if peak < min_correlation or i in (0, window.shape[0] - 1) or j in (0, window.shape[1] - 1):
                continue
            dr = _parabola(window[i - 1, j], window[i, j], window[i + 1, j])
            dc = _parabola(window[i, j - 1], window[i, j], window[i, j + 1])
            shifts[a, b] = (idx[i] + dr, idx[j] + dc)
            weights[a, b] = peak
    return centres, shifts, weights


def _smooth_field(centres, shifts, weights, shape, *, prior_weight: float = 0.5) -> np.ndarray:
    """Weighted Gaussian smoothing of patch shifts on their grid, shrunk to 0 where evidence is thin, then
    interpolated to every pixel: (2, H, W) float32."""
    num = np.stack([scipy.ndimage.gaussian_filter(shifts[..., k] * weights, 1.0, mode="nearest") for k in (0, 1)])
    den = scipy.ndimage.gaussian_filter(weights, 1.0, mode="nearest")
    grid = num / (den + prior_weight * max(weights.max(), 1e-6) * 0.25)
    ny, nx = weights.shape
    r0, c0 = centres[0, 0]
    dr = centres[1, 0, 0] - r0 if ny > 1 else 1.0
    dc = centres[0, 1, 1] - c0 if nx > 1 else 1.0
    rows, cols = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float64)
    coords = np.stack([(rows - r0) / dr, (cols - c0) / dc])
    return np.stack([scipy.ndimage.map_coordinates(g, coords, order=3, mode="nearest") for g in grid]).astype(
        np.float32)


def align_sessions(sessions: Sequence[SessionFootprints], *, max_rotation_deg: float = _DEFAULTS.max_rotation_deg,
                   rotation_step_deg: float = _DEFAULTS.rotation_step_deg,
                   max_shift_fraction: float = _DEFAULTS.max_shift_fraction, nonrigid: bool = _DEFAULTS.nonrigid,
                   nonrigid_patch: int | None = _DEFAULTS.nonrigid_patch,
                   max_nonrigid_shift: float | None = _DEFAULTS.max_nonrigid_shift,
                   min_correlation: float = _DEFAULTS.min_alignment_correlation, diameter: float | None = None,
                   use_images: bool = _DEFAULTS.use_images,
                   min_relative_alignment_correlation: float = _DEFAULTS.min_relative_alignment_correlation,
                   min_alignment_over_chance: float = _DEFAULTS.min_alignment_over_chance) -> AlignmentResult:
    """Align all sessions to a common space without a reference session.

    Parameters
    ----------
    sessions : sequence of SessionFootprints
    max_rotation_deg : float
        Largest rotation between any two sessions searched (degrees).
    rotation_step_deg : float
        Step of the coarse rotation search (refined to a quarter degree and a parabola).
    max_shift_fraction : float
        Largest translation between two sessions, as a fraction of the frame size.
    nonrigid : bool
        Measure and apply a smooth displacement field after the rigid alignment.
    nonrigid_patch : int, optional
        Patch size of the local correlations (default: 8 cell diameters, at least 32 pixels).
    max_nonrigid_shift : float, optional
        Largest local displacement (default: one cell diameter).
    min_correlation : float
        Floor of the correlation that links two sessions (module docstring).
    diameter : float, optional
        Cell diameter in pixels (default: from the footprints, :func:`cell_diameter`).
    use_images : bool
        Align on the summary images every session has, besides the footprint projection.
    min_relative_alignment_correlation : float
        Fraction of the subject's typical correlation that links two sessions (three sessions or more).
    min_alignment_over_chance : float
        Multiple of chance (a turned or mirrored session's correlation) that links two sessions; 0: not measured.

    Returns
    -------
    AlignmentResult

    Raises
    ------
    AlignmentError
        Naming every session outside the largest group of linked sessions.
    """
    n = len(sessions)
    if diameter is None:
        diameter = cell_diameter(sessions)
    keys = _shared_image_keys(sessions, use_images)
    channels = [alignment_channels(s, diameter=diameter, image_keys=keys) for s in sessions]
    centres = [(np.asarray(s.shape, float) - 1) / 2 for s in sessions]
    coarse = np.arange(-max_rotation_deg, max_rotation_deg + 1e-9, rotation_step_deg)
    pairwise, pairs = _pairwise_rigid(sessions, channels, coarse, max_shift_fraction, diameter)
    chance, threshold, usable = 0.0, float(min_correlation), []
    if n > 1:
        if min_alignment_over_chance > 0:
            chance = _chance_correlation(sessions, channels, pairwise, coarse, max_shift_fraction, diameter)
        threshold = _link_threshold(pairwise, chance, floor=min_correlation,
                                    relative=min_relative_alignment_correlation,
                                    over_chance=min_alignment_over_chance)
        usable = _usable_pairs(sessions, pairwise, pairs, threshold, chance=chance,
                               max_rotation_deg=max_rotation_deg)
    angles, shifts = _synchronise(n, usable, centres)
    common_shape, shifts = _common_frame([s.shape for s in sessions], angles, shifts)
    transforms = [SessionTransform(s.shape, common_shape, a, t) for s, a, t in zip(sessions, angles, shifts)]
    # "before": each session at the centre of the common space, not rotated
    before = [_placed(channels[i], SessionTransform(s.shape, common_shape, 0.0, (np.asarray(common_shape) - 1) / 2))
              for i, s in enumerate(sessions)]
    # rigid refinement against the leave-one-out template
    current = [_placed(channels[i], t) for i, t in enumerate(transforms)]
    if n > 1:
        transforms = _refine_rigid(channels, transforms, current, common_shape)
        current = [_placed(channels[i], t) for i, t in enumerate(transforms)]
    corr_before = _template_correlations(before)
    corr_rigid = _template_correlations(current)
    field_rms = np.zeros(n)
    if nonrigid and n > 1:
        patch = nonrigid_patch or int(max(32, round(8 * diameter)))
        patch = min(patch, *common_shape)
        max_local = int(np.ceil(max_nonrigid_shift if max_nonrigid_shift is not None else diameter))
        transforms, field_rms = _add_nonrigid_fields(transforms, current, common_shape, patch=patch,
                                                     max_shift=max_local)
        current = [_placed(channels[i], t) for i, t in enumerate(transforms)]
    corr_nonrigid = _template_correlations(current)
    return AlignmentResult(transforms=transforms, pairwise_correlation=pairwise, correlation_before=corr_before,
                           correlation_rigid=corr_rigid, correlation_nonrigid=corr_nonrigid, field_rms=field_rms,
                           common_images=np.stack([c[0] for c in current]),
                           raw_common_images=np.stack([b[0] for b in before]), names=[s.name for s in sessions],
                           chance_correlation=float(chance), link_threshold=float(threshold))


def _shared_image_keys(sessions: Sequence[SessionFootprints], use_images: bool) -> list[str]:
    """Summary images every session has (when ``use_images``); an error for a session with neither cells nor images."""
    n = len(sessions)
    keys = sorted(set.intersection(*[set(s.images) for s in sessions])) if n and use_images else []
    blank = [s.name for s in sessions if s.n_cells == 0 and not keys]
    if n > 1 and blank:
        raise AlignmentError(f"session(s) {', '.join(blank)} have no cells and no summary images (mean, "
                             "correlation) shared by all sessions: nothing to align them on; give their images "
                             "(SessionFootprints.images) or leave them out")
    return keys


def _pairwise_rigid(sessions: Sequence[SessionFootprints], channels: list, coarse: np.ndarray,
                    max_shift_fraction: float, diameter: float) -> tuple[np.ndarray, list[tuple]]:
    """Rigid alignment of every pair: correlations ``(n, n)`` and ``(i, j, angle_deg, shift, weight)`` per pair."""
    n = len(sessions)
    pairwise = np.eye(n)
    pairs = []
    for i in range(n):
        for j in range(i + 1, n):
            max_shift = tuple(int(max_shift_fraction * d) for d in sessions[j].shape)
            angle, shift, corr = _pair_rigid(channels[j], channels[i], coarse=coarse, max_shift=max_shift,
                                             diameter=diameter)
            pairwise[i, j] = pairwise[j, i] = corr
            pairs.append((i, j, angle, shift, max(corr, 0.0) ** 2 + 1e-6))
            logger.info("aligned %s to %s: rotation %.2f deg, correlation %.3f", sessions[i].name,
                        sessions[j].name, angle, corr)
    return pairwise, pairs


#: The transforms chance is measured with: (mirror left-right first?, then rotate by degrees). None is a symmetry of
#: a generic image; the two 45 degrees off the axes are no symmetry of an axis-aligned pattern either (a straight
#: cross of vessels is symmetric under the other four, up to a translation).
CHANCE_TRANSFORMS = ((False, 45.0), (False, 90.0), (False, 180.0), (True, 0.0), (True, 45.0), (True, 90.0))


def _chance_correlation(sessions: Sequence[SessionFootprints], channels: list, pairwise: np.ndarray,
                        coarse: np.ndarray, max_shift_fraction: float, diameter: float) -> float:
    """Correlation the rigid search reaches between unrelated fields of view of these sessions' statistics.

    The subject's best-correlated pair is aligned again with one of its sessions transformed so that it is no
    longer the same field of view: by each of :data:`CHANCE_TRANSFORMS` (rotations by 45, 90 and 180 degrees,
    mirrored left-right with and without rotations by 45 and 90), each followed by the same rotation and
    translation search. A vessel pattern symmetric under some of them (a straight vessel: a mirror and the
    half-turn; an axis-aligned cross: all but the two at 45 degrees) makes those correlations as high as a true
    match; the second smallest of the six is returned, which needs two of them to be no symmetry of the images
    and, for images without symmetry, is about the same low quantile (2/7) as the smaller of two draws (1/3).
    Rotations the search itself reaches (``max_rotation_deg`` of 45 degrees or more) are left out.
    """
    n = len(sessions)
    off = np.where(np.eye(n, dtype=bool), -np.inf, pairwise)
    i, j = np.unravel_index(np.argmax(off), off.shape)
    max_shift = tuple(int(max_shift_fraction * d) for d in sessions[j].shape)
    max_rotation = float(np.max(np.abs(coarse)))
    # an unmirrored rotation within the search would find the session itself again
    transforms = [(m, a) for m, a in CHANCE_TRANSFORMS if m or min(a, 360 - a) > max_rotation + 1]
    values = []
    for mirror, angle in transforms:
        moving = [np.ascontiguousarray(c[:, ::-1]) for c in channels[i]] if mirror else channels[i]
        values.append(_pair_rigid(channels[j], moving, coarse=coarse + angle, max_shift=max_shift,
                                  diameter=diameter)[2])
    chance = float(np.sort(values)[1])
    logger.info("chance correlation (%s transformed onto %s; %s): %.3f", sessions[i].name, sessions[j].name,
                ", ".join(f"{'mirrored, ' if m else ''}{a:g} deg: {v:.3f}" for (m, a), v in zip(transforms, values)),
                chance)
    return chance


def _link_threshold(pairwise: np.ndarray, chance: float, *, floor: float, relative: float,
                    over_chance: float) -> float:
    """Correlation two sessions need to be linked: ``max(floor, relative * typical, over_chance * chance)``.

    ``typical`` is the median over sessions of each session's best correlation with another (with two sessions,
    their correlation: the rule then reduces to the floor and chance).
    """
    n = pairwise.shape[0]
    best = np.where(np.eye(n, dtype=bool), -np.inf, pairwise).max(axis=1)
    typical = float(np.median(best)) if n > 2 else -np.inf
    return float(max(floor, relative * typical, over_chance * chance))


def _usable_pairs(sessions: Sequence[SessionFootprints], pairwise: np.ndarray, pairs: list, threshold: float, *,
                  chance: float, max_rotation_deg: float) -> list[tuple]:
    """The pairs correlated at least ``threshold``; an error naming the sessions outside the largest linked group."""
    import scipy.sparse.csgraph

    n = len(sessions)
    linked = (pairwise >= threshold) & ~np.eye(n, dtype=bool)
    _, group = scipy.sparse.csgraph.connected_components(linked, directed=False)
    sizes = np.bincount(group)
    largest = np.flatnonzero(sizes == sizes.max())
    keep = group == largest[0] if largest.size == 1 else np.zeros(n, bool)
    if not keep.all():
        best = np.where(np.eye(n, dtype=bool), -np.inf, pairwise).max(axis=1)
        bad = [sessions[i].name for i in range(n) if not keep[i]]
        detail = ", ".join(f"{sessions[i].name}: {best[i]:.2f}" for i in range(n))
        which = (f"cannot align session(s) {', '.join(bad)}" if keep.any() else
                 f"cannot align session(s) {', '.join(bad)}: no group of them is larger than the others, so none "
                 "can be kept")
        raise AlignmentError(
            f"{which}: after the best rotation (within {max_rotation_deg} deg) and translation, their correlation "
            f"with the others stays below {threshold:.2f}, the subject's threshold (the largest of the floor "
            f"min_alignment_correlation, min_relative_alignment_correlation times the typical best correlation, "
            f"and min_alignment_over_chance times chance, {chance:.2f}: a turned or mirrored session aligned the same way) "
            f"(best correlation per session: {detail}). Check that they are the same animal's same field of "
            "view; raise max_rotation_deg for larger rotations, or remove them")
    return [p for p in pairs if linked[p[0], p[1]]]


def _placed(channels, transform: SessionTransform) -> tuple[np.ndarray, np.ndarray]:
    """A session's first channel in the common space ``(H, W)`` float32 and where it is defined ``(H, W)`` bool."""
    warped, valid = _warp_channels(channels, transform)
    return warped[0], valid


def _refine_rigid(channels: list, transforms: list, current: list, common_shape: tuple[int, int]) -> list:
    """Each session's rigid transform refined (+-1 deg, +-3 px) against the template of the others (``current``)."""
    images = np.stack([c[0] for c in current])
    valid = np.stack([c[1] for c in current])
    fine = np.arange(-1.0, 1.0 + 1e-9, 0.5)
    refined = []
    for i, t in enumerate(transforms):
        template, tvalid = _leave_one_out(images, valid, i)
        angle, shift, _ = estimate_rigid([_standardise(template, tvalid)], channels[i][:1],
                                         angles_deg=t.angle_deg + fine, max_shift=(3, 3),
                                         expected_shift=t.shift)
        refined.append(SessionTransform(t.session_shape, common_shape, angle, shift))
    return refined


def _add_nonrigid_fields(transforms: list, current: list, common_shape: tuple[int, int], *, patch: int,
                         max_shift: int) -> tuple[list, np.ndarray]:
    """The transforms with each session's displacement field ``(2, H, W)`` (minus the mean field) and its RMS (px)."""
    n = len(transforms)
    images = np.stack([c[0] for c in current])
    valid = np.stack([c[1] for c in current])
    fields = []
    for i in range(n):
        template, tvalid = _leave_one_out(images, valid, i)
        centres_grid, local, weights = _patch_shifts(template, tvalid, images[i], valid[i], patch=patch,
                                                     max_shift=max_shift, min_correlation=0.3)
        fields.append(_smooth_field(centres_grid, local, weights, common_shape) if weights.size
                      else np.zeros((2, *common_shape), np.float32))
    mean_field = np.mean(fields, axis=0)
    field_rms = np.zeros(n)
    out = list(transforms)
    for i, t in enumerate(transforms):
        field = fields[i] - mean_field
        field_rms[i] = float(np.sqrt((field ** 2).sum(axis=0).mean()))
        out[i] = SessionTransform(t.session_shape, common_shape, t.angle_deg, t.shift, field)
    return out, field_rms


def _template_correlations(placed: list) -> np.ndarray:
    images = np.stack([p[0] for p in placed])
    valid = np.stack([p[1] for p in placed])
    out = np.ones(len(placed))
    if len(placed) > 1:
        for i in range(len(placed)):
            template, tvalid = _leave_one_out(images, valid, i)
            out[i] = _pearson(images[i], template, valid[i] & tvalid)
    return np.nan_to_num(out, nan=0.0)
