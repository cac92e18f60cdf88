"""Streaming passes over one region of the movie: what every CNMF-E step reads, chunk by chunk.

:class:`MoviePasses` reads a :class:`~.reader.MovieSource` in chunks of frames
(sized by a memory budget) and forms, per chunk, what the steps of
:mod:`.fit` need: the residual ``Y - A C - b0``, the ring-model background,
the statistics of the spatial and temporal updates, and the movie (or the
residual) at the seeding resolution (``ssub`` / ``tsub``). :class:`ModelState`
is the model those passes subtract; :class:`PixelStats` accumulates each
pixel's mean and noise during the first pass.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np
import scipy.sparse

from ..progress import Progress
from .background import Downsampler, RingStats
from .estimates import decimation_matrix
from .filters import downsample_frames
from .noise import WelchNoise
from .params import CnmfeOptions
from .reader import MovieSource, pixels_to_frames
from .temporal import TraceResult

__all__ = ["ModelState", "MoviePasses", "PixelStats", "time_mean"]

logger = logging.getLogger(__name__)

#: The declared defaults of the keywords named like a parameter (each default is written once, in CnmfeOptions).
_DEFAULTS = CnmfeOptions()


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
    #: Where ``C`` is while it is out of memory (:class:`.trace_spill.TraceFile`), for :meth:`columns`.
    trace_file: Any = None

    def columns(self, t0: int, t1: int) -> np.ndarray:
        """The traces of frames ``t0:t1``, ``(K, t1 - t0)``: from ``C``, or from :attr:`trace_file` when it is set."""
        if self.trace_file is not None:
            return self.trace_file.columns(t0, t1)
        return self.C[:, t0:t1]

    def release_traces(self) -> None:
        """Drop ``C`` and ``traces`` (set to None): a state replaced by a newer one frees its ``K x T`` arrays now,
        not when the caller's last name for it goes (the refinement's callers hold their input until it returns)."""
        self.C = None
        self.traces = None


class MoviePasses:
    """Streaming passes over one source, at fixed resolutions.

    Parameters
    ----------
    source : MovieSource
        The region (whole frame or one patch).
    chunk_mb : float
        Memory budget of one chunk of frames, MB (``cnmfe_chunk_mb``).
    ssub, tsub : int
        Spatial and temporal downsampling of the seeding movie.
    ssub_B : int
        Spatial downsampling of the ring-model background.
    ring_radius : int
        Radius of the background ring, pixels at ``ssub_B`` resolution
        (:func:`.background.ring_radius`).
    threads : int
        Threads of the ring-model fit, and those reading chunks ahead and
        doing each pass's per-chunk arithmetic (:meth:`raw_chunks`).
    ring_fit_frames : int or None
        Frames each fit of the ring weights reads at most (:meth:`sample_chunks`);
        None: every frame.
    """

    def __init__(self, source: MovieSource, *, chunk_mb: float, ssub: int, tsub: int, ssub_B: int, ring_radius: int,
                 threads: int = 1, ring_fit_frames: int | None = _DEFAULTS.ring_fit_frames) -> None:
        self.source = source
        self.ssub, self.tsub, self.ssub_B = int(ssub), int(tsub), int(ssub_B)
        self.ring_radius = int(ring_radius)
        self.threads = max(1, int(threads))
        self.dims = source.dims
        self.n = source.n_pixels
        self.T = source.n_frames
        self.chunk = source.chunk_frames(float(chunk_mb))
        self.down = Downsampler(self.dims, self.ssub_B)
        self.ring_fit_frames = None if ring_fit_frames is None else int(ring_fit_frames)
        self.pixel_mean: np.ndarray | None = None
        self.label = "cnmfe"
        self.scratch_dir: str | None = None  # where the seeding replay caches go (None: system temp folder)
        self._decimation: scipy.sparse.csr_matrix | None = None

    def raw_chunks(
        self, step: int = 1, label: str = "pass", transform: Callable[[np.ndarray, int, int], Any] | None = None,
        reuse: bool = False, bounds: list[tuple[int, int]] | None = None,
    ) -> Iterator[tuple[int, int, Any]]:
        """``(t0, t1, Y)`` with ``Y`` of shape ``(n_pixels, t1 - t0)``, or ``transform(Y, t0, t1)``; progress is logged.

        The chunks are read, and transformed, ahead by ``threads`` threads
        (:meth:`.reader.MovieSource.read_chunks`), in order; ``transform``
        only reads the model, so its result does not depend on the thread.
        ``reuse``: ``transform``'s result never refers to ``Y``, so each thread
        reads every chunk into one buffer (:meth:`.reader.MovieSource.read_chunks`).
        ``bounds``: only these chunks (:meth:`sample_chunks`); default every chunk.
        """
        total = self.T if bounds is None else sum(t1 - t0 for t0, t1 in bounds)
        progress = Progress(total, f"{self.label} {label}", logger, interval_s=30.0)
        for t0, t1, data in self.source.read_chunks(self.chunk, step, transform, workers=self.threads, reuse=reuse,
                                                    bounds=bounds):
            yield t0, t1, data
            progress.update(t1 - t0)

    def sample_chunks(self, max_frames: int | None, step: int = 1) -> list[tuple[int, int]] | None:
        """Chunks spread evenly over the recording holding about ``max_frames`` frames (None: every chunk).

        The pass's chunks (:meth:`.reader.MovieSource.chunks`) are kept whole:
        ``ceil(max_frames / chunk)`` of them at evenly spaced positions, the first
        and the last included, so the choice depends on the movie's length and the
        chunk size only. None when the recording holds no more than ``max_frames``.
        """
        if max_frames is None or self.T <= max_frames:
            return None
        chunks = list(self.source.chunks(self.chunk, step))
        n_keep = min(len(chunks), -(-int(max_frames) // max(1, chunks[0][1] - chunks[0][0])))
        keep = np.unique(np.round(np.linspace(0, len(chunks) - 1, max(1, n_keep))).astype(int))
        return [chunks[i] for i in keep]

    # ----------------------------------------------------------------- model pieces per chunk
    @staticmethod
    def _subtract_mean_model(state: ModelState, footprints: "Support", x: np.ndarray, t0: int, t1: int,
                             tsub: int) -> np.ndarray:
        """``x - A mean(C) - b0`` in place, ``x`` the data of frames ``t0:t1`` averaged over ``tsub`` frames.

        ``footprints`` is ``Support(state.A)``.
        """
        x -= state.b0[:, None]
        footprints.subtract_product(x, time_mean(state.columns(t0, t1), tsub))
        return x

    def low_model(self, state: ModelState) -> tuple["Support", np.ndarray]:
        """Footprints and constant at ring resolution, ``D A`` ``(P_B, K)`` (as a :class:`Support`) and ``D b0`` ``(P_B,)``."""
        if self._decimation is None:
            self._decimation = decimation_matrix(self.dims, self.ssub_B)
        D = self._decimation
        return Support(scipy.sparse.csr_matrix(D @ state.A, dtype=np.float32)), np.asarray(D @ state.b0, np.float32)

    def low_residual(self, state: ModelState, y: np.ndarray, C: np.ndarray, low_model) -> np.ndarray:
        """``D (Y - A C - b0) = D Y - (D A) C - D b0`` at ring resolution, ``(P_B, L)``.

        ``C`` holds the traces of the frames of ``y``; the model is reduced
        first, so no full-resolution ``A C`` is formed.
        """
        A_low, b0_low = low_model
        x = self.down.to_low(y)
        if x is y:  # ssub_B 1: to_low returns y itself, which stays unchanged
            x = x - b0_low[:, None]
        else:
            x -= b0_low[:, None]
        A_low.subtract_product(x, C)
        return x

    def subtract_background(self, state: ModelState, y: np.ndarray, t0: int, t1: int, low_model=None,
                            rows: "RowBackground | None" = None) -> np.ndarray:
        """``y -= B`` in place, ``B = W X`` the ring-model background of frames ``t0:t1`` (nothing without ``W``).

        With ``rows`` (:meth:`row_background`) only those pixels are changed
        (the others keep the data): the values a step reads there are the
        same, for a fraction of the work.
        """
        if state.W is None:
            return y
        low_model = low_model or self.low_model(state)
        x_low = self.low_residual(state, y, state.columns(t0, t1), low_model)
        if rows is not None:
            return rows.subtract(y, x_low)
        return self.down.subtract_full(y, np.asarray(state.W @ x_low, dtype=np.float32))

    def row_background(self, state: ModelState, rows: np.ndarray) -> "RowBackground | None":
        """The ring background restricted to the full-resolution pixels ``rows`` (None without ``W``)."""
        return None if state.W is None else RowBackground(self.down, state.W, rows)

    def fit_background(self, state: ModelState) -> scipy.sparse.csr_matrix:
        """Ring weights for the current ``A, C, b0`` (one pass, over :meth:`sample_chunks` of ``ring_fit_frames``)."""
        stats = RingStats(self.down.low_dims, self.ring_radius, self.threads)
        tsub = self.tsub
        low_model = self.low_model(state)

        def low_mean_residual(y: np.ndarray, t0: int, t1: int) -> tuple[np.ndarray, np.ndarray]:
            # the background is slow: its weights are fitted on tsub-averaged frames (averaged first,
            # the residual being linear in the data and the traces); laid out for the ring sums here, on the
            # reading threads, while the products of the chunk before are added
            if tsub == 1:
                return stats.prepare(self.low_residual(state, y, state.columns(t0, t1), low_model))
            return stats.prepare(self.low_residual(state, time_mean(y, tsub), time_mean(state.columns(t0, t1), tsub),
                                                   low_model))

        bounds = self.sample_chunks(self.ring_fit_frames, tsub)
        for _, _, prepared in self.raw_chunks(tsub, "background", low_mean_residual, reuse=True, bounds=bounds):
            stats.update(prepared)
        return stats.solve()

    def spatial_stats(self, state: ModelState, supports: list[np.ndarray]) -> tuple[list[np.ndarray], np.ndarray]:
        """``U`` on the supports and ``V`` for the spatial update (one pass)."""
        K = state.A.shape[1]
        cmean = state.C.mean(axis=1, keepdims=True)
        U = [np.zeros(s.size, np.float64) for s in supports]
        V = np.zeros((K, K), np.float64)
        low_model = self.low_model(state) if state.W is not None else None
        # the products read the data on the supports only: the background is needed there only
        background = self.row_background(state, np.unique(np.concatenate([np.zeros(0, np.int64), *supports])))

        def products(y: np.ndarray, t0: int, t1: int) -> tuple[list[np.ndarray | None], np.ndarray]:
            self.subtract_background(state, y, t0, t1, low_model, background)
            cc = (state.columns(t0, t1) - cmean).astype(np.float32)
            return [y[s] @ cc[k] if s.size else None for k, s in enumerate(supports)], \
                cc.astype(np.float64) @ cc.T.astype(np.float64)

        for _, _, (u_parts, v_part) in self.raw_chunks(1, "spatial update", products, reuse=True):
            V += v_part
            for k, part in enumerate(u_parts):
                if part is not None:
                    U[k] += part
        return U, V

    def temporal_stats(self, state: ModelState) -> np.ndarray:
        """``YA = A^T (Y - B - b0)``, ``(K, T)`` (one pass)."""
        K = state.A.shape[1]
        YA = np.zeros((K, self.T), np.float32)
        At = scipy.sparse.csr_matrix(state.A.T)
        low_model = self.low_model(state) if state.W is not None else None
        # A^T reads the pixels the footprints cover only: the background and b0 are subtracted there only
        covered = Support(state.A).rows
        background = self.row_background(state, covered)
        b0 = state.b0[covered, None]

        def projected(y: np.ndarray, t0: int, t1: int) -> np.ndarray:
            self.subtract_background(state, y, t0, t1, low_model, background)
            y[covered] -= b0
            return np.asarray(At @ y, dtype=np.float32)

        for t0, t1, ya in self.raw_chunks(1, "temporal update", projected, reuse=True):
            YA[:, t0:t1] = ya
        return YA

    def residual_frames(self, state: ModelState) -> Callable[[], Iterator[np.ndarray]]:
        """Factory of ``(L, h', w')`` chunks of the residual ``Y - A C - B - b0`` at init resolution."""
        tsub = self.tsub
        footprints = Support(state.A)

        def residual(y: np.ndarray, t0: int, t1: int) -> np.ndarray:
            # averaged first
            x = self._subtract_mean_model(state, footprints, time_mean(y, tsub) if tsub > 1 else y, t0, t1, tsub)
            if state.W is not None:
                self.down.subtract_full(x, np.asarray(state.W @ self.down.to_low(x), dtype=np.float32))
            return downsample_frames(pixels_to_frames(x, self.dims), self.ssub, 1)

        def gen():
            for _, _, frames in self.raw_chunks(tsub, "residual seeding", residual, reuse=True):
                yield frames

        return gen

    def init_frames(self, stats: "PixelStats | None" = None) -> Callable[[], Iterator[np.ndarray]]:
        """Factory of ``(L, h', w')`` chunks of the movie at init resolution.

        If ``stats`` is given, the first iteration also feeds it every raw frame
        (the pixel statistics share the first seeding pass).
        """
        feed = [stats]

        def gen():
            stats_now, feed[0] = feed[0], None
            tsub, dims, ssub = self.tsub, self.dims, self.ssub

            def seeding_frames(y: np.ndarray, t0: int = 0, t1: int = 0) -> np.ndarray:
                if tsub > 1:  # average in time before changing the layout: half the data to transpose
                    y = time_mean(y, tsub)
                return downsample_frames(pixels_to_frames(y, dims), ssub, 1)

            def with_raw(y: np.ndarray, t0: int, t1: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
                # the statistics' sums are formed here, on the reading threads, and added in chunk order
                return y, y.sum(axis=1, dtype=np.float64), seeding_frames(y)

            # read, averaged and transposed in the background (raw chunks kept too while the statistics need them)
            transform = seeding_frames if stats_now is None else with_raw
            for _, _, prepared in self.raw_chunks(tsub, "seeding", transform):
                if stats_now is not None:
                    y, total, prepared = prepared
                    stats_now.update(y, total)  # (n, L)
                    del y
                yield prepared

        return gen


class Support:
    """A sparse ``(P, K)`` matrix ``M`` (footprints) kept as its non-empty rows, for ``x -= M @ C``.

    ``M @ C`` is zero on every pixel no footprint covers (most of the frame),
    so only the covered rows are formed and subtracted: no frame-sized
    product to fill with zeros and subtract. Each row is summed in the same
    order as in the full product, so the values are the same bit for bit.
    """

    def __init__(self, M) -> None:
        # a CSC matrix's product sums each row over ascending columns, as CSR with sorted indices (what tocsr
        # gives); a CSR matrix's in its stored order, which row selection keeps
        M = scipy.sparse.csr_matrix(M, dtype=np.float32)
        self.shape = M.shape
        self.rows = np.flatnonzero(np.diff(M.indptr))
        self.M = M[self.rows]

    def subtract_product(self, x: np.ndarray, C: np.ndarray) -> np.ndarray:
        """``x -= M @ C`` in place, ``x`` ``(P, L)`` float32, ``C`` ``(K, L)``; returns ``x``."""
        if self.rows.size and self.shape[1]:
            x[self.rows] -= np.asarray(self.M @ C, dtype=np.float32)
        return x


class RowBackground:
    """The ring background ``U W X`` on a set of full-resolution pixels only.

    Parameters
    ----------
    down : Downsampler
        Full <-> ``ssub_B`` grids.
    W : sparse ``(P_B, P_B)``
        Ring weights.
    rows : ndarray of int
        Full-resolution pixels (``row + col*h``), sorted, without repeats.

    Only the rows of ``W`` of the blocks holding ``rows`` are applied; each is
    the same row product as in ``W @ X``, so the values are the same bit for bit.
    """

    def __init__(self, down: Downsampler, W, rows: np.ndarray) -> None:
        h, _ = down.dims
        s = down.ssub_B
        hb = down.low_dims[0]
        self.rows = np.asarray(rows, np.int64)
        low = (self.rows % h) // s + (self.rows // h) // s * hb  # the block of each pixel (Fortran order)
        self.blocks, self.index = np.unique(low, return_inverse=True)
        self.W = scipy.sparse.csr_matrix(W)[self.blocks]

    def subtract(self, y: np.ndarray, x_low: np.ndarray) -> np.ndarray:
        """``y[rows] -= (W x_low)[block of each row]`` in place, ``y`` ``(h*w, L)``; returns ``y``."""
        if self.rows.size:
            y[self.rows] -= np.asarray(self.W @ x_low, dtype=np.float32)[self.index]
        return y


def time_mean(a: np.ndarray, tsub: int) -> np.ndarray:
    """Mean of ``(m, L)`` over consecutive groups of ``tsub`` columns (last group shorter), float32."""
    m, n = a.shape
    full = (n // tsub) * tsub
    out = np.empty((m, -(-n // tsub)), np.float32)
    # strided slices added in float32, then divided: the same sum and division as ``mean(axis=2, float32)`` on
    # ``(m, L / tsub, tsub)``, bit for bit, but 6x faster (numpy reduces a short inner axis slowly)
    head = out[:, :full // tsub]
    if tsub == 1:
        head[...] = a[:, :full]
    else:  # the first two frames of each group added straight into the result: one pass less over it
        np.add(a[:, 0:full:tsub], a[:, 1:full:tsub], out=head, dtype=np.float32, casting="unsafe")
    for j in range(2, tsub):
        np.add(head, a[:, j:full:tsub], out=head, dtype=np.float32, casting="unsafe")
    head /= np.float32(tsub)
    if full < n:
        out[:, -1] = a[:, full:].mean(axis=1, dtype=np.float32)
    return out


class PixelStats:
    """Streaming temporal mean and Welch noise of every pixel, fed ``(n, L)`` pixels-by-frames chunks.

    Parameters
    ----------
    dims : (h, w)
    n_frames : int
        Frames that will be fed in all.
    noise_range : (float, float)
        Noise band, fraction of the frame rate.
    noise_method : {"mean", "median", "logmexp"}
    threads : int
    """

    def __init__(self, dims: tuple[int, int], n_frames: int, *, noise_range: tuple[float, float], noise_method: str,
                 threads: int = 1) -> None:
        self.dims = dims
        self.n_frames = n_frames
        self.noise_range = noise_range
        self.noise_method = noise_method
        self.threads = threads
        n = dims[0] * dims[1]
        self.welch = WelchNoise(n, min(256, n_frames), noise_range, noise_method, threads)
        self.total = np.zeros(n, np.float64)

    def update(self, pixels: np.ndarray, total: np.ndarray | None = None) -> None:
        """Add frames ``(n, L)``; ``total``: their sum over frames, float64 (formed here if None)."""
        self.total += pixels.sum(axis=1, dtype=np.float64) if total is None else total
        self.welch.update(pixels)

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        """``(mean, noise)``, each ``(n,)`` float32 in the chunks' pixel order."""
        welch = self.welch
        if welch.count == 0:
            rest = welch.leftover()
            welch = WelchNoise(rest.shape[0], rest.shape[1], self.noise_range, self.noise_method, self.threads)
            welch.update(rest)
        mean = (self.total / max(self.n_frames, 1)).astype(np.float32)
        return mean, welch.result().astype(np.float32)
