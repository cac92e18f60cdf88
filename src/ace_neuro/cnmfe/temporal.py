"""Temporal update of CNMF-E: block-coordinate traces with OASIS deconvolution.

Given footprints ``A`` and the background-subtracted data, the traces solve
``min ||A^T (Y - B - b0) - A^T A C||`` one component at a time (the data enter
only through ``YA = A^T (Y - B - b0 1^T)``, a ``K x T`` array computed
chunk by chunk). Each component's raw trace ``C_k + YrA_k`` is denoised by
OASIS: an AR(p) calcium model with non-negative spikes and baseline, under the
noise constraint ``||c + b - y||^2 <= sn^2 T`` where ``sn`` comes from the
trace's power spectrum (:mod:`.noise`).

References
----------
Friedrich J, Zhou P, Paninski L (2017). Fast online deconvolution of calcium
imaging data. PLoS Comput Biol 13(3):e1005423.
Pnevmatikakis EA, et al. (2016). Neuron 89(2):285-299.
"""

from __future__ import annotations

import threading
import weakref
from concurrent.futures import Executor
from dataclasses import dataclass

import numpy as np
from oasis import constrained_oasisAR1, oasisAR1, oasisAR2
import scipy.linalg
from oasis.functions import GetSn, constrained_onnlsAR2

from .fallback_kernel import fallback_kernel  # also evaluate's (snr_window), without OASIS
from .noise import trace_noise
from ace_neuro.blas import set_blas_threads
from ace_neuro.pools import map_in_order, map_threads, process_pool, stop_pool
from ace_neuro.cnmfe.params import CnmfeOptions

#: The declared defaults of the keywords named like a parameter (each default is written once, in CnmfeOptions).
_DEFAULTS = CnmfeOptions()

__all__ = [
    "TracePool", "TraceResult", "ar_coefficients", "deconvolve_trace", "denoise_trace", "fallback_kernel",
    "float32_in_place", "overlap_levels", "residual_traces", "update_traces",
]


@dataclass
class TraceResult:
    """Outputs of :func:`update_traces` (all float32, ``K`` rows).

    C, S, YrA : (K, T); bl, c1, neurons_sn, lam : (K,); g : (K, p).
    """

    C: np.ndarray
    S: np.ndarray
    YrA: np.ndarray
    bl: np.ndarray
    c1: np.ndarray
    g: np.ndarray
    lam: np.ndarray
    neurons_sn: np.ndarray


class TracePool:
    """Worker processes for the trace updates of one fit (:func:`update_traces`), started beside the fit's work.

    Parameters
    ----------
    workers : int
        Processes besides this one (``threads - 1``); with none, :meth:`get`
        gives None and the traces are denoised in this process alone.

    A context manager: entering it starts the processes on a thread (:meth:`start`), so their interpreters and
    imports (OASIS, SciPy: ~1 CPU s each) overlap this process's passes instead of holding up the first trace
    update; :meth:`get` waits for them. The processes stop when the fit ends (at once on an error).
    """

    def __init__(self, workers: int) -> None:
        self.workers = int(workers)
        self._pool = None
        self._starting: tuple[threading.Thread, dict] | None = None

    def start(self) -> None:
        """Start the processes on a thread and return at once (nothing to do without workers or when started).

        Started before the ``with`` block (at the fit's start, so that they are ready when its seeding ends), the
        processes are stopped when this object is collected if the block is never entered (an error before it).
        """
        if self.workers < 1 or self._pool is not None or self._starting is not None:
            return
        started: dict = {}
        workers = self.workers  # the thread holds no reference to this object (collected, it stops the processes)

        def start_pool() -> None:
            try:
                started["pool"] = _trace_process_pool(workers)
            except BaseException as err:  # raised by get() or close(), in the fit's thread
                started["error"] = err

        thread = threading.Thread(target=start_pool, name="trace-pool-start", daemon=True)
        thread.start()
        self._starting = (thread, started)
        self._unused = weakref.finalize(self, _stop_started_pool, thread, started)

    def get(self) -> Executor | None:
        """The pool (waiting for :meth:`start`'s processes, or started now); None without workers."""
        if self.workers < 1:
            return None
        self._join_start()
        if self._pool is None:
            self._pool = _trace_process_pool(self.workers)
        return self._pool

    def _join_start(self) -> None:
        if self._starting is None:
            return
        thread, started = self._starting
        thread.join()
        self._starting = None
        self._unused.detach()  # the pool is this object's to stop now
        if "error" in started:
            raise started["error"]
        self._pool = started["pool"]

    def close(self, *, failed: bool = False) -> None:
        """Stop the processes (waiting for none of their work when ``failed``)."""
        try:
            self._join_start()
        except BaseException:
            if not failed:
                raise
        pool, self._pool = self._pool, None
        if pool is None:
            return
        if failed:
            stop_pool(pool)
        else:
            pool.shutdown(wait=True)

    def __enter__(self) -> "TracePool":
        self.start()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(failed=exc_type is not None)


