"""Component evaluation: trace SNR, spatial r-value, accept / reject, manual curation.

Each component found by CNMF-E gets two quality metrics, as CaImAn's
``Estimates.evaluate_components`` computes them for the seed:

* **SNR** (``SNR_comp``) from the *exceptionality* of its raw trace
  ``C + YrA``: after removing a slow baseline (8th percentile in bins), the
  noise is estimated from the values below the trace's mode (half-sample
  mode), and the log-probability of the most unlikely run of ``N``
  consecutive samples under that Gaussian noise is turned back into a z
  value: ``SNR = -Phi^-1(exp(fitness / N))`` with ``N = ceil(fr *
  decay_time)``. As in CaImAn the z values are measured in units of three
  noise standard deviations, so CaImAn's thresholds (``min_SNR``) carry over.
  Ours (``snr_decay_time``, :mod:`~ace_neuro.cnmfe.snr_window`): the window's
  decay time is measured on the fitted kernels of the components that pass
  ``min_SNR`` and ``rval_thr`` with CaImAn's window, and ``min_SNR`` /
  ``SNR_lowest`` are re-expressed for it.
* **r-value** (``r_values``): Pearson correlation, over the footprint's
  pixels, between the footprint and the movie averaged over the frames around
  the component's largest peaks (``Npeaks`` peaks of ``C``, a window of
  ``-tB..tA`` frames around each). Unlike CaImAn, which averages the raw
  movie and drops frames where overlapping neighbours are active, the movie
  here is first cleaned of the background model (``b0`` + ring model) and of
  every *other* component, which is what a one-photon movie needs (its
  background dwarfs the neurons).

A component is accepted with CaImAn's rule (``select_components_from_metrics``
without CNN): it must pass at least one upper threshold (``SNR > min_SNR`` or
``r >= rval_thr``) and both lower ones (``SNR > SNR_lowest`` and
``r > rval_lowest``). Two additions of ours: the lowest SNR is at least what
noise alone reaches at ``snr_null_rate`` per component at the recording's own
length, frame rate and noise autocorrelation (:func:`snr_floor`, the length-aware
floor), and a component beside a brighter accepted one whose trace follows it
is rejected as its fringe (:mod:`~ace_neuro.cnmfe.fringes`, ``fringe_corr``); so are
components made of the copies in the band motion uncovered (:mod:`~ace_neuro.cnmfe.motion_band`,
``motion_band_activity``) and, optionally (``surround_thr``, off by default), components whose signal
continues beyond their footprint (out-of-focus neuropil, :mod:`~ace_neuro.cnmfe.surround`).
Optionally (``SNR_lowest_independent``, off by default), a component that fails
only the SNR floor is kept when its transients are its own, not its brighter
neighbours' (:func:`independent_dim_cells`), or (``min_peak_contrast``, off by
default) when its footprint stands out of its surroundings in the movie at its
peaks (:func:`contrast_dim_cells`).
Manual decisions from a curation file are applied last.

The metrics live in :mod:`~ace_neuro.cnmfe.snr` and :mod:`~ace_neuro.cnmfe.rvalues`,
manual curation in :mod:`~ace_neuro.cnmfe.curation`; this module holds the
parameters (:class:`EvaluateOptions`, CaImAn's names, checked by
:meth:`EvaluateOptions.from_params`), the decision rule and the workflow step
(all names re-exported).
Streaming: the r-values read the movie once in tiles sized by a memory budget;
time is linear in the recording's length and memory does not depend on it.

References
----------
Giovannucci A. et al. (2019) CaImAn an open source tool for scalable calcium
imaging data analysis. eLife 8:e38173 (component evaluation).
Bickel D.R., Fruehwirth R. (2006) On a fast, robust estimator of the mode.
Computational Statistics & Data Analysis 50:3500-3530 (half-sample mode).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from ace_neuro.cnmfe.curation import (
    CurationError,
    apply_curation,
    components_table,
    read_curation_edits,
    read_curation_file,
)
from ace_neuro.cnmfe.estimates import Estimates
from ace_neuro.cnmfe.estimates_file import load_estimates, recorded_options
from ace_neuro.cnmfe.reader import MovieSource
from ace_neuro.cnmfe.rvalues import peak_frames, spatial_r_values, spatial_r_values_and_surround
from ace_neuro.cnmfe.snr import noise_autocorrelation, snr_null_threshold, trace_snr
from ace_neuro.cnmfe.snr_window import snr_window
from ace_neuro.cnmfe.trace_rows import RawTraceRows, row_blocks
from ace_neuro.cnmfe.params import CnmfeOptions, EvaluateOptions

#: The declared defaults of the keywords named like a parameter (each default is written once, in EvaluateOptions).
_DEFAULTS = EvaluateOptions()

__all__ = [
    "EvaluateOptions",
    "CurationError",
    "trace_snr",
    "peak_frames",
    "spatial_r_values",
    "classify_components",
    "independent_dim_cells",
    "contrast_dim_cells",
    "snr_floor",
    "evaluate_components",
    "read_curation_file",
    "apply_curation",
    "components_table",
    "run_evaluate_step",
]

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------- decisions


def classify_components(
    SNR_comp: np.ndarray,
    r_values: np.ndarray,
    *,
    min_SNR: float = _DEFAULTS.min_SNR,
    rval_thr: float = _DEFAULTS.rval_thr,
    SNR_lowest: float = _DEFAULTS.SNR_lowest,
    rval_lowest: float = _DEFAULTS.rval_lowest,
) -> tuple[np.ndarray, np.ndarray]:
    """CaImAn's accept rule: one upper threshold passed and no lower threshold failed.

    Accepted iff ``(SNR > min_SNR or r >= rval_thr) and SNR > SNR_lowest and
    r > rval_lowest``.

    Returns
    -------
    idx_components, idx_components_bad : ndarray of int64
        Accepted and rejected component indices, sorted.
    """
    snr = np.asarray(SNR_comp, dtype=np.float64).reshape(-1)
    r = np.asarray(r_values, dtype=np.float64).reshape(-1)
    if snr.shape != r.shape:
        raise ValueError(f"SNR_comp has {snr.size} values but r_values has {r.size}")
    good = ((snr > min_SNR) | (r >= rval_thr)) & (snr > SNR_lowest) & (r > rval_lowest)
    return np.flatnonzero(good).astype(np.int64), np.flatnonzero(~good).astype(np.int64)


def independent_dim_cells(
    estimates: Estimates,
    snr: np.ndarray,
    r_values: np.ndarray,
    good: np.ndarray,
    excluded: np.ndarray,
    floor: dict,
    options: EvaluateOptions,
    *,
    radius: float,
    decay_time: float,
) -> dict[int, dict[str, float]]:
    """Components under the SNR floor that are independent dim cells (accepted down to ``SNR_lowest_independent``).

    The candidates failed only the SNR floor: their SNR lies above ``SNR_lowest_independent`` and above what
    noise alone passes (``floor["threshold"]``, the length-aware floor) but at or below ``floor["SNR_lowest_used"]``,
    they pass the r-value rule, and no other rule (vessel, border, fringe: ``excluded``) rejected them. Each is
    judged by :func:`~ace_neuro.cnmfe.fringes.independent_components` against the components accepted so far
    (``good``) and every brighter neighbour within ``radius`` (``gSiz``).

    Parameters
    ----------
    estimates : Estimates
        ``A``, ``C``, ``YrA``, ``dims``, ``frame_rate``.
    snr, r_values : ndarray, shape (K,)
        ``SNR_comp`` and ``r_values``.
    good, excluded : ndarray of int
        Components accepted so far, and those another rule rejected.
    floor : dict
        :func:`snr_floor`'s result.
    options : EvaluateOptions
    radius : float
        Neighbourhood, pixels (``gSiz``).
    decay_time : float
        Seconds (the SNR's window).

    Returns
    -------
    dict
        ``{k: {"own_snr", "core_covered", "independent"}}`` for every candidate judged (empty when
        ``SNR_lowest_independent`` is null).
    """
    from ace_neuro.cnmfe.fringes import independent_components

    if options.SNR_lowest_independent is None or not len(snr):
        return {}
    snr = np.asarray(snr, np.float64)
    r = np.asarray(r_values, np.float64)
    low = max(float(options.SNR_lowest_independent), float(floor.get("threshold", 0.0)))
    candidates = np.flatnonzero((snr > low) & (snr <= floor["SNR_lowest_used"])
                                & ((snr > options.min_SNR) | (r >= options.rval_thr)) & (r > options.rval_lowest))
    candidates = np.setdiff1d(candidates, np.union1d(good, excluded))
    return independent_components(estimates.A, estimates.C, RawTraceRows(estimates.C, estimates.YrA), estimates.dims,
                                  snr, good,
                                  candidates, radius=radius, frame_rate=estimates.frame_rate, decay_time=decay_time,
                                  snr_rate=options.snr_frame_rate)


def contrast_dim_cells(estimates: Estimates, movie, snr: np.ndarray, r_values: np.ndarray, good: np.ndarray,
                       excluded: np.ndarray, floor: dict, options: EvaluateOptions) -> dict[int, float]:
    """Peak contrast of the components that fail only the SNR floor (accepted above ``min_peak_contrast``).

    The candidates are :func:`independent_dim_cells`' (SNR above the length-aware noise floor
    ``floor["threshold"]`` and at or below ``floor["SNR_lowest_used"]``, the r-value rule passed, not in
    ``good`` nor ``excluded``); each one's contrast is :func:`~ace_neuro.cnmfe.contrast.peak_contrasts`'.

    Returns
    -------
    dict
        ``{k: contrast}`` for every candidate (empty when ``min_peak_contrast`` is null).
    """
    from ace_neuro.cnmfe.contrast import peak_contrasts

    if options.min_peak_contrast is None or not len(snr):
        return {}
    snr = np.asarray(snr, np.float64)
    r = np.asarray(r_values, np.float64)
    candidates = np.flatnonzero((snr > float(floor.get("threshold", 0.0))) & (snr <= floor["SNR_lowest_used"])
                                & ((snr > options.min_SNR) | (r >= options.rval_thr)) & (r > options.rval_lowest))
    candidates = np.setdiff1d(candidates, np.union1d(good, excluded))
    source = movie if isinstance(movie, MovieSource) else MovieSource.from_array(np.asarray(movie))
    values = peak_contrasts(estimates.A, estimates.C, estimates.dims, source, candidates,
                            frame_rate=estimates.frame_rate)
    return {int(k): float(v) for k, v in zip(candidates, values)}


def snr_floor(residuals: np.ndarray, options: EvaluateOptions, *, frame_rate: float, decay_time: float) -> dict:
    """The lowest SNR accepted: ``SNR_lowest``, or what noise passes at ``snr_null_rate`` when that is higher.

    Parameters
    ----------
    residuals : ndarray, shape (K, T)
        The residual traces ``YrA`` (their lag-1 autocorrelation shapes the null).
    options : EvaluateOptions
    frame_rate, decay_time : float
        Hz, seconds.

    Returns
    -------
    dict
        ``SNR_lowest_used`` and ``SNR_lowest`` (``options``', i.e. for the SNR's window); with ``snr_null_rate`` set
        also the null's fit
        (:func:`~ace_neuro.cnmfe.snr.snr_null_threshold`: ``threshold``, ``gumbel_loc``, ``gumbel_scale``,
        ``noise_autocorrelation``, ``n_null_traces``, ``false_rate``).
    """
    out = {"SNR_lowest": float(options.SNR_lowest), "SNR_lowest_used": float(options.SNR_lowest)}
    n_frames = int(np.shape(residuals)[1]) if np.ndim(residuals) == 2 else 0
    if options.snr_null_rate is None or n_frames < 2:
        return out
    null = snr_null_threshold(n_frames, frame_rate, decay_time, options.snr_null_rate,
                              autocorrelation=noise_autocorrelation(residuals), snr_rate=options.snr_frame_rate)
    out.update(null)
    out["SNR_lowest_used"] = max(float(options.SNR_lowest), float(null["threshold"]))
    logger.info("evaluate: SNR floor %.3f (SNR_lowest %g; noise alone passes %.3f at %g per component: %d frames, "
                "noise lag-1 autocorrelation %.2f)", out["SNR_lowest_used"], options.SNR_lowest, null["threshold"],
                options.snr_null_rate, n_frames, null["noise_autocorrelation"])
    return out


def evaluate_components(
    estimates: Estimates,
    movie: np.ndarray,
    options: EvaluateOptions | None = None,
    *,
    decay_time: float | None = None,
    threads: int = 1,
    motion_shifts: np.ndarray | None = None,
) -> Estimates:
    """Compute SNR and r-values and split the components into accepted and rejected.

    Parameters
    ----------
    estimates : Estimates
        CNMF-E result (``C``, ``YrA``, ``A``, background).
    movie : array-like of shape (T, H, W), or MovieSource
        The movie CNMF-E ran on (:meth:`MovieSource.from_path` of the motion
        step's file; only the tiles holding peak frames are read).
    options : EvaluateOptions, optional
        Evaluate parameters (:meth:`EvaluateOptions.from_params`); all defaults when omitted.
    decay_time : float, optional
        Transient decay time (s); default the cnmfe options recorded in
        ``estimates.params`` (:func:`~ace_neuro.cnmfe.estimates_file.recorded_options`).
    threads : int
        Threads of the r-values' pass over the movie (the results do not depend on it).
    motion_shifts : ndarray, shape (T, 2), optional
        The motion step's rigid correcting shifts (``shifts.csv``): components made of the band they
        uncovered are rejected (:mod:`~ace_neuro.cnmfe.motion_band`, ``motion_band_activity``).

    Returns
    -------
    Estimates
        A copy with ``SNR_comp``, ``r_values``, ``idx_components`` and
        ``idx_components_bad`` set and the evaluate parameters added to
        ``params``.
    """
    options = EvaluateOptions.from_params() if options is None else options
    fit = recorded_options(estimates, CnmfeOptions)  # the cnmfe options the fit recorded
    decay_time = float(fit.decay_time if decay_time is None else decay_time)
    n_comp = estimates.n_components
    if n_comp:
        frames = peak_frames(estimates.C, estimates.frame_rate, options.Npeaks)
        ring_px = max(fitted_neuron_size(estimates, fit)[0]) if options.surround_thr is not None else 0
        r_values, surround = spatial_r_values_and_surround(estimates, movie, frames, surround_px=ring_px,
                                                           chunk_mb=options.evaluate_chunk_mb, threads=threads)
    else:
        r_values = np.zeros(0)
        surround = np.zeros((0, 2))
    snr = raw_trace_snr(estimates, decay_time, options.snr_frame_rate)
    # the SNR's window (snr_decay_time: measured on the kernels of the components CaImAn's window and the r-value
    # pass with confidence) and min_SNR / SNR_lowest re-expressed for it; `options` stays as configured (recorded)
    window = snr_window(options.snr_decay_time, g=estimates.g, reference_snr=snr, r_values=r_values,
                        frame_rate=estimates.frame_rate, decay_time=decay_time, snr_rate=options.snr_frame_rate,
                        rval_thr=options.rval_thr, rval_lowest=options.rval_lowest, min_SNR=options.min_SNR,
                        SNR_lowest=options.SNR_lowest)
    _log_window(window)
    used = options.replace(min_SNR=window["min_SNR"], SNR_lowest=window["SNR_lowest"])
    snr_decay = window["decay_time"]
    if n_comp and window["window_samples"] != window["reference_window_samples"]:
        snr = raw_trace_snr(estimates, snr_decay, options.snr_frame_rate)
    floor = snr_floor(estimates.YrA, used, frame_rate=estimates.frame_rate, decay_time=snr_decay)
    floor["min_SNR_used"] = float(used.min_SNR)
    good, bad = classify_components(
        snr, r_values, min_SNR=used.min_SNR, rval_thr=options.rval_thr,
        SNR_lowest=floor["SNR_lowest_used"], rval_lowest=options.rval_lowest,
    )
    report = {"vessel_edge": [], "border": [], "features": {}, "criteria": {}}
    if options.reject_vessel_edges and n_comp:
        from ace_neuro.cnmfe.vessels import vessel_edge_report

        g_sig, g_siz = fitted_neuron_size(estimates, fit)
        report = vessel_edge_report(estimates, gSig=g_sig, gSiz=g_siz)
        flagged = np.asarray(report["vessel_edge"] + report["border"], np.int64)
        good, bad = np.setdiff1d(good, flagged), np.union1d(bad, flagged)
        logger.info("evaluate: %d components rejected on vessel borders, %d on the frame's border",
                    len(report["vessel_edge"]), len(report["border"]))
    band = {"components": [], "features": {}, "largest_band": {}}
    if motion_shifts is not None and len(motion_shifts) != estimates.C.shape[1]:
        logger.warning("evaluate: %d motion shifts for %d frames of traces: the motion band is not judged",
                       len(motion_shifts), estimates.C.shape[1])
        motion_shifts = None
    if options.motion_band_activity is not None and motion_shifts is not None and good.size:
        from ace_neuro.cnmfe.motion_band import motion_band_report

        band = motion_band_report(estimates.A, estimates.C, estimates.dims, motion_shifts, good,
                                  motion_band_activity=options.motion_band_activity)
        good, bad = np.setdiff1d(good, band["components"]), np.union1d(bad, band["components"]).astype(np.int64)
        logger.info("evaluate: %d components rejected as made of the band motion uncovered (widest %s px)",
                    len(band["components"]), band["largest_band"])
    neuropil = {}
    if options.surround_thr is not None and good.size:
        from ace_neuro.cnmfe.surround import surround_components

        neuropil = surround_components(surround, good, options.surround_thr, options.surround_outer_thr)
        flagged = np.asarray(sorted(neuropil), np.int64)
        good, bad = np.setdiff1d(good, flagged), np.union1d(bad, flagged).astype(np.int64)
        logger.info("evaluate: %d components rejected as neuropil or background (their signal continues beyond the "
                    "footprint: ring / core > surround_thr %g, outer ring / ring > surround_outer_thr %s)",
                    len(neuropil), options.surround_thr, options.surround_outer_thr)
    fringes = {}
    if options.fringe_corr is not None and good.size > 1:
        from ace_neuro.cnmfe.fringes import fringe_components

        _, g_siz = fitted_neuron_size(estimates, fit)
        fringes = fringe_components(estimates.A, estimates.C, estimates.dims, snr, good, radius=max(g_siz) / 2.0,
                                    fringe_corr=options.fringe_corr)
        flagged = np.asarray(sorted(fringes), np.int64)
        good, bad = np.setdiff1d(good, flagged), np.union1d(bad, flagged)
        logger.info("evaluate: %d components rejected as fringes of a brighter neighbour (trace r > %g within gSiz / 2)",
                    len(fringes), options.fringe_corr)
    # rejected by a rule other than the SNR floor: never kept back by the opt-in rules below
    excluded = np.asarray(report["vessel_edge"] + report["border"] + band["components"] + sorted(neuropil)
                          + sorted(fringes), np.int64)
    independent = {}
    if options.SNR_lowest_independent is not None and n_comp:
        _, g_siz = fitted_neuron_size(estimates, fit)
        independent = independent_dim_cells(estimates, snr, r_values, good, excluded, floor, used,
                                            radius=float(max(g_siz)), decay_time=snr_decay)
        kept = np.asarray([k for k, v in independent.items() if v["independent"]], np.int64)
        good, bad = np.union1d(good, kept), np.setdiff1d(bad, kept)
        logger.info("evaluate: %d of %d components under the SNR floor kept as independent dim cells (own transients, "
                    "SNR > %g)", kept.size, len(independent), options.SNR_lowest_independent)
    contrasts = {}
    if options.min_peak_contrast is not None and n_comp:
        contrasts = contrast_dim_cells(estimates, movie, snr, r_values, good, excluded, floor, used)
        kept = np.asarray([k for k, v in contrasts.items() if v > options.min_peak_contrast], np.int64)
        good, bad = np.union1d(good, kept), np.setdiff1d(bad, kept)
        logger.info("evaluate: %d of %d components under the SNR floor kept for their peak contrast (> %g)",
                    kept.size, len(contrasts), options.min_peak_contrast)
    logger.info("evaluate: %d of %d components accepted", good.size, n_comp)
    merged = dict(estimates.params)
    merged.update(options.as_params())
    merged["snr_floor"] = floor  # the SNR floor used and how it was obtained
    merged["snr_window"] = window  # the SNR's window, its decay (measured or not) and the thresholds for it
    merged["fringe_components"] = {str(k): v for k, v in fringes.items()}  # fringe -> the brighter component
    merged["independent_components"] = {str(k): v for k, v in independent.items()}  # judged under the floor
    merged["peak_contrast_components"] = {str(k): round(v, 3) for k, v in contrasts.items()}  # judged under the floor
    # what decided each rejection, for components.csv's reason and the curation page's words
    merged["vessel_edge_components"] = report["vessel_edge"]
    merged["border_components"] = report["border"]
    merged["vessel_edge_features"] = {str(k): v for k, v in report["features"].items()}
    merged["vessel_edge_criteria"] = report["criteria"]
    merged["motion_band_components"] = band["components"]
    merged["motion_band_features"] = {str(k): v for k, v in band["features"].items()}
    merged["motion_band_largest"] = band["largest_band"]
    merged["neuropil_components"] = {str(k): v for k, v in neuropil.items()}  # -> ring / core ratio
    # every component's inner and outer ring ratios (None where not measured)
    merged["surround_ratios"] = [round(float(v), 4) if np.isfinite(v) else None for v in surround[:, 0]]
    merged["surround_outer_ratios"] = [round(float(v), 4) if np.isfinite(v) else None for v in surround[:, 1]]
    merged.setdefault("decay_time", decay_time)
    return estimates.replace(
        SNR_comp=snr, r_values=r_values, idx_components=good, idx_components_bad=bad, params=merged
    )


def raw_trace_snr(estimates: Estimates, decay_time: float, snr_rate: float | None) -> np.ndarray:
    """:func:`~ace_neuro.cnmfe.snr.trace_snr` of the raw traces ``C + YrA``, a block of components at a time.

    Each trace's SNR depends on that trace alone, so the values are those of the whole ``C + YrA`` (bit for bit)
    while memory holds a few rows (:func:`~ace_neuro.cnmfe.trace_rows.row_blocks`), whatever the length.

    Parameters
    ----------
    estimates : Estimates
        ``C``, ``YrA`` ``(K, T)`` and ``frame_rate`` (Hz).
    decay_time : float
        Seconds (the SNR's window).
    snr_rate : float or None
        Hz (``snr_frame_rate``).

    Returns
    -------
    ndarray of float64, shape (K,)
    """
    n_comp, n_frames = estimates.C.shape
    if n_comp == 0:
        return np.zeros(0)
    return np.concatenate([
        trace_snr(estimates.C[start:stop] + estimates.YrA[start:stop], estimates.frame_rate, decay_time, snr_rate)
        for start, stop in row_blocks(n_comp, n_frames)])


def _log_window(window: dict) -> None:
    """One log line: the SNR's window, where its decay came from, and the thresholds for it."""
    measured = window.get("measured")
    if measured is None:
        source = "snr_decay_time" if window["setting"] is not None else "cnmfe.decay_time"
    elif measured["source"] == "measured":
        source = (f"measured: median of the fitted kernels of {measured['n_kernels']} components with SNR > min_SNR "
                  f"and r >= rval_thr under CaImAn's window, {measured['median_s']:g} s, quartiles "
                  f"{measured['quartiles_s']}, bounds {measured['bounds_s']}")
    else:
        source = (f"cnmfe.decay_time: {measured['n_kernels']} fitted kernels measured, fewer than "
                  f"{measured['min_kernels']}")
    logger.info("evaluate: SNR window %d samples at %g Hz, decay %g s (%s); CaImAn's %d samples from decay_time %g s: "
                "min_SNR %g, SNR_lowest %g for this window", window["window_samples"], window["sample_rate"],
                window["decay_time"], source, window["reference_window_samples"], window["reference_decay_time"],
                window["min_SNR"], window["SNR_lowest"])


def fitted_neuron_size(estimates: Estimates, fit: CnmfeOptions) -> tuple[list[int], list[int]]:
    """``gSig`` and ``gSiz`` the fit used: as recorded, or measured on the footprints where the record says
    ``"auto"`` (estimates from elsewhere, a CaImAn file or an older version, do not record the measured size):
    the median half-width at half maximum of the footprints, with ``gSiz = 4 gSig + 1``."""
    g_sig, g_siz = fit.gSig, fit.gSiz
    if isinstance(g_sig, str) or isinstance(g_siz, str):
        from ace_neuro.cnmfe.parameter_aid import footprint_half_widths
        from ace_neuro.cnmfe.size import gsiz_for

        if isinstance(g_sig, str):
            half = footprint_half_widths(estimates.A, estimates.dims)
            half = half[half > 0]
            g = max(1, int(round(float(np.median(half))))) if half.size else 1
            g_sig = [g, g]
        if isinstance(g_siz, str):
            g_siz = [gsiz_for(v) for v in g_sig]
    return list(g_sig), list(g_siz)


# --------------------------------------------------------------------------- workflow step


def read_rigid_shifts(shifts_csv: str | os.PathLike) -> np.ndarray:
    """``(T, 2)`` float64: the rigid correcting shifts (rows, columns) of the motion step's ``shifts.csv``."""
    import pandas as pd

    table = pd.read_csv(shifts_csv)
    return table[["shift_y_px", "shift_x_px"]].to_numpy(np.float64)


def _movie_file(movie: str | os.PathLike) -> Path:
    movie = Path(movie)
    if movie.is_file():
        return movie
    if not movie.is_dir():
        raise FileNotFoundError(f"{movie}: motion-corrected movie not found; run the motion step first")
    from ace_neuro.io.memmap import find_corrected_movie  # written by the motion step

    return Path(find_corrected_movie(movie))


def run_evaluate_step(
    estimates_in: str | os.PathLike,
    movie: str | os.PathLike,
    estimates_out: str | os.PathLike,
    components_csv: str | os.PathLike,
    caiman_out: str | os.PathLike,
    options: EvaluateOptions | None = None,
    curation_file: str | os.PathLike | None = None,
    traces_png: str | os.PathLike | None = None,
    threads: int = 1,
    shifts_csv: str | os.PathLike | None = None,
) -> Estimates:
    """The ``evaluate`` workflow step: read, evaluate, curate, write the files.

    Parameters
    ----------
    estimates_in : path
        ``cnmfe/estimates.h5``.
    movie : path
        The motion-corrected movie (frame-block file or CaImAn memory map),
        or the motion step's ``memmap/`` folder holding it (its block file
        is read when present, else its CaImAn memory map).
    estimates_out : path
        ``evaluate/estimates.h5``: the input plus ``idx_components``,
        ``idx_components_bad``, ``SNR_comp`` and ``r_values``.
    components_csv : path
        ``evaluate/components.csv`` (see :func:`components_table`).
    caiman_out : path
        ``evaluate/estimates_caiman.hdf5`` in CaImAn's ``cnm.save()`` layout.
    options : EvaluateOptions, optional
        Evaluate parameters; all defaults when omitted.
    curation_file : path, optional
        Manual decisions (:func:`read_curation_file`), applied last; its merges
        and splits (:func:`~ace_neuro.cnmfe.curation.read_curation_edits`) are
        applied first, with the changed traces re-fitted (:mod:`.refit`).
    traces_png : path, optional
        ``evaluate/traces.png``: the best accepted components' traces.
    threads : int
        Threads of the r-values' pass (the rule's ``threads``; the results do not depend on it).
    shifts_csv : path, optional
        The motion step's ``shifts.csv`` (rigid shifts: the band they uncovered, ``motion_band_activity``).

    Returns
    -------
    Estimates
        The evaluated estimates as written; unless the curation file merges or splits components, their traces
        are left in the files (read a block at a time, :mod:`~ace_neuro.cnmfe.trace_file`: memory flat in the
        recording's length), so ``C``, ``S``, ``YrA`` and ``f`` have no frames here.
    """
    from ace_neuro.cnmfe.outputs import write_evaluate_outputs
    from ace_neuro.cnmfe.trace_file import open_file_estimates, write_file_evaluate_outputs

    movie_path = _movie_file(movie)
    shifts = read_rigid_shifts(shifts_csv) if shifts_csv else None
    mmap_file = _caiman_memmap_beside(movie_path)
    with open_file_estimates(estimates_in) as estimates:  # the traces stay in the file, read a block at a time
        edits = read_curation_edits(curation_file, estimates.n_components) if curation_file else None
        if edits is None or not (edits.merges or edits.splits):  # no trace changes: memory flat in the length
            logger.info("evaluating %d components of %s on %s", estimates.n_components, estimates_in, movie_path)
            evaluated = evaluate_components(estimates, MovieSource.from_path(movie_path), options, threads=threads,
                                            motion_shifts=shifts)
            curated = np.zeros(evaluated.n_components, dtype=bool)
            if edits is not None:
                evaluated, curated = apply_curation(evaluated, edits.decisions)
                logger.info("curation %s: %d decisions applied; %d accepted", curation_file, len(edits.decisions),
                            evaluated.idx_components.size)
            return write_file_evaluate_outputs(evaluated, curated, estimates_out=estimates_out,
                                               components_csv=components_csv, caiman_out=caiman_out,
                                               mmap_file=mmap_file, traces_png=traces_png)
    # the curation page's merges and splits re-fit traces: the estimates whole
    from ace_neuro.cnmfe.refit import apply_merges_and_splits

    estimates = apply_merges_and_splits(load_estimates(estimates_in), MovieSource.from_path(movie_path),
                                        edits.merges, edits.splits)
    logger.info("evaluating %d components of %s on %s", estimates.n_components, estimates_in, movie_path)
    evaluated = evaluate_components(estimates, MovieSource.from_path(movie_path), options, threads=threads,
                                    motion_shifts=shifts)
    return write_evaluate_outputs(evaluated, estimates_out=estimates_out, components_csv=components_csv,
                                  caiman_out=caiman_out, mmap_file=mmap_file, curation_file=curation_file,
                                  decisions=edits.decisions, traces_png=traces_png)


def _caiman_memmap_beside(movie_path: Path) -> Path | None:
    """The CaImAn memory map the estimates refer to: the movie itself, or the one next to the block file when the
    motion step wrote one."""
    from ace_neuro.io.memmap import find_caiman_memmap

    if movie_path.suffix == ".mmap":
        return movie_path.resolve()
    try:
        return find_caiman_memmap(movie_path.parent).resolve()
    except (FileNotFoundError, ValueError):
        return None
