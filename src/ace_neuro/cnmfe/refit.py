"""Merges and splits asked for in a curation file, applied to CNMF-E estimates, with the traces re-fitted.

The curation page saves ``merge: [[3, 5], ...]`` and ``split: [7, ...]``
(:func:`ace_neuro.cnmfe.curation.read_curation_edits`); the evaluate step
applies them to the cnmfe step's estimates before judging the components:

* **split** ``k``: its footprint's pixels are cut in two by a weighted
  2-means of their positions (started from the halves of the footprint's
  principal axis, :func:`split_footprint`); one part stays component ``k``,
  the other becomes a new component appended after the last one (splits in
  increasing id order, so the new ids are the same at every run).
* **merge** ``[a, b, ...]``: the footprint of the lowest id becomes the
  members' footprints weighted by their trace's peak (``sum_j A_j max C_j``,
  unit norm), the model's explanation of the pixels at the brightest moment
  of each; the other members keep their footprint (every component keeps
  pixels, as the NWB export and the figures need) but get a zero trace, so
  the model counts their pixels once, and are rejected as ``merged`` into
  it. Ids stay where they were.

Then the traces of the changed components are fitted again by the cnmfe
step's temporal update (:func:`ace_neuro.cnmfe.temporal.update_traces`: the
block-coordinate update with OASIS deconvolution, other components held
fixed) on one streaming pass over the movie
(:meth:`ace_neuro.cnmfe.passes.MoviePasses.temporal_stats`), and every
component's ``YrA`` is recomputed with them.
"""

from __future__ import annotations

import logging
from typing import Sequence

import numpy as np
import scipy.sparse

from ace_neuro.cnmfe.estimates import Estimates
from ace_neuro.cnmfe.reader import MovieSource

__all__ = ["split_footprint", "merge_footprints", "edit_footprints", "refit_traces", "apply_merges_and_splits"]

logger = logging.getLogger(__name__)


