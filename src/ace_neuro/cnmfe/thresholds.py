"""Seeding thresholds calibrated on the recording itself (``min_corr: auto``, ``min_pnr: auto``).

CNMF-E seeds neurons where the local correlation ``Cn`` and the peak-to-noise
ratio ``PNR`` of the spatially filtered movie are both high. Fixed thresholds
(CaImAn's demo: 0.8 and 10) stop too early on dim recordings and too late on
bright ones, because what noise and background alone produce depends on the
recording (its length, noise, background fluctuations, vessels).

Null distribution. Calcium transients only ever *raise* fluorescence; noise,
background fluctuations, neuropil and flickering vessel borders move the
filtered movie both ways. So the same two statistics computed on the
sign-flipped filtered movie (``PNR_null = (mean - min) / noise`` and the
correlation image of ``-z`` thresholded at 3, see
:func:`ace_neuro.cnmfe.init.correlation_pnr_images`) show, pixel by pixel,
how high ``Cn`` and ``PNR`` get without any neuron. The flipped movie still
carries the negative side lobes of the zero-mean seeding filter around bright
cells, which would inflate the null tail; pixels within ``gSiz / 2 + gSig`` of
a pixel that looks like a cell (passes a first calibration, with a positive
PNR at least twice its flipped PNR) are left out of the null sample
("background pixels"). A symmetric artefact (a flickering vessel crossing) is
kept in the null, so it sets the bar it must not pass.

Rate. Each threshold is the ``1 - false_seed_rate`` quantile of its null
statistic over the background pixels, so at most a fraction
``false_seed_rate`` of background pixels passes either test (about half that
passes both, as the two are correlated). Seeds are local maxima of
``Cn * PNR`` over windows of about ``gSig`` pixels, so fewer false seeds than
false pixels remain; evaluation rejects what is left.

References
----------
Zhou P. et al. (2018) Efficient and accurate extraction of in vivo calcium
signals from microendoscopic video data. eLife 7:e28728 (the seeding
statistics).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import scipy.ndimage as ndi

__all__ = [
    "AUTO",
    "DEFAULT_FALSE_SEED_RATE",
    "SeedThresholds",
    "is_auto",
    "null_quantile",
    "background_pixels",
    "calibrate_thresholds",
    "resolve_thresholds",
]

#: The parameter value that asks for calibration.
AUTO = "auto"
#: Default fraction of background pixels allowed to pass each threshold.
DEFAULT_FALSE_SEED_RATE = 1e-3
#: A pixel "looks like a cell" if its PNR is at least this multiple of its flipped PNR.
_CELL_DOMINANCE = 2.0
#: Fewest background pixels used; below it every eligible pixel is the null sample.
_MIN_NULL_PIXELS = 200


def is_auto(value: Any) -> bool:
    """True for the string ``"auto"`` (any case)."""
    return isinstance(value, str) and value.strip().lower() == AUTO


@dataclass(frozen=True)
class SeedThresholds:
    """Thresholds used for one seeding pass and how they were obtained.

    Attributes
    ----------
    min_corr, min_pnr : float
        Values used.
    auto_corr, auto_pnr : bool
        Whether each was calibrated (else the configured number).
    false_seed_rate : float
        Fraction of background pixels allowed to pass each calibrated threshold.
    n_null_pixels : int
        Background pixels in the null sample (0 when nothing was calibrated).
    """

    min_corr: float
    min_pnr: float
    auto_corr: bool = False
    auto_pnr: bool = False
    false_seed_rate: float | None = None
    n_null_pixels: int = 0

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (for ``params.json`` and the log)."""
        out = asdict(self)
        out["min_corr"] = round(float(self.min_corr), 4)
        out["min_pnr"] = round(float(self.min_pnr), 3)
        return out


def null_quantile(values: np.ndarray, false_rate: float) -> float:
    """The ``1 - false_rate`` quantile of ``values`` (the highest value when there are fewer than ``1 / false_rate``).

    Parameters
    ----------
    values : ndarray
        Null statistic, any shape (finite values used).
    false_rate : float
        In (0, 1).

    Returns
    -------
    float

    Examples
    --------
    >>> null_quantile(np.arange(1000.0), 0.01)
    989.01
    """
    if not 0.0 < float(false_rate) < 1.0:
        raise ValueError(f"false_rate must be in (0, 1), got {false_rate}")
    v = np.asarray(values, np.float64).ravel()
    v = v[np.isfinite(v)]
    if v.size == 0:
        raise ValueError("no finite null values to calibrate on")
    return float(np.quantile(v, 1.0 - float(false_rate)))


