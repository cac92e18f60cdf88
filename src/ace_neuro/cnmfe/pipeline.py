"""The CNMF-E step: fit a recording's motion-corrected memory map and write every output.

:func:`fit_cnmfe` runs the algorithm (whole field streamed by frames, or
overlapping patches when ``rf`` is set) and returns an
:class:`~ace_neuro.cnmfe.estimates.Estimates`. :func:`run_cnmfe_step` is what
the workflow's ``cnmfe`` rule calls: it reads the frame rate and the motion
border, fits, and writes ``estimates.h5``, ``params.json``, the correlation and
peak-to-noise images (TIFF and PNG) and a contour plot of the neurons. Both
take the parameters as a :class:`~ace_neuro.cnmfe.params.CnmfeOptions`, built
from CaImAn's names and checked by :meth:`~ace_neuro.cnmfe.params.CnmfeOptions.from_params`.

Examples
--------
In a notebook (``path``: the motion step's frame-block file or a CaImAn memory map)::

    from ace_neuro.cnmfe.params import CnmfeOptions
    from ace_neuro.cnmfe.pipeline import fit_cnmfe

    estimates = fit_cnmfe(path, CnmfeOptions.from_params(gSig=4, gSiz=17, min_pnr=7), frame_rate=20.0)
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..allocator import keep_freed_memory
from ..io.disk import scratch_directory
from ..io.frames import read_json_key
from ..io.memmap import find_corrected_movie
from .estimates import Estimates
from .fit import RegionFit, fit_region
from .outputs import write_cnmfe_outputs
from .params import SEEDING_FRAME_S, CnmfeOptions, resolve_tsub
from .patches import fit_patches
from .reader import MovieSource
from .size import resolve_neuron_size

__all__ = ["fit_cnmfe", "run_cnmfe_step", "keep_freed_memory", "prepare_fit", "estimates_from_fit", "read_step_inputs", "FitSetup"]

logger = logging.getLogger(__name__)

def fit_cnmfe(
    memmap_path: str | os.PathLike,
    options: CnmfeOptions | None = None,
    *,
    threads: int = 1,
    frame_rate: float | None = None,
    border_pix: int | None = None,
    log: logging.Logger | None = None,
    scratch_dir: str | os.PathLike | None = None,
) -> Estimates:
    """Run CNMF-E on a CaImAn C-order memory map.

    Parameters
    ----------
    memmap_path : path-like
        The motion-corrected movie: the motion step's frame-block file
        (``..._frames_T_block_B_float32.blocks``, fast) or a CaImAn C-order
        memory map (``..._d1_H_d2_W_d3_1_order_C_frames_T.mmap``, float32, read in
        place). Neither is copied.
    options : CnmfeOptions, optional
        CNMF-E parameters (:meth:`CnmfeOptions.from_params`: CaImAn's names,
        checked); all defaults when omitted.
    threads : int
        Worker processes for patches (``rf`` set); for the whole field, the
        threads that read chunks ahead and do their arithmetic, and those of
        the seeding filter, the ring fit and OpenCV, and ``threads - 1``
        worker processes that share the traces' OASIS fits with this one
        (``spawn``: a script calling this with ``threads > 1`` needs an
        ``if __name__ == "__main__":`` guard, as with patches).
    frame_rate : float, optional
        Frames per second; ``options.fr`` wins when set. One of them is required.
    border_pix : int, optional
        Border left by motion correction; the larger of it and
        ``options.border_pix`` is excluded from seeding.
    log : logging.Logger, optional
    scratch_dir : path-like, optional
        Where the seeding replay caches go (``2 / (tsub ssub^2)`` of the
        float32 movie, removed at the end; skipped for a float16 or uint8 movie or
        without room); the system's temporary folder by default.

    Returns
    -------
    Estimates
        ``K = 0`` (with a warning) when no pixel passes the seeding thresholds;
        its ``params`` record every parameter (CaImAn's names) with the values
        derived from the data (``fr``, ``border_pix``, the seeding thresholds).

    Raises
    ------
    ValueError
        Without a frame rate, or on a malformed memory map.
    """
    log = log or logger
    threads = max(1, int(threads))
    import cv2

    cv2.setNumThreads(threads)  # OpenCV calls made outside the explicit thread pools
    source = MovieSource.from_path(memmap_path)
    setup = prepare_fit(source, options, frame_rate=frame_rate, border_pix=border_pix, log=log, threads=threads)
    options, fr, border = setup.options, setup.frame_rate, setup.border
    h, w = source.dims
    rf = options.patch.rf
    log.info("cnmfe: %s, %dx%d pixels, %d frames, %.3g Hz, border %d, %s", Path(memmap_path).name, h, w,
             source.n_frames, fr, border, "whole field" if rf is None else f"patches rf={rf}")
    start = time.perf_counter()
    if scratch_dir is not None:
        Path(scratch_dir).mkdir(parents=True, exist_ok=True)
    if source.layout == "pixels":
        log.info("cnmfe: reading the CaImAn memory map in place (no frame-block file next to it): each chunk of "
                 "frames is scattered over the file, slower than the motion step's frame-block file")
    if rf is None or 2 * rf + 1 >= max(h, w):
        fit = fit_region(source, options, frame_rate=fr, border=border, log=log, label="cnmfe", threads=threads,
                         scratch_dir=scratch_dir)
    else:
        fit = fit_patches(source, options, frame_rate=fr, border=border, threads=threads, log=log)
    elapsed = time.perf_counter() - start
    log.info("cnmfe: %d components in %.1f s (%.1f frames/s)", fit.state.A.shape[1], elapsed,
             source.n_frames / max(elapsed, 1e-9))
    return estimates_from_fit(fit, setup, log=log)


@dataclass(frozen=True)
class FitSetup:
    """What a fit resolves on the whole movie before fitting (:func:`prepare_fit`).

    Attributes
    ----------
    options : CnmfeOptions
        With numeric ``gSig`` / ``gSiz`` (``"auto"`` measured on the movie).
    frame_rate : float
        Frames per second used (``options.fr`` or the metadata's).
    border : int
        Pixels at the frame edge excluded from seeding.
    neuron_size : dict or None
        The ``gSig: auto`` measurement (:meth:`~.size.NeuronSize.as_dict`), None when ``gSig`` was a number.
    dims : (int, int)
        Frame size (rows, columns).
    """

    options: CnmfeOptions
    frame_rate: float
    border: int
    neuron_size: dict | None
    dims: tuple[int, int]


def prepare_fit(
    source: MovieSource,
    options: CnmfeOptions | None,
    *,
    frame_rate: float | None,
    border_pix: int | None,
    log: logging.Logger | None = None,
    threads: int = 1,
) -> FitSetup:
    """Check the frame rate and frame size, resolve ``tsub: auto`` and measure the neuron size (``gSig: auto``).

    Parameters are those of :func:`fit_cnmfe`; ``source`` is the whole movie; ``threads`` read it ahead.

    Raises
    ------
    ValueError
        Without a frame rate, or with a ``gSiz`` larger than the frame (whole field).
    """
    log = log or logger
    options = CnmfeOptions.from_params() if options is None else options
    fr = options.fr if options.fr is not None else frame_rate
    if fr is None or not np.isfinite(fr) or fr <= 0:
        raise ValueError("cnmfe: no frame rate: set cnmfe.fr or give the convert step's metadata (frame_rate_hz)")
    border = max(int(options.border_pix), int(border_pix or 0))
    if isinstance(options.tsub, str):
        options = resolve_tsub(options, fr)
        log.info("cnmfe: tsub auto -> %d (the frames of %g s at %g Hz)", options.tsub, SEEDING_FRAME_S, fr)
    options, neuron_size = resolve_neuron_size(source, options, border=border, log=log, threads=threads)
    h, w = source.dims
    g_siz = list(options.seeding.gSiz)
    if options.patch.rf is None and max(g_siz) > min(h, w):
        raise ValueError(f"cnmfe: gSiz {g_siz} is larger than the frame {h}x{w}")
    return FitSetup(options, float(fr), border, None if neuron_size is None else neuron_size.as_dict(), (h, w))


def estimates_from_fit(fit: RegionFit, setup: FitSetup, *, log: logging.Logger | None = None) -> Estimates:
    """The :class:`~.estimates.Estimates` of a whole-frame fit, its ``params`` recording every value used."""
    log = log or logger
    options, fr = setup.options, setup.frame_rate
    state = fit.state
    K = state.A.shape[1]
    if K == 0:
        log.warning("cnmfe: no neuron found (no pixel with correlation >= min_corr and peak-to-noise >= "
                    "min_pnr; used: %s); the estimates are empty. Lower min_corr / min_pnr if neurons are visible.",
                    fit.info.get("seeding_thresholds"))
    tr = state.traces
    used = options.as_params()
    used["fr"] = float(fr)
    used["border_pix"] = setup.border
    used["seeding_thresholds"] = fit.info.get("seeding_thresholds")  # the values used ("auto" calibrated)
    used["seeding_thresholds_residual"] = fit.info.get("seeding_thresholds_residual")
    used["seeding_thresholds_wide"] = fit.info.get("seeding_thresholds_wide")  # wide_seeding: its scale and seeds
    used["broad_components_removed"] = fit.info.get("broad_components_removed")
    used["n_init"] = fit.info.get("n_init")  # components initialised (both seeding scales)
    used["neuron_size"] = setup.neuron_size  # gSig: auto
    if isinstance(used["seeding_thresholds"], dict):  # whole field: one pair of numbers (patches: one per patch)
        used["min_corr"] = used["seeding_thresholds"]["min_corr"]
        used["min_pnr"] = used["seeding_thresholds"]["min_pnr"]
    common = dict(A=state.A, C=state.C, dims=setup.dims, frame_rate=float(fr), b0=state.b0, W=state.W,
                  ssub_B=int(options.background.ssub_B), sn=fit.sn, params=used, Cn=fit.cn, pnr=fit.pnr)
    if fit.trend is not None and fit.trend.degree:  # each pixel's slow trend, removed before the ring (cnmfe/trend.py)
        common.update(b=fit.trend.b, f=fit.trend.f)
    if tr is not None:
        return Estimates(S=tr.S, YrA=tr.YrA, bl=tr.bl, c1=tr.c1, g=tr.g, neurons_sn=tr.neurons_sn, lam=tr.lam, **common)
    return Estimates(g=np.zeros((K, int(options.temporal.p)), np.float32), **common)


def run_cnmfe_step(
    memmap_dir: str | os.PathLike,
    options: CnmfeOptions | None = None,
    *,
    estimates_path: str | os.PathLike,
    params_path: str | os.PathLike,
    correlation_paths: tuple[str | os.PathLike, str | os.PathLike],
    pnr_paths: tuple[str | os.PathLike, str | os.PathLike],
    contours_path: str | os.PathLike,
    threads: int = 1,
    metadata_path: str | os.PathLike | None = None,
    motion_metrics_path: str | os.PathLike | None = None,
    patch_fits: tuple[str | os.PathLike, list] | None = None,
    log: logging.Logger | None = None,
) -> Estimates:
    """Fit the motion step's memory map and write the estimates, parameters, seeding images and contours.

    Parameters
    ----------
    memmap_dir : path-like
        The motion step's ``memmap/`` folder: its frame-block file when there is
        one, else its one CaImAn memory map, is fitted.
    options : CnmfeOptions, optional
        CNMF-E parameters; all defaults when omitted.
    estimates_path : path-like
        HDF5 estimates (:func:`~ace_neuro.cnmfe.estimates.save_estimates`).
    params_path : path-like
        JSON of the parameters used (with the values derived from the data).
    correlation_paths, pnr_paths : (path-like, path-like)
        TIFF (float32, H x W) and PNG of the local-correlation and
        peak-to-noise images of the filtered movie.
    contours_path : path-like
        PNG of every component's contour on the correlation image.
    threads : int
        Worker processes for patches.
    metadata_path : path-like, optional
        The convert step's ``metadata.json`` (``frame_rate_hz``); required unless ``options.fr`` is set.
    motion_metrics_path : path-like, optional
        The motion step's ``metrics.json`` (``border_pix``), if present.
    patch_fits : (path-like, list of path-like), optional
        ``cnmfe.patch_jobs``: the patch jobs' set-up file and every patch's fit
        (:mod:`.patch_jobs`), merged here instead of fitting (the same estimates).
    log : logging.Logger, optional

    Returns
    -------
    Estimates
    """
    log = log or logger
    options = CnmfeOptions.from_params() if options is None else options
    memmap_path = find_corrected_movie(memmap_dir)
    keep_freed_memory(log)
    if patch_fits is not None:
        from .patch_jobs import gather_patch_fits

        est = gather_patch_fits(memmap_path, options, *patch_fits, threads=threads, log=log)
        _write_step_outputs(est, estimates_path, params_path, correlation_paths, pnr_paths, contours_path, log)
        return est
    frame_rate, border = read_step_inputs(options, metadata_path, motion_metrics_path)
    # seeding's replay caches live in a fixed-name folder, so a killed run's are removed by the next attempt
    with scratch_directory(Path(estimates_path).parent, ".cnmfe_scratch") as scratch:
        est = fit_cnmfe(memmap_path, options, threads=threads, frame_rate=frame_rate,
                        border_pix=border, log=log, scratch_dir=scratch)
    _write_step_outputs(est, estimates_path, params_path, correlation_paths, pnr_paths, contours_path, log)
    return est


def read_step_inputs(options: CnmfeOptions, metadata_path, motion_metrics_path) -> tuple[float | None, int | None]:
    """The frame rate (convert's ``metadata.json``) and the motion border (motion's ``metrics.json``) of the step.

    Raises
    ------
    ValueError
        Neither ``options.fr`` nor the metadata gives a frame rate.
    """
    frame_rate = read_json_key(metadata_path, "frame_rate_hz")
    if options.fr is None and frame_rate is None:
        raise ValueError(f"cnmfe: no frame rate: {metadata_path} has no 'frame_rate_hz'; set cnmfe.fr in the config")
    border = read_json_key(motion_metrics_path, "border_pix")
    return frame_rate, int(border) if border is not None else None


def _write_step_outputs(est, estimates_path, params_path, correlation_paths, pnr_paths, contours_path, log) -> None:
    outputs = dict(estimates=estimates_path, params=params_path, correlation=correlation_paths[0],
                   correlation_png=correlation_paths[1], pnr=pnr_paths[0], pnr_png=pnr_paths[1], contours=contours_path)
    write_cnmfe_outputs(est, outputs, params_record=est.params, images_by="filtered movie")
    log.info("cnmfe: outputs written next to %s", estimates_path)
