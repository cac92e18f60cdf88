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
``r > rval_lowest``). Manual decisions from a curation file are applied last.

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
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ace_neuro.cnmfe.curation import CurationError, apply_curation, components_table, read_curation_file
from ace_neuro.cnmfe.estimates import Estimates
from ace_neuro.cnmfe.estimates_file import load_estimates, save_estimates
from ace_neuro.cnmfe.reader import MovieSource
from ace_neuro.cnmfe.rvalues import peak_frames, spatial_r_values
from ace_neuro.cnmfe.snr import trace_snr
from ace_neuro.io.atomic import atomic_path
from ace_neuro.io.caiman import export_caiman_hdf5
from ace_neuro.params import defaults, stage_parameters

__all__ = [
    "EvaluateOptions",
    "CurationError",
    "trace_snr",
    "peak_frames",
    "spatial_r_values",
    "classify_components",
    "evaluate_components",
    "read_curation_file",
    "apply_curation",
    "components_table",
    "run_evaluate_step",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvaluateOptions:
    """The evaluate parameters, checked (build it with :meth:`from_params`; CaImAn's ``quality`` names).

    Attributes
    ----------
    min_SNR : float
        Trace SNR above which a component is accepted (or the r-value rule).
    rval_thr : float
        Spatial correlation (r-value) at or above which a component is accepted.
    r_values_min : float or None
        The seed's name for ``rval_thr`` (already applied to it; recorded).
    SNR_lowest : float
        Components with a trace SNR at or below this are rejected.
    rval_lowest : float
        Components with an r-value at or below this are rejected.
    use_cnn : bool
        CaImAn's CNN classifier (always false here).
    reject_vessel_edges : bool
        (ace-neuro) Reject components that follow a blood-vessel border (:mod:`.vessels`).
    Npeaks : int
        Largest peaks of each trace whose surrounding frames make the r-value's image.
    evaluate_engine : str
        (ace-neuro) The engine the step ran (recorded with the results).
    evaluate_chunk_mb : float
        (ace-neuro) Memory budget of one group of frames read for the r-values, MB.
    """

    min_SNR: float
    rval_thr: float
    r_values_min: float | None
    SNR_lowest: float
    rval_lowest: float
    use_cnn: bool
    reject_vessel_edges: bool
    Npeaks: int
    evaluate_engine: str
    evaluate_chunk_mb: float

    @classmethod
    def from_params(cls, params: Mapping[str, Any] | None = None, **caiman_names: Any) -> "EvaluateOptions":
        """Check evaluate parameters (CaImAn's names; defaults for the missing ones).

        Parameters
        ----------
        params : mapping, optional
            ``{name: value}``, e.g. the stage's :class:`~ace_neuro.params.StageParams`.
        **caiman_names
            More values by name; they win over ``params``.

        Raises
        ------
        ParameterError
            On an unknown name (naming the nearest known one), a value out of
            range, ``use_cnn`` true, or ``r_values_min`` contradicting ``rval_thr``.

        Examples
        --------
        >>> EvaluateOptions.from_params(min_SNR=2.5).min_SNR
        2.5
        """
        # a StageParams alone is used as it is (it was checked once already)
        values = stage_parameters("evaluate", {**(params or {}), **caiman_names} if caiman_names else params)
        return cls(**{f.name: values[f.name] for f in fields(cls)})

    def as_params(self) -> dict[str, Any]:
        """Every parameter under its name, as the validator gives it."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


# --------------------------------------------------------------------------- decisions


def classify_components(
    SNR_comp: np.ndarray,
    r_values: np.ndarray,
    *,
    min_SNR: float = 3.0,
    rval_thr: float = 0.85,
    SNR_lowest: float = 0.5,
    rval_lowest: float = -1.0,
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


def evaluate_components(
    estimates: Estimates,
    movie: np.ndarray,
    options: EvaluateOptions | None = None,
    *,
    decay_time: float | None = None,
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
        Transient decay time (s); default ``estimates.params['decay_time']``
        (the cnmfe parameter), else the cnmfe stage's default.

    Returns
    -------
    Estimates
        A copy with ``SNR_comp``, ``r_values``, ``idx_components`` and
        ``idx_components_bad`` set and the evaluate parameters added to
        ``params``.
    """
    options = EvaluateOptions.from_params() if options is None else options
    fit_params = _cnmfe_params(estimates)
    decay_time = float(fit_params["decay_time"] if decay_time is None else decay_time)
    n_comp = estimates.n_components
    if n_comp:
        snr = trace_snr(estimates.C + estimates.YrA, estimates.frame_rate, decay_time)
        frames = peak_frames(estimates.C, estimates.frame_rate, options.Npeaks)
        r_values = spatial_r_values(estimates, movie, frames, chunk_mb=options.evaluate_chunk_mb)
    else:
        snr = np.zeros(0)
        r_values = np.zeros(0)
    good, bad = classify_components(
        snr, r_values, min_SNR=options.min_SNR, rval_thr=options.rval_thr,
        SNR_lowest=options.SNR_lowest, rval_lowest=options.rval_lowest,
    )
    vessel_edge = np.zeros(0, np.int64)
    if options.reject_vessel_edges and n_comp:
        from ace_neuro.cnmfe.vessels import find_vessel_edge_components

        vessel_edge = np.flatnonzero(
            find_vessel_edge_components(estimates, gSig=fit_params["gSig"], gSiz=fit_params["gSiz"]))
        good, bad = np.setdiff1d(good, vessel_edge), np.union1d(bad, vessel_edge)
        logger.info("evaluate: %d components rejected on vessel borders", vessel_edge.size)
    logger.info("evaluate: %d of %d components accepted", good.size, n_comp)
    merged = dict(estimates.params)
    merged.update(options.as_params())
    merged["vessel_edge_components"] = vessel_edge.tolist()
    merged.setdefault("decay_time", decay_time)
    return estimates.replace(
        SNR_comp=snr, r_values=r_values, idx_components=good, idx_components_bad=bad, params=merged
    )


def _cnmfe_params(estimates: Estimates) -> dict[str, Any]:
    """The neuron size and decay time the fit recorded in ``estimates.params``, the cnmfe stage's defaults where absent.

    (Estimates from elsewhere, a CaImAn file or an older version, may not record them.) A size that is
    absent or ``"auto"`` (the default) is the median half-width at half maximum of the footprints, with
    ``gSiz = 4 gSig + 1``.
    """
    recorded = {name: estimates.params.get(name) for name in ("gSig", "gSiz", "decay_time")}
    fallback = defaults("cnmfe")
    out = {name: fallback[name] if value is None else value for name, value in recorded.items()}
    if isinstance(out["gSig"], str) or isinstance(out["gSiz"], str):
        from ace_neuro.cnmfe.parameter_aid import footprint_half_widths
        from ace_neuro.cnmfe.size import gsiz_for

        if isinstance(out["gSig"], str):
            half = footprint_half_widths(estimates.A, estimates.dims)
            half = half[half > 0]
            g = max(1, int(round(float(np.median(half))))) if half.size else 1
            out["gSig"] = [g, g]
        if isinstance(out["gSiz"], str):
            out["gSiz"] = [gsiz_for(v) for v in out["gSig"]]
    return out


# --------------------------------------------------------------------------- workflow step


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
        Manual decisions (:func:`read_curation_file`), applied last.
    traces_png : path, optional
        ``evaluate/traces.png``: the best accepted components' traces.
    """
    from ace_neuro.cnmfe.figures import traces_figure
    from ace_neuro.io.memmap import find_caiman_memmap

    estimates = load_estimates(estimates_in)
    movie_path = _movie_file(movie)
    logger.info("evaluating %d components of %s on %s", estimates.n_components, estimates_in, movie_path)
    evaluated = evaluate_components(estimates, MovieSource.from_path(movie_path), options)
    curated = np.zeros(evaluated.n_components, dtype=bool)
    if curation_file:
        decisions = read_curation_file(curation_file, evaluated.n_components)
        evaluated, curated = apply_curation(evaluated, decisions)
        logger.info(
            "curation %s: %d decisions applied; %d accepted",
            curation_file, len(decisions), evaluated.idx_components.size,
        )
    save_estimates(evaluated, estimates_out)
    table = components_table(evaluated, curated)
    with atomic_path(components_csv) as tmp:
        table.to_csv(tmp, index=False)
    if movie_path.suffix == ".mmap":
        mmap_file = movie_path.resolve()
    else:  # the CaImAn memory map next to the block file, when the motion step wrote one
        try:
            mmap_file = find_caiman_memmap(movie_path.parent).resolve()
        except (FileNotFoundError, ValueError):
            mmap_file = None
    export_caiman_hdf5(evaluated, caiman_out, mmap_file=mmap_file)
    if traces_png is not None:
        traces_figure(evaluated, traces_png)
    return evaluated
