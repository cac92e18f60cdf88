"""Overlapping patches: CNMF-E run on pieces of the field of view, merged into one set.

The field of view is cut into square patches of ``2 * rf + 1`` pixels that
overlap by ``stride`` pixels (CaImAn's meaning of ``rf`` and ``stride``). Each
patch is fitted independently (:func:`ace_neuro.cnmfe.fit.fit_region`) in a
pool of at most ``threads`` worker processes, each reading only its patch's
pixels from the memory map, chunk by chunk. Components are placed back in the
full frame; neurons found twice in an overlap are merged (:mod:`.merge`), and
one full-field round of background, spatial and temporal updates reconciles the
patch borders.
"""

from __future__ import annotations

import logging

import numpy as np
import scipy.sparse

from ..pools import map_in_order, process_pool, stop_pool
from .fit import RegionFit, constant_background, fit_region, movie_passes, normalise_footprints, refine, temporal_update
from .merge import merge_components
from .params import CnmfeOptions
from .passes import ModelState
from .reader import MovieSource

__all__ = ["patch_regions", "fit_patches"]

logger = logging.getLogger(__name__)


def _starts(size: int, patch: int, step: int) -> list[int]:
    if patch >= size:
        return [0]
    starts = list(range(0, size - patch + 1, step))
    if starts[-1] + patch < size:
        starts.append(size - patch)
    return starts


def patch_regions(dims: tuple[int, int], rf: int, stride: int) -> list[tuple[int, int, int, int]]:
    """Patches ``(r0, r1, c0, c1)`` of ``2*rf+1`` pixels overlapping by ``stride``, covering ``dims``.

    Examples
    --------
    >>> patch_regions((100, 60), 20, 10)[:3]
    [(0, 41, 0, 41), (0, 41, 19, 60), (31, 72, 0, 41)]
    """
    size = 2 * int(rf) + 1
    step = max(1, size - int(stride))
    h, w = dims
    return [(r0, min(h, r0 + size), c0, min(w, c0 + size)) for r0 in _starts(h, size, step) for c0 in _starts(w, size, step)]


def _patch_border(region, dims, border: int) -> tuple[int, int, int, int]:
    """Seeding border of a patch: the global border on its sides that touch the frame edge, else 0."""
    r0, r1, c0, c1 = region
    h, w = dims
    return (border if r0 == 0 else 0, border if r1 == h else 0, border if c0 == 0 else 0, border if c1 == w else 0)


def _fit_one(args) -> tuple[tuple[int, int, int, int], RegionFit]:
    source, region, options, frame_rate, border, label = args
    import cv2

    cv2.setNumThreads(1)
    log = logging.getLogger("ace_neuro.cnmfe.patches")
    return region, fit_region(source.sub(region), options, frame_rate=frame_rate, border=border, log=log, label=label)


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
    """CNMF-E by overlapping patches, merged into one set for the whole frame.

    Parameters
    ----------
    source : MovieSource
        The whole movie.
    options : CnmfeOptions
        Checked parameters; ``options.patch.rf`` must be set.
    frame_rate : float
        Frames per second.
    border : int
        Pixels at the frame edge where no seed is placed.
    threads : int
        Worker processes (patches fitted at once).
    log : logging.Logger, optional

    Returns
    -------
    RegionFit
        For the whole frame; ``info`` holds the number of patches and of
        components before merging.
    """
    log = log or logger
    dims = source.dims
    rf, stride = options.patch.rf, options.patch.stride
    regions = patch_regions(dims, int(rf), int(stride))
    log.info("cnmfe: %d patches of %d pixels (overlap %d) with %d workers", len(regions), 2 * rf + 1, stride, threads)
    jobs = [(source, r, options, frame_rate, _patch_border(r, dims, border), f"patch {i + 1}/{len(regions)}")
            for i, r in enumerate(regions)]
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
        rows, cols = np.meshgrid(np.arange(r0, r1), np.arange(c0, c1), indexing="ij")
        full_idx = (rows + cols * h).ravel(order="F")
        sn[full_idx] = fit.sn
        pixel_mean[full_idx] = fit.pixel_mean
        if fit.state.A.shape[1]:
            blocks.append(_to_full(fit.state.A, region, dims))
            traces.append(fit.state.C)
    n_patch_components = int(sum(b.shape[1] for b in blocks))
    if blocks:
        A = scipy.sparse.hstack(blocks, format="csc")
        C = np.concatenate(traces, axis=0)
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
    state.W = passes.fit_background(state)
    if A.shape[1] and not options.only_init and int(options.n_refine_iter) > 0:
        state = refine(passes, state, pixel_mean, options, frame_rate=frame_rate, n_rounds=1, border=border,
                       residual_seeding=False, log=log, label="cnmfe (full field)")
    elif A.shape[1]:
        state = temporal_update(passes, state, frame_rate=frame_rate, temporal=options.temporal, noise=options.noise)
    return RegionFit(dims, state, sn, pixel_mean, cn, pnr, {"n_patches": len(regions), "n_patch_components": n_patch_components,
                                                             "seeding_thresholds": [f.info.get("seeding_thresholds") for _, f in results]})
