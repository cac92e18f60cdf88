"""CNMF-E on one rectangle of the movie, every step streamed over chunks of frames.

:func:`fit_region` runs the whole algorithm on a :class:`~.reader.MovieSource`
(the whole field of view, or one patch): seeding and initialisation
(:mod:`.init`, on the ``ssub``/``tsub``-downsampled movie), the ring-model
background (:mod:`.background`), then rounds of spatial update
(:mod:`.spatial`), background re-fit, temporal update with deconvolution
(:mod:`.temporal`), and merging (:mod:`.merge`); after the first round the
residual movie is seeded again for neurons the first pass missed.

Each step reads the movie once, chunk by chunk (:mod:`.passes`); what is held
in memory is one chunk (its size set by ``cnmfe_chunk_mb``), per-pixel sums,
the sparse footprints and the ``K x T`` traces. Nothing else grows with the
number of frames. The parameters come grouped in a
:class:`~.params.CnmfeOptions`; each step takes the group it uses.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from contextlib import contextmanager
from typing import Any, Callable, Iterator

import cv2
import numpy as np
import scipy.sparse

from .background import ring_radius
from .binned_seeding import binned_correlation_pnr_images, wide_bin
from .filters import downsample_frames
from .init import (InitialComponents, correlation_pnr_images, extract_components, extraction_pixels, find_seeds,
                   seed_mask)
from .merge import merge_components
from .params import CnmfeOptions, NoiseOptions, SeedingOptions, TemporalOptions, resolve_tsub
from .passes import ModelState, MoviePasses, PixelStats, Support, time_mean
from .reader import ChunkCache, MovieSource
from .spatial import centroids, clean_footprint, footprint_supports, hals_footprints, values_on_supports
from .temporal import TracePool, TraceResult, update_traces
from .thresholds import AUTO, is_auto, resolve_thresholds
from .trace_spill import TraceFile
from .trend import fit_trend
from .wide_seeding import broad_seeds, join_components, near_seeds, oversized_components, wide_geometry

__all__ = [
    "RegionFit",
    "fit_region",
    "movie_passes",
    "refine",
    "normalise_footprints",
    "constant_background",
    "temporal_update",
    "movie_extraction_frames",
    "residual_extraction_frames",
    "detrended_source",
]

logger = logging.getLogger(__name__)


@dataclass
class RegionFit:
    """Result of :func:`fit_region` for one region (pixel order ``row + col*h`` of the region)."""

    dims: tuple[int, int]
    state: ModelState
    sn: np.ndarray
    pixel_mean: np.ndarray
    cn: np.ndarray
    pnr: np.ndarray
    info: dict = field(default_factory=dict)
    #: The slow trend removed from the movie before the fit (:class:`.trend.PixelTrend`; None: none).
    trend: Any = None


def movie_passes(source: MovieSource, options: CnmfeOptions, threads: int = 1) -> MoviePasses:
    """The streaming passes of a fit with ``options`` (chunk budget, seeding and background resolutions)."""
    seeding, background = options.seeding, options.background
    return MoviePasses(source, chunk_mb=options.cnmfe_chunk_mb, ssub=seeding.ssub, tsub=seeding.tsub,
                       ssub_B=background.ssub_B,
                       ring_radius=ring_radius(seeding.gSiz, background.ring_size_factor, background.ssub_B),
                       threads=threads, ring_fit_frames=background.ring_fit_frames)


def detrended_source(source: MovieSource, options: CnmfeOptions, threads: int = 1,
                     log: logging.Logger | None = None) -> MovieSource:
    """``source`` read without each pixel's trend of degree ``1..trend_degree`` (:mod:`.trend`; one pass).

    Unchanged when ``trend_degree`` is 0 or a trend is attached already (a patch of a detrended movie).
    """
    degree = int(options.background.trend_degree)
    if degree <= 0 or source.trend is not None:
        return source
    # the relative trend's smooth part, over about two cell diameters (gSiz): bleaching's, not a cell's own
    trend = fit_trend(source, degree, source.chunk_frames(float(options.cnmfe_chunk_mb)), threads,
                      smooth_px=float(max(options.seeding.gSiz)))
    if log is not None and trend.degree:
        change = trend.values(source.n_frames - 1, source.n_frames)[:, 0] - trend.values(0, 1)[:, 0]
        log.info("cnmfe: each pixel's trend of degree 1-%d removed (trend_degree %d); from the first frame to the "
                 "last it changes by %.3g (median pixel; 5-95 %%: %.3g to %.3g)", trend.degree, degree,
                 float(np.median(change)), *np.percentile(change, [5, 95]).tolist())
    return source.with_trend(trend)


def _init_geometry(gSig, gSiz, ssub: int) -> tuple[list[float], list[int]]:
    """``gSig`` and ``gSiz`` at the seeding resolution (``ssub``)."""
    g_sig = [max(1.0, float(g) / ssub) for g in gSig]
    g_siz = [max(3, int(round(g / ssub))) for g in gSiz]
    return g_sig, g_siz


#: Factory of the extraction pass's chunks: given the full-resolution pixels extraction reads, a factory of chunks
#: holding the seeding movie there (and zeros elsewhere).
ExtractionFrames = Callable[[np.ndarray], Callable[[], Iterator[np.ndarray]]]


def _full_resolution_rows(mask: np.ndarray, dims: tuple[int, int], ssub: int) -> np.ndarray:
    """Full-resolution pixels (``row + col*h``, ascending) of the ``ssub`` blocks of the pixels of ``mask``."""
    h, w = dims
    full = np.repeat(np.repeat(mask, ssub, axis=0), ssub, axis=1)[:h, :w]
    return np.flatnonzero(full.ravel(order="F"))


def _scatter_frames(x: np.ndarray, rows: np.ndarray, dims: tuple[int, int], ssub: int) -> np.ndarray:
    """``(L, h', w')`` seeding frames from ``x`` ``(len(rows), L)``, the movie on ``rows`` only (zeros elsewhere)."""
    h, w = dims
    frames = np.zeros((x.shape[1], h, w), np.float32)
    frames.reshape(x.shape[1], h * w)[:, (rows % h) * w + rows // h] = x.T
    return downsample_frames(frames, ssub, 1) if ssub > 1 else frames


def movie_extraction_frames(passes: MoviePasses) -> ExtractionFrames:
    """Extraction chunks of the movie (``tsub``-averaged, ``ssub``-downsampled) formed on the pixels read only.

    The values there are those of :meth:`.passes.MoviePasses.init_frames`, bit for bit (the same
    per-pixel averages), without averaging and transposing the whole frame.
    """
    tsub, ssub, dims = passes.tsub, passes.ssub, passes.dims

    def factory(rows: np.ndarray) -> Callable[[], Iterator[np.ndarray]]:
        def on_rows(y: np.ndarray, t0: int, t1: int) -> np.ndarray:
            x = y[rows]
            return _scatter_frames(time_mean(x, tsub) if tsub > 1 else x, rows, dims, ssub)

        def gen():
            for _, _, frames in passes.raw_chunks(tsub, "seeding", on_rows, reuse=True):
                yield frames

        return gen

    return factory


def residual_extraction_frames(passes: MoviePasses, state: ModelState) -> ExtractionFrames:
    """Extraction chunks of the residual ``Y - A C - B - b0`` formed on the pixels read only.

    The values there are those of :meth:`.passes.MoviePasses.residual_frames`, bit for bit: the residual
    before the ring background on the whole frame (the background's input), the background ``W X`` on
    the rows read only (:class:`.passes.RowBackground`), and no whole-frame transpose.
    """
    tsub, ssub, dims = passes.tsub, passes.ssub, passes.dims
    footprints = Support(state.A)

    def factory(rows: np.ndarray) -> Callable[[], Iterator[np.ndarray]]:
        background = passes.row_background(state, rows)

        def on_rows(y: np.ndarray, t0: int, t1: int) -> np.ndarray:
            x = passes._subtract_mean_model(state, footprints, time_mean(y, tsub) if tsub > 1 else y, t0, t1, tsub)
            if background is not None:
                background.subtract(x, passes.down.to_low(x))
            return _scatter_frames(x[rows], rows, dims, ssub)

        def gen():
            for _, _, frames in passes.raw_chunks(tsub, "residual seeding", on_rows, reuse=True):
                yield frames

        return gen

    return factory


def _seed_and_extract(
    passes: MoviePasses,
    frames: Callable[[], Iterator[np.ndarray]],
    seeding: SeedingOptions,
    noise: NoiseOptions,
    *,
    border,
    max_new: int | None,
    exclude_centres: np.ndarray | None,
    local_background: bool,
    extraction_frames: ExtractionFrames | None = None,
    wide_factor: float | None = None,
) -> tuple[InitialComponents, Any, tuple[int, int]]:
    """Seed on the chunks given by ``frames`` and extract components (at the seeding resolution).

    ``extraction_frames`` (:func:`movie_extraction_frames`, :func:`residual_extraction_frames`) forms
    the extraction pass's chunks on the pixels it reads only, when ``frames`` are not replayed from a cache.
    ``wide_factor``: also seed at ``gSig`` and ``gSiz`` times this (:mod:`.wide_seeding`; the images in
    ``images.wide``). Returns the components, the seeding images (with the thresholds used) and
    the seeding resolution's ``(h', w')``.
    """
    ssub, tsub = seeding.ssub, seeding.tsub
    h, w = passes.dims
    init_dims = (-(-h // ssub), -(-w // ssub))
    n_init = -(-passes.T // tsub)
    # replay caches in the step's scratch folder (else the system's temporary folder); a compact (float16 or uint8)
    # movie was chosen to save disk, so the caches (as large as the float32 downsampled movie) are skipped
    expected = 4 * n_init * init_dims[0] * init_dims[1]
    cache = bool(seeding.seeding_cache) and passes.source.dtype == "float32"
    frames = ChunkCache(frames, passes.scratch_dir, expected, enabled=cache)
    try:
        return _seed_and_extract_cached(passes, frames, seeding, noise, border, max_new, exclude_centres,
                                        local_background, init_dims, n_init,
                                        None if frames.enabled else extraction_frames, wide_factor)
    finally:
        frames.close()


def _seed_and_extract_cached(
    passes: MoviePasses,
    frames: ChunkCache,
    seeding: SeedingOptions,
    noise: NoiseOptions,
    border,
    max_new: int | None,
    exclude_centres: np.ndarray | None,
    local_background: bool,
    init_dims: tuple[int, int],
    n_init: int,
    extraction_frames: ExtractionFrames | None = None,
    wide_factor: float | None = None,
) -> tuple[InitialComponents, Any, tuple[int, int]]:
    """Body of :func:`_seed_and_extract`: seeding images (two passes) and extraction (one pass)."""
    ssub = seeding.ssub
    g_sig, g_siz = _init_geometry(seeding.gSig, seeding.gSiz, ssub)
    auto = is_auto(seeding.min_corr) or is_auto(seeding.min_pnr)
    images = correlation_pnr_images(frames, init_dims, g_sig, g_siz, seeding.center_psf, noise.noise_range,
                                    noise.noise_method, n_init, passes.threads, frames.folder, cache=frames.enabled,
                                    null_images=auto)
    exclude = None
    if exclude_centres is not None and len(exclude_centres):
        exclude = np.zeros(init_dims, bool)
        rad = max(1, int(round(min(g_sig))))
        for r, c in np.asarray(exclude_centres) / ssub:
            if np.isfinite(r):
                r, c = int(round(r)), int(round(c))
                exclude[max(0, r - rad):r + rad + 1, max(0, c - rad):c + rad + 1] = True
    border_init = tuple(int(np.ceil(b / ssub)) for b in ((border,) * 4 if np.isscalar(border) else border))
    images.thresholds = resolve_thresholds(seeding.min_corr, seeding.min_pnr, images, gSig=g_sig, gSiz=g_siz,
                                           false_seed_rate=seeding.seed_false_rate,
                                           eligible=seed_mask(init_dims, border_init))
    if auto:
        logger.info("%s: seeding thresholds %s", passes.label, images.thresholds.as_dict())
        for warning in images.thresholds.warnings:
            logger.warning("%s: seeding thresholds: %s", passes.label, warning)
        for note in images.thresholds.notes:
            logger.info("%s: seeding thresholds: %s", passes.label, note)
    seeds = find_seeds(images.cn, images.pnr, images.thresholds.min_corr, images.thresholds.min_pnr, g_sig, border_init,
                       max_new, exclude)
    images.seeds = seeds
    geometries = [(seeds, g_sig, g_siz, images.mean)]
    if wide_factor is not None:
        images.wide = _wide_seeding_images(frames, seeding, noise, passes, init_dims, n_init, g_sig, g_siz, wide_factor,
                                           border_init)
        taken = near_seeds(init_dims, seeds, 2.0 * max(g_sig))
        if exclude is not None:
            taken |= exclude
        room = None if max_new is None else max(0, int(max_new) - len(seeds))
        wide = images.wide
        wide_seeds = (np.zeros((0, 2), np.int64) if room == 0 else
                      find_seeds(wide.cn, wide.pnr, wide.thresholds.min_corr, wide.thresholds.min_pnr, wide.gSig,
                                 border_init, None, taken))
        wide_seeds, wide.n_broad = _without_broad_seeds(wide, wide_seeds, g_sig, g_siz, wide_factor, seeding)
        wide.seeds = wide_seeds = wide_seeds[:room]
        logger.info("%s: %d more seeds at the wide scale (gSig x %g)%s", passes.label, len(wide_seeds), wide_factor,
                    f"; {wide.n_broad} on glow broader than its cells left out" if seeding.wide_cell_peaks else "")
        geometries.append((wide_seeds, wide.gSig, wide.gSiz, wide.mean))
    geometries = [g for g in geometries if len(g[0])]
    if not geometries:  # nothing to extract: no pass
        return (extract_components(lambda: iter(()), init_dims, seeds, g_sig, g_siz, seeding.center_psf, n_init,
                                   images.mean, local_background), images, init_dims)
    if extraction_frames is not None:
        pixels = np.logical_or.reduce([extraction_pixels(init_dims, s, siz) for s, _, siz, _ in geometries])
        frames = extraction_frames(_full_resolution_rows(pixels, passes.dims, ssub))
    comps = None
    for scale_seeds, scale_sig, scale_siz, scale_mean in geometries:  # one extraction pass per scale
        found = extract_components(frames, init_dims, scale_seeds, scale_sig, scale_siz, seeding.center_psf, n_init,
                                   scale_mean, local_background)
        comps = found if comps is None else join_components(comps, found)
    return comps, images, init_dims


def _without_broad_seeds(wide, seeds: np.ndarray, g_sig, g_siz, factor: float,
                         seeding: SeedingOptions) -> tuple[np.ndarray, int]:
    """The wide scale's ``seeds`` without those on glow broader than its cells (:func:`.wide_seeding.broad_seeds`)."""
    loc = wide.thresholds.gumbel_loc
    if not seeding.wide_cell_peaks or loc is None or not len(seeds):
        return seeds, 0
    broad = broad_seeds(wide.pnr, loc, seeds, g_sig, g_siz, factor, seeding.center_psf)
    return seeds[~broad], int(broad.sum())


def _wide_seeding_images(frames, seeding: SeedingOptions, noise: NoiseOptions, passes: MoviePasses, init_dims, n_init,
                         g_sig, g_siz, factor: float, border_init):
    """The seeding images at the wide scale (:mod:`.wide_seeding`), with thresholds calibrated on their own null."""
    w_sig, w_siz = wide_geometry(g_sig, g_siz, factor)
    b = wide_bin(w_sig, seeding.wide_seeding_ssub)  # on b x b blocks, interpolated back (:mod:`.binned_seeding`)
    wide = binned_correlation_pnr_images(frames, init_dims, w_sig, w_siz, b, seeding.center_psf, noise.noise_range,
                                         noise.noise_method, n_init, passes.threads, frames.folder,
                                         cache=frames.enabled, null_images=True)
    wide.gSig, wide.gSiz = w_sig, w_siz
    if b > 1:
        logger.info("%s: wide seeding scale's images on %dx%d blocks", passes.label, b, b)
    wide.thresholds = resolve_thresholds(AUTO, AUTO, wide, gSig=w_sig, gSiz=w_siz,
                                         false_seed_rate=seeding.seed_false_rate,
                                         eligible=seed_mask(init_dims, border_init))
    logger.info("%s: wide seeding scale (gSig %s): thresholds %s", passes.label, w_sig, wide.thresholds.as_dict())
    for warning in wide.thresholds.warnings:
        logger.info("%s: wide seeding thresholds: %s", passes.label, warning)
    return wide


def _to_full_resolution(comps: InitialComponents, init_dims, dims, ssub: int, tsub: int, n_frames: int):
    """Footprints (csc, unit norm) and traces ``(K, T)`` at full resolution."""
    h, w = dims
    K = len(comps.footprints)
    if K == 0:
        return scipy.sparse.csc_matrix((h * w, 0), dtype=np.float32), np.zeros((0, n_frames), np.float32)
    cols = []
    traces = np.empty((K, n_frames), np.float32)  # filled row by row: no list of K rows beside the array
    for k, (idx, val) in enumerate(comps.footprints):
        if ssub > 1:
            img = np.zeros(init_dims, np.float32)
            img[idx % init_dims[0], idx // init_dims[0]] = val
            img = cv2.resize(img, (init_dims[1] * ssub, init_dims[0] * ssub), interpolation=cv2.INTER_LINEAR)[:h, :w]
            img = np.maximum(img, 0)
            flat = img.ravel(order="F")
            nz = np.flatnonzero(flat > 0)
            idx, val = nz, flat[nz]
        norm = float(np.sqrt(np.sum(val.astype(np.float64) ** 2)))
        cols.append((idx, val / norm))
        tr = comps.traces[k]
        if tsub > 1:
            tr = np.repeat(tr, tsub)[:n_frames]
        traces[k] = tr * norm
    indptr = np.cumsum([0] + [len(i) for i, _ in cols])
    A = scipy.sparse.csc_matrix(
        (np.concatenate([v for _, v in cols]).astype(np.float32), np.concatenate([i for i, _ in cols]), indptr),
        shape=(h * w, K),
    )
    return A, traces


def normalise_footprints(A: scipy.sparse.csc_matrix, C: np.ndarray) -> tuple[scipy.sparse.csc_matrix, np.ndarray]:
    """Unit-norm footprints (traces scaled to keep ``A C``); drops empty components."""
    A = scipy.sparse.csc_matrix(A, dtype=np.float32)
    norms = np.sqrt(np.asarray(A.multiply(A).sum(axis=0)).ravel())
    keep = norms > 0
    A = A[:, np.flatnonzero(keep)]
    norms = norms[keep]
    A = scipy.sparse.csc_matrix(A @ scipy.sparse.diags(1.0 / norms).astype(np.float32), copy=True)
    A.sort_indices()
    return A, _scaled_rows(np.asarray(C), np.flatnonzero(keep), norms)


#: Bytes of traces :func:`_scaled_rows` scales at a time.
_ROW_BLOCK_BYTES = 32 * 2**20


def _scaled_rows(C: np.ndarray, rows: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """``(C[rows] * scale[:, None]).astype(np.float32)`` formed by blocks of rows, ``(len(rows), T)`` float32.

    The same products, rounded the same way, without the whole selection and the whole product as two more
    ``K x T`` arrays beside ``C`` and the result.
    """
    out = np.empty((len(rows), C.shape[1]), np.float32)
    step = max(1, _ROW_BLOCK_BYTES // (8 * max(1, C.shape[1])))
    for r0 in range(0, len(rows), step):
        out[r0:r0 + step] = C[rows[r0:r0 + step]] * scale[r0:r0 + step, None]
    return out


def constant_background(pixel_mean: np.ndarray, A, C) -> np.ndarray:
    """``b0`` (P,), float32: each pixel's mean minus the neurons' mean contribution ``A @ mean(C)``."""
    if A.shape[1] == 0:
        return pixel_mean.copy()
    return (pixel_mean - np.asarray(A @ C.mean(axis=1)).ravel()).astype(np.float32)


def _spatial_update(passes: MoviePasses, state: ModelState, pixel_mean: np.ndarray, *, gSig, gSiz) -> ModelState:
    """Footprints re-fitted (HALS) on supports bounded by ``gSig`` / ``gSiz``, then ``b0`` (one pass)."""
    if state.A.shape[1] == 0:
        return state
    supports = footprint_supports(state.A, passes.dims, gSig, gSiz)
    U, V = passes.spatial_stats(state, supports)
    A = state.A
    values = hals_footprints(supports, U, V, values_on_supports(A, supports), n_iter=5)
    cols = [clean_footprint(s, v, passes.dims) for s, v in zip(supports, values)]
    indptr = np.cumsum([0] + [len(i) for i, _ in cols])
    A_new = scipy.sparse.csc_matrix(
        (np.concatenate([v for _, v in cols] or [np.zeros(0, np.float32)]).astype(np.float32),
         np.concatenate([i for i, _ in cols] or [np.zeros(0, np.int64)]), indptr),
        shape=A.shape,
    )
    A_new, C_new = normalise_footprints(A_new, state.C)
    return ModelState(A_new, C_new, constant_background(pixel_mean, A_new, C_new), state.W, None)


def temporal_update(
    passes: MoviePasses,
    state: ModelState,
    *,
    frame_rate: float,
    temporal: TemporalOptions,
    noise: NoiseOptions,
    trace_pool: TracePool | None = None,
    consume_state: bool = False,
) -> ModelState:
    """One temporal update of ``state``: traces re-fitted to the movie and deconvolved (OASIS), in one streaming pass.

    ``frame_rate`` (Hz) turns ``temporal.decay_time`` (s) into frames; ``trace_pool``'s processes, when given,
    share the traces' denoising (the same results). ``consume_state``: the caller replaces ``state`` by the
    result, so ``state``'s traces are released (:meth:`.passes.ModelState.release_traces`) once copied into the
    update's float64 working array: one ``K x T`` float32 array less alive during the update.
    """
    K = state.A.shape[1]
    if K == 0:
        return state
    if consume_state:  # the traces in a scratch file during the pass, read back as the float64 working traces
        with _traces_on_disk(passes, state):
            YA = passes.temporal_stats(state)
            C = state.trace_file.read(np.float64)  # the update's working traces (update_traces' own copy, made here)
    else:
        YA = passes.temporal_stats(state)
        C = np.array(state.C, np.float64)
    AA = (state.A.T @ state.A).toarray()
    decay_frames = float(temporal.decay_time) * float(frame_rate)
    pool = None if trace_pool is None or K < 2 * (trace_pool.workers + 1) else trace_pool.get()
    # YrA in YA's memory, the float32 traces in C's
    res = update_traces(YA, AA, C, int(temporal.p), decay_frames, temporal.bas_nonneg, temporal.s_min,
                        noise.noise_range, noise.noise_method, pool=pool, overwrite_YA=True, overwrite_C=True)
    del C
    # the constant per pixel absorbs the traces' baselines: keep b0 = mean(Y - A C)
    return ModelState(state.A, res.C, constant_background(passes.pixel_mean, state.A, res.C), state.W, res)


@contextmanager
def _traces_on_disk(passes: MoviePasses, state: ModelState) -> Iterator[None]:
    """``state``'s traces in a scratch file (:class:`.trace_spill.TraceFile`, in ``passes.scratch_dir``) while the
    block runs: ``state.C`` released (:meth:`.passes.ModelState.release_traces`) and read a chunk at a time by the
    passes (:meth:`.passes.ModelState.columns`); the file removed after. The caller gives ``state`` up or restores
    ``state.C`` from ``state.trace_file`` inside the block."""
    with TraceFile(state.C, passes.scratch_dir) as spilled:
        state.release_traces()
        state.trace_file = spilled
        try:
            yield
        finally:
            state.trace_file = None


def _fit_background_on_disk(passes: MoviePasses, state: ModelState) -> scipy.sparse.csr_matrix:
    """:meth:`.passes.MoviePasses.fit_background` of ``state`` with its traces in a scratch file during the pass
    (one ``K x T`` array less beside the chunks), read back into ``state.C`` after: the same weights and traces."""
    with _traces_on_disk(passes, state):
        W = passes.fit_background(state)
        state.C = state.trace_file.read(np.float32)
    return W


def _drop_silent(state: ModelState) -> ModelState:
    """Remove components whose trace is identically zero."""
    if state.A.shape[1] == 0:
        return state
    C = state.C  # a nonzero in the row: its largest above 0 or its smallest below (no K x T array of |C|)
    return _keep_components(state, np.flatnonzero((C.max(axis=1) > 0) | (C.min(axis=1) < 0)))


def _drop_oversized(state: ModelState, dims: tuple[int, int], seeding: SeedingOptions, pixel_mean: np.ndarray,
                    soma_seeds: np.ndarray | None) -> tuple[ModelState, int]:
    """With a wide seeding scale, remove the components broader than its cells (:mod:`.wide_seeding`); how many.

    Only components found by the wide scale are judged: those whose centre lies farther than ``2 gSig`` from every
    seed of the soma-sized filter (``soma_seeds``, ``(n, 2)`` full-resolution ``(row, col)``; None: judge none).
    A broad cell that the soma-sized filter seeded is kept, as without the wide scale.
    """
    if seeding.wide_seeding is None or soma_seeds is None or state.A.shape[1] == 0:
        return state, 0
    broad = oversized_components(state.A, dims, seeding.gSig, seeding.wide_seeding)
    if broad.size and len(soma_seeds):
        centres = centroids(state.A[:, broad], dims)
        distance = np.hypot(*(centres[:, None, :] - np.asarray(soma_seeds, float)[None]).transpose(2, 0, 1))
        broad = broad[distance.min(axis=1) > 2.0 * max(seeding.gSig)]
    if not broad.size:
        return state, 0
    state = _keep_components(state, np.setdiff1d(np.arange(state.A.shape[1]), broad))
    return ModelState(state.A, state.C, constant_background(pixel_mean, state.A, state.C), state.W,
                      state.traces), int(broad.size)


def _keep_components(state: ModelState, keep: np.ndarray) -> ModelState:
    """``state`` with the components ``keep`` only (footprints, traces and the temporal update's results)."""
    if keep.size == state.A.shape[1]:
        return state
    tr = state.traces
    if tr is not None:
        shared = tr.C is state.C  # the temporal update's traces are the state's: kept as one array, not two
        tr = TraceResult(*(getattr(tr, f)[keep] for f in ("C", "S", "YrA", "bl", "c1", "g", "lam", "neurons_sn")))
        if shared:
            return ModelState(scipy.sparse.csc_matrix(state.A[:, keep]), tr.C, state.b0, state.W, tr)
    return ModelState(scipy.sparse.csc_matrix(state.A[:, keep]), state.C[keep], state.b0, state.W, tr)


def refine(
    passes: MoviePasses,
    state: ModelState,
    pixel_mean: np.ndarray,
    options: CnmfeOptions,
    *,
    frame_rate: float,
    n_rounds: int,
    border: int,
    residual_seeding: bool,
    log: logging.Logger,
    label: str,
    info: dict | None = None,
    trace_pool: TracePool | None = None,
    soma_seeds: np.ndarray | None = None,
    consume_state: bool = False,
) -> ModelState:
    """Rounds of spatial update, background re-fit, temporal update and merging.

    Parameters
    ----------
    passes : MoviePasses
        Passes over the region (``passes.pixel_mean`` set).
    state : ModelState
    pixel_mean : ndarray (n,) float32
    options : CnmfeOptions
        Seeding (residual seeding, footprint supports), background,
        temporal, noise and merging options.
    frame_rate : float
        Hz.
    n_rounds : int
    border : int or (top, bottom, left, right)
        Seeding border, pixels.
    residual_seeding : bool
        Seed the residual movie again after the first round.
    log : logging.Logger
    label : str
        Prefix of log lines.
    info : dict, optional
        Receives ``seeding_thresholds_residual`` (the residual pass's thresholds) and, with ``wide_seeding``,
        ``broad_components_removed`` (components broader than the wide scale's cells, :mod:`.wide_seeding`).
    trace_pool : TracePool, optional
        Processes that share the temporal updates' denoising (:func:`temporal_update`).
    soma_seeds : ndarray, shape (n, 2), optional
        Full-resolution ``(row, col)`` of the soma-sized filter's seeds; with ``wide_seeding``, components far
        from all of them (the wide scale's) and broader than its cells are removed (:func:`_drop_oversized`;
        the residual pass's seeds are added). None: no component is removed for its size.
    consume_state : bool
        The caller replaces ``state`` by the result: its traces are released after the first spatial update
        (:meth:`.passes.ModelState.release_traces`), not kept alive through the rounds by the caller's name.
    """
    seeding, merging = options.seeding, options.merging
    n_rounds = int(n_rounds)
    for it in range(n_rounds):
        previous = state
        state = _spatial_update(passes, state, pixel_mean, gSig=seeding.gSig, gSiz=seeding.gSiz)
        if state is not previous and (it > 0 or consume_state):
            previous.release_traces()
        del previous
        if options.background.update_background_components:
            state.W = _fit_background_on_disk(passes, state)
        state = temporal_update(passes, state, frame_rate=frame_rate, temporal=options.temporal, noise=options.noise,
                                trace_pool=trace_pool, consume_state=True)
        state = _drop_silent(state)
        if it < n_rounds - 1:  # S and YrA are the last round's only: the next spatial update drops them
            state = ModelState(state.A, state.C, state.b0, state.W, None)
        n_before = state.A.shape[1]
        A, C, groups = merge_components(state.A, state.C, merging.merge_thr, 0.7 if merging.del_duplicates else None,
                                        passes.dims)
        if groups:
            A, C = normalise_footprints(A, C)
            state = ModelState(A, C, constant_background(pixel_mean, A, C), state.W, None)
        state, n_broad = _drop_oversized(state, passes.dims, seeding, pixel_mean, soma_seeds)
        if info is not None and seeding.wide_seeding is not None:
            info["broad_components_removed"] = info.get("broad_components_removed", 0) + n_broad
        log.info("%s: round %d: %d components, %d merged into %d, %d broader than the wide seeding scale's cells removed",
                 label, it + 1, state.A.shape[1], sum(len(g) for g in groups), len(groups), n_broad)
        if it == 0 and residual_seeding:
            max_new = None
            if seeding.K is not None:
                max_new = max(0, int(seeding.K) - state.A.shape[1])
            if max_new != 0:
                comps, residual_images, init_dims = _seed_and_extract(
                    passes, passes.residual_frames(state), seeding, options.noise, border=border, max_new=max_new,
                    exclude_centres=centroids(state.A, passes.dims), local_background=False,
                    extraction_frames=residual_extraction_frames(passes, state),
                )
                A_new, C_new = _to_full_resolution(comps, init_dims, passes.dims, seeding.ssub, seeding.tsub, passes.T)
                log.info("%s: %d more components seeded on the residual", label, A_new.shape[1])
                if info is not None:
                    info["seeding_thresholds_residual"] = residual_images.thresholds.as_dict()
                if soma_seeds is not None and residual_images.seeds is not None:
                    soma_seeds = np.concatenate([soma_seeds, residual_images.seeds * seeding.ssub])
                if A_new.shape[1]:
                    A = scipy.sparse.hstack([state.A, A_new], format="csc")
                    C = np.concatenate([state.C, C_new], axis=0)
                    state = ModelState(A, C, constant_background(pixel_mean, A, C), state.W, None)
                del comps, C_new  # not kept alive through the next round (K x T arrays)
        del A, C  # the merge's (or the concatenation's) references: the state holds what is kept
        del n_before
    if state.traces is None and state.A.shape[1]:
        state = temporal_update(passes, state, frame_rate=frame_rate, temporal=options.temporal, noise=options.noise,
                                trace_pool=trace_pool, consume_state=True)
        state = _drop_silent(state)
    return state


def fit_region(
    source: MovieSource,
    options: CnmfeOptions,
    *,
    frame_rate: float,
    border=0,
    refine_rounds: int | None = None,
    log: logging.Logger | None = None,
    label: str = "cnmfe",
    threads: int = 1,
    scratch_dir: str | os.PathLike | None = None,
) -> RegionFit:
    """CNMF-E on one region of the movie.

    Parameters
    ----------
    source : MovieSource
        The region (whole frame or a patch).
    options : CnmfeOptions
        Checked parameters (:meth:`ace_neuro.cnmfe.params.CnmfeOptions.from_params`).
    frame_rate : float
        Frames per second (for ``decay_time``).
    border : int or (top, bottom, left, right)
        Pixels at the region's edges where no seed is placed.
    refine_rounds : int, optional
        Rounds of refinement; default ``options.n_refine_iter``.
    log : logging.Logger, optional
    label : str
        Prefix of log lines.
    threads : int
        Threads for the frame filtering and FFTs, and processes for the traces' denoising (patch workers use 1).
    scratch_dir : path-like, optional
        Folder of the seeding replay caches (``2 / (tsub ssub^2)`` of the float32
        movie's size; skipped when it lacks room or the movie is float16 or uint8);
        the system's temporary folder by default.

    Returns
    -------
    RegionFit
    """
    log = log or logger
    options = resolve_tsub(options, frame_rate)  # tsub auto: the frames of 0.1 s
    seeding, noise = options.seeding, options.noise
    source = detrended_source(source, options, threads, log)
    passes = movie_passes(source, options, threads)
    passes.label = label
    # the trace workers start now, beside the seeding: their interpreters and imports (OASIS, SciPy: ~1 CPU s each)
    # are ready by the first trace update, which waited for them
    trace_pool = TracePool(passes.threads - 1)
    trace_pool.start()
    passes.scratch_dir = None if scratch_dir is None else os.fspath(scratch_dir)
    stats = PixelStats(passes.dims, passes.T, noise_range=noise.noise_range, noise_method=noise.noise_method,
                       threads=passes.threads)
    comps, images, init_dims = _seed_and_extract(passes, passes.init_frames(stats), seeding, noise, border=border,
                                                 max_new=seeding.K, exclude_centres=None, local_background=True,
                                                 extraction_frames=movie_extraction_frames(passes),
                                                 wide_factor=seeding.wide_seeding)
    pixel_mean, sn = stats.result()  # accumulated during the first seeding pass
    passes.pixel_mean = pixel_mean
    A, C = _to_full_resolution(comps, init_dims, passes.dims, seeding.ssub, seeding.tsub, passes.T)
    log.info("%s: %d components initialised", label, A.shape[1])
    state = ModelState(A, C, constant_background(pixel_mean, A, C), None, None)
    del C, comps  # the initial traces live on in the state only, freed when the refinement replaces them
    state.W = _fit_background_on_disk(passes, state)
    rounds = int(options.n_refine_iter) if refine_rounds is None else int(refine_rounds)
    info: dict = {}
    # OASIS holds the interpreter: this process and threads - 1 others share the traces' denoising
    with trace_pool:
        if options.only_init or rounds == 0:
            if A.shape[1]:
                state = temporal_update(passes, state, frame_rate=frame_rate, temporal=options.temporal, noise=noise,
                                        trace_pool=trace_pool, consume_state=True)
        else:
            state = refine(passes, state, pixel_mean, options, frame_rate=frame_rate, n_rounds=rounds, border=border,
                           residual_seeding=options.residual_seeding, log=log, label=label, info=info,
                           trace_pool=trace_pool, soma_seeds=np.asarray(images.seeds, float) * seeding.ssub,
                           consume_state=True)  # the initial traces (K_init x T) freed after the first spatial update
    cn, pnr = images.cn, images.pnr
    info = {"n_init": int(A.shape[1]), "seeding_thresholds": images.thresholds.as_dict(), **info}
    if images.wide is not None:
        info["seeding_thresholds_wide"] = {"gSig": images.wide.gSig, "gSiz": images.wide.gSiz,
                                           "n_seeds": int(len(images.wide.seeds)),
                                           "n_broad_seeds_left_out": int(getattr(images.wide, "n_broad", 0)),
                                           **images.wide.thresholds.as_dict()}
    if seeding.ssub > 1:
        h, w = passes.dims
        cn = cv2.resize(cn, (w, h), interpolation=cv2.INTER_LINEAR)
        pnr = cv2.resize(pnr, (w, h), interpolation=cv2.INTER_LINEAR)
    return RegionFit(passes.dims, state, sn, pixel_mean, cn, pnr, info, source.trend)
