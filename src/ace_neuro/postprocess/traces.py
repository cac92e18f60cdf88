"""The accepted neurons' traces of an estimates file, checked against the recording's frame table."""

from __future__ import annotations

import os
from typing import NamedTuple

import numpy as np

__all__ = ["AcceptedTraces", "read_accepted_traces"]


class AcceptedTraces(NamedTuple):
    """Traces of the accepted components of an estimates file.

    Attributes
    ----------
    index : ndarray of int, shape (K,)
        Index of each accepted component in the estimates (``idx_components``).
    n_components : int
        Components in the estimates, accepted or not.
    C : ndarray of float64, shape (K, T)
        Denoised traces.
    YrA : ndarray of float64, shape (K, T)
        Residuals (``C + YrA`` is the raw trace); zeros when the file has none.
    S : ndarray of float64, shape (K, T), or None
        Deconvolved activity, if the file has it.
    sn : ndarray of float64, shape (K,), or None
        Noise standard deviation of each trace (``neurons_sn``), if the file has it.
    """

    index: np.ndarray
    n_components: int
    C: np.ndarray
    YrA: np.ndarray
    S: np.ndarray | None
    sn: np.ndarray | None


def read_accepted_traces(
    estimates_path: str | os.PathLike, *, n_frames: int, frames_path: str | os.PathLike
) -> AcceptedTraces:
    """Read the accepted components' traces and check they cover the recording's frames.

    Parameters
    ----------
    estimates_path : path-like
        Estimates HDF5 (:func:`ace_neuro.cnmfe.estimates.load_estimates`).
    n_frames : int
        Frames of the recording (rows of ``frames.csv``).
    frames_path : path-like
        ``frames.csv``, named in the error message.

    Raises
    ------
    ValueError
        If the traces and the frame table disagree on the number of frames.
    """
    from ace_neuro.cnmfe.estimates_file import load_estimates

    est = load_estimates(estimates_path)
    accepted = np.flatnonzero(est.accepted)
    C = np.asarray(est.C, dtype=np.float64)[accepted]
    YrA = np.zeros_like(C) if est.YrA is None else np.asarray(est.YrA, dtype=np.float64)[accepted]
    S = None if est.S is None else np.asarray(est.S, dtype=np.float64)[accepted]
    sn = None if est.neurons_sn is None else np.asarray(est.neurons_sn, dtype=np.float64)[accepted]
    n_traces = est.C.shape[1]
    if n_traces != n_frames:
        raise ValueError(
            f"{estimates_path} has traces of {n_traces} frames but {frames_path} lists {n_frames} frames; "
            "both must come from the same recording (re-run the pipeline for this recording)"
        )
    return AcceptedTraces(accepted, int(est.C.shape[0]), C, YrA, S, sn)
