"""Overlapping patches: CNMF-E run on pieces of the field of view, merged into one set.

The field of view is cut into square patches of ``2 * rf + 1`` pixels that
overlap by ``stride`` pixels (CaImAn's meaning of ``rf`` and ``stride``;
:mod:`.patch_grid`). Each patch is fitted independently
(:func:`fit_patch`, i.e. :func:`ace_neuro.cnmfe.fit.fit_region` on its pixels)
in a pool of at most ``threads`` worker processes, each reading only its
patch's pixels from the memory map, chunk by chunk. :func:`merge_patches` then
places the components back in the full frame, merges neurons found twice in
an overlap (:mod:`.merge`), and runs one full-field round of background,
spatial and temporal updates that reconciles the patch borders.

Nothing crosses patches before the merge (each patch calibrates its own seeding
thresholds and noise), so the patches can also be fitted as separate jobs
(``cnmfe.patch_jobs``: one Snakemake job per patch, on as many cluster nodes):
:func:`save_patch_fit` and :func:`load_patch_fit` carry one patch's result
between jobs bit for bit, and the merge is the same function.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Sequence

import numpy as np
import scipy.sparse

from ..io.atomic import atomic_path
from ..pools import map_in_order, process_pool, stop_pool
from .fit import (RegionFit, constant_background, detrended_source, fit_region, movie_passes, normalise_footprints, refine,
                  temporal_update)
from .merge import merge_components
from .params import CnmfeOptions
from .passes import ModelState
from .patch_grid import patch_border, patch_regions
from .reader import MovieSource

__all__ = ["patch_regions", "fit_patches", "fit_patch", "merge_patches", "save_patch_fit", "load_patch_fit"]

logger = logging.getLogger(__name__)

#: One patch's result: its region ``(r0, r1, c0, c1)`` in the full frame and its fit (pixels of the patch).
PatchFit = tuple[tuple[int, int, int, int], RegionFit]


def _fit_one(args) -> PatchFit:
    source, region, options, frame_rate, border, label = args
    import cv2

    cv2.setNumThreads(1)
    log = logging.getLogger("ace_neuro.cnmfe.patches")
    return region, fit_region(source.sub(region), options, frame_rate=frame_rate, border=border, log=log, label=label)


def _patch_job(source: MovieSource, options: CnmfeOptions, index: int, *, frame_rate: float, border: int) -> tuple:
    """The arguments of :func:`_fit_one` for patch ``index`` (0-based) of ``source``."""
    regions = patch_regions(source.dims, int(options.patch.rf), int(options.patch.stride))
    region = regions[index]
    return (source, region, options, frame_rate, patch_border(region, source.dims, border),
            f"patch {index + 1}/{len(regions)}")


def fit_patch(source: MovieSource, options: CnmfeOptions, index: int, *, frame_rate: float, border: int = 0) -> PatchFit:
    """Fit patch ``index`` of the whole movie ``source`` alone, exactly as :func:`fit_patches` fits it.

    Parameters
    ----------
    source : MovieSource
        The whole movie.
    options : CnmfeOptions
        Checked parameters with numeric ``gSig`` / ``gSiz`` and ``rf`` set.
    index : int
        0-based, in the order of :func:`~.patch_grid.patch_regions`.
    frame_rate : float
        Frames per second.
    border : int
        Pixels at the frame edge where no seed is placed.

    Returns
    -------
    region : (r0, r1, c0, c1)
    fit : RegionFit
        In the patch's pixels (order ``row + col * patch_height``).
    """
    return _fit_one(_patch_job(source, options, index, frame_rate=frame_rate, border=border))


def _to_full(A_patch: scipy.sparse.csc_matrix, region, dims) -> scipy.sparse.csc_matrix:
    r0, r1, c0, c1 = region
    h = r1 - r0
    A_patch = scipy.sparse.csc_matrix(A_patch)
    idx = A_patch.indices
    full = (idx % h + r0) + (idx // h + c0) * dims[0]
    return scipy.sparse.csc_matrix((A_patch.data, full, A_patch.indptr), shape=(dims[0] * dims[1], A_patch.shape[1]))


def fit_patches(
    source: MovieSource,
    options: CnmfeOptions,
    *,
    frame_rate: float,
    border: int = 0,
    threads: int = 1,
    log: logging.Logger | None = None,
) -> RegionFit:
    """CNMF-E by overlapping patches (:func:`fit_patch` each), merged by :func:`merge_patches`.

    Parameters
    ----------
    source, frame_rate, border, log
        As for :func:`merge_patches`.
    options : CnmfeOptions
        Checked parameters; ``options.patch.rf`` must be set.
    threads : int
        Worker processes (patches fitted at once).

    Returns
    -------
    RegionFit
        :func:`merge_patches`' fit for the whole frame.
    """
    log = log or logger
    rf, stride = options.patch.rf, options.patch.stride
    n_patches = len(patch_regions(source.dims, int(rf), int(stride)))
    log.info("cnmfe: %d patches of %d pixels (overlap %d) with %d workers", n_patches, 2 * rf + 1, stride, threads)
    jobs = [_patch_job(source, options, i, frame_rate=frame_rate, border=border) for i in range(n_patches)]
    if threads > 1 and len(jobs) > 1:
        # "spawn" (a forked child can inherit held locks and hang); a worker that dies breaks the pool at once
        pool = process_pool(min(threads, len(jobs)))
        try:
            results = list(map_in_order(pool, _fit_one, jobs, what="cnmfe (patches)"))
        except BaseException:
            stop_pool(pool)
            raise
        pool.shutdown()
    else:
        results = [_fit_one(job) for job in jobs]
    return merge_patches(source, options, results, frame_rate=frame_rate, border=border, log=log)


def _place_patches(results: Sequence[PatchFit], dims: tuple[int, int]):
    """Each patch's images, noise and mean placed in the full frame, and its footprints in full-frame pixels."""
    h, w = dims
    cn = np.zeros(dims, np.float32)
    pnr = np.zeros(dims, np.float32)
    nearest = np.full(dims, np.inf)  # each pixel's images come from the patch whose centre is nearest
    sn = np.zeros(h * w, np.float32)
    pixel_mean = np.zeros(h * w, np.float32)
    blocks, traces = [], []
    for region, fit in results:
        r0, r1, c0, c1 = region
        rr, cc = np.meshgrid(np.arange(r0, r1), np.arange(c0, c1), indexing="ij")
        dist = np.maximum(np.abs(rr - (r0 + r1 - 1) / 2.0), np.abs(cc - (c0 + c1 - 1) / 2.0))
        closer = dist < nearest[r0:r1, c0:c1]
        nearest[r0:r1, c0:c1][closer] = dist[closer]
        cn[r0:r1, c0:c1][closer] = fit.cn[closer]
        pnr[r0:r1, c0:c1][closer] = fit.pnr[closer]
        full_idx = (rr + cc * h).ravel(order="F")
        sn[full_idx] = fit.sn
        pixel_mean[full_idx] = fit.pixel_mean
        if fit.state.A.shape[1]:
            blocks.append(_to_full(fit.state.A, region, dims))
            traces.append(fit.state.C)
    return cn, pnr, sn, pixel_mean, blocks, traces


