"""P(same neuron) for every nearby pair of cells from different sessions, from a model fitted to the data.

Candidate pairs are the cells of different sessions whose centroids in the common space are closer than
``max_distance``. Each pair has two measures: the centroid distance ``d`` (pixels) and the footprint similarity
``r`` (cosine of the two non-negative footprints in the common space, 0 when they do not overlap). As in CellReg
(Sheintuch et al. 2017, Cell Reports 21:1102), the pairs are a mixture of *same* cells (small ``d``, high ``r``)
and *different* neighbouring cells, and the mixture is fitted to the subject's own pairs (expectation-
maximisation), so no threshold is set by hand:

- same cells: ``d`` log-normal (as in CellReg: residuals of the alignment and of the centroids, with a heavier
  tail than a 2-D Gaussian's), ``r`` a Beta;
- different cells: ``d`` with density ``proportional to d**a`` on ``[0, max_distance]`` (``a = 1`` for cells
  scattered uniformly in the plane; fitted, as neighbours avoid each other), ``r`` a point mass at 0 (no overlap)
  and a Beta.

The two measures are combined as conditionally independent given the class; ``P(same | d, r)`` follows from
Bayes' rule with the fitted prior.

A subject with few cells has too few pairs to fit nine parameters (CellReg then offers a deterministic threshold
instead of its probabilistic model). :func:`fixed_pair_model` is the fallback: the same two-class model with
parameters set in advance from the cell diameter ``D`` instead of fitted (:func:`fixed_pair_model` lists them),
so that a pair is called the same cell when its centroids are close and its footprints overlap: P(same) > 0.5
above a similarity of about 0.26, 0.42 and 0.65 at centroid distances 0, ``D / 2`` and ``D``. Its false positive
and negative estimates are that model's, not measured on the subject.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import scipy.special
import scipy.stats

__all__ = ["PairModel", "fit_pair_model", "fixed_pair_model"]

_EPS = 1e-3
_N_PSEUDO = 20
_PSEUDO_WEIGHT = 10.0


@dataclasses.dataclass
class PairModel:
    """A fitted same/different mixture of (distance, similarity) of neighbouring cell pairs."""

    max_distance: float
    prior_same: float
    log_mean_same: float  #: mean of log(distance) of same cells (log pixels)
    log_sd_same: float  #: standard deviation of log(distance) of same cells
    exponent_different: float  #: different-cell distance density ~ d**exponent
    beta_same: tuple[float, float]
    beta_different: tuple[float, float]
    zero_same: float  #: probability of no overlap (r = 0) for same cells
    zero_different: float  #: and for different cells
    n_pairs: int
    converged: bool
    source: str = "fitted"  #: "fitted" to the subject's pairs, or "fixed" (:func:`fixed_pair_model`)

    def log_likelihoods(self, distance: np.ndarray, similarity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Log densities of the pairs under the same and the different class: two (n,) arrays."""
        d = np.clip(np.asarray(distance, float), 1e-2, self.max_distance)
        r = np.asarray(similarity, float)
        zero = r <= 0
        rc = np.clip(r, _EPS, 1 - _EPS)
        # log-normal truncated to [0, D]
        z = (np.log(d) - self.log_mean_same) / self.log_sd_same
        z_max = (np.log(self.max_distance) - self.log_mean_same) / self.log_sd_same
        log_same_d = (-0.5 * z * z - np.log(d * self.log_sd_same * np.sqrt(2 * np.pi))
                      - scipy.stats.norm.logcdf(z_max))
        a = self.exponent_different
        log_diff_d = np.log(a + 1) + a * np.log(d) - (a + 1) * np.log(self.max_distance)
        log_same_r = np.where(zero, np.log(self.zero_same),
                              np.log1p(-self.zero_same) + scipy.stats.beta.logpdf(rc, *self.beta_same))
        log_diff_r = np.where(zero, np.log(self.zero_different),
                              np.log1p(-self.zero_different) + scipy.stats.beta.logpdf(rc, *self.beta_different))
        return log_same_d + log_same_r, log_diff_d + log_diff_r

    def probability(self, distance: np.ndarray, similarity: np.ndarray) -> np.ndarray:
        """P(same neuron | distance, similarity): (n,) float64 in [0, 1]."""
        same, diff = self.log_likelihoods(distance, similarity)
        logit = np.log(self.prior_same) - np.log1p(-self.prior_same) + same - diff
        return scipy.special.expit(logit)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["beta_same"] = list(self.beta_same)
        out["beta_different"] = list(self.beta_different)
        return out


