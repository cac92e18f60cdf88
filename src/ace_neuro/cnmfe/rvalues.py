"""Spatial r-values of components: footprint vs the cleaned movie around the trace's peaks (``r_values``).

Pearson correlation, over the footprint's pixels, between the footprint and
the movie averaged over the frames around the component's largest peaks
(``Npeaks`` peaks of ``C``, a window of ``-tB..tA`` frames around each). Unlike
CaImAn, which averages the raw movie and drops frames where overlapping
neighbours are active, the movie here is first cleaned of the background model
(``b0`` + ring model) and of every *other* component, which is what a
one-photon movie needs (its background dwarfs the neurons).

Streaming: the movie is read in tiles (bands of image columns times windows of
consecutive frames), each tile once; only the needed frames of a tile are
kept. Memory is set by ``chunk_mb``; time grows linearly with the recording.
"""

from __future__ import annotations

import logging
import math
from typing import Sequence

import numpy as np
import scipy.sparse

from ace_neuro.cnmfe.estimates import Estimates, decimation_matrix
from ace_neuro.cnmfe.reader import MovieSource
from ace_neuro.cnmfe.trace_stats import peaks_above
from ace_neuro.pools import imap_threads
from ace_neuro.progress import Progress
from ace_neuro.cnmfe.params import EvaluateOptions

#: The declared defaults of the keywords named like a parameter (each default is written once, in EvaluateOptions).
_DEFAULTS = EvaluateOptions()

__all__ = ["peak_frames", "spatial_r_values", "spatial_r_values_and_surround"]

logger = logging.getLogger(__name__)

#: Peaks lower than this fraction of the trace's range are not used (CaImAn ``thresh_C``).
_PEAK_FRACTION = 0.3


def _peak_window(frame_rate: float) -> tuple[int, int]:
    """Frames before (``tB`` < 0) and after (``tA``) each peak, CaImAn's choice for a frame rate."""
    before = int(min(-2, math.floor(-5.0 / 30.0 * frame_rate)))
    after = int(max(5, math.ceil(25.0 / 30.0 * frame_rate)))
    return before, after


def peak_frames(C: np.ndarray, frame_rate: float, Npeaks: int = _DEFAULTS.Npeaks) -> list[np.ndarray]:
    """Frames around the largest peaks of each denoised trace.

    Peaks are local maxima of ``C[k]`` at least 30 % of the way from its
    minimum to its maximum; the ``Npeaks`` highest are kept and each
    contributes frames ``peak + tB .. peak + tA - 1`` (``tB = min(-2,
    floor(-5/30 fr))``, ``tA = max(5, ceil(25/30 fr))``, CaImAn's window),
    clipped to the recording.

    Parameters
    ----------
    C : ndarray, shape (K, T)
    frame_rate : float
        Hz.
    Npeaks : int

    Returns
    -------
    list of K int64 arrays
        Sorted unique frame indices per component, at most
        ``Npeaks * (tA - tB)`` each; empty for a flat trace.
    """
    if np.ndim(C) != 2:
        raise ValueError(f"C must have shape (K, T), got {C.shape}")
    if int(Npeaks) < 1:
        raise ValueError(f"Npeaks must be >= 1, got {Npeaks}")
    before, after = _peak_window(frame_rate)
    offsets = np.arange(before, after)
    n_frames = np.shape(C)[1]
    out = []
    for k in range(np.shape(C)[0]):
        trace = np.asarray(C[k], dtype=np.float64)  # one row in float64 at a time (the same values)
        low, high = float(np.min(trace)) if trace.size else 0.0, float(np.max(trace)) if trace.size else 0.0
        if not high > low:
            out.append(np.zeros(0, dtype=np.int64))
            continue
        peaks = peaks_above(trace, low + _PEAK_FRACTION * (high - low))  # scipy.signal.find_peaks's
        if peaks.size == 0:  # monotonic trace: its maximum is the only event
            peaks = np.array([int(np.argmax(trace))])
        peaks = peaks[np.argsort(trace[peaks], kind="stable")[::-1][: int(Npeaks)]]
        frames = np.clip((peaks[:, None] + offsets[None, :]).ravel(), 0, n_frames - 1)
        out.append(np.unique(frames).astype(np.int64))
    return out