def background_pixels(
    cn: np.ndarray,
    pnr: np.ndarray,
    cn_null: np.ndarray,
    pnr_null: np.ndarray,
    *,
    first_corr: float,
    first_pnr: float,
    gSig,
    gSiz,
    eligible: np.ndarray | None = None,
) -> np.ndarray:
    """Pixels away from anything cell-like: the null sample.

    A pixel looks like a cell if ``cn >= first_corr``, ``pnr >= first_pnr`` and
    ``pnr >= 2 * pnr_null``; every pixel within ``gSiz / 2 + gSig`` of one (the
    reach of the seeding filter's negative side lobes) is left out.

    Parameters
    ----------
    cn, pnr, cn_null, pnr_null : ndarray, shape (h, w)
        Seeding images of the filtered movie and of its sign flip.
    first_corr, first_pnr : float
        Thresholds of a first calibration on all pixels.
    gSig, gSiz : (float, float)
        Filter width and box size (pixels, rows and columns).
    eligible : ndarray of bool, shape (h, w), optional
        Pixels that may be used at all (e.g. not in the seeding border).

    Returns
    -------
    ndarray of bool, shape (h, w)
    """
    cell = (cn >= first_corr) & (pnr >= first_pnr) & (pnr >= _CELL_DOMINANCE * pnr_null)
    reach = [int(np.ceil(float(z) / 2.0 + float(g))) for z, g in zip(gSiz, gSig)]
    yy, xx = np.mgrid[-reach[0]:reach[0] + 1, -reach[1]:reach[1] + 1]
    disk = (yy / max(reach[0], 1)) ** 2 + (xx / max(reach[1], 1)) ** 2 <= 1.0
    near = ndi.binary_dilation(cell, structure=disk) if cell.any() else cell
    out = ~near
    if eligible is not None:
        out &= eligible
    return out


def calibrate_thresholds(
    cn: np.ndarray,
    pnr: np.ndarray,
    cn_null: np.ndarray,
    pnr_null: np.ndarray,
    *,
    gSig,
    gSiz,
    false_seed_rate: float = DEFAULT_FALSE_SEED_RATE,
    eligible: np.ndarray | None = None,
) -> tuple[float, float, int]:
    """``(min_corr, min_pnr, n_null_pixels)`` from the null statistics at a false-seed rate.

    First pass: the ``1 - false_seed_rate`` quantiles of ``cn_null`` and
    ``pnr_null`` over the eligible pixels. Second pass: the same quantiles over
    the :func:`background_pixels` found with the first pass's thresholds (when
    at least 200 remain).

    Parameters
    ----------
    cn, pnr, cn_null, pnr_null : ndarray, shape (h, w), float
        Seeding images (:class:`ace_neuro.cnmfe.init.SeedImages`).
    gSig, gSiz : (float, float)
        Seeding filter geometry (pixels, at the images' resolution).
    false_seed_rate : float
        Fraction of background pixels allowed to pass each threshold, in (0, 1).
    eligible : ndarray of bool, shape (h, w), optional
        Pixels that can be seeds (the others are not used).

    Returns
    -------
    min_corr : float
        In [0, 1].
    min_pnr : float
        > 0.
    n_null_pixels : int
        Size of the null sample.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> noise = lambda: rng.normal(0.3, 0.1, (64, 64)).astype(np.float32)
    >>> c, p, n = calibrate_thresholds(noise(), 3 + noise(), noise(), 3 + noise(), gSig=(3, 3), gSiz=(13, 13),
    ...                                false_seed_rate=0.01)
    >>> bool(0.5 < c < 0.6), bool(3.5 < p < 3.6), n
    (True, True, 4096)
    """
    shapes = {np.shape(a) for a in (cn, pnr, cn_null, pnr_null)}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise ValueError(f"cn, pnr, cn_null and pnr_null must be 2-D images of one shape, got {sorted(shapes)}")
    usable = np.isfinite(cn_null) & np.isfinite(pnr_null)
    if eligible is not None:
        usable &= np.asarray(eligible, bool)
    if not usable.any():
        raise ValueError("no eligible pixel to calibrate the seeding thresholds on")
    corr0 = null_quantile(cn_null[usable], false_seed_rate)
    pnr0 = null_quantile(pnr_null[usable], false_seed_rate)
    background = background_pixels(cn, pnr, cn_null, pnr_null, first_corr=corr0, first_pnr=pnr0, gSig=gSig,
                                   gSiz=gSiz, eligible=usable)
    sample = background if background.sum() >= min(_MIN_NULL_PIXELS, usable.sum()) else usable
    min_corr = float(np.clip(null_quantile(cn_null[sample], false_seed_rate), 0.0, 1.0))
    min_pnr = max(null_quantile(pnr_null[sample], false_seed_rate), 1e-6)
    return min_corr, min_pnr, int(sample.sum())


def resolve_thresholds(
    min_corr: float | str,
    min_pnr: float | str,
    images: Any,
    *,
    gSig,
    gSiz,
    false_seed_rate: float = DEFAULT_FALSE_SEED_RATE,
    eligible: np.ndarray | None = None,
) -> SeedThresholds:
    """The thresholds to seed with: configured numbers as they are, ``"auto"`` calibrated.

    Parameters
    ----------
    min_corr, min_pnr : float or "auto"
        Configured values.
    images : SeedImages
        With ``cn_null`` and ``pnr_null`` when either value is ``"auto"``.
    gSig, gSiz, false_seed_rate, eligible
        As :func:`calibrate_thresholds`.

    Returns
    -------
    SeedThresholds
    """
    auto_corr, auto_pnr = is_auto(min_corr), is_auto(min_pnr)
    if not (auto_corr or auto_pnr):
        return SeedThresholds(float(min_corr), float(min_pnr))
    if images.cn_null is None or images.pnr_null is None:
        raise ValueError("'auto' seeding thresholds need the null images (correlation_pnr_images(null_images=True))")
    corr, pnr, n_null = calibrate_thresholds(images.cn, images.pnr, images.cn_null, images.pnr_null, gSig=gSig,
                                             gSiz=gSiz, false_seed_rate=false_seed_rate, eligible=eligible)
    return SeedThresholds(corr if auto_corr else float(min_corr), pnr if auto_pnr else float(min_pnr),
                          auto_corr, auto_pnr, float(false_seed_rate), n_null)