def _stop_started_pool(thread: threading.Thread, started: dict) -> None:
    """Stop the processes a :class:`TracePool` started and never handed out (collected before its ``with``)."""
    if thread is not threading.current_thread():
        thread.join()
    if "pool" in started:
        stop_pool(started["pool"])


def _trace_process_pool(workers: int) -> Executor:
    """``workers`` processes ready to denoise traces: this module imported (OASIS, SciPy), one BLAS thread each,
    as this process while it denoises (:func:`update_traces`)."""
    return process_pool(workers, initializer=_ready_trace_worker)


def _ready_trace_worker() -> None:
    """Worker initializer: one BLAS thread. Unpickling this function imported this module, so the worker's first
    traces wait for no import."""
    set_blas_threads(1)



def ar_coefficients(y: np.ndarray, p: int, sn: float, lags: int = 5, fudge_factor: float = 0.98) -> np.ndarray | None:
    """AR(``p``) coefficients of a trace from its autocovariance, or None when they are not a decaying model.

    The autocovariance at lags ``1 .. p + lags``, with the white noise's
    variance ``sn**2`` removed at lag 0, is fitted by least squares
    (Yule-Walker equations with noise), as CaImAn and OASIS do; the roots of
    the AR polynomial (real parts) are shrunk by ``fudge_factor``.

    Parameters
    ----------
    y : ndarray, shape (T,)
        Raw trace.
    p : int
        AR order (1 or 2).
    sn : float
        Noise standard deviation.
    lags : int
        Lags beyond ``p`` in the fit.
    fudge_factor : float
        Shrinkage of the roots, in (0, 1].

    Returns
    -------
    ndarray, shape (p,), or None
        None when a root lies outside (0, 1] (a trace dominated by noise or
        drift). OASIS's ``estimate_parameters`` replaces such roots by random
        draws from NumPy's global generator, so the same trace would get
        different coefficients from run to run; the caller decides instead.

    Examples
    --------
    >>> t = np.arange(2000)
    >>> y = np.convolve((t % 50 == 0).astype(float), 0.9 ** np.arange(100))[:2000]
    >>> g = ar_coefficients(y + 0.01 * np.sin(t), 1, 0.01)
    >>> bool(0.8 < g[0] < 0.9)
    True
    >>> ar_coefficients(np.sin(2.5 * t), 1, 0.0) is None  # a negative lag-1 autocovariance
    True
    """
    y = np.asarray(y, np.float64)
    y = y - y.mean()
    n_lags = int(lags) + int(p)
    autocov = np.array([y[lag:].dot(y[:y.size - lag]) for lag in range(n_lags + 1)]) / y.size
    design = scipy.linalg.toeplitz(autocov[:n_lags], autocov[:p]) - sn ** 2 * np.eye(n_lags, p)
    g = np.linalg.lstsq(design, autocov[1:], rcond=None)[0]
    roots = np.roots(np.concatenate([[1.0], -g])).real
    if np.any(roots < 0) or np.any(roots > 1):
        return None
    return -np.poly(fudge_factor * roots)[1:]


def _stable(g: np.ndarray) -> bool:
    if not np.all(np.isfinite(g)):
        return False
    roots = np.roots(np.concatenate([[1.0], -np.asarray(g, np.float64)]))
    return bool(np.all(np.abs(roots) < 1.0) and np.all(np.abs(roots.imag) < 1e-9) and np.all(roots.real > 0))


