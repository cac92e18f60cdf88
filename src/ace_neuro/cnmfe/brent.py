"""A root of a scalar function by Brent's method, as :func:`scipy.optimize.brentq` finds it, without SciPy.

Importing ``scipy.optimize`` costs ~0.3 CPU s (SciPy 1.17: it pulls in ``scipy.sparse.linalg``, ``scipy.linalg``,
``scipy.spatial.transform`` and parses docstrings at import), more than the evaluate step spends on the one root it
needs (:func:`ace_neuro.cnmfe.snr_window.threshold_for_window`). This is SciPy's C routine
(``scipy/optimize/Zeros/brentq.c``, Charles Harris) line for line in Python floats, which are the same IEEE
doubles: the same iterates and so the same root, bit for bit (``tests/unit/test_brent.py`` compares them).
"""

from __future__ import annotations

import math
from typing import Callable

__all__ = ["brentq"]

#: SciPy's default tolerances and iteration limit (``scipy.optimize.brentq``).
XTOL = 2e-12
RTOL = 4 * 2.220446049250313e-16
MAXITER = 100


def brentq(f: Callable[[float], float], a: float, b: float, xtol: float = XTOL, rtol: float = RTOL,
           maxiter: int = MAXITER) -> float:
    """A root of ``f`` in ``[a, b]``: :func:`scipy.optimize.brentq`'s, bit for bit.

    Parameters
    ----------
    f : callable
        ``f(x) -> float``, continuous, with ``f(a)`` and ``f(b)`` of opposite signs.
    a, b : float
        The bracket.
    xtol, rtol : float
        The root is within ``xtol + rtol * |root|`` of a true root (``xtol > 0``; ``rtol`` at least SciPy's default).
    maxiter : int
        Iterations before giving up.

    Returns
    -------
    float

    Raises
    ------
    ValueError
        ``f(a)`` and ``f(b)`` have the same sign, or a tolerance is out of range.
    RuntimeError
        No convergence in ``maxiter`` iterations.

    Examples
    --------
    >>> brentq(lambda x: x * x - 2.0, 0.0, 2.0)
    1.4142135623731364
    """
    if not xtol > 0:
        raise ValueError(f"xtol too small ({xtol:g} <= 0)")
    if rtol < RTOL:
        raise ValueError(f"rtol too small ({rtol:g} < {RTOL:g})")
    xpre, xcur = float(a), float(b)
    xblk = fblk = spre = scur = 0.0
    fpre, fcur = float(f(xpre)), float(f(xcur))
    if fpre == 0:
        return xpre
    if fcur == 0:
        return xcur
    if math.copysign(1.0, fpre) == math.copysign(1.0, fcur):
        raise ValueError("f(a) and f(b) must have different signs")
    for _ in range(int(maxiter)):
        if fpre != 0 and fcur != 0 and math.copysign(1.0, fpre) != math.copysign(1.0, fcur):
            xblk, fblk = xpre, fpre
            spre = scur = xcur - xpre
        if abs(fblk) < abs(fcur):
            xpre, xcur, xblk = xcur, xblk, xcur
            fpre, fcur, fblk = fcur, fblk, fcur
        delta = (xtol + rtol * abs(xcur)) / 2
        sbis = (xblk - xcur) / 2
        if fcur == 0 or abs(sbis) < delta:
            return xcur
        if abs(spre) > delta and abs(fcur) < abs(fpre):
            if xpre == xblk:  # interpolate
                stry = -fcur * (xcur - xpre) / (fcur - fpre)
            else:  # extrapolate
                dpre = (fpre - fcur) / (xpre - xcur)
                dblk = (fblk - fcur) / (xblk - xcur)
                stry = -fcur * (fblk * dblk - fpre * dpre) / (dblk * dpre * (fblk - fpre))
            if 2 * abs(stry) < min(abs(spre), 3 * abs(sbis) - delta):  # good short step
                spre, scur = scur, stry
            else:  # bisect
                spre = scur = sbis
        else:  # bisect
            spre = scur = sbis
        xpre, fpre = xcur, fcur
        if abs(scur) > delta:
            xcur += scur
        else:
            xcur += delta if sbis > 0 else -delta
        fcur = float(f(xcur))
    raise RuntimeError(f"brentq: no convergence in {maxiter} iterations (last estimate {xcur!r})")
