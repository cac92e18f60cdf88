"""CNMF-E's patches as separate jobs (``cnmfe.patch_jobs``): set-up, one job per patch, and the merge.

A long session's patched fit (``rf`` set) can be spread over a cluster by the
workflow itself (docs/cluster.md): the ``cnmfe_setup`` rule resolves on the
whole movie what the fit resolves before any patch (frame rate, motion border,
``gSig: auto``) and lists the patches; each ``cnmfe_patch`` job fits one patch
(:func:`~.patches.fit_patch`) and writes it (:func:`~.patches.save_patch_fit`);
the ``cnmfe`` job then merges them (:func:`~.patches.merge_patches`) and writes
the step's usual files. Every job computes exactly what the one-job patched fit
(:func:`~.pipeline.fit_cnmfe`) computes, with the same functions, so the
estimates are the same (tests/workflow/test_patch_jobs.py).

The set-up file records the options it was made with; a patch or merge job
with other options (a stale file) stops with an error naming it.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Sequence

from ..io.atomic import write_json
from ..io.memmap import find_corrected_movie
from .estimates import Estimates
from .params import CnmfeOptions, resolve_tsub
from .patch_grid import patch_job_regions
from .patches import fit_patch, load_patch_fit, merge_patches, save_patch_fit
from .pipeline import FitSetup, estimates_from_fit, prepare_fit, read_step_inputs
from .reader import MovieSource

__all__ = ["run_cnmfe_setup_step", "run_cnmfe_patch_step", "gather_patch_fits", "read_setup"]

logger = logging.getLogger(__name__)

Region = tuple[int, int, int, int]


def _plain(options: CnmfeOptions) -> dict:
    """The options' values as JSON gives them back (tuples as lists), to compare with a recorded set-up."""
    return json.loads(json.dumps(options.as_dict()))


def run_cnmfe_setup_step(
    memmap_dir: str | os.PathLike,
    options: CnmfeOptions,
    *,
    setup_path: str | os.PathLike,
    n_patches: int | None = None,
    metadata_path: str | os.PathLike | None = None,
    motion_metrics_path: str | os.PathLike | None = None,
    threads: int = 1,
    log: logging.Logger | None = None,
) -> tuple[FitSetup, list[Region]]:
    """Resolve on the whole movie what every patch job needs, and list the patches (a JSON file).

    Parameters
    ----------
    memmap_dir : path-like
        The motion step's ``memmap/`` folder.
    options : CnmfeOptions
        With ``rf`` set.
    setup_path : path-like
        JSON written: the options, the resolved ``gSig`` / ``gSiz``, frame
        rate, border, the ``gSig: auto`` measurement, frame size and patches.
    n_patches : int, optional
        The number of patch jobs the workflow planned at start (from the
        recording's frame size); checked against the movie's.
    metadata_path, motion_metrics_path : path-like, optional
        As :func:`~.pipeline.run_cnmfe_step`.
    threads : int
        OpenCV threads (as the one-job fit uses while it measures ``gSig``).
    log : logging.Logger, optional

    Returns
    -------
    setup : FitSetup
    regions : list of (r0, r1, c0, c1)

    Raises
    ------
    ValueError
        ``rf`` unset or one patch covering the frame, or a movie whose patch
        count differs from ``n_patches``.
    """
    log = log or logger
    import cv2

    cv2.setNumThreads(max(1, int(threads)))
    memmap_path = find_corrected_movie(memmap_dir)
    frame_rate, border = read_step_inputs(options, metadata_path, motion_metrics_path)
    source = MovieSource.from_path(memmap_path)
    regions = patch_job_regions(source.dims, options.rf, options.stride)
    if n_patches is not None and len(regions) != int(n_patches):
        raise ValueError(f"cnmfe: {memmap_path.name} is {source.dims[0]}x{source.dims[1]}: {len(regions)} patches, but "
                         f"the workflow planned {n_patches} patch jobs from the recording's frame size; run again")
    setup = prepare_fit(source, options, frame_rate=frame_rate, border_pix=border, log=log)
    write_json(setup_path, {
        "options": _plain(options), "gSig": list(setup.options.gSig), "gSiz": list(setup.options.gSiz),
        "frame_rate": setup.frame_rate, "border": setup.border, "neuron_size": setup.neuron_size,
        "dims": list(setup.dims), "movie": memmap_path.name, "regions": [list(r) for r in regions],
    })
    log.info("cnmfe: %d patch jobs of %d pixels (overlap %d) on %dx%d pixels, %d frames; gSig %s, gSiz %s, border %d",
             len(regions), 2 * options.rf + 1, options.stride, *setup.dims, source.n_frames, list(setup.options.gSig),
             list(setup.options.gSiz), setup.border)
    return setup, regions


