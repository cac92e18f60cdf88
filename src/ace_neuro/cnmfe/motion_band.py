"""Components made of the band along the frame's edges that motion correction uncovered.

A correcting shift moves the frame's content; the rows and columns it brings in
from outside the frame hold no data. With ``motion.border_nan: copy`` (CaImAn's
default, ours) they are filled with copies of the edge pixels, and the motion
step hands cnmfe and evaluation a border of 0 (as CaImAn does), so nothing
downstream knows that band holds copies. In the frames where the band is
uncovered its pixels repeat the edge row (or column), which shows whatever
brain row the shift put at the edge: they correlate perfectly with each other
and change when the shift changes, which seeding takes for a cell and the SNR
rule for transients (benchmarks/sweep.md, ``motion_10px_jumps``).

The test (:func:`copied_activity_share`): for each frame, the share of a
component's footprint (by weight) on pixels that read from outside the frame
(``corrected(y, x) = frame(y - shift_y, x - shift_x)`` with ``y - shift_y``
outside ``[0, H - 1]``, or the same for columns; the rigid shifts of
``shifts.csv``), averaged over the frames weighted by the component's activity
(its denoised trace above its median). A component made of the copies is active
when the band is uncovered: most of its activity lies on copies. A cell near the
edge is active whatever the shift: its share is the band's share of its
footprint averaged over the frames, small. A component is **in the motion band**
when more than ``motion_band_activity`` (a half by default) of its activity lies
on copies.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse

from ace_neuro.cnmfe.params import EvaluateOptions

#: The declared defaults of the keywords named like a parameter (each default is written once, in EvaluateOptions).
_DEFAULTS = EvaluateOptions()

__all__ = ["REASON", "uncovered_counts", "copied_share", "copied_activity_share", "motion_band_report"]

#: Reason written in ``components.csv`` for a component rejected as made of the motion band's copies.
REASON = "motion_band"


def uncovered_counts(shifts: np.ndarray, frame_shape: tuple[int, int]) -> np.ndarray:
    """Rows and columns each frame's correcting shift brought in from outside the frame.

    Parameters
    ----------
    shifts : ndarray, shape (T, 2)
        Rigid correcting shifts (rows, columns), pixels: ``corrected(y, x) = frame(y - shift_y, x - shift_x)``
        (``shifts.csv``'s ``shift_y_px``, ``shift_x_px``); non-finite values count as 0.
    frame_shape : (int, int)
        (H, W).

    Returns
    -------
    ndarray of int64, shape (T, 4)
        Uncovered rows at the top and bottom, columns at the left and right (a positive row shift uncovers
        ``ceil(shift)`` top rows, a negative one ``ceil(-shift)`` bottom rows), at most the frame's size.

    Examples
    --------
    >>> uncovered_counts(np.array([[2.0, -0.4], [-1.5, 0.0]]), (50, 60)).tolist()
    [[2, 0, 0, 1], [0, 2, 0, 0]]
    """
    shifts = np.nan_to_num(np.asarray(shifts, np.float64).reshape(-1, 2), nan=0.0, posinf=0.0, neginf=0.0)
    h, w = frame_shape
    rows = np.ceil(np.abs(shifts[:, 0]) - 1e-9).astype(np.int64).clip(0, h)
    cols = np.ceil(np.abs(shifts[:, 1]) - 1e-9).astype(np.int64).clip(0, w)
    return np.stack([np.where(shifts[:, 0] > 0, rows, 0), np.where(shifts[:, 0] < 0, rows, 0),
                     np.where(shifts[:, 1] > 0, cols, 0), np.where(shifts[:, 1] < 0, cols, 0)], axis=1)


def copied_share(footprint: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Per frame, the share of a footprint's weight on pixels the frame's shift filled with copies.

    Parameters
    ----------
    footprint : ndarray, shape (H, W)
        Non-negative weights.
    counts : ndarray of int, shape (T, 4)
        :func:`uncovered_counts`.

    Returns
    -------
    ndarray of float64, shape (T,)
        In [0, 1] (0 for an empty footprint).
    """
    a = np.asarray(footprint, np.float64)
    h, w = a.shape
    total = a.sum()
    if total <= 0:
        return np.zeros(len(counts))
    S = np.zeros((h + 1, w + 1))
    S[1:, 1:] = a.cumsum(0).cumsum(1) / total  # S[i, j] = share of a[:i, :j]
    top, bottom, left, right = np.asarray(counts, np.int64).T
    r0, r1 = np.where(bottom > 0, h - bottom, 0), np.where(bottom > 0, h, top)  # the uncovered rows [r0, r1)
    c0, c1 = np.where(right > 0, w - right, 0), np.where(right > 0, w, left)  # the uncovered columns [c0, c1)
    rows = S[r1, w] - S[r0, w]
    cols = S[h, c1] - S[h, c0]
    corner = S[r1, c1] - S[r0, c1] - S[r1, c0] + S[r0, c0]
    return np.clip(rows + cols - corner, 0.0, 1.0)


def copied_activity_share(footprint: np.ndarray, trace: np.ndarray, counts: np.ndarray) -> tuple[float, float]:
    """The share of a component's activity on copies, and the share of its footprint-frames on copies.

    Parameters
    ----------
    footprint : ndarray, shape (H, W)
    trace : ndarray, shape (T,)
        Denoised trace ``C``; its activity is the part above its median.
    counts : ndarray of int, shape (T, 4)
        :func:`uncovered_counts`.

    Returns
    -------
    activity_share, frame_share : float
        ``sum_t act_t s_t / sum_t act_t`` and ``mean_t s_t`` with ``s_t`` :func:`copied_share` (0 without activity).
    """
    share = copied_share(footprint, counts)
    trace = np.asarray(trace, np.float64)
    activity = np.clip(trace - np.median(trace), 0.0, None) if trace.size else trace
    total = activity.sum()
    activity_share = float(activity @ share / total) if total > 0 else 0.0
    return activity_share, float(share.mean()) if share.size else 0.0


def motion_band_report(
    A: scipy.sparse.spmatrix,
    C: np.ndarray,
    dims: tuple[int, int],
    shifts: np.ndarray,
    candidates: np.ndarray,
    *,
    motion_band_activity: float = _DEFAULTS.motion_band_activity,
) -> dict:
    """The candidates made of the band motion uncovered, with the facts that decided.

    Parameters
    ----------
    A : sparse (H*W, K)
        Footprints (CaImAn's pixel order, ``row + col * H``).
    C : ndarray, shape (K, T)
        Denoised traces (``T`` = the shifts' frames).
    dims : (H, W)
    shifts : ndarray, shape (T, 2)
        Rigid correcting shifts (``shifts.csv``).
    candidates : ndarray of int
        Components to judge (those accepted so far).
    motion_band_activity : float
        Share of the activity on copies above which a component is in the band.

    Returns
    -------
    dict
        ``components``: sorted component indices in the band; ``features``: ``{k: {"activity_share",
        "frame_share"}}`` of every candidate touching the band (rounded); ``largest_band``: the widest band
        uncovered on each side (``top``, ``bottom``, ``left``, ``right``, pixels).
    """
    h, w = dims
    counts = uncovered_counts(shifts, dims)
    report = {"components": [], "features": {},
              "largest_band": dict(zip(("top", "bottom", "left", "right"),
                                       (int(v) for v in counts.max(axis=0, initial=0))))}
    if not counts.any() or np.ndim(C) != 2 or np.shape(C)[1] != counts.shape[0]:  # C read a row at a time below
        return report
    A = scipy.sparse.csc_matrix(A)
    band = np.zeros((h, w), bool)
    top, bottom, left, right = report["largest_band"].values()
    band[:top] = True
    band[h - bottom if bottom else h:] = True
    band[:, :left] = True
    band[:, w - right if right else w:] = True
    touches = np.asarray(A[np.flatnonzero(band.ravel(order="F"))].sum(axis=0)).ravel() > 0
    for k in np.asarray(candidates, np.int64):
        if not touches[k]:
            continue
        footprint = A[:, k].toarray().reshape((h, w), order="F")
        activity, frames = copied_activity_share(footprint, np.asarray(C[k]), counts)
        report["features"][int(k)] = {"activity_share": round(activity, 3), "frame_share": round(frames, 3)}
        if activity > motion_band_activity:
            report["components"].append(int(k))
    report["components"].sort()
    return report