def deconvolve_trace(
    y: np.ndarray,
    p: int,
    sn: float,
    decay_frames: float,
    bas_nonneg: bool = _DEFAULTS.bas_nonneg,
    s_min: float | None = _DEFAULTS.s_min,
    noise_range=_DEFAULTS.noise_range,
    noise_method: str = _DEFAULTS.noise_method,
):
    """Denoise and deconvolve one raw trace with OASIS.

    Parameters
    ----------
    y : ndarray, shape (T,)
        Raw trace (``C_k + YrA_k``).
    p : {0, 1, 2}
        AR order; 0 returns ``y`` clipped at 0 with no spikes.
    sn : float
        Noise standard deviation.
    decay_frames : float
        Decay time in frames, used when the AR coefficients estimated from the
        autocovariance (:func:`ar_coefficients`) are not a stable decaying model.
    bas_nonneg : bool
        Non-negative baseline.
    s_min : float, optional
        Minimum spike size (thresholded OASIS after the constrained fit).

    Returns
    -------
    c, s : ndarray (T,) float64
    b : float
        Baseline.
    g : ndarray (p,)
    lam : float
    """
    y = np.asarray(y, dtype=np.float64)
    if p == 0:
        return np.maximum(y, 0.0), np.zeros_like(y), 0.0, np.zeros(0), 0.0
    if sn <= 0 or not np.isfinite(sn) or np.ptp(y) == 0:
        return np.zeros_like(y), np.zeros_like(y), float(np.median(y)), fallback_kernel(p, decay_frames), 0.0
    # the autocovariance's noise correction uses OASIS's Welch noise of the trace, as its estimate_parameters
    g = ar_coefficients(y, p, GetSn(y, list(noise_range), noise_method), lags=5, fudge_factor=0.98)
    if g is None or not _stable(g):
        g = fallback_kernel(p, decay_frames)
    if p == 1:
        c, s, b, g_out, lam = constrained_oasisAR1(y, float(g[0]), float(sn), optimize_b=True, b_nonneg=bas_nonneg, penalty=1)
        g = np.atleast_1d(np.asarray(g_out, np.float64))
    else:
        c, s, b, g_out, lam = constrained_onnlsAR2(y, tuple(g), float(sn), optimize_b=True, b_nonneg=bas_nonneg, penalty=1)
        g = np.atleast_1d(np.asarray(g_out, np.float64))
    if s_min is not None and s_min > 0:
        if p == 1:
            c, s = oasisAR1(y - b, float(g[0]), lam=0.0, s_min=float(s_min))
        else:
            c, s = oasisAR2(y - b, float(g[0]), float(g[1]), lam=0.0, s_min=float(s_min))
    return np.asarray(c), np.asarray(s), float(b), g, float(lam)


def denoise_trace(
    raw: np.ndarray,
    p: int,
    decay_frames: float,
    bas_nonneg: bool = _DEFAULTS.bas_nonneg,
    s_min: float | None = _DEFAULTS.s_min,
    noise_range=_DEFAULTS.noise_range,
    noise_method: str = _DEFAULTS.noise_method,
) -> tuple[float, np.ndarray, np.ndarray, float, np.ndarray, float]:
    """The noise of one raw trace (:func:`.noise.trace_noise`), then its OASIS fit (:func:`deconvolve_trace`).

    A function of ``raw`` and the settings alone: the same bits whichever
    process or thread runs it.

    Returns
    -------
    sn : float
    c, s : ndarray (T,) float64
    b : float
    g : ndarray (p,)
    lam : float
    """
    sn = trace_noise(raw, noise_range, noise_method)
    c, s, b, g, lam = deconvolve_trace(raw, p, sn, decay_frames, bas_nonneg, s_min, noise_range, noise_method)
    return sn, c, s, b, g, lam


def _denoise_traces(task: tuple[np.ndarray, dict]) -> list[tuple]:
    """:func:`denoise_trace` of each row of ``task[0]`` with the keywords ``task[1]`` (one task of a pool)."""
    raws, settings = task
    return [denoise_trace(raw, **settings) for raw in raws]