def read_setup(path: str | os.PathLike, options: CnmfeOptions) -> tuple[FitSetup, list[Region]]:
    """The set-up :func:`run_cnmfe_setup_step` wrote, for a job with ``options``.

    Raises
    ------
    ValueError
        The file was made with other options.
    """
    record = json.loads(Path(path).read_text())
    if record["options"] != _plain(options):
        changed = sorted(k for k in record["options"] if record["options"][k] != _plain(options).get(k))
        raise ValueError(f"cnmfe: {path} was made with other cnmfe options ({', '.join(changed)}); delete it and run "
                         "again")
    resolved = resolve_tsub(options.replace(gSig=record["gSig"], gSiz=record["gSiz"]), float(record["frame_rate"]))
    setup = FitSetup(resolved, float(record["frame_rate"]), int(record["border"]), record["neuron_size"],
                     tuple(record["dims"]))
    return setup, [tuple(r) for r in record["regions"]]


def _open_movie(memmap_path: str | os.PathLike, setup: FitSetup, setup_path) -> MovieSource:
    source = MovieSource.from_path(memmap_path)
    if tuple(source.dims) != tuple(setup.dims):
        raise ValueError(f"cnmfe: the movie is {source.dims[0]}x{source.dims[1]} but {setup_path} was made for "
                         f"{setup.dims[0]}x{setup.dims[1]}; delete it and run again")
    return source


def run_cnmfe_patch_step(
    memmap_dir: str | os.PathLike,
    options: CnmfeOptions,
    *,
    setup_path: str | os.PathLike,
    index: int,
    fit_path: str | os.PathLike,
    log: logging.Logger | None = None,
) -> None:
    """Fit one patch (``index``, 0-based) as the one-job fit does, and write it (:func:`~.patches.save_patch_fit`).

    Raises
    ------
    ValueError
        ``index`` outside the set-up's patches, or a stale set-up file.
    """
    log = log or logger
    setup, regions = read_setup(setup_path, options)
    if not 0 <= int(index) < len(regions):
        raise ValueError(f"cnmfe: patch {index} does not exist: {setup_path} lists {len(regions)} patches (0 to "
                         f"{len(regions) - 1})")
    source = _open_movie(find_corrected_movie(memmap_dir), setup, setup_path)
    r0, r1, c0, c1 = regions[index]
    log.info("cnmfe: patch %d/%d: rows %d-%d, columns %d-%d of %dx%d, %d frames", index + 1, len(regions), r0, r1,
             c0, c1, *setup.dims, source.n_frames)
    start = time.perf_counter()
    region, fit = fit_patch(source, setup.options, int(index), frame_rate=setup.frame_rate, border=setup.border)
    save_patch_fit(fit_path, int(index), (region, fit))
    log.info("cnmfe: patch %d/%d: %d components in %.1f s", index + 1, len(regions), fit.state.A.shape[1],
             time.perf_counter() - start)


def gather_patch_fits(
    memmap_path: str | os.PathLike,
    options: CnmfeOptions,
    setup_path: str | os.PathLike,
    fit_paths: Sequence[str | os.PathLike],
    *,
    threads: int = 1,
    log: logging.Logger | None = None,
) -> Estimates:
    """Merge every patch job's fit into the whole frame's estimates, as the one-job patched fit does.

    Parameters
    ----------
    memmap_path : path-like
        The motion-corrected movie (frame-block file or CaImAn memory map).
    options : CnmfeOptions
        The options of the set-up and patch jobs.
    setup_path : path-like
        :func:`run_cnmfe_setup_step`'s file.
    fit_paths : sequence of path-like
        Every patch's fit, in patch order.
    threads : int
        OpenCV threads (as the one-job fit).
    log : logging.Logger, optional

    Returns
    -------
    Estimates

    Raises
    ------
    ValueError
        A patch missing, in the wrong place, or a stale set-up file.
    """
    log = log or logger
    import cv2

    cv2.setNumThreads(max(1, int(threads)))
    setup, regions = read_setup(setup_path, options)
    if len(fit_paths) != len(regions):
        raise ValueError(f"cnmfe: {len(fit_paths)} patch fits given for the {len(regions)} patches of {setup_path}")
    source = _open_movie(memmap_path, setup, setup_path)
    log.info("cnmfe: %s, %dx%d pixels, %d frames, %.3g Hz, border %d, patches rf=%d merged from %d patch jobs",
             Path(memmap_path).name, *setup.dims, source.n_frames, setup.frame_rate, setup.border, options.rf,
             len(regions))
    start = time.perf_counter()
    results = [load_patch_fit(path, index) for index, path in enumerate(fit_paths)]
    for (region, _), expected, path in zip(results, regions, fit_paths):
        if tuple(region) != tuple(expected):
            raise ValueError(f"cnmfe: {path} holds region {region}, expected {expected}; delete it and run again")
    fit = merge_patches(source, setup.options, results, frame_rate=setup.frame_rate, border=setup.border, log=log)
    log.info("cnmfe: %d components after the merge and the full-field round in %.1f s", fit.state.A.shape[1],
             time.perf_counter() - start)
    return estimates_from_fit(fit, setup, log=log)
