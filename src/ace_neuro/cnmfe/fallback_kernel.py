"""The AR kernel the fit gives a trace without a decaying model of its own: the one of cnmfe's ``decay_time``.

Its own module, without OASIS: evaluate's measured SNR window (:mod:`ace_neuro.cnmfe.snr_window`) leaves these
kernels out, and importing :mod:`ace_neuro.cnmfe.temporal` for them imported OASIS, ``scipy.signal`` and
``scipy.stats`` (~1 CPU s) into the evaluate step.
"""

from __future__ import annotations

import numpy as np

__all__ = ["fallback_kernel"]


def fallback_kernel(p: int, decay_frames: float) -> np.ndarray:
    """AR(``p``) coefficients of a calcium kernel decaying in ``decay_frames`` frames (rise a tenth of it for p = 2).

    Parameters
    ----------
    p : int
        AR order, 1 or 2.
    decay_frames : float
        Decay time in frames (``decay_time * frame_rate``); at least 1 is used.

    Returns
    -------
    numpy.ndarray of float64, shape (p,)

    Examples
    --------
    >>> [round(float(v), 4) for v in fallback_kernel(1, 8.0)]
    [0.8825]
    """
    g1 = float(np.exp(-1.0 / max(decay_frames, 1.0)))
    if p == 1:
        return np.array([g1])
    rise = float(np.exp(-1.0 / max(decay_frames / 10.0, 0.5)))
    return np.array([g1 + rise, -g1 * rise])