def _denoise_shared(raws: np.ndarray, settings: dict, pool: Executor) -> list[tuple]:
    """:func:`_denoise_traces` of ``raws``: a first share in this process, one share per worker of ``pool``.

    A helper thread waits for the workers' shares while this process denoises
    its own (OASIS holds the interpreter; waiting does not). Results in row order.
    """
    workers = max(1, int(getattr(pool, "_max_workers", 1)))
    parts = [part for part in np.array_split(np.arange(len(raws)), workers + 1) if part.size]
    if len(parts) == 1:
        return _denoise_traces((raws, settings))

    def in_workers() -> list[tuple]:
        tasks = [(raws[part], settings) for part in parts[1:]]
        return [fit for share in map_in_order(pool, _denoise_traces, tasks, what="the temporal update (OASIS)")
                for fit in share]

    shares = map_threads(lambda run: run(), [lambda: _denoise_traces((raws[parts[0]], settings)), in_workers], 2)
    return shares[0] + shares[1]


def overlap_levels(overlaps: list[np.ndarray]) -> list[np.ndarray]:
    """Components grouped so that each group's traces can be updated at once, in the sweep's results.

    The block-coordinate sweep updates component ``k`` from the current traces
    of the components it overlaps: those before it in the order already
    updated in this sweep, those after it not yet. A component's level is one
    more than the highest level of the earlier components it overlaps, so no
    two components of one level overlap, and updating the levels in turn, each
    level's components together, reads exactly the traces the sweep in order
    reads: the same numbers bit for bit.

    Parameters
    ----------
    overlaps : list of ndarray (int)
        ``overlaps[k]``: the components whose footprints overlap ``k``'s
        (nonzero entries of row ``k`` of ``A^T A``), ascending.

    Returns
    -------
    list of ndarray (int)
        The components of each level, ascending, levels in the order to update them.

    Examples
    --------
    >>> overlap_levels([np.array([0, 1]), np.array([0, 1, 2]), np.array([1, 2]), np.array([3])])
    [array([0, 3]), array([1]), array([2])]
    """
    level = np.zeros(len(overlaps), np.int64)
    for k, nz in enumerate(overlaps):
        earlier = nz[nz < k]
        if earlier.size:
            level[k] = level[earlier].max() + 1
    return [np.flatnonzero(level == i) for i in range(int(level.max()) + 1 if level.size else 0)]


