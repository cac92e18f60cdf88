"""The motion step's quality record (``metrics.json``), the same for every engine.

Both engines (ours and CaImAn's, :mod:`ace_neuro.engines.caiman`) describe a
registration with the same keys, so the report, the comparison and the CNMF-E
step (which reads ``border_pix``) never ask which engine ran.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

__all__ = ["crispness", "motion_metrics", "SHIFT_CONVENTION"]

#: The sign of every shift we write (CaImAn's).
SHIFT_CONVENTION = (
    "correcting shift (CaImAn's): corrected(y, x) = frame(y - shift_y, x - shift_x) = minus the motion of the content"
)


def crispness(image: np.ndarray, border: int) -> float:
    """CaImAn's crispness of a mean image: the norm of its gradient, ``border`` pixels cropped at every edge.

    Parameters
    ----------
    image : ndarray, shape (H, W)
        A mean image of the movie.
    border : int
        Pixels dropped at every edge (where shifted-in borders would dominate).

    Returns
    -------
    float
        Higher is sharper: a well-registered movie has a crisper mean.

    Examples
    --------
    >>> crispness(np.eye(4), 0) > crispness(np.ones((4, 4)), 0)
    True
    """
    if border > 0:
        image = image[border:-border, border:-border]
    gy, gx = np.gradient(np.asarray(image, np.float64))
    return float(np.sqrt(np.sum(gy**2 + gx**2)))


def motion_metrics(
    *,
    input_path: str,
    version: str,
    shifts: np.ndarray,
    corr_before: np.ndarray,
    corr_after: np.ndarray,
    means: Mapping[str, np.ndarray],
    no_structure: np.ndarray,
    max_shifts: tuple[int, int],
    crop: int,
    registered: bool,
    pw_rigid: bool,
    template_source: str,
    border_pix: int,
    offset: float,
    frame_shape: tuple[int, int],
    elapsed_s: float,
    threads: int,
) -> dict[str, Any]:
    """The quality record of one registration, in ``metrics.json``'s key order (engine-specific keys follow).

    Parameters
    ----------
    input_path : str
        The registered movie.
    version : str
        This package's version.
    shifts : ndarray, shape (T, 2)
        Rigid correcting shifts (rows, columns) in pixels.
    corr_before, corr_after : ndarray, shape (T,)
        Correlation of each frame with the template before and after correction.
    means : mapping
        Mean images ``raw_before``, ``raw_after``, ``hp_before``, ``hp_after``, each (H, W).
    no_structure : ndarray of bool, shape (T,)
        Frames whose registration found no structure (left unshifted).
    max_shifts : (int, int)
        Largest shift allowed (pixels); frames within 0.05 px of it are counted as at the limit.
    crop : int
        Pixels cropped at every edge for the crispness.
    registered, pw_rigid : bool
        Whether the movie was registered, and piecewise-rigidly.
    template_source : str
        ``"data"`` or the template file.
    border_pix : int
        Border set to the movie's minimum in the corrected movie (pixels).
    offset : float
        Constant added to make the movie non-negative.
    frame_shape : (int, int)
        (H, W).
    elapsed_s : float
        Wall time of the registration (s).
    threads : int
        Worker processes used.

    Returns
    -------
    dict
        JSON-ready values; the per-frame correlations last.
    """
    shifts = np.asarray(shifts, np.float64).reshape(-1, 2)
    limits = np.asarray(max_shifts, np.float64)
    at_limit = np.any(np.abs(shifts) >= limits - 0.05, axis=1) & np.any(limits > 0)
    no_structure = np.asarray(no_structure, bool)
    n_frames = int(shifts.shape[0])
    return {
        "input": input_path,
        "version": version,
        "n_frames": n_frames,
        "frame_shape": [int(frame_shape[0]), int(frame_shape[1])],
        "registered": bool(registered),
        "pw_rigid": bool(pw_rigid),
        "shift_convention": SHIFT_CONVENTION,
        "template_source": template_source,
        "border_pix": int(border_pix),
        "offset_added": float(offset),
        "max_abs_shift_px": float(np.abs(shifts).max(initial=0.0)),
        "correlation_before_mean": float(np.mean(corr_before)),
        "correlation_after_mean": float(np.mean(corr_after)),
        "crispness_before": crispness(means["raw_before"], crop),
        "crispness_after": crispness(means["raw_after"], crop),
        "crispness_highpass_before": crispness(means["hp_before"], crop),
        "crispness_highpass_after": crispness(means["hp_after"], crop),
        "n_no_structure_frames": int(no_structure.sum()),
        "no_structure_frames": np.flatnonzero(no_structure).tolist(),
        "n_frames_at_max_shifts": int(at_limit.sum()),
        "elapsed_s": round(float(elapsed_s), 3),
        "frames_per_s": round(n_frames / float(elapsed_s), 2),
        "threads": int(threads),
    }
