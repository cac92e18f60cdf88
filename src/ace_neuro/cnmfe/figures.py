"""Figures of CNMF-E results for people: traces of the accepted components."""

from __future__ import annotations

import os

import numpy as np

from ace_neuro.cnmfe.estimates import Estimates
from ace_neuro.io.images import save_figure

__all__ = ["traces_figure"]


def traces_figure(estimates: Estimates, path: str | os.PathLike, max_traces: int = 10) -> None:
    """Plot the denoised trace ``C`` over the raw trace ``C + YrA`` of up to ``max_traces`` accepted components.

    Components are taken in decreasing order of SNR when the evaluation has run
    (``SNR_comp``), otherwise in index order; each row is scaled to its own
    range, time in seconds from ``frame_rate``. An estimate without accepted
    components gives a figure that says so.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    accepted = np.flatnonzero(estimates.accepted)
    if estimates.SNR_comp is not None and accepted.size:
        accepted = accepted[np.argsort(-np.asarray(estimates.SNR_comp)[accepted], kind="stable")]
    shown = accepted[:max_traces]
    n_frames = estimates.C.shape[1]
    time_s = np.arange(n_frames) / float(estimates.frame_rate)
    fig, ax = plt.subplots(figsize=(10, 0.8 + 0.7 * max(len(shown), 1)), dpi=100)
    for row, k in enumerate(shown):
        raw = estimates.C[k] + estimates.YrA[k]
        low, high = float(np.min(raw)), float(np.max(raw))
        scale = high - low if high > low else 1.0
        offset = len(shown) - 1 - row
        ax.plot(time_s, (raw - low) / scale * 0.9 + offset, color="0.7", lw=0.5)
        ax.plot(time_s, (estimates.C[k] - low) / scale * 0.9 + offset, color="C3", lw=0.8)
    ax.set_yticks(np.arange(len(shown)))
    ax.set_yticklabels([str(k) for k in shown[::-1]])
    ax.set_ylabel("component")
    ax.set_xlabel("time (s)")
    if len(shown):
        ax.set_title(f"{len(shown)} of {accepted.size} accepted components: denoised (red) over raw (grey)")
    else:
        ax.set_title("no accepted components")
    fig.tight_layout()
    save_figure(fig, path)