def _ring_halo_columns(estimates: Estimates) -> int:
    """Full-resolution columns a ring-model row reaches beyond its own block column (multiple of ``ssub_B``)."""
    if estimates.W is None or estimates.W.nnz == 0:
        return 0
    hb = (estimates.dims[0] - 1) // estimates.ssub_B + 1
    coo = estimates.W.tocoo()
    reach = int(np.max(np.abs(coo.row // hb - coo.col // hb)))
    return reach * estimates.ssub_B


def spatial_r_values(
    estimates: Estimates,
    movie: "np.ndarray | MovieSource",
    frames_per_component: Sequence[np.ndarray],
    *,
    chunk_mb: float = 128.0,
    threads: int = 1,
) -> np.ndarray:
    """Correlation of each footprint with the cleaned movie averaged over its active frames.

    For component ``i`` with frames ``L_i`` the image
    ``m_i = mean_{t in L_i} (Y_t - B_t - sum_{j != i} a_j c_j(t))`` (movie minus
    background minus the other components) is correlated with ``a_i`` over
    the pixels where ``a_i > 0``.

    The movie is read in tiles: bands of image columns (a contiguous range of
    pixels in both file layouts), widened by the reach of the ring model, times
    windows of consecutive frames; each tile is read once and only its needed
    frames are kept. Tiles are sized by ``chunk_mb``; memory does not depend on
    the recording's length, and time grows linearly with it.

    Parameters
    ----------
    estimates : Estimates
        ``A``, ``C`` and the background model (``b0``, ``W``, ``b``, ``f``).
    movie : array-like of shape (T, H, W), or MovieSource
        The movie CNMF-E was run on: an array, or
        :meth:`~ace_neuro.cnmfe.reader.MovieSource.from_path` of the motion
        step's frame-block file or CaImAn memory map.
    frames_per_component : sequence of K int arrays
        Frames to average for each component (:func:`peak_frames`).
    chunk_mb : float
        Memory budget of one tile (MB); each thread holds one.
    threads : int
        Bands of columns computed side by side; the r-values are the same, bit for bit, whatever the number.

    Returns
    -------
    ndarray of float64, shape (K,)
        r-values; 0 for a component with no frames, fewer than 3 pixels, or a
        constant footprint.
    """
    return spatial_r_values_and_surround(estimates, movie, frames_per_component, surround_px=0, chunk_mb=chunk_mb,
                                         threads=threads)[0]


def spatial_r_values_and_surround(
    estimates: Estimates,
    movie: "np.ndarray | MovieSource",
    frames_per_component: Sequence[np.ndarray],
    *,
    surround_px: int,
    n_rings: int = 2,
    chunk_mb: float = 128.0,
    threads: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`spatial_r_values` and, in the same pass over the movie, how far each component's signal continues
    beyond its footprint (:func:`~ace_neuro.cnmfe.surround.surround_ratios`).

    Parameters
    ----------
    estimates, movie, frames_per_component, chunk_mb, threads
        As :func:`spatial_r_values` (the r-values are the same, bit for bit).
    surround_px : int
        Width of each ring around the footprint's support (pixels); 0: no ring (ratios NaN).
    n_rings : int
        Rings, one after the other: ring ``j`` holds the pixels ``(j - 1) * surround_px + 1`` to
        ``j * surround_px`` steps from the support.

    Returns
    -------
    r_values : ndarray of float64, shape (K,)
    surround : ndarray of float64, shape (K, n_rings)
        The mean image over each ring divided by its mean over the footprint's core; NaN where not measured
        (no frames, no ring, or a core without signal).
    """
    from ace_neuro.cnmfe.surround import surround_pixels, surround_ratios

    n_comp = estimates.n_components
    n_rings = max(int(n_rings), 1)
    source = _checked_source(estimates, movie, frames_per_component, chunk_mb)
    r_values, surround = np.zeros(n_comp), np.full((n_comp, n_rings), np.nan)
    if n_comp == 0:
        return r_values, surround
    A = estimates.A
    pixels = [A.indices[A.indptr[k] : A.indptr[k + 1]] for k in range(n_comp)]
    weights = [A.data[A.indptr[k] : A.indptr[k + 1]].astype(np.float64) for k in range(n_comp)]
    rings = [np.zeros(p.size, np.int8) for p in pixels]
    if surround_px > 0:  # each footprint's pixels followed by its rings' (weights 0 there), sorted
        around = surround_pixels(A, estimates.dims, surround_px, n_rings=n_rings)
        order = [np.argsort(np.concatenate([pixels[k], around[k][0]]), kind="stable") for k in range(n_comp)]
        rings = [np.concatenate([rings[k], around[k][1]])[order[k]] for k in range(n_comp)]
        pixels = [np.concatenate([pixels[k], around[k][0]])[order[k]] for k in range(n_comp)]
        weights = [np.concatenate([weights[k], np.zeros(around[k][0].size)])[order[k]] for k in range(n_comp)]
    frames_k = [np.unique(np.asarray(f, dtype=np.int64).reshape(-1)) for f in frames_per_component]
    usable = []
    for k in range(n_comp):
        if np.count_nonzero(weights[k] > 0) < 3:
            logger.warning("component %d has fewer than 3 pixels: r-value set to 0", k)
        elif frames_k[k].size:
            usable.append(k)
    if not usable:
        return r_values, surround
    needed = np.unique(np.concatenate([frames_k[k] for k in usable]))
    if needed[0] < 0 or needed[-1] >= source.shape[0]:
        raise ValueError(f"frames_per_component index frames outside 0..{source.shape[0] - 1}")
    sums = _cleaned_sums(estimates, source, pixels, frames_k, usable, needed, chunk_mb, threads)
    for k in usable:
        traces = estimates.C[k, frames_k[k]]
        r_values[k] = _r_value(weights[k], sums[k], traces)  # over the footprint's pixels (weights > 0)
        if surround_px > 0:
            mean_image = (sums[k] + weights[k] * float(traces.sum())) / traces.size
            measured = surround_ratios(weights[k], rings[k], mean_image)
            surround[k, : measured.size] = measured
    return r_values, surround


def _checked_source(estimates: Estimates, movie, frames_per_component: Sequence[np.ndarray], chunk_mb: float):
    """The movie as a :class:`MovieSource`, checked against the estimates; the other arguments checked."""
    n_comp = estimates.n_components
    if len(frames_per_component) != n_comp:
        raise ValueError(f"frames_per_component has {len(frames_per_component)} entries for {n_comp} components")
    source = movie if isinstance(movie, MovieSource) else MovieSource.from_array(movie)
    n_frames, height, width = source.shape
    if (height, width) != estimates.dims or n_frames != estimates.n_frames:
        raise ValueError(
            f"movie has shape {(n_frames, height, width)} but the estimates are {estimates.dims} "
            f"with {estimates.n_frames} frames; evaluate with the movie CNMF-E ran on"
        )
    if not chunk_mb > 0:
        raise ValueError(f"chunk_mb must be > 0, got {chunk_mb}")
    return source


def _cleaned_sums(estimates: Estimates, source: MovieSource, pixels: list, frames_k: list, usable: list,
                  needed: np.ndarray, chunk_mb: float, threads: int = 1) -> dict[int, np.ndarray]:
    """For each usable component, the sum over its frames of movie - background - all components on its pixels.

    Reads the movie in tiles (bands of columns widened by the ring's reach, times windows of frames of
    ``chunk_mb``), each once, keeping only the ``needed`` frames. Bands are independent (each fills its own
    pixels of each component) and run on ``threads`` threads; a band's windows are summed in frame order, so the
    sums are the same, bit for bit, whatever the number of threads.
    """
    n_frames, height, width = source.shape
    band = _BandContext(estimates, source, pixels, frames_k, usable, needed, chunk_mb)
    sums = {k: np.zeros(pixels[k].size) for k in usable}
    # every band reads all the needed frames of its columns: a band done is its share of the needed frames
    progress, n_bands = Progress(needed.size, "evaluate r-values", logger), len(band.starts)
    for i, parts in enumerate(imap_threads(band.sums, band.starts, threads, name="rvalues")):
        for k, lo, hi, values in parts:
            sums[k][lo:hi] = values
        progress.update(needed.size * (i + 1) // n_bands - needed.size * i // n_bands)
    return sums


class _BandContext:
    """What every band of :func:`_cleaned_sums` reads: the model, the movie, the components' pixels and frames."""

    def __init__(self, estimates: Estimates, source: MovieSource, pixels: list, frames_k: list, usable: list,
                 needed: np.ndarray, chunk_mb: float) -> None:
        self.estimates, self.source, self.pixels, self.usable, self.needed = estimates, source, pixels, usable, needed
        self.chunk_mb = chunk_mb
        height = source.shape[1]
        # where each component's frames sit in `needed` (sorted; a few hundred at most): not a mask over `needed`
        # per component, which grew as K x T
        self.positions = {k: np.searchsorted(needed, frames_k[k]) for k in usable}
        # first and last image column of each usable component, to visit only the bands it touches
        self.col_lo = {k: int(pixels[k][0] // height) for k in usable}
        self.col_hi = {k: int(pixels[k][-1] // height) for k in usable}
        self.ring = estimates.W is not None
        self.step = estimates.ssub_B if self.ring else 1
        self.halo = _ring_halo_columns(estimates)
        width = source.shape[2]
        core_width = max(4 * self.halo, 16, self.step)
        self.core_width = min(-(-core_width // self.step) * self.step, -(-width // self.step) * self.step)
        self.starts = list(range(0, width, self.core_width))
        self.A_rows = estimates.A.tocsr()

    def sums(self, c0: int) -> list[tuple[int, int, int, np.ndarray]]:
        """``[(k, lo, hi, sum)]``: for each usable component with pixels in the band of core columns starting at
        ``c0``, its pixels ``lo:hi`` (positions in its footprint) and their cleaned sum over its frames."""
        est, needed, halo, step = self.estimates, self.needed, self.halo, self.step
        n_frames, height, width = self.source.shape
        c1 = min(c0 + self.core_width, width)
        in_band = [k for k in self.usable if self.col_hi[k] >= c0 and self.col_lo[k] < c1]
        if not in_band:
            return []
        e0, e1 = max(0, c0 - halo), min(width, c1 + halo)
        first = c0 * height
        spans = {k: np.searchsorted(self.pixels[k], [first, c1 * height]) for k in in_band}
        in_band = [k for k in in_band if spans[k][1] > spans[k][0]]
        if not in_band:  # footprints around the band, none with a pixel in it
            return []
        sums = {k: np.zeros(spans[k][1] - spans[k][0]) for k in in_band}
        # the band's covered core pixels (the components' pixels, from the core's first pixel): the only rows the
        # sums read; where each component's pixels sit among them
        covered = np.unique(np.concatenate([self.pixels[k][spans[k][0] : spans[k][1]] for k in in_band])) - first
        rows = {k: np.searchsorted(covered, self.pixels[k][spans[k][0] : spans[k][1]] - first) for k in in_band}
        model = _BandModel(est, self.A_rows, height, (c0, c1), (e0, e1), step if self.ring else 0, covered)
        band = self.source.sub((0, height, e0, e1))
        # windows of consecutive frames: the band's frames [t0, t1) are read once (the band's pixel rows are
        # contiguous in both file layouts) and only the needed frames kept; a window and its two model-sized
        # copies fit chunk_mb
        window = max(1, int(self.chunk_mb * 2**20 // ((e1 - e0) * height * 4 * 3)))
        if band.layout == "blocks":
            window = max(1, window // band.block_frames) * band.block_frames
        # the buffers every window of the band is read into (no new memory to fault in per window)
        scratch, out = band.block_scratch(), np.empty(band.n_pixels * min(window, n_frames), np.float32)
        for t0 in range(0, n_frames, window):
            t1 = min(n_frames, t0 + window)
            g0, g1 = np.searchsorted(needed, [t0, t1])
            if g1 == g0:
                continue
            f0, f1 = int(needed[g0]), int(needed[g1 - 1]) + 1
            offsets = needed[g0:g1] - f0
            clean = model.clean(band.read(f0, f1, scratch, out[: band.n_pixels * (f1 - f0)].reshape(-1, f1 - f0)), f0, f1)
            # `clean` = movie - background - all components on the covered core pixels, frames f0..f1 - 1
            for k in in_band:
                positions = self.positions[k]
                cols = positions[(positions >= g0) & (positions < g1)] - g0
                if cols.size == 0:
                    continue
                sums[k] += clean[np.ix_(rows[k], offsets[cols])].sum(axis=1)
        return [(k, int(spans[k][0]), int(spans[k][1]), sums[k]) for k in in_band]


def _keep_columns(matrix: scipy.sparse.csr_matrix, keep: np.ndarray) -> scipy.sparse.csr_matrix:
    """``matrix[:, keep]`` for a sorted ``keep`` holding every column ``matrix`` uses, each row's entries in their
    stored order (so that its products sum in the same order as ``matrix``'s)."""
    lookup = np.full(matrix.shape[1], -1, np.int64)
    lookup[keep] = np.arange(keep.size)
    indices = lookup[matrix.indices]
    if indices.size and indices.min() < 0:
        raise ValueError("_keep_columns: a column in use is not kept")
    return scipy.sparse.csr_matrix((matrix.data, indices, matrix.indptr.copy()), shape=(matrix.shape[0], keep.size))


class _BandModel:
    """The model of one band of columns, restricted to the pixels its components' sums need.

    The cleaned movie is needed on the band's covered core pixels only (``covered``: the components' pixels,
    positions from the core's first pixel), and the ring model there reads the residual on the low-resolution
    blocks its rows reach. So the residual ``Y - A C - b0`` is computed on the covered pixels and the pixels of
    those blocks (``rows``, positions in the band widened by the halo; at 256x256 with 92 components, ~8 % of
    the pixels are covered), not on the whole band. Each value is computed as on the whole band (the same
    operations; each product sums a row's entries in the same order): the same bits.
    """

    def __init__(self, est: Estimates, A_rows: scipy.sparse.csr_matrix, height: int, core: tuple[int, int], ext: tuple[int, int], step: int,
                 covered: np.ndarray) -> None:
        (c0, c1), (e0, e1) = core, ext
        self.est = est
        covered_ext = covered + (c0 - e0) * height  # positions in the widened band
        rows, self.down = covered_ext, None
        if step:  # the ring model: up-sampling of the core, its weights, down-sampling of the widened band
            hb = (height - 1) // step + 1
            up = (decimation_matrix((height, c1 - c0), step) > 0).T.astype(np.float32).tocsr()[covered]
            blocks = np.unique(up.indices)  # the core's low-resolution blocks the covered pixels lie in
            self.up = _keep_columns(up, blocks)
            low_core = slice((c0 // step) * hb, (-(-c1 // step)) * hb)
            low_ext = slice((e0 // step) * hb, (-(-e1 // step)) * hb)
            W = est.W[low_core][:, low_ext].tocsr()[blocks]
            reach = np.unique(W.indices)  # the widened band's low-resolution blocks their rings read
            self.W = _keep_columns(W, reach)
            down = decimation_matrix((height, e1 - e0), step)[reach]
            rows = np.union1d(covered_ext, down.indices)
            self.down = _keep_columns(down, rows)
        self.rows, self.covered = rows, np.searchsorted(rows, covered_ext)
        first = e0 * height
        self.A = A_rows[first + rows]
        self.b0 = est.b0[first + rows][:, None]
        self.b = est.b[first + rows] if est.nb else None  # the slow trend, removed before the ring (cnmfe/trend.py)

    def clean(self, Y: np.ndarray, f0: int, f1: int) -> np.ndarray:
        """Movie - background - all components on the covered pixels, frames ``f0..f1 - 1``: ``(n_covered, F)``
        float32. ``Y``: the band's frames ``f0..f1 - 1``, as :meth:`MovieSource.read` returns them (not changed).

        Each frame's values are computed alone (the products act on each frame's column separately), so a frame
        has the same values whichever other frames come with it.
        """
        est = self.est
        residual = Y[self.rows]
        residual -= np.asarray(self.A @ est.C[:, f0:f1], dtype=np.float32)
        residual -= self.b0
        if self.b is not None:
            residual -= self.b @ est.f[:, f0:f1]
        clean = residual[self.covered]
        if self.down is not None:
            clean = clean - self.up @ (self.W @ (self.down @ residual))
        return clean


def _r_value(weights: np.ndarray, cleaned_sum: np.ndarray, traces: np.ndarray) -> float:
    """Correlation of a footprint's ``weights`` with its mean image over its frames (``traces``: C there).

    The mean image adds the component's own activity back to the cleaned sum: movie - background - the *other*
    components; 0 where either is constant.
    """
    mean_image = (cleaned_sum + weights * float(traces.sum())) / traces.size
    keep = weights > 0
    a, m = weights[keep], mean_image[keep]
    if np.ptp(a) == 0 or np.ptp(m) == 0:
        return 0.0
    return float(np.corrcoef(a, m)[0, 1])