def update_traces(
    YA: np.ndarray,
    AA: np.ndarray,
    C: np.ndarray,
    p: int,
    decay_frames: float,
    bas_nonneg: bool = _DEFAULTS.bas_nonneg,
    s_min: float | None = _DEFAULTS.s_min,
    noise_range=_DEFAULTS.noise_range,
    noise_method: str = _DEFAULTS.noise_method,
    n_sweeps: int = 2,
    pool: Executor | None = None,
    overwrite_YA: bool = False,
    overwrite_C: bool = False,
) -> TraceResult:
    """Block-coordinate update of all traces, each denoised by OASIS.

    Parameters
    ----------
    YA : ndarray, shape (K, T)
        ``A^T (Y - B - b0 1^T)``.
    AA : ndarray, shape (K, K)
        ``A^T A``.
    C : ndarray, shape (K, T)
        Current traces (starting point).
    p, decay_frames, bas_nonneg, s_min, noise_range, noise_method
        See :func:`deconvolve_trace`.
    n_sweeps : int
        Passes over all components.
    pool : concurrent.futures.Executor, optional
        Worker processes (:func:`ace_neuro.pools.process_pool`) that denoise,
        with this process, the traces of each group of non-overlapping
        components (:func:`overlap_levels`) together. OASIS holds the
        interpreter, so threads would take turns; processes share the work.
        The results are the same bit for bit as without a pool, whatever its size.
    overwrite_YA : bool
        Return ``YrA`` in ``YA``'s memory (``YA`` float32, C-contiguous, is then changed): one ``K x T`` float32
        array less at the end of the update (the same values).
    overwrite_C : bool
        ``C`` (float64, C-contiguous, owning its memory) is the update's working array, given up by the caller: no
        float64 copy of it is made, and the float32 traces returned live in its memory (:func:`float32_in_place`).

    Returns
    -------
    TraceResult
    """
    n_comp, n_frames = YA.shape
    given = C
    C = np.array(C, np.float64, order="C", copy=None)  # a new array unless C is float64 and C-contiguous already
    if C is given and not (overwrite_C and C.flags.owndata and C.flags.writeable):
        C = C.copy()  # the working traces: float64, this function's own (turned into the float32 result at the end)
    del given
    # YA stays in its own dtype (float32 from the passes): each use promotes it to float64 exactly, so the values are
    # those of a float64 copy without its K x T x 8 bytes; S is written straight into float32, the same rounding as
    # converting at the end (memory: benchmarks/long_session.md, Session 12, 24,000 frames)
    YA = np.asarray(YA)
    if YA.dtype not in (np.float32, np.float64):
        YA = YA.astype(np.float64)
    AA = np.asarray(AA, np.float64)
    S = np.zeros(C.shape, np.float32)
    bl = np.zeros(n_comp)
    c1 = np.zeros(n_comp)
    lam = np.zeros(n_comp)
    sn = np.zeros(n_comp)
    g = np.zeros((n_comp, p))
    diag = np.diag(AA).copy()
    # each component's overlaps: the rest of its row of A^T A is zero, so A^T A C for component k is a sum over
    # these few rows of C only (the full row would read all of C for every component: K^2 T per sweep)
    overlaps = [np.flatnonzero(row) for row in AA]
    settings = dict(p=p, decay_frames=decay_frames, bas_nonneg=bas_nonneg, s_min=s_min, noise_range=noise_range,
                    noise_method=noise_method)
    # in order, one component at a time; with a pool, a level of non-overlapping components at a time
    groups = [np.array([k]) for k in range(n_comp)] if pool is None else overlap_levels(overlaps)
    # a level's raw traces and OASIS's float64 results are held at once: levels cut to about TRACE_BATCH_BYTES
    # (a level's components share no overlap, so any part of it reads the same traces: the same bits)
    groups = [part for group in groups for part in _batches(group, n_frames)]
    # one BLAS thread while denoising: OpenBLAS splits a vector product over its threads from 10,000 elements
    # (the AR fit's and OASIS's dot products on traces past 10,000 frames), and its threads' waiting for so
    # little work cost ~7x the CPU per frame under load; one thread also gives the same bits on any machine
    previous_blas_threads = set_blas_threads(1)
    try:
        _sweeps(groups, n_sweeps, C, S, YA, AA, diag, overlaps, settings, pool, sn, bl, lam, g, c1, p)
    finally:
        set_blas_threads(previous_blas_threads)
    in_place = overwrite_YA and YA.dtype == np.float32 and YA.flags.c_contiguous and YA.flags.writeable
    YrA = residual_traces(YA, AA, C, diag, out=YA if in_place else None)
    del YA
    f32 = lambda x: np.asarray(x, np.float32)  # noqa: E731
    C32 = float32_in_place(C)  # in the float64 traces' memory, its second half given back: no K x T array more
    del C
    return TraceResult(C32, S, YrA, f32(bl), f32(c1), f32(g), f32(lam), f32(sn))


