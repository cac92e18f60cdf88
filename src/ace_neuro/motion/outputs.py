"""The motion step's files, written by one writer for both engines (ours and CaImAn's).

An engine returns a :class:`MotionResult` (arrays only); :func:`write_motion_outputs`
writes ``template.tif``, ``shifts.csv``, ``patch_shifts.h5``, ``metrics.json``
and the two figures from it, each under a temporary name renamed when
complete. The corrected movie itself (the ``memmap/`` folder) is written by
each engine as it streams.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import pandas as pd

from ace_neuro.io.atomic import atomic_path, write_json

__all__ = ["MotionResult", "shifts_table", "write_motion_outputs", "OUTPUT_KEYS"]

#: The outputs the writer fills (the rule's output names, besides ``memmap``).
OUTPUT_KEYS = ("template", "shifts", "patch_shifts", "metrics", "mean_png", "shifts_png")

#: How ``patch_shifts.h5``'s ``shifts`` are signed.
_CONVENTION = "shifts[t, i, j] = correcting (dy, dx) of patch (i, j) = minus its displacement"


@dataclass(frozen=True)
class MotionResult:
    """What one motion correction found, whichever engine ran it.

    Attributes
    ----------
    template : ndarray, shape (H, W), float32
        The registration template (high-passed when ``gSig_filt`` is set).
    shifts : ndarray, shape (T, 2), float64
        Per frame the rigid correcting shift (rows, cols), pixels.
    corr_before, corr_after : ndarray, shape (T,)
        Each frame's correlation with the template before and after correction.
    means : dict of str to ndarray (H, W)
        Mean images before and after correction (the figure's panels).
    peak_z : ndarray, shape (T,), optional
        Height of each frame's cross-correlation peak in noise units; NaN
        where the engine does not report it (CaImAn).
    no_structure : ndarray of bool, shape (T,), optional
        Frames without structure to register (kept in place); none when omitted.
    patch_shifts : ndarray, shape (T, ny, nx, 2), optional
        Pw-rigid: each patch's correcting shift (rows, cols); None for rigid registration.
    centres : (ndarray, ndarray), optional
        Pw-rigid: the patch centres along rows and columns, pixels.
    patch_size : (int, int), optional
        Pw-rigid: a patch's size (rows, cols), pixels.
    engine : str
        ``"native"`` or ``"caiman"`` (recorded in ``patch_shifts.h5``).
    """

    template: np.ndarray
    shifts: np.ndarray
    corr_before: np.ndarray
    corr_after: np.ndarray
    means: Mapping[str, np.ndarray] = field(default_factory=dict)
    peak_z: np.ndarray | None = None
    no_structure: np.ndarray | None = None
    patch_shifts: np.ndarray | None = None
    centres: tuple[np.ndarray, np.ndarray] | None = None
    patch_size: tuple[int, int] | None = None
    engine: str = "native"

    @property
    def n_frames(self) -> int:
        """Number of frames registered."""
        return int(self.shifts.shape[0])


def shifts_table(shifts: np.ndarray, peak_z: np.ndarray | None = None,
                 no_structure: np.ndarray | None = None) -> pd.DataFrame:
    """``shifts.csv``: one row per frame.

    Parameters
    ----------
    shifts : array_like, shape (T, 2)
        Correcting rigid shifts (rows, cols), pixels.
    peak_z : array_like, shape (T,), optional
        Cross-correlation peak height in noise units; NaN when not given.
    no_structure : array_like of bool, shape (T,), optional
        Frames without structure; none when not given.

    Returns
    -------
    pandas.DataFrame
        Columns ``frame``, ``shift_y_px``, ``shift_x_px`` (rounded to 1e-4 px),
        ``peak_z`` (rounded to 0.01) and ``no_structure`` (0 or 1).
    """
    shifts = np.asarray(shifts, dtype=np.float64)
    if shifts.ndim != 2 or shifts.shape[1] != 2:
        raise ValueError(f"shifts must have shape (T, 2) (rows, cols), got {shifts.shape}")
    n = shifts.shape[0]
    return pd.DataFrame({
        "frame": np.arange(n),
        "shift_y_px": np.round(shifts[:, 0], 4),
        "shift_x_px": np.round(shifts[:, 1], 4),
        "peak_z": np.full(n, np.nan) if peak_z is None else np.round(np.asarray(peak_z, np.float64), 2),
        "no_structure": np.zeros(n, int) if no_structure is None else np.asarray(no_structure).astype(int),
    })


def _write_patch_shifts(path: str | os.PathLike, result: MotionResult) -> None:
    import h5py  # noqa: PLC0415

    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        # rigid registration: no patches, an empty (T, 0, 0, 2) array
        data = result.patch_shifts
        if data is None:
            data = np.zeros((result.n_frames, 0, 0, 2), np.float32)
        f.create_dataset("shifts", data=np.asarray(data, np.float32), compression="gzip")
        centres = result.centres if result.centres is not None else (np.zeros(0), np.zeros(0))
        f["centres_y"], f["centres_x"] = (np.asarray(c, np.float64) for c in centres)
        f.attrs["pw_rigid"] = result.patch_shifts is not None
        f.attrs["patch_size"] = list(result.patch_size) if result.patch_size is not None else []
        f.attrs["convention"] = _CONVENTION
        f.attrs["engine"] = result.engine


def write_motion_outputs(result: MotionResult, outputs: Mapping[str, Any], metrics: Mapping[str, Any], *,
                         highpassed: bool) -> None:
    """Write the motion step's files (besides the corrected movie) from an engine's result.

    Parameters
    ----------
    result : MotionResult
    outputs : mapping
        Paths by name: ``template``, ``shifts``, ``patch_shifts``, ``metrics``,
        ``mean_png``, ``shifts_png`` (:data:`OUTPUT_KEYS`).
    metrics : mapping
        The ``metrics.json`` record (:func:`ace_neuro.motion.metrics.motion_metrics` plus the engine's keys).
    highpassed : bool
        Whether the template and mean images are high-passed (``gSig_filt`` set), for the figure's title.
    """
    import tifffile  # noqa: PLC0415

    from .figures import plot_mean_before_after, plot_shifts  # noqa: PLC0415  (matplotlib only here)

    with atomic_path(outputs["template"]) as tmp:
        tifffile.imwrite(tmp, np.asarray(result.template, dtype=np.float32), imagej=True)
    with atomic_path(outputs["shifts"]) as tmp:
        shifts_table(result.shifts, result.peak_z, result.no_structure).to_csv(tmp, index=False)
    _write_patch_shifts(outputs["patch_shifts"], result)
    write_json(outputs["metrics"], metrics)
    plot_mean_before_after(result.means, outputs["mean_png"], highpassed=highpassed)
    plot_shifts(result.shifts, result.corr_before, result.corr_after, outputs["shifts_png"], result.no_structure)