def merge_patches(
    source: MovieSource,
    options: CnmfeOptions,
    results: Sequence[PatchFit],
    *,
    frame_rate: float,
    border: int = 0,
    log: logging.Logger | None = None,
) -> RegionFit:
    """The patches' fits merged into one set for the whole frame, reconciled by one full-field round.

    Parameters
    ----------
    source : MovieSource
        The whole movie.
    options : CnmfeOptions
        The options the patches were fitted with.
    results : sequence of (region, RegionFit)
        Every patch's fit (:func:`fit_patch`), in patch order.
    frame_rate : float
        Frames per second.
    border : int
        Pixels at the frame edge where no seed is placed.
    log : logging.Logger, optional

    Returns
    -------
    RegionFit
        For the whole frame; ``info`` holds the number of patches, of
        components before merging, and each patch's seeding thresholds.
    """
    log = log or logger
    dims = source.dims
    h, w = dims
    # each patch removed its own pixels' trend (the same per pixel); the full-field round reads the whole frame's
    source = detrended_source(source, options, log=log)
    cn, pnr, sn, pixel_mean, blocks, traces = _place_patches(results, dims)
    n_patch_components = int(sum(b.shape[1] for b in blocks))
    if blocks:
        A = scipy.sparse.hstack(blocks, format="csc")
        C = np.concatenate(traces, axis=0)
        del traces  # the patches' rows, copied into C
        merging = options.merging
        A, C, groups = merge_components(A, C, merging.merge_thr, 0.7 if merging.del_duplicates else None, dims)
        A, C = normalise_footprints(A, C)
        log.info("cnmfe: %d components from patches, %d after merging duplicates and correlated neighbours",
                 n_patch_components, A.shape[1])
    else:
        A = scipy.sparse.csc_matrix((h * w, 0), dtype=np.float32)
        C = np.zeros((0, source.n_frames), np.float32)
    passes = movie_passes(source, options)
    passes.pixel_mean = pixel_mean
    state = ModelState(A, C, constant_background(pixel_mean, A, C), None, None)
    n_comp = A.shape[1]
    del A, C  # the state holds them, released by the refinement (consume_state)
    state.W = passes.fit_background(state)
    if n_comp and not options.only_init and int(options.n_refine_iter) > 0:
        state = refine(passes, state, pixel_mean, options, frame_rate=frame_rate, n_rounds=1, border=border,
                       residual_seeding=False, log=log, label="cnmfe (full field)", consume_state=True)
    elif n_comp:
        state = temporal_update(passes, state, frame_rate=frame_rate, temporal=options.temporal, noise=options.noise,
                                consume_state=True)
    return RegionFit(dims, state, sn, pixel_mean, cn, pnr, {"n_patches": len(results), "n_patch_components": n_patch_components,
                                                             "seeding_thresholds": [f.info.get("seeding_thresholds") for _, f in results]},
                     source.trend)