def float32_in_place(x: np.ndarray) -> np.ndarray:
    """``x.astype(np.float32)`` written into ``x``'s own memory, which is then shrunk to half its size.

    The float64 ``(K, T)`` traces of a temporal update become the float32 result without a second ``K x T``
    array alive beside them (the peak of :func:`update_traces` at its end): row ``k``'s float32 values go to the
    bytes ``4 k T .. 4 (k + 1) T``, which hold rows already converted (row 0 itself through a copy of one row),
    then ``x``'s memory is reallocated to ``4 K T`` bytes (``ndarray.resize``). The values are those of
    ``astype`` (each element rounded to the nearest float32).

    Parameters
    ----------
    x : ndarray, shape (K, T), float64
        C-contiguous, owning its memory, with no view of it alive: the caller's working array, given up
        (it is changed and resized; use only the result).

    Returns
    -------
    ndarray, shape (K, T), float32
        A view of ``x``'s shrunk memory.
    """
    if x.dtype != np.float64 or x.ndim != 2 or not x.flags.c_contiguous or not x.flags.owndata or x.size == 0:
        return np.asarray(x, np.float32)
    n_rows, n_cols = x.shape
    flat = x.reshape(-1).view(np.float32)  # 2 K T float32 slots; row k's float64 values fill slots 2kT .. 2(k+1)T
    for k in range(n_rows):
        flat[k * n_cols:(k + 1) * n_cols] = x[k].astype(np.float32)  # slots kT..(k+1)T: rows <= k, already read
    del flat
    x.resize(((x.size + 1) // 2,), refcheck=False)  # no view is alive (the loop's are gone)
    return x.view(np.float32)[:n_rows * n_cols].reshape(n_rows, n_cols)


def _sweeps(groups, n_sweeps, C, S, YA, AA, diag, overlaps, settings, pool, sn, bl, lam, g, c1, p) -> None:
    """The block-coordinate sweeps of :func:`update_traces`: ``C``, ``S`` and the per-trace arrays filled in place."""
    for _ in range(int(n_sweeps)):
        for group in groups:
            C[group[diag[group] <= 0]] = 0.0
            active = group[diag[group] > 0]
            if not active.size:
                continue
            raws = np.stack([C[k] + (YA[k] - AA[k, overlaps[k]] @ C[overlaps[k]]) / diag[k] for k in active])
            fits = _denoise_traces((raws, settings)) if pool is None else _denoise_shared(raws, settings, pool)
            for k, (sn_k, c, s, b, gk, lk) in zip(active, fits):
                sn[k] = sn_k
                C[k], S[k], bl[k], lam[k] = c, s, b, lk
                if p:
                    g[k] = gk[:p]
                c1[k] = c[0] if c.size else 0.0


#: Bytes of float64 traces (raw traces and OASIS's results) formed at once by one batch of :func:`update_traces`.
TRACE_BATCH_BYTES = 32 * 2**20


def _batches(group: np.ndarray, n_frames: int, batch_bytes: int | None = None) -> list[np.ndarray]:
    """``group`` cut into consecutive parts of at most ``batch_bytes / (24 T)`` components (at least one).

    Each component of a batch holds its raw trace and OASIS's ``c`` and ``s`` (float64, ``T`` each) at once.
    ``batch_bytes``: default :data:`TRACE_BATCH_BYTES`.
    """
    batch_bytes = TRACE_BATCH_BYTES if batch_bytes is None else batch_bytes
    size = max(1, int(batch_bytes) // (24 * max(1, int(n_frames))))
    return [group[i:i + size] for i in range(0, group.size, size)]


def residual_traces(YA: np.ndarray, AA: np.ndarray, C: np.ndarray, diag: np.ndarray, *,
                    out: np.ndarray | None = None, block_bytes: int | None = None) -> np.ndarray:
    """``YrA = (YA - AA @ C) / diag`` (rows with ``diag <= 0`` divided by 1), float32, formed by blocks of rows.

    Parameters
    ----------
    YA : ndarray, shape (K, T), float32 or float64
        ``A^T (Y - B - b0)``.
    AA : ndarray, shape (K, K), float64
        ``A^T A``.
    C : ndarray, shape (K, T), float64
        Traces.
    diag : ndarray, shape (K,), float64
        ``diag(AA)``.
    out : ndarray, shape (K, T), float32, optional
        Where ``YrA`` goes; may be ``YA`` itself (each block of rows is read before it is written).
    block_bytes : int, optional
        Bytes of the float64 block of rows formed at a time; default :data:`TRACE_BATCH_BYTES`.

    Returns
    -------
    ndarray, shape (K, T), float32
        Each block is computed in float64 as the whole product would be (``AA[rows] @ C``, then the
        subtraction and the division) and rounded once: only a block of float64 is held, not ``K x T``.
    """
    n_comp, n_frames = YA.shape
    out = np.empty((n_comp, n_frames), np.float32) if out is None else out
    scale = np.where(diag > 0, diag, 1.0)[:, None]
    block_bytes = TRACE_BATCH_BYTES if block_bytes is None else block_bytes
    rows = max(2, int(block_bytes) // (8 * max(1, n_frames)))
    starts = list(range(0, n_comp, rows))
    if len(starts) > 1 and n_comp - starts[-1] == 1:
        starts.pop()  # no one-row block: NumPy would take a matrix-vector product for it (BLAS gemv, not gemm)
    for r0, r1 in zip(starts, starts[1:] + [n_comp]):
        block = AA[r0:r1] @ C
        np.subtract(YA[r0:r1], block, out=block)
        block /= scale[r0:r1]
        out[r0:r1] = block
    return out
