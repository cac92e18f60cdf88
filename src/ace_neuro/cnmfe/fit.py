"""CNMF-E on one rectangle of the movie, every step streamed over chunks of frames.

:func:`fit_region` runs the whole algorithm on a :class:`~.reader.MovieSource`
(the whole field of view, or one patch): seeding and initialisation
(:mod:`.init`, on the ``ssub``/``tsub``-downsampled movie), the ring-model
background (:mod:`.background`), then rounds of spatial update
(:mod:`.spatial`), background re-fit, temporal update with deconvolution
(:mod:`.temporal`), and merging (:mod:`.merge`); after the first round the
residual movie is seeded again for neurons the first pass missed.

Each step reads the movie once, chunk by chunk; what is held in memory is one
chunk (its size set by ``cnmfe_chunk_mb``), per-pixel sums, the sparse
footprints and the ``K x T`` traces. Nothing else grows with the number of
frames.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import cv2
import numpy as np
import scipy.sparse

from ..progress import Progress
from .background import Downsampler, RingStats, ring_radius
from .estimates import decimation_matrix
from .filters import downsample_frames
from .init import InitialComponents, correlation_pnr_images, extract_components, find_seeds, seed_mask
from .merge import merge_components
from .noise import WelchNoise
from .reader import ChunkCache, MovieSource, pixels_to_frames
from .spatial import centroids, clean_footprint, footprint_supports, hals_footprints
from .temporal import TraceResult, update_traces
from .thresholds import is_auto, resolve_thresholds

__all__ = [
    "RegionFit",
    "fit_region",
    "refine",
    "ModelState",
    "MoviePasses",
    "normalise_footprints",
    "constant_background",
    "temporal_update",
]

logger = logging.getLogger(__name__)


@dataclass
class ModelState:
    """Current CNMF-E model of a region: ``Y ~ A C + W (Y - A C - b0) + b0``.

    Attributes
    ----------
    A : csc_matrix (n, K) float32, unit-norm columns
    C : ndarray (K, T) float32
    b0 : ndarray (n,) float32
    W : csr_matrix (P_B, P_B) or None
    """

    A: scipy.sparse.csc_matrix
    C: np.ndarray
    b0: np.ndarray
    W: scipy.sparse.csr_matrix | None = None
    traces: TraceResult | None = None


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


class MoviePasses:
    """Streaming passes over one source with fixed parameters."""

    def __init__(self, source: MovieSource, params: dict[str, Any], threads: int = 1) -> None:
        self.source = source
        self.params = params
        self.threads = max(1, int(threads))
        self.dims = source.dims
        self.n = source.n_pixels
        self.T = source.n_frames
        self.chunk = source.chunk_frames(float(params["cnmfe_chunk_mb"]))
        self.down = Downsampler(self.dims, int(params["ssub_B"]))
        self.pixel_mean: np.ndarray | None = None
        self.label = "cnmfe"
        self.scratch_dir: str | None = None  # where the seeding replay caches go (None: system temp folder)
        self._decimation: scipy.sparse.csr_matrix | None = None

    def raw_chunks(self, step: int = 1, label: str = "pass") -> Iterator[tuple[int, int, np.ndarray]]:
        """``(t0, t1, Y)`` with ``Y`` of shape ``(n_pixels, t1 - t0)``; progress is logged."""
        progress = Progress(self.T, f"{self.label} {label}", logger, interval_s=30.0)
        for t0, t1 in self.source.chunks(self.chunk, step):
            yield t0, t1, self.source.read(t0, t1)
            progress.update(t1 - t0)

    # ----------------------------------------------------------------- model pieces per chunk
    def residual_chunk(self, state: ModelState, y: np.ndarray, t0: int, t1: int) -> np.ndarray:
        """``X = Y - A C - b0`` for frames ``t0:t1``, ``(n, L)`` (a new array)."""
        x = y - state.b0[:, None]
        if state.A.shape[1]:
            x -= np.asarray(state.A @ state.C[:, t0:t1], dtype=np.float32)
        return x

    def mean_residual_chunk(self, state: ModelState, y: np.ndarray, t0: int, t1: int, tsub: int) -> np.ndarray:
        """``X = Y - A C - b0`` averaged over consecutive groups of ``tsub`` frames, ``(n, ceil(L / tsub))``.

        The last group may be shorter (as :func:`.filters.downsample_frames`).
        """
        if tsub == 1:
            return self.residual_chunk(state, y, t0, t1)
        x = _time_mean(y, tsub)
        x -= state.b0[:, None]
        if state.A.shape[1]:
            x -= np.asarray(state.A @ _time_mean(state.C[:, t0:t1], tsub), dtype=np.float32)
        return x

    def low_model(self, state: ModelState) -> tuple[scipy.sparse.csr_matrix, np.ndarray]:
        """Footprints and constant at ring resolution, ``D A`` ``(P_B, K)`` and ``D b0`` ``(P_B,)``."""
        if self._decimation is None:
            self._decimation = decimation_matrix(self.dims, int(self.params["ssub_B"]))
        D = self._decimation
        return scipy.sparse.csr_matrix(D @ state.A, dtype=np.float32), np.asarray(D @ state.b0, np.float32)

    def low_residual(self, state: ModelState, y: np.ndarray, C: np.ndarray, low_model) -> np.ndarray:
        """``D (Y - A C - b0) = D Y - (D A) C - D b0`` at ring resolution, ``(P_B, L)``.

        ``C`` holds the traces of the frames of ``y``; the model is reduced
        first, so no full-resolution ``A C`` is formed.
        """
        A_low, b0_low = low_model
        x = self.down.to_low(y) - b0_low[:, None]  # a new array (to_low returns y itself when ssub_B is 1)
        if A_low.shape[1]:
            x -= np.asarray(A_low @ C, dtype=np.float32)
        return x

    def background_chunk(self, state: ModelState, y: np.ndarray, t0: int, t1: int, low_model=None) -> np.ndarray:
        """Ring-model background ``B = W X`` at full resolution, ``(n, L)`` (zeros without ``W``)."""
        if state.W is None:
            return np.zeros_like(y)
        low_model = low_model or self.low_model(state)
        x_low = self.low_residual(state, y, state.C[:, t0:t1], low_model)
        return self.down.to_full(np.asarray(state.W @ x_low, dtype=np.float32))

    def fit_background(self, state: ModelState) -> scipy.sparse.csr_matrix:
        """Ring weights for the current ``A, C, b0`` (one pass)."""
        p = self.params
        radius = ring_radius(p["gSiz"], p["ring_size_factor"], p["ssub_B"])
        stats = RingStats(self.down.low_dims, radius, self.threads)
        tsub = int(p["tsub"])
        low_model = self.low_model(state)
        for t0, t1, y in self.raw_chunks(tsub, "background"):
            # the background is slow: its weights are fitted on tsub-averaged frames (averaged first,
            # the residual being linear in the data and the traces)
            stats.update(self.low_residual(state, _time_mean(y, tsub), _time_mean(state.C[:, t0:t1], tsub), low_model))
        return stats.solve()

    def spatial_stats(self, state: ModelState, supports: list[np.ndarray]) -> tuple[list[np.ndarray], np.ndarray]:
        """``U`` on the supports and ``V`` for the spatial update (one pass)."""
        K = state.A.shape[1]
        cmean = state.C.mean(axis=1, keepdims=True)
        U = [np.zeros(s.size, np.float64) for s in supports]
        V = np.zeros((K, K), np.float64)
        low_model = self.low_model(state) if state.W is not None else None
        for t0, t1, y in self.raw_chunks(1, "spatial update"):
            yres = y
            yres -= self.background_chunk(state, y, t0, t1, low_model)
            cc = (state.C[:, t0:t1] - cmean).astype(np.float32)
            V += cc.astype(np.float64) @ cc.T.astype(np.float64)
            for k, s in enumerate(supports):
                if s.size:
                    U[k] += yres[s] @ cc[k]
        return U, V

    def temporal_stats(self, state: ModelState) -> np.ndarray:
        """``YA = A^T (Y - B - b0)``, ``(K, T)`` (one pass)."""
        K = state.A.shape[1]
        YA = np.zeros((K, self.T), np.float32)
        At = scipy.sparse.csr_matrix(state.A.T)
        low_model = self.low_model(state) if state.W is not None else None
        for t0, t1, y in self.raw_chunks(1, "temporal update"):
            b = self.background_chunk(state, y, t0, t1, low_model)
            y -= b
            y -= state.b0[:, None]
            YA[:, t0:t1] = np.asarray(At @ y, dtype=np.float32)
        return YA

    def residual_frames(self, state: ModelState) -> Callable[[], Iterator[np.ndarray]]:
        """Factory of ``(L, h', w')`` chunks of the residual ``Y - A C - B - b0`` at init resolution."""
        p = self.params

        def gen():
            tsub = int(p["tsub"])
            for t0, t1, y in self.raw_chunks(tsub, "residual seeding"):
                x = self.mean_residual_chunk(state, y, t0, t1, tsub)  # averaged over tsub first (linear)
                if state.W is not None:
                    x -= self.down.to_full(np.asarray(state.W @ self.down.to_low(x), dtype=np.float32))
                yield downsample_frames(pixels_to_frames(x, self.dims), int(p["ssub"]), 1)

        return gen

    def init_frames(self, stats: "_PixelStats | None" = None) -> Callable[[], Iterator[np.ndarray]]:
        """Factory of ``(L, h', w')`` chunks of the movie at init resolution.

        If ``stats`` is given, the first iteration also feeds it every raw frame
        (the pixel statistics share the first seeding pass).
        """
        p = self.params
        feed = [stats]

        def gen():
            stats_now, feed[0] = feed[0], None
            progress = Progress(self.T, f"{self.label} seeding", logger, interval_s=30.0)
            tsub = int(p["tsub"])
            for t0, t1 in self.source.chunks(self.chunk, tsub):
                y = self.source.read(t0, t1)  # (n, L): one contiguous read of the block copy
                if stats_now is not None:
                    stats_now.update(y)
                if tsub > 1:  # average in time before changing the layout: half the data to transpose
                    y = _time_mean(y, tsub)
                yield downsample_frames(pixels_to_frames(y, self.dims), int(p["ssub"]), 1)
                progress.update(t1 - t0)

        return gen


def _time_mean(a: np.ndarray, tsub: int) -> np.ndarray:
    """Mean of ``(m, L)`` over consecutive groups of ``tsub`` columns (last group shorter), float32."""
    m, n = a.shape
    full = (n // tsub) * tsub
    out = np.empty((m, -(-n // tsub)), np.float32)
    out[:, :full // tsub] = a[:, :full].reshape(m, full // tsub, tsub).mean(axis=2, dtype=np.float32)
    if full < n:
        out[:, -1] = a[:, full:].mean(axis=1, dtype=np.float32)
    return out


class _PixelStats:
    """Streaming temporal mean and Welch noise of every pixel, fed ``(n, L)`` pixels-by-frames chunks."""

    def __init__(self, dims: tuple[int, int], n_frames: int, params: dict[str, Any], threads: int = 1) -> None:
        self.dims = dims
        self.n_frames = n_frames
        self.params = params
        self.threads = threads
        n = dims[0] * dims[1]
        self.welch = WelchNoise(n, min(256, n_frames), params["noise_range"], params["noise_method"], threads)
        self.total = np.zeros(n, np.float64)

    def update(self, pixels: np.ndarray) -> None:
        self.total += pixels.sum(axis=1, dtype=np.float64)
        self.welch.update(pixels)

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        """``(mean, noise)``, each ``(n,)`` float32 in the chunks' pixel order."""
        p = self.params
        welch = self.welch
        if welch.count == 0:
            rest = welch.leftover()
            welch = WelchNoise(rest.shape[0], rest.shape[1], p["noise_range"], p["noise_method"], self.threads)
            welch.update(rest)
        mean = (self.total / max(self.n_frames, 1)).astype(np.float32)
        return mean, welch.result().astype(np.float32)