def split_footprint(pixels: np.ndarray, weights: np.ndarray, height: int, *, n_iter: int = 20) -> np.ndarray:
    """Which of two parts each pixel of a footprint goes to: weighted 2-means of the pixel positions.

    Parameters
    ----------
    pixels : ndarray of int, shape (n,)
        Pixel indices ``row + col * height``.
    weights : ndarray of float, shape (n,)
        The footprint's values there (non-negative).
    height : int
        Frame height.

    Returns
    -------
    ndarray of bool, shape (n,)
        True for the second part. Both parts hold at least one pixel when
        ``n >= 2``.

    Examples
    --------
    >>> pixels = np.array([0, 1, 10 * 20, 10 * 20 + 1])  # two pairs of pixels, 10 columns apart
    >>> split_footprint(pixels, np.ones(4), 20).tolist()
    [False, False, True, True]
    """
    points = np.column_stack([pixels % height, pixels // height]).astype(np.float64)
    w = np.maximum(np.asarray(weights, np.float64), 0) + 1e-12
    if points.shape[0] < 2:
        return np.zeros(points.shape[0], bool)
    centre = np.average(points, axis=0, weights=w)
    cov = np.cov((points - centre).T, aweights=w) + np.eye(2) * 1e-9
    axis = np.linalg.eigh(cov)[1][:, -1]
    side = (points - centre) @ axis > 0
    if side.all() or not side.any():  # all on one line through the centre: split by rank along the axis
        side = np.argsort(np.argsort((points - centre) @ axis)) >= points.shape[0] // 2
    for _ in range(n_iter):
        centres = [np.average(points[side == s], axis=0, weights=w[side == s]) for s in (False, True)]
        new = np.linalg.norm(points - centres[1], axis=1) < np.linalg.norm(points - centres[0], axis=1)
        if new.all() or not new.any() or np.array_equal(new, side):
            break
        side = new
    return side


def merge_footprints(A: scipy.sparse.csc_matrix, C: np.ndarray, members: Sequence[int]) -> np.ndarray:
    """Dense ``(H*W,)`` unit-norm footprint of a merge: ``sum_j A_j max(C_j)`` over the members."""
    peaks = np.array([max(float(np.max(C[j])), 0.0) if C.shape[1] else 0.0 for j in members])
    if not np.any(peaks > 0):
        peaks = np.ones(len(members))
    merged = np.asarray(A[:, list(members)] @ peaks).ravel()
    norm = np.linalg.norm(merged)
    return merged / norm if norm > 0 else merged


def _unit(column: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(column)
    return column / norm if norm > 0 else column


def edit_footprints(estimates: Estimates, merges: Sequence[Sequence[int]], splits: Sequence[int]
                    ) -> tuple[scipy.sparse.csc_matrix, np.ndarray, list[int], dict[int, int], dict[int, int]]:
    """The footprints and starting traces after the splits, then the merges.

    Returns
    -------
    A : csc_matrix, shape (H*W, K + len(splits)), float32
    C : ndarray, shape (K + len(splits), T), float32
        Starting traces: a split part starts from its parent's, a merge from
        its members' peak-weighted sum, a merged-away member is zero.
    changed : list of int
        Components whose trace must be fitted again.
    merged_into : dict
        Merged-away member (zero trace) -> the id it was merged into.
    split_from : dict
        New component -> the id it was split from.
    """
    height = estimates.dims[0]
    A = scipy.sparse.csc_matrix(estimates.A, dtype=np.float32).toarray()
    C = np.asarray(estimates.C, np.float32)
    columns, traces = [A[:, k] for k in range(A.shape[1])], [C[k] for k in range(C.shape[0])]
    changed, merged_into, split_from = [], {}, {}
    for k in sorted(int(k) for k in splits):
        pixels = np.flatnonzero(columns[k])
        if pixels.size < 2:
            raise ValueError(f"component {k} has {pixels.size} pixel(s): it cannot be split in two; remove it "
                             "from 'split' in the curation file")
        second = split_footprint(pixels, columns[k][pixels], height)
        part = np.zeros_like(columns[k])
        part[pixels[second]] = columns[k][pixels[second]]
        first = columns[k].copy()
        first[pixels[second]] = 0
        columns[k] = _unit(first)
        columns.append(_unit(part))
        traces.append(traces[k].copy())
        split_from[len(columns) - 1] = k
        changed += [k, len(columns) - 1]
    A_split = scipy.sparse.csc_matrix(np.column_stack(columns)) if columns else scipy.sparse.csc_matrix(A)
    C_split = np.stack(traces) if traces else C
    for group in merges:
        members = sorted(int(j) for j in group)
        keep = members[0]
        peaks = [max(float(np.max(C_split[j])), 0.0) if C_split.shape[1] else 0.0 for j in members]
        columns[keep] = merge_footprints(A_split, C_split, members)
        traces[keep] = np.sum([C_split[j] * (p / max(max(peaks), 1e-12)) for j, p in zip(members, peaks)], axis=0)
        for j in members[1:]:  # its footprint stays (every component keeps pixels), its trace is zero
            traces[j] = np.zeros_like(traces[j])
            merged_into[j] = keep
        changed.append(keep)
    A_out = scipy.sparse.csc_matrix(np.column_stack(columns).astype(np.float32)) if columns else A_split
    C_out = np.stack(traces).astype(np.float32) if traces else C_split
    changed = sorted(set(changed) - set(merged_into))
    return A_out, C_out, changed, merged_into, split_from


def refit_traces(estimates: Estimates, source: MovieSource, changed: Sequence[int], *, threads: int = 1) -> Estimates:
    """Fit the traces of ``changed`` components again (the cnmfe temporal update, the others held fixed).

    Parameters
    ----------
    estimates : Estimates
        With the edited footprints and starting traces; its ``params`` hold
        the cnmfe parameters of the fit (``p``, ``decay_time``, ...).
    source : MovieSource
        The movie the fit ran on.
    changed : sequence of int
        Components whose traces are fitted again.

    Returns
    -------
    Estimates
        ``C``, ``S``, ``bl``, ``c1``, ``g``, ``lam``, ``neurons_sn`` of the
        changed components replaced; ``YrA`` of every component recomputed.
    """
    from ace_neuro.cnmfe.fit import movie_passes
    from ace_neuro.cnmfe.estimates_file import recorded_options
    from ace_neuro.cnmfe.params import CnmfeOptions, resolve_tsub
    from ace_neuro.cnmfe.passes import ModelState
    from ace_neuro.cnmfe.temporal import update_traces

    options = recorded_options(estimates, CnmfeOptions)  # the options the fit recorded
    options = resolve_tsub(options, estimates.frame_rate)  # its tsub (a number) or, unrecorded, the auto value
    if estimates.nb and estimates.W is not None and source.trend is None:  # the fit's movie: without its trend
        from ace_neuro.cnmfe.trend import PixelTrend

        source = source.with_trend(PixelTrend(estimates.b, estimates.f))
    passes = movie_passes(source, options, threads=threads)
    passes.label = "evaluate re-fit"
    A = scipy.sparse.csc_matrix(estimates.A, dtype=np.float32)
    C = np.asarray(estimates.C, np.float64).copy()
    YA = passes.temporal_stats(ModelState(A, estimates.C, estimates.b0, estimates.W)).astype(np.float64)
    AA = (A.T @ A).toarray().astype(np.float64)
    fit = np.asarray(sorted(set(int(k) for k in changed)), np.int64)
    fields = {name: np.array(getattr(estimates, name), copy=True) for name in ("S", "bl", "c1", "lam", "neurons_sn")}
    g = np.array(estimates.g, copy=True)
    if fit.size:
        fixed = np.setdiff1d(np.arange(A.shape[1]), fit)
        temporal, noise = options.temporal, options.noise
        result = update_traces(YA[fit] - AA[np.ix_(fit, fixed)] @ C[fixed], AA[np.ix_(fit, fit)], C[fit],
                               int(temporal.p), float(temporal.decay_time) * estimates.frame_rate,
                               temporal.bas_nonneg, temporal.s_min, noise.noise_range, noise.noise_method)
        C[fit] = result.C
        fields["S"][fit] = result.S
        for name, values in (("bl", result.bl), ("c1", result.c1), ("lam", result.lam), ("neurons_sn", result.neurons_sn)):
            fields[name][fit] = values
        if g.ndim == 2 and g.shape[1] == result.g.shape[1]:
            g[fit] = result.g
    diag = np.diag(AA)
    YrA = (YA - AA @ C) / np.where(diag > 0, diag, 1.0)[:, None]
    YrA[diag <= 0] = 0.0
    return estimates.replace(C=C.astype(np.float32), YrA=YrA.astype(np.float32), g=g, **fields)


def apply_merges_and_splits(estimates: Estimates, source: MovieSource, merges: Sequence[Sequence[int]],
                            splits: Sequence[int], *, threads: int = 1) -> Estimates:
    """Split, then merge, then re-fit the changed traces; ``params`` record ``merged_into`` and ``split_from``.

    Returns
    -------
    Estimates
        ``K + len(splits)`` components; ids below ``K`` keep their place.
    """
    if not merges and not splits:
        return estimates
    A, C, changed, merged_into, split_from = edit_footprints(estimates, merges, splits)
    n_new = A.shape[1] - estimates.n_components
    grown = {}
    for name in ("S", "YrA"):
        values = np.asarray(getattr(estimates, name), np.float32)
        grown[name] = np.vstack([values, np.zeros((n_new, values.shape[1]), np.float32)])
    for name in ("bl", "c1", "lam", "neurons_sn", "g"):
        values = getattr(estimates, name)
        if values is None:  # not recorded: zeros, the re-fit fills the changed rows
            values = np.zeros((estimates.n_components, int(estimates.params.get("p") or 0)) if name == "g"
                              else estimates.n_components, np.float32)
        values = np.asarray(values, np.float32)
        grown[name] = np.concatenate([values, np.zeros((n_new,) + values.shape[1:], np.float32)])
    params = dict(estimates.params, merged_into={str(k): v for k, v in merged_into.items()},
                  split_from={str(k): v for k, v in split_from.items()})
    edited = Estimates(A=A, C=C, dims=estimates.dims, frame_rate=estimates.frame_rate, b0=estimates.b0,
                       W=estimates.W, ssub_B=estimates.ssub_B, b=estimates.b, f=estimates.f, sn=estimates.sn,
                       Cn=estimates.Cn, pnr=estimates.pnr, params=params, **grown)
    logger.info("curation: %d merges and %d splits; re-fitting the traces of components %s",
                len(merges), len(splits), ", ".join(map(str, changed)))
    return refit_traces(edited, source, changed, threads=threads)
