"""Seeding thresholds calibrated on the recording itself (``min_corr: auto``, ``min_pnr: auto``).

CNMF-E seeds neurons where the local correlation ``Cn`` and the peak-to-noise
ratio ``PNR`` of the spatially filtered movie are both high. Fixed thresholds
(CaImAn's demo: 0.8 and 10) stop too early on dim recordings and too late on
bright ones, because what noise alone produces depends on the recording: its
length, its noise's temporal autocorrelation, and the spatial correlation the
sensor, the DAQ's compression, a median filter and the seeding filter itself
give it.

Null. Calcium transients only ever *raise* fluorescence; noise moves the
filtered movie both ways. So the same statistics of the sign-flipped filtered
movie (``PNR_null = (mean - min) / noise`` and the correlation image of
``-z`` thresholded at 3, :func:`ace_neuro.cnmfe.init.correlation_pnr_images`)
show what the recording's own noise reaches, with its own temporal and spatial
correlation and its own length. Two things in the flipped movie are not noise
and are left out of the null sample (:func:`background_pixels`): the negative
side lobes of the zero-mean seeding filter around active cells (rings where
``PNR_null >= 2 PNR``: on a dense field these rings, not noise, made the
flipped tail, and the threshold climbed to the bound) and every pixel within
``gSiz / 2 + gSig`` of a pixel that looks like a cell (``PNR >= 2 PNR_null``;
half that, then the cell pixels alone, when a field packed with cells leaves
fewer than 200 pixels: a note in the diagnostics).

Peak-to-noise. ``PNR_null`` is the largest of many correlated noise samples
over the recording, so its law is close to a Gumbel law whose location grows
with the recording's length. The Gumbel law is fitted to the **bulk** of the
null sample (median and quartiles: robust to whatever artefact is left in
the tail, and defined on a few hundred pixels, so short recordings and small
fields work), and ``min_pnr`` is its ``1 - rate`` quantile.

Correlation. After the seeding filter, noise is spatially smooth, so on some
recordings (large ``gSig``, median-filtered movies) ``Cn`` of noise is as high
as a cell's and a ``Cn`` quantile of the null sits at 1.0, the ceiling that
switches seeding off. So the two thresholds are chosen together: for each
candidate ``min_corr`` ``c`` in ``0.3, 0.35, ..., 0.95``, the fraction
``q(c)`` of high-``PNR_null`` background pixels (top 10 %) whose ``Cn_null``
passes ``c`` gives the peak-to-noise threshold that keeps the joint false
rate at ``false_seed_rate`` (the Gumbel quantile at ``false_seed_rate /
q(c)``), and the pair passing the most pixels of the movie is used (the most
powerful rectangular test at that false rate). Where ``Cn`` tells noise from
cells, a high ``c`` wins; where it does not, a low one. The candidates reach
down to 0.3 because on clean movies (white noise, a narrow filter) noise's
``Cn`` rarely exceeds 0.4 while dim cells' stays at 0.2-0.5: with a floor of
0.5 such cells were never seeded (benchmarks/length.md, "Seeding below
min_corr 0.5"). Not lower: the number of pixels passing is nearly flat in
``c`` there, and on a long clean recording a floor of 0.1 chose 0.1 with three
times the false seeds of 0.3 and no more cells.

Degenerate cases are reported, never silent (:attr:`SeedThresholds.warnings`,
logged as warnings by the fit and written to ``params.json``): ``min_corr`` at
the highest candidate (seeding nearly off); ``min_corr`` at the lowest
candidate where at least 90 % of the null's high-``PNR`` pixels pass it (the
correlation cannot tell noise from cells, as on median-filtered movies;
fallback: the lowest candidate, ``min_pnr`` keeps the whole false rate; where
fewer pass, the correlation still filters the noise and the lowest candidate
is a note, as on clean movies with a narrow filter), with ``min_pnr`` at the Gumbel location too (both at the lower bounds of
the search); fewer than 200 background pixels (fallback: the null is all
eligible pixels); no spread in the null (fallback: CaImAn's demo values 0.8 /
10); no pixel of the movie passing. What is worth knowing but not wrong (a
dense field's smaller null neighbourhood) is a note (:attr:`SeedThresholds.notes`).

Seeds are local maxima of ``Cn * PNR`` over windows of about ``gSig`` pixels,
so fewer false seeds than false pixels remain; evaluation rejects what is left.

References
----------
Zhou P. et al. (2018) Efficient and accurate extraction of in vivo calcium
signals from microendoscopic video data. eLife 7:e28728 (the seeding
statistics). Gumbel E.J. (1958) Statistics of Extremes (the law of maxima).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import scipy.ndimage as ndi

__all__ = [
    "AUTO",
    "DEFAULT_FALSE_SEED_RATE",
    "CORR_CANDIDATES",
    "FALLBACK_THRESHOLDS",
    "SeedThresholds",
    "is_auto",
    "null_quantile",
    "gumbel_fit",
    "gumbel_quantile",
    "background_pixels",
    "calibrate_thresholds",
    "resolve_thresholds",
]

#: The parameter value that asks for calibration.
AUTO = "auto"
#: Default fraction of background pixels allowed to pass both thresholds.
DEFAULT_FALSE_SEED_RATE = 1e-3
#: Candidate ``min_corr`` values of the joint calibration; the ends are reported as bounds.
CORR_CANDIDATES = tuple(np.round(np.arange(0.3, 0.951, 0.05), 2))
#: Used when the null has no spread to calibrate on (CaImAn's one-photon demo values), with a warning.
FALLBACK_THRESHOLDS = (0.8, 10.0)
#: A pixel "looks like a cell" if its PNR is at least this multiple of its flipped PNR (and a filter ring
#: if the other way round).
_DOMINANCE = 2.0
#: Share of the null's high-PNR pixels passing the lowest ``min_corr`` candidate from which the correlation is
#: said not to filter noise (a warning); under it, the lowest candidate is a note.
_CORR_BLIND_PASSING = 0.9
#: Fewest background pixels used; below it every eligible pixel is the null sample (with a warning).
_MIN_NULL_PIXELS = 200
#: Fewest null pixels on which the correlation's law above a PNR level is measured.
_TAIL_PIXELS = 50
#: Gumbel quantiles: median = loc + _G_MEDIAN * scale; q75 - q25 = _G_IQR * scale.
_G_MEDIAN = -np.log(np.log(2.0))
_G_IQR = -np.log(-np.log(0.75)) + np.log(-np.log(0.25))


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
        Fraction of background pixels allowed to pass both calibrated thresholds.
    n_null_pixels : int
        Background pixels in the null sample (0 when nothing was calibrated).
    gumbel_loc, gumbel_scale : float
        The Gumbel law fitted to the null's peak-to-noise ratios.
    corr_pass_fraction : float
        Fraction of the null's high-PNR pixels whose correlation passes ``min_corr``.
    movie_pixels_passing : int
        Pixels of the movie passing both thresholds.
    corr_search : (float, float) or None
        Lowest and highest ``min_corr`` candidate searched (a value at either end is a warning).
    warnings : tuple of str
        What went wrong or hit a bound (empty when the calibration is sound).
    notes : tuple of str
        What is worth knowing but not wrong (a dense field: less of the cells' neighbourhood left out of the null).
    """

    min_corr: float
    min_pnr: float
    auto_corr: bool = False
    auto_pnr: bool = False
    false_seed_rate: float | None = None
    n_null_pixels: int = 0
    gumbel_loc: float | None = None
    gumbel_scale: float | None = None
    corr_pass_fraction: float | None = None
    movie_pixels_passing: int | None = None
    corr_search: tuple | None = None
    warnings: tuple = ()
    notes: tuple = ()

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (for ``params.json`` and the log)."""
        out = asdict(self)
        out["min_corr"] = round(float(self.min_corr), 4)
        out["min_pnr"] = round(float(self.min_pnr), 3)
        for key in ("gumbel_loc", "gumbel_scale", "corr_pass_fraction"):
            if out[key] is not None:
                out[key] = round(float(out[key]), 4)
        out["corr_search"] = None if self.corr_search is None else [float(v) for v in self.corr_search]
        out["warnings"] = list(self.warnings)
        out["notes"] = list(self.notes)
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


def gumbel_fit(values: np.ndarray) -> tuple[float, float]:
    """``(loc, scale)`` of the Gumbel law (of maxima) with the median and interquartile range of ``values``.

    Robust: only the bulk of ``values`` is used, so a contaminated tail does not move the fit.

    Examples
    --------
    >>> x = np.random.default_rng(0).gumbel(3.0, 0.4, 100_000)
    >>> [round(v, 1) for v in gumbel_fit(x)]
    [3.0, 0.4]
    """
    v = np.asarray(values, np.float64).ravel()
    v = v[np.isfinite(v)]
    if v.size == 0:
        raise ValueError("no finite null values to calibrate on")
    q25, q50, q75 = np.quantile(v, [0.25, 0.5, 0.75])
    scale = float((q75 - q25) / _G_IQR)
    return float(q50 - _G_MEDIAN * scale), scale


def gumbel_quantile(loc: float, scale: float, rate: float) -> float:
    """The ``1 - rate`` quantile of a Gumbel law."""
    return float(loc - scale * np.log(-np.log1p(-float(rate))))


def background_pixels(
    pnr: np.ndarray,
    pnr_null: np.ndarray,
    *,
    gSig,
    gSiz,
    eligible: np.ndarray | None = None,
    reach_factor: float = 1.0,
) -> np.ndarray:
    """Pixels whose flipped statistics are noise: the null sample.

    Left out: the rings of the seeding filter's negative side lobes around
    active cells (``pnr_null >= 2 pnr``), and every pixel within
    ``gSiz / 2 + gSig`` of a pixel that looks like a cell (``pnr >= 2 pnr_null``).
    On noise both are rare (the maximum and the minimum of one noise trace are
    within a factor 2 of each other).

    Parameters
    ----------
    pnr, pnr_null : ndarray, shape (h, w)
        Peak-to-noise images of the filtered movie and of its sign flip.
    gSig, gSiz : (float, float)
        Filter width and box size (pixels, rows and columns).
    eligible : ndarray of bool, shape (h, w), optional
        Pixels that may be used at all (e.g. not in the seeding border).
    reach_factor : float
        Fraction of ``gSiz / 2 + gSig`` left out around cell-like pixels (0: the cell pixels only).

    Returns
    -------
    ndarray of bool, shape (h, w)
    """
    pnr = np.asarray(pnr, np.float64)
    pnr_null = np.asarray(pnr_null, np.float64)
    cell = (pnr > 0) & (pnr >= _DOMINANCE * pnr_null)
    ring = (pnr_null > 0) & (pnr_null >= _DOMINANCE * pnr)
    reach = [int(np.ceil(reach_factor * (float(z) / 2.0 + float(g)))) for z, g in zip(gSiz, gSig)]
    yy, xx = np.mgrid[-reach[0]:reach[0] + 1, -reach[1]:reach[1] + 1]
    disk = (yy / max(reach[0], 1)) ** 2 + (xx / max(reach[1], 1)) ** 2 <= 1.0
    near = ndi.binary_dilation(cell, structure=disk) if cell.any() else cell
    out = ~near & ~ring
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
    candidates=None,
    fixed_pnr: float | None = None,
) -> SeedThresholds:
    """``min_corr`` and ``min_pnr`` from the null statistics at a joint false-seed rate (module docstring).

    Parameters
    ----------
    cn, pnr, cn_null, pnr_null : ndarray, shape (h, w), float
        Seeding images (:class:`ace_neuro.cnmfe.init.SeedImages`).
    gSig, gSiz : (float, float)
        Seeding filter geometry (pixels, at the images' resolution).
    false_seed_rate : float
        Fraction of background pixels allowed to pass both thresholds, in (0, 1).
    eligible : ndarray of bool, shape (h, w), optional
        Pixels that can be seeds (the others are not used).
    candidates : sequence of float, optional
        ``min_corr`` values to choose from (default :data:`CORR_CANDIDATES`;
        one value = a configured ``min_corr``).
    fixed_pnr : float, optional
        A configured ``min_pnr``: ``min_corr`` is then the lowest candidate
        keeping the joint false rate.

    Returns
    -------
    SeedThresholds
        Both values calibrated, with the diagnostics and any warnings.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> cn_null = rng.uniform(0.3, 0.9, (64, 64)); pnr_null = rng.gumbel(3.0, 0.4, (64, 64))
    >>> thr = calibrate_thresholds(cn_null, rng.gumbel(3.0, 0.4, (64, 64)), cn_null, pnr_null, gSig=(3, 3),
    ...                            gSiz=(13, 13), false_seed_rate=0.01)
    >>> round(float(thr.min_pnr), 2), thr.warnings
    (4.13, ())
    """
    if not 0.0 < float(false_seed_rate) < 1.0:
        raise ValueError(f"false_seed_rate must be in (0, 1), got {false_seed_rate}")
    shapes = {np.shape(a) for a in (cn, pnr, cn_null, pnr_null)}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise ValueError(f"cn, pnr, cn_null and pnr_null must be 2-D images of one shape, got {sorted(shapes)}")
    usable = np.isfinite(cn_null) & np.isfinite(pnr_null) & np.isfinite(cn) & np.isfinite(pnr)
    if eligible is not None:
        usable &= np.asarray(eligible, bool)
    if not usable.any():
        raise ValueError("no eligible pixel to calibrate the seeding thresholds on")
    warnings, notes = [], []
    enough = min(_MIN_NULL_PIXELS, int(usable.sum()))
    for factor in (1.0, 0.5, 0.0):  # a field packed with cells: leave out less around each
        sample = background_pixels(pnr, pnr_null, gSig=gSig, gSiz=gSiz, eligible=usable, reach_factor=factor)
        if sample.sum() >= enough:
            break
    if sample.sum() < enough:
        warnings.append(f"only {int(sample.sum())} pixels away from cells and filter rings: the null sample is all "
                        f"{int(usable.sum())} eligible pixels (thresholds may be high)")
        sample = usable
    elif factor < 1.0:
        notes.append(f"a dense field: the null sample leaves out {factor:g} x (gSiz / 2 + gSig) around cells "
                     f"({int(sample.sum())} pixels)")
    rate = float(false_seed_rate)
    loc, scale = gumbel_fit(pnr_null[sample])
    if not (np.isfinite(loc) and np.isfinite(scale) and scale > 0):
        warnings.append("the null's peak-to-noise ratios have no spread (constant or quantised movie?): "
                        f"CaImAn's demo values {FALLBACK_THRESHOLDS} used")
        return SeedThresholds(*FALLBACK_THRESHOLDS, True, True, rate, int(sample.sum()), warnings=tuple(warnings))
    null_pnr, null_cn = pnr_null[sample], cn_null[sample]
    order = np.argsort(-null_pnr, kind="stable")
    null_pnr, null_cn = null_pnr[order], null_cn[order]  # highest PNR first
    # the correlation's law is measured where the PNR threshold is, or as close to it as _TAIL_PIXELS allow
    tail_level = null_pnr[min(_TAIL_PIXELS, null_pnr.size) - 1]
    movie_cn, movie_pnr = cn[usable], pnr[usable]
    values = CORR_CANDIDATES if candidates is None else tuple(float(c) for c in candidates)
    top = gumbel_quantile(loc, scale, rate)
    levels = np.linspace(loc, top, 80) if fixed_pnr is None else np.array([float(fixed_pnr)])
    options = []
    for c in values:
        joint = np.empty(levels.size)
        passing = np.empty(levels.size)
        for j, p in enumerate(levels):
            n_tail = int(np.searchsorted(-null_pnr, -min(p, tail_level), side="right"))  # null pixels >= the level
            passing[j] = max(float(np.mean(null_cn[:n_tail] >= c)), 1.0 / max(n_tail, 1))
            joint[j] = passing[j] * float(-np.expm1(-np.exp(-(p - loc) / scale)))  # P(Cn >= c, PNR >= p) under the null
        if fixed_pnr is None:  # the lowest level from which on the joint rate stays within the rate
            above = np.flatnonzero(joint > rate)
            j = 0 if above.size == 0 else min(int(above[-1]) + 1, levels.size - 1)
            p = float(levels[j]) if above.size == 0 or above[-1] + 1 < levels.size else top
        else:
            j, p = 0, float(fixed_pnr)
        n_movie = int(np.count_nonzero((movie_cn >= c) & (movie_pnr >= p)))
        options.append((float(c), p, float(passing[j]), n_movie, float(joint[j])))
    if fixed_pnr is None:  # the most powerful pair at the rate
        min_corr, min_pnr, passing, n_movie, _ = max(options, key=lambda o: o[3])
    else:  # the lowest correlation that keeps the rate with the configured min_pnr
        within = [o for o in options if o[4] <= rate]
        min_corr, min_pnr, passing, n_movie, _ = within[0] if within else options[-1]
    if len(values) > 1 and min_corr >= values[-1]:
        warnings.append(f"min_corr {min_corr:g} is the highest candidate ({values[0]:g}-{values[-1]:g}): few pixels of "
                        "the movie correlate more than noise does; seeding is nearly off (check gSig, or set "
                        "min_corr / min_pnr by hand with the parameter aid)")
    elif len(values) > 1 and min_corr <= values[0] and min_pnr <= loc:
        warnings.append(f"min_corr {min_corr:g} and min_pnr {min_pnr:.2f} are at the lower bounds of the search (the "
                        f"lowest candidate, and min_pnr at the Gumbel location, the typical noise maximum): noise rarely "
                        "correlates this much, so both bounds already keep the false rate and seeds are limited by the "
                        "search, not by the noise (fallback: these values; set min_corr / min_pnr by hand to go lower)")
    elif len(values) > 1 and min_corr <= values[0] and passing >= _CORR_BLIND_PASSING:
        warnings.append(f"min_corr {min_corr:g} is the lowest candidate ({values[0]:g}-{values[-1]:g}): on this "
                        f"recording {passing:.0%} of the noise's high-PNR pixels pass it (noise seen through the "
                        "seeding filter correlates as much as the cells do), so the correlation cannot tell them "
                        f"apart and seeding rests on min_pnr {min_pnr:.2f} alone (fallback: the lowest candidate, "
                        "with the false rate kept by min_pnr)")
    elif len(values) > 1 and min_corr <= values[0]:
        notes.append(f"min_corr {min_corr:g} is the lowest candidate ({values[0]:g}-{values[-1]:g}) with min_pnr "
                     f"{min_pnr:.2f}: that pair seeds the most pixels at the false rate; the correlation still "
                     f"filters the noise (only {passing:.0%} of its high-PNR pixels pass {min_corr:g})")
    if n_movie == 0:
        warnings.append(f"no pixel of the movie passes min_corr {min_corr:g} and min_pnr {min_pnr:.2f}: nothing "
                        "stands out of this recording's noise at this gSig")
    return SeedThresholds(min_corr, float(min_pnr), True, True, rate, int(sample.sum()), loc, scale, passing, n_movie,
                          (values[0], values[-1]), tuple(warnings), tuple(notes))


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

    With one value configured and the other ``"auto"``, the calibrated one
    keeps the joint false rate given the configured one (``min_pnr``:
    the Gumbel quantile for the configured ``min_corr``; ``min_corr``: the
    lowest candidate whose joint rate with the configured ``min_pnr`` is
    within ``false_seed_rate``).

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
    corr_values = None if auto_corr else (float(min_corr),)
    thr = calibrate_thresholds(images.cn, images.pnr, images.cn_null, images.pnr_null, gSig=gSig, gSiz=gSiz,
                               false_seed_rate=false_seed_rate, eligible=eligible, candidates=corr_values,
                               fixed_pnr=None if auto_pnr else float(min_pnr))
    return replace(thr, auto_corr=auto_corr, auto_pnr=auto_pnr)