def _beta_moments(x: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """Weighted method-of-moments Beta parameters."""
    total = w.sum()
    if total <= 0:
        return 1.0, 1.0
    m = float((w * x).sum() / total)
    v = float((w * (x - m) ** 2).sum() / total)
    m = min(max(m, _EPS), 1 - _EPS)
    v = min(max(v, 1e-6), m * (1 - m) * 0.999)
    common = m * (1 - m) / v - 1
    return max(m * common, 0.05), max((1 - m) * common, 0.05)


def fit_pair_model(distance: np.ndarray, similarity: np.ndarray, *, max_distance: float,
                   n_iterations: int = 200, tolerance: float = 1e-6) -> PairModel:
    """Fit the same/different mixture to neighbouring pairs by expectation-maximisation.

    Parameters
    ----------
    distance : ndarray (n,)
        Centroid distances (pixels), all below ``max_distance``.
    similarity : ndarray (n,)
        Footprint cosine similarities in [0, 1].
    max_distance : float
        The distance the candidate pairs were cut at (pixels).

    Returns
    -------
    PairModel
    """
    d_real = np.clip(np.asarray(distance, float), 1e-2, max_distance)
    r_real = np.clip(np.asarray(similarity, float), 0, 1)
    n = d_real.size
    if n < 10:
        raise ValueError(f"only {n} neighbouring cell pairs across sessions: too few to fit the same/different "
                         "model (are the sessions aligned, and is max_distance large enough?)")
    # A weak prior on the different class (pseudo-pairs worth ``_PSEUDO_WEIGHT`` real ones: cells scattered
    # uniformly, little overlap) keeps the fit defined when nearly every neighbour pair is the same cell.
    quantiles = (np.arange(_N_PSEUDO) + 0.5) / _N_PSEUDO
    d_pseudo = max_distance * np.sqrt(quantiles)
    r_pseudo = np.where(np.arange(_N_PSEUDO) % 2 == 0, 0.0, scipy.stats.beta.ppf(quantiles, 1, 5))
    d = np.concatenate([d_real, d_pseudo])
    r = np.concatenate([r_real, r_pseudo])
    weight = np.concatenate([np.ones(n), np.full(_N_PSEUDO, _PSEUDO_WEIGHT / _N_PSEUDO)])
    pseudo = np.arange(d.size) >= n
    # initial responsibilities: close and overlapping pairs are probably the same cell
    resp = ((r > 0.5) & (d < max_distance / 2)).astype(float) * 0.8 + 0.1
    resp[pseudo] = 0
    zero = r <= 0
    rc = np.clip(r, _EPS, 1 - _EPS)
    log_d = np.log(np.maximum(d, 1e-2))
    model = None
    previous = -np.inf
    converged = False
    for _ in range(n_iterations):
        ws, wd = weight * resp, weight * (1 - resp)
        prior = float(np.clip(ws[~pseudo].sum() / n, 1e-4, 1 - 1e-4))
        sum_s = max(ws.sum(), 1e-9)
        log_mean = float((ws * log_d).sum() / sum_s)
        log_sd = float(np.sqrt(max((ws * (log_d - log_mean) ** 2).sum() / sum_s, 1e-4)))
        log_ratio = (wd * np.log(d / max_distance)).sum()
        exponent = float(np.clip(-1 - wd.sum() / log_ratio, 0.0, 10.0)) if log_ratio < 0 else 1.0
        zero_s = float(np.clip((ws * zero).sum() / sum_s, 1e-4, 1 - 1e-4))
        zero_d = float(np.clip((wd * zero).sum() / wd.sum(), 1e-4, 1 - 1e-4))
        beta_s = _beta_moments(rc[~zero], ws[~zero])
        beta_d = _beta_moments(rc[~zero], wd[~zero])
        model = PairModel(max_distance=float(max_distance), prior_same=prior, log_mean_same=log_mean,
                          log_sd_same=log_sd, exponent_different=exponent, beta_same=beta_s, beta_different=beta_d,
                          zero_same=zero_s, zero_different=zero_d, n_pairs=n, converged=False)
        log_s, log_diff = model.log_likelihoods(d, r)
        a, b = np.log(prior) + log_s, np.log1p(-prior) + log_diff
        total = np.logaddexp(a, b)
        resp = np.where(pseudo, 0.0, np.exp(a - total))
        likelihood = float((weight * total).sum())
        if abs(likelihood - previous) < tolerance * abs(likelihood):
            converged = True
            break
        previous = likelihood
    # keep the "same" component the one with the larger similarity
    mean_s = model.beta_same[0] / sum(model.beta_same)
    mean_d = model.beta_different[0] / sum(model.beta_different)
    if mean_s < mean_d and model.prior_same * n > 20 and (1 - model.prior_same) * n > 20:
        raise ValueError("the fitted same-cell component has lower footprint similarity than the different-cell "
                         "one: the sessions are probably misaligned")
    return dataclasses.replace(model, converged=converged)


#: The fixed model's parameters, in units of the cell diameter where they are lengths (:func:`fixed_pair_model`).
_FIXED_MEDIAN_DISTANCE_SAME = 0.2  # median centroid distance of a cell to itself in another session (diameters)
_FIXED_LOG_SD_SAME = 0.6  # spread of log(distance) of a cell to itself
_FIXED_BETA_SAME = (6.0, 1.5)  # similarity of a cell to itself: mean 0.8
_FIXED_ZERO_SAME = 0.01  # a cell's footprints almost always overlap across sessions
_FIXED_BETA_DIFFERENT = (1.0, 5.0)  # similarity of overlapping neighbours: mean 0.17 (the fit's weak prior)
_FIXED_ZERO_DIFFERENT = 0.5  # half of the neighbour pairs do not overlap (the fit's weak prior)


def fixed_pair_model(*, max_distance: float, diameter: float, n_pairs: int = 0) -> PairModel:
    """The same/different model with parameters set in advance (for subjects with too few pairs to fit).

    Same cells: log(distance) normal with median ``0.2 * diameter`` and standard deviation 0.6; similarity a
    Beta(6, 1.5) (mean 0.8), no overlap with probability 0.01. Different cells: distance density ``~ d`` on
    ``[0, max_distance]`` (cells scattered uniformly in the plane); similarity 0 (no overlap) with probability 0.5,
    else a Beta(1, 5) (mean 0.17; the weak prior :func:`fit_pair_model` adds). Prior P(same) 0.5: the data decide.

    Parameters
    ----------
    max_distance : float
        The distance the candidate pairs were cut at (pixels).
    diameter : float
        Median cell diameter (pixels).
    n_pairs : int
        Number of candidate pairs it is applied to (recorded only).

    Returns
    -------
    PairModel
        With ``source="fixed"`` and ``converged=False``.
    """
    if not (max_distance > 0 and diameter > 0):
        raise ValueError(f"max_distance ({max_distance}) and diameter ({diameter}) must be positive")
    return PairModel(max_distance=float(max_distance), prior_same=0.5,
                     log_mean_same=float(np.log(_FIXED_MEDIAN_DISTANCE_SAME * diameter)),
                     log_sd_same=_FIXED_LOG_SD_SAME, exponent_different=1.0, beta_same=_FIXED_BETA_SAME,
                     beta_different=_FIXED_BETA_DIFFERENT, zero_same=_FIXED_ZERO_SAME,
                     zero_different=_FIXED_ZERO_DIFFERENT, n_pairs=int(n_pairs), converged=False, source="fixed")
