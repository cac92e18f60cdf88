"""CaImAn's results as our artefacts (pure numpy: tested with CaImAn-like fakes, no CaImAn needed).

* :func:`shifts_table` - CaImAn's rigid shifts (``MotionCorrect.shifts_rig``)
  as our ``shifts.csv`` table. CaImAn's shift is already our sign (the
  correcting shift: ``corrected(y, x) = frame(y - shift_y, x - shift_x)``) and
  its first component is along rows, so the values are copied; ``peak_z`` is
  ours (CaImAn does not report it) and is left empty (NaN).
* :func:`patch_shift_grid` - CaImAn's pw-rigid patch shifts (``x_shifts_els``
  along rows, ``y_shifts_els`` along columns, one column per patch in
  row-major patch order) as our ``patch_shifts.h5`` array ``(T, ny, nx, 2)``.
* :func:`estimates_from_caiman` - ``cnm.estimates`` as our
  :class:`~ace_neuro.cnmfe.estimates.Estimates` (same field names and pixel
  order; CaImAn's ``None`` and empty fields become our defaults).
* :func:`motion_quality` - per-frame correlation with the template and mean
  images before / after, streamed over the input movie and the corrected
  memory map, so ``metrics.json`` and the figures mean the same for both engines.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np
import pandas as pd
import scipy.sparse

from ..cnmfe.estimates import Estimates, downsampled_dims
from ..motion.filters import highpass_filter, highpass_kernel
from ..motion.outputs import shifts_table as motion_shifts_table

__all__ = ["shifts_table", "patch_shift_grid", "estimates_from_caiman", "motion_quality", "border_from_shifts"]


def shifts_table(shifts_rig: Any) -> pd.DataFrame:
    """Our ``shifts.csv`` table from CaImAn's rigid shifts.

    Parameters
    ----------
    shifts_rig : array_like, shape (T, 2)
        ``MotionCorrect.shifts_rig``: per frame the correcting shift (rows,
        cols) in pixels.

    Returns
    -------
    pandas.DataFrame
        Columns ``frame``, ``shift_y_px``, ``shift_x_px`` (rounded to 1e-4 px),
        ``peak_z`` (NaN: CaImAn does not report it) and ``no_structure`` (0).
    """
    shifts = np.asarray(shifts_rig, dtype=np.float64)
    if shifts.ndim != 2 or shifts.shape[1] != 2:
        raise ValueError(f"shifts_rig must have shape (T, 2) (rows, cols), got {shifts.shape}")
    if not np.all(np.isfinite(shifts)):
        raise ValueError("CaImAn's rigid shifts hold NaN or infinite values; the registration failed")
    return motion_shifts_table(shifts)  # the one shifts.csv layout (peak_z NaN, no_structure 0)


def patch_shift_grid(x_shifts_els: Any, y_shifts_els: Any, grid_shape: tuple[int, int]) -> np.ndarray:
    """CaImAn's per-patch shifts as our ``(T, ny, nx, 2)`` array of (rows, cols) correcting shifts.

    Parameters
    ----------
    x_shifts_els, y_shifts_els : array_like, shape (T, ny * nx)
        ``MotionCorrect.x_shifts_els`` (along rows) and ``y_shifts_els``
        (along columns), patches in row-major order of the patch grid.
    grid_shape : (ny, nx)
        Patches along rows and columns (``len`` of each list of
        ``caiman.motion_correction.get_patch_centers``).

    Returns
    -------
    ndarray of float32, shape (T, ny, nx, 2)
    """
    along_rows = np.asarray(x_shifts_els, dtype=np.float32)
    along_cols = np.asarray(y_shifts_els, dtype=np.float32)
    ny, nx = (int(g) for g in grid_shape)
    if along_rows.shape != along_cols.shape or along_rows.ndim != 2 or along_rows.shape[1] != ny * nx:
        raise ValueError(
            f"patch shifts must both have shape (T, {ny * nx}) for a {ny}x{nx} grid, "
            f"got {along_rows.shape} and {along_cols.shape}"
        )
    n = along_rows.shape[0]
    return np.stack([along_rows.reshape(n, ny, nx), along_cols.reshape(n, ny, nx)], axis=-1)


def _array_or_none(value: Any) -> np.ndarray | None:
    if value is None or (isinstance(value, (list, tuple)) and len(value) == 0):
        return None
    if isinstance(value, (list, tuple)) and any(np.ndim(v) > 0 for v in value):
        # CaImAn keeps some per-component values as lists of small arrays (g, lam): one row each
        return np.array([np.asarray(v, dtype=np.float64).ravel() for v in value])
    return np.asarray(value)


def estimates_from_caiman(
    est: Any,
    *,
    dims: tuple[int, int],
    frame_rate: float,
    ssub_B: int,
    params: Mapping[str, Any] | None = None,
    Cn: np.ndarray | None = None,
    pnr: np.ndarray | None = None,
) -> Estimates:
    """Our :class:`Estimates` from CaImAn's ``cnm.estimates`` (one-photon, ring model).

    Parameters
    ----------
    est : object
        CaImAn's ``Estimates`` (or anything with its attributes): ``A``
        (sparse or dense, ``(H*W, K)`` Fortran pixel order), ``C``, ``S``,
        ``YrA``, ``b0``, ``W``, ``b``, ``f``, ``g``, ``bl``, ``c1``,
        ``neurons_sn``, ``lam``, ``sn``, and after evaluation
        ``idx_components``, ``idx_components_bad``, ``SNR_comp``, ``r_values``.
    dims : (H, W)
        Frame size in pixels.
    frame_rate : float
        Frames per second (Hz).
    ssub_B : int
        Down-sampling of the ring model (``W`` lives on that grid).
    params : mapping, optional
        Parameters to record in the estimates (JSON values).
    Cn, pnr : ndarray (H, W), optional
        Correlation and peak-to-noise images.

    Returns
    -------
    Estimates
        ``K = 0`` (nothing found, CaImAn's ``A`` is ``None`` or empty) gives
        valid, empty estimates of ``T`` frames when ``T`` is known from ``C``
        or ``f``; a missing ``C`` with components is an error.
    """
    height, width = (int(d) for d in dims)
    n_pixels = height * width
    A = est.A
    C = _array_or_none(getattr(est, "C", None))
    if A is None or (hasattr(A, "shape") and A.shape[-1] == 0) or C is None or C.size == 0:
        n_frames = _frames_of(est)
        A = scipy.sparse.csc_matrix((n_pixels, 0), dtype=np.float32)
        C = np.zeros((0, n_frames), np.float32)
    A = scipy.sparse.csc_matrix(A, dtype=np.float32)
    C = np.atleast_2d(np.asarray(C, dtype=np.float32))
    n_comp, n_frames = C.shape
    if A.shape != (n_pixels, n_comp):
        raise ValueError(f"CaImAn's A has shape {A.shape}, expected ({n_pixels}, {n_comp}) for dims {dims} and C {C.shape}")

    def per_component(name: str) -> np.ndarray | None:
        value = _array_or_none(getattr(est, name, None))
        return None if value is None or n_comp == 0 else value.reshape(n_comp, -1) if name == "g" else value.reshape(-1)

    def per_trace(name: str) -> np.ndarray | None:
        value = _array_or_none(getattr(est, name, None))
        return None if value is None or n_comp == 0 else np.asarray(value, np.float32).reshape(n_comp, n_frames)

    W = getattr(est, "W", None)
    if W is not None and not scipy.sparse.issparse(W):
        W = scipy.sparse.csr_matrix(np.asarray(W))
    if W is not None:
        n_ds = int(np.prod(downsampled_dims((height, width), ssub_B)))
        if W.shape != (n_ds, n_ds):
            raise ValueError(f"CaImAn's ring-model W has shape {W.shape}, expected ({n_ds}, {n_ds}) at ssub_B={ssub_B}")
    b = _array_or_none(getattr(est, "b", None))
    f = _array_or_none(getattr(est, "f", None))
    if b is None or f is None or b.size == 0 or f.size == 0:
        b = f = None
    b0 = _array_or_none(getattr(est, "b0", None))
    sn = _array_or_none(getattr(est, "sn", None))
    good = _array_or_none(getattr(est, "idx_components", None))
    bad = _array_or_none(getattr(est, "idx_components_bad", None))
    if good is not None or bad is not None:
        good = np.zeros(0, np.int64) if good is None else good.astype(np.int64).reshape(-1)
        bad = np.setdiff1d(np.arange(n_comp), good) if bad is None else bad.astype(np.int64).reshape(-1)
    snr = per_component("SNR_comp")
    r_values = per_component("r_values")
    return Estimates(
        A=A, C=C, dims=(height, width), frame_rate=frame_rate,
        S=per_trace("S"), YrA=per_trace("YrA"),
        b0=None if b0 is None else np.asarray(b0, np.float32).reshape(-1),
        W=W, ssub_B=int(ssub_B) if W is not None else 1, b=b, f=f,
        bl=per_component("bl"), c1=per_component("c1"), g=per_component("g"),
        neurons_sn=per_component("neurons_sn"), lam=per_component("lam"),
        sn=None if sn is None or sn.size != n_pixels else sn.reshape(-1),
        idx_components=good, idx_components_bad=bad,
        SNR_comp=None if snr is None else np.nan_to_num(snr.astype(np.float64), nan=0.0),
        r_values=None if r_values is None else np.nan_to_num(r_values.astype(np.float64), nan=-1.0),
        params=dict(params or {}), Cn=Cn, pnr=pnr,
    )


def _frames_of(est: Any) -> int:
    for name in ("C", "f", "YrA"):
        value = _array_or_none(getattr(est, name, None))
        if value is not None and value.ndim == 2 and value.shape[1] > 0:
            return int(value.shape[1])
    frames = getattr(est, "T", None)
    if frames:
        return int(frames)
    raise ValueError("CaImAn found no component and its estimates do not say how many frames the movie has")


def _correlation(frames: np.ndarray, template: np.ndarray) -> np.ndarray:
    a = frames.reshape(frames.shape[0], -1).astype(np.float64)
    a -= a.mean(axis=1, keepdims=True)
    t = template.reshape(-1).astype(np.float64)
    t -= t.mean()
    denom = np.sqrt((a * a).sum(axis=1) * (t * t).sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, (a @ t) / np.where(denom > 0, denom, 1.0), 0.0)


def motion_quality(
    before: np.ndarray,
    after: np.ndarray,
    template: np.ndarray,
    *,
    gSig_filt: tuple[int, int] | None,
    crop: int,
    chunk_frames: int = 200,
) -> dict[str, Any]:
    """Correlation of every frame with the template and mean images, before and after correction.

    Streams over both movies ``chunk_frames`` at a time (memory-mapped arrays
    are read chunk by chunk).

    Parameters
    ----------
    before, after : array_like, shape (T, H, W)
        The input movie and the corrected one (e.g. memory-mapped views).
    template : ndarray, shape (H, W)
        The registration template (high-passed when ``gSig_filt`` is set).
    gSig_filt : (int, int) or None
        High-pass applied to each frame before correlating (as for registration).
    crop : int
        Pixels dropped at every edge before correlating (shifted-in borders).
    chunk_frames : int
        Frames read at a time.

    Returns
    -------
    dict
        ``corr_before``, ``corr_after`` (T,) float64; ``means`` with
        ``raw_before``, ``raw_after``, ``hp_before``, ``hp_after`` (H, W) float32.
    """
    n_frames, height, width = before.shape
    if after.shape != before.shape:
        raise ValueError(f"corrected movie has shape {after.shape}, input {before.shape}")
    kernel = highpass_kernel(tuple(gSig_filt)) if gSig_filt is not None else None
    crop = max(0, min(int(crop), (min(height, width) - 2) // 2))
    window = (slice(crop, height - crop), slice(crop, width - crop))
    tmpl = np.asarray(template, np.float32)[window]
    corr = {"before": np.zeros(n_frames), "after": np.zeros(n_frames)}
    sums = {key: np.zeros((height, width)) for key in ("raw_before", "raw_after", "hp_before", "hp_after")}
    for start in range(0, n_frames, max(1, int(chunk_frames))):
        stop = min(n_frames, start + max(1, int(chunk_frames)))
        for when, movie in (("before", before), ("after", after)):
            frames = np.asarray(movie[start:stop], dtype=np.float32)
            sums[f"raw_{when}"] += frames.sum(axis=0)
            if kernel is not None:
                frames = np.stack([highpass_filter(frame, kernel) for frame in frames])
            sums[f"hp_{when}"] += frames.sum(axis=0)
            corr[when][start:stop] = _correlation(frames[:, window[0], window[1]], tmpl)
    means = {key: (value / max(n_frames, 1)).astype(np.float32) for key, value in sums.items()}
    return {"corr_before": corr["before"], "corr_after": corr["after"], "means": means}


def border_from_shifts(shifts: np.ndarray, patch_shifts: np.ndarray | None, border_nan: Any) -> int:
    """CaImAn's border (``MotionCorrect.border_to_0``): ceil of the largest |shift|; 0 with ``border_nan='copy'``."""
    if isinstance(border_nan, str) and border_nan == "copy":
        return 0
    largest = float(np.abs(shifts).max(initial=0.0))
    if patch_shifts is not None:
        largest = max(largest, float(np.abs(patch_shifts).max(initial=0.0)))
    return int(math.ceil(largest - 1e-6))