def save_patch_fit(path: str | os.PathLike, index: int, patch: PatchFit) -> None:
    """Write one patch's fit (what :func:`merge_patches` uses of it) to an ``.npz`` file, exactly.

    Parameters
    ----------
    path : path-like
        Written under a temporary name and renamed when complete.
    index : int
        The patch's 0-based index (recorded, checked when read back).
    patch : (region, RegionFit)
        :func:`fit_patch`'s result. Stored: the footprints (sparse, as they
        are), traces, noise, mean, seeding images and thresholds, bit for bit.
    """
    region, fit = patch
    A = scipy.sparse.csc_matrix(fit.state.A)
    info = {"seeding_thresholds": fit.info.get("seeding_thresholds")}
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, index=np.int64(index), region=np.asarray(region, np.int64), dims=np.asarray(fit.dims, np.int64),
                 A_data=A.data, A_indices=A.indices, A_indptr=A.indptr, A_shape=np.asarray(A.shape, np.int64),
                 C=fit.state.C, sn=fit.sn, pixel_mean=fit.pixel_mean, cn=fit.cn, pnr=fit.pnr,
                 info=np.asarray(json.dumps(info)))


def load_patch_fit(path: str | os.PathLike, index: int | None = None) -> PatchFit:
    """Read :func:`save_patch_fit`'s file back as ``(region, RegionFit)`` (no background or trace details).

    Raises
    ------
    ValueError
        The file holds another patch than ``index``.
    """
    with np.load(path, allow_pickle=False) as f:
        if index is not None and int(f["index"]) != int(index):
            raise ValueError(f"cnmfe: {path} holds patch {int(f['index'])}, expected patch {index}; delete it and "
                             "run again")
        A = scipy.sparse.csc_matrix((f["A_data"], f["A_indices"], f["A_indptr"]), shape=tuple(int(v) for v in f["A_shape"]))
        state = ModelState(A, f["C"], None, None, None)
        fit = RegionFit(tuple(int(v) for v in f["dims"]), state, f["sn"], f["pixel_mean"], f["cn"], f["pnr"],
                        json.loads(str(f["info"])))
        return tuple(int(v) for v in f["region"]), fit