def _init_geometry(params: dict) -> tuple[list[float], list[int]]:
    ssub = int(params["ssub"])
    g_sig = [max(1.0, float(g) / ssub) for g in params["gSig"]]
    g_siz = [max(3, int(round(g / ssub))) for g in params["gSiz"]]
    return g_sig, g_siz


def _seed_and_extract(
    passes: MoviePasses,
    frames: Callable[[], Iterator[np.ndarray]],
    border: int,
    max_new: int | None,
    exclude_centres: np.ndarray | None,
    local_background: bool,
) -> tuple[InitialComponents, Any, tuple[int, int]]:
    """Seed on the chunks given by ``frames`` and extract components; returns full-resolution components."""
    p = passes.params
    ssub, tsub = int(p["ssub"]), int(p["tsub"])
    h, w = passes.dims
    init_dims = (-(-h // ssub), -(-w // ssub))
    n_init = -(-passes.T // tsub)
    g_sig, g_siz = _init_geometry(p)
    # replay caches in the step's scratch folder (else the system's temporary folder); a compact (float16)
    # movie was chosen to save disk, so the caches (as large as the float32 downsampled movie) are skipped
    expected = 4 * n_init * init_dims[0] * init_dims[1]
    cache = bool(p.get("seeding_cache", True)) and passes.source.dtype == "float32"
    frames = ChunkCache(frames, passes.scratch_dir, expected, enabled=cache)
    try:
        return _seed_and_extract_cached(passes, frames, border, max_new, exclude_centres, local_background,
                                        init_dims, n_init, g_sig, g_siz)
    finally:
        frames.close()


def _seed_and_extract_cached(
    passes: MoviePasses,
    frames: ChunkCache,
    border,
    max_new: int | None,
    exclude_centres: np.ndarray | None,
    local_background: bool,
    init_dims: tuple[int, int],
    n_init: int,
    g_sig: list[float],
    g_siz: list[int],
) -> tuple[InitialComponents, Any, tuple[int, int]]:
    """Body of :func:`_seed_and_extract`: seeding images (two passes) and extraction (one pass)."""
    p = passes.params
    ssub = int(p["ssub"])
    auto = is_auto(p["min_corr"]) or is_auto(p["min_pnr"])
    images = correlation_pnr_images(frames, init_dims, g_sig, g_siz, p["center_psf"], p["noise_range"], p["noise_method"],
                                    n_init, passes.threads, frames.folder, cache=frames.enabled, null_images=auto)
    exclude = None
    if exclude_centres is not None and len(exclude_centres):
        exclude = np.zeros(init_dims, bool)
        rad = max(1, int(round(min(g_sig))))
        for r, c in np.asarray(exclude_centres) / ssub:
            if np.isfinite(r):
                r, c = int(round(r)), int(round(c))
                exclude[max(0, r - rad):r + rad + 1, max(0, c - rad):c + rad + 1] = True
    border_init = tuple(int(np.ceil(b / ssub)) for b in ((border,) * 4 if np.isscalar(border) else border))
    images.thresholds = resolve_thresholds(p["min_corr"], p["min_pnr"], images, gSig=g_sig, gSiz=g_siz,
                                           false_seed_rate=p["seed_false_rate"], eligible=seed_mask(init_dims, border_init))
    if auto:
        logger.info("%s: seeding thresholds %s", passes.label, images.thresholds.as_dict())
    seeds = find_seeds(images.cn, images.pnr, images.thresholds.min_corr, images.thresholds.min_pnr, g_sig, border_init,
                       max_new, exclude)
    comps = extract_components(frames, init_dims, seeds, g_sig, g_siz, p["center_psf"], n_init, images.mean,
                               local_background)
    return comps, images, init_dims


def _to_full_resolution(comps: InitialComponents, init_dims, dims, ssub: int, tsub: int, n_frames: int):
    """Footprints (csc, unit norm) and traces ``(K, T)`` at full resolution."""
    h, w = dims
    K = len(comps.footprints)
    if K == 0:
        return scipy.sparse.csc_matrix((h * w, 0), dtype=np.float32), np.zeros((0, n_frames), np.float32)
    cols, traces = [], []
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
        traces.append(tr * norm)
    indptr = np.cumsum([0] + [len(i) for i, _ in cols])
    A = scipy.sparse.csc_matrix(
        (np.concatenate([v for _, v in cols]).astype(np.float32), np.concatenate([i for i, _ in cols]), indptr),
        shape=(h * w, K),
    )
    return A, np.asarray(traces, np.float32)


def normalise_footprints(A: scipy.sparse.csc_matrix, C: np.ndarray) -> tuple[scipy.sparse.csc_matrix, np.ndarray]:
    """Unit-norm footprints (traces scaled to keep ``A C``); drops empty components."""
    A = scipy.sparse.csc_matrix(A, dtype=np.float32)
    norms = np.sqrt(np.asarray(A.multiply(A).sum(axis=0)).ravel())
    keep = norms > 0
    A = A[:, np.flatnonzero(keep)]
    norms = norms[keep]
    A = scipy.sparse.csc_matrix(A @ scipy.sparse.diags(1.0 / norms).astype(np.float32), copy=True)
    A.sort_indices()
    return A, (np.asarray(C)[keep] * norms[:, None]).astype(np.float32)


def constant_background(pixel_mean: np.ndarray, A, C) -> np.ndarray:
    """``b0`` (P,), float32: each pixel's mean minus the neurons' mean contribution ``A @ mean(C)``."""
    if A.shape[1] == 0:
        return pixel_mean.copy()
    return (pixel_mean - np.asarray(A @ C.mean(axis=1)).ravel()).astype(np.float32)


def _spatial_update(passes: MoviePasses, state: ModelState, pixel_mean: np.ndarray) -> ModelState:
    p = passes.params
    if state.A.shape[1] == 0:
        return state
    supports = footprint_supports(state.A, passes.dims, p["gSig"], p["gSiz"])
    U, V = passes.spatial_stats(state, supports)
    A = state.A
    initial = []
    for k, s in enumerate(supports):
        col = A[:, k].toarray().ravel()
        initial.append(col[s])
    values = hals_footprints(supports, U, V, initial, n_iter=5)
    cols = [clean_footprint(s, v, passes.dims) for s, v in zip(supports, values)]
    indptr = np.cumsum([0] + [len(i) for i, _ in cols])
    A_new = scipy.sparse.csc_matrix(
        (np.concatenate([v for _, v in cols] or [np.zeros(0, np.float32)]).astype(np.float32),
         np.concatenate([i for i, _ in cols] or [np.zeros(0, np.int64)]), indptr),
        shape=A.shape,
    )
    A_new, C_new = normalise_footprints(A_new, state.C)
    return ModelState(A_new, C_new, constant_background(pixel_mean, A_new, C_new), state.W, None)


def temporal_update(passes: MoviePasses, state: ModelState, frame_rate: float) -> ModelState:
    """One temporal update of ``state``: traces re-fitted to the movie and deconvolved (OASIS), in one streaming pass."""
    p = passes.params
    K = state.A.shape[1]
    if K == 0:
        return state
    YA = passes.temporal_stats(state)
    AA = (state.A.T @ state.A).toarray()
    decay_frames = float(p["decay_time"]) * float(frame_rate)
    res = update_traces(YA, AA, state.C, int(p["p"]), decay_frames, p["bas_nonneg"], p["s_min"], p["noise_range"], p["noise_method"])
    # the constant per pixel absorbs the traces' baselines: keep b0 = mean(Y - A C)
    return ModelState(state.A, res.C, constant_background(passes.pixel_mean, state.A, res.C), state.W, res)


def _drop_silent(state: ModelState) -> ModelState:
    """Remove components whose trace is identically zero."""
    if state.A.shape[1] == 0:
        return state
    keep = np.flatnonzero(np.abs(state.C).max(axis=1) > 0)
    if keep.size == state.A.shape[1]:
        return state
    tr = state.traces
    if tr is not None:
        tr = TraceResult(*(getattr(tr, f)[keep] for f in ("C", "S", "YrA", "bl", "c1", "g", "lam", "neurons_sn")))
    return ModelState(scipy.sparse.csc_matrix(state.A[:, keep]), state.C[keep], state.b0, state.W, tr)


def refine(
    passes: MoviePasses,
    state: ModelState,
    pixel_mean: np.ndarray,
    frame_rate: float,
    n_rounds: int,
    border: int,
    residual_seeding: bool,
    log: logging.Logger,
    label: str,
) -> ModelState:
    """Rounds of spatial update, background re-fit, temporal update and merging."""
    p = passes.params
    for it in range(int(n_rounds)):
        state = _spatial_update(passes, state, pixel_mean)
        if p["update_background_components"]:
            state.W = passes.fit_background(state)
        state = temporal_update(passes, state, frame_rate)
        state = _drop_silent(state)
        n_before = state.A.shape[1]
        A, C, groups = merge_components(state.A, state.C, p["merge_thr"], 0.7 if p["del_duplicates"] else None, passes.dims)
        if groups:
            A, C = normalise_footprints(A, C)
            state = ModelState(A, C, constant_background(pixel_mean, A, C), state.W, None)
        log.info("%s: round %d: %d components, %d merged into %d", label, it + 1, state.A.shape[1],
                 sum(len(g) for g in groups), len(groups))
        if it == 0 and residual_seeding:
            max_new = None
            if p["K"] is not None:
                max_new = max(0, int(p["K"]) - state.A.shape[1])
            if max_new != 0:
                comps, _, init_dims = _seed_and_extract(
                    passes, passes.residual_frames(state), border, max_new, centroids(state.A, passes.dims), False
                )
                A_new, C_new = _to_full_resolution(comps, init_dims, passes.dims, int(p["ssub"]), int(p["tsub"]), passes.T)
                log.info("%s: %d more components seeded on the residual", label, A_new.shape[1])
                if A_new.shape[1]:
                    A = scipy.sparse.hstack([state.A, A_new], format="csc")
                    C = np.concatenate([state.C, C_new], axis=0)
                    state = ModelState(A, C, constant_background(pixel_mean, A, C), state.W, None)
        del n_before
    if state.traces is None and state.A.shape[1]:
        state = temporal_update(passes, state, frame_rate)
        state = _drop_silent(state)
    return state


def fit_region(
    source: MovieSource,
    params: dict[str, Any],
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
    params : dict
        Checked parameters (:func:`ace_neuro.cnmfe.params.check_params`).
    frame_rate : float
        Frames per second (for ``decay_time``).
    border : int or (top, bottom, left, right)
        Pixels at the region's edges where no seed is placed.
    refine_rounds : int, optional
        Rounds of refinement; default ``params["n_refine_iter"]``.
    log : logging.Logger, optional
    label : str
        Prefix of log lines.
    threads : int
        Threads for the frame filtering and FFTs (patch workers use 1).
    scratch_dir : path-like, optional
        Folder of the seeding replay caches (``2 / (tsub ssub^2)`` of the float32
        movie's size; skipped when it lacks room or the movie is float16);
        the system's temporary folder by default.

    Returns
    -------
    RegionFit
    """
    log = log or logger
    p = params
    passes = MoviePasses(source, p, threads)
    passes.label = label
    passes.scratch_dir = None if scratch_dir is None else os.fspath(scratch_dir)
    stats = _PixelStats(passes.dims, passes.T, p, passes.threads)
    comps, images, init_dims = _seed_and_extract(passes, passes.init_frames(stats), border, p["K"], None, True)
    pixel_mean, sn = stats.result()  # accumulated during the first seeding pass
    passes.pixel_mean = pixel_mean
    A, C = _to_full_resolution(comps, init_dims, passes.dims, int(p["ssub"]), int(p["tsub"]), passes.T)
    log.info("%s: %d components initialised", label, A.shape[1])
    state = ModelState(A, C, constant_background(pixel_mean, A, C), None, None)
    state.W = passes.fit_background(state)
    rounds = int(p["n_refine_iter"]) if refine_rounds is None else int(refine_rounds)
    if p["only_init"] or rounds == 0:
        if A.shape[1]:
            state = temporal_update(passes, state, frame_rate)
    else:
        state = refine(passes, state, pixel_mean, frame_rate, rounds, border, p["residual_seeding"], log, label)
    cn, pnr = images.cn, images.pnr
    if int(p["ssub"]) > 1:
        h, w = passes.dims
        cn = cv2.resize(cn, (w, h), interpolation=cv2.INTER_LINEAR)
        pnr = cv2.resize(pnr, (w, h), interpolation=cv2.INTER_LINEAR)
    return RegionFit(passes.dims, state, sn, pixel_mean, cn, pnr,
                     {"n_init": int(A.shape[1]), "seeding_thresholds": images.thresholds.as_dict()})
